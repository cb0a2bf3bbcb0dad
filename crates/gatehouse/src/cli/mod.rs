//! The `gatehouse` command line.

mod credentials;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use gatehouse_api::bootstrap::rotate_bootstrap_token;
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::TenantId;
use gatehouse_services::people_import::{import_people, ImportError, ImportProgress};
use gatehouse_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, FlagValues, LogFormat};
use crate::{demo, logging, server};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "Multi-tenant physical access control and building operations")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file [env: GATEHOUSE_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database and other state [env: GATEHOUSE_DATA_DIR] [default: ./gatehouse-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [env: GATEHOUSE_DATABASE_URL] [default: sqlite://DATA_DIR/gatehouse.db]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log line format: human or json [env: GATEHOUSE_LOG_FORMAT] [default: human]
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform: HTTP API, docs and metrics.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Platform administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check the access log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Simulate MQTT controllers, readers and sensors against a running Gatehouse.
    Simulate(crate::simulate::SimulateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check each tenant's access-log hash chain end to end and name the first entry that was
    /// changed, removed or inserted. Exits 1 if any chain is broken.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this tenant (slug or id); every tenant with a log otherwise.
    #[arg(long)]
    pub tenant: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address [env: GATEHOUSE_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Also load the demo tenant (once; later starts leave it as it is).
    #[arg(long)]
    pub demo: bool,
    /// Address of the embedded MQTT broker [env: GATEHOUSE_MQTT_LISTEN] [default: 127.0.0.1:1883]
    #[arg(long, value_name = "ADDR")]
    pub mqtt_listen: Option<String>,
    /// Use this broker instead of the embedded one: mqtt://[user:password@]host[:port] [env: GATEHOUSE_MQTT_URL]
    #[arg(long, value_name = "URL", conflicts_with = "mqtt_listen")]
    pub mqtt_url: Option<String>,
    /// PEM certificate chain: the embedded broker speaks MQTT over TLS [env: GATEHOUSE_MQTT_TLS_CERT]
    #[arg(long, value_name = "FILE", requires = "mqtt_tls_key")]
    pub mqtt_tls_cert: Option<PathBuf>,
    /// PEM private key for --mqtt-tls-cert [env: GATEHOUSE_MQTT_TLS_KEY]
    #[arg(long, value_name = "FILE", requires = "mqtt_tls_cert")]
    pub mqtt_tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked, with where each value came from.
    Print,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import people from a CSV file: all rows or none, unless --skip-invalid.
    People(ImportPeopleArgs),
}

#[derive(Debug, Args)]
pub struct ImportPeopleArgs {
    /// The CSV file (columns: kind, first_name, last_name, email, phone, unit_id or unit, external_id, status, metadata).
    pub file: PathBuf,
    /// The tenant's slug or id.
    #[arg(long)]
    pub tenant: String,
    /// Import the valid rows and report the invalid ones, instead of importing nothing.
    #[arg(long)]
    pub skip_invalid: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Replace the bootstrap operator token and print the new one (once).
    RotateBootstrapToken,
    /// Create an account with a role in a tenant (the first admin of a tenant, say).
    Create(CreateAccountArgs),
    /// Make a new token signing key; the old one stays published until its tokens expire.
    RotateSigningKey,
    /// Set a credential's status (suspend a lost badge, say) without the API.
    SetCredentialStatus(credentials::CredentialStatusArgs),
}

#[derive(Debug, Args)]
pub struct CreateAccountArgs {
    /// The tenant's slug or id.
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub email: String,
    /// A built-in role: tenant_admin, site_manager, security_supervisor, security_operator, ...
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Read the password from the first line of standard input (it is never a flag).
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// Parses the command line, runs the command and turns failures into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut flags = FlagValues {
        config: cli.global.config.clone(),
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
        log_format: cli.global.log_format.clone(),
        ..FlagValues::default()
    };
    if let Command::Serve(args) = &cli.command {
        flags.listen = args.listen.clone();
        flags.mqtt_listen = args.mqtt_listen.clone();
        flags.mqtt_url = args.mqtt_url.clone();
        flags.mqtt_tls_cert = args.mqtt_tls_cert.clone();
        flags.mqtt_tls_key = args.mqtt_tls_key.clone();
    }
    let config = match Config::load(&flags) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gatehouse: {err}");
            return ExitCode::from(2);
        }
    };
    logging::init(config.log_format.value);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gatehouse: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(err) => {
            if config_log_is_json(&flags) {
                tracing::error!(error = %format!("{err:#}"), "gatehouse stopped");
            }
            eprintln!("gatehouse: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_log_is_json(flags: &FlagValues) -> bool {
    Config::load(flags).map(|c| c.log_format.value == LogFormat::Json).unwrap_or(false)
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(config, args.demo).await,
        Command::Migrate => {
            let store = gatehouse_store::open(
                &config.database_url.value,
                gatehouse_store::OpenOptions { max_connections: 1, migrate: false },
            )
            .await
            .with_context(|| format!("cannot open the database {}", config.database_url.value.masked()))?;
            let applied = store.migrate().await.context("migration failed")?;
            store.close().await;
            println!("applied {applied} migration(s); {} is up to date", config.database_url.value.masked());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Print) => {
            print!("{}", config.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::People(args)) => import_people_command(config, args).await,
        Command::Admin(AdminCommand::Create(args)) => create_account_command(config, args).await,
        Command::Admin(AdminCommand::SetCredentialStatus(args)) => credentials::set_credential_status_command(config, args).await,
        Command::Audit(AuditCommand::Verify(args)) => verify_command(config, args).await,
        Command::Simulate(args) => crate::simulate::command(args).await,
        Command::Admin(AdminCommand::RotateSigningKey) => {
            let store = server::open_store(&config).await?;
            let identity = server::identity(&config, store.as_ref()).await?;
            let kid = identity
                .keys
                .rotate(store.as_ref(), &ChangeContext::system("gatehouse admin rotate-signing-key", Utc::now()))
                .await
                .map_err(|reason| anyhow::anyhow!(reason))?;
            store.close().await;
            println!("new signing key {kid}; running servers sign with it within 30 seconds, and the old key stays published until its tokens expire");
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(AdminCommand::RotateBootstrapToken) => {
            if let Some(configured) = &config.bootstrap_token {
                anyhow::bail!(
                    "the bootstrap token is configured ({}) and would replace a rotated one at the next start; change it there instead",
                    configured.source
                );
            }
            let store = server::open_store(&config).await?;
            let token = rotate_bootstrap_token(store.as_ref(), Utc::now()).await?;
            store.close().await;
            println!("New bootstrap operator token (shown once; the old one stops working within seconds):\n\n    {token}\n");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    let shutdown = server::shutdown_signal()?;
    let listener = server::bind(config.listen.value).await?;
    server::check_mqtt_port(&config)?;
    let prepared = server::prepare(&config).await?;
    if let Some(token) = &prepared.generated_token {
        // Straight to the terminal, never through the log pipeline.
        println!(
            "\nBootstrap operator token (shown once, stored only as a hash; keep it safe):\n\n    {token}\n\n\
             Use it as 'Authorization: Bearer <token>'. Replace it with `gatehouse admin rotate-bootstrap-token`.\n"
        );
    }
    // The MQTT broker binds here: a taken port stops the start before the demo loads or anything
    // says "listening". (Engines load each tenant's policy on first use, so the demo loaded next is seen.)
    let (state, device_messages) = server::app_state(&config, prepared.store.clone()).await?;
    if demo {
        match demo::load(prepared.store.as_ref()).await? {
            demo::DemoOutcome::AlreadyLoaded(tenant) => tracing::info!(%tenant, "demo tenant already loaded"),
            demo::DemoOutcome::Incomplete(tenant) => tracing::warn!(
                %tenant,
                "the demo tenant exists but an earlier load stopped part-way; archive it or start from an empty data directory to reload it"
            ),
            demo::DemoOutcome::Loaded { tenant, sites, zones, units, access_points, people } => {
                tracing::info!(%tenant, sites, zones, units, access_points, people, "demo tenant loaded")
            }
        }
    }
    let addr = listener.local_addr()?;
    tracing::info!(
        backend = prepared.store.backend().as_str(),
        database = %config.database_url.value.masked(),
        mqtt = %state.devices.broker.as_ref().map_or_else(|| "external broker".to_owned(), |broker| format!("mqtt://{}", broker.local_addr())),
        "Gatehouse listening on http://{addr} (API docs at http://{addr}/docs)"
    );
    server::serve_state(&config, state, device_messages, listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

struct BarProgress(ProgressBar);

impl ImportProgress for BarProgress {
    fn validated(&self, rows: usize) {
        self.0.set_length(rows as u64);
        self.0.set_message("writing");
    }
    fn written(&self, rows: usize) {
        self.0.set_position(rows as u64);
    }
}

async fn import_people_command(config: Config, args: ImportPeopleArgs) -> anyhow::Result<ExitCode> {
    let csv = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let store = server::open_store(&config).await?;
    let tenant = find_tenant(store.as_ref(), &args.tenant).await?;

    let bar = ProgressBar::new(0).with_message("validating");
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:10} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let change = ChangeContext::system(&format!("gatehouse import people {}", args.file.display()), Utc::now());
    let outcome = import_people(store.as_ref(), tenant, &csv, args.skip_invalid, &change, &BarProgress(bar.clone())).await;
    bar.finish_and_clear();
    store.close().await;

    match outcome {
        Ok(report) => {
            for error in &report.errors {
                eprintln!(
                    "line {}: {}{}",
                    error.line,
                    error.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default(),
                    error.message
                );
            }
            println!("imported {} of {} row(s); skipped {}", report.imported, report.total_rows, report.skipped);
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Invalid(errors)) => {
            for error in &errors {
                eprintln!(
                    "line {}: {}{}",
                    error.line,
                    error.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default(),
                    error.message
                );
            }
            eprintln!("{} problem(s) found; nothing was imported (use --skip-invalid to import the valid rows)", errors.len());
            Ok(ExitCode::FAILURE)
        }
        Err(ImportError::Store(err)) => Err(err).context("the import failed; nothing was imported"),
    }
}

async fn verify_command(config: Config, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = server::open_store(&config).await?;
    let master = server::master_key(&config)?;
    let tenants = match &args.tenant {
        Some(tenant) => vec![find_tenant(store.as_ref(), tenant).await?],
        None => store.access_log_tenants().await?,
    };
    let mut broken = 0;
    for tenant in tenants {
        let name = store.tenant_get(tenant).await.map(|tenant| tenant.slug.to_string()).unwrap_or_else(|_| tenant.to_string());
        let verdict = gatehouse_services::access::verify::verify_chain(store.as_ref(), master.chain_key(tenant), tenant).await?;
        match &verdict.first_break {
            None => println!("{name}: {} entries, chain intact (last seq {})", verdict.entries, verdict.head_seq),
            Some(found) => {
                broken += 1;
                let entry = found.id.map(|id| format!("entry {id}")).unwrap_or_else(|| "no entry".to_owned());
                let what = match found.problem {
                    gatehouse_access::chain::Break::Changed => "changed: its fields no longer match its hash",
                    gatehouse_access::chain::Break::Unlinked => {
                        "does not follow the entry before it: inserted, or the one before was removed"
                    }
                    gatehouse_access::chain::Break::Missing => "missing: entries were removed here",
                };
                println!("{name}: BROKEN at seq {} ({entry}): {what}; {} entries read", found.seq, verdict.entries);
            }
        }
    }
    store.close().await;
    Ok(if broken == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn find_tenant(store: &dyn Store, id_or_slug: &str) -> anyhow::Result<TenantId> {
    match gatehouse_store::find_tenant(store, id_or_slug).await {
        Ok(tenant) => Ok(tenant.id),
        Err(gatehouse_store::StoreError::NotFound) => anyhow::bail!("no tenant '{id_or_slug}'"),
        Err(err) => Err(err.into()),
    }
}

async fn create_account_command(config: Config, args: CreateAccountArgs) -> anyhow::Result<ExitCode> {
    use gatehouse_domain::authz::{BuiltinRole, Scope};
    use gatehouse_domain::identity::{check_password_policy, Password, RoleAssignment};
    use gatehouse_domain::values::{Email, Name};

    let email = Email::parse(&args.email).map_err(|err| anyhow::anyhow!("--email: {}", err.message))?;
    let display_name = args
        .display_name
        .as_deref()
        .map(Name::parse)
        .transpose()
        .map_err(|err| anyhow::anyhow!("--display-name: {}", err.message))?;
    let role = BuiltinRole::parse(&args.role).ok_or_else(|| {
        let names: Vec<&str> = BuiltinRole::ALL.iter().map(|role| role.name()).collect();
        anyhow::anyhow!("--role: '{}' is not one of {}", args.role, names.join(", "))
    })?;
    if role.is_platform() {
        anyhow::bail!("--role: {} is a platform role and cannot be given inside a tenant", role.name());
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = Password::new(line.trim_end_matches(['\r', '\n']).to_owned());
    check_password_policy(&password, &email, display_name.as_ref())
        .map_err(|err| anyhow::anyhow!("password: {}", err.message))?;

    let store = server::open_store(&config).await?;
    let tenant = find_tenant(store.as_ref(), &args.tenant).await?;
    let hasher = gatehouse_services::identity::PasswordHasher::new(config.password_hash.value)
        .map_err(|reason| anyhow::anyhow!(reason))?;
    let password_hash = hasher.hash(password.expose()).await.map_err(|reason| anyhow::anyhow!(reason))?;
    let roles = vec![RoleAssignment {
        id: uuid::Uuid::now_v7(),
        role: role.into(),
        tenant_id: Some(tenant),
        scope: Scope::Tenant,
        valid_from: None,
        valid_until: None,
    }];
    let record =
        gatehouse_store::AccountRecord { email, display_name, password_hash: Some(password_hash), roles, person_id: None };
    let change = ChangeContext::system("gatehouse admin create", Utc::now());
    let created = store.account_create(Some(tenant), &record, &change).await;
    store.close().await;
    match created {
        Ok(account) => {
            println!("created account {} ({}) with role {} in tenant {}", account.id, account.email, role.name(), args.tenant);
            Ok(ExitCode::SUCCESS)
        }
        Err(gatehouse_store::StoreError::Conflict { .. }) => {
            anyhow::bail!("an account with e-mail {} already exists", args.email)
        }
        Err(err) => Err(err.into()),
    }
}
