//! A tenant's own roles and the role assignments of its accounts: every field read back
//! as written, names unique in a tenant and capped, a role deleted only once no account
//! or live API key holds it, assignments kept in the account's tenant (refused, not a
//! panic, when they name another), every write audited once, and another tenant that
//! sees, changes and deletes nothing.

use gatehouse_domain::authz::{BuiltinRole, CustomRole, CustomRolePatch, NewCustomRole, Permission, Scope};
use gatehouse_domain::identity::{ApiKey, RoleAssignment};

use super::*;

fn role_name(s: &str) -> RoleName {
    RoleName::parse(s).unwrap()
}

fn permissions(codes: &[&str]) -> Vec<Permission> {
    codes.iter().map(|code| Permission::parse(code).unwrap()).collect()
}

fn new_role(role: &str, codes: &[&str]) -> NewCustomRole {
    NewCustomRole { name: role_name(role), description: None, inherits: None, permissions: permissions(codes) }
}

/// One of the tenant's own roles, given over the whole tenant.
fn custom(role: &str, tenant: TenantId) -> RoleAssignment {
    RoleAssignment {
        id: uuid::Uuid::now_v7(),
        role: role_name(role),
        tenant_id: Some(tenant),
        scope: Scope::Tenant,
        valid_from: None,
        valid_until: None,
    }
}

fn api_key(tenant: TenantId, role: &str, expires_at: Option<DateTime<Utc>>) -> ApiKey {
    ApiKey {
        id: ApiKeyId::generate(),
        tenant_id: tenant,
        name: name("Integration"),
        role: role_name(role),
        scope: Scope::Tenant,
        prefix: "gh_Ab12Cd34".into(),
        created_at: t0(),
        expires_at,
        last_used_at: None,
        revoked_at: None,
    }
}

async fn create_key(store: &Arc<dyn Store>, key: &ApiKey) -> ApiKey {
    store.api_key_create(key.tenant_id, key, &format!("hash-{}", key.id), &change()).await.unwrap()
}

/// An account of `tenant` (a tenant administrator there) and its first assignment.
async fn member(store: &Arc<dyn Store>, tenant: TenantId, email: &str) -> (AccountId, RoleAssignment) {
    let admin = role(BuiltinRole::TenantAdmin, Some(tenant), Scope::Tenant);
    let account = store.account_create(Some(tenant), &account_record(email, vec![admin.clone()]), &change()).await.unwrap();
    (account.id, admin)
}

async fn roles_of(store: &Arc<dyn Store>, account: AccountId) -> Vec<RoleAssignment> {
    store.account_get(account).await.unwrap().roles
}

async fn entries_for(store: &Arc<dyn Store>, tenant: TenantId, target_type: &str) -> Vec<gatehouse_domain::audit::AuditEntry> {
    let filter = AuditFilter { target_type: Some(target_type.into()), ..AuditFilter::default() };
    store.audit_list(Some(tenant), &filter, PageRequest::first(PAGE_LIMIT_MAX)).await.unwrap().items
}

pub(crate) async fn roles_round_trip_in_name_order_with_patch_semantics(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let new = NewCustomRole {
        name: role_name("night_guard"),
        description: Some("Guards at night".into()),
        inherits: Some(BuiltinRole::SecurityOperator),
        // Unsorted, with a repeat: a role holds each permission once.
        permissions: permissions(&["devices.device.read", "access.log.read", "access.log.read"]),
    };
    let guard = store.role_create(t, &new, &change()).await.unwrap();
    assert_eq!((guard.tenant_id, &guard.name, guard.description.as_deref()), (t, &new.name, Some("Guards at night")));
    assert_eq!(guard.inherits, Some(BuiltinRole::SecurityOperator));
    assert_eq!(guard.permissions, permissions(&["access.log.read", "devices.device.read"]));
    assert_eq!((guard.created_at, guard.updated_at), (t0(), t0()));
    assert_eq!(store.role_get(t, &guard.name).await.unwrap(), guard);
    let auditor = store.role_create(t, &new_role("auditor", &["audit.log.read"]), &change()).await.unwrap();
    assert_eq!((auditor.description.clone(), auditor.inherits), (None, None));
    assert_eq!(store.role_list(t).await.unwrap(), vec![auditor.clone(), guard.clone()], "by name");

    // Left out, kept; null, cleared; the name and id never change.
    let patch = CustomRolePatch { description: Some(None), inherits: None, permissions: Some(permissions(&["access.log.read"])) };
    let updated = store.role_update(t, &guard.name, &patch, &later()).await.unwrap();
    assert_eq!((updated.id, &updated.name, updated.tenant_id), (guard.id, &guard.name, t));
    assert_eq!((updated.description.clone(), updated.inherits), (None, Some(BuiltinRole::SecurityOperator)));
    assert_eq!(updated.permissions, permissions(&["access.log.read"]));
    assert_eq!((updated.created_at, updated.updated_at), (t0(), t1()));
    assert_eq!(store.role_get(t, &guard.name).await.unwrap(), updated);
    let patch = CustomRolePatch { description: Some(Some("Night shift".into())), inherits: Some(None), permissions: None };
    let updated = store.role_update(t, &guard.name, &patch, &later()).await.unwrap();
    assert_eq!((updated.description.as_deref(), updated.inherits), (Some("Night shift"), None));
    assert_eq!(updated.permissions, permissions(&["access.log.read"]), "left out, kept");
    assert_eq!(store.role_list(t).await.unwrap(), vec![auditor, updated]);

    let ghost = role_name("ghost");
    assert!(is_not_found(store.role_get(t, &ghost).await));
    assert!(is_not_found(store.role_update(t, &ghost, &CustomRolePatch::default(), &later()).await));
    assert!(is_not_found(store.role_delete(t, &ghost, &later()).await));
}

