//! `gatehouse-bench`: load against a real Gatehouse server over HTTP on loopback, and the
//! access decision engine in process.
//!
//! ```text
//! cargo run --release -p gatehouse-bench -- list-route [--backend sqlite|postgres] [--seconds 10] [--connections 32]
//! cargo run --release -p gatehouse-bench --features peers -- engine [--seconds 5] [--seed 1] [--requests 1000000]
//! cargo run --release -p gatehouse-bench -- mqtt [--part telemetry|mosquitto|connections|commands|all] [--seconds 10]
//! cargo run --release -p gatehouse-bench -- decide [--backend sqlite|postgres] [--seconds 10] [--connections 64]
//! cargo run --release -p gatehouse-bench -- wrk-seed --data-dir DIR    # then `gatehouse serve` and wrk: wrk/run.sh
//! ```
//!
//! Every figure in the README is measured with `--release`, the profile users build and ship
//! (fat LTO, one codegen unit: the workspace `Cargo.toml`).
//!
//! The HTTP benchmarks (`list-route`, `login`, `auth-overhead`): the server runs in this
//! process on its own Tokio runtime (two workers, as on the 2-core target machine), on a fresh
//! database with the demo tenant loaded; the load generator runs on a separate runtime and keeps
//! `--connections` requests in flight. Latency is recorded per request in an HDR histogram.
//!
//! `engine`: Gatehouse's decision engine (`Engine::decide`) on one thread, against a community
//! generated from `--seed` (10,000 people, 20,000 credentials, 500 access points, 200 access
//! levels, 20 schedules, a holiday calendar: `community.rs`) and `--requests` pre-generated
//! requests over one week. It reports decisions per second (a pass with no per-call timer), the
//! p50/p99/p999 latency of a decision (each call timed), the share of grants, the policy compile
//! time, and Gatehouse's reasons. With `--features peers` the same policy, translated into
//! cedar-policy and casbin (`peers/`; the mapping is documented at the top of each file), is
//! decided on the same requests in the same run, side by side: every peer must agree with
//! Gatehouse on every request's granted/denied, or the command prints the disagreements and
//! exits non-zero. Without the feature neither peer is compiled (the workspace tests never
//! build them). The output ends with a Markdown table and the command line, for the README.
//! The peers' latency pass over every request dominates the run: each peer takes about a
//! millisecond per decision, so 1,000,000 requests take some 25 minutes with the peers on the
//! 2-core machine (`--requests 100000`: a few minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use gatehouse::config::{Config, FlagValues};
use gatehouse::server::RunningServer;
use gatehouse_testkit::{TestBackend, TestDatabase};
use hdrhistogram::Histogram;

mod community;
mod decide_http;
mod engine;
mod mqtt;
#[cfg(feature = "peers")]
mod peers;
mod raw_http;
mod seed;
mod wrk;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "ghb_benchmark-token-0123456789abcdefghijklmnopqrstuv";
const MASTER_KEY: &str = "YmVuY2htYXJrLW1hc3Rlci1rZXktMzItYnl0ZXMhISE=";

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// GET /api/v1/people?limit=50 on the demo tenant: an authenticated, tenant-scoped list.
    ListRoute(LoadArgs),
    /// POST /api/v1/auth/login with OWASP argon2id parameters, next to raw argon2id
    /// verifications of the same implementation in the same run.
    Login(LoginArgs),
    /// The list route with an account's access token, next to the same route on a
    /// second server of the same process with authentication switched off.
    AuthOverhead(LoadArgs),
    /// The access decision engine in process on one thread; with `--features peers`, next to
    /// the same policy in cedar-policy and casbin, on the same requests.
    Engine(engine::EngineArgs),
    /// POST /api/v1/access/decide over HTTP on the generated community, each answer durable in the access log.
    Decide(decide_http::DecideArgs),
    /// Writes the `decide` community into a data directory for the `gatehouse` binary, and the
    /// decision bodies `wrk/decide.lua` sends: HTTP decisions driven by an independent load generator.
    WrkSeed(wrk::WrkSeedArgs),
    /// Devices over MQTT: telemetry persisted through Gatehouse next to Mosquitto's
    /// pass-through (QoS 0 and 1), device connections held, command round trips.
    Mqtt(mqtt::MqttArgs),
}

