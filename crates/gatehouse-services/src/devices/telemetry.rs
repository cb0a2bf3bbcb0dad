//! Telemetry in: devices' measurements, read, checked and written in batches.
//! One writer task takes every message queued, writes all their samples (and
//! merges them into the minute and hour rollups) in one transaction, and only
//! then tells each message it is kept, so that it is acknowledged: a QoS 1
//! message whose samples were not written is delivered again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_domain::{DeviceId, TenantId};
use gatehouse_store::{DeviceMessageKey, Sample, Store, StoreResult};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

/// Messages one batch takes at most.
const BATCH_MESSAGES_MAX: usize = 4_096;
/// Messages waiting for the writer before the ingest waits (and the broker holds the rest).
const QUEUE_MESSAGES_MAX: usize = 65_536;
/// Tries of one batch before its messages are given up (and left unacknowledged).
const WRITE_TRIES: u32 = 3;
/// Metrics one message may carry.
pub const METRICS_PER_MESSAGE_MAX: usize = 256;
/// A sample's time may be this far ahead of the server's clock (device clocks drift).
const FUTURE_SKEW_MAX: chrono::Duration = chrono::Duration::minutes(5);

/// `…/telemetry`: `{"ts": "…", "metrics": {"temperature": 21.5}}`; `ts` defaults to now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryMessage {
    #[serde(default)]
    pub ts: Option<DateTime<Utc>>,
    /// The device's own id for the message, so that a message sent again is recognised.
    #[serde(default)]
    pub message_id: Option<String>,
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

