//! `wrk-seed`: the decide benchmark's community written into a data directory (or database)
//! that the `gatehouse` binary then serves as a user runs it, and the decision bodies an
//! independent load generator sends (`wrk/decide.lua`, one JSON body per line, round-robin).
//!
//! ```text
//! cargo build --release                                                   # the shipped binary
//! cargo run --release -p gatehouse-bench -- wrk-seed --data-dir /tmp/gh-wrk
//! GATEHOUSE_BOOTSTRAP_TOKEN=ghb_… target/release/gatehouse serve --data-dir /tmp/gh-wrk
//! GATEHOUSE_BOOTSTRAP_TOKEN=ghb_… wrk -t2 -c64 -d20s --latency -s crates/gatehouse-bench/wrk/decide.lua \
//!     http://127.0.0.1:8080 -- /tmp/gh-wrk/wrk-bodies.txt
//! ```
//!
//! `crates/gatehouse-bench/wrk/run.sh` does all of it, twice, and checks the chain at the end.
//! The seed goes through the store (as `decide` does, each record its own audited transaction);
//! the server reads the tenant's policy on its first decision, and follows changes written by
//! another process anyway, so it may be started before or after.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use gatehouse::config::{Config, FlagValues};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::tenancy::NewTenant;
use gatehouse_domain::values::{Name, Slug};

use crate::community::Community;

/// The file of decision bodies written into the data directory.
pub const BODIES_FILE: &str = "wrk-bodies.txt";

#[derive(Debug, Parser)]
pub struct WrkSeedArgs {
    /// The data directory the server will use (its SQLite database unless --database-url).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The server's database, as `gatehouse serve --database-url` takes it [env: GATEHOUSE_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The slug of the tenant created for the benchmark (sent as `Gatehouse-Tenant`).
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// Seed of the generated community and its requests (the decide benchmark's default).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Requests generated; the PIN requests among them are left out (about 4 %).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
}

pub fn run(args: WrkSeedArgs) -> anyhow::Result<()> {
    let flags =
        FlagValues { data_dir: Some(args.data_dir.clone()), database_url: args.database_url.clone(), ..FlagValues::default() };
    // The server's own configuration rules, from the same environment it will read.
    let config = Config::build(&flags, &|name: &str| std::env::var(name).ok())?;
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let community = Community::generate(args.seed)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let points = runtime.block_on(async {
        let store = gatehouse::server::open_store(&config).await?;
        anyhow::ensure!(
            store.tenant_get_by_slug(&args.tenant).await.is_err(),
            "the tenant {:?} exists already in {}: seed a fresh data directory",
            args.tenant,
            config.database_url.value.masked()
        );
        let change = ChangeContext::system("benchmark", chrono::Utc::now());
        let tenant =
            store.tenant_create(&NewTenant { name: Name::parse("Bench")?, slug: Slug::parse(&args.tenant)? }, &change).await?;
        let seeded = crate::seed::seed(store.clone(), tenant.id, &community).await?;
        store.close().await;
        anyhow::Ok(seeded.points)
    })?;
    let bodies = crate::decide_http::decision_bodies(&community, args.seed, args.requests, &points)?;
    let path = args.data_dir.join(BODIES_FILE);
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?);
    for body in &bodies {
        file.write_all(body)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    let dir = args.data_dir.display();
    println!("{} decision bodies in {}", bodies.len(), path.display());
    println!("tenant {:?} in {}", args.tenant, config.database_url.value.masked());
    println!();
    println!("export GATEHOUSE_BOOTSTRAP_TOKEN=ghb_$(head -c 24 /dev/urandom | base64 | tr -d '+/=')");
    println!("target/release/gatehouse serve --data-dir {dir} &");
    println!(
        "wrk -t2 -c64 -d20s --latency -s crates/gatehouse-bench/wrk/decide.lua http://127.0.0.1:8080 -- {} {}",
        path.display(),
        args.tenant
    );
    Ok(())
}
