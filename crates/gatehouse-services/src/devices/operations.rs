//! What an operator asks of devices that takes more than one store call: an
//! unlock (one command per controller or lock of the door, and the access-log
//! entry that records them, in one transaction) and a telemetry series (the
//! rollup a range needs, merged into the buckets asked for).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatehouse_access::chain::EntryKind;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::devices::{
    bucket_start, Command, CommandKind, Device, DeviceKind, COMMAND_PRIORITY_RANGE, COMMAND_TIMEOUT_DEFAULT_S,
};
use gatehouse_domain::{AccessPointId, CommandId, DecisionId, DeviceId, TenantId};
use gatehouse_store::{CommandToQueue, DeviceFilter, PageRequest, QueuedCommand, Resolution, SeriesPoint, Store};
use serde::Serialize;

use super::telemetry::is_metric_name;
use super::DeviceService;
use crate::access::decision::{actor_json, log_entry};
use crate::access::{to_micros, AccessLogWriter};
use crate::error::{ServiceError, ServiceResult};

/// The most controllers and locks one access point's commands are sent to.
pub const DRIVERS_PER_ACCESS_POINT_MAX: u32 = 100;
/// How long an operator's unlock releases the door when the request does not say.
pub const UNLOCK_SECONDS_DEFAULT: u32 = 5;
/// The shortest and longest release an operator may ask for.
pub const UNLOCK_SECONDS_RANGE: std::ops::RangeInclusive<u32> = 1..=3600;
/// Seconds an operator's unlock may wait for an offline controller: an "open now" must not happen later.
pub const OPERATOR_UNLOCK_EXPIRY_S: i64 = 30;

/// Without a `step`, ranges up to this long come raw, and up to the next one by the minute.
pub const TELEMETRY_RAW_RANGE_HOURS_MAX: i64 = 2;
pub const TELEMETRY_MINUTE_RANGE_DAYS_MAX: i64 = 3;
/// The widest bucket a series may ask for.
pub const TELEMETRY_STEP_SECONDS_MAX: u32 = 31 * 86_400;
/// A series' range when the request gives no `from`: this long before `to`.
pub const TELEMETRY_RANGE_HOURS_DEFAULT: i64 = 1;

/// Bounds on one telemetry read.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryLimits {
    /// The longest range one read may ask for (the hour rollups are kept about this long).
    pub range_days_max: i64,
    /// Most points one answer carries.
    pub points_max: u32,
    /// Most rows one answer reads.
    pub rows_max: u32,
}

impl Default for TelemetryLimits {
    fn default() -> Self {
        TelemetryLimits { range_days_max: 800, points_max: 10_000, rows_max: 1_000_000 }
    }
}

/// What an operator's unlock did.
#[derive(Debug)]
pub struct Unlocked {
    /// Its access-log entry.
    pub decision_id: DecisionId,
    /// One `unlock` command per controller or lock that drives the door.
    pub commands: Vec<Command>,
}

/// A series asked for: the metric, the range (`to` defaults to now, `from` to an hour
/// before it) and the step (`raw`, `1m`, `1h` or seconds; by default the range decides).
#[derive(Debug, Clone, Copy)]
pub struct SeriesQuery<'a> {
    pub metric: &'a str,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub step: Option<&'a str>,
}

/// One point of a series: a raw sample (`value`) or a bucket of samples.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TelemetryPoint {
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u64,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TelemetrySeries {
    pub metric: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `raw`, or the bucket width in seconds.
    pub step: String,
    /// Where the points came from: `raw`, `1m` or `1h` rollups.
    pub source: String,
    pub points: Vec<TelemetryPoint>,
}

/// The device operations of the running server.
pub struct DeviceOperations {
    store: Arc<dyn Store>,
    devices: Arc<DeviceService>,
    log: AccessLogWriter,
    telemetry: TelemetryLimits,
}

/// How long an unlock releases the door: the seconds asked for, checked, or the default.
pub fn unlock_seconds(asked: Option<u32>) -> ServiceResult<u32> {
    let seconds = asked.unwrap_or(UNLOCK_SECONDS_DEFAULT);
    if !UNLOCK_SECONDS_RANGE.contains(&seconds) {
        let (least, most) = (UNLOCK_SECONDS_RANGE.start(), UNLOCK_SECONDS_RANGE.end());
        return Err(ServiceError::validation("seconds", format!("must be from {least} to {most}")));
    }
    Ok(seconds)
}

impl DeviceOperations {
    pub fn new(
        store: Arc<dyn Store>,
        devices: Arc<DeviceService>,
        log: AccessLogWriter,
        telemetry: TelemetryLimits,
    ) -> DeviceOperations {
        DeviceOperations { store, devices, log, telemetry }
    }