#[derive(Debug, Parser)]
struct LoginArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Measured seconds for each half (logins, then raw verifications).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Logins kept in flight.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Parser)]
struct LoadArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Measured seconds (after a warm-up of a fifth of that, at least one second).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests kept in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server logs as the binary does (`GATEHOUSE_LOG`, default info): its request spans are part of the cost.
    gatehouse::logging::init(gatehouse::config::LogFormat::Human);
    match cli.bench {
        Bench::ListRoute(args) => list_route(args),
        Bench::Login(args) => login(args),
        Bench::AuthOverhead(args) => auth_overhead(args),
        Bench::Engine(args) => engine::run(args),
        Bench::Decide(args) => decide_http::run(args),
        Bench::WrkSeed(args) => wrk::run(args),
        Bench::Mqtt(args) => mqtt::run(args),
    }
}

/// A real server on a fresh database with the demo tenant, on `runtime`.
fn start_server(runtime: &tokio::runtime::Runtime, backend: Backend) -> anyhow::Result<(TestDatabase, RunningServer)> {
    start_server_with_config(runtime, backend).map(|(db, server, _)| (db, server))
}

fn start_server_with_config(
    runtime: &tokio::runtime::Runtime,
    backend: Backend,
) -> anyhow::Result<(TestDatabase, RunningServer, Config)> {
    runtime.block_on(async {
        let (db, server, config) = launch(backend, &[]).await?;
        gatehouse::demo::load(server.store.as_ref()).await?;
        Ok((db, server, config))
    })
}

/// A fresh database of `backend` and the real server on it, HTTP and MQTT on free ports.
/// The token and master key are the benchmark's own; `settings` come next, then the
/// process environment (pool size, limits).
pub(crate) async fn launch(backend: Backend, settings: &[(&str, &str)]) -> anyhow::Result<(TestDatabase, RunningServer, Config)> {
    let db = TestDatabase::new(match backend {
        Backend::Sqlite => TestBackend::Sqlite,
        Backend::Postgres => TestBackend::Postgres,
    })
    .await;
    let flags = FlagValues {
        listen: Some("127.0.0.1:0".into()),
        mqtt_listen: Some("127.0.0.1:0".into()),
        database_url: Some(db.url_string()),
        ..FlagValues::default()
    };
    let env = |name: &str| match name {
        "GATEHOUSE_BOOTSTRAP_TOKEN" => Some(TOKEN.to_owned()),
        "GATEHOUSE_MASTER_KEY" => Some(MASTER_KEY.to_owned()),
        _ => settings
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
            .or_else(|| std::env::var(name).ok()),
    };
    let config = Config::build(&flags, &env)?;
    let server = RunningServer::start(config.clone()).await?;
    Ok((db, server, config))
}

fn list_route(args: LoadArgs) -> anyhow::Result<()> {
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.server_threads).enable_all().build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;

    let (db, server) = start_server(&server_runtime, args.backend)?;
    let url = server.url("/api/v1/people?limit=50");

    let report = client_runtime.block_on(load(&url, &args))?;
    println!(
        "list-route backend={:?} connections={} seconds={}: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} requests, {} errors)",
        args.backend,
        args.connections,
        args.seconds,
        report.requests as f64 / report.elapsed.as_secs_f64(),
        report.latency.value_at_quantile(0.50) as f64 / 1000.0,
        report.latency.value_at_quantile(0.99) as f64 / 1000.0,
        report.latency.value_at_quantile(0.999) as f64 / 1000.0,
        report.latency.max() as f64 / 1000.0,
        report.requests,
        report.errors,
    );
    server_runtime.block_on(server.stop())?;
    drop(db);
    Ok(())
}

