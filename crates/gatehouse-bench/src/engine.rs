//! `engine`: Gatehouse's access decision engine in process, on one thread, next to the same
//! policy in cedar-policy and casbin when built with `--features peers`.
//!
//! Every engine decides the same pre-generated requests (see `community.rs`) in three passes:
//! a warm-up; a latency pass over every request, each call timed with `Instant` into an HDR
//! histogram in nanoseconds, whose answers are kept for the agreement check; and a throughput
//! pass that cycles through the requests for `--seconds` with no per-call timer. Gatehouse is
//! called through `Engine::decide` (snapshot load, door-state mutex, presence update on a grant);
//! the peers through their harness (credential lookup, wall clock, holidays) and authorizer.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse_access::{Direction, Engine, Presented, Reason, Request, Snapshot, Subject};
use hdrhistogram::Histogram;

use crate::community::thousands;
use crate::community::{BenchRequest, Community, Presentation, FACILITY};

#[derive(Debug, clap::Parser)]
pub struct EngineArgs {
    /// Measured seconds of the throughput pass, per engine.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Seed of the community and the requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Requests generated; every engine decides each of them once in the latency pass.
    #[arg(long, default_value_t = crate::community::REQUESTS_DEFAULT)]
    requests: usize,
}

/// What one engine did.
struct Measured {
    name: &'static str,
    decisions_per_s: f64,
    /// Nanoseconds per decision, timed one by one.
    latency: Histogram<u64>,
    /// Per request, in order: granted.
    granted: Vec<bool>,
    /// Per request, in order: nanoseconds the call took (saturating at `u32::MAX`).
    took_ns: Vec<u32>,
}

impl Measured {
    fn grants(&self) -> usize {
        self.granted.iter().filter(|&&granted| granted).count()
    }
}

fn gatehouse_request(request: &BenchRequest) -> Request<'_> {
    let presented = match &request.presented {
        Presentation::Card(number) => Presented::Card { facility: Some(FACILITY), number: *number },
        Presentation::Pin(pin) => Presented::Pin(pin),
        Presentation::Plate(plate) => Presented::Plate(plate),
        Presentation::Mobile(token) => Presented::Mobile(token),
    };
    Request { point: request.point, subject: Subject::Credential(presented), pin: None, direction: Direction::In, at: request.at }
}

const WARMUP: Duration = Duration::from_millis(500);
const WARMUP_DECISIONS_MAX: usize = 100_000;
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

fn measure(
    name: &'static str,
    requests: &[BenchRequest],
    seconds: u64,
    mut decide: impl FnMut(&BenchRequest) -> anyhow::Result<bool>,
) -> anyhow::Result<Measured> {
    anyhow::ensure!(!requests.is_empty(), "no requests");
    // Warm-up: caches, branch predictors, lazily built state.
    let started = Instant::now();
    for request in requests.iter().take(WARMUP_DECISIONS_MAX) {
        black_box(decide(black_box(request))?);
        if started.elapsed() >= WARMUP {
            break;
        }
    }

    // Latency: every request once, each call timed; the answers are kept for the agreement check.
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut granted = Vec::with_capacity(requests.len());
    let mut took_ns = Vec::with_capacity(requests.len());
    let started = Instant::now();
    let mut reported = started;
    for (index, request) in requests.iter().enumerate() {
        let sent = Instant::now();
        let answer = decide(black_box(request))?;
        let took = sent.elapsed();
        latency.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        granted.push(answer);
        took_ns.push(u32::try_from(took.as_nanos()).unwrap_or(u32::MAX));
        if index % 1_024 == 0 && reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            eprintln!("  {name}: latency pass {} of {} requests", thousands(index as f64), thousands(requests.len() as f64));
        }
    }
    eprintln!(
        "  {name}: latency pass over {} requests took {:.1} s",
        thousands(requests.len() as f64),
        started.elapsed().as_secs_f64()
    );

    // Throughput: cycle through the requests for `seconds`, reading the clock every 64 decisions only.
    let measure_for = Duration::from_secs(seconds);
    let mut decisions = 0u64;
    let mut grants = 0u64;
    let mut next = 0;
    let started = Instant::now();
    let elapsed = loop {
        for _ in 0..64 {
            grants += u64::from(decide(black_box(&requests[next]))?);
            next += 1;
            if next == requests.len() {
                next = 0;
            }
        }
        decisions += 64;
        let elapsed = started.elapsed();
        if elapsed >= measure_for {
            break elapsed;
        }
    };
    black_box(grants);
    let decisions_per_s = decisions as f64 / elapsed.as_secs_f64();
    eprintln!("  {name}: throughput pass {} decisions in {:.2} s", thousands(decisions as f64), elapsed.as_secs_f64());
    Ok(Measured { name, decisions_per_s, latency, granted, took_ns })
}

/// What two back-to-back `Instant::now()` calls cost: included in every per-call latency.
fn timer_overhead_ns() -> anyhow::Result<u64> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3)?;
    for _ in 0..200_000 {
        let sent = Instant::now();
        let took = black_box(sent).elapsed();
        histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(histogram.value_at_quantile(0.5))
}

