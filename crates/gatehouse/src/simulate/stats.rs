//! What the simulated fleet counted: messages sent by kind, access answers,
//! round trips, commands and errors; the live line and the final summary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest round trip the histogram holds, in microseconds (a minute); longer ones are clamped.
const ROUND_TRIP_US_MAX: u64 = 60_000_000;

/// Counters shared by every device task.
pub struct Stats {
    pub connected: AtomicU64,
    pub sent_access: AtomicU64,
    pub sent_telemetry: AtomicU64,
    pub sent_events: AtomicU64,
    pub sent_status: AtomicU64,
    pub granted: AtomicU64,
    pub refused: AtomicU64,
    /// Answers that carried `error` instead of a decision.
    pub answer_errors: AtomicU64,
    /// Requests given up on (no answer within the timeout, or still outstanding at the end).
    pub unanswered: AtomicU64,
    pending: AtomicU64,
    pub commands_received: AtomicU64,
    pub commands_acked: AtomicU64,
    pub connection_errors: AtomicU64,
    /// Publishes the client could not queue (the connection was backed up or gone).
    pub publish_errors: AtomicU64,
    /// Messages from the broker the simulator could not read.
    pub malformed: AtomicU64,
    closed: AtomicBool,
    first_answer_error: Mutex<Option<String>>,
    round_trips: Mutex<Histogram<u64>>,
}

impl Stats {
    pub fn new() -> Stats {
        let histogram = Histogram::new_with_bounds(1, ROUND_TRIP_US_MAX, 3)
            .unwrap_or_else(|_| unreachable!("the bounds and precision are valid constants"));
        Stats {
            connected: AtomicU64::new(0),
            sent_access: AtomicU64::new(0),
            sent_telemetry: AtomicU64::new(0),
            sent_events: AtomicU64::new(0),
            sent_status: AtomicU64::new(0),
            granted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            answer_errors: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            commands_received: AtomicU64::new(0),
            commands_acked: AtomicU64::new(0),
            connection_errors: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            first_answer_error: Mutex::new(None),
            round_trips: Mutex::new(histogram),
        }
    }

    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// An access request went out and waits for its answer.
    pub fn request_sent(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        Stats::add(&self.sent_access);
    }

    /// An access request's answer arrived (or it was given up on).
    pub fn request_settled(&self) {
        let _ = self.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| pending.checked_sub(1));
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Answers arriving after this are not counted: the summary is being written.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let left = self.pending.swap(0, Ordering::SeqCst);
        self.unanswered.fetch_add(left, Ordering::Relaxed);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// An answer that carried an error; the first one is kept for the summary.
    pub fn answer_error(&self, error: &str) {
        Stats::add(&self.answer_errors);
        if let Ok(mut first) = self.first_answer_error.lock() {
            first.get_or_insert_with(|| error.chars().take(300).collect());
        }
    }

    pub fn round_trip(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).clamp(1, ROUND_TRIP_US_MAX);
        if let Ok(mut histogram) = self.round_trips.lock() {
            histogram.saturating_record(micros);
        }
    }

    fn quantile_us(&self, quantile: f64) -> Option<u64> {
        let histogram = self.round_trips.lock().ok()?;
        (!histogram.is_empty()).then(|| histogram.value_at_quantile(quantile))
    }

    fn sent(&self) -> u64 {
        Stats::get(&self.sent_access) + Stats::get(&self.sent_telemetry) + Stats::get(&self.sent_events)
    }

    pub fn summary(&self, elapsed: Duration, created: u32, reused: u32, mix: (u32, u32, u32)) -> Summary {
        let (controllers, sensors, readers) = mix;
        Summary {
            elapsed,
            devices: controllers + sensors + readers,
            controllers,
            sensors,
            readers,
            created,
            reused,
            sent_access: Stats::get(&self.sent_access),
            sent_telemetry: Stats::get(&self.sent_telemetry),
            sent_events: Stats::get(&self.sent_events),
            sent_status: Stats::get(&self.sent_status),
            granted: Stats::get(&self.granted),
            refused: Stats::get(&self.refused),
            answer_errors: Stats::get(&self.answer_errors),
            first_answer_error: self.first_answer_error.lock().ok().and_then(|first| first.clone()),
            unanswered: Stats::get(&self.unanswered),
            round_trip_p50: self.quantile_us(0.50).map(Duration::from_micros),
            round_trip_p99: self.quantile_us(0.99).map(Duration::from_micros),
            round_trip_max: self.quantile_us(1.0).map(Duration::from_micros),
            commands_received: Stats::get(&self.commands_received),
            commands_acked: Stats::get(&self.commands_acked),
            connection_errors: Stats::get(&self.connection_errors),
            publish_errors: Stats::get(&self.publish_errors),
            malformed: Stats::get(&self.malformed),
        }
    }
}

