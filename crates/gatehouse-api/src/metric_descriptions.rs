//! What every metric measures, said once: Prometheus shows it as `# HELP`, and so do
//! the dashboards operators build on it. A metric emitted anywhere in the workspace
//! without a line here fails the conventions test (`tests/it/conventions.rs`).

use metrics::Unit;

/// How a metric is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name, kind, unit and description.
#[derive(Debug, Clone, Copy)]
pub struct MetricDescription {
    pub name: &'static str,
    pub kind: MetricKind,
    pub unit: Option<Unit>,
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: MetricKind, unit: Option<Unit>, help: &'static str) -> MetricDescription {
    MetricDescription { name, kind, unit, help }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric Gatehouse records.
pub const METRICS: &[MetricDescription] = &[
    metric(crate::metrics::HTTP_REQUESTS_TOTAL, Counter, None, "HTTP requests answered, by route template, method and status."),
    metric(
        crate::metrics::HTTP_REQUEST_DURATION_SECONDS,
        Histogram,
        Some(Unit::Seconds),
        "Time from a routed request's arrival to its response, by route template, method and status.",
    ),
    metric(
        "gatehouse_access_decisions_total",
        Counter,
        None,
        "Access decisions answered (over HTTP and MQTT), each after its log entry was durable; label granted.",
    ),
    metric(
        "gatehouse_access_log_batch_entries",
        Histogram,
        None,
        "Access-log entries committed together in one group-commit transaction.",
    ),
    metric(
        "gatehouse_access_log_commit_seconds",
        Histogram,
        Some(Unit::Seconds),
        "Time to commit one access-log batch (the wait every decision in it shares).",
    ),
    metric(
        "gatehouse_access_log_failed_batches_total",
        Counter,
        None,
        "Access-log batches that could not be committed; their decisions were answered with an error.",
    ),
    metric(
        "gatehouse_access_policy_load_seconds",
        Histogram,
        Some(Unit::Seconds),
        "Time to read a tenant's policy and compile its decision snapshot.",
    ),
    metric("gatehouse_build_info", Gauge, None, "Always 1; labels name the running version and the storage backend."),
    metric("gatehouse_db_pool_connections", Gauge, None, "Open database connections in the pool, by backend."),
    metric("gatehouse_db_pool_idle_connections", Gauge, None, "Idle database connections in the pool, by backend."),
    metric("gatehouse_db_pool_max_connections", Gauge, None, "The most database connections the pool may open, by backend."),
    metric(
        "gatehouse_device_command_ack_seconds",
        Histogram,
        Some(Unit::Seconds),
        "Time from sending a device command to the device's acknowledgement.",
    ),
    metric("gatehouse_device_command_sends_total", Counter, None, "Device commands sent over MQTT, resends included."),
    metric(
        "gatehouse_device_commands_timed_out_total",
        Counter,
        None,
        "Device commands that ended unacknowledged after their last resend.",
    ),
    metric("gatehouse_device_status_changes_total", Counter, None, "Devices that went online or offline; label to."),
    metric("gatehouse_door_events_total", Counter, None, "Door events logged (opened, forced, held open, ...), by kind."),
    metric("gatehouse_events_total", Counter, None, "Events written to the event log, by the feed that wrote them."),
    metric(
        "gatehouse_offline_decisions_total",
        Counter,
        None,
        "Decisions controllers made on their own while offline, reported and logged, by granted.",
    ),
    metric(
        "gatehouse_mqtt_acknowledged_messages_total",
        Counter,
        None,
        "QoS 1 and 2 device messages acknowledged to their sender (each once kept or refused), by channel.",
    ),
    metric(
        "gatehouse_mqtt_acknowledgement_seconds",
        Histogram,
        Some(Unit::Seconds),
        "From a device message's arrival to its acknowledgement (budget wait and durable write included), by channel.",
    ),
    metric(
        "gatehouse_mqtt_duplicate_messages_total",
        Counter,
        None,
        "Device messages delivered again whose message_id was already kept: acknowledged, not stored twice, by channel.",
    ),
    metric("gatehouse_mqtt_in_flight_messages", Gauge, None, "Device messages taken in and not yet kept or refused, by channel."),
    metric("gatehouse_mqtt_messages_total", Counter, None, "Device messages received, by channel."),
    metric("gatehouse_mqtt_persisted_messages_total", Counter, None, "Device messages kept durably, by channel."),
    metric(
        "gatehouse_mqtt_refusals_total",
        Counter,
        None,
        "Device connections or publishes the broker refused (bad secret, foreign topic, throttled), by kind.",
    ),
    metric(
        "gatehouse_mqtt_refusals_unaudited_total",
        Counter,
        None,
        "Broker refusals not written to the audit trail because its queue was full.",
    ),
    metric(
        "gatehouse_mqtt_rejected_messages_total",
        Counter,
        None,
        "Device messages refused for what they are (unreadable, unknown device, foreign access point), by channel and reason.",
    ),
    metric(
        "gatehouse_mqtt_throttled_messages_total",
        Counter,
        None,
        "Device publishes held back until the device had budget again (slowed, not dropped), by channel.",
    ),
    metric(
        "gatehouse_mqtt_unkept_messages_total",
        Counter,
        None,
        "Device messages that could not be kept (storage failed) and were not acknowledged, so the device sends them again.",
    ),
    metric("gatehouse_telemetry_batch_messages", Histogram, None, "Telemetry messages written together in one transaction."),
    metric(
        "gatehouse_telemetry_failed_batches_total",
        Counter,
        None,
        "Telemetry batches that could not be written after every retry; their messages are not acknowledged.",
    ),
    metric("gatehouse_telemetry_samples_total", Counter, None, "Telemetry samples written."),
];

/// Gives the installed recorder every description (call once, after installing it).
pub fn describe_all() {
    for described in METRICS {
        let MetricDescription { name, kind, unit, help } = *described;
        match (kind, unit) {
            (Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
            (Counter, None) => metrics::describe_counter!(name, help),
            (Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
            (Gauge, None) => metrics::describe_gauge!(name, help),
            (Histogram, Some(unit)) => metrics::describe_histogram!(name, unit, help),
            (Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `counter!`/`gauge!`/`histogram!` with a literal name in the workspace's sources.
    fn emitted() -> Vec<(String, MetricKind, String)> {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut found = Vec::new();
        let mut dirs = vec![crates];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() && path.file_name().is_some_and(|name| name != "target" && name != "tests") {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") && !path.ends_with("src/metric_descriptions.rs") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    for (macro_name, kind) in [("counter!(", Counter), ("gauge!(", Gauge), ("histogram!(", Histogram)] {
                        for (at, _) in text.match_indices(macro_name) {
                            let rest = text[at + macro_name.len()..].trim_start();
                            if let Some(literal) = rest.strip_prefix('"') {
                                let name = literal.split('"').next().unwrap_or_default().to_owned();
                                found.push((name, kind, path.display().to_string()));
                            }
                        }
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_metric_emitted_is_described_once_with_its_kind() {
        let emitted = emitted();
        assert!(emitted.len() > 15, "the scan finds the workspace's metrics: {emitted:?}");
        for (name, kind, file) in &emitted {
            let described: Vec<&MetricDescription> = METRICS.iter().filter(|m| m.name == name).collect();
            assert_eq!(described.len(), 1, "{name} (emitted in {file}) must be described exactly once in METRICS");
            assert_eq!(described[0].kind, *kind, "{name} is emitted as a {kind:?} in {file}");
        }
        for described in METRICS {
            assert!(!described.help.is_empty() && described.help.ends_with('.'), "{}: a sentence", described.name);
        }
    }
}
