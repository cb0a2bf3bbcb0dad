//! `decide`: `POST /api/v1/access/decide` over real HTTP with durable logging.
//!
//! The generated community is written into a fresh database through the store
//! (as the API would write it), the server starts on its own two-thread
//! runtime, and a one-thread client runtime keeps `--connections` decisions in
//! flight, each on its own keep-alive connection of the lean client in
//! `raw_http.rs`. Every answered decision is in the access log, durable, before its
//! answer: the run ends by verifying the tenant's whole chain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::tenancy::NewTenant;
use gatehouse_domain::values::{Name, Slug};
use gatehouse_domain::AccessPointId;
use hdrhistogram::Histogram;

use crate::community::{Community, Presentation, FACILITY};
use crate::{raw_http, Backend, TOKEN};

#[derive(Debug, Parser)]
pub struct DecideArgs {
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Measured seconds (after a warm-up of a fifth of that, at least one second).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Decisions kept in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seed of the generated community and its requests.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads of the server's runtime (the binary's default: one per core).
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

pub fn run(args: DecideArgs) -> anyhow::Result<()> {
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(args.server_threads).enable_all().build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let community = Community::generate(args.seed)?;
    let (db, server, points) = server_runtime.block_on(async {
        let (db, server, _) = crate::launch(args.backend, &[]).await?;
        let change = ChangeContext::system("benchmark", chrono::Utc::now());
        let tenant =
            server.store.tenant_create(&NewTenant { name: Name::parse("Bench")?, slug: Slug::parse("bench")? }, &change).await?;
        let seeded = crate::seed::seed(server.store.clone(), tenant.id, &community).await?;
        anyhow::Ok((db, server, seeded.points))
    })?;

    let bodies = decision_bodies(&community, args.seed, 200_000, &points)?;
    let url = server.url("/api/v1/access/decide");
    let base = server.url("");
    let headers = [
        ("authorization", format!("Bearer {TOKEN}")),
        ("gatehouse-tenant", "bench".to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let requests: Vec<Vec<u8>> =
        bodies.iter().map(|body| raw_http::request("POST", "/api/v1/access/decide", server.addr, &headers, body)).collect();

    let report = client_runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
        let post = |body: Vec<u8>| {
            client
                .post(&url)
                .bearer_auth(TOKEN)
                .header("Gatehouse-Tenant", "bench")
                .header("content-type", "application/json")
                .body(body)
        };
        // The first decision loads and compiles the tenant's policy.
        let loading = Instant::now();
        let first = post(bodies[0].clone()).send().await?;
        let server_addr = server.addr;
        anyhow::ensure!(first.status().is_success(), "decide failed: {}", first.text().await?);
        eprintln!("first decision (policy load and compile included): {:.0} ms", loading.elapsed().as_secs_f64() * 1e3);

        let warmup = Duration::from_secs((args.seconds / 5).max(1));
        let measure_from = Instant::now() + warmup;
        let stop_at = measure_from + Duration::from_secs(args.seconds);
        let requests = Arc::new(requests);
        let mut workers = Vec::new();
        for worker in 0..args.connections {
            let requests = requests.clone();
            let mut connection = raw_http::Connection::open(server.addr).await?;
            workers.push(tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let (mut ok, mut errors, mut next) = (0u64, 0u64, worker * 997);
                loop {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        break;
                    }
                    next = (next + args.connections) % requests.len();
                    // An answer counts when it is a decision: 200 and a body that names it.
                    let answered = match connection.exchange(&requests[next]).await {
                        Ok(answer) => answer.status == 200 && answer.body.starts_with(b"{\"decision_id\""),
                        Err(err) => {
                            eprintln!("connection {worker}: {err:#}");
                            connection = raw_http::Connection::open(server_addr).await?;
                            false
                        }
                    };
                    if sent >= measure_from {
                        if answered {
                            ok += 1;
                        } else {
                            errors += 1;
                        }
                        latency.saturating_record(sent.elapsed().as_micros() as u64);
                    }
                }
                anyhow::Ok((ok, errors, latency))
            }));
        }
        // Where the CPU went during the measured window: this process (server and load client), PostgreSQL, idle.
        let cpu = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = CpuSample::now();
            tokio::time::sleep_until(stop_at.into()).await;
            CpuSample::now().since(&before)
        });
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let (mut ok, mut errors) = (0u64, 0u64);
        for worker in workers {
            let (o, e, l) = worker.await.context("a load worker panicked")??;
            ok += o;
            errors += e;
            latency.add(l)?;
        }
        let verify_started = Instant::now();
        let verified: serde_json::Value = client
            .get(format!("{base}/api/v1/access/log/verify"))
            .bearer_auth(TOKEN)
            .header("Gatehouse-Tenant", "bench")
            .send()
            .await?
            .json()
            .await?;
        let verify_seconds = verify_started.elapsed().as_secs_f64();
        let metrics = client.get(format!("{base}/metrics")).send().await?.text().await?;
        let cpu = cpu.await?;
        anyhow::Ok((ok, errors, latency, verified, verify_seconds, metrics, cpu))
    })?;
    let (ok, errors, latency, verified, verify_seconds, metrics, cpu) = report;
    let metric = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse::<f64>().ok()))
            .unwrap_or(f64::NAN)
    };
    let batches = metric("gatehouse_access_log_batch_entries_count");
    let entries = metric("gatehouse_access_log_batch_entries_sum");
    println!(
        "decide backend={:?} connections={} seconds={} seed={}: {:.0} decisions/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} answered, {} errors); {:.1} entries per commit; chain {} ({} entries, verified in {:.2} s)",
        args.backend,
        args.connections,
        args.seconds,
        args.seed,
        ok as f64 / args.seconds as f64,
        latency.value_at_quantile(0.50) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.value_at_quantile(0.999) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
        ok,
        errors,
        entries / batches,
        if verified["valid"] == true { "intact" } else { "BROKEN" },
        verified["entries"],
        verify_seconds,
    );
    let per_decision = |seconds: f64| seconds * 1e6 / ok.max(1) as f64;
    let commit_ms = |quantile: &str| metric(&format!("gatehouse_access_log_commit_seconds{{quantile=\"{quantile}\"}}")) * 1e3;
    println!(
        "access-log commits: {:.0} in all, {:.2} ms each on average, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (sealing, writing and the durable commit)",
        batches,
        metric("gatehouse_access_log_commit_seconds_sum") * 1e3 / metric("gatehouse_access_log_commit_seconds_count"),
        commit_ms("0.5"),
        commit_ms("0.99"),
        commit_ms("1"),
    );
    println!(
        "CPU per decision: {:.1} µs in this process (server and load client), {:.1} µs in PostgreSQL; machine idle {:.0} %",
        per_decision(cpu.process_seconds),
        per_decision(cpu.postgres_seconds),
        cpu.idle_share * 100.0,
    );
    server_runtime.block_on(server.stop())?;
    drop(db);
    anyhow::ensure!(verified["valid"] == true, "the access log does not verify: {verified}");
    Ok(())
}

