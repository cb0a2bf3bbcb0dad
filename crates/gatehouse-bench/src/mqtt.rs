//! `mqtt`: devices over MQTT against a real server in this process, next to Mosquitto.
//!
//! ```text
//! cargo run --release -p gatehouse-bench -- mqtt [--part telemetry|mosquitto|connections|commands|all]
//!     [--seconds 10] [--publishers 8] [--inflight 1000] [--rate 0] [--connections 20000] [--hold 30]
//!     [--commands 2000] [--backend sqlite|postgres]
//! ```
//!
//! The server runs on its own two-worker runtime (as on the 2-core target machine) with its
//! embedded broker on a free port and the per-device publish budget lifted
//! (`GATEHOUSE_MQTT_DEVICE_PUBLISH_RATE`, 1,000,000 unless set); the load generator (rumqttc
//! 0.25, TCP_NODELAY, the same client Gatehouse itself uses) runs on a second runtime of
//! `--client-threads` workers in the same process.
//!
//! - `telemetry`: `--publishers` device connections each publish `{"metrics":{"t":n}}` to their
//!   own `…/telemetry` as fast as the client allows (or `--rate` a second each) for `--seconds`,
//!   at QoS 0 and then at QoS 1 (`--inflight` unacknowledged per connection); at QoS 1 the
//!   PUBACK latency (PUBLISH written to PUBACK read) is recorded per message. A message counts as persisted when its sample is
//!   written: the server's `gatehouse_telemetry_samples_total` (one sample per message) is read
//!   before, at the end of the publish window, and until it stops moving (the drain).
//! - `mosquitto`: the same generator and load against a private `mosquitto` (queue and inflight
//!   limits lifted, anonymous, on loopback) with one subscriber on `gh/#` at the same QoS,
//!   counting what it receives. The rates are side by side with `telemetry`'s.
//! - `connections`: `--connections` devices (created through the store, concurrently) connect
//!   with a 30 s keepalive, publish `{"state":"online"}` on `…/status` (QoS 1, retained) at once
//!   and every 30 s, and are held `--hold` seconds. The load generator runs in child processes
//!   (this binary, 10,000 connections each), so the server's process holds only the server ends
//!   and its RSS is the server's own. That process needs an open file per connection: where the
//!   open-files limit cannot be raised enough the run holds as many as it allows and says so.
//!   Reported: setup and connect time, how many stayed connected, the heartbeats sent and the
//!   status messages Gatehouse's ingest took, and the server's RSS before and after.
//! - `commands`: one controller acknowledging every command at once; `--commands` sequential
//!   round trips from `POST /devices/{id}/commands` until `GET …/commands/{cid}` shows
//!   `acknowledged` (polled every ~0.5 ms), in an HDR histogram.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use futures::StreamExt as _;
use gatehouse::server::RunningServer;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::devices::{DeviceKind, NewDevice};
use gatehouse_domain::tenancy::NewTenant;
use gatehouse_domain::values::{Name, Slug};
use gatehouse_domain::TenantId;
use gatehouse_services::devices::MqttCredentials;
use gatehouse_testkit::TestDatabase;
use hdrhistogram::Histogram;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Outgoing, Packet, QoS};
use tokio::runtime::Runtime;

use crate::{Backend, TOKEN};

const TENANT_SLUG: &str = "bench";
/// The per-device publish budget for the benchmark (the default is 100 messages a second).
const PUBLISH_RATE: &str = "1000000";
const MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// A delivery count that has not moved for this long is drained.
const DRAIN_QUIET: Duration = Duration::from_secs(2);
const DRAIN_MAX: Duration = Duration::from_secs(180);

#[derive(Debug, Parser)]
pub struct MqttArgs {
    #[arg(long, value_enum, default_value = "all")]
    part: Part,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Publish window of each telemetry run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Publishing connections (one device each) of the telemetry runs.
    #[arg(long, default_value_t = 8)]
    publishers: usize,
    /// QoS 1 messages each publishing connection keeps in flight (sent, not yet acknowledged).
    #[arg(long, default_value_t = 1000)]
    inflight: u16,
    /// Messages a second each publisher sends (0: as fast as its client allows). With a rate,
    /// the PUBACK latency is that of a site's load, not of a queue a flood builds.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Device connections held by `connections`.
    #[arg(long, default_value_t = 20_000)]
    connections: usize,
    /// Seconds `connections` holds them once all are connected.
    #[arg(long, default_value_t = 30)]
    hold: u64,
    /// Command round trips measured by `commands` (after a warm-up of a tenth, at most 100).
    #[arg(long, default_value_t = 2_000)]
    commands: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// `connections`' load-generator processes: the devices to connect (internal).
    #[arg(long, hide = true)]
    client_file: Option<std::path::PathBuf>,
    /// `connections`' load-generator processes: the broker (internal).
    #[arg(long, hide = true)]
    broker: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Telemetry,
    Mosquitto,
    Connections,
    Commands,
    All,
}

