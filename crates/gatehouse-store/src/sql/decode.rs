//! Rows to domain types for tenancy, people and identity (each access and device
//! area decodes its own rows beside its SQL). A stored value that no longer
//! parses is [`StoreError::Corrupt`], never a silent default.

use gatehouse_domain::people::{Metadata, Person};
use gatehouse_domain::values::*;

use super::*;

fn time(row: &Row, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
    Ok(row.try_get::<DateTime<Utc>, _>(column)?)
}
fn uuid(row: &Row, column: &'static str) -> Result<Uuid, StoreError> {
    Ok(row.try_get::<Uuid, _>(column)?)
}

pub(super) fn tenant(row: &Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId::from_uuid(uuid(row, "id")?),
        name: stored("name", Name::parse(&text_column(row, "name")?))?,
        slug: stored("slug", Slug::parse(&text_column(row, "slug")?))?,
        status: stored("status", text_column(row, "status")?.parse())?,
        mfa_required_roles: row
            .try_get::<Json<Vec<gatehouse_domain::authz::BuiltinRole>>, _>("mfa_required_roles")
            .map_err(|err| StoreError::Corrupt(format!("mfa_required_roles: {err}")))?
            .0,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn site(row: &Row) -> Result<Site, StoreError> {
    Ok(Site {
        id: SiteId::from_uuid(uuid(row, "id")?),
        tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
        name: stored("name", Name::parse(&text_column(row, "name")?))?,
        time_zone: stored("time_zone", TimeZone::parse(&text_column(row, "time_zone")?))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn zone(row: &Row) -> Result<Zone, StoreError> {
    Ok(Zone {
        id: ZoneId::from_uuid(uuid(row, "id")?),
        tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
        site_id: SiteId::from_uuid(uuid(row, "site_id")?),
        parent_id: row.try_get::<Option<Uuid>, _>("parent_id")?.map(ZoneId::from_uuid),
        name: stored("name", Name::parse(&text_column(row, "name")?))?,
        kind: stored("kind", text_column(row, "kind")?.parse())?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn unit(row: &Row) -> Result<Unit, StoreError> {
    Ok(Unit {
        id: UnitId::from_uuid(uuid(row, "id")?),
        tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
        zone_id: ZoneId::from_uuid(uuid(row, "zone_id")?),
        name: stored("name", Name::parse(&text_column(row, "name")?))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn access_point(row: &Row) -> Result<AccessPoint, StoreError> {
    Ok(AccessPoint {
        id: AccessPointId::from_uuid(uuid(row, "id")?),
        tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
        zone_id: ZoneId::from_uuid(uuid(row, "zone_id")?),
        name: stored("name", Name::parse(&text_column(row, "name")?))?,
        kind: stored("kind", text_column(row, "kind")?.parse())?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn audit_entry(row: &Row) -> Result<gatehouse_domain::audit::AuditEntry, StoreError> {
    Ok(gatehouse_domain::audit::AuditEntry {
        id: uuid(row, "id")?,
        tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id")?.map(TenantId::from_uuid),
        at: time(row, "at")?,
        actor: gatehouse_domain::audit::Actor {
            kind: text_column(row, "actor_kind")?,
            id: row.try_get("actor_id")?,
            label: text_column(row, "actor_label")?,
        },
        action: text_column(row, "action")?,
        target_type: text_column(row, "target_type")?,
        target_id: row.try_get("target_id")?,
        before: row.try_get::<Option<Json<serde_json::Value>>, _>("before_state")?.map(|json| json.0),
        after: row.try_get::<Option<Json<serde_json::Value>>, _>("after_state")?.map(|json| json.0),
        request_id: row.try_get("request_id")?,
        source: row.try_get("source")?,
    })
}

pub(super) fn role_assignment(row: &Row) -> Result<gatehouse_domain::identity::RoleAssignment, StoreError> {
    let role: String = text_column(row, "role")?;
    let scope = scope(row)?;
    Ok(gatehouse_domain::identity::RoleAssignment {
        id: uuid(row, "id")?,
        role: stored("role", RoleName::parse(&role))?,
        tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id")?.map(TenantId::from_uuid),
        scope,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
    })
}

pub(super) fn account(
    row: &Row,
    roles: Vec<gatehouse_domain::identity::RoleAssignment>,
    people: Vec<gatehouse_domain::identity::PersonLink>,
) -> Result<gatehouse_domain::identity::Account, StoreError> {
    Ok(gatehouse_domain::identity::Account {
        id: AccountId::from_uuid(uuid(row, "id")?),
        email: stored("email", Email::parse(&text_column(row, "email")?))?,
        display_name: stored_opt("display_name", row.try_get("display_name")?, Name::parse)?,
        status: stored("status", text_column(row, "status")?.parse())?,
        roles,
        people,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn session(row: &Row) -> Result<gatehouse_domain::identity::Session, StoreError> {
    Ok(gatehouse_domain::identity::Session {
        id: SessionId::from_uuid(uuid(row, "id")?),
        account_id: AccountId::from_uuid(uuid(row, "account_id")?),
        tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id")?.map(TenantId::from_uuid),
        created_at: time(row, "created_at")?,
        last_used_at: time(row, "last_used_at")?,
        expires_at: time(row, "expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
    })
}

pub(super) fn signing_key(row: &Row) -> Result<crate::SigningKeyRecord, StoreError> {
    Ok(crate::SigningKeyRecord {
        kid: text_column(row, "kid")?,
        algorithm: text_column(row, "algorithm")?,
        public_key: row.try_get("public_key")?,
        private_key_encrypted: row.try_get("private_key_encrypted")?,
        created_at: time(row, "created_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

fn scope(row: &Row) -> Result<gatehouse_domain::authz::Scope, StoreError> {
    let scope_id: Option<Uuid> = row.try_get("scope_id")?;
    Ok(match (text_column(row, "scope_kind")?.as_str(), scope_id) {
        ("tenant", None) => gatehouse_domain::authz::Scope::Tenant,
        ("site", Some(id)) => gatehouse_domain::authz::Scope::Site(SiteId::from_uuid(id)),
        ("zone", Some(id)) => gatehouse_domain::authz::Scope::Zone(ZoneId::from_uuid(id)),
        (kind, _) => return Err(StoreError::Corrupt(format!("scope_kind: '{kind}' with scope_id {scope_id:?}"))),
    })
}

pub(super) fn api_key(row: &Row) -> Result<gatehouse_domain::identity::ApiKey, StoreError> {
    let role: String = text_column(row, "role")?;
    Ok(gatehouse_domain::identity::ApiKey {
        id: ApiKeyId::from_uuid(uuid(row, "id")?),
        tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
        name: stored("name", Name::parse(&text_column(row, "name")?))?,
        role: stored("role", RoleName::parse(&role))?,
        scope: scope(row)?,
        prefix: text_column(row, "prefix")?,
        created_at: time(row, "created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

pub(super) fn person(row: &Row) -> Result<Person, StoreError> {
    let metadata: Json<serde_json::Value> = row.try_get("metadata")?;
    Ok(Person {
        id: PersonId::from_uuid(uuid(row, "id")?),
        tenant_id: TenantId::from_uuid(uuid(row, "tenant_id")?),
        kind: stored("kind", text_column(row, "kind")?.parse())?,
        first_name: stored("first_name", Name::parse(&text_column(row, "first_name")?))?,
        last_name: stored_opt("last_name", row.try_get("last_name")?, Name::parse)?,
        email: stored_opt("email", row.try_get("email")?, Email::parse)?,
        phone: stored_opt("phone", row.try_get("phone")?, Phone::parse)?,
        unit_id: row.try_get::<Option<Uuid>, _>("unit_id")?.map(UnitId::from_uuid),
        external_id: stored_opt("external_id", row.try_get("external_id")?, ExternalId::parse)?,
        status: stored("status", text_column(row, "status")?.parse())?,
        metadata: stored("metadata", Metadata::try_from(metadata.0))?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}