    /// Opens the door now: an `unlock` command, at the highest priority, to every controller
    /// and lock that drives the access point, and its `remote_unlock` entry in the access log,
    /// written in one transaction (audited like any command). `seconds` comes from [`unlock_seconds`].
    pub async fn unlock(
        &self,
        tenant: TenantId,
        point: AccessPointId,
        seconds: u32,
        change: &ChangeContext,
    ) -> ServiceResult<Unlocked> {
        self.store.access_point_get(tenant, point).await?;
        let filter = DeviceFilter { access_point_id: Some(point), ..DeviceFilter::default() };
        let drivers: Vec<Device> = self
            .store
            .device_list(tenant, &filter, PageRequest { after: None, limit: DRIVERS_PER_ACCESS_POINT_MAX })
            .await?
            .items
            .into_iter()
            .filter(|device| matches!(device.kind, DeviceKind::Controller | DeviceKind::Lock))
            .collect();
        if drivers.is_empty() {
            return Err(ServiceError::NoDevice(
                "no controller or lock drives this access point; register one with access_point_id set".into(),
            ));
        }
        let commands: Vec<CommandToQueue> = drivers
            .iter()
            .map(|device| CommandToQueue {
                id: CommandId::generate(),
                device: device.id,
                command: QueuedCommand {
                    kind: CommandKind::Unlock,
                    params: serde_json::json!({"seconds": seconds}),
                    priority: *COMMAND_PRIORITY_RANGE.end(),
                    timeout_s: COMMAND_TIMEOUT_DEFAULT_S,
                    expires_at: change.at + chrono::Duration::seconds(OPERATOR_UNLOCK_EXPIRY_S),
                },
            })
            .collect();
        let mut entry = log_entry(tenant, to_micros(change.at), EntryKind::RemoteUnlock);
        entry.access_point_id = Some(point);
        entry.door_action = Some("unlock".into());
        entry.detail = Some(
            serde_json::json!({
                "by": actor_json(&change.actor),
                "seconds": seconds,
                "commands": commands.iter().map(|command| command.id).collect::<Vec<_>>(),
            })
            .to_string(),
        );
        let (sealed, created) = self.log.append_with_commands(entry, commands, change.clone()).await?;
        for command in &created {
            self.devices.commands.queued(tenant, command.device_id);
        }
        Ok(Unlocked { decision_id: sealed.id, commands: created })
    }

