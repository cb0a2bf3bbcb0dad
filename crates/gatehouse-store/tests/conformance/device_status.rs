//! A device's MQTT credentials and what it reports: secrets rotated and revoked (once),
//! found by the broker across tenants; status and firmware as the device says them;
//! `last_seen` only ever moving forward; silent devices marked offline once; and
//! another tenant that sees and changes none of it.

use gatehouse_domain::devices::{DeviceStatus, NewDevice};

use super::*;

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn change_at(seconds: i64) -> ChangeContext {
    ChangeContext::system("conformance test", at(seconds))
}

fn with_heartbeat(mut new: NewDevice, seconds: u32) -> NewDevice {
    new.config = Some(serde_json::json!({"heartbeat_s": seconds}));
    new
}

async fn status_of(store: &Arc<dyn Store>, t: TenantId, id: DeviceId) -> (DeviceStatus, Option<DateTime<Utc>>) {
    let device = store.device_get(t, id).await.unwrap();
    (device.status, device.last_seen)
}

pub(crate) async fn device_secrets_rotate_and_revoke_once_and_are_found_across_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let (t, other) = (tenant(&store, "acme").await.id, tenant(&store, "other").await.id);
    let lock = store.device_create(t, &new_lock("Front"), [1; 32], &change()).await.unwrap();
    let secret =
        |digest: [u8; 32], revoked: bool| Some(DeviceSecret { device: lock.id, tenant: t, secret_sha256: digest, revoked });
    assert_eq!(store.device_secret(lock.id).await.unwrap(), secret([1; 32], false), "found by id alone, with its tenant");
    assert_eq!(store.device_secret(DeviceId::generate()).await.unwrap(), None);

    // A rotation replaces the digest and restarts the credentials' life.
    let rotated = store.device_set_secret(t, lock.id, Some([2; 32]), &change_at(60)).await.unwrap();
    assert_eq!((rotated.credentials_active, rotated.credentials_issued_at), (true, Some(at(60))));
    assert_eq!(store.device_get(t, lock.id).await.unwrap(), rotated);
    assert_eq!(store.device_secret(lock.id).await.unwrap(), secret([2; 32], false), "the old digest is gone");

    // A revocation keeps the digest but marks it revoked; the device says its credentials no longer work.
    let revoked = store.device_set_secret(t, lock.id, None, &change_at(120)).await.unwrap();
    assert_eq!((revoked.credentials_active, revoked.credentials_issued_at), (false, Some(at(60))));
    assert_eq!(store.device_get(t, lock.id).await.unwrap(), revoked);
    assert_eq!(store.device_secret(lock.id).await.unwrap(), secret([2; 32], true));
    // Revoking again changes nothing and records nothing.
    let again = store.device_set_secret(t, lock.id, None, &change_at(180)).await.unwrap();
    assert_eq!(again, revoked);
    assert_eq!(store.device_secret(lock.id).await.unwrap(), secret([2; 32], true));
    let revocations = AuditFilter { action: Some("devices.device.revoke_credentials".into()), ..AuditFilter::default() };
    let recorded = store.audit_list(Some(t), &revocations, PageRequest::default()).await.unwrap().items;
    assert_eq!(recorded.iter().map(|entry| entry.at).collect::<Vec<_>>(), [at(120)], "revoking twice records once");

    // Issuing a new secret after a revocation makes the device usable again.
    let reissued = store.device_set_secret(t, lock.id, Some([3; 32]), &change_at(240)).await.unwrap();
    assert_eq!((reissued.credentials_active, reissued.credentials_issued_at), (true, Some(at(240))));
    assert_eq!(store.device_secret(lock.id).await.unwrap(), secret([3; 32], false));
    let rotations = AuditFilter { action: Some("devices.device.rotate_credentials".into()), ..AuditFilter::default() };
    assert_eq!(store.audit_list(Some(t), &rotations, PageRequest::default()).await.unwrap().items.len(), 2);

    // Another tenant can neither rotate nor revoke it.
    let audited = store.audit_list(Some(t), &AuditFilter::default(), PageRequest::default()).await.unwrap().items;
    assert!(is_not_found(store.device_set_secret(other, lock.id, Some([4; 32]), &change_at(300)).await));
    assert!(is_not_found(store.device_set_secret(other, lock.id, None, &change_at(300)).await));
    assert!(is_not_found(store.device_set_secret(t, DeviceId::generate(), None, &change_at(300)).await));
    assert_eq!(store.device_secret(lock.id).await.unwrap(), secret([3; 32], false), "unchanged");
    assert_eq!(store.device_get(t, lock.id).await.unwrap(), reissued);
    assert_eq!(store.audit_list(Some(t), &AuditFilter::default(), PageRequest::default()).await.unwrap().items, audited);
    assert!(store.audit_list(Some(other), &AuditFilter::default(), PageRequest::default()).await.unwrap().items.is_empty());

    // Each device has its own secret, and the broker finds it in its own tenant.
    let theirs = store.device_create(other, &new_lock("Theirs"), [5; 32], &change()).await.unwrap();
    let found = store.device_secret(theirs.id).await.unwrap().unwrap();
    assert_eq!((found.tenant, found.secret_sha256, found.revoked), (other, [5; 32], false));
}

