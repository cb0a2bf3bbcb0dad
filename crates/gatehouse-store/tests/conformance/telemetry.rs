//! Telemetry: a batch spanning tenants is written whole or not at all, so the writer's
//! retry of a failed batch never counts a sample twice; series read half-open ranges
//! oldest first, rollups merge across batches, purges keep to their cutoffs and their
//! tenant, and no tenant writes, reads or purges another's.

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

fn reading(tenant: TenantId, device: DeviceId, metric: &str, seconds: i64, value: f64) -> Sample {
    Sample { tenant, device, metric: metric.to_owned(), at: t0() + Duration::seconds(seconds), value }
}

fn point(seconds: i64, (min, max, sum, count): (f64, f64, f64, u64)) -> SeriesPoint {
    SeriesPoint { at: t0() + Duration::seconds(seconds), min, max, sum, count }
}

fn raw(seconds: i64, value: f64) -> SeriesPoint {
    point(seconds, (value, value, value, 1))
}

/// Rows of the device's temperature series per table, over a day around the test's hour.
async fn rows(store: &Arc<dyn Store>, tenant: TenantId, device: DeviceId) -> [usize; 3] {
    let (from, to) = (t0() - Duration::days(1), t0() + Duration::days(1));
    let mut counts = [0; 3];
    for (count, resolution) in counts.iter_mut().zip([Resolution::Raw, Resolution::Minute, Resolution::Hour]) {
        *count = store.telemetry_series(tenant, device, "temperature", from, to, resolution, 1000).await.unwrap().len();
    }
    counts
}

pub(crate) async fn telemetry_series_reads_half_open_ranges_oldest_first_up_to_the_limit(
    store: Arc<dyn Store>,
    _db: TestDatabase,
) {
    let t = tenant(&store, "acme").await.id;
    let sensor = store.device_create(t, &new_sensor("Boiler room"), [7; 32], &change()).await.unwrap();
    let other = store.device_create(t, &new_sensor("Server room"), [7; 32], &change()).await.unwrap();
    store.telemetry_append(&[]).await.unwrap();
    // Out of order, over two batches: the rollups merge what each batch brings.
    let temperature = |seconds, value| reading(t, sensor.id, "temperature", seconds, value);
    store.telemetry_append(&[temperature(60, 25.0), temperature(0, 20.0), temperature(3600, 30.0)]).await.unwrap();
    store
        .telemetry_append(&[
            temperature(30, 22.0),
            temperature(59, 18.0),
            reading(t, sensor.id, "humidity", 10, 50.0),
            reading(t, other.id, "temperature", 5, 99.0),
        ])
        .await
        .unwrap();

    let read = |device: DeviceId, metric: &'static str, from: i64, to: i64, resolution: Resolution, limit: u32| {
        let store = store.clone();
        async move {
            let (from, to) = (t0() + Duration::seconds(from), t0() + Duration::seconds(to));
            store.telemetry_series(t, device, metric, from, to, resolution, limit).await.unwrap()
        }
    };
    let all = read(sensor.id, "temperature", -3600, 7200, Resolution::Raw, 100).await;
    assert_eq!(all, vec![raw(0, 20.0), raw(30, 22.0), raw(59, 18.0), raw(60, 25.0), raw(3600, 30.0)], "oldest first");
    assert_eq!(
        read(sensor.id, "temperature", 30, 60, Resolution::Raw, 100).await,
        vec![raw(30, 22.0), raw(59, 18.0)],
        "[from, to)"
    );
    assert_eq!(
        read(sensor.id, "temperature", -3600, 7200, Resolution::Raw, 2).await,
        vec![raw(0, 20.0), raw(30, 22.0)],
        "the limit, oldest kept"
    );
    let minutes = read(sensor.id, "temperature", -3600, 7200, Resolution::Minute, 100).await;
    assert_eq!(
        minutes,
        vec![point(0, (18.0, 22.0, 60.0, 3)), point(60, (25.0, 25.0, 25.0, 1)), point(3600, (30.0, 30.0, 30.0, 1))]
    );
    assert_eq!(read(sensor.id, "temperature", 0, 60, Resolution::Minute, 100).await, vec![point(0, (18.0, 22.0, 60.0, 3))]);
    assert_eq!(read(sensor.id, "temperature", -3600, 7200, Resolution::Minute, 1).await.len(), 1);
    let hours = read(sensor.id, "temperature", -3600, 7200, Resolution::Hour, 100).await;
    assert_eq!(hours, vec![point(0, (18.0, 25.0, 85.0, 4)), point(3600, (30.0, 30.0, 30.0, 1))]);
    assert_eq!(read(sensor.id, "temperature", 1, 3600, Resolution::Hour, 100).await, Vec::new(), "buckets by their start");

    // Each series is its device's and its metric's alone.
    assert_eq!(read(sensor.id, "humidity", -3600, 7200, Resolution::Raw, 100).await, vec![raw(10, 50.0)]);
    assert_eq!(read(other.id, "temperature", -3600, 7200, Resolution::Hour, 100).await, vec![point(0, (99.0, 99.0, 99.0, 1))]);
    assert!(read(sensor.id, "pressure", -3600, 7200, Resolution::Raw, 100).await.is_empty());
}

