//! The SQL of [`crate::AccessStore`]: a tenant's access policy records.
//! Expanded by [`crate::sql::sql_store!`] inside each backend's store module.
//!
//! Lists inside a record (a schedule's intervals and exceptions, a calendar's
//! days) are JSON columns replaced whole; a level's entries and a group's
//! members are rows of their own, replaced whole on update, so that every
//! access point, zone, schedule and person they name is a foreign key. The
//! lookup key of a credential is written and read only for the engine
//! ([`crate::AccessStore::access_policy`]): it is never part of a
//! [`Credential`], so never of an audit entry either.

macro_rules! access_store_impl {
    ($store:ty, $db:ty, $row:ty) => {
        // A block of its own, so these imports stay out of the module that expands the macro.
        const _: () = {
            use std::collections::{HashMap, HashSet};

            use gatehouse_access::credential::*;
            use gatehouse_access::policy::*;
            use gatehouse_domain::audit::ChangeContext;
            use gatehouse_domain::values::TimeZone;
            use gatehouse_domain::*;
            use crate::access::*;

            const CREDENTIAL_COLUMNS: &str = "id, tenant_id, person_id, kind, value, facility_code, status, valid_from, \
                 valid_until, single_use, used_at, created_at, updated_at";
            const HOLIDAY_CALENDAR_COLUMNS: &str = "id, tenant_id, name, days, created_at, updated_at";
            const SCHEDULE_COLUMNS: &str =
                "id, tenant_id, name, time_zone, intervals, exceptions, holiday_calendar_id, created_at, updated_at";
            const ACCESS_LEVEL_COLUMNS: &str = "id, tenant_id, name, lockdown_exempt, door_override, created_at, updated_at";
            const LEVEL_ENTRY_COLUMNS: &str = "access_level_id, access_point_id, zone_id, schedule_id";
            const GRANT_COLUMNS: &str =
                "id, tenant_id, person_id, group_id, access_level_id, valid_from, valid_until, created_at";
            const GROUP_COLUMNS: &str = "id, tenant_id, name, kind, created_at, updated_at";
            const DENIAL_COLUMNS: &str = "id, tenant_id, person_id, reason, valid_until, created_at";
            const LOCKDOWN_COLUMNS: &str = "id, tenant_id, scope, site_id, zone_id, reason, started_at, released_at";

            /// Ids bound in one `IN (…)` list: well under both engines' bound-parameter limits.
            const IDS_PER_STATEMENT: usize = 1_000;

            // ---- Decoding ---------------------------------------------------

            fn json_column<T: serde::de::DeserializeOwned + 'static>(row: &$row, column: &'static str) -> StoreResult<T> {
                row.try_get::<Json<T>, _>(column).map(|json| json.0).map_err(|err| StoreError::Corrupt(format!("{column}: {err}")))
            }

            /// A non-negative count or code kept in a 64-bit column.
            fn u32_column(row: &$row, column: &'static str) -> StoreResult<Option<u32>> {
                row.try_get::<Option<i64>, _>(column)?
                    .map(|n| u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{column}: {n} is out of range"))))
                    .transpose()
            }

            fn text_column(row: &$row, column: &'static str) -> StoreResult<String> {
                Ok(row.try_get::<String, _>(column)?)
            }

            fn name_column(row: &$row) -> StoreResult<Name> {
                stored("name", Name::parse(&text_column(row, "name")?))
            }

            fn decode_credential(row: &$row) -> StoreResult<Credential> {
                Ok(Credential {
                    id: CredentialId::from_uuid(row.try_get("id")?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                    person_id: PersonId::from_uuid(row.try_get("person_id")?),
                    kind: stored("kind", text_column(row, "kind")?.parse())?,
                    value: row.try_get("value")?,
                    facility_code: u32_column(row, "facility_code")?,
                    status: stored("status", text_column(row, "status")?.parse())?,
                    valid_from: row.try_get("valid_from")?,
                    valid_until: row.try_get("valid_until")?,
                    single_use: row.try_get("single_use")?,
                    used_at: row.try_get("used_at")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn decode_credential_entry(row: &$row) -> StoreResult<CredentialEntry> {
                Ok(CredentialEntry {
                    id: CredentialId::from_uuid(row.try_get("id")?),
                    person_id: PersonId::from_uuid(row.try_get("person_id")?),
                    kind: stored("kind", text_column(row, "kind")?.parse())?,
                    lookup_key: text_column(row, "lookup_key")?,
                    status: stored("status", text_column(row, "status")?.parse())?,
                    valid_from: row.try_get("valid_from")?,
                    valid_until: row.try_get("valid_until")?,
                    single_use: row.try_get("single_use")?,
                    used: row.try_get::<Option<DateTime<Utc>>, _>("used_at")?.is_some(),
                })
            }

            fn decode_holiday_calendar(row: &$row) -> StoreResult<HolidayCalendar> {
                Ok(HolidayCalendar {
                    id: HolidayCalendarId::from_uuid(row.try_get("id")?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                    name: name_column(row)?,
                    days: json_column(row, "days")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn decode_schedule(row: &$row) -> StoreResult<Schedule> {
                Ok(Schedule {
                    id: ScheduleId::from_uuid(row.try_get("id")?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                    name: name_column(row)?,
                    time_zone: stored_opt("time_zone", row.try_get("time_zone")?, TimeZone::parse)?,
                    intervals: json_column(row, "intervals")?,
                    exceptions: json_column(row, "exceptions")?,
                    holiday_calendar_id: row.try_get::<Option<Uuid>, _>("holiday_calendar_id")?.map(HolidayCalendarId::from_uuid),
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            /// A level without its entries (the caller reads them separately).
            fn decode_access_level(row: &$row) -> StoreResult<AccessLevel> {
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

            fn decode_level_entry(row: &$row) -> StoreResult<(Uuid, LevelEntry)> {
                let entry = LevelEntry {
                    access_point_id: row.try_get::<Option<Uuid>, _>("access_point_id")?.map(AccessPointId::from_uuid),
                    zone_id: row.try_get::<Option<Uuid>, _>("zone_id")?.map(ZoneId::from_uuid),
                    schedule_id: row.try_get::<Option<Uuid>, _>("schedule_id")?.map(ScheduleId::from_uuid),
                };
                Ok((row.try_get("access_level_id")?, entry))
            }

            fn decode_grant(row: &$row) -> StoreResult<Grant> {
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
            fn decode_group(row: &$row) -> StoreResult<Group> {
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

            fn decode_denial(row: &$row) -> StoreResult<Denial> {
                Ok(Denial {
                    id: DenialId::from_uuid(row.try_get("id")?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                    person_id: PersonId::from_uuid(row.try_get("person_id")?),
                    reason: text_column(row, "reason")?,
                    valid_until: row.try_get("valid_until")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn decode_lockdown(row: &$row) -> StoreResult<Lockdown> {
                Ok(Lockdown {
                    id: LockdownId::from_uuid(row.try_get("id")?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                    scope: stored("scope", text_column(row, "scope")?.parse())?,
                    site_id: row.try_get::<Option<Uuid>, _>("site_id")?.map(SiteId::from_uuid),
                    zone_id: row.try_get::<Option<Uuid>, _>("zone_id")?.map(ZoneId::from_uuid),
                    reason: text_column(row, "reason")?,
                    started_at: row.try_get("started_at")?,
                    released_at: row.try_get("released_at")?,
                })
            }

            /// A door's settings from a (possibly outer-joined) `door_settings` row: the defaults without one.
            fn decode_door_settings(row: &$row) -> StoreResult<DoorSettings> {
                let Some(mode) = row.try_get::<Option<String>, _>("mode")? else {
                    return Ok(DoorSettings::default());
                };
                Ok(DoorSettings {
                    mode: stored("mode", mode.parse())?,
                    unlock_schedule_id: row.try_get::<Option<Uuid>, _>("unlock_schedule_id")?.map(ScheduleId::from_uuid),
                    first_person_in: row.try_get::<Option<bool>, _>("first_person_in")?.unwrap_or(false),
                    requires_pin: row.try_get::<Option<bool>, _>("requires_pin")?.unwrap_or(false),
                })
            }

            /// A zone's rules from a (possibly outer-joined) `zone_rules` row: the defaults without one.
            fn decode_zone_rules(row: &$row) -> StoreResult<ZoneRules> {
                let Some(anti_passback) = row.try_get::<Option<String>, _>("anti_passback")? else {
                    return Ok(ZoneRules::default());
                };
                Ok(ZoneRules {
                    anti_passback: stored("anti_passback", anti_passback.parse())?,
                    anti_passback_reset_s: u32_column(row, "anti_passback_reset_s")?,
                    occupancy_max: u32_column(row, "occupancy_max")?,
                })
            }

            // ---- Reading ----------------------------------------------------

            /// Every row of `table` in the tenant, in id order.
            async fn all_in_tenant<T>(
                conn: &mut Conn,
                table: &'static str,
                columns: &'static str,
                tenant: TenantId,
                decode: impl Fn(&$row) -> StoreResult<T>,
            ) -> StoreResult<Vec<T>> {
                let sql = format!("SELECT {columns} FROM {table} WHERE tenant_id = $1 ORDER BY id");
                let rows = sqlx::query(&sql).bind(tenant.as_uuid()).fetch_all(&mut *conn).await?;
                rows.iter().map(decode).collect()
            }

            /// The entries of these levels (all of the tenant's with `None`), each level's in order.
            async fn level_entries(
                conn: &mut Conn,
                tenant: TenantId,
                levels: Option<&[Uuid]>,
            ) -> StoreResult<HashMap<Uuid, Vec<LevelEntry>>> {
                let mut query =
                    QueryBuilder::<Db>::new(format!("SELECT {LEVEL_ENTRY_COLUMNS} FROM access_level_entries WHERE tenant_id = "));
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

            async fn level_by_id(conn: &mut Conn, tenant: TenantId, id: AccessLevelId) -> StoreResult<AccessLevel> {
                let mut level =
                    fetch_by_id(&mut *conn, "access_levels", ACCESS_LEVEL_COLUMNS, tenant, id.as_uuid(), decode_access_level).await?;
                level.entries = level_entries(conn, tenant, Some(&[id.as_uuid()])).await?.remove(&id.as_uuid()).unwrap_or_default();
                Ok(level)
            }

            /// The members of these groups (all of the tenant's with `None`), each group's in id order.
            async fn group_members(
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

            async fn group_by_id(conn: &mut Conn, tenant: TenantId, id: GroupId) -> StoreResult<Group> {
                let mut group = fetch_by_id(&mut *conn, "groups", GROUP_COLUMNS, tenant, id.as_uuid(), decode_group).await?;
                group.members = group_members(conn, tenant, Some(&[id.as_uuid()])).await?.remove(&id.as_uuid()).unwrap_or_default();
                Ok(group)
            }

            // ---- Checking references ----------------------------------------

            /// Which of these ids are rows of `table` in the tenant.
            async fn found_ids(
                conn: &mut Conn,
                table: &'static str,
                tenant: TenantId,
                ids: impl IntoIterator<Item = Uuid>,
            ) -> StoreResult<HashSet<Uuid>> {
                let mut wanted: Vec<Uuid> = ids.into_iter().collect();
                wanted.sort_unstable();
                wanted.dedup();
                let mut found = HashSet::with_capacity(wanted.len());
                for chunk in wanted.chunks(IDS_PER_STATEMENT) {
                    let mut query = QueryBuilder::<Db>::new(format!("SELECT id FROM {table} WHERE tenant_id = "));
                    query.push_bind(tenant.as_uuid()).push(" AND id ");
                    push_id_list(&mut query, chunk.iter().copied());
                    let rows: Vec<Uuid> = query.build_query_scalar().fetch_all(&mut *conn).await?;
                    found.extend(rows);
                }
                Ok(found)
            }

            fn missing(field: String, what: &str, id: Uuid) -> StoreError {
                ValidationError::new(field, format!("no {what} {id} in this tenant")).into()
            }

            async fn require_person(conn: &mut Conn, tenant: TenantId, field: &str, id: PersonId) -> StoreResult<()> {
                if exists(conn, "people", tenant, id.as_uuid()).await? {
                    Ok(())
                } else {
                    Err(missing(field.to_owned(), "person", id.as_uuid()))
                }
            }

            /// Every access point, zone and schedule the entries name is in the tenant (422 on `entries[i].…`).
            async fn check_level_entries(conn: &mut Conn, tenant: TenantId, entries: &[LevelEntry]) -> StoreResult<()> {
                let points = found_ids(&mut *conn, "access_points", tenant, entries.iter().filter_map(|e| e.access_point_id.map(|id| id.as_uuid()))).await?;
                let zones = found_ids(&mut *conn, "zones", tenant, entries.iter().filter_map(|e| e.zone_id.map(|id| id.as_uuid()))).await?;
                let schedules = found_ids(&mut *conn, "schedules", tenant, entries.iter().filter_map(|e| e.schedule_id.map(|id| id.as_uuid()))).await?;
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
            async fn check_members(conn: &mut Conn, tenant: TenantId, members: &[PersonId]) -> StoreResult<Vec<PersonId>> {
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

            async fn insert_level_entries(conn: &mut Conn, tenant: TenantId, level: AccessLevelId, entries: &[LevelEntry]) -> StoreResult<()> {
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

            async fn replace_level_entries(conn: &mut Conn, tenant: TenantId, level: AccessLevelId, entries: &[LevelEntry]) -> StoreResult<()> {
                sqlx::query("DELETE FROM access_level_entries WHERE tenant_id = $1 AND access_level_id = $2")
                    .bind(tenant.as_uuid())
                    .bind(level.as_uuid())
                    .execute(&mut *conn)
                    .await?;
                insert_level_entries(conn, tenant, level, entries).await
            }

            async fn replace_members(conn: &mut Conn, tenant: TenantId, group: GroupId, members: &[PersonId]) -> StoreResult<()> {
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

            /// Deletes one record of the tenant, read beforehand as `before`, and records it.
            #[allow(clippy::too_many_arguments)]
            async fn delete_record<T: serde::Serialize>(
                conn: &mut Conn,
                table: &'static str,
                tenant: TenantId,
                id: Uuid,
                in_use: &'static str,
                change: &ChangeContext,
                action: &str,
                target_type: &str,
                before: &T,
            ) -> StoreResult<()> {
                let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
                sqlx::query(&sql)
                    .bind(tenant.as_uuid())
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(|err| StoreError::on_referenced(err, in_use))?;
                record(conn, Some(tenant), change, action, target_type, Some(id.to_string()), state(before), None).await
            }

            /// Refuses a secret kind's value: a PIN, QR token or mobile token is kept only as its lookup key.
            fn check_credential_input(new: &CredentialInput) -> StoreResult<()> {
                let secret = matches!(new.kind, CredentialKind::Pin | CredentialKind::Qr | CredentialKind::Mobile);
                if secret && new.value.is_some() {
                    return Err(ValidationError::new("value", format!("a {} credential's value is never stored", new.kind)).into());
                }
                check_window(new.valid_from, new.valid_until)?;
                Ok(())
            }

            #[async_trait]
            impl crate::AccessStore for $store {
                async fn access_policy(&self, tenant: TenantId) -> StoreResult<PolicyRecords> {
                    let mut tx = self.read_snapshot(tenant).await?;
                    let t = tenant.as_uuid();
                    // First, in the same snapshot: the records below include every change up to it.
                    let version = sqlx::query("SELECT version FROM policy_versions WHERE tenant_id = $1")
                        .bind(t)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|row| row.try_get::<i64, _>("version"))
                        .transpose()?
                        .map_or(Ok(0), |version| u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("policy version {version}"))))?;

                    let sites = sqlx::query("SELECT id, time_zone FROM sites WHERE tenant_id = $1 ORDER BY id")
                        .bind(t)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|row| Ok((SiteId::from_uuid(row.try_get("id")?), text_column(row, "time_zone")?)))
                        .collect::<StoreResult<Vec<_>>>()?;

                    let zones = sqlx::query(
                        "SELECT z.id, z.site_id, z.parent_id, r.anti_passback, r.anti_passback_reset_s, r.occupancy_max \
                         FROM zones z LEFT JOIN zone_rules r ON r.tenant_id = z.tenant_id AND r.zone_id = z.id \
                         WHERE z.tenant_id = $1 ORDER BY z.id",
                    )
                    .bind(t)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(ZonePlace {
                            id: ZoneId::from_uuid(row.try_get("id")?),
                            site_id: SiteId::from_uuid(row.try_get("site_id")?),
                            parent_id: row.try_get::<Option<Uuid>, _>("parent_id")?.map(ZoneId::from_uuid),
                            rules: decode_zone_rules(row)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;

                    let points = sqlx::query(
                        "SELECT p.id, p.zone_id, d.mode, d.unlock_schedule_id, d.first_person_in, d.requires_pin \
                         FROM access_points p LEFT JOIN door_settings d ON d.tenant_id = p.tenant_id AND d.access_point_id = p.id \
                         WHERE p.tenant_id = $1 ORDER BY p.id",
                    )
                    .bind(t)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(PointPlace {
                            id: AccessPointId::from_uuid(row.try_get("id")?),
                            zone_id: ZoneId::from_uuid(row.try_get("zone_id")?),
                            door: decode_door_settings(row)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;

                    let people = sqlx::query("SELECT id, status FROM people WHERE tenant_id = $1 ORDER BY id")
                        .bind(t)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|row| Ok((PersonId::from_uuid(row.try_get("id")?), stored("status", text_column(row, "status")?.parse())?)))
                        .collect::<StoreResult<Vec<(PersonId, PersonStatus)>>>()?;

                    let credentials = all_in_tenant(
                        &mut *tx,
                        "credentials",
                        "id, person_id, kind, lookup_key, status, valid_from, valid_until, single_use, used_at",
                        tenant,
                        decode_credential_entry,
                    )
                    .await?;
                    let schedules = all_in_tenant(&mut *tx, "schedules", SCHEDULE_COLUMNS, tenant, decode_schedule).await?;
                    let holidays =
                        all_in_tenant(&mut *tx, "holiday_calendars", HOLIDAY_CALENDAR_COLUMNS, tenant, decode_holiday_calendar).await?;

                    let mut levels = all_in_tenant(&mut *tx, "access_levels", ACCESS_LEVEL_COLUMNS, tenant, decode_access_level).await?;
                    let mut entries = level_entries(&mut *tx, tenant, None).await?;
                    for level in &mut levels {
                        level.entries = entries.remove(&level.id.as_uuid()).unwrap_or_default();
                    }

                    let grants = all_in_tenant(&mut *tx, "grants", GRANT_COLUMNS, tenant, decode_grant).await?;

                    let group_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM groups WHERE tenant_id = $1 ORDER BY id")
                        .bind(t)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut members = group_members(&mut *tx, tenant, None).await?;
                    let groups = group_ids
                        .into_iter()
                        .map(|id| (GroupId::from_uuid(id), members.remove(&id).unwrap_or_default()))
                        .collect();

                    let denials = all_in_tenant(&mut *tx, "denials", DENIAL_COLUMNS, tenant, decode_denial).await?;

                    let sql = format!("SELECT {LOCKDOWN_COLUMNS} FROM lockdowns WHERE tenant_id = $1 AND released_at IS NULL ORDER BY id");
                    let lockdowns =
                        sqlx::query(&sql).bind(t).fetch_all(&mut *tx).await?.iter().map(decode_lockdown).collect::<StoreResult<Vec<_>>>()?;

                    tx.finish().await?;
                    Ok(PolicyRecords {
                        version,
                        sites,
                        zones,
                        points,
                        people,
                        credentials,
                        schedules,
                        holidays,
                        levels,
                        grants,
                        groups,
                        denials,
                        lockdowns,
                    })
                }

                async fn policy_versions(&self) -> StoreResult<Vec<(TenantId, u64)>> {
                    let mut tx = self.read_platform().await?;
                    let rows = sqlx::query("SELECT tenant_id, version FROM policy_versions").fetch_all(&mut *tx).await?;
                    tx.finish().await?;
                    rows.iter()
                        .map(|row| {
                            let version: i64 = row.try_get("version")?;
                            let version = u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("policy version {version}")))?;
                            Ok((TenantId::from_uuid(row.try_get("tenant_id")?), version))
                        })
                        .collect()
                }

                // ---- Credentials ----------------------------------------------

                async fn credential_create(&self, tenant: TenantId, new: &CredentialInput, change: &ChangeContext) -> StoreResult<Credential> {
                    check_credential_input(new)?;
                    let mut tx = self.write(tenant).await?;
                    require_person(&mut *tx, tenant, "person_id", new.person_id).await?;
                    let sql = format!(
                        "INSERT INTO credentials (id, tenant_id, person_id, kind, value, facility_code, lookup_key, status, \
                         valid_from, valid_until, single_use, used_at, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $12) RETURNING {CREDENTIAL_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(new.id.as_uuid())
                        .bind(tenant.as_uuid())
                        .bind(new.person_id.as_uuid())
                        .bind(new.kind.as_str())
                        .bind(new.value.as_deref())
                        .bind(new.facility_code.map(i64::from))
                        .bind(new.lookup_key.as_str())
                        .bind(new.status.as_str())
                        .bind(new.valid_from)
                        .bind(new.valid_until)
                        .bind(new.single_use)
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "value").on_missing_reference("person_id"))?;
                    let credential = decode_credential(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.credential.create", "credential", Some(credential.id.to_string()), None, state(&credential)).await?;
                    tx.commit().await?;
                    Ok(credential)
                }

                async fn credential_get(&self, tenant: TenantId, id: CredentialId) -> StoreResult<Credential> {
                    let mut tx = self.read(tenant).await?;
                    let credential = fetch_by_id(&mut *tx, "credentials", CREDENTIAL_COLUMNS, tenant, id.as_uuid(), decode_credential).await?;
                    tx.finish().await?;
                    Ok(credential)
                }

                async fn credential_list(&self, tenant: TenantId, filter: &CredentialFilter, page: PageRequest) -> StoreResult<Page<Credential>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("credentials", CREDENTIAL_COLUMNS, tenant);
                    if let Some(person_id) = filter.person_id {
                        query.push(" AND person_id = ").push_bind(person_id.as_uuid());
                    }
                    if let Some(kind) = filter.kind {
                        query.push(" AND kind = ").push_bind(kind.as_str());
                    }
                    if let Some(status) = filter.status {
                        query.push(" AND status = ").push_bind(status.as_str());
                    }
                    let found = fetch_page(&mut *tx, query, page, decode_credential, |c| c.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn credential_update(&self, tenant: TenantId, id: CredentialId, patch: &CredentialPatch, change: &ChangeContext) -> StoreResult<Credential> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "credentials", CREDENTIAL_COLUMNS, tenant, id.as_uuid(), decode_credential).await?;
                    let patched = before.clone().patched(patch)?;
                    let sql = format!(
                        "UPDATE credentials SET status = $3, valid_from = $4, valid_until = $5, updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {CREDENTIAL_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .bind(patched.status.as_str())
                        .bind(patched.valid_from)
                        .bind(patched.valid_until)
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await?;
                    let credential = decode_credential(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.credential.update", "credential", Some(id.to_string()), state(&before), state(&credential)).await?;
                    tx.commit().await?;
                    Ok(credential)
                }

                async fn credential_delete(&self, tenant: TenantId, id: CredentialId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "credentials", CREDENTIAL_COLUMNS, tenant, id.as_uuid(), decode_credential).await?;
                    if before.status == CredentialStatus::Lost {
                        return Err(StoreError::InUse("a lost credential is kept, so that it is never issued again"));
                    }
                    delete_record(&mut *tx, "credentials", tenant, id.as_uuid(), "the credential is still referenced", change, "access.credential.delete", "credential", &before).await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- Schedules ------------------------------------------------

                async fn schedule_create(&self, tenant: TenantId, new: &NewSchedule, change: &ChangeContext) -> StoreResult<Schedule> {
                    new.check()?;
                    let mut tx = self.write(tenant).await?;
                    if let Some(calendar) = new.holiday_calendar_id {
                        require(&mut *tx, "holiday_calendars", "holiday_calendar_id", tenant, calendar.as_uuid()).await?;
                    }
                    let sql = format!(
                        "INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SCHEDULE_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.name.as_str())
                        .bind(new.time_zone.as_ref().map(|zone| zone.as_str()))
                        .bind(Json(&new.intervals))
                        .bind(Json(&new.exceptions))
                        .bind(new.holiday_calendar_id.map(|id| id.as_uuid()))
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name").on_missing_reference("holiday_calendar_id"))?;
                    let schedule = decode_schedule(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.schedule.create", "schedule", Some(schedule.id.to_string()), None, state(&schedule)).await?;
                    tx.commit().await?;
                    Ok(schedule)
                }

                async fn schedule_get(&self, tenant: TenantId, id: ScheduleId) -> StoreResult<Schedule> {
                    let mut tx = self.read(tenant).await?;
                    let schedule = fetch_by_id(&mut *tx, "schedules", SCHEDULE_COLUMNS, tenant, id.as_uuid(), decode_schedule).await?;
                    tx.finish().await?;
                    Ok(schedule)
                }

                async fn schedule_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Schedule>> {
                    let mut tx = self.read(tenant).await?;
                    let query = select_in_tenant("schedules", SCHEDULE_COLUMNS, tenant);
                    let found = fetch_page(&mut *tx, query, page, decode_schedule, |s| s.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn schedule_update(&self, tenant: TenantId, id: ScheduleId, patch: &SchedulePatch, change: &ChangeContext) -> StoreResult<Schedule> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "schedules", SCHEDULE_COLUMNS, tenant, id.as_uuid(), decode_schedule).await?;
                    let patched = before.clone().patched(patch)?;
                    if let Some(Some(calendar)) = patch.holiday_calendar_id {
                        require(&mut *tx, "holiday_calendars", "holiday_calendar_id", tenant, calendar.as_uuid()).await?;
                    }
                    let sql = format!(
                        "UPDATE schedules SET name = $3, time_zone = $4, intervals = $5, exceptions = $6, holiday_calendar_id = $7, \
                         updated_at = $8 WHERE tenant_id = $1 AND id = $2 RETURNING {SCHEDULE_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .bind(patched.name.as_str())
                        .bind(patched.time_zone.as_ref().map(|zone| zone.as_str()))
                        .bind(Json(&patched.intervals))
                        .bind(Json(&patched.exceptions))
                        .bind(patched.holiday_calendar_id.map(|id| id.as_uuid()))
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name").on_missing_reference("holiday_calendar_id"))?;
                    let schedule = decode_schedule(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.schedule.update", "schedule", Some(id.to_string()), state(&before), state(&schedule)).await?;
                    tx.commit().await?;
                    Ok(schedule)
                }

                async fn schedule_delete(&self, tenant: TenantId, id: ScheduleId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "schedules", SCHEDULE_COLUMNS, tenant, id.as_uuid(), decode_schedule).await?;
                    delete_record(
                        &mut *tx,
                        "schedules",
                        tenant,
                        id.as_uuid(),
                        "the schedule is still used by an access level or as a door's unlock schedule",
                        change,
                        "access.schedule.delete",
                        "schedule",
                        &before,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- Holiday calendars ----------------------------------------

                async fn holiday_calendar_create(&self, tenant: TenantId, new: &NewHolidayCalendar, change: &ChangeContext) -> StoreResult<HolidayCalendar> {
                    new.check()?;
                    let mut tx = self.write(tenant).await?;
                    let sql = format!(
                        "INSERT INTO holiday_calendars ({HOLIDAY_CALENDAR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {HOLIDAY_CALENDAR_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.name.as_str())
                        .bind(Json(&new.days))
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let calendar = decode_holiday_calendar(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.holiday_calendar.create", "holiday_calendar", Some(calendar.id.to_string()), None, state(&calendar)).await?;
                    tx.commit().await?;
                    Ok(calendar)
                }

                async fn holiday_calendar_get(&self, tenant: TenantId, id: HolidayCalendarId) -> StoreResult<HolidayCalendar> {
                    let mut tx = self.read(tenant).await?;
                    let calendar = fetch_by_id(&mut *tx, "holiday_calendars", HOLIDAY_CALENDAR_COLUMNS, tenant, id.as_uuid(), decode_holiday_calendar).await?;
                    tx.finish().await?;
                    Ok(calendar)
                }

                async fn holiday_calendar_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<HolidayCalendar>> {
                    let mut tx = self.read(tenant).await?;
                    let query = select_in_tenant("holiday_calendars", HOLIDAY_CALENDAR_COLUMNS, tenant);
                    let found = fetch_page(&mut *tx, query, page, decode_holiday_calendar, |c| c.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn holiday_calendar_update(&self, tenant: TenantId, id: HolidayCalendarId, patch: &HolidayCalendarPatch, change: &ChangeContext) -> StoreResult<HolidayCalendar> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "holiday_calendars", HOLIDAY_CALENDAR_COLUMNS, tenant, id.as_uuid(), decode_holiday_calendar).await?;
                    let patched = before.clone().patched(patch)?;
                    let sql = format!(
                        "UPDATE holiday_calendars SET name = $3, days = $4, updated_at = $5 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {HOLIDAY_CALENDAR_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(tenant.as_uuid())
                        .bind(id.as_uuid())
                        .bind(patched.name.as_str())
                        .bind(Json(&patched.days))
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let calendar = decode_holiday_calendar(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.holiday_calendar.update", "holiday_calendar", Some(id.to_string()), state(&before), state(&calendar)).await?;
                    tx.commit().await?;
                    Ok(calendar)
                }

                async fn holiday_calendar_delete(&self, tenant: TenantId, id: HolidayCalendarId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "holiday_calendars", HOLIDAY_CALENDAR_COLUMNS, tenant, id.as_uuid(), decode_holiday_calendar).await?;
                    delete_record(
                        &mut *tx,
                        "holiday_calendars",
                        tenant,
                        id.as_uuid(),
                        "a schedule still uses the holiday calendar",
                        change,
                        "access.holiday_calendar.delete",
                        "holiday_calendar",
                        &before,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- Access levels --------------------------------------------

                async fn access_level_create(&self, tenant: TenantId, new: &NewAccessLevel, change: &ChangeContext) -> StoreResult<AccessLevel> {
                    new.check()?;
                    let mut tx = self.write(tenant).await?;
                    check_level_entries(&mut *tx, tenant, &new.entries).await?;
                    let sql = format!(
                        "INSERT INTO access_levels ({ACCESS_LEVEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {ACCESS_LEVEL_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.name.as_str())
                        .bind(new.lockdown_exempt)
                        .bind(new.door_override)
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let mut level = decode_access_level(&row)?;
                    insert_level_entries(&mut *tx, tenant, level.id, &new.entries).await?;
                    level.entries = new.entries.clone();
                    record(&mut *tx, Some(tenant), change, "access.access_level.create", "access_level", Some(level.id.to_string()), None, state(&level)).await?;
                    tx.commit().await?;
                    Ok(level)
                }

                async fn access_level_get(&self, tenant: TenantId, id: AccessLevelId) -> StoreResult<AccessLevel> {
                    let mut tx = self.read(tenant).await?;
                    let level = level_by_id(&mut *tx, tenant, id).await?;
                    tx.finish().await?;
                    Ok(level)
                }

                async fn access_level_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<AccessLevel>> {
                    let mut tx = self.read(tenant).await?;
                    let query = select_in_tenant("access_levels", ACCESS_LEVEL_COLUMNS, tenant);
                    let mut found = fetch_page(&mut *tx, query, page, decode_access_level, |l| l.id.as_uuid()).await?;
                    let ids: Vec<Uuid> = found.items.iter().map(|level| level.id.as_uuid()).collect();
                    let mut entries = level_entries(&mut *tx, tenant, Some(&ids)).await?;
                    tx.finish().await?;
                    for level in &mut found.items {
                        level.entries = entries.remove(&level.id.as_uuid()).unwrap_or_default();
                    }
                    Ok(found)
                }

                async fn access_level_update(&self, tenant: TenantId, id: AccessLevelId, patch: &AccessLevelPatch, change: &ChangeContext) -> StoreResult<AccessLevel> {
                    let mut tx = self.write(tenant).await?;
                    let before = level_by_id(&mut *tx, tenant, id).await?;
                    let patched = before.clone().patched(patch)?;
                    if let Some(entries) = &patch.entries {
                        check_level_entries(&mut *tx, tenant, entries).await?;
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
                        replace_level_entries(&mut *tx, tenant, id, &patched.entries).await?;
                    }
                    level.entries = patched.entries;
                    record(&mut *tx, Some(tenant), change, "access.access_level.update", "access_level", Some(id.to_string()), state(&before), state(&level)).await?;
                    tx.commit().await?;
                    Ok(level)
                }

                async fn access_level_delete(&self, tenant: TenantId, id: AccessLevelId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = level_by_id(&mut *tx, tenant, id).await?;
                    delete_record(
                        &mut *tx,
                        "access_levels",
                        tenant,
                        id.as_uuid(),
                        "a grant still gives the access level",
                        change,
                        "access.access_level.delete",
                        "access_level",
                        &before,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- Grants ---------------------------------------------------

                async fn grant_create(&self, tenant: TenantId, new: &NewGrant, change: &ChangeContext) -> StoreResult<Grant> {
                    new.check()?;
                    let mut tx = self.write(tenant).await?;
                    if let Some(person) = new.person_id {
                        require_person(&mut *tx, tenant, "person_id", person).await?;
                    }
                    if let Some(group) = new.group_id {
                        require(&mut *tx, "groups", "group_id", tenant, group.as_uuid()).await?;
                    }
                    require(&mut *tx, "access_levels", "access_level_id", tenant, new.access_level_id.as_uuid()).await?;
                    let sql = format!("INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {GRANT_COLUMNS}");
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
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
                    record(&mut *tx, Some(tenant), change, "access.grant.create", "grant", Some(grant.id.to_string()), None, state(&grant)).await?;
                    tx.commit().await?;
                    Ok(grant)
                }

                async fn grant_get(&self, tenant: TenantId, id: GrantId) -> StoreResult<Grant> {
                    let mut tx = self.read(tenant).await?;
                    let grant = fetch_by_id(&mut *tx, "grants", GRANT_COLUMNS, tenant, id.as_uuid(), decode_grant).await?;
                    tx.finish().await?;
                    Ok(grant)
                }

                async fn grant_list(&self, tenant: TenantId, filter: &GrantFilter, page: PageRequest) -> StoreResult<Page<Grant>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("grants", GRANT_COLUMNS, tenant);
                    if let Some(person_id) = filter.person_id {
                        query.push(" AND person_id = ").push_bind(person_id.as_uuid());
                    }
                    if let Some(group_id) = filter.group_id {
                        query.push(" AND group_id = ").push_bind(group_id.as_uuid());
                    }
                    if let Some(level_id) = filter.access_level_id {
                        query.push(" AND access_level_id = ").push_bind(level_id.as_uuid());
                    }
                    let found = fetch_page(&mut *tx, query, page, decode_grant, |g| g.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn grant_delete(&self, tenant: TenantId, id: GrantId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "grants", GRANT_COLUMNS, tenant, id.as_uuid(), decode_grant).await?;
                    delete_record(&mut *tx, "grants", tenant, id.as_uuid(), "the grant is still referenced", change, "access.grant.delete", "grant", &before).await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- Groups ---------------------------------------------------

                async fn group_create(&self, tenant: TenantId, new: &NewGroup, change: &ChangeContext) -> StoreResult<Group> {
                    let mut tx = self.write(tenant).await?;
                    let members = check_members(&mut *tx, tenant, &new.members).await?;
                    let sql = format!("INSERT INTO groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {GROUP_COLUMNS}");
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.name.as_str())
                        .bind(new.kind.as_str())
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::on_unique(err, "name"))?;
                    let mut group = decode_group(&row)?;
                    replace_members(&mut *tx, tenant, group.id, &members).await?;
                    group.members = members;
                    record(&mut *tx, Some(tenant), change, "access.group.create", "group", Some(group.id.to_string()), None, state(&group)).await?;
                    tx.commit().await?;
                    Ok(group)
                }

                async fn group_get(&self, tenant: TenantId, id: GroupId) -> StoreResult<Group> {
                    let mut tx = self.read(tenant).await?;
                    let group = group_by_id(&mut *tx, tenant, id).await?;
                    tx.finish().await?;
                    Ok(group)
                }

                async fn group_list(&self, tenant: TenantId, page: PageRequest) -> StoreResult<Page<Group>> {
                    let mut tx = self.read(tenant).await?;
                    let query = select_in_tenant("groups", GROUP_COLUMNS, tenant);
                    let mut found = fetch_page(&mut *tx, query, page, decode_group, |g| g.id.as_uuid()).await?;
                    let ids: Vec<Uuid> = found.items.iter().map(|group| group.id.as_uuid()).collect();
                    let mut members = group_members(&mut *tx, tenant, Some(&ids)).await?;
                    tx.finish().await?;
                    for group in &mut found.items {
                        group.members = members.remove(&group.id.as_uuid()).unwrap_or_default();
                    }
                    Ok(found)
                }

                async fn group_update(&self, tenant: TenantId, id: GroupId, patch: &GroupPatch, change: &ChangeContext) -> StoreResult<Group> {
                    let mut tx = self.write(tenant).await?;
                    let before = group_by_id(&mut *tx, tenant, id).await?;
                    let members = match &patch.members {
                        Some(members) => Some(check_members(&mut *tx, tenant, members).await?),
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
                            replace_members(&mut *tx, tenant, id, &members).await?;
                            members
                        }
                        None => before.members.clone(),
                    };
                    record(&mut *tx, Some(tenant), change, "access.group.update", "group", Some(id.to_string()), state(&before), state(&group)).await?;
                    tx.commit().await?;
                    Ok(group)
                }

                async fn group_delete(&self, tenant: TenantId, id: GroupId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = group_by_id(&mut *tx, tenant, id).await?;
                    delete_record(
                        &mut *tx,
                        "groups",
                        tenant,
                        id.as_uuid(),
                        "a grant still gives the group an access level",
                        change,
                        "access.group.delete",
                        "group",
                        &before,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- The deny list --------------------------------------------

                async fn denial_create(&self, tenant: TenantId, new: &NewDenial, change: &ChangeContext) -> StoreResult<Denial> {
                    new.check()?;
                    let mut tx = self.write(tenant).await?;
                    require_person(&mut *tx, tenant, "person_id", new.person_id).await?;
                    let sql = format!("INSERT INTO denials ({DENIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {DENIAL_COLUMNS}");
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.person_id.as_uuid())
                        .bind(new.reason.as_str())
                        .bind(new.valid_until)
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::from(err).on_missing_reference("person_id"))?;
                    let denial = decode_denial(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.denial.create", "denial", Some(denial.id.to_string()), None, state(&denial)).await?;
                    tx.commit().await?;
                    Ok(denial)
                }

                async fn denial_list(&self, tenant: TenantId, person: Option<PersonId>, page: PageRequest) -> StoreResult<Page<Denial>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("denials", DENIAL_COLUMNS, tenant);
                    if let Some(person) = person {
                        query.push(" AND person_id = ").push_bind(person.as_uuid());
                    }
                    let found = fetch_page(&mut *tx, query, page, decode_denial, |d| d.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn denial_delete(&self, tenant: TenantId, id: DenialId, change: &ChangeContext) -> StoreResult<()> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "denials", DENIAL_COLUMNS, tenant, id.as_uuid(), decode_denial).await?;
                    delete_record(&mut *tx, "denials", tenant, id.as_uuid(), "the denial is still referenced", change, "access.denial.delete", "denial", &before).await?;
                    tx.commit().await?;
                    Ok(())
                }

                // ---- Door settings and zone rules -----------------------------

                async fn door_settings_put(&self, tenant: TenantId, point: AccessPointId, settings: &DoorSettings, change: &ChangeContext) -> StoreResult<DoorSettings> {
                    let mut tx = self.write(tenant).await?;
                    let row = sqlx::query(
                        "SELECT p.id, d.mode, d.unlock_schedule_id, d.first_person_in, d.requires_pin \
                         FROM access_points p LEFT JOIN door_settings d ON d.tenant_id = p.tenant_id AND d.access_point_id = p.id \
                         WHERE p.tenant_id = $1 AND p.id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(point.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let before = decode_door_settings(&row)?;
                    if let Some(schedule) = settings.unlock_schedule_id {
                        require(&mut *tx, "schedules", "unlock_schedule_id", tenant, schedule.as_uuid()).await?;
                    }
                    sqlx::query(
                        "INSERT INTO door_settings (tenant_id, access_point_id, mode, unlock_schedule_id, first_person_in, requires_pin, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (tenant_id, access_point_id) DO UPDATE SET mode = excluded.mode, \
                         unlock_schedule_id = excluded.unlock_schedule_id, first_person_in = excluded.first_person_in, \
                         requires_pin = excluded.requires_pin, updated_at = excluded.updated_at",
                    )
                    .bind(tenant.as_uuid())
                    .bind(point.as_uuid())
                    .bind(settings.mode.as_str())
                    .bind(settings.unlock_schedule_id.map(|id| id.as_uuid()))
                    .bind(settings.first_person_in)
                    .bind(settings.requires_pin)
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| StoreError::from(err).on_missing_reference("unlock_schedule_id"))?;
                    record(&mut *tx, Some(tenant), change, "access.door.update", "access_point", Some(point.to_string()), state(&before), state(settings)).await?;
                    tx.commit().await?;
                    Ok(*settings)
                }

                async fn door_settings_get(&self, tenant: TenantId, point: AccessPointId) -> StoreResult<DoorSettings> {
                    let mut tx = self.read(tenant).await?;
                    let row = sqlx::query(
                        "SELECT p.id, d.mode, d.unlock_schedule_id, d.first_person_in, d.requires_pin \
                         FROM access_points p LEFT JOIN door_settings d ON d.tenant_id = p.tenant_id AND d.access_point_id = p.id \
                         WHERE p.tenant_id = $1 AND p.id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(point.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.finish().await?;
                    decode_door_settings(&row.ok_or(StoreError::NotFound)?)
                }

                async fn zone_rules_put(&self, tenant: TenantId, zone: ZoneId, rules: &ZoneRules, change: &ChangeContext) -> StoreResult<ZoneRules> {
                    let mut tx = self.write(tenant).await?;
                    let row = sqlx::query(
                        "SELECT z.id, r.anti_passback, r.anti_passback_reset_s, r.occupancy_max \
                         FROM zones z LEFT JOIN zone_rules r ON r.tenant_id = z.tenant_id AND r.zone_id = z.id \
                         WHERE z.tenant_id = $1 AND z.id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(zone.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let before = decode_zone_rules(&row)?;
                    sqlx::query(
                        "INSERT INTO zone_rules (tenant_id, zone_id, anti_passback, anti_passback_reset_s, occupancy_max, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (tenant_id, zone_id) DO UPDATE SET anti_passback = excluded.anti_passback, \
                         anti_passback_reset_s = excluded.anti_passback_reset_s, occupancy_max = excluded.occupancy_max, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(tenant.as_uuid())
                    .bind(zone.as_uuid())
                    .bind(rules.anti_passback.as_str())
                    .bind(rules.anti_passback_reset_s.map(i64::from))
                    .bind(rules.occupancy_max.map(i64::from))
                    .bind(change.at)
                    .execute(&mut *tx)
                    .await?;
                    record(&mut *tx, Some(tenant), change, "access.zone_rules.update", "zone", Some(zone.to_string()), state(&before), state(rules)).await?;
                    tx.commit().await?;
                    Ok(*rules)
                }

                async fn zone_rules_get(&self, tenant: TenantId, zone: ZoneId) -> StoreResult<ZoneRules> {
                    let mut tx = self.read(tenant).await?;
                    let row = sqlx::query(
                        "SELECT z.id, r.anti_passback, r.anti_passback_reset_s, r.occupancy_max \
                         FROM zones z LEFT JOIN zone_rules r ON r.tenant_id = z.tenant_id AND r.zone_id = z.id \
                         WHERE z.tenant_id = $1 AND z.id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(zone.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.finish().await?;
                    decode_zone_rules(&row.ok_or(StoreError::NotFound)?)
                }

                // ---- Lockdowns ------------------------------------------------

                async fn lockdown_create(&self, tenant: TenantId, new: &NewLockdown, change: &ChangeContext) -> StoreResult<Lockdown> {
                    new.check()?;
                    let mut tx = self.write(tenant).await?;
                    if let Some(site) = new.site_id {
                        require(&mut *tx, "sites", "site_id", tenant, site.as_uuid()).await?;
                    }
                    if let Some(zone) = new.zone_id {
                        require(&mut *tx, "zones", "zone_id", tenant, zone.as_uuid()).await?;
                    }
                    let sql = format!(
                        "INSERT INTO lockdowns ({LOCKDOWN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) RETURNING {LOCKDOWN_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(Uuid::now_v7())
                        .bind(tenant.as_uuid())
                        .bind(new.scope.as_str())
                        .bind(new.site_id.map(|id| id.as_uuid()))
                        .bind(new.zone_id.map(|id| id.as_uuid()))
                        .bind(new.reason.as_str())
                        .bind(change.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| {
                            let field = if new.zone_id.is_some() { "zone_id" } else { "site_id" };
                            StoreError::from(err).on_missing_reference(field)
                        })?;
                    let lockdown = decode_lockdown(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.lockdown.create", "lockdown", Some(lockdown.id.to_string()), None, state(&lockdown)).await?;
                    tx.commit().await?;
                    Ok(lockdown)
                }

                async fn lockdown_get(&self, tenant: TenantId, id: LockdownId) -> StoreResult<Lockdown> {
                    let mut tx = self.read(tenant).await?;
                    let lockdown = fetch_by_id(&mut *tx, "lockdowns", LOCKDOWN_COLUMNS, tenant, id.as_uuid(), decode_lockdown).await?;
                    tx.finish().await?;
                    Ok(lockdown)
                }

                async fn lockdown_list(&self, tenant: TenantId, active_only: bool, page: PageRequest) -> StoreResult<Page<Lockdown>> {
                    let mut tx = self.read(tenant).await?;
                    let mut query = select_in_tenant("lockdowns", LOCKDOWN_COLUMNS, tenant);
                    if active_only {
                        query.push(" AND released_at IS NULL");
                    }
                    let found = fetch_page(&mut *tx, query, page, decode_lockdown, |l| l.id.as_uuid()).await?;
                    tx.finish().await?;
                    Ok(found)
                }

                async fn lockdown_release(&self, tenant: TenantId, id: LockdownId, change: &ChangeContext) -> StoreResult<Lockdown> {
                    let mut tx = self.write(tenant).await?;
                    let before = fetch_by_id(&mut *tx, "lockdowns", LOCKDOWN_COLUMNS, tenant, id.as_uuid(), decode_lockdown).await?;
                    if before.released_at.is_some() {
                        tx.commit().await?;
                        return Ok(before);
                    }
                    // Only the first release writes (and is recorded): a concurrent one finds it released.
                    let sql = format!(
                        "UPDATE lockdowns SET released_at = $3 WHERE tenant_id = $1 AND id = $2 AND released_at IS NULL \
                         RETURNING {LOCKDOWN_COLUMNS}"
                    );
                    let row = sqlx::query(&sql).bind(tenant.as_uuid()).bind(id.as_uuid()).bind(change.at).fetch_optional(&mut *tx).await?;
                    let Some(row) = row else {
                        let current = fetch_by_id(&mut *tx, "lockdowns", LOCKDOWN_COLUMNS, tenant, id.as_uuid(), decode_lockdown).await?;
                        tx.commit().await?;
                        return Ok(current);
                    };
                    let lockdown = decode_lockdown(&row)?;
                    record(&mut *tx, Some(tenant), change, "access.lockdown.release", "lockdown", Some(id.to_string()), state(&before), state(&lockdown)).await?;
                    tx.commit().await?;
                    Ok(lockdown)
                }
            }
        };
    };
}
pub(crate) use access_store_impl;