pub(crate) async fn role_names_are_unique_in_a_tenant_and_capped(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let first = store.role_create(a, &new_role("auditor", &["audit.log.read"]), &change()).await.unwrap();
    let again = store.role_create(a, &new_role("auditor", &["access.log.read"]), &later()).await;
    assert!(matches!(again, Err(StoreError::Conflict { field: "name" })), "{again:?}");
    assert_eq!(store.role_get(a, &first.name).await.unwrap(), first, "the first one stays as it was");
    // Another tenant has its own names.
    let theirs = store.role_create(b, &new_role("auditor", &["access.log.read"]), &change()).await.unwrap();
    assert_ne!(theirs.id, first.id);

    for i in 1..CUSTOM_ROLES_MAX {
        store.role_create(a, &new_role(&format!("role_{i}"), &[]), &change()).await.unwrap();
    }
    let over = store.role_create(a, &new_role("one_too_many", &[]), &change()).await;
    assert_eq!(field_of(over.unwrap_err()), "name");
    assert_eq!(store.role_list(a).await.unwrap().len(), CUSTOM_ROLES_MAX);
    assert!(is_not_found(store.role_get(a, &role_name("one_too_many")).await));
    assert_eq!(entries_for(&store, a, "role").await.len(), CUSTOM_ROLES_MAX, "one entry per role created, none for refusals");
    // The cap is per tenant.
    store.role_create(b, &new_role("one_more", &[]), &change()).await.unwrap();
}

pub(crate) async fn roles_are_deleted_only_once_no_account_or_live_key_holds_them(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    for role in ["by_account", "by_key", "by_expired_key", "shared"] {
        store.role_create(a, &new_role(role, &["audit.log.read"]), &change()).await.unwrap();
    }
    let (account, _) = member(&store, a, "ops@a.example").await;
    let held = custom("by_account", a);
    store.role_assignment_add(a, account, &held, &change()).await.unwrap();
    // The deletes happen at t1: a key expiring then is no longer live.
    let live_key = create_key(&store, &api_key(a, "by_key", Some(t1() + Duration::seconds(1)))).await;
    create_key(&store, &api_key(a, "by_expired_key", Some(t1()))).await;
    // In tenant B a role of the same name, held there: it does not hold A's.
    store.role_create(b, &new_role("shared", &["audit.log.read"]), &change()).await.unwrap();
    let (b_account, _) = member(&store, b, "ops@b.example").await;
    store.role_assignment_add(b, b_account, &custom("shared", b), &change()).await.unwrap();

    assert!(is_in_use(store.role_delete(a, &role_name("by_account"), &later()).await));
    assert!(is_in_use(store.role_delete(a, &role_name("by_key"), &later()).await));
    assert!(store.role_get(a, &role_name("by_account")).await.is_ok() && store.role_get(a, &role_name("by_key")).await.is_ok());
    let deletions = AuditFilter { action: Some("identity.role.delete".into()), ..AuditFilter::default() };
    assert!(
        store.audit_list(Some(a), &deletions, PageRequest::default()).await.unwrap().items.is_empty(),
        "refusals record nothing"
    );

    store.role_delete(a, &role_name("by_expired_key"), &later()).await.unwrap();
    store.role_delete(a, &role_name("shared"), &later()).await.unwrap();
    assert!(is_in_use(store.role_delete(b, &role_name("shared"), &later()).await), "B's is still held in B");
    store.role_assignment_remove(a, account, held.id, &later()).await.unwrap();
    store.role_delete(a, &role_name("by_account"), &later()).await.unwrap();
    store.api_key_revoke(a, live_key.id, &later()).await.unwrap();
    store.role_delete(a, &role_name("by_key"), &later()).await.unwrap();

    assert!(store.role_list(a).await.unwrap().is_empty());
    assert!(is_not_found(store.role_delete(a, &role_name("by_key"), &later()).await), "deleted once");
    let deleted = store.audit_list(Some(a), &deletions, PageRequest::default()).await.unwrap().items;
    assert_eq!(deleted.len(), 4);
    assert_eq!(store.role_list(b).await.unwrap().len(), 1);
    // A deleted name can be used again.
    store.role_create(a, &new_role("by_account", &[]), &later()).await.unwrap();
}

