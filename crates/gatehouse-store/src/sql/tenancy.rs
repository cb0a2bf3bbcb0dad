use gatehouse_domain::zone_tree::{self, ZoneLink};

use super::*;

const SITES: Records<Site> = Records::new("sites", SITE_COLUMNS, decode::site, |r| r.id.as_uuid(), "tenancy.site");

const ZONES: Records<Zone> = Records::new("zones", ZONE_COLUMNS, decode::zone, |r| r.id.as_uuid(), "tenancy.zone");

const UNITS: Records<Unit> = Records::new("units", UNIT_COLUMNS, decode::unit, |r| r.id.as_uuid(), "tenancy.unit");

const ACCESS_POINTS: Records<AccessPoint> =
    Records::new("access_points", ACCESS_POINT_COLUMNS, decode::access_point, |r| r.id.as_uuid(), "tenancy.access_point");

/// The zone `id` and its ancestors, nearest first; empty if `id` doesn't exist.
async fn zone_path(conn: &mut Conn, tenant: TenantId, id: ZoneId) -> StoreResult<Vec<ZoneLink>> {
    let rows = sqlx::query(
        "WITH RECURSIVE path(id, site_id, parent_id, depth) AS ( \
             SELECT id, site_id, parent_id, 0 FROM zones WHERE tenant_id = $1 AND id = $2 \
             UNION ALL \
             SELECT z.id, z.site_id, z.parent_id, p.depth + 1 FROM zones z \
             JOIN path p ON z.id = p.parent_id AND z.tenant_id = $1 WHERE p.depth < $3 \
         ) SELECT id, site_id FROM path ORDER BY depth",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind((zone_tree::ZONE_DEPTH_MAX * 2) as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ZoneLink { id: ZoneId::from_uuid(row.try_get("id")?), site_id: SiteId::from_uuid(row.try_get("site_id")?) })
        })
        .collect()
}

