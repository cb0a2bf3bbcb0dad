//! `gatehouse simulate`: a fleet of simulated devices for tests, benchmarks and demos.
//!
//! The simulator registers (or reuses) controllers, readers and sensors in one
//! tenant through the HTTP API, exactly as an installer would, then connects
//! each to the broker as its own MQTT device with the credentials it was
//! issued, and drives traffic: access requests with real card numbers (and
//! some unknown ones), telemetry and door events, at a fixed total rate spread
//! evenly over the devices. It acknowledges every command Gatehouse sends.
//! Nothing here reaches into the server: what it measures is what a device sees.

mod api;
mod device;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use self::api::Api;
use self::device::{DeviceSpec, DRAINING, LEAVING, RUNNING};
use self::stats::Stats;
pub use self::stats::Summary;

/// Most devices one simulator runs.
pub const DEVICES_MAX: u32 = 10_000;
/// Messages per second one simulated device sends, at most: the embedded broker allows each
/// device 100 a second, and status, command acknowledgements and door events need some room.
pub const DEVICE_RATE_MAX: f64 = 90.0;
/// How long the simulator waits for the answers still outstanding when it stops.
const DRAIN_MAX: Duration = Duration::from_secs(3);
/// How long the devices have to connect for the first time.
const FIRST_CONNECT_MAX: Duration = Duration::from_secs(20);

/// What `simulate --help` says after the options: what the simulator creates and sends.
const SIMULATE_HELP: &str = "\
Devices are registered in the tenant through the HTTP API, named and serialled
sim-KIND-NNNN (e.g. sim-reader-0007); a later run reuses them, issuing new MQTT
credentials. Each connects to the broker as itself (username and client id = its id).

Device mix: one controller per ten devices (rounded up), 30% sensors (rounded down),
readers for the rest. Readers and controllers serve the tenant's access points in
turn, sensors its zones.

Traffic: readers send access requests (about 85% of their messages; the tenant's
active cards and 25% unknown ones) and telemetry; controllers door events and
telemetry; sensors telemetry and alarm_input/tamper events. Every device publishes
its status (retained; its last will says offline) and acknowledges every command
on cmd/ack; unlock and pulse are followed by door_opened and door_closed events.

Output: a live line (elapsed, connected devices, msg/s, access req/s, round-trip
p99, commands acked, errors) and a summary at the end. See docs/simulator.md.";

/// Simulate a fleet of MQTT devices against a running Gatehouse.
#[derive(Debug, Clone, Args)]
#[command(after_help = SIMULATE_HELP)]
pub struct SimulateArgs {
    /// Number of devices (1 to 10000).
    #[arg(long, default_value_t = 10)]
    pub devices: u32,
    /// Messages per second across all devices (telemetry, access requests and events),
    /// spread evenly; at most 90 per device.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// The Gatehouse HTTP API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The MQTT broker the devices connect to: mqtt://host[:port].
    #[arg(long, value_name = "URL", default_value = "mqtt://127.0.0.1:1883")]
    pub mqtt: String,
    /// Bearer token for the API [env: GATEHOUSE_TOKEN, else GATEHOUSE_BOOTSTRAP_TOKEN].
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The tenant's slug or id.
    #[arg(long, value_name = "SLUG", default_value = "demo")]
    pub tenant: String,
}

/// Checked arguments.
struct Plan {
    devices: u32,
    rate: f64,
    duration: Option<Duration>,
    mqtt_host: String,
    mqtt_port: u16,
}