/// Resident memory of this process, in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:").and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn duration_ns(nanos: u64) -> String {
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.2} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.2} ms", nanos as f64 / 1e6)
    }
}

fn ratio(ours: f64, theirs: f64) -> String {
    let ratio = ours / theirs;
    if ratio >= 100.0 {
        format!("{}x", thousands(ratio))
    } else {
        format!("{ratio:.1}x")
    }
}

/// The latency percentiles of one engine's calls, per kind of credential presented.
fn by_kind(requests: &[BenchRequest], measured: &Measured) -> anyhow::Result<String> {
    let kinds = ["card", "PIN", "plate", "mobile"];
    let mut histograms = Vec::new();
    for _ in kinds {
        histograms.push(Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?);
    }
    for (request, &took) in requests.iter().zip(&measured.took_ns) {
        let kind = match request.presented {
            Presentation::Card(_) => 0,
            Presentation::Pin(_) => 1,
            Presentation::Plate(_) => 2,
            Presentation::Mobile(_) => 3,
        };
        histograms[kind].saturating_record(u64::from(took));
    }
    Ok(kinds
        .iter()
        .zip(&histograms)
        .map(|(kind, histogram)| {
            format!(
                "{kind} {:.0}%: {} / {}",
                100.0 * histogram.len() as f64 / requests.len().max(1) as f64,
                duration_ns(histogram.value_at_quantile(0.5)),
                duration_ns(histogram.value_at_quantile(0.99))
            )
        })
        .collect::<Vec<_>>()
        .join(", "))
}

fn median(mut durations: Vec<Duration>) -> Duration {
    durations.sort_unstable();
    durations[durations.len() / 2]
}

