//! The device registry: every field read back as written, filters and pages, serials
//! unique in a tenant, places in the tenant, a delete that takes the device's secret,
//! commands and telemetry with it, every write audited once in its own transaction,
//! and another tenant that sees, changes and deletes nothing.

use gatehouse_domain::devices::{Device, DeviceKind, DevicePatch, DeviceStatus, NewDevice};

use super::*;

/// A digest no other field holds, to look for in what the store returns.
const DIGEST: [u8; 32] = [0xab; 32];

/// A reader with every field set.
fn full_reader(point: AccessPointId, zone: ZoneId) -> NewDevice {
    NewDevice {
        kind: DeviceKind::Reader,
        name: name("Lobby reader"),
        model: Some("HID R10".into()),
        serial: Some("SN-0001".into()),
        firmware: Some("1.2.3".into()),
        capabilities: vec!["card".into(), "pin".into()],
        access_point_id: Some(point),
        zone_id: Some(zone),
        config: Some(serde_json::json!({"keypad": true})),
    }
}

fn with_serial(mut new: NewDevice, serial: &str) -> NewDevice {
    new.serial = Some(serial.to_owned());
    new
}

fn digest_shown(device: &Device) -> bool {
    let json = serde_json::to_string(device).unwrap();
    let debug = format!("{device:?}");
    let hex = "ab".repeat(32);
    [json, debug].iter().any(|text| text.contains(&hex) || text.contains("171, 171") || text.contains("secret_sha256"))
}

pub(crate) async fn devices_round_trip_every_field_as_written(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;
    let new = full_reader(p.door.id, p.zone.id);
    let reader = store.device_create(t, &new, DIGEST, &change()).await.unwrap();
    assert_eq!((reader.tenant_id, reader.kind, &reader.name), (t, DeviceKind::Reader, &new.name));
    assert_eq!((&reader.model, &reader.serial, &reader.firmware), (&new.model, &new.serial, &new.firmware));
    assert_eq!(reader.capabilities, ["card", "pin"]);
    assert_eq!((reader.access_point_id, reader.zone_id), (Some(p.door.id), Some(p.zone.id)));
    assert_eq!(reader.config, serde_json::json!({"heartbeat_s": 30, "keypad": true, "wiegand_bits": 26}), "defaults filled in");
    assert_eq!((reader.status, reader.last_seen), (DeviceStatus::Offline, None), "offline until it speaks");
    assert_eq!((reader.credentials_active, reader.credentials_issued_at), (true, Some(t0())));
    assert_eq!((reader.created_at, reader.updated_at), (t0(), t0()));
    assert!(!digest_shown(&reader), "the secret's digest is never part of a device: {reader:?}");
    assert_eq!(store.device_get(t, reader.id).await.unwrap(), reader);

    // A device with nothing but a kind and a name.
    let lock = store.device_create(t, &new_lock("Back lock"), [2; 32], &change()).await.unwrap();
    assert_eq!((&lock.model, &lock.serial, &lock.firmware, &lock.capabilities), (&None, &None, &None, &Vec::new()));
    assert_eq!((lock.access_point_id, lock.zone_id), (None, None));
    assert_eq!(lock.config, serde_json::json!({"heartbeat_s": 30, "unlock_s": 5, "held_open_s": 30}));
    assert_eq!(store.device_get(t, lock.id).await.unwrap(), lock);

    // A patch changes what it names, clears what it sets to null and keeps the rest;
    // the settings are replaced whole, defaults filled in again.
    let patch = DevicePatch {
        name: Some(name("Lobby reader 2")),
        model: Some(None),
        serial: Some(Some("SN-0002".into())),
        capabilities: Some(vec!["card".into()]),
        access_point_id: Some(None),
        config: Some(serde_json::json!({"wiegand_bits": 34})),
        ..DevicePatch::default()
    };
    let updated = store.device_update(t, reader.id, &patch, &later()).await.unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.model.as_deref(), updated.serial.as_deref()),
        ("Lobby reader 2", None, Some("SN-0002"))
    );
    assert_eq!((updated.firmware.as_deref(), updated.zone_id), (Some("1.2.3"), Some(p.zone.id)), "left out, kept");
    assert_eq!((updated.capabilities.clone(), updated.access_point_id), (vec!["card".to_owned()], None));
    assert_eq!(updated.config, serde_json::json!({"heartbeat_s": 30, "keypad": false, "wiegand_bits": 34}));
    assert_eq!((updated.kind, updated.status, updated.last_seen), (reader.kind, reader.status, reader.last_seen));
    assert_eq!((updated.credentials_active, updated.credentials_issued_at), (true, Some(t0())), "credentials untouched");
    assert_eq!((updated.created_at, updated.updated_at), (t0(), t1()));
    assert!(!digest_shown(&updated));
    assert_eq!(store.device_get(t, reader.id).await.unwrap(), updated);

    // Settings out of range are refused, naming the setting; nothing changes.
    let bad = DevicePatch { config: Some(serde_json::json!({"heartbeat_s": 1})), ..DevicePatch::default() };
    assert_eq!(field_of(store.device_update(t, reader.id, &bad, &later()).await.unwrap_err()), "config.heartbeat_s");
    let bad = DevicePatch { firmware: Some(Some("  ".into())), ..DevicePatch::default() };
    assert_eq!(field_of(store.device_update(t, reader.id, &bad, &later()).await.unwrap_err()), "firmware");
    assert_eq!(store.device_get(t, reader.id).await.unwrap(), updated);
    let mut bad_new = new_lock("Bad lock");
    bad_new.config = Some(serde_json::json!({"unlock_s": 0}));
    assert_eq!(field_of(store.device_create(t, &bad_new, [3; 32], &change()).await.unwrap_err()), "config.unlock_s");

    // Unknown ids are not found.
    let unknown = DeviceId::generate();
    assert!(is_not_found(store.device_get(t, unknown).await));
    assert!(is_not_found(store.device_update(t, unknown, &DevicePatch::default(), &later()).await));
    assert!(is_not_found(store.device_delete(t, unknown, &later()).await));
    let listed = store.device_list(t, &DeviceFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(listed.items, vec![updated, lock]);
}