pub fn run(args: MqttArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.client_file {
        return connections_client(&args, file);
    }
    let client_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads).enable_all().build()?;
    let mut lines = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let run_telemetry = matches!(args.part, Part::Telemetry | Part::All);
    let run_mosquitto = matches!(args.part, Part::Mosquitto | Part::All);
    if run_telemetry {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let result = telemetry(&args, &client_runtime, qos)?;
            println!("{}", result.line);
            lines.push(result.line.clone());
            rows.push(result.row);
        }
    }
    if run_mosquitto {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let result = mosquitto(&args, &client_runtime, qos)?;
            println!("{}", result.line);
            lines.push(result.line.clone());
            rows.push(result.row);
        }
    }
    if matches!(args.part, Part::Commands | Part::All) {
        let line = commands(&args, &client_runtime)?;
        println!("{line}");
        lines.push(line);
    }
    if matches!(args.part, Part::Connections | Part::All) {
        let line = connections(&args)?;
        println!("{line}");
        lines.push(line);
    }
    client_runtime.shutdown_timeout(Duration::from_secs(1));

    println!();
    println!("Results:");
    for line in &lines {
        println!("- {line}");
    }
    if !rows.is_empty() {
        println!();
        println!(
            "| path | QoS | published/s | delivered/s (in window) | delivered/s (incl. drain) | published | PUBACKed | delivered | PUBACKed, not delivered | PUBACK p50 | PUBACK p99 |"
        );
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for row in &rows {
            let (p50, p99) = row
                .ack_latency
                .map_or_else(|| ("–".to_owned(), "–".to_owned()), |(p50, p99)| (format!("{p50:.2?}"), format!("{p99:.2?}")));
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {p50} | {p99} |",
                row.path,
                row.qos,
                row.published_rate,
                row.window_rate,
                row.total_rate,
                row.published,
                row.acked.map_or_else(|| "–".to_owned(), |acked| acked.to_string()),
                row.delivered,
                row.acked.map_or_else(|| "–".to_owned(), |acked| acked.saturating_sub(row.delivered).to_string()),
            );
        }
        for qos in [0u8, 1] {
            let of = |prefix: &str| rows.iter().find(|row| row.qos == qos && row.path.starts_with(prefix));
            if let (Some(gatehouse), Some(mosquitto)) = (of("Gatehouse"), of("Mosquitto")) {
                println!(
                    "QoS {qos}: Gatehouse persists {:.0}/s (incl. drain), {:.0}% of Mosquitto's pass-through ({:.0}/s)",
                    gatehouse.total_rate,
                    100.0 * gatehouse.total_rate / mosquitto.total_rate.max(1.0),
                    mosquitto.total_rate
                );
            }
        }
    }
    println!();
    println!(
        "command: cargo run --release -p gatehouse-bench -- mqtt --part {} --backend {} --seconds {} --publishers {} --inflight {} --rate {} --connections {} --hold {} --commands {} --client-threads {}",
        format!("{:?}", args.part).to_lowercase(),
        format!("{:?}", args.backend).to_lowercase(),
        args.seconds,
        args.publishers,
        args.inflight,
        args.rate,
        args.connections,
        args.hold,
        args.commands,
        args.client_threads
    );
    Ok(())
}

/// One telemetry-style run in the final table.
struct Row {
    path: String,
    qos: u8,
    published: u64,
    delivered: u64,
    published_rate: f64,
    /// Delivered during the publish window, per second of it.
    window_rate: f64,
    /// Everything delivered, per second from the start until the last delivery.
    total_rate: f64,
    /// PUBLISH written to PUBACK read, p50 and p99 (QoS 1).
    ack_latency: Option<(Duration, Duration)>,
    /// PUBACKs the publishers read (QoS 1).
    acked: Option<u64>,
}

struct PartResult {
    line: String,
    row: Row,
}

