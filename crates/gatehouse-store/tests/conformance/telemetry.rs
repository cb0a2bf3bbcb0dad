//! Telemetry batches: a batch spanning tenants is written whole or not at all, so the
//! writer's retry of a failed batch never counts a sample twice.

use super::*;
use gatehouse_domain::devices::{DeviceKind, NewDevice};

pub(crate) fn new_sensor(device_name: &str) -> NewDevice {
    NewDevice {
        kind: DeviceKind::Sensor,
        name: name(device_name),
        model: None,
        serial: None,
        firmware: None,
        capabilities: Vec::new(),
        access_point_id: None,
        zone_id: None,
        config: None,
    }
}

pub(crate) fn sample(tenant: TenantId, device: DeviceId, seconds: i64, value: f64) -> Sample {
    Sample { tenant, device, metric: "temperature".to_owned(), at: t0() + Duration::seconds(seconds), value }
}

/// Every resolution of the device's temperature series over the test's hour.
async fn series(store: &Arc<dyn Store>, tenant: TenantId, device: DeviceId) -> [Vec<SeriesPoint>; 3] {
    let (from, to) = (t0() - Duration::hours(1), t0() + Duration::hours(2));
    let mut read = Vec::new();
    for resolution in [Resolution::Raw, Resolution::Minute, Resolution::Hour] {
        read.push(store.telemetry_series(tenant, device, "temperature", from, to, resolution, 1000).await.unwrap());
    }
    read.try_into().unwrap()
}

pub async fn telemetry_batch_spanning_tenants_is_written_whole_or_not_at_all(store: Arc<dyn Store>, _db: TestDatabase) {
    // The batch is written tenant by tenant in id order: make `first` the one written first.
    let (a, b) = (tenant(&store, "alpha").await, tenant(&store, "bravo").await);
    let (first, second) = if a.id < b.id { (a.id, b.id) } else { (b.id, a.id) };
    let digest = [7u8; 32];
    let first_sensor = store.device_create(first, &new_sensor("Boiler room"), digest, &change()).await.unwrap();
    let second_sensor = store.device_create(second, &new_sensor("Server room"), digest, &change()).await.unwrap();
    let gone = store.device_create(second, &new_sensor("Removed"), digest, &change()).await.unwrap();
    store.device_delete(second, gone.id, &change()).await.unwrap();

    let first_part = [sample(first, first_sensor.id, 0, 20.0), sample(first, first_sensor.id, 10, 22.0)];
    // The second tenant's part fails: one of its samples names a device that no longer exists.
    let mut failing = first_part.to_vec();
    failing.push(sample(second, second_sensor.id, 5, 30.0));
    failing.push(sample(second, gone.id, 6, 31.0));
    let err = store.telemetry_append(&failing).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "a sample of a deleted device is refused: {err:?}");
    for (tenant, device) in [(first, first_sensor.id), (second, second_sensor.id)] {
        for points in series(&store, tenant, device).await {
            assert!(points.is_empty(), "nothing of the failed batch is kept, of either tenant: {points:?}");
        }
    }

    // The writer retries (here without the bad sample, twice: once failing, once whole).
    let mut retried = first_part.to_vec();
    retried.push(sample(second, second_sensor.id, 5, 30.0));
    store.telemetry_append(&retried).await.unwrap();
    let [raw, minute, hour] = series(&store, first, first_sensor.id).await;
    assert_eq!(raw.len(), 2, "each sample of the first tenant stored once: {raw:?}");
    for rollup in [&minute, &hour] {
        assert_eq!(rollup.len(), 1, "{rollup:?}");
        let bucket = &rollup[0];
        assert_eq!((bucket.count, bucket.sum, bucket.min, bucket.max), (2, 42.0, 20.0, 22.0), "counted once: {bucket:?}");
    }
    let [raw, minute, hour] = series(&store, second, second_sensor.id).await;
    assert_eq!(raw.len(), 1);
    assert_eq!((minute[0].count, minute[0].sum), (1, 30.0));
    assert_eq!((hour[0].count, hour[0].sum), (1, 30.0));
}