pub(crate) async fn device_seen_records_status_and_firmware_and_returns_the_status_before(
    store: Arc<dyn Store>,
    _db: TestDatabase,
) {
    let t = tenant(&store, "acme").await.id;
    let mut new = new_lock("Front");
    new.firmware = Some("1.0.0".into());
    let lock = store.device_create(t, &new, [1; 32], &change()).await.unwrap();

    assert_eq!(store.device_seen(t, lock.id, DeviceStatus::Online, None, at(10)).await.unwrap(), DeviceStatus::Offline);
    let seen = store.device_get(t, lock.id).await.unwrap();
    assert_eq!(
        (seen.status, seen.last_seen, seen.firmware.as_deref()),
        (DeviceStatus::Online, Some(at(10)), Some("1.0.0")),
        "firmware kept when not said"
    );
    assert_eq!(seen.updated_at, t0(), "a report is not an edit");
    assert_eq!(store.device_seen(t, lock.id, DeviceStatus::Degraded, Some("1.1.0"), at(20)).await.unwrap(), DeviceStatus::Online);
    let seen = store.device_get(t, lock.id).await.unwrap();
    assert_eq!((seen.status, seen.last_seen, seen.firmware.as_deref()), (DeviceStatus::Degraded, Some(at(20)), Some("1.1.0")));
    assert_eq!(store.device_seen(t, lock.id, DeviceStatus::Offline, None, at(30)).await.unwrap(), DeviceStatus::Degraded);
    assert_eq!(status_of(&store, t, lock.id).await, (DeviceStatus::Offline, Some(at(30))), "its last will");
    assert_eq!(store.device_seen(t, lock.id, DeviceStatus::Online, None, at(40)).await.unwrap(), DeviceStatus::Offline);
    let seen = store.device_get(t, lock.id).await.unwrap();
    assert_eq!((seen.name, seen.config, seen.credentials_active), (lock.name, lock.config, true), "nothing else moves");
    assert!(is_not_found(store.device_seen(t, DeviceId::generate(), DeviceStatus::Online, None, at(50)).await));
}

pub(crate) async fn device_liveness_lists_the_tenants_devices_that_are_not_offline(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let online = store.device_create(t, &with_heartbeat(new_lock("Online"), 10), [1; 32], &change()).await.unwrap();
    let degraded = store.device_create(t, &with_heartbeat(new_sensor("Degraded"), 120), [1; 32], &change()).await.unwrap();
    let offline = store.device_create(t, &new_lock("Offline"), [1; 32], &change()).await.unwrap();
    let silent = store.device_create(t, &new_lock("Never seen"), [1; 32], &change()).await.unwrap();
    assert!(store.device_liveness(t).await.unwrap().is_empty(), "a new device is offline");
    store.device_seen(t, online.id, DeviceStatus::Online, None, at(10)).await.unwrap();
    store.device_seen(t, degraded.id, DeviceStatus::Degraded, None, at(20)).await.unwrap();
    store.device_seen(t, offline.id, DeviceStatus::Online, None, at(30)).await.unwrap();
    store.device_seen(t, offline.id, DeviceStatus::Offline, None, at(40)).await.unwrap();

    let mut live = store.device_liveness(t).await.unwrap();
    live.sort_by_key(|entry| entry.device);
    let live: Vec<_> = live.iter().map(|entry| (entry.device, entry.last_seen, entry.heartbeat_seconds)).collect();
    assert_eq!(live, vec![(online.id, Some(at(10)), 10), (degraded.id, Some(at(20)), 120)]);
    assert!(!live.iter().any(|(device, ..)| *device == silent.id || *device == offline.id));
}