pub(crate) async fn devices_list_filters_and_pages(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let p = place(&store, t).await;
    let mut reader = new_lock("Lobby reader");
    (reader.kind, reader.access_point_id) = (DeviceKind::Reader, Some(p.door.id));
    let reader = store.device_create(t, &reader, DIGEST, &change()).await.unwrap();
    let mut lock = new_lock("Lobby lock");
    lock.access_point_id = Some(p.door.id);
    let lock = store.device_create(t, &lock, DIGEST, &change()).await.unwrap();
    let mut sensor = new_sensor("Boiler_1");
    sensor.zone_id = Some(p.zone.id);
    let sensor = store.device_create(t, &sensor, DIGEST, &change()).await.unwrap();
    let mut inner = new_sensor("Boiler 2");
    inner.zone_id = Some(p.inner.id);
    let inner = store.device_create(t, &inner, DIGEST, &change()).await.unwrap();
    let spare = store.device_create(t, &new_lock("Spare"), DIGEST, &change()).await.unwrap();
    store.device_seen(t, lock.id, DeviceStatus::Online, None, t1()).await.unwrap();
    store.device_seen(t, sensor.id, DeviceStatus::Degraded, None, t1()).await.unwrap();

    let ids = |filter: DeviceFilter| {
        let store = store.clone();
        async move {
            let page = store.device_list(t, &filter, PageRequest::default()).await.unwrap();
            assert_eq!(page.next_after, None);
            page.items.into_iter().map(|device| device.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(DeviceFilter::default()).await, vec![reader.id, lock.id, sensor.id, inner.id, spare.id], "in id order");
    assert_eq!(ids(DeviceFilter { kind: Some(DeviceKind::Lock), ..Default::default() }).await, vec![lock.id, spare.id]);
    assert_eq!(ids(DeviceFilter { status: Some(DeviceStatus::Online), ..Default::default() }).await, vec![lock.id]);
    assert_eq!(ids(DeviceFilter { status: Some(DeviceStatus::Degraded), ..Default::default() }).await, vec![sensor.id]);
    let offline = DeviceFilter { status: Some(DeviceStatus::Offline), ..Default::default() };
    assert_eq!(ids(offline).await, vec![reader.id, inner.id, spare.id]);
    let at_door = DeviceFilter { access_point_id: Some(p.door.id), ..Default::default() };
    assert_eq!(ids(at_door).await, vec![reader.id, lock.id]);
    let in_zone = DeviceFilter { zone_id: Some(p.zone.id), ..Default::default() };
    assert_eq!(ids(in_zone).await, vec![sensor.id], "the zone's own devices, not its subzones'");
    let named = |needle: &str| DeviceFilter { name_contains: Some(needle.into()), ..Default::default() };
    assert_eq!(ids(named("LOBBY")).await, vec![reader.id, lock.id], "case-insensitive");
    assert_eq!(ids(named("r_")).await, vec![sensor.id], "'_' is a character, not a wildcard");
    assert_eq!(ids(named("%")).await, Vec::<DeviceId>::new());
    let both = DeviceFilter { kind: Some(DeviceKind::Lock), access_point_id: Some(p.door.id), ..Default::default() };
    assert_eq!(ids(both).await, vec![lock.id], "filters combine");

    // Pages of two, each continuing after the last, the last one saying so.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let found = store.device_list(t, &DeviceFilter::default(), page).await.unwrap();
        assert!(found.items.len() <= 2);
        seen.extend(found.items.iter().map(|device| device.id));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(seen, vec![reader.id, lock.id, sensor.id, inner.id, spare.id]);
    let locks = DeviceFilter { kind: Some(DeviceKind::Lock), ..Default::default() };
    let first = store.device_list(t, &locks, PageRequest::first(1)).await.unwrap();
    assert_eq!((first.items.len(), first.next_after), (1, Some(lock.id.as_uuid())));
    let rest = store.device_list(t, &locks, PageRequest { limit: 1, after: first.next_after }).await.unwrap();
    assert_eq!((rest.items[0].id, rest.next_after), (spare.id, None));
}

pub(crate) async fn device_names_match_case_insensitively_beyond_ascii(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let gate = store.device_create(t, &new_lock("PORTÃO Norte"), DIGEST, &change()).await.unwrap();
    store.device_create(t, &new_lock("Portaria"), DIGEST, &change()).await.unwrap();
    for needle in ["portão", "PORTÃO", "Portão"] {
        let filter = DeviceFilter { name_contains: Some(needle.into()), ..Default::default() };
        let found = store.device_list(t, &filter, PageRequest::default()).await.unwrap().items;
        assert_eq!(found.iter().map(|device| device.id).collect::<Vec<_>>(), vec![gate.id], "{needle}");
    }
}

pub(crate) async fn device_serials_are_unique_in_a_tenant_and_places_stay_in_it(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let (pa, pb) = (place(&store, a).await, place(&store, b).await);
    let first = store.device_create(a, &with_serial(new_lock("One"), "SN-1"), DIGEST, &change()).await.unwrap();
    let second = store.device_create(a, &new_lock("Two"), DIGEST, &change()).await.unwrap();
    store.device_create(a, &new_lock("Three"), DIGEST, &change()).await.unwrap();
    let audited = audit_entries(&store, a).await.len();

    let again = store.device_create(a, &with_serial(new_lock("Again"), "SN-1"), DIGEST, &change()).await;
    assert!(matches!(again, Err(StoreError::Conflict { field: "serial" })), "{again:?}");
    let taken = DevicePatch { serial: Some(Some("SN-1".into())), ..DevicePatch::default() };
    let renamed = store.device_update(a, second.id, &taken, &later()).await;
    assert!(matches!(renamed, Err(StoreError::Conflict { field: "serial" })), "{renamed:?}");
    // The same serial in another tenant is another device.
    store.device_create(b, &with_serial(new_lock("B one"), "SN-1"), DIGEST, &change()).await.unwrap();

    // The place a device serves is one of the tenant's.
    let mut at_b_door = new_lock("Elsewhere");
    at_b_door.access_point_id = Some(pb.door.id);
    assert_eq!(field_of(store.device_create(a, &at_b_door, DIGEST, &change()).await.unwrap_err()), "access_point_id");
    let mut in_b_zone = new_sensor("Elsewhere");
    in_b_zone.zone_id = Some(pb.zone.id);
    assert_eq!(field_of(store.device_create(a, &in_b_zone, DIGEST, &change()).await.unwrap_err()), "zone_id");
    let mut nowhere = new_lock("Nowhere");
    nowhere.access_point_id = Some(AccessPointId::generate());
    assert_eq!(field_of(store.device_create(a, &nowhere, DIGEST, &change()).await.unwrap_err()), "access_point_id");
    let move_to_b = DevicePatch { access_point_id: Some(Some(pb.door.id)), ..DevicePatch::default() };
    assert_eq!(field_of(store.device_update(a, first.id, &move_to_b, &later()).await.unwrap_err()), "access_point_id");
    let move_to_b = DevicePatch { zone_id: Some(Some(pb.zone.id)), ..DevicePatch::default() };
    assert_eq!(field_of(store.device_update(a, first.id, &move_to_b, &later()).await.unwrap_err()), "zone_id");
    let move_home = DevicePatch { access_point_id: Some(Some(pa.door.id)), ..DevicePatch::default() };
    assert_eq!(store.device_update(a, first.id, &move_home, &later()).await.unwrap().access_point_id, Some(pa.door.id));

    // Refused writes leave nothing: no device, no secret, no audit entry.
    let listed = store.device_list(a, &DeviceFilter::default(), PageRequest::default()).await.unwrap().items;
    assert_eq!(listed.len(), 3);
    assert_eq!(store.device_get(a, second.id).await.unwrap().serial, None);
    assert_eq!(audit_entries(&store, a).await.len(), audited + 1, "only the accepted update");
    let lonely = tenant(&store, "tenant-c").await.id;
    let mut refused = new_lock("Refused");
    refused.access_point_id = Some(pa.door.id);
    assert!(store.device_create(lonely, &refused, DIGEST, &change()).await.is_err());
    assert!(!store.device_tenants().await.unwrap().contains(&lonely), "no secret row left behind");
    assert!(audit_entries(&store, lonely).await.is_empty());
}

pub(crate) async fn device_delete_takes_its_secret_commands_and_telemetry(store: Arc<dyn Store>, _db: TestDatabase) {
    let (t, other) = (tenant(&store, "acme").await.id, tenant(&store, "other").await.id);
    let sensor = store.device_create(t, &new_sensor("Boiler"), DIGEST, &change()).await.unwrap();
    let kept = store.device_create(t, &new_sensor("Kept"), DIGEST, &change()).await.unwrap();
    let command = store.command_create(t, sensor.id, &unlock(5, Duration::hours(1)), &change()).await.unwrap();
    store.telemetry_append(&[sample(t, sensor.id, 0, 20.0), sample(t, kept.id, 0, 21.0)]).await.unwrap();

    // Another tenant cannot delete it.
    assert!(is_not_found(store.device_delete(other, sensor.id, &later()).await));
    assert_eq!(store.device_get(t, sensor.id).await.unwrap(), sensor);

    store.device_delete(t, sensor.id, &later()).await.unwrap();
    assert!(is_not_found(store.device_get(t, sensor.id).await));
    assert!(is_not_found(store.device_delete(t, sensor.id, &later()).await), "deleted once");
    assert_eq!(store.device_secret(sensor.id).await.unwrap(), None, "its credentials stop working");
    assert!(is_not_found(store.command_get(t, sensor.id, command.id).await));
    assert!(store.commands_open(t).await.unwrap().is_empty());
    let (from, to) = (t0() - Duration::hours(1), t0() + Duration::hours(1));
    for resolution in [Resolution::Raw, Resolution::Minute, Resolution::Hour] {
        assert!(store.telemetry_series(t, sensor.id, "temperature", from, to, resolution, 10).await.unwrap().is_empty());
        assert_eq!(store.telemetry_series(t, kept.id, "temperature", from, to, resolution, 10).await.unwrap().len(), 1);
    }
    let listed = store.device_list(t, &DeviceFilter::default(), PageRequest::default()).await.unwrap().items;
    assert_eq!(listed, vec![kept.clone()]);
    assert_eq!(store.device_tenants().await.unwrap(), vec![t]);
    store.device_delete(t, kept.id, &later()).await.unwrap();
    assert!(store.device_tenants().await.unwrap().is_empty(), "a tenant without devices is not listed");

    let target = Some(sensor.id.to_string());
    let entries = audit_entries(&store, t).await;
    let deleted = entries.into_iter().find(|entry| entry.action == "devices.device.delete" && entry.target_id == target).unwrap();
    assert_eq!((deleted.target_type.as_str(), deleted.target_id.clone()), ("device", Some(sensor.id.to_string())));
    assert_eq!((deleted.before, deleted.after, deleted.at), (Some(serde_json::to_value(&sensor).unwrap()), None, t1()));
}

pub(crate) async fn device_writes_are_audited_once_each_in_their_transaction(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let mut by_operator = change();
    by_operator.actor = gatehouse_domain::audit::Actor {
        kind: "account".into(),
        id: Some(uuid::Uuid::now_v7()),
        label: "ops@example.org".into(),
    };
    by_operator.request_id = Some("req-1".into());
    by_operator.source = Some("192.0.2.7".into());
    let lock = store.device_create(t, &with_serial(new_lock("Front"), "SN-1"), DIGEST, &by_operator).await.unwrap();
    let patch = DevicePatch { name: Some(name("Front door")), ..DevicePatch::default() };
    let renamed = store.device_update(t, lock.id, &patch, &later()).await.unwrap();
    let rotated = store.device_set_secret(t, lock.id, Some([9; 32]), &later()).await.unwrap();
    let revoked = store.device_set_secret(t, lock.id, None, &later()).await.unwrap();
    // Refused writes record nothing.
    assert!(store.device_create(t, &with_serial(new_lock("Dup"), "SN-1"), DIGEST, &change()).await.is_err());
    let bad = DevicePatch { config: Some(serde_json::json!({"nope": 1})), ..DevicePatch::default() };
    assert!(store.device_update(t, lock.id, &bad, &later()).await.is_err());
    store.device_delete(t, lock.id, &later()).await.unwrap();

    let entries = audit_entries(&store, t).await;
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "devices.device.delete",
            "devices.device.revoke_credentials",
            "devices.device.rotate_credentials",
            "devices.device.update",
            "devices.device.create"
        ],
        "newest first, one per change"
    );
    assert!(entries.iter().all(|entry| entry.tenant_id == Some(t)
        && entry.target_type == "device"
        && entry.target_id == Some(lock.id.to_string())));
    let state = |device: &Device| Some(serde_json::to_value(device).unwrap());
    let created = &entries[4];
    assert_eq!((created.before.clone(), created.after.clone(), created.at), (None, state(&lock), t0()));
    assert_eq!(
        (created.actor.label.as_str(), created.request_id.as_deref(), created.source.as_deref()),
        ("ops@example.org", Some("req-1"), Some("192.0.2.7"))
    );
    assert_eq!((entries[3].before.clone(), entries[3].after.clone()), (state(&lock), state(&renamed)));
    assert_eq!((entries[2].before.clone(), entries[2].after.clone()), (state(&renamed), state(&rotated)));
    assert_eq!((entries[1].before.clone(), entries[1].after.clone()), (state(&rotated), state(&revoked)));
    for entry in &entries {
        let text = serde_json::to_string(entry).unwrap();
        assert!(!text.contains(&"ab".repeat(32)) && !text.contains(&"09".repeat(32)), "no digest in the trail: {text}");
    }
}