pub fn run(args: EngineArgs) -> anyhow::Result<()> {
    let command = format!(
        "cargo run --release -p gatehouse-bench{} -- engine --seconds {} --seed {} --requests {}",
        if cfg!(feature = "peers") { " --features peers" } else { "" },
        args.seconds,
        args.seed,
        args.requests
    );
    eprintln!("generating the community and {} requests (seed {})…", thousands(args.requests as f64), args.seed);
    let community = Community::generate(args.seed)?;
    let requests = community.requests(args.seed, args.requests)?;
    let policy = &community.policy;

    // Compile: the first time with the memory it keeps, then the median of five.
    let rss_before = rss_kib();
    let started = Instant::now();
    let snapshot = Snapshot::compile(policy);
    let mut compile_times = vec![started.elapsed()];
    let snapshot_kib = rss_kib().saturating_sub(rss_before);
    for _ in 0..4 {
        let started = Instant::now();
        black_box(Snapshot::compile(black_box(policy)));
        compile_times.push(started.elapsed());
    }
    let compile_time = median(compile_times);
    let engine = Engine::new(snapshot);
    let timer_ns = timer_overhead_ns()?;

    let mut results = Vec::new();
    eprintln!("gatehouse…");
    results.push(measure("Gatehouse", &requests, args.seconds, |request| {
        engine.decide(&gatehouse_request(request)).map(|outcome| outcome.granted).context("the access point is not in the tenant")
    })?);

    #[cfg_attr(not(feature = "peers"), allow(unused_mut))]
    let mut peer_builds: Vec<String> = Vec::new();
    #[cfg(feature = "peers")]
    {
        use crate::peers::{casbin::Casbin, cedar::Cedar, Harness};
        eprintln!("cedar-policy…");
        let rss_before = rss_kib();
        let started = Instant::now();
        let cedar = Cedar::build(policy, Harness::new(policy)?)?;
        peer_builds.push(format!(
            "cedar-policy: {} policies, entities and policies built in {:.0} ms, ≈ {}",
            cedar.policy_count,
            started.elapsed().as_secs_f64() * 1e3,
            mib(rss_kib().saturating_sub(rss_before))
        ));
        results.push(measure("cedar-policy 4", &requests, args.seconds, |request| cedar.decide(request))?);
        drop(cedar);

        eprintln!("casbin…");
        let rss_before = rss_kib();
        let started = Instant::now();
        let casbin = Casbin::build(policy, Harness::new(policy)?)?;
        peer_builds.push(format!(
            "casbin: {} p rows, {} g/g2 rows, role depth {}, enforcer built in {:.0} ms, ≈ {}",
            thousands(casbin.policy_rows as f64),
            thousands(casbin.link_rows as f64),
            casbin.max_depth,
            started.elapsed().as_secs_f64() * 1e3,
            mib(rss_kib().saturating_sub(rss_before))
        ));
        results.push(measure("casbin 2", &requests, args.seconds, |request| casbin.decide(request))?);
    }

    // Why Gatehouse decided as it did (explain: the same answer, untimed, changing nothing).
    let mut reasons: HashMap<Reason, usize> = HashMap::new();
    for request in &requests {
        let outcome = engine.explain(&gatehouse_request(request)).context("the access point is not in the tenant")?;
        *reasons.entry(outcome.reason).or_default() += 1;
    }
    let mut reasons: Vec<(Reason, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));

    // Agreement: every peer's answer against Gatehouse's, on every request.
    let gatehouse = &results[0];
    let mut disagreements = Vec::new();
    for peer in &results[1..] {
        let differing: Vec<usize> =
            (0..requests.len()).filter(|&index| peer.granted[index] != gatehouse.granted[index]).collect();
        disagreements.push((peer.name, differing));
    }

    // The report.
    let count = requests.len() as f64;
    println!();
    println!("engine benchmark: `{command}` ({} requests, seed {})", thousands(count), args.seed);
    println!("community: {}", community.summary);
    println!(
        "conditions: one thread; requests mostly cards at random doors (3 in 4 covered by one of the holder's levels), going in, \
         at random seconds of the week of Monday 2026-12-21 (Europe/Madrid, holidays 24, 25 and 26 December); \
         zones without anti-passback or occupancy limits (presence still updated on every grant), door modes normal, no lockdown"
    );
    println!(
        "policy compile (Snapshot::compile): {:.1} ms (median of 5); snapshot ≈ {} (RSS growth over the first compile, an upper bound)",
        compile_time.as_secs_f64() * 1e3,
        mib(snapshot_kib)
    );
    for line in &peer_builds {
        println!("{line}");
    }
    println!("Gatehouse's latency by credential kind (share of requests: p50 / p99): {}", by_kind(&requests, &results[0])?);
    println!("per-call timer overhead ≈ {} (included in the latencies, not in decisions/s)", duration_ns(timer_ns));
    println!(
        "Gatehouse's reasons: {}",
        reasons
            .iter()
            .map(|(reason, n)| format!("{} {:.1}%", reason.as_str(), 100.0 * *n as f64 / count))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("| engine | decisions/s (1 core) | p50 | p99 | p999 | grants % | x vs peers |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (index, result) in results.iter().enumerate() {
        let versus = if index == 0 {
            let peers: Vec<String> = results[1..]
                .iter()
                .map(|peer| format!("{} vs {}", ratio(gatehouse.decisions_per_s, peer.decisions_per_s), peer.name))
                .collect();
            if peers.is_empty() {
                "(peers not built: --features peers)".to_owned()
            } else {
                peers.join(", ")
            }
        } else {
            format!("Gatehouse is {} faster", ratio(gatehouse.decisions_per_s, result.decisions_per_s))
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.2} % | {} |",
            result.name,
            thousands(result.decisions_per_s),
            duration_ns(result.latency.value_at_quantile(0.50)),
            duration_ns(result.latency.value_at_quantile(0.99)),
            duration_ns(result.latency.value_at_quantile(0.999)),
            100.0 * result.grants() as f64 / count,
            versus
        );
    }
    println!();

    let p99 = gatehouse.latency.value_at_quantile(0.99);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let mut goals = vec![
        format!(
            ">= 1,000,000 decisions/s on one core: {} ({})",
            verdict(gatehouse.decisions_per_s >= 1e6),
            thousands(gatehouse.decisions_per_s)
        ),
        format!("p99 < 10 µs: {} ({})", verdict(p99 < 10_000), duration_ns(p99)),
    ];
    if results.len() > 1 {
        let slowest_ratio =
            results[1..].iter().map(|peer| gatehouse.decisions_per_s / peer.decisions_per_s).fold(f64::INFINITY, f64::min);
        goals.push(format!(">= 10x each peer: {} (at least {})", verdict(slowest_ratio >= 10.0), ratio(slowest_ratio, 1.0)));
    } else {
        goals.push(">= 10x each peer: not measured (build with --features peers)".to_owned());
    }
    println!("goals: {}", goals.join("; "));

    let total: usize = disagreements.iter().map(|(_, differing)| differing.len()).sum();
    if results.len() > 1 {
        println!(
            "agreement on granted/denied over all {} requests: {} disagreements ({})",
            thousands(count),
            total,
            disagreements.iter().map(|(name, differing)| format!("{name} {}", differing.len())).collect::<Vec<_>>().join(", ")
        );
    }
    if total > 0 {
        let snapshot = engine.snapshot();
        for (name, differing) in &disagreements {
            for &index in differing.iter().take(10) {
                let request = &requests[index];
                let outcome = engine.explain(&gatehouse_request(request)).context("the access point is not in the tenant")?;
                let level = outcome.rule.access_level_id.and_then(|id| snapshot.level_name(id));
                let schedule = outcome.rule.schedule_id.and_then(|id| snapshot.schedule_name(id));
                println!(
                    "  {name} disagrees on request {index}: {:?} at point {} at {} (local {}): Gatehouse {} ({}; level {}, schedule {})",
                    request.presented,
                    request.point,
                    request.at,
                    request.at.with_timezone(&community.time_zone),
                    if outcome.granted { "grants" } else { "refuses" },
                    outcome.reason.as_str(),
                    level.map_or("-", |name| name.as_str()),
                    schedule.map_or("-", |name| name.as_str()),
                );
            }
        }
        anyhow::bail!("{total} disagreements between Gatehouse and its peers");
    }
    Ok(())
}