pub(crate) async fn device_touch_moves_last_seen_forward_only(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let first = store.device_create(t, &new_lock("First"), [1; 32], &change()).await.unwrap();
    let second = store.device_create(t, &new_lock("Second"), [1; 32], &change()).await.unwrap();
    let untouched = store.device_create(t, &new_lock("Untouched"), [1; 32], &change()).await.unwrap();
    store.device_touch(t, &[]).await.unwrap();

    store.device_touch(t, &[(first.id, at(30)), (second.id, at(10))]).await.unwrap();
    assert_eq!(status_of(&store, t, first.id).await, (DeviceStatus::Offline, Some(at(30))), "the status is not touched");
    assert_eq!(status_of(&store, t, second.id).await.1, Some(at(10)));
    store.device_touch(t, &[(first.id, at(20)), (second.id, at(40)), (DeviceId::generate(), at(50))]).await.unwrap();
    assert_eq!(status_of(&store, t, first.id).await.1, Some(at(30)), "never back");
    assert_eq!(status_of(&store, t, second.id).await.1, Some(at(40)));
    // The same device twice in one call: the later instant wins, whatever the order.
    store.device_touch(t, &[(first.id, at(90)), (first.id, at(60))]).await.unwrap();
    assert_eq!(status_of(&store, t, first.id).await.1, Some(at(90)));
    assert_eq!(status_of(&store, t, untouched.id).await.1, None);
    assert_eq!(store.device_get(t, first.id).await.unwrap().updated_at, t0(), "a report is not an edit");
}

pub(crate) async fn device_mark_offline_marks_a_silent_device_once(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let lock = store.device_create(t, &new_lock("Front"), [1; 32], &change()).await.unwrap();
    let never = store.device_create(t, &new_lock("Never seen"), [1; 32], &change()).await.unwrap();
    assert!(!store.device_mark_offline(t, never.id, at(100)).await.unwrap(), "already offline");

    store.device_seen(t, lock.id, DeviceStatus::Online, None, at(50)).await.unwrap();
    assert!(!store.device_mark_offline(t, lock.id, at(50)).await.unwrap(), "seen at the instant: not silent since");
    assert!(!store.device_mark_offline(t, lock.id, at(40)).await.unwrap(), "seen since");
    assert_eq!(status_of(&store, t, lock.id).await, (DeviceStatus::Online, Some(at(50))));
    assert!(store.device_mark_offline(t, lock.id, at(51)).await.unwrap());
    assert_eq!(status_of(&store, t, lock.id).await, (DeviceStatus::Offline, Some(at(50))), "last_seen stays");
    assert!(!store.device_mark_offline(t, lock.id, at(60)).await.unwrap(), "marked once");

    // A degraded device falls silent too; a touch in the meantime keeps it up.
    store.device_seen(t, lock.id, DeviceStatus::Degraded, None, at(70)).await.unwrap();
    store.device_touch(t, &[(lock.id, at(80))]).await.unwrap();
    assert!(!store.device_mark_offline(t, lock.id, at(75)).await.unwrap());
    assert!(store.device_mark_offline(t, lock.id, at(81)).await.unwrap());
    assert!(!store.device_mark_offline(t, DeviceId::generate(), at(100)).await.unwrap(), "unknown: nothing marked");
}

pub(crate) async fn device_tenants_lists_each_tenant_with_devices_once(store: Arc<dyn Store>, _db: TestDatabase) {
    assert!(store.device_tenants().await.unwrap().is_empty());
    let (a, b, c) =
        (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id, tenant(&store, "tenant-c").await.id);
    for device_name in ["One", "Two", "Three"] {
        store.device_create(a, &new_lock(device_name), [1; 32], &change()).await.unwrap();
    }
    let revoked = store.device_create(b, &new_lock("Revoked"), [1; 32], &change()).await.unwrap();
    store.device_set_secret(b, revoked.id, None, &change()).await.unwrap();
    let mut listed = store.device_tenants().await.unwrap();
    listed.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(listed, expected, "each once; a tenant whose devices are revoked still has devices");
    assert!(!listed.contains(&c));
}

pub(crate) async fn device_reports_never_cross_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let lock = store.device_create(a, &new_lock("Front"), [1; 32], &change()).await.unwrap();
    store.device_seen(a, lock.id, DeviceStatus::Online, None, at(10)).await.unwrap();
    let before = store.device_get(a, lock.id).await.unwrap();

    assert!(is_not_found(store.device_seen(b, lock.id, DeviceStatus::Degraded, Some("6.6.6"), at(20)).await));
    store.device_touch(b, &[(lock.id, at(30))]).await.unwrap();
    assert!(!store.device_mark_offline(b, lock.id, at(40)).await.unwrap());
    assert!(store.device_liveness(b).await.unwrap().is_empty());
    assert_eq!(store.device_get(a, lock.id).await.unwrap(), before, "status, firmware and last_seen unchanged");
    assert_eq!(store.device_liveness(a).await.unwrap().len(), 1);
    assert_eq!(store.device_tenants().await.unwrap(), vec![a]);
    // The owner's own calls still work.
    assert!(store.device_mark_offline(a, lock.id, at(40)).await.unwrap());
}