fn qos_number(qos: QoS) -> u8 {
    match qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Bench {
    server_runtime: Runtime,
    db: Option<TestDatabase>,
    server: Option<RunningServer>,
    tenant: TenantId,
    base: String,
    mqtt: std::net::SocketAddr,
}

impl Bench {
    fn start(backend: Backend) -> anyhow::Result<Bench> {
        let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        // The per-device budget is lifted unless the environment sets one.
        let rate = std::env::var("GATEHOUSE_MQTT_DEVICE_PUBLISH_RATE").unwrap_or_else(|_| PUBLISH_RATE.to_owned());
        let (db, server, tenant) = server_runtime.block_on(async {
            let (db, server, _) = crate::launch(backend, &[("GATEHOUSE_MQTT_DEVICE_PUBLISH_RATE", &rate)]).await?;
            let change = ChangeContext::system("benchmark", chrono::Utc::now());
            let tenant = server
                .store
                .tenant_create(&NewTenant { name: Name::parse("Bench")?, slug: Slug::parse(TENANT_SLUG)? }, &change)
                .await?;
            anyhow::Ok((db, server, tenant.id))
        })?;
        let base = server.url("");
        let mqtt = server.mqtt_addr.context("the server runs no embedded broker")?;
        Ok(Bench { server_runtime, db: Some(db), server: Some(server), tenant, base, mqtt })
    }

    /// `count` devices of `kind` created through the store, `concurrency` at a time.
    fn devices(&self, kind: DeviceKind, count: usize, concurrency: usize) -> anyhow::Result<Vec<MqttCredentials>> {
        let store = self.server.as_ref().context("stopped")?.store.clone();
        let tenant = self.tenant;
        self.server_runtime.block_on(async move {
            let created: Vec<anyhow::Result<MqttCredentials>> = futures::stream::iter(0..count)
                .map(|index| {
                    let store = store.clone();
                    async move {
                        let new = NewDevice {
                            kind,
                            name: Name::parse(&format!("Bench {kind} {index}"))?,
                            model: None,
                            serial: None,
                            firmware: None,
                            capabilities: Vec::new(),
                            access_point_id: None,
                            zone_id: None,
                            config: None,
                        };
                        let (secret, digest) = gatehouse_services::devices::new_secret();
                        let change = ChangeContext::system("benchmark", chrono::Utc::now());
                        let device = store.device_create(tenant, &new, digest, &change).await?;
                        anyhow::Ok(MqttCredentials::new(tenant, device.id, secret))
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            created.into_iter().collect()
        })
    }

    fn stop(mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            self.server_runtime.block_on(server.stop())?;
        }
        drop(self.db.take());
        self.server_runtime.shutdown_timeout(Duration::from_secs(2));
        Ok(())
    }
}

async fn scrape(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    Ok(client.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?)
}

/// The sum of a metric's series whose labels contain every one of `labels` (`channel="telemetry"`).
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (series, value) = rest.rsplit_once(' ')?;
            if !(series.is_empty() || series.starts_with('{')) {
                return None;
            }
            if !labels.iter().all(|label| series.contains(label)) {
                return None;
            }
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// The load generator

/// Where one publishing connection goes and as whom.
#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    client_id: String,
    credentials: Option<(String, String)>,
    topic: String,
}

struct Published {
    /// PUBLISH packets written, over every connection.
    sent: u64,
    /// PUBACKs received (QoS 1).
    acked: u64,
    /// From the common start to the last PUBLISH written.
    window: Duration,
    /// PUBLISH written to its PUBACK read, in microseconds (QoS 1).
    ack_latency: Histogram<u64>,
    errors: Vec<String>,
}

impl Published {
    /// p50 and p99 of the acknowledgement latency, if anything was acknowledged.
    fn ack_percentiles(&self) -> Option<(Duration, Duration)> {
        let at = |quantile| Duration::from_micros(self.ack_latency.value_at_quantile(quantile));
        (!self.ack_latency.is_empty()).then(|| (at(0.5), at(0.99)))
    }
}

fn latency_text(latency: Option<(Duration, Duration)>) -> String {
    latency.map_or_else(String::new, |(p50, p99)| format!("; PUBACK latency p50 {p50:.2?}, p99 {p99:.2?}"))
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// How the publishers publish.
#[derive(Debug, Clone, Copy)]
struct Load {
    qos: QoS,
    seconds: Duration,
    inflight: u16,
    /// Messages a second per publisher; 0 is as fast as the client allows.
    rate: u32,
}

impl Load {
    fn of(args: &MqttArgs, qos: QoS) -> Load {
        Load { qos, seconds: Duration::from_secs(args.seconds), inflight: args.inflight.max(1), rate: args.rate }
    }
}

/// How long a publisher waits for its last PUBACKs before it stops.
const ACK_WAIT_MAX: Duration = Duration::from_secs(120);

fn options(target: &Target, load: Load) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(target.client_id.clone(), target.host.clone(), target.port);
    options.set_keep_alive(Duration::from_secs(30)).set_clean_session(true);
    if load.qos != QoS::AtMostOnce {
        options.set_inflight(load.inflight);
    }
    if let Some((username, password)) = &target.credentials {
        options.set_credentials(username.clone(), password.clone());
    }
    let (client, mut events) = AsyncClient::new(options, 1000);
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    (client, events)
}

/// Every target publishes at the load's rate (or as fast as its client allows) from a common
/// start (all connected) for its `seconds`; at QoS 1 each then waits for its PUBACKs (at most
/// [`ACK_WAIT_MAX`]). `started` is told the common start.
async fn publish_load(
    targets: Vec<Target>,
    load: Load,
    started: tokio::sync::oneshot::Sender<Instant>,
) -> anyhow::Result<Published> {
    let (qos, seconds) = (load.qos, load.seconds);
    let connected = Arc::new(tokio::sync::Barrier::new(targets.len() + 1));
    let (go, _) = tokio::sync::broadcast::channel::<Instant>(1);
    let mut tasks = Vec::new();
    for target in targets {
        let (client, mut events) = options(&target, load);
        let sent = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(AtomicU64::new(0));
        let last_sent = Arc::new(Mutex::new(None::<Instant>));
        let failed = Arc::new(Mutex::new(None::<String>));
        let done = Arc::new(AtomicBool::new(false));
        let latency = Arc::new(Mutex::new(latency_histogram()));
        // The connection: counts what is written and acknowledged, and how long each PUBACK took.
        let poller = {
            let (sent, acked, last_sent, failed, done, connected, latency) = (
                sent.clone(),
                acked.clone(),
                last_sent.clone(),
                failed.clone(),
                done.clone(),
                connected.clone(),
                latency.clone(),
            );
            tokio::spawn(async move {
                let mut waiting = Some(connected);
                let mut in_flight: HashMap<u16, Instant> = HashMap::new();
                let mut local = latency_histogram();
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if let Some(barrier) = waiting.take() {
                                barrier.wait().await;
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                            let now = Instant::now();
                            if pkid != 0 {
                                in_flight.insert(pkid, now);
                            }
                            if let Ok(mut last) = last_sent.lock() {
                                *last = Some(now);
                            }
                        }
                        Ok(Event::Incoming(Packet::PubAck(ack))) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                            if let Some(sent_at) = in_flight.remove(&ack.pkid) {
                                let _ = local.record(sent_at.elapsed().as_micros().max(1) as u64);
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                            if let Ok(mut latency) = latency.lock() {
                                let _ = latency.add(&local);
                            }
                            return;
                        }
                        Ok(_) => {}
                        Err(err) => {
                            if let Ok(mut latency) = latency.lock() {
                                let _ = latency.add(&local);
                            }
                            if !done.load(Ordering::Relaxed) {
                                if let Ok(mut failed) = failed.lock() {
                                    *failed = Some(err.to_string());
                                }
                            }
                            if let Some(barrier) = waiting.take() {
                                barrier.wait().await;
                            }
                            return;
                        }
                    }
                }
            })
        };
        let mut go = go.subscribe();
        let publisher = tokio::spawn({
            let (acked, done) = (acked.clone(), done.clone());
            async move {
                let Ok(start) = go.recv().await else { return };
                let stop_at = start + seconds;
                let every = (load.rate > 0).then(|| Duration::from_secs(1) / load.rate);
                let mut n = 0u64;
                while Instant::now() < stop_at {
                    if let Some(every) = every {
                        tokio::time::sleep_until((start + every * n as u32).into()).await;
                    }
                    n += 1;
                    let payload = format!("{{\"metrics\":{{\"t\":{n}}}}}");
                    if client.publish(target.topic.as_str(), qos, false, payload).await.is_err() {
                        break;
                    }
                }
                if qos != QoS::AtMostOnce {
                    // Wait for every PUBACK (or give up).
                    let give_up = Instant::now() + ACK_WAIT_MAX;
                    while Instant::now() < give_up && acked.load(Ordering::Relaxed) < n {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                done.store(true, Ordering::Relaxed);
                let _ = client.disconnect().await;
            }
        });
        tasks.push((poller, publisher, sent, acked, last_sent, failed, latency));
    }
    // Everyone connected (or failed): go.
    connected.wait().await;
    let start = Instant::now();
    let _ = go.send(start);
    let _ = started.send(start);
    let mut total = Published { sent: 0, acked: 0, window: Duration::ZERO, ack_latency: latency_histogram(), errors: Vec::new() };
    for (poller, publisher, sent, acked, last_sent, failed, latency) in tasks {
        publisher.await.context("a publisher panicked")?;
        let _ = tokio::time::timeout(Duration::from_secs(10), poller).await;
        total.sent += sent.load(Ordering::Relaxed);
        total.acked += acked.load(Ordering::Relaxed);
        if let Some(last) = last_sent.lock().ok().and_then(|last| *last) {
            total.window = total.window.max(last.duration_since(start));
        }
        if let Some(err) = failed.lock().ok().and_then(|failed| failed.clone()) {
            total.errors.push(err);
        }
        if let Ok(latency) = latency.lock() {
            let _ = total.ack_latency.add(&*latency);
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// 1. telemetry through Gatehouse

fn telemetry(args: &MqttArgs, client_runtime: &Runtime, qos: QoS) -> anyhow::Result<PartResult> {
    let bench = Bench::start(args.backend)?;
    let devices = bench.devices(DeviceKind::Sensor, args.publishers, 8)?;
    let targets: Vec<Target> = devices
        .iter()
        .map(|device| Target {
            host: bench.mqtt.ip().to_string(),
            port: bench.mqtt.port(),
            client_id: device.client_id.clone(),
            credentials: Some((device.username.clone(), device.password.clone())),
            topic: format!("{}/telemetry", device.topic_prefix),
        })
        .collect();
    let base = bench.base.clone();
    let seconds = Duration::from_secs(args.seconds);
    let outcome = client_runtime.block_on(async move {
        let http = reqwest::Client::new();
        let samples = |text: &str| metric(text, "gatehouse_telemetry_samples_total", &[]) as u64;
        let before_text = scrape(&http, &base).await?;
        let before = samples(&before_text);
        let received_before = metric(&before_text, "gatehouse_mqtt_messages_total", &["channel=\"telemetry\""]) as u64;

        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let load = tokio::spawn(publish_load(targets, Load::of(args, qos), started_tx));
        let start = started_rx.await.context("the load never started")?;
        // The counter at the end of the publish window.
        tokio::time::sleep_until((start + seconds).into()).await;
        let at_window_end = samples(&scrape(&http, &base).await?) - before;
        let published = load.await.context("the load panicked")??;

        // The drain: until every message sent is persisted or the counter stops moving.
        let (mut last, mut last_moved) = (at_window_end, Instant::now());
        let drain_started = Instant::now();
        loop {
            let now = samples(&scrape(&http, &base).await?) - before;
            if now != last {
                last = now;
                last_moved = Instant::now();
            }
            if now >= published.sent || last_moved.elapsed() >= DRAIN_QUIET || drain_started.elapsed() >= DRAIN_MAX {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let text = scrape(&http, &base).await?;
        let persisted = samples(&text) - before;
        let received = metric(&text, "gatehouse_mqtt_messages_total", &["channel=\"telemetry\""]) as u64 - received_before;
        let rejected = metric(&text, "gatehouse_mqtt_rejected_messages_total", &["channel=\"telemetry\""]) as u64;
        let failed_batches = metric(&text, "gatehouse_telemetry_failed_batches_total", &[]) as u64;
        let batches = metric(&text, "gatehouse_telemetry_batch_messages_count", &[]);
        let batched = metric(&text, "gatehouse_telemetry_batch_messages_sum", &[]);
        let until_last = last_moved.duration_since(start);
        anyhow::Ok((published, at_window_end, persisted, received, rejected, failed_batches, batched / batches, until_last))
    })?;
    let (published, at_window_end, persisted, received, rejected, failed_batches, batch_mean, until_last) = outcome;
    bench.stop()?;

    let q = qos_number(qos);
    let window = published.window.as_secs_f64().max(1e-9);
    let total_time = until_last.as_secs_f64().max(window);
    let row = Row {
        path: format!("Gatehouse persisted ({:?})", args.backend),
        qos: q,
        published: published.sent,
        delivered: persisted,
        published_rate: published.sent as f64 / window,
        window_rate: at_window_end as f64 / window,
        total_rate: persisted as f64 / total_time,
        ack_latency: published.ack_percentiles(),
        acked: (q == 1).then_some(published.acked),
    };
    let lost = published.sent.saturating_sub(persisted);
    let line = format!(
        "telemetry backend={:?} qos={q} publishers={} seconds={}: published {} ({:.0}/s{}); persisted {} (all of them per second of the {:.1} s publish window: {:.0}/s; over publish+drain {:.1} s: {:.0}/s; persisted within the window: {:.0}/s); not delivered {} ({:.2}%); reached Gatehouse's ingest {}, rejected {}, failed batches {}, {:.0} messages per write batch{}{}",
        args.backend,
        args.publishers,
        args.seconds,
        published.sent,
        row.published_rate,
        if q == 1 { format!(", {} PUBACKed", published.acked) } else { String::new() },
        persisted,
        window,
        persisted as f64 / window,
        total_time,
        row.total_rate,
        row.window_rate,
        lost,
        100.0 * lost as f64 / published.sent.max(1) as f64,
        received,
        rejected,
        failed_batches,
        batch_mean,
        latency_text(row.ack_latency),
        if published.errors.is_empty() { String::new() } else { format!("; connection errors: {:?}", published.errors) },
    );
    Ok(PartResult { line, row })
}

// ---------------------------------------------------------------------------------------------
// 2. Mosquitto pass-through

struct Mosquitto {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Mosquitto {
    fn start() -> anyhow::Result<Mosquitto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("gatehouse-bench-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("mosquitto.conf");
        // Queue and inflight limits lifted (0 = no limit), no persistence, no logging.
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\nmax_inflight_bytes 0\npersistence false\nlog_dest none\n"
            ),
        )?;
        let child = std::process::Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {MOSQUITTO}"))?;
        let mut mosquitto = Mosquitto { child, port, _dir: TempDir(dir) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = mosquitto.child.try_wait()? {
                anyhow::bail!("mosquitto exited at start: {status}");
            }
            anyhow::ensure!(Instant::now() < deadline, "mosquitto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(mosquitto)
    }

    fn rss_kib(&self) -> Option<u64> {
        rss_kib_of(&format!("/proc/{}/status", self.child.id()))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto(args: &MqttArgs, client_runtime: &Runtime, qos: QoS) -> anyhow::Result<PartResult> {
    let broker = Mosquitto::start()?;
    let port = broker.port;
    let tenant = uuid::Uuid::now_v7();
    let targets: Vec<Target> = (0..args.publishers)
        .map(|_| {
            let device = uuid::Uuid::now_v7();
            Target {
                host: "127.0.0.1".into(),
                port,
                client_id: device.to_string(),
                credentials: None,
                topic: format!("gh/{tenant}/{device}/telemetry"),
            }
        })
        .collect();
    let seconds = Duration::from_secs(args.seconds);
    let outcome = client_runtime.block_on(async move {
        // The subscriber: one connection on gh/# at the same QoS, counting.
        let received = Arc::new(AtomicU64::new(0));
        let last_received = Arc::new(Mutex::new(None::<Instant>));
        let mut options = MqttOptions::new("bench-subscriber", "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30)).set_clean_session(true).set_inflight(1000);
        let (subscriber, mut events) = AsyncClient::new(options, 1000);
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        subscriber.subscribe("gh/#", qos).await?;
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let receiving = tokio::spawn({
            let (received, last_received) = (received.clone(), last_received.clone());
            async move {
                let mut subscribed = Some(subscribed_tx);
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(tx) = subscribed.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::Publish(_))) => {
                            received.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut last) = last_received.lock() {
                                *last = Some(Instant::now());
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => return None,
                        Ok(_) => {}
                        Err(err) => return Some(err.to_string()),
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), subscribed_rx).await.context("no SUBACK")??;

        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let load = tokio::spawn(publish_load(targets, Load::of(args, qos), started_tx));
        let start = started_rx.await.context("the load never started")?;
        tokio::time::sleep_until((start + seconds).into()).await;
        let at_window_end = received.load(Ordering::Relaxed);
        let published = load.await.context("the load panicked")??;
        let drain_started = Instant::now();
        let (mut last, mut last_moved) = (received.load(Ordering::Relaxed), Instant::now());
        loop {
            let now = received.load(Ordering::Relaxed);
            if now != last {
                last = now;
                last_moved = Instant::now();
            }
            if now >= published.sent || last_moved.elapsed() >= DRAIN_QUIET || drain_started.elapsed() >= DRAIN_MAX {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = subscriber.disconnect().await;
        let subscriber_error = tokio::time::timeout(Duration::from_secs(5), receiving).await.ok().and_then(Result::ok).flatten();
        let total = received.load(Ordering::Relaxed);
        let until_last =
            last_received.lock().ok().and_then(|last| *last).map_or(Duration::ZERO, |last| last.duration_since(start));
        anyhow::Ok((published, at_window_end, total, until_last, subscriber_error))
    })?;
    let (published, at_window_end, total, until_last, subscriber_error) = outcome;
    let rss = broker.rss_kib();
    drop(broker);

    let q = qos_number(qos);
    let window = published.window.as_secs_f64().max(1e-9);
    let total_time = until_last.as_secs_f64().max(window);
    let row = Row {
        path: "Mosquitto pass-through".into(),
        qos: q,
        published: published.sent,
        delivered: total,
        published_rate: published.sent as f64 / window,
        window_rate: at_window_end as f64 / window,
        total_rate: total as f64 / total_time,
        ack_latency: published.ack_percentiles(),
        acked: (q == 1).then_some(published.acked),
    };
    let lost = published.sent.saturating_sub(total);
    let line = format!(
        "mosquitto qos={q} publishers={} seconds={}: published {} ({:.0}/s{}); subscriber received {} ({:.0}/s over publish+drain {:.1} s; {:.0}/s within the {:.1} s window); not delivered {} ({:.2}%); mosquitto RSS {}{}{}{}",
        args.publishers,
        args.seconds,
        published.sent,
        row.published_rate,
        if q == 1 { format!(", {} PUBACKed", published.acked) } else { String::new() },
        total,
        row.total_rate,
        total_time,
        row.window_rate,
        window,
        lost,
        100.0 * lost as f64 / published.sent.max(1) as f64,
        rss.map_or_else(|| "?".into(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0)),
        latency_text(row.ack_latency),
        if published.errors.is_empty() { String::new() } else { format!("; connection errors: {:?}", published.errors) },
        subscriber_error.map_or_else(String::new, |err| format!("; subscriber error: {err}")),
    );
    Ok(PartResult { line, row })
}

// ---------------------------------------------------------------------------------------------
// 3. Connections held with heartbeats

fn rss_kib_of(path: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn rss_mib() -> f64 {
    rss_kib_of("/proc/self/status").unwrap_or(0) as f64 / 1024.0
}

/// Raises the soft open-files limit to the hard one; returns the soft limit now.
fn raise_nofile() -> u64 {
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else { return 0 };
    if soft < hard {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    rlimit::Resource::NOFILE.get().map_or(soft, |(soft, _)| soft)
}

/// Open files the server process needs besides its device connections (database, listeners, …).
const SERVER_FILES_SPARE: u64 = 256;
/// Device connections per load-generator process.
const CONNECTIONS_PER_CLIENT_PROCESS: usize = 10_000;

/// What a load-generator process last said.
#[derive(Debug, Default, Clone)]
struct ClientStatus {
    connected: u64,
    ever: u64,
    dropped: u64,
    heartbeats: u64,
    errors: String,
}

fn connections(args: &MqttArgs) -> anyhow::Result<String> {
    // The device connections' load generator runs in child processes (this binary again), so
    // the server's process holds only the server ends and its RSS is the server's alone. The
    // server's process needs one open file per connection.
    let nofile = raise_nofile();
    let n = args.connections.min(nofile.saturating_sub(SERVER_FILES_SPARE) as usize);
    if n < args.connections {
        eprintln!(
            "connections: the open-files limit here is {nofile} and cannot be raised; the server's process holds at most {n} device connections (run with `ulimit -n {}` for {})",
            args.connections as u64 + SERVER_FILES_SPARE,
            args.connections
        );
    }

    let bench = Bench::start(args.backend)?;
    let setup = Instant::now();
    let devices = bench.devices(DeviceKind::Sensor, n, 64)?;
    let setup_time = setup.elapsed();
    eprintln!("connections: {} devices created in {:.1} s", devices.len(), setup_time.as_secs_f64());
    let dir = TempDir(std::env::temp_dir().join(format!("gatehouse-bench-connections-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let rss_before = rss_mib();

    let broker = bench.mqtt.to_string();
    let exe = std::env::current_exe()?;
    let start = Instant::now();
    let mut children = Vec::new();
    for (index, chunk) in devices.chunks(CONNECTIONS_PER_CLIENT_PROCESS).enumerate() {
        let file = dir.0.join(format!("devices-{index}.txt"));
        let lines: Vec<String> =
            chunk.iter().map(|device| format!("{} {} {}", device.client_id, device.password, device.topic_prefix)).collect();
        std::fs::write(&file, lines.join("\n"))?;
        let mut child = std::process::Command::new(&exe)
            .args(["mqtt", "--client-threads", &args.client_threads.to_string(), "--client-file"])
            .arg(&file)
            .args(["--broker", &broker])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let status = Arc::new(Mutex::new(ClientStatus::default()));
        std::thread::spawn({
            let status = status.clone();
            move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut fields = line.splitn(6, ' ');
                    if fields.next() != Some("status") {
                        continue;
                    }
                    let mut number = || fields.next().and_then(|field| field.parse::<u64>().ok()).unwrap_or(0);
                    let (connected, ever, dropped, heartbeats) = (number(), number(), number(), number());
                    let errors = fields.next().unwrap_or_default().to_owned();
                    if let Ok(mut status) = status.lock() {
                        *status = ClientStatus { connected, ever, dropped, heartbeats, errors };
                    }
                }
            }
        });
        children.push((child, status));
    }
    let total = |children: &[(std::process::Child, Arc<Mutex<ClientStatus>>)]| {
        children.iter().fold(ClientStatus::default(), |mut sum, (_, status)| {
            if let Ok(status) = status.lock() {
                sum.connected += status.connected;
                sum.ever += status.ever;
                sum.dropped += status.dropped;
                sum.heartbeats += status.heartbeats;
                if !status.errors.is_empty() {
                    sum.errors.push_str(&status.errors);
                    sum.errors.push(' ');
                }
            }
            sum
        })
    };
    // Until all are connected, or no progress for 30 s.
    let (mut connect_time, mut last, mut last_moved) = (None, 0, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = total(&children).connected;
        if now >= n as u64 {
            connect_time = Some(start.elapsed());
            break;
        }
        if now != last {
            (last, last_moved) = (now, Instant::now());
        }
        if last_moved.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    let connected_at_start = total(&children).connected;
    let rss_connected = rss_mib();
    let mut rss_peak = rss_connected;
    let hold_started = Instant::now();
    while hold_started.elapsed() < Duration::from_secs(args.hold) {
        std::thread::sleep(Duration::from_secs(1));
        rss_peak = rss_peak.max(rss_mib());
    }
    // The children report every second.
    std::thread::sleep(Duration::from_millis(1100));
    let held = total(&children);
    let rss_held = rss_mib();
    let clients_rss: f64 =
        children.iter().map(|(child, _)| rss_kib_of(&format!("/proc/{}/status", child.id())).unwrap_or(0) as f64 / 1024.0).sum();
    // Status messages Gatehouse's ingest has taken, once it has caught up (stopped moving).
    let status_messages = bench.server_runtime.block_on(async {
        let http = reqwest::Client::new();
        let (mut last, mut last_moved) = (0u64, Instant::now());
        let drain_started = Instant::now();
        loop {
            let text = scrape(&http, &bench.base).await.unwrap_or_default();
            let now = metric(&text, "gatehouse_mqtt_messages_total", &["channel=\"status\""]) as u64;
            if now != last {
                (last, last_moved) = (now, Instant::now());
            }
            if last_moved.elapsed() >= DRAIN_QUIET || drain_started.elapsed() >= DRAIN_MAX {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let heartbeats_at_drain = total(&children).heartbeats;
    for (child, _) in &mut children {
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
    }
    bench.stop()?;
    let per_connection = (rss_held - rss_before) * 1024.0 / held.connected.max(1) as f64;
    Ok(format!(
        "connections n={n}{} hold={}s backend={:?}: setup (devices through the store) {:.1} s; {} of {n} connected in {}; {} still connected after the hold ({} ever connected, {} dropped); heartbeats (QoS 1 status) sent {} ({} by the end of the drain), status messages taken by Gatehouse's ingest {}; server process RSS {:.0} MiB before, {:.0} MiB all connected, {:.0} MiB after the hold (peak {:.0} MiB): {:.1} KiB per connection; load generator ({} processes) {:.0} MiB{}",
        if n < args.connections { format!(" (of {} asked: open-files limit {nofile})", args.connections) } else { String::new() },
        args.hold,
        args.backend,
        setup_time.as_secs_f64(),
        connected_at_start,
        connect_time.map_or_else(|| "— (not all connected)".to_owned(), |t| format!("{:.1} s", t.as_secs_f64())),
        held.connected,
        held.ever,
        held.dropped,
        held.heartbeats,
        heartbeats_at_drain,
        status_messages,
        rss_before,
        rss_connected,
        rss_held,
        rss_peak,
        per_connection,
        children.len(),
        clients_rss,
        if held.errors.is_empty() { String::new() } else { format!("; errors: {}", held.errors.trim()) },
    ))
}

/// A load-generator process of `connections`: connects the devices of `--client-file` to
/// `--broker`, publishes each one's status heartbeat every 30 s, and prints
/// `status CONNECTED EVER DROPPED HEARTBEATS ERRORS` every second until its stdin closes.
fn connections_client(args: &MqttArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let broker: std::net::SocketAddr = args.broker.as_deref().context("--broker")?.parse()?;
    let devices: Vec<(String, String, String)> = std::fs::read_to_string(file)?
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            Some((fields.next()?.to_owned(), fields.next()?.to_owned(), fields.next()?.to_owned()))
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads).enable_all().build()?;
    runtime.block_on(async move {
        let connected = Arc::new(AtomicU64::new(0));
        let ever = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let heartbeats = Arc::new(AtomicU64::new(0));
        let errors: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        // Connections being set up at once (a CONNECT each, authenticated by the registry).
        let connecting = Arc::new(tokio::sync::Semaphore::new(256));
        for (id, password, prefix) in devices {
            let mut options = MqttOptions::new(id.clone(), broker.ip().to_string(), broker.port());
            options.set_keep_alive(Duration::from_secs(30)).set_clean_session(true);
            options.set_credentials(id, password);
            let (client, mut events) = AsyncClient::new(options, 8);
            let mut network = NetworkOptions::new();
            network.set_tcp_nodelay(true);
            network.set_connection_timeout(30);
            events.set_network_options(network);
            let status = format!("{prefix}/status");
            let (connected, ever, dropped, heartbeats, errors, connecting) =
                (connected.clone(), ever.clone(), dropped.clone(), heartbeats.clone(), errors.clone(), connecting.clone());
            tokio::spawn(async move {
                let mut permit = connecting.acquire_owned().await.ok();
                let mut heartbeat: Option<tokio::task::JoinHandle<()>> = None;
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            drop(permit.take());
                            ever.fetch_add(1, Ordering::Relaxed);
                            connected.fetch_add(1, Ordering::Relaxed);
                            // The status heartbeat: at once, then every 30 s.
                            let (client, status, heartbeats) = (client.clone(), status.clone(), heartbeats.clone());
                            heartbeat = Some(tokio::spawn(async move {
                                let mut every = tokio::time::interval(Duration::from_secs(30));
                                loop {
                                    every.tick().await;
                                    if client
                                        .publish(status.as_str(), QoS::AtLeastOnce, true, r#"{"state":"online"}"#)
                                        .await
                                        .is_err()
                                    {
                                        return;
                                    }
                                    heartbeats.fetch_add(1, Ordering::Relaxed);
                                }
                            }));
                        }
                        Ok(_) => {}
                        Err(err) => {
                            drop(permit.take());
                            if let Some(task) = heartbeat.take() {
                                task.abort();
                                connected.fetch_sub(1, Ordering::Relaxed);
                                dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Ok(mut errors) = errors.lock() {
                                *errors.entry(err.to_string().replace(' ', "_")).or_default() += 1;
                            }
                            return;
                        }
                    }
                }
            });
        }
        // Report every second until the parent closes stdin.
        let (closed_tx, mut closed) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            let _ = closed_tx.send(());
        });
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = &mut closed => return anyhow::Ok(()),
            }
            let errors = errors.lock().map(|errors| {
                let mut listed: Vec<String> = errors.iter().map(|(error, count)| format!("{error}:{count}")).collect();
                listed.sort();
                listed.truncate(5);
                listed.join(",")
            });
            println!(
                "status {} {} {} {} {}",
                connected.load(Ordering::Relaxed),
                ever.load(Ordering::Relaxed),
                dropped.load(Ordering::Relaxed),
                heartbeats.load(Ordering::Relaxed),
                errors.unwrap_or_default()
            );
        }
    })?;
    runtime.shutdown_background();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. Command round trips

/// Sleeps about `duration` on a blocking thread: Tokio's timer has a 1 ms resolution.
async fn short_sleep(duration: Duration) {
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(duration)).await;
}

fn commands(args: &MqttArgs, client_runtime: &Runtime) -> anyhow::Result<String> {
    let bench = Bench::start(args.backend)?;
    let device = bench.devices(DeviceKind::Controller, 1, 1)?.into_iter().next().context("no device")?;
    let (host, port, base) = (bench.mqtt.ip().to_string(), bench.mqtt.port(), bench.base.clone());
    let measured = args.commands;
    let warmup = (measured / 10).min(100);
    let outcome = client_runtime.block_on(async move {
        // The controller: acknowledges every command at once.
        let mut options = MqttOptions::new(device.client_id.clone(), host, port);
        options.set_keep_alive(Duration::from_secs(30)).set_clean_session(true);
        options.set_credentials(device.username.clone(), device.password.clone());
        let (client, mut events) = AsyncClient::new(options, 100);
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let prefix = device.topic_prefix.clone();
        client.subscribe(format!("{prefix}/cmd"), QoS::AtLeastOnce).await?;
        client.publish(format!("{prefix}/status"), QoS::AtLeastOnce, true, r#"{"state":"online"}"#).await?;
        let acks = Arc::new(AtomicU64::new(0));
        let controller = tokio::spawn({
            let (client, acks) = (client.clone(), acks.clone());
            let ack_topic = format!("{prefix}/cmd/ack");
            async move {
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            let command: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap_or_default();
                            let ack = serde_json::json!({"id": command["id"], "ok": true, "result": {}});
                            if client.try_publish(ack_topic.as_str(), QoS::AtLeastOnce, false, ack.to_string()).is_ok() {
                                acks.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => return None,
                        Ok(_) => {}
                        Err(err) => return Some(err.to_string()),
                    }
                }
            }
        });

        let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
        let device_url = format!("{base}/api/v1/devices/{}", device.username);
        // Commands go only to online devices: wait until the status is in.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let shown: serde_json::Value =
                http.get(&device_url).bearer_auth(TOKEN).header("Gatehouse-Tenant", TENANT_SLUG).send().await?.json().await?;
            if shown["status"] == "online" {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the device never showed online: {shown}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let body = serde_json::json!({"kind": "unlock", "params": {"seconds": 1}}).to_string();
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let (mut polls, mut failures) = (0u64, 0u64);
        let measuring = Instant::now();
        let mut measured_from = measuring;
        for round in 0..warmup + measured {
            if round == warmup {
                measured_from = Instant::now();
            }
            let sent = Instant::now();
            let response = http
                .post(format!("{device_url}/commands"))
                .bearer_auth(TOKEN)
                .header("Gatehouse-Tenant", TENANT_SLUG)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            anyhow::ensure!(response.status().as_u16() == 202, "command refused: {}", response.text().await?);
            let command: serde_json::Value = response.json().await?;
            let command_url = format!("{device_url}/commands/{}", command["id"].as_str().context("no command id")?);
            let give_up = sent + Duration::from_secs(15);
            let acknowledged = loop {
                let shown: serde_json::Value = http
                    .get(&command_url)
                    .bearer_auth(TOKEN)
                    .header("Gatehouse-Tenant", TENANT_SLUG)
                    .send()
                    .await?
                    .json()
                    .await?;
                if round >= warmup {
                    polls += 1;
                }
                match shown["status"].as_str() {
                    Some("acknowledged") => break true,
                    Some("queued" | "sent") if Instant::now() < give_up => short_sleep(Duration::from_micros(500)).await,
                    _ => break false,
                }
            };
            if round >= warmup {
                if acknowledged {
                    latency.saturating_record(sent.elapsed().as_micros() as u64);
                } else {
                    failures += 1;
                }
            }
        }
        let elapsed = measured_from.elapsed();
        let _ = client.disconnect().await;
        let controller_error = tokio::time::timeout(Duration::from_secs(5), controller).await.ok().and_then(Result::ok).flatten();
        anyhow::Ok((latency, polls, failures, elapsed, acks.load(Ordering::Relaxed), controller_error))
    })?;
    let (latency, polls, failures, elapsed, acks, controller_error) = outcome;
    bench.stop()?;
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    Ok(format!(
        "commands backend={:?} round trips={} (after {warmup} warm-up): POST …/commands until GET …/commands/{{id}} shows acknowledged: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} round trips/s sequentially, {:.1} polls per round trip, {} not acknowledged, {} acks sent by the device{}",
        args.backend,
        latency.len(),
        ms(0.50),
        ms(0.90),
        ms(0.99),
        latency.max() as f64 / 1000.0,
        latency.len() as f64 / elapsed.as_secs_f64(),
        polls as f64 / measured.max(1) as f64,
        failures,
        acks,
        controller_error.map_or_else(String::new, |err| format!("; controller error: {err}")),
    ))
}