pub(crate) async fn role_assignments_are_added_and_removed_in_the_accounts_tenant(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let (pa, pb) = (place(&store, a).await, place(&store, b).await);
    store.role_create(a, &new_role("night_guard", &["access.log.read"]), &change()).await.unwrap();
    let (account, admin) = member(&store, a, "ops@a.example").await;

    let guard = RoleAssignment {
        scope: Scope::Site(pa.site.id),
        valid_from: Some(t0()),
        valid_until: Some(t0() + Duration::days(30)),
        ..custom("night_guard", a)
    };
    store.role_assignment_add(a, account, &guard, &later()).await.unwrap();
    let operator = role(BuiltinRole::SecurityOperator, Some(a), Scope::Zone(pa.inner.id));
    store.role_assignment_add(a, account, &operator, &later()).await.unwrap();
    assert_eq!(roles_of(&store, account).await, vec![admin.clone(), guard.clone(), operator.clone()], "every field as written");

    // Refused: a role the tenant lacks, a place of another tenant, an unknown account,
    // and an account that is not the tenant's.
    assert_eq!(field_of(store.role_assignment_add(a, account, &custom("ghost", a), &later()).await.unwrap_err()), "role");
    let away = RoleAssignment { scope: Scope::Site(pb.site.id), ..custom("night_guard", a) };
    assert_eq!(field_of(store.role_assignment_add(a, account, &away, &later()).await.unwrap_err()), "scope.site_id");
    let away = RoleAssignment { scope: Scope::Zone(pb.zone.id), ..custom("night_guard", a) };
    assert_eq!(field_of(store.role_assignment_add(a, account, &away, &later()).await.unwrap_err()), "scope.zone_id");
    let stranger = role(BuiltinRole::Resident, Some(a), Scope::Tenant);
    assert!(is_not_found(store.role_assignment_add(a, AccountId::generate(), &stranger, &later()).await));
    let in_b = role(BuiltinRole::Resident, Some(b), Scope::Tenant);
    assert!(is_not_found(store.role_assignment_add(b, account, &in_b, &later()).await), "not an account of B");
    assert_eq!(roles_of(&store, account).await.len(), 3, "nothing added");

    // Removal returns what was removed; a second one finds nothing.
    assert_eq!(store.role_assignment_remove(a, account, guard.id, &later()).await.unwrap(), guard);
    assert!(is_not_found(store.role_assignment_remove(a, account, guard.id, &later()).await));
    assert!(is_not_found(store.role_assignment_remove(a, account, uuid::Uuid::now_v7(), &later()).await));
    let (other, _) = member(&store, a, "other@a.example").await;
    assert!(is_not_found(store.role_assignment_remove(a, other, operator.id, &later()).await), "not that account's");
    assert_eq!(roles_of(&store, account).await, vec![admin.clone(), operator.clone()]);

    let entries = store
        .audit_list(
            Some(a),
            &AuditFilter { target_id: Some(account.to_string()), ..AuditFilter::default() },
            PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions,
        ["identity.account.update", "identity.account.update", "identity.account.update", "identity.account.create"]
    );
    let json = |assignment: &RoleAssignment| Some(serde_json::to_value(assignment).unwrap());
    assert_eq!((entries[0].before.clone(), entries[0].after.clone()), (json(&guard), None), "the removal");
    assert_eq!((entries[1].before.clone(), entries[1].after.clone()), (None, json(&operator)));
    assert_eq!((entries[2].before.clone(), entries[2].after.clone(), entries[2].at), (None, json(&guard), t1()));
    assert!(entries.iter().all(|entry| entry.target_type == "account"));

    // An account whose last role in the tenant is taken is no longer the tenant's.
    store.role_assignment_remove(a, account, operator.id, &later()).await.unwrap();
    store.role_assignment_remove(a, account, admin.id, &later()).await.unwrap();
    let listed = store.account_list(a, PageRequest::default()).await.unwrap().items;
    assert!(!listed.iter().any(|listed| listed.id == account));
    assert!(is_not_found(store.role_assignment_add(a, account, &stranger, &later()).await));
}