pub(crate) async fn device_registry_never_crosses_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
    let p = place(&store, a).await;
    let mut new = full_reader(p.door.id, p.zone.id);
    new.serial = Some("SN-A".into());
    let device = store.device_create(a, &new, DIGEST, &change()).await.unwrap();
    let audited = audit_entries(&store, a).await;

    assert!(is_not_found(store.device_get(b, device.id).await));
    assert!(store.device_list(b, &DeviceFilter::default(), PageRequest::default()).await.unwrap().items.is_empty());
    let by_place = DeviceFilter { access_point_id: Some(p.door.id), ..Default::default() };
    assert!(store.device_list(b, &by_place, PageRequest::default()).await.unwrap().items.is_empty());
    let patch = DevicePatch { name: Some(name("Taken over")), ..DevicePatch::default() };
    assert!(is_not_found(store.device_update(b, device.id, &patch, &later()).await));
    assert!(is_not_found(store.device_delete(b, device.id, &later()).await));

    assert_eq!(store.device_get(a, device.id).await.unwrap(), device, "unchanged");
    assert_eq!(audit_entries(&store, a).await, audited, "nothing recorded in the owner's trail");
    assert!(audit_entries(&store, b).await.is_empty(), "nor in the caller's");
    assert_eq!(store.device_tenants().await.unwrap(), vec![a]);
}