/// Reads a telemetry payload into samples and the device's id for the message, or says what
/// is wrong with it.
pub fn read_samples(
    payload: &[u8],
    tenant: TenantId,
    device: DeviceId,
    now: DateTime<Utc>,
    oldest: DateTime<Utc>,
) -> Result<(Vec<Sample>, Option<String>), String> {
    let message: TelemetryMessage = serde_json::from_slice(payload).map_err(|err| format!("not a telemetry message: {err}"))?;
    if let Some(problem) = message.message_id.as_deref().and_then(super::ingest::message_id_problem) {
        return Err(problem);
    }
    let at = message.ts.unwrap_or(now);
    if at > now + FUTURE_SKEW_MAX {
        return Err(format!("ts {at} is ahead of the server's clock"));
    }
    if at < oldest {
        return Err(format!("ts {at} is older than raw telemetry is kept"));
    }
    if message.metrics.is_empty() {
        return Err("metrics is empty".into());
    }
    if message.metrics.len() > METRICS_PER_MESSAGE_MAX {
        return Err(format!("more than {METRICS_PER_MESSAGE_MAX} metrics in one message"));
    }
    let samples = message
        .metrics
        .into_iter()
        .map(|(metric, value)| {
            if !is_metric_name(&metric) {
                return Err(format!("metric name `{metric}`: 1 to 64 of a-z, A-Z, 0-9, `_`, `.`, `-`"));
            }
            let value = match value {
                serde_json::Value::Number(number) => number.as_f64().filter(|value| value.is_finite()),
                serde_json::Value::Bool(flag) => Some(if flag { 1.0 } else { 0.0 }),
                _ => None,
            }
            .ok_or_else(|| format!("metric `{metric}` is not a number"))?;
            Ok(Sample { tenant, device, metric, at, value })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((samples, message.message_id))
}

pub fn is_metric_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

struct Pending {
    samples: Vec<Sample>,
    /// The device's id for the message, when it gave one: written once whatever the deliveries.
    message: Option<DeviceMessageKey>,
    /// Told whether the samples were written.
    written: oneshot::Sender<bool>,
}

/// The handle the ingest queues telemetry through.
#[derive(Clone)]
pub struct TelemetryWriter {
    queue: mpsc::Sender<Pending>,
}

impl TelemetryWriter {
    pub fn spawn(store: Arc<dyn Store>) -> TelemetryWriter {
        let (queue, pending) = mpsc::channel(QUEUE_MESSAGES_MAX);
        tokio::spawn(write(store, pending));
        TelemetryWriter { queue }
    }

    /// Queues a message's samples, waiting while the queue is full (the device is
    /// slowed, not refused); what it returns says, once the batch is committed,
    /// whether they were written. False at once when the writer has stopped.
    pub async fn push(
        &self,
        samples: Vec<Sample>,
        message: Option<DeviceMessageKey>,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let (written, answer) = oneshot::channel();
        if self.queue.send(Pending { samples, message, written }).await.is_err() {
            tracing::error!("the telemetry writer stopped");
        }
        async move { answer.await.unwrap_or(false) }
    }
}

async fn write(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH_MESSAGES_MAX);
    while pending.recv_many(&mut batch, BATCH_MESSAGES_MAX).await > 0 {
        let (samples, recorded) = match unique_samples(store.as_ref(), &mut batch).await {
            Ok(unique) => unique,
            Err(err) => {
                // Not written, not acknowledged: the devices send them again.
                tracing::error!(error = %err, "could not look up device message ids");
                for pending in batch.drain(..) {
                    let _ = pending.written.send(false);
                }
                continue;
            }
        };
        let mut tries = 0;
        let written = loop {
            tries += 1;
            match store.telemetry_append_recorded(&samples, &recorded).await {
                Ok(()) => break true,
                Err(err) if tries < WRITE_TRIES => {
                    tracing::warn!(error = %err, samples = samples.len(), "could not write telemetry; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
                }
                Err(err) => {
                    tracing::error!(error = %err, samples = samples.len(), "could not write telemetry; its messages are not acknowledged");
                    break false;
                }
            }
        };
        if written {
            metrics::counter!("gatehouse_telemetry_samples_total").increment(samples.len() as u64);
            metrics::histogram!("gatehouse_telemetry_batch_messages").record(batch.len() as f64);
        } else {
            metrics::counter!("gatehouse_telemetry_failed_batches_total").increment(1);
        }
        for pending in batch.drain(..) {
            let _ = pending.written.send(written);
        }
    }
}

/// The batch's samples and message ids, without the messages already written (a second
/// delivery) or already in the batch; those are kept by the first, and told so with it.
async fn unique_samples(store: &dyn Store, batch: &mut [Pending]) -> StoreResult<(Vec<Sample>, Vec<DeviceMessageKey>)> {
    let keys: Vec<DeviceMessageKey> = batch.iter().filter_map(|pending| pending.message.clone()).collect();
    let seen = if keys.is_empty() { Vec::new() } else { store.device_messages_seen(&keys).await? };
    let mut seen = seen.into_iter();
    let mut in_batch = HashSet::new();
    let mut samples = Vec::with_capacity(batch.len());
    let mut recorded = Vec::with_capacity(keys.len());
    for pending in batch.iter_mut() {
        if let Some(key) = &pending.message {
            let written_before = seen.next().unwrap_or(false);
            if written_before || !in_batch.insert((key.tenant, key.device, key.message_id.clone())) {
                metrics::counter!("gatehouse_mqtt_duplicate_messages_total", "channel" => "telemetry").increment(1);
                continue;
            }
            recorded.push(key.clone());
        }
        samples.append(&mut pending.samples);
    }
    Ok((samples, recorded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(payload: &str) -> Result<Vec<Sample>, String> {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        read_samples(payload.as_bytes(), TenantId::generate(), DeviceId::generate(), now, now - chrono::Duration::days(7))
            .map(|(samples, _)| samples)
    }

    #[test]
    fn a_message_gives_one_sample_per_metric_at_its_time() {
        let samples = read(r#"{"ts": "2027-01-15T08:00:00Z", "metrics": {"temperature": 21.5, "door_open": true}}"#).unwrap();
        assert_eq!(samples.len(), 2);
        assert!(samples.iter().all(|sample| sample.at.to_rfc3339() == "2027-01-15T08:00:00+00:00"));
        assert!(samples.iter().any(|sample| sample.metric == "door_open" && sample.value == 1.0));
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        assert!(read("{").unwrap_err().contains("not a telemetry message"));
        assert!(read(r#"{"metrics": {}}"#).unwrap_err().contains("empty"));
        assert!(read(r#"{"metrics": {"t": "warm"}}"#).unwrap_err().contains("not a number"));
        assert!(read(r#"{"metrics": {"bad name": 1}}"#).unwrap_err().contains("metric name"));
        assert!(read(r#"{"ts": "2030-01-01T00:00:00Z", "metrics": {"t": 1}}"#).unwrap_err().contains("ahead"));
        assert!(read(r#"{"ts": "2020-01-01T00:00:00Z", "metrics": {"t": 1}}"#).unwrap_err().contains("older"));
        assert!(read(r#"{"metrics": {"t": 1}, "extra": 1}"#).is_err());
    }
}
