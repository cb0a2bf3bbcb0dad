//! `gatehouse-bench`: load against a real Gatehouse server over HTTP on loopback.
//!
//! ```text
//! cargo run --release -p gatehouse-bench -- list-route [--backend sqlite|postgres] [--seconds 10] [--connections 32]
//! ```
//!
//! The server runs in this process on its own Tokio runtime (two workers, as on
//! the 2-core target machine), on a fresh database with the demo tenant loaded;
//! the load generator runs on a separate runtime and keeps `--connections`
//! requests in flight. Latency is recorded per request in an HDR histogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use gatehouse::config::{Config, FlagValues};
use gatehouse::server::RunningServer;
use gatehouse_testkit::{TestBackend, TestDatabase};
use hdrhistogram::Histogram;

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
    let Cli { bench: Bench::ListRoute(args) } = Cli::parse();
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.server_threads).enable_all().build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;

    let backend = match args.backend {
        Backend::Sqlite => TestBackend::Sqlite,
        Backend::Postgres => TestBackend::Postgres,
    };
    let db = server_runtime.block_on(TestDatabase::new(backend));
    let server = server_runtime.block_on(async {
        let flags =
            FlagValues { listen: Some("127.0.0.1:0".into()), database_url: Some(db.url_string()), ..FlagValues::default() };
        // The token is the benchmark's own; other settings (pool size, limits) may come from the environment.
        let env = |name: &str| match name {
            "GATEHOUSE_BOOTSTRAP_TOKEN" => Some(TOKEN.to_owned()),
            "GATEHOUSE_MASTER_KEY" => Some(MASTER_KEY.to_owned()),
            _ => std::env::var(name).ok(),
        };
        let config = Config::build(&flags, &env)?;
        let server = RunningServer::start(config).await?;
        gatehouse::demo::load(server.store.as_ref()).await?;
        anyhow::Ok(server)
    })?;
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

async fn load(url: &str, args: &LoadArgs) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    // Check the route answers what we think before timing it.
    let first: serde_json::Value =
        client.get(url).bearer_auth(TOKEN).header("Gatehouse-Tenant", "demo").send().await?.error_for_status()?.json().await?;
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
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut requests, mut errors) = (0u64, 0u64);
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                let response = client.get(url.as_str()).bearer_auth(TOKEN).header("Gatehouse-Tenant", "demo").send().await;
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