/// Rates over the last live-line interval.
pub struct RateWindow {
    at: std::time::Instant,
    sent: u64,
    access: u64,
}

impl RateWindow {
    pub fn new(stats: &Stats) -> RateWindow {
        RateWindow { at: std::time::Instant::now(), sent: stats.sent(), access: Stats::get(&stats.sent_access) }
    }

    /// `elapsed, connected devices, msgs/s, access req/s, round-trip p99, commands acked, errors`.
    pub fn line(&mut self, stats: &Stats, elapsed: Duration, devices: u32) -> String {
        let now = std::time::Instant::now();
        let seconds = now.duration_since(self.at).as_secs_f64().max(1e-3);
        let (sent, access) = (stats.sent(), Stats::get(&stats.sent_access));
        let messages_per_second = (sent - self.sent) as f64 / seconds;
        let access_per_second = (access - self.access) as f64 / seconds;
        *self = RateWindow { at: now, sent, access };
        let p99 = stats.quantile_us(0.99).map_or_else(|| "-".to_owned(), |us| milliseconds(Duration::from_micros(us)));
        let errors = Stats::get(&stats.connection_errors)
            + Stats::get(&stats.publish_errors)
            + Stats::get(&stats.answer_errors)
            + Stats::get(&stats.unanswered);
        let total = elapsed.as_secs();
        format!(
            "{:02}:{:02}:{:02}  {}/{devices} connected  {messages_per_second:.1} msg/s  {access_per_second:.1} access req/s  \
             p99 {p99}  {} granted / {} refused  {} commands acked  {errors} errors",
            total / 3600,
            total / 60 % 60,
            total % 60,
            Stats::get(&stats.connected),
            Stats::get(&stats.granted),
            Stats::get(&stats.refused),
            Stats::get(&stats.commands_acked),
        )
    }
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// What one simulation run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub elapsed: Duration,
    pub devices: u32,
    pub controllers: u32,
    pub sensors: u32,
    pub readers: u32,
    /// Devices registered by this run.
    pub created: u32,
    /// Simulated devices found in the registry and given new credentials.
    pub reused: u32,
    pub sent_access: u64,
    pub sent_telemetry: u64,
    pub sent_events: u64,
    /// Status messages (online at each connection, offline at the end).
    pub sent_status: u64,
    pub granted: u64,
    pub refused: u64,
    /// Access answers that carried an error instead of a decision.
    pub answer_errors: u64,
    /// The first of those errors, as Gatehouse worded it.
    pub first_answer_error: Option<String>,
    /// Access requests with no answer within 10 s or by the end of the run.
    pub unanswered: u64,
    pub round_trip_p50: Option<Duration>,
    pub round_trip_p99: Option<Duration>,
    pub round_trip_max: Option<Duration>,
    pub commands_received: u64,
    pub commands_acked: u64,
    pub connection_errors: u64,
    pub publish_errors: u64,
    pub malformed: u64,
}

impl Summary {
    /// Access answers that carried a decision.
    pub fn decided(&self) -> u64 {
        self.granted + self.refused
    }

    pub fn render(&self, tenant: &str) -> String {
        let seconds = self.elapsed.as_secs_f64().max(1e-3);
        let sent = self.sent_access + self.sent_telemetry + self.sent_events;
        let optional = |value: Option<Duration>| value.map_or_else(|| "-".to_owned(), milliseconds);
        format!(
            "simulated {} device(s) in tenant {tenant} for {:.1} s: {} controller(s), {} sensor(s), {} reader(s) ({} registered, {} reused)\n\
             sent           {sent} messages ({:.1}/s): {} access requests, {} telemetry, {} events; {} status\n\
             access answers {} ({} granted, {} refused), {} error answers, {} unanswered\n\
             round trip     p50 {}, p99 {}, max {}\n\
             commands       {} received, {} acked\n\
             errors         {} connection, {} publish, {} unreadable messages{}",
            self.devices,
            self.elapsed.as_secs_f64(),
            self.controllers,
            self.sensors,
            self.readers,
            self.created,
            self.reused,
            sent as f64 / seconds,
            self.sent_access,
            self.sent_telemetry,
            self.sent_events,
            self.sent_status,
            self.decided() + self.answer_errors,
            self.granted,
            self.refused,
            self.answer_errors,
            self.unanswered,
            optional(self.round_trip_p50),
            optional(self.round_trip_p99),
            optional(self.round_trip_max),
            self.commands_received,
            self.commands_acked,
            self.connection_errors,
            self.publish_errors,
            self.malformed,
            self.first_answer_error.as_ref().map(|error| format!("; first error answer: {error}")).unwrap_or_default(),
        )
    }
}