pub(crate) async fn telemetry_purge_deletes_only_the_tenants_rows_older_than_each_cutoff(
    store: Arc<dyn Store>,
    _db: TestDatabase,
) {
    let (a, b) = (tenant(&store, "alpha").await.id, tenant(&store, "bravo").await.id);
    let a_sensor = store.device_create(a, &new_sensor("Boiler room"), [7; 32], &change()).await.unwrap();
    let b_sensor = store.device_create(b, &new_sensor("Boiler room"), [7; 32], &change()).await.unwrap();
    for (t, device) in [(a, a_sensor.id), (b, b_sensor.id)] {
        store
            .telemetry_append(&[sample(t, device, 0, 1.0), sample(t, device, 60, 2.0), sample(t, device, 7200, 3.0)])
            .await
            .unwrap();
    }
    assert_eq!(rows(&store, a, a_sensor.id).await, [3, 3, 2]);

    // Each table has its own cutoff, and a row at the cutoff stays.
    let cutoffs = TelemetryCutoffs {
        raw_before: t0() + Duration::seconds(60),
        minute_before: t0() + Duration::hours(2),
        hour_before: t0(),
    };
    assert_eq!(store.telemetry_purge(a, cutoffs).await.unwrap(), 3, "one raw row and two minute buckets");
    assert_eq!(rows(&store, a, a_sensor.id).await, [2, 1, 2]);
    let later = t0() + Duration::days(1);
    let everything = TelemetryCutoffs { raw_before: later, minute_before: later, hour_before: later };
    assert_eq!(store.telemetry_purge(a, everything).await.unwrap(), 5);
    assert_eq!(rows(&store, a, a_sensor.id).await, [0, 0, 0]);
    assert_eq!(store.telemetry_purge(a, everything).await.unwrap(), 0);
    assert_eq!(rows(&store, b, b_sensor.id).await, [3, 3, 2], "another tenant's telemetry is not purged");
}