fn check(args: &SimulateArgs) -> anyhow::Result<Plan> {
    if args.devices == 0 {
        anyhow::bail!("--devices must be at least 1");
    }
    if args.devices > DEVICES_MAX {
        anyhow::bail!("--devices must be at most {DEVICES_MAX}");
    }
    if !args.rate.is_finite() || args.rate <= 0.0 {
        anyhow::bail!("--rate must be a positive number of messages per second");
    }
    let per_device = args.rate / f64::from(args.devices);
    if per_device > DEVICE_RATE_MAX {
        let needed = (args.rate / DEVICE_RATE_MAX).ceil();
        anyhow::bail!(
            "--rate {} over {} device(s) is {per_device:.1} messages per second each, more than the {DEVICE_RATE_MAX} a device may send; use --devices {needed} or more",
            args.rate,
            args.devices
        );
    }
    let duration = match args.duration {
        None => None,
        Some(seconds) if seconds.is_finite() && seconds > 0.0 && seconds < 1e9 => Some(Duration::from_secs_f64(seconds)),
        Some(_) => anyhow::bail!("--duration must be a positive number of seconds"),
    };
    let url = reqwest::Url::parse(&args.mqtt).map_err(|err| anyhow::anyhow!("--mqtt `{}` is not a URL: {err}", args.mqtt))?;
    if url.scheme() != "mqtt" {
        anyhow::bail!("--mqtt must start with mqtt:// (got `{}://`)", url.scheme());
    }
    let mqtt_host = url.host_str().filter(|host| !host.is_empty()).context("--mqtt has no host")?;
    let mqtt_host = mqtt_host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let mqtt_port = url.port().unwrap_or(1883);
    Ok(Plan { devices: args.devices, rate: args.rate, duration, mqtt_host, mqtt_port })
}

/// The API token: `--token`, else `GATEHOUSE_TOKEN`, else `GATEHOUSE_BOOTSTRAP_TOKEN`.
fn token(args: &SimulateArgs) -> anyhow::Result<String> {
    args.token
        .clone()
        .or_else(|| std::env::var("GATEHOUSE_TOKEN").ok())
        .or_else(|| std::env::var("GATEHOUSE_BOOTSTRAP_TOKEN").ok())
        .filter(|token| !token.trim().is_empty())
        .context("no API token: pass --token or set GATEHOUSE_TOKEN (or GATEHOUSE_BOOTSTRAP_TOKEN)")
}

/// How many controllers, sensors and readers `devices` devices are.
pub fn device_mix(devices: u32) -> (u32, u32, u32) {
    let controllers = if devices >= 2 { devices.div_ceil(10) } else { 0 };
    let sensors = devices * 3 / 10;
    (controllers, sensors, devices - controllers - sensors)
}

/// Runs the simulation until `--duration` has passed or Ctrl-C, and sums it up.
pub async fn run(args: SimulateArgs) -> anyhow::Result<Summary> {
    let plan = check(&args)?;
    let token = token(&args)?;
    let api = Api::new(&args.server, &token, &args.tenant)?;
    let places = api.places().await?;
    let (controllers, sensors, readers) = device_mix(plan.devices);
    if places.access_points.is_empty() && controllers + readers > 0 {
        anyhow::bail!(
            "tenant '{}' has no access points for the readers and controllers to serve; create one first (POST /api/v1/access-points)",
            args.tenant
        );
    }
    let cards = api.cards().await?;
    device::check_broker(&plan.mqtt_host, plan.mqtt_port).await?;

    let setup = ProgressBar::new(u64::from(plan.devices)).with_message("registering devices");
    setup.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let fleet = api.fleet(controllers, sensors, readers, &places, &setup).await;
    setup.finish_and_clear();
    let fleet = fleet?;

    let stats = Arc::new(Stats::new());
    let (phase_tx, phase_rx) = watch::channel(RUNNING);
    let cards = Arc::new(cards);
    let interval = Duration::from_secs_f64(f64::from(plan.devices) / plan.rate);
    let started = Instant::now();
    let (first_tx, mut first_rx) = tokio::sync::mpsc::channel(plan.devices as usize);
    let mut handles = Vec::with_capacity(fleet.devices.len());
    for (index, registered) in fleet.devices.into_iter().enumerate() {
        // Devices start one after another, 1/R apart, so the whole fleet sends evenly.
        let offset = Duration::from_secs_f64(index as f64 / plan.rate);
        let spec = DeviceSpec {
            registered,
            host: plan.mqtt_host.clone(),
            port: plan.mqtt_port,
            interval,
            first_tick: started + offset,
            seed: 0x9e37_79b9_7f4a_7c15 ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ now_nanos(),
        };
        handles.push(device::spawn(spec, cards.clone(), stats.clone(), phase_rx.clone(), first_tx.clone()));
    }
    drop(first_tx);

    // Every device tries once; if none gets in, the run cannot measure anything.
    let mut connected = 0u32;
    let mut first_error = None;
    let first_deadline = tokio::time::Instant::now() + FIRST_CONNECT_MAX;
    for _ in 0..plan.devices {
        match tokio::time::timeout_at(first_deadline, first_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(err))) => {
                first_error.get_or_insert(err);
            }
            Ok(None) | Err(_) => break,
        }
        if connected > 0 {
            break;
        }
    }
    if connected == 0 {
        let _ = phase_tx.send(LEAVING);
        for handle in &handles {
            handle.abort();
        }
        let why = first_error.unwrap_or_else(|| format!("no answer within {} s", FIRST_CONNECT_MAX.as_secs()));
        anyhow::bail!("no device could connect to the MQTT broker at {}: {why}", args.mqtt);
    }

    let live = ProgressBar::new_spinner();
    live.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    live.enable_steady_tick(Duration::from_millis(200));
    let plain_output = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let deadline = plan.duration.map(|duration| tokio::time::Instant::from_std(started) + duration);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut rates = stats::RateWindow::new(&stats);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut seconds = 0u64;
    loop {
        let until_deadline = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticker.tick() => {
                let line = rates.line(&stats, started.elapsed(), plan.devices);
                seconds += 1;
                if plain_output {
                    if seconds.is_multiple_of(5) {
                        eprintln!("{line}");
                    }
                } else {
                    live.set_message(line);
                }
            }
            _ = until_deadline => break,
            _ = &mut ctrl_c => break,
        }
    }
    let elapsed = started.elapsed();
    live.set_message("stopping: waiting for outstanding answers");
    let _ = phase_tx.send(DRAINING);
    let drain_deadline = Instant::now() + DRAIN_MAX;
    while stats.pending() > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stats.close();
    let _ = phase_tx.send(LEAVING);
    for handle in handles {
        // Each device says it goes offline and disconnects; one that hangs is left behind.
        let abort = handle.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), handle).await.is_err() {
            abort.abort();
        }
    }
    live.finish_and_clear();
    Ok(stats.summary(elapsed, fleet.created, fleet.reused, (controllers, sensors, readers)))
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

