use super::*;

pub(super) const ACCESS_LEVELS: Records<AccessLevel> =
    Records::new("access_levels", ACCESS_LEVEL_COLUMNS, decode_access_level, |r| r.id.as_uuid(), "access.access_level");

pub(super) const GRANTS: Records<Grant> = Records::new("grants", GRANT_COLUMNS, decode_grant, |r| r.id.as_uuid(), "access.grant");

const GROUPS: Records<Group> = Records::new("groups", GROUP_COLUMNS, decode_group, |r| r.id.as_uuid(), "access.group");

/// A level without its entries (the caller reads them separately).
pub(super) fn decode_access_level(row: &Row) -> StoreResult<AccessLevel> {
    Ok(AccessLevel {
        id: AccessLevelId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: name_column(row)?,
        entries: Vec::new(),
        lockdown_exempt: row.try_get("lockdown_exempt")?,
        door_override: row.try_get("door_override")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn decode_level_entry(row: &Row) -> StoreResult<(Uuid, LevelEntry)> {
    let entry = LevelEntry {
        access_point_id: row.try_get::<Option<Uuid>, _>("access_point_id")?.map(AccessPointId::from_uuid),
        zone_id: row.try_get::<Option<Uuid>, _>("zone_id")?.map(ZoneId::from_uuid),
        schedule_id: row.try_get::<Option<Uuid>, _>("schedule_id")?.map(ScheduleId::from_uuid),
    };
    Ok((row.try_get("access_level_id")?, entry))
}

pub(super) fn decode_grant(row: &Row) -> StoreResult<Grant> {
    Ok(Grant {
        id: GrantId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        person_id: row.try_get::<Option<Uuid>, _>("person_id")?.map(PersonId::from_uuid),
        group_id: row.try_get::<Option<Uuid>, _>("group_id")?.map(GroupId::from_uuid),
        access_level_id: AccessLevelId::from_uuid(row.try_get("access_level_id")?),
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A group without its members (the caller reads them separately).
pub(super) fn decode_group(row: &Row) -> StoreResult<Group> {
    Ok(Group {
        id: GroupId::from_uuid(row.try_get("id")?),
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        name: name_column(row)?,
        kind: stored("kind", text_column(row, "kind")?.parse())?,
        members: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The entries of these levels (all of the tenant's with `None`), each level's in order.
pub(super) async fn level_entries(
    conn: &mut Conn,
    tenant: TenantId,
    levels: Option<&[Uuid]>,
) -> StoreResult<HashMap<Uuid, Vec<LevelEntry>>> {
    let mut query = QueryBuilder::<Db>::new(format!("SELECT {LEVEL_ENTRY_COLUMNS} FROM access_level_entries WHERE tenant_id = "));
    query.push_bind(tenant.as_uuid());
    if let Some(levels) = levels {
        if levels.is_empty() {
            return Ok(HashMap::new());
        }
        query.push(" AND access_level_id ");
        push_id_list(&mut query, levels.iter().copied());
    }
    query.push(" ORDER BY access_level_id, position");
    let rows = query.build().fetch_all(&mut *conn).await?;
    let mut entries: HashMap<Uuid, Vec<LevelEntry>> = HashMap::new();
    for row in &rows {
        let (level, entry) = decode_level_entry(row)?;
        entries.entry(level).or_default().push(entry);
    }
    Ok(entries)
}

pub(super) async fn level_by_id(conn: &mut Conn, tenant: TenantId, id: AccessLevelId) -> StoreResult<AccessLevel> {
    let mut level = ACCESS_LEVELS.get(&mut *conn, tenant, id.as_uuid()).await?;
    level.entries = level_entries(conn, tenant, Some(&[id.as_uuid()])).await?.remove(&id.as_uuid()).unwrap_or_default();
    Ok(level)
}

/// The members of these groups (all of the tenant's with `None`), each group's in id order.
pub(super) async fn group_members(
    conn: &mut Conn,
    tenant: TenantId,
    groups: Option<&[Uuid]>,
) -> StoreResult<HashMap<Uuid, Vec<PersonId>>> {
    let mut query = QueryBuilder::<Db>::new("SELECT group_id, person_id FROM group_members WHERE tenant_id = ");
    query.push_bind(tenant.as_uuid());
    if let Some(groups) = groups {
        if groups.is_empty() {
            return Ok(HashMap::new());
        }
        query.push(" AND group_id ");
        push_id_list(&mut query, groups.iter().copied());
    }
    query.push(" ORDER BY group_id, person_id");
    let rows = query.build().fetch_all(&mut *conn).await?;
    let mut members: HashMap<Uuid, Vec<PersonId>> = HashMap::new();
    for row in &rows {
        members.entry(row.try_get("group_id")?).or_default().push(PersonId::from_uuid(row.try_get("person_id")?));
    }
    Ok(members)
}

pub(super) async fn group_by_id(conn: &mut Conn, tenant: TenantId, id: GroupId) -> StoreResult<Group> {
    let mut group = GROUPS.get(&mut *conn, tenant, id.as_uuid()).await?;
    group.members = group_members(conn, tenant, Some(&[id.as_uuid()])).await?.remove(&id.as_uuid()).unwrap_or_default();
    Ok(group)
}

/// Every access point, zone and schedule the entries name is in the tenant (422 on `entries[i].…`).
pub(super) async fn check_level_entries(conn: &mut Conn, tenant: TenantId, entries: &[LevelEntry]) -> StoreResult<()> {
    let points =
        found_ids(&mut *conn, "access_points", tenant, entries.iter().filter_map(|e| e.access_point_id.map(|id| id.as_uuid())))
            .await?;
    let zones = found_ids(&mut *conn, "zones", tenant, entries.iter().filter_map(|e| e.zone_id.map(|id| id.as_uuid()))).await?;
    let schedules =
        found_ids(&mut *conn, "schedules", tenant, entries.iter().filter_map(|e| e.schedule_id.map(|id| id.as_uuid()))).await?;
    for (index, entry) in entries.iter().enumerate() {
        if let Some(id) = entry.access_point_id.map(|id| id.as_uuid()).filter(|id| !points.contains(id)) {
            return Err(missing(format!("entries[{index}].access_point_id"), "access point", id));
        }
        if let Some(id) = entry.zone_id.map(|id| id.as_uuid()).filter(|id| !zones.contains(id)) {
            return Err(missing(format!("entries[{index}].zone_id"), "zone", id));
        }
        if let Some(id) = entry.schedule_id.map(|id| id.as_uuid()).filter(|id| !schedules.contains(id)) {
            return Err(missing(format!("entries[{index}].schedule_id"), "schedule", id));
        }
    }
    Ok(())
}

/// The members as stored: every one a person of the tenant (422 on `members[i]`), each once, in id order.
pub(super) async fn check_members(conn: &mut Conn, tenant: TenantId, members: &[PersonId]) -> StoreResult<Vec<PersonId>> {
    if members.len() > GROUP_MEMBERS_MAX {
        return Err(ValidationError::new("members", format!("at most {GROUP_MEMBERS_MAX} members")).into());
    }
    let people = found_ids(&mut *conn, "people", tenant, members.iter().map(PersonId::as_uuid)).await?;
    if let Some((index, person)) = members.iter().enumerate().find(|(_, person)| !people.contains(&person.as_uuid())) {
        return Err(missing(format!("members[{index}]"), "person", person.as_uuid()));
    }
    let mut stored_members = members.to_vec();
    stored_members.sort_unstable();
    stored_members.dedup();
    Ok(stored_members)
}

// ---- Writing ----------------------------------------------------

pub(super) async fn insert_level_entries(
    conn: &mut Conn,
    tenant: TenantId,
    level: AccessLevelId,
    entries: &[LevelEntry],
) -> StoreResult<()> {
    let numbered: Vec<(i32, &LevelEntry)> =
        entries.iter().enumerate().map(|(index, entry)| (i32::try_from(index).unwrap_or(i32::MAX), entry)).collect();
    for chunk in numbered.chunks(INSERT_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO access_level_entries (tenant_id, access_level_id, position, access_point_id, zone_id, schedule_id) ",
        );
        query.push_values(chunk, |mut row, (position, entry)| {
            row.push_bind(tenant.as_uuid())
                .push_bind(level.as_uuid())
                .push_bind(*position)
                .push_bind(entry.access_point_id.map(|id| id.as_uuid()))
                .push_bind(entry.zone_id.map(|id| id.as_uuid()))
                .push_bind(entry.schedule_id.map(|id| id.as_uuid()));
        });
        query.build().execute(&mut *conn).await.map_err(|err| StoreError::from(err).on_missing_reference("entries"))?;
    }
    Ok(())
}

pub(super) async fn replace_level_entries(
    conn: &mut Conn,
    tenant: TenantId,
    level: AccessLevelId,
    entries: &[LevelEntry],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM access_level_entries WHERE tenant_id = $1 AND access_level_id = $2")
        .bind(tenant.as_uuid())
        .bind(level.as_uuid())
        .execute(&mut *conn)
        .await?;
    insert_level_entries(conn, tenant, level, entries).await
}

pub(super) async fn replace_members(conn: &mut Conn, tenant: TenantId, group: GroupId, members: &[PersonId]) -> StoreResult<()> {
    sqlx::query("DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2")
        .bind(tenant.as_uuid())
        .bind(group.as_uuid())
        .execute(&mut *conn)
        .await?;
    for chunk in members.chunks(INSERT_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new("INSERT INTO group_members (tenant_id, group_id, person_id) ");
        query.push_values(chunk, |mut row, person| {
            row.push_bind(tenant.as_uuid()).push_bind(group.as_uuid()).push_bind(person.as_uuid());
        });
        query.build().execute(&mut *conn).await.map_err(|err| StoreError::from(err).on_missing_reference("members"))?;
    }
    Ok(())
}

#[async_trait]
impl LevelStore for This {
    // ---- Access levels --------------------------------------------

    async fn access_level_create(
        &self,
        tenant: TenantId,
        new: &NewAccessLevel,
        change: &ChangeContext,
    ) -> StoreResult<AccessLevel> {
        new.check()?;
        let mut tx = self.write(tenant).await?;
        check_level_entries(&mut tx, tenant, &new.entries).await?;
        let sql = format!(
            "INSERT INTO access_levels ({ACCESS_LEVEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ACCESS_LEVEL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.name.as_str())
            .bind(new.lockdown_exempt)
            .bind(new.door_override)
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let mut level = decode_access_level(&row)?;
        insert_level_entries(&mut tx, tenant, level.id, &new.entries).await?;
        level.entries = new.entries.clone();
        ACCESS_LEVELS.commit_change(tx, tenant, change, "create", None, level).await
    }

    async fn access_level_get(&self, tenant: TenantId, id: AccessLevelId) -> StoreResult<AccessLevel> {
        let mut tx = self.read(tenant).await?;
        let level = level_by_id(&mut tx, tenant, id).await?;
        tx.finish().await?;
        Ok(level)
    }

    async fn access_level_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<AccessLevel>> {
        let mut tx = self.read(tenant).await?;
        let query = ACCESS_LEVELS.select(tenant);
        let mut found = ACCESS_LEVELS.page(&mut tx, query, page).await?;
        let ids: Vec<Uuid> = found.items.iter().map(|level| level.id.as_uuid()).collect();
        let mut entries = level_entries(&mut tx, tenant, Some(&ids)).await?;
        tx.finish().await?;
        for level in &mut found.items {
            level.entries = entries.remove(&level.id.as_uuid()).unwrap_or_default();
        }
        Ok(found)
    }

    async fn access_level_update(
        &self,
        tenant: TenantId,
        id: AccessLevelId,
        patch: &AccessLevelPatch,
        change: &ChangeContext,
    ) -> StoreResult<AccessLevel> {
        let mut tx = self.write(tenant).await?;
        let before = level_by_id(&mut tx, tenant, id).await?;
        let patched = before.clone().patched(patch)?;
        if let Some(entries) = &patch.entries {
            check_level_entries(&mut tx, tenant, entries).await?;
        }
        let sql = format!(
            "UPDATE access_levels SET name = $3, lockdown_exempt = $4, door_override = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 RETURNING {ACCESS_LEVEL_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(patched.name.as_str())
            .bind(patched.lockdown_exempt)
            .bind(patched.door_override)
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let mut level = decode_access_level(&row)?;
        if patch.entries.is_some() {
            replace_level_entries(&mut tx, tenant, id, &patched.entries).await?;
        }
        level.entries = patched.entries;
        ACCESS_LEVELS.commit_change(tx, tenant, change, "update", Some(&before), level).await
    }

    async fn access_level_delete(&self, tenant: TenantId, id: AccessLevelId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = level_by_id(&mut tx, tenant, id).await?;
        ACCESS_LEVELS.delete(&mut tx, tenant, &before, "a grant still gives the access level", change).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- Grants ---------------------------------------------------

    async fn grant_create(&self, tenant: TenantId, new: &NewGrant, change: &ChangeContext) -> StoreResult<Grant> {
        new.check()?;
        let mut tx = self.write(tenant).await?;
        if let Some(person) = new.person_id {
            require_person(&mut tx, tenant, "person_id", person).await?;
        }
        if let Some(group) = new.group_id {
            require(&mut tx, "groups", "group_id", tenant, group.as_uuid()).await?;
        }
        require(&mut tx, "access_levels", "access_level_id", tenant, new.access_level_id.as_uuid()).await?;
        let sql =
            format!("INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {GRANT_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.person_id.map(|id| id.as_uuid()))
            .bind(new.group_id.map(|id| id.as_uuid()))
            .bind(new.access_level_id.as_uuid())
            .bind(new.valid_from)
            .bind(new.valid_until)
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::from(err).on_missing_reference("access_level_id"))?;
        let grant = decode_grant(&row)?;
        GRANTS.commit_change(tx, tenant, change, "create", None, grant).await
    }

    async fn grant_get(&self, tenant: TenantId, id: GrantId) -> StoreResult<Grant> {
        self.read_record(&GRANTS, tenant, id.as_uuid()).await
    }

    async fn grant_list(&self, tenant: TenantId, filter: &GrantFilter, page: PageRequest) -> StoreResult<Page<Grant>> {
        let mut query = GRANTS.select(tenant);
        if let Some(person_id) = filter.person_id {
            query.push(" AND person_id = ").push_bind(person_id.as_uuid());
        }
        if let Some(group_id) = filter.group_id {
            query.push(" AND group_id = ").push_bind(group_id.as_uuid());
        }
        if let Some(level_id) = filter.access_level_id {
            query.push(" AND access_level_id = ").push_bind(level_id.as_uuid());
        }
        self.read_page(&GRANTS, tenant, query, page).await
    }

    async fn grant_delete(&self, tenant: TenantId, id: GrantId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = GRANTS.get(&mut tx, tenant, id.as_uuid()).await?;
        GRANTS.delete(&mut tx, tenant, &before, "the grant is still referenced", change).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- Groups ---------------------------------------------------

    async fn group_create(&self, tenant: TenantId, new: &NewGroup, change: &ChangeContext) -> StoreResult<Group> {
        let mut tx = self.write(tenant).await?;
        let members = check_members(&mut tx, tenant, &new.members).await?;
        let sql = format!("INSERT INTO groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {GROUP_COLUMNS}");
        let row = sqlx::query(&sql)
            .bind(new_id(change.at))
            .bind(tenant.as_uuid())
            .bind(new.name.as_str())
            .bind(new.kind.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let mut group = decode_group(&row)?;
        replace_members(&mut tx, tenant, group.id, &members).await?;
        group.members = members;
        GROUPS.commit_change(tx, tenant, change, "create", None, group).await
    }

    async fn group_get(&self, tenant: TenantId, id: GroupId) -> StoreResult<Group> {
        let mut tx = self.read(tenant).await?;
        let group = group_by_id(&mut tx, tenant, id).await?;
        tx.finish().await?;
        Ok(group)
    }

    async fn group_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Group>> {
        let mut tx = self.read(tenant).await?;
        let query = GROUPS.select(tenant);
        let mut found = GROUPS.page(&mut tx, query, page).await?;
        let ids: Vec<Uuid> = found.items.iter().map(|group| group.id.as_uuid()).collect();
        let mut members = group_members(&mut tx, tenant, Some(&ids)).await?;
        tx.finish().await?;
        for group in &mut found.items {
            group.members = members.remove(&group.id.as_uuid()).unwrap_or_default();
        }
        Ok(found)
    }

    async fn group_update(
        &self,
        tenant: TenantId,
        id: GroupId,
        patch: &GroupPatch,
        change: &ChangeContext,
    ) -> StoreResult<Group> {
        let mut tx = self.write(tenant).await?;
        let before = group_by_id(&mut tx, tenant, id).await?;
        let members = match &patch.members {
            Some(members) => Some(check_members(&mut tx, tenant, members).await?),
            None => None,
        };
        let name = patch.name.as_ref().unwrap_or(&before.name);
        let kind = patch.kind.unwrap_or(before.kind);
        let sql = format!(
            "UPDATE groups SET name = $3, kind = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2 RETURNING {GROUP_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(name.as_str())
            .bind(kind.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_unique(err, "name"))?;
        let mut group = decode_group(&row)?;
        group.members = match members {
            Some(members) => {
                replace_members(&mut tx, tenant, id, &members).await?;
                members
            }
            None => before.members.clone(),
        };
        GROUPS.commit_change(tx, tenant, change, "update", Some(&before), group).await
    }

    async fn group_delete(&self, tenant: TenantId, id: GroupId, change: &ChangeContext) -> StoreResult<()> {
        let mut tx = self.write(tenant).await?;
        let before = group_by_id(&mut tx, tenant, id).await?;
        GROUPS.delete(&mut tx, tenant, &before, "a grant still gives the group an access level", change).await?;
        tx.commit().await?;
        Ok(())
    }
}