pub(crate) async fn telemetry_never_crosses_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "alpha").await.id, tenant(&store, "bravo").await.id);
    let a_sensor = store.device_create(a, &new_sensor("Boiler room"), [7; 32], &change()).await.unwrap();
    let b_sensor = store.device_create(b, &new_sensor("Server room"), [7; 32], &change()).await.unwrap();

    // A sample filed under one tenant naming another's device is refused, with its whole batch.
    for stray in [sample(a, b_sensor.id, 5, 9.0), sample(b, a_sensor.id, 5, 9.0)] {
        let err = store.telemetry_append(&[sample(a, a_sensor.id, 0, 1.0), stray]).await.unwrap_err();
        assert_eq!(field_of(err), "device_id");
    }
    assert_eq!(rows(&store, a, a_sensor.id).await, [0, 0, 0]);
    assert_eq!(rows(&store, b, b_sensor.id).await, [0, 0, 0]);

    store.telemetry_append(&[sample(a, a_sensor.id, 0, 1.0), sample(b, b_sensor.id, 0, 2.0)]).await.unwrap();
    assert_eq!(rows(&store, b, a_sensor.id).await, [0, 0, 0], "another tenant reads nothing of the device");
    let later = t0() + Duration::days(1);
    let everything = TelemetryCutoffs { raw_before: later, minute_before: later, hour_before: later };
    assert_eq!(store.telemetry_purge(b, everything).await.unwrap(), 3, "its own rows only");
    assert_eq!(rows(&store, a, a_sensor.id).await, [1, 1, 1]);
}

fn key(tenant: TenantId, device: DeviceId, id: &str, seconds: i64) -> DeviceMessageKey {
    DeviceMessageKey { tenant, device, message_id: id.to_owned(), at: t0() + Duration::seconds(seconds) }
}

pub async fn device_message_ids_are_recorded_with_what_they_carried_once(store: Arc<dyn Store>, _db: TestDatabase) {
    let (a, b) = (tenant(&store, "alpha").await, tenant(&store, "bravo").await);
    let digest = [7u8; 32];
    let sensor = store.device_create(a.id, &new_sensor("Boiler room"), digest, &change()).await.unwrap();
    let other = store.device_create(b.id, &new_sensor("Server room"), digest, &change()).await.unwrap();
    let first = key(a.id, sensor.id, "m-1", 0);
    assert_eq!(store.device_messages_seen(std::slice::from_ref(&first)).await.unwrap(), [false]);

    store.telemetry_append_recorded(&[sample(a.id, sensor.id, 0, 20.0)], std::slice::from_ref(&first)).await.unwrap();
    let asked = [first.clone(), key(a.id, sensor.id, "m-2", 0), key(b.id, other.id, "m-1", 0)];
    assert_eq!(store.device_messages_seen(&asked).await.unwrap(), [true, false, false], "per device and tenant");

    // Recording an id twice fails the whole batch: neither the sample nor the id is kept.
    let again = [sample(a.id, sensor.id, 1, 21.0)];
    let err = store.telemetry_append_recorded(&again, &[first.clone(), key(a.id, sensor.id, "m-3", 1)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { field: "message_id" }), "{err:?}");
    assert_eq!(store.device_messages_seen(&[key(a.id, sensor.id, "m-3", 1)]).await.unwrap(), [false]);
    let [raw, _, _] = series(&store, a.id, sensor.id).await;
    assert_eq!(raw.len(), 1, "the failed batch wrote no sample: {raw:?}");

    // The access log records its entries' message ids the same way.
    let mut chain = crate::access_log::Chain::new(a.id);
    let logged = key(a.id, sensor.id, "e-1", 2);
    store.access_log_append_recorded(&[chain.next(t0())], &[], std::slice::from_ref(&logged)).await.unwrap();
    assert_eq!(store.device_messages_seen(std::slice::from_ref(&logged)).await.unwrap(), [true]);
    let err = store.access_log_append_recorded(&[chain.next(t0())], &[], std::slice::from_ref(&logged)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { field: "message_id" }), "{err:?}");
    assert_eq!(store.access_log_head(a.id).await.unwrap().seq, 1, "the refused batch moved no head");

    // Purged per tenant, by when they were recorded.
    store.telemetry_append_recorded(&[sample(b.id, other.id, 0, 1.0)], &[key(b.id, other.id, "m-1", 0)]).await.unwrap();
    assert_eq!(store.device_messages_purge(a.id, t0() + Duration::seconds(1)).await.unwrap(), 1);
    let asked = [first, logged, key(b.id, other.id, "m-1", 0)];
    assert_eq!(store.device_messages_seen(&asked).await.unwrap(), [false, true, true]);
}