/// `count` decision bodies as a reader would send them, at "now" (the decide route accepts
/// only the present), against the stored access points; PINs are keyed per tenant and master
/// key, so the community's PIN requests are left out. Each body is one line of JSON.
pub fn decision_bodies(
    community: &Community,
    seed: u64,
    count: usize,
    points: &HashMap<AccessPointId, AccessPointId>,
) -> anyhow::Result<Vec<Vec<u8>>> {
    Ok(community
        .requests(seed, count)?
        .into_iter()
        .filter_map(|request| {
            let credential = match request.presented {
                Presentation::Card(number) => {
                    serde_json::json!({"kind": "card", "value": number.to_string(), "facility_code": FACILITY})
                }
                Presentation::Plate(plate) => serde_json::json!({"kind": "plate", "value": plate}),
                Presentation::Mobile(token) => serde_json::json!({"kind": "mobile", "value": token}),
                Presentation::Pin(_) => return None,
            };
            let point = points.get(&request.point)?;
            let body = serde_json::json!({"access_point_id": point, "credential": credential, "direction": "in"});
            serde_json::to_vec(&body).ok()
        })
        .collect())
}

/// CPU seconds used so far by this process and by every `postgres` process, and the machine's idle and total ticks.
struct CpuSample {
    process_seconds: f64,
    postgres_seconds: f64,
    idle_ticks: u64,
    total_ticks: u64,
}

/// The difference of two samples: seconds used in between, and the machine's idle share.
struct CpuUsed {
    process_seconds: f64,
    postgres_seconds: f64,
    idle_share: f64,
}

impl CpuSample {
    fn now() -> CpuSample {
        let postgres_seconds = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
            .filter(|stat| stat.contains("(postgres)"))
            .map(|stat| process_seconds(&stat))
            .sum();
        let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> =
            machine.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
        CpuSample {
            process_seconds: process_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()),
            postgres_seconds,
            // idle and iowait
            idle_ticks: ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0),
            total_ticks: ticks.iter().sum(),
        }
    }

    fn since(&self, before: &CpuSample) -> CpuUsed {
        let total = self.total_ticks.saturating_sub(before.total_ticks).max(1) as f64;
        CpuUsed {
            process_seconds: self.process_seconds - before.process_seconds,
            postgres_seconds: self.postgres_seconds - before.postgres_seconds,
            idle_share: self.idle_ticks.saturating_sub(before.idle_ticks) as f64 / total,
        }
    }
}

/// User and system time of a `/proc/<pid>/stat` line, in seconds (at the kernel's 100 ticks a second).
fn process_seconds(stat: &str) -> f64 {
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |index: usize| fields.get(index).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}