/// Runs `gatehouse simulate`: the summary goes to standard output.
pub async fn command(args: SimulateArgs) -> anyhow::Result<std::process::ExitCode> {
    let tenant = args.tenant.clone();
    let mqtt = args.mqtt.clone();
    let summary = run(args).await?;
    println!("{}", summary.render(&tenant));
    if summary.sent_access > 0 && summary.decided() + summary.answer_errors == 0 {
        // The devices got in but nobody answered them: most likely a broker this Gatehouse does not use.
        eprintln!("gatehouse: no access request was answered; is {mqtt} (--mqtt) the broker the Gatehouse at --server uses?");
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SimulateArgs {
        SimulateArgs {
            devices: 10,
            rate: 10.0,
            duration: None,
            server: "http://127.0.0.1:8080".into(),
            mqtt: "mqtt://127.0.0.1:1883".into(),
            token: Some("t".into()),
            tenant: "demo".into(),
        }
    }

    #[test]
    fn the_mix_is_a_controller_per_ten_thirty_percent_sensors_and_readers() {
        assert_eq!(device_mix(1), (0, 0, 1));
        assert_eq!(device_mix(2), (1, 0, 1));
        assert_eq!(device_mix(5), (1, 1, 3));
        assert_eq!(device_mix(10), (1, 3, 6));
        assert_eq!(device_mix(100), (10, 30, 60));
        for devices in 1..=1000 {
            let (controllers, sensors, readers) = device_mix(devices);
            assert_eq!(controllers + sensors + readers, devices);
            assert!(readers >= 1, "{devices}");
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let message = |args: SimulateArgs| check(&args).err().map(|err| err.to_string()).unwrap_or_default();
        assert!(message(SimulateArgs { devices: 0, ..args() }).contains("--devices"));
        assert!(message(SimulateArgs { rate: 0.0, ..args() }).contains("--rate"));
        assert!(message(SimulateArgs { rate: 1000.0, ..args() }).contains("--devices 12"));
        assert!(message(SimulateArgs { duration: Some(-1.0), ..args() }).contains("--duration"));
        assert!(message(SimulateArgs { mqtt: "http://x".into(), ..args() }).contains("mqtt://"));
        let plan = check(&SimulateArgs { mqtt: "mqtt://broker.example".into(), ..args() }).ok();
        assert_eq!(plan.map(|plan| (plan.mqtt_host, plan.mqtt_port)), Some(("broker.example".into(), 1883)));
    }
}