/// How many levels the subtree under `id` spans, counting `id` itself.
async fn zone_subtree_levels(conn: &mut Conn, tenant: TenantId, id: ZoneId) -> StoreResult<usize> {
    let row = sqlx::query(
        "WITH RECURSIVE sub(id, level) AS ( \
             SELECT id, 1 FROM zones WHERE tenant_id = $1 AND id = $2 \
             UNION ALL \
             SELECT z.id, s.level + 1 FROM zones z \
             JOIN sub s ON z.parent_id = s.id AND z.tenant_id = $1 WHERE s.level < $3 \
         ) SELECT CAST(coalesce(max(level), 0) AS BIGINT) AS levels FROM sub",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind((zone_tree::ZONE_DEPTH_MAX * 2) as i64)
    .fetch_one(&mut *conn)
    .await?;
    Ok(usize::try_from(row.try_get::<i64, _>("levels")?).unwrap_or(usize::MAX))
}

async fn check_zone_parent(
    conn: &mut Conn,
    tenant: TenantId,
    zone: Option<ZoneId>,
    site_id: SiteId,
    parent_id: ZoneId,
) -> StoreResult<()> {
    let path = zone_path(conn, tenant, parent_id).await?;
    if path.is_empty() {
        return Err(ValidationError::new("parent_id", format!("no zone {parent_id} in this tenant")).into());
    }
    let levels = match zone {
        Some(zone) => zone_subtree_levels(conn, tenant, zone).await?,
        None => 1,
    };
    zone_tree::check_parent(zone, site_id, &path, levels)?;
    Ok(())
}

#[async_trait]
impl TenancyStore for This {
    async fn tenant_create(&self, new: &NewTenant, change: &ChangeContext) -> StoreResult<Tenant> {
        let mut tx = self.write_platform().await?;
        let sql =
            format!("INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $6, $5, $5) RETURNING {TENANT_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(new.name.as_str())
            .bind(new.slug.as_str())
            .bind(TenantStatus::Active.as_str())
            .bind(change.at)
            .bind(Json(Vec::<gatehouse_domain::authz::BuiltinRole>::new()))
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "slug"))?;
        let tenant = decode::tenant(&row)?;
        record(&mut tx, None, change, "platform.tenant.create", "tenant", Some(tenant.id.to_string()), None, state(&tenant))
            .await?;
        tx.commit().await?;
        Ok(tenant)
    }

    async fn tenant_get(&self, id: TenantId) -> StoreResult<Tenant> {
        let mut tx = self.read_platform().await?;
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *tx).await?;
        tx.finish().await?;
        row.as_ref().map(decode::tenant).transpose()?.ok_or(StoreError::NotFound)
    }

    async fn tenant_get_by_slug(&self, slug: &str) -> StoreResult<Tenant> {
        let mut tx = self.read_platform().await?;
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1");
        let row = sqlx::query(&sql).bind(slug).fetch_optional(&mut *tx).await?;
        tx.finish().await?;
        row.as_ref().map(decode::tenant).transpose()?.ok_or(StoreError::NotFound)
    }

    async fn tenant_list(&self, filter: &TenantFilter, page: PageRequest) -> StoreResult<Page<Tenant>> {
        let mut tx = self.read_platform().await?;
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE 1 = 1"));
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        let found = fetch_page(&mut tx, query, page, decode::tenant, |t| t.id.as_uuid()).await?;
        tx.finish().await?;
        Ok(found)
    }

    async fn tenant_update(&self, id: TenantId, patch: &TenantPatch, change: &ChangeContext) -> StoreResult<Tenant> {
        let mut tx = self.write_platform().await?;
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut *tx).await?;
        let mut tenant = row.as_ref().map(decode::tenant).transpose()?.ok_or(StoreError::NotFound)?;
        let before = state(&tenant);
        if let Some(name) = &patch.name {
            tenant.name = name.clone();
        }
        if let Some(status) = patch.status {
            tenant.status = status;
        }
        if let Some(roles) = &patch.mfa_required_roles {
            tenant.mfa_required_roles = roles.clone();
        }
        tenant.updated_at = change.at;
        sqlx::query("UPDATE tenants SET name = $2, status = $3, updated_at = $4, mfa_required_roles = $5 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(tenant.name.as_str())
            .bind(tenant.status.as_str())
            .bind(change.at)
            .bind(Json(tenant.mfa_required_roles.clone()))
            .execute(&mut *tx)
            .await?;
        record(&mut tx, None, change, "platform.tenant.update", "tenant", Some(tenant.id.to_string()), before, state(&tenant))
            .await?;
        tx.commit().await?;
        Ok(tenant)
    }

    async fn site_create(&self, tenant: TenantId, new: &NewSite, change: &ChangeContext) -> StoreResult<Site> {
        let mut tx = self.write(tenant).await?;
        let sql = format!("INSERT INTO sites ({SITE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {SITE_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.name.as_str())
            .bind(new.time_zone.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let site = decode::site(&row)?;
        SITES.commit_change(tx, tenant, change, "create", None, site).await
    }

    async fn site_get(&self, tenant: TenantId, id: SiteId) -> StoreResult<Site> {
        self.read_record(&SITES, tenant, id.as_uuid()).await
    }

    async fn site_list(&self, tenant: TenantId, filter: &SiteFilter, page: PageRequest) -> StoreResult<Page<Site>> {
        let mut query = SITES.select(tenant);
        push_name_contains(&mut query, &filter.name_contains);
        push_within(&mut query, "id", filter.within.as_ref().map(|ids| ids.iter().map(SiteId::as_uuid)));
        self.read_page(&SITES, tenant, query, page).await
    }

    async fn site_update(&self, tenant: TenantId, id: SiteId, patch: &SitePatch, change: &ChangeContext) -> StoreResult<Site> {
        let mut tx = self.write(tenant).await?;
        let mut site = SITES.get(&mut tx, tenant, id.as_uuid()).await?;
        let before = site.clone();
        if let Some(name) = &patch.name {
            site.name = name.clone();
        }
        if let Some(time_zone) = &patch.time_zone {
            site.time_zone = time_zone.clone();
        }
        site.updated_at = change.at;
        sqlx::query("UPDATE sites SET name = $3, time_zone = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(site.name.as_str())
            .bind(site.time_zone.as_str())
            .bind(change.at)
            .execute(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        SITES.commit_change(tx, tenant, change, "update", Some(&before), site).await
    }

    async fn site_delete(&self, tenant: TenantId, id: SiteId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        // Released lockdowns go with their site (their history is in the access log); one in force blocks the delete.
        sqlx::query("DELETE FROM lockdowns WHERE tenant_id = $1 AND site_id = $2 AND released_at IS NOT NULL")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        SITES.delete_in(tx, tenant, id.as_uuid(), "the site still has zones, or a lockdown in force", change).await
    }

    async fn zone_create(&self, tenant: TenantId, new: &NewZone, change: &ChangeContext) -> StoreResult<Zone> {
        let mut tx = self.write(tenant).await?;
        require(&mut tx, "sites", "site_id", tenant, new.site_id.as_uuid()).await?;
        if let Some(parent_id) = new.parent_id {
            This::lock_zone_tree(&mut *tx, tenant, new.site_id).await?;
            check_zone_parent(&mut tx, tenant, None, new.site_id, parent_id).await?;
        }
        let sql = format!("INSERT INTO zones ({ZONE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {ZONE_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.site_id.as_uuid())
            .bind(new.parent_id.map(|p| p.as_uuid()))
            .bind(new.name.as_str())
            .bind(new.kind.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let zone = decode::zone(&row)?;
        ZONES.commit_change(tx, tenant, change, "create", None, zone).await
    }

    async fn zone_get(&self, tenant: TenantId, id: ZoneId) -> StoreResult<Zone> {
        self.read_record(&ZONES, tenant, id.as_uuid()).await
    }

    async fn zones_within(&self, tenant: TenantId, sites: &[SiteId], zones: &[ZoneId]) -> StoreResult<Vec<ZoneId>> {
        if sites.is_empty() && zones.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.read(tenant).await?;
        let mut query = QueryBuilder::<Db>::new("WITH RECURSIVE within (id) AS (SELECT id FROM zones WHERE tenant_id = ");
        query.push_bind(tenant.as_uuid()).push(" AND (1 = 0");
        for (column, ids) in [
            ("site_id", sites.iter().map(SiteId::as_uuid).collect::<Vec<_>>()),
            ("id", zones.iter().map(ZoneId::as_uuid).collect()),
        ] {
            if !ids.is_empty() {
                query.push(format!(" OR {column} "));
                push_id_list(&mut query, ids);
            }
        }
        query
            .push(") UNION SELECT child.id FROM zones child JOIN within ON child.parent_id = within.id WHERE child.tenant_id = ");
        query.push_bind(tenant.as_uuid()).push(") SELECT id FROM within");
        let ids: Vec<Uuid> = query.build_query_scalar().fetch_all(&mut *tx).await?;
        tx.finish().await?;
        Ok(ids.into_iter().map(ZoneId::from_uuid).collect())
    }

    async fn zone_list(&self, tenant: TenantId, filter: &ZoneFilter, page: PageRequest) -> StoreResult<Page<Zone>> {
        let mut query = ZONES.select(tenant);
        if let Some(site_id) = filter.site_id {
            query.push(" AND site_id = ").push_bind(site_id.as_uuid());
        }
        if let Some(parent_id) = filter.parent_id {
            query.push(" AND parent_id = ").push_bind(parent_id.as_uuid());
        }
        if filter.top_level {
            query.push(" AND parent_id IS NULL");
        }
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        push_name_contains(&mut query, &filter.name_contains);
        push_within(&mut query, "id", filter.within.as_ref().map(|ids| ids.iter().map(ZoneId::as_uuid)));
        self.read_page(&ZONES, tenant, query, page).await
    }

    async fn zone_update(&self, tenant: TenantId, id: ZoneId, patch: &ZonePatch, change: &ChangeContext) -> StoreResult<Zone> {
        let mut tx = self.write(tenant).await?;
        let mut zone = ZONES.get(&mut tx, tenant, id.as_uuid()).await?;
        let before = zone.clone();
        if let Some(parent_id) = patch.parent_id {
            if let Some(parent_id) = parent_id {
                This::lock_zone_tree(&mut *tx, tenant, zone.site_id).await?;
                check_zone_parent(&mut tx, tenant, Some(id), zone.site_id, parent_id).await?;
            }
            zone.parent_id = parent_id;
        }
        if let Some(name) = &patch.name {
            zone.name = name.clone();
        }
        if let Some(kind) = patch.kind {
            zone.kind = kind;
        }
        zone.updated_at = change.at;
        sqlx::query("UPDATE zones SET parent_id = $3, name = $4, kind = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(zone.parent_id.map(|p| p.as_uuid()))
            .bind(zone.name.as_str())
            .bind(zone.kind.as_str())
            .bind(change.at)
            .execute(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        ZONES.commit_change(tx, tenant, change, "update", Some(&before), zone).await
    }

    async fn zone_delete(&self, tenant: TenantId, id: ZoneId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        sqlx::query("DELETE FROM lockdowns WHERE tenant_id = $1 AND zone_id = $2 AND released_at IS NOT NULL")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        ZONES
            .delete_in(
                tx,
                tenant,
                id.as_uuid(),
                "the zone still holds zones, units, access points or devices, or an access level or a lockdown in force names it",
                change,
            )
            .await
    }

    async fn unit_create(&self, tenant: TenantId, new: &NewUnit, change: &ChangeContext) -> StoreResult<Unit> {
        let mut tx = self.write(tenant).await?;
        require(&mut tx, "zones", "zone_id", tenant, new.zone_id.as_uuid()).await?;
        let sql = format!("INSERT INTO units ({UNIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {UNIT_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.zone_id.as_uuid())
            .bind(new.name.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let unit = decode::unit(&row)?;
        UNITS.commit_change(tx, tenant, change, "create", None, unit).await
    }

    async fn unit_get(&self, tenant: TenantId, id: UnitId) -> StoreResult<Unit> {
        self.read_record(&UNITS, tenant, id.as_uuid()).await
    }

    async fn unit_list(&self, tenant: TenantId, filter: &UnitFilter, page: PageRequest) -> StoreResult<Page<Unit>> {
        let mut query = UNITS.select(tenant);
        if let Some(zone_id) = filter.zone_id {
            query.push(" AND zone_id = ").push_bind(zone_id.as_uuid());
        }
        push_name_contains(&mut query, &filter.name_contains);
        push_within(&mut query, "zone_id", filter.within.as_ref().map(|ids| ids.iter().map(ZoneId::as_uuid)));
        self.read_page(&UNITS, tenant, query, page).await
    }

    async fn unit_update(&self, tenant: TenantId, id: UnitId, patch: &UnitPatch, change: &ChangeContext) -> StoreResult<Unit> {
        let mut tx = self.write(tenant).await?;
        let mut unit = UNITS.get(&mut tx, tenant, id.as_uuid()).await?;
        let before = unit.clone();
        if let Some(zone_id) = patch.zone_id {
            require(&mut tx, "zones", "zone_id", tenant, zone_id.as_uuid()).await?;
            unit.zone_id = zone_id;
        }
        if let Some(name) = &patch.name {
            unit.name = name.clone();
        }
        unit.updated_at = change.at;
        sqlx::query("UPDATE units SET zone_id = $3, name = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(unit.zone_id.as_uuid())
            .bind(unit.name.as_str())
            .bind(change.at)
            .execute(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        UNITS.commit_change(tx, tenant, change, "update", Some(&before), unit).await
    }

    async fn unit_delete(&self, tenant: TenantId, id: UnitId, change: &ChangeContext) -> StoreResult<()> {
        self.delete_record(&UNITS, tenant, id.as_uuid(), "people still belong to the unit", change).await
    }

    async fn access_point_create(
        &self,
        tenant: TenantId,
        new: &NewAccessPoint,
        change: &ChangeContext,
    ) -> StoreResult<AccessPoint> {
        let mut tx = self.write(tenant).await?;
        require(&mut tx, "zones", "zone_id", tenant, new.zone_id.as_uuid()).await?;
        let sql = format!(
            "INSERT INTO access_points ({ACCESS_POINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             RETURNING {ACCESS_POINT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.zone_id.as_uuid())
            .bind(new.name.as_str())
            .bind(new.kind.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let access_point = decode::access_point(&row)?;
        ACCESS_POINTS.commit_change(tx, tenant, change, "create", None, access_point).await
    }

    async fn access_point_get(&self, tenant: TenantId, id: AccessPointId) -> StoreResult<AccessPoint> {
        self.read_record(&ACCESS_POINTS, tenant, id.as_uuid()).await
    }

    async fn access_point_list(
        &self,
        tenant: TenantId,
        filter: &AccessPointFilter,
        page: PageRequest,
    ) -> StoreResult<Page<AccessPoint>> {
        let mut query = ACCESS_POINTS.select(tenant);
        if let Some(zone_id) = filter.zone_id {
            query.push(" AND zone_id = ").push_bind(zone_id.as_uuid());
        }
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        push_name_contains(&mut query, &filter.name_contains);
        push_within(&mut query, "zone_id", filter.within.as_ref().map(|ids| ids.iter().map(ZoneId::as_uuid)));
        self.read_page(&ACCESS_POINTS, tenant, query, page).await
    }

    async fn access_point_update(
        &self,
        tenant: TenantId,
        id: AccessPointId,
        patch: &AccessPointPatch,
        change: &ChangeContext,
    ) -> StoreResult<AccessPoint> {
        let mut tx = self.write(tenant).await?;
        let mut access_point = ACCESS_POINTS.get(&mut tx, tenant, id.as_uuid()).await?;
        let before = access_point.clone();
        if let Some(zone_id) = patch.zone_id {
            require(&mut tx, "zones", "zone_id", tenant, zone_id.as_uuid()).await?;
            access_point.zone_id = zone_id;
        }
        if let Some(name) = &patch.name {
            access_point.name = name.clone();
        }
        if let Some(kind) = patch.kind {
            access_point.kind = kind;
        }
        access_point.updated_at = change.at;
        sqlx::query(
            "UPDATE access_points SET zone_id = $3, name = $4, kind = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(access_point.zone_id.as_uuid())
        .bind(access_point.name.as_str())
        .bind(access_point.kind.as_str())
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .map_err(|err| StoreError::on_unique(err, "name"))?;
        ACCESS_POINTS.commit_change(tx, tenant, change, "update", Some(&before), access_point).await
    }

    async fn access_point_delete(&self, tenant: TenantId, id: AccessPointId, change: &ChangeContext) -> StoreResult<()> {
        self.delete_record(
            &ACCESS_POINTS,
            tenant,
            id.as_uuid(),
            "an access level or a device still names the access point",
            change,
        )
        .await
    }
}