struct Report {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Microseconds.
    latency: Histogram<u64>,
}

/// How the load generator presents itself.
#[derive(Debug, Clone)]
enum Credential {
    /// The bootstrap token, naming the demo tenant.
    Bootstrap,
    /// An account's access token (bound to its tenant).
    Bearer(String),
    /// Nothing: for the server with authentication switched off.
    Anonymous,
}

impl Credential {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::Bootstrap => request.bearer_auth(TOKEN).header("Gatehouse-Tenant", "demo"),
            Credential::Bearer(token) => request.bearer_auth(token),
            Credential::Anonymous => request,
        }
    }
}

async fn load(url: &str, args: &LoadArgs) -> anyhow::Result<Report> {
    load_as(url, args, Credential::Bootstrap).await
}

async fn load_as(url: &str, args: &LoadArgs, credential: Credential) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    // Check the route answers what we think before timing it.
    let first: serde_json::Value = credential.apply(client.get(url)).send().await?.error_for_status()?.json().await?;
    anyhow::ensure!(first["items"].as_array().map(Vec::len) == Some(50), "the list route returns a full page");

    let warmup = Duration::from_secs((args.seconds / 5).max(1));
    let measure = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + measure;
    let url = Arc::new(url.to_owned());
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let client = client.clone();
        let url = url.clone();
        let credential = credential.clone();
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut requests, mut errors) = (0u64, 0u64);
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                let response = credential.apply(client.get(url.as_str())).send().await;
                let ok = match response {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if sent >= measure_from {
                    requests += 1;
                    if !ok {
                        errors += 1;
                    }
                    latency.saturating_record(sent.elapsed().as_micros() as u64);
                }
            }
            anyhow::Ok((requests, errors, latency))
        }));
    }
    let mut total = Report { requests: 0, errors: 0, elapsed: measure, latency: Histogram::new_with_bounds(1, 60_000_000, 3)? };
    for worker in workers {
        let (requests, errors, latency) = worker.await.context("a load worker panicked")??;
        total.requests += requests;
        total.errors += errors;
        total.latency.add(latency)?;
    }
    Ok(total)
}

const BENCH_PASSWORD: &str = "a benchmark passphrase of some length";

/// A security operator of the demo tenant, `bench@demo.example`, created by the bootstrap operator.
async fn create_bench_account(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let created = client
        .post(format!("{base}/api/v1/accounts"))
        .bearer_auth(TOKEN)
        .header("Gatehouse-Tenant", "demo")
        .json(&serde_json::json!({"email": "bench@demo.example", "password": BENCH_PASSWORD, "roles": [{"role": "security_operator"}]}))
        .send()
        .await?;
    anyhow::ensure!(created.status().as_u16() == 201, "account creation failed: {}", created.text().await?);
    Ok(())
}

fn login(args: LoginArgs) -> anyhow::Result<()> {
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (db, server) = start_server(&server_runtime, args.backend)?;
    let base = server.url("");
    let seconds = Duration::from_secs(args.seconds);

    let (logins, failures) = client_runtime.block_on(async {
        let client = reqwest::Client::new();
        create_bench_account(&client, &base).await?;
        let stop_at = Instant::now() + seconds;
        let mut workers = Vec::new();
        for _ in 0..args.connections {
            let client = client.clone();
            let url = format!("{base}/api/v1/auth/login");
            workers.push(tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < stop_at {
                    let body = serde_json::json!({"email": "bench@demo.example", "password": BENCH_PASSWORD});
                    match client.post(&url).json(&body).send().await {
                        Ok(response) if response.status().is_success() => ok += 1,
                        _ => failed += 1,
                    }
                }
                (ok, failed)
            }));
        }
        let (mut ok, mut failed) = (0, 0);
        for worker in workers {
            let (o, f) = worker.await?;
            ok += o;
            failed += f;
        }
        anyhow::Ok((ok, failed))
    })?;
    server_runtime.block_on(server.stop())?;

    // The same implementation and parameters, verifying on every core, nothing else running.
    let hasher = gatehouse::config::Config::build(&FlagValues::default(), &|_| None)?.password_hash.value;
    let raw = raw_argon2_verifications(hasher, seconds)?;
    let per_minute = |count: u64| count as f64 * 60.0 / seconds.as_secs_f64();
    println!(
        "login backend={:?} connections={} seconds={}: {:.0} logins/min ({} ok, {} failed); raw argon2id verify on {} threads: {:.0}/min; logins reach {:.1}% of raw",
        args.backend,
        args.connections,
        args.seconds,
        per_minute(logins),
        logins,
        failures,
        std::thread::available_parallelism().map_or(2, |n| n.get()),
        per_minute(raw),
        100.0 * logins as f64 / raw.max(1) as f64,
    );
    drop(db);
    Ok(())
}