pub(crate) async fn role_assignments_naming_another_tenant_are_refused_not_a_panic(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let (account, admin) = member(&store, a, "ops@a.example").await;
    let before_a = audit_entries(&store, a).await;

    for wrong in [Some(b), None] {
        let assignment = RoleAssignment { tenant_id: wrong, ..role(BuiltinRole::Resident, Some(a), Scope::Tenant) };
        let refused = store.role_assignment_add(a, account, &assignment, &later()).await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "an assignment for {wrong:?} added in A: {refused:?}");
    }
    assert_eq!(roles_of(&store, account).await, vec![admin]);
    assert_eq!(audit_entries(&store, a).await, before_a);
    assert!(audit_entries(&store, b).await.is_empty());

    // Creating an account is held to the same rule.
    let foreign = account_record("x@a.example", vec![role(BuiltinRole::Resident, Some(b), Scope::Tenant)]);
    let refused = store.account_create(Some(a), &foreign, &change()).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    let tenant_role_for_platform = account_record("y@a.example", vec![role(BuiltinRole::Resident, Some(a), Scope::Tenant)]);
    let refused = store.account_create(None, &tenant_role_for_platform, &change()).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    for email in ["x@a.example", "y@a.example"] {
        assert!(store.account_credentials(email).await.unwrap().is_none(), "nothing written for {email}");
    }
    assert!(audit_entries(&store, b).await.is_empty());
}

pub(crate) async fn role_writes_are_audited_once_each_in_their_transaction(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let mut by_operator = change();
    by_operator.actor = gatehouse_domain::audit::Actor {
        kind: "account".into(),
        id: Some(uuid::Uuid::now_v7()),
        label: "ops@example.org".into(),
    };
    by_operator.request_id = Some("req-7".into());
    let created = store.role_create(t, &new_role("auditor", &["audit.log.read"]), &by_operator).await.unwrap();
    assert!(store.role_create(t, &new_role("auditor", &[]), &change()).await.is_err());
    let patch = CustomRolePatch { description: Some(Some("Reads the trail".into())), ..CustomRolePatch::default() };
    let updated = store.role_update(t, &created.name, &patch, &later()).await.unwrap();
    store.role_delete(t, &created.name, &later()).await.unwrap();
    assert!(store.role_delete(t, &created.name, &later()).await.is_err());

    let entries = entries_for(&store, t, "role").await;
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, ["identity.role.delete", "identity.role.update", "identity.role.create"], "newest first, one per change");
    assert!(entries.iter().all(|entry| entry.tenant_id == Some(t) && entry.target_id.as_deref() == Some("auditor")));
    let json = |role: &CustomRole| Some(serde_json::to_value(role).unwrap());
    assert_eq!((entries[2].before.clone(), entries[2].after.clone()), (None, json(&created)));
    assert_eq!(
        (entries[2].actor.label.as_str(), entries[2].request_id.as_deref(), entries[2].at),
        ("ops@example.org", Some("req-7"), t0())
    );
    assert_eq!((entries[1].before.clone(), entries[1].after.clone(), entries[1].at), (json(&created), json(&updated), t1()));
    assert_eq!((entries[0].before.clone(), entries[0].after.clone()), (json(&updated), None));
}

pub(crate) async fn roles_never_cross_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let auditor = store.role_create(a, &new_role("auditor", &["audit.log.read"]), &change()).await.unwrap();
    let (a_account, a_admin) = member(&store, a, "ops@a.example").await;
    let (b_account, b_admin) = member(&store, b, "ops@b.example").await;
    let a_trail = audit_entries(&store, a).await;
    let b_trail = audit_entries(&store, b).await;

    assert!(store.role_list(b).await.unwrap().is_empty());
    assert!(is_not_found(store.role_get(b, &auditor.name).await));
    let patch = CustomRolePatch { permissions: Some(permissions(&["identity.role.delete"])), ..CustomRolePatch::default() };
    assert!(is_not_found(store.role_update(b, &auditor.name, &patch, &later()).await));
    assert!(is_not_found(store.role_delete(b, &auditor.name, &later()).await));
    // B cannot give A's role, even to its own account, nor touch A's account's roles.
    assert_eq!(field_of(store.role_assignment_add(b, b_account, &custom("auditor", b), &later()).await.unwrap_err()), "role");
    assert!(is_not_found(store.role_assignment_add(b, a_account, &custom("auditor", b), &later()).await));
    assert!(is_not_found(store.role_assignment_remove(b, a_account, a_admin.id, &later()).await));
    // Nor A B's.
    assert!(is_not_found(store.role_assignment_remove(a, b_account, b_admin.id, &later()).await));

    assert_eq!(store.role_get(a, &auditor.name).await.unwrap(), auditor, "unchanged");
    assert_eq!(roles_of(&store, a_account).await, vec![a_admin]);
    assert_eq!(roles_of(&store, b_account).await, vec![b_admin]);
    assert_eq!(audit_entries(&store, a).await, a_trail);
    assert_eq!(audit_entries(&store, b).await, b_trail);
}