    /// A device's measurements of one metric over a range, from raw samples or the rollups the range needs.
    pub async fn telemetry_series(
        &self,
        tenant: TenantId,
        device: DeviceId,
        query: SeriesQuery<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<TelemetrySeries> {
        let limits = self.telemetry;
        if !is_metric_name(query.metric) {
            return Err(ServiceError::validation("metric", "1 to 64 of a-z, A-Z, 0-9, `_`, `.`, `-`"));
        }
        let to = query.to.unwrap_or(now);
        let from = query.from.unwrap_or(to - chrono::Duration::hours(TELEMETRY_RANGE_HOURS_DEFAULT));
        if from >= to {
            return Err(ServiceError::validation("from", "must be before `to`"));
        }
        if to - from > chrono::Duration::days(limits.range_days_max) {
            return Err(ServiceError::validation("from", format!("the range may span at most {} days", limits.range_days_max)));
        }
        let step = Step::choose(query.step, to - from)?;
        self.store.device_get(tenant, device).await?;
        let (resolution, source) = match step {
            Step::Raw => (Resolution::Raw, "raw"),
            Step::Buckets(seconds) if seconds % 3600 == 0 => (Resolution::Hour, "1h"),
            Step::Buckets(_) => (Resolution::Minute, "1m"),
        };
        // Rows per point: one raw sample, or as many rollup rows as fit in a bucket.
        let rows_per_point = match (step, resolution) {
            (Step::Buckets(seconds), Resolution::Minute) => seconds / 60,
            (Step::Buckets(seconds), Resolution::Hour) => seconds / 3600,
            _ => 1,
        };
        let limit = (limits.points_max + 1).saturating_mul(rows_per_point).min(limits.rows_max);
        // A bucket that began before `from` still covers part of the range.
        let bucket_from = match resolution {
            Resolution::Raw => from,
            Resolution::Minute => bucket_start(from, 60),
            Resolution::Hour => bucket_start(from, 3600),
        };
        let fetched = self.store.telemetry_series(tenant, device, query.metric, bucket_from, to, resolution, limit).await?;
        if fetched.len() >= limit as usize && limit == limits.rows_max {
            return Err(ServiceError::validation("step", "the range holds too many samples for one answer; narrow the range"));
        }
        let points = match step {
            Step::Raw => fetched
                .into_iter()
                .map(|point| TelemetryPoint {
                    at: point.at,
                    value: Some(point.sum),
                    min: point.min,
                    max: point.max,
                    avg: point.sum,
                    count: 1,
                })
                .collect::<Vec<_>>(),
            Step::Buckets(seconds) => rebucket(fetched, i64::from(seconds)),
        };
        if points.len() > limits.points_max as usize {
            return Err(ServiceError::validation(
                "step",
                format!(
                    "the range holds more than {} points at this step; widen the step or narrow the range",
                    limits.points_max
                ),
            ));
        }
        let step = match step {
            Step::Raw => "raw".to_owned(),
            Step::Buckets(seconds) => seconds.to_string(),
        };
        Ok(TelemetrySeries { metric: query.metric.to_owned(), from, to, step, source: source.to_owned(), points })
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Raw,
    Buckets(u32),
}

impl Step {
    /// The step asked for, or the one a range of `span` gets by default.
    fn choose(asked: Option<&str>, span: chrono::Duration) -> ServiceResult<Step> {
        Ok(match asked {
            None if span <= chrono::Duration::hours(TELEMETRY_RAW_RANGE_HOURS_MAX) => Step::Raw,
            None if span <= chrono::Duration::days(TELEMETRY_MINUTE_RANGE_DAYS_MAX) => Step::Buckets(60),
            None => Step::Buckets(3600),
            Some("raw") => Step::Raw,
            Some("1m") => Step::Buckets(60),
            Some("1h") => Step::Buckets(3600),
            Some(other) => match other.parse::<u32>() {
                Ok(seconds) if seconds >= 60 && seconds % 60 == 0 && seconds <= TELEMETRY_STEP_SECONDS_MAX => {
                    Step::Buckets(seconds)
                }
                _ => {
                    return Err(ServiceError::validation(
                        "step",
                        "raw, 1m, 1h, or a number of seconds that is a multiple of 60 (at most 31 days)",
                    ))
                }
            },
        })
    }
}

/// Merges rollup rows (oldest first) into buckets `seconds` wide.
fn rebucket(rows: Vec<SeriesPoint>, seconds: i64) -> Vec<TelemetryPoint> {
    let mut points: Vec<TelemetryPoint> = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    for row in rows {
        let at = bucket_start(row.at, seconds);
        match points.last_mut() {
            Some(last) if last.at == at => {
                last.min = last.min.min(row.min);
                last.max = last.max.max(row.max);
                last.count += row.count;
                if let Some(sum) = sums.last_mut() {
                    *sum += row.sum;
                }
            }
            _ => {
                points.push(TelemetryPoint { at, value: None, min: row.min, max: row.max, avg: 0.0, count: row.count });
                sums.push(row.sum);
            }
        }
    }
    for (point, sum) in points.iter_mut().zip(sums) {
        point.avg = if point.count > 0 { sum / point.count as f64 } else { 0.0 };
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn the_range_chooses_the_step_when_none_is_asked() {
        let step = |asked, hours| Step::choose(asked, chrono::Duration::hours(hours)).unwrap();
        assert!(matches!(step(None, 2), Step::Raw));
        assert!(matches!(step(None, 3), Step::Buckets(60)));
        assert!(matches!(step(None, 72), Step::Buckets(60)));
        assert!(matches!(step(None, 73), Step::Buckets(3600)));
        assert!(matches!(step(Some("1h"), 1), Step::Buckets(3600)));
        assert!(matches!(step(Some("300"), 1), Step::Buckets(300)));
        for bad in ["59", "90", "2678460", "soon"] {
            let err = Step::choose(Some(bad), chrono::Duration::hours(1)).unwrap_err();
            assert_eq!(err.field(), Some("step"), "{bad}");
        }
    }

    #[test]
    fn rollup_rows_merge_into_wider_buckets() {
        let row = |seconds, min, max, sum, count| SeriesPoint { at: at(seconds), min, max, sum, count };
        let points = rebucket(vec![row(0, 1.0, 3.0, 4.0, 2), row(60, 0.0, 5.0, 5.0, 2), row(600, 2.0, 2.0, 2.0, 1)], 300);
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].min, points[0].max, points[0].count, points[0].avg), (0.0, 5.0, 4, 2.25));
        assert_eq!(points[1].at, bucket_start(at(600), 300));
    }

    #[test]
    fn unlock_seconds_default_and_bounds() {
        assert_eq!(unlock_seconds(None).unwrap(), UNLOCK_SECONDS_DEFAULT);
        assert_eq!(unlock_seconds(Some(3600)).unwrap(), 3600);
        assert_eq!(unlock_seconds(Some(0)).unwrap_err().detail(), "must be from 1 to 3600");
    }
}