/// The server's own verification (`passwords::verify_now`), on every core, nothing else running.
fn raw_argon2_verifications(params: gatehouse_services::identity::PasswordParams, seconds: Duration) -> anyhow::Result<u64> {
    let hasher = gatehouse_services::identity::PasswordHasher::new(params).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(hasher.hash(BENCH_PASSWORD))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stop_at = Instant::now() + seconds;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut count = 0u64;
                while Instant::now() < stop_at {
                    if gatehouse_services::identity::passwords::verify_now(BENCH_PASSWORD, &hash) {
                        count += 1;
                    }
                }
                count
            })
        })
        .collect();
    Ok(handles.into_iter().map(|h| h.join().unwrap_or(0)).sum())
}

fn auth_overhead(args: LoadArgs) -> anyhow::Result<()> {
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.server_threads).enable_all().build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (db, server, config) = start_server_with_config(&server_runtime, args.backend)?;
    // A second server on the same store, with authentication switched off.
    let open_base = server_runtime.block_on(async {
        let (state, _device_messages) = gatehouse::server::app_state(&config, server.store.clone()).await?;
        let tenant = server.store.tenant_get_by_slug("demo").await?;
        let app = gatehouse_api::router_without_authentication(state, tenant);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(
            async move { axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await },
        );
        anyhow::Ok(format!("http://{addr}"))
    })?;
    let base = server.url("");
    let access_token = client_runtime.block_on(async {
        let client = reqwest::Client::new();
        create_bench_account(&client, &base).await?;
        let tokens: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "bench@demo.example", "password": BENCH_PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        tokens["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("login failed: {tokens}"))
    })?;

    // Alternate the two, three rounds each, so drift in the machine's load hits both alike.
    let path = "/api/v1/people?limit=50";
    let mut totals = [
        (0u64, Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?),
        (0u64, Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?),
    ];
    let rounds = 3;
    for _ in 0..rounds {
        for (index, (url, credential)) in [
            (format!("{base}{path}"), Credential::Bearer(access_token.clone())),
            (format!("{open_base}{path}"), Credential::Anonymous),
        ]
        .into_iter()
        .enumerate()
        {
            let report = client_runtime.block_on(load_as(&url, &args, credential))?;
            anyhow::ensure!(report.errors == 0, "{} errors", report.errors);
            totals[index].0 += report.requests;
            totals[index].1.add(report.latency)?;
        }
    }
    let seconds = (rounds * args.seconds) as f64;
    let rate = |index: usize| totals[index].0 as f64 / seconds;
    let p99 = |index: usize| totals[index].1.value_at_quantile(0.99) as f64 / 1000.0;
    println!(
        "auth-overhead backend={:?} connections={} seconds={}x{rounds}: authenticated {:.0} requests/s (p99 {:.2} ms), unauthenticated {:.0} requests/s (p99 {:.2} ms): authentication costs {:.1}% of throughput",
        args.backend,
        args.connections,
        args.seconds,
        rate(0),
        p99(0),
        rate(1),
        p99(1),
        100.0 * (1.0 - rate(0) / rate(1)),
    );
    server_runtime.block_on(server.stop())?;
    drop(db);
    Ok(())
}
