//! Starting and stopping the platform: open the store, make sure a bootstrap
//! token exists, serve HTTP until told to stop, then drain and close.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use gatehouse_api::bootstrap::{ensure_bootstrap_token, BootstrapAuth};
use gatehouse_api::AppState;
use gatehouse_mqtt::broker::{BrokerConfig, EmbeddedBroker, TlsFiles};
use gatehouse_mqtt::bus::{Bus, BusOptions, Delivery, Stray};
use gatehouse_services::devices::gatekeeper::RegistryGatekeeper;
use gatehouse_services::devices::ingest::Ingest;
use gatehouse_services::devices::operations::DeviceOperations;
use gatehouse_services::devices::watch::Watcher;
use gatehouse_services::devices::DeviceService;
use gatehouse_services::identity::throttle::ThrottlePolicy;
use gatehouse_services::identity::{Identity, KeyRing, MasterKey, PasswordHasher, SessionRegistry, TokenIssuer};
use gatehouse_store::{OpenOptions, Store};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{Config, MqttMode};

/// How often stale idempotency keys are purged, and how long keys are kept.
const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// How often telemetry past its retention is dropped.
const TELEMETRY_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// How often the access log is made ready for the months ahead (PostgreSQL partitions).
const ACCESS_LOG_PREPARE_INTERVAL: Duration = Duration::from_secs(24 * 3600);
const IDEMPOTENCY_KEY_RETENTION_HOURS: i64 = 24;

/// How often signing keys are re-read, so a rotation elsewhere is picked up.
const SIGNING_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// The file holding the master key when none is configured.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The master key: configured, or read from (and at first start written to) the data directory.
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(configured) = &config.master_key {
        return MasterKey::parse(configured.value.expose()).map_err(|reason| anyhow::anyhow!("master_key: {reason}"));
    }
    let path = config.data_dir.value.join(MASTER_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::parse(&text).map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&config.data_dir.value)
                .with_context(|| format!("cannot create {}", config.data_dir.value.display()))?;
            let key = MasterKey::generate();
            write_private_file(&path, &key.encode())?;
            tracing::info!(path = %path.display(), "created the master key; back it up, and set GATEHOUSE_MASTER_KEY to the same value on every node of a cluster");
            Ok(key)
        }
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", path.display())),
    }
}

/// Creates a file only its owner can read; fails if it exists (another process won the race).
fn write_private_file(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Password hashing, signing keys, token issuing and the session registry.
pub async fn identity(config: &Config, store: &dyn Store) -> anyhow::Result<Identity> {
    let ttl = Duration::from_secs(config.access_token_ttl_seconds.value);
    let keys = Arc::new(
        KeyRing::load_or_create(store, master_key(config)?, ttl)
            .await
            .map_err(|reason| anyhow::anyhow!("signing keys: {reason}"))?,
    );
    Ok(Identity {
        passwords: PasswordHasher::new(config.password_hash.value)
            .map_err(|reason| anyhow::anyhow!("password hashing: {reason}"))?,
        keys: keys.clone(),
        tokens: TokenIssuer::new(keys, config.token_issuer.value.clone(), ttl),
        sessions: SessionRegistry::default(),
        roles: Default::default(),
        api_keys: gatehouse_services::identity::api_keys::ApiKeyCache::default(),
        mfa_challenges: gatehouse_services::identity::mfa::Challenges::default(),
        mfa_issuer: "Gatehouse".to_owned(),
        throttle: gatehouse_services::identity::LoginThrottle::default(),
        throttle_per_account: ThrottlePolicy::with_free_failures(config.login_free_failures_per_account.value),
        throttle_per_source: ThrottlePolicy::with_free_failures(config.login_free_failures_per_source.value),
        refresh_token_ttl: Duration::from_secs(config.refresh_token_ttl_days.value * 24 * 3600),
    })
}

/// Opens the configured database and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let options = OpenOptions { max_connections: config.database_max_connections.value, migrate: true };
    gatehouse_store::open(&config.database_url.value, options)
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url.value.masked()))
}

/// Everything needed to serve, prepared before the port is bound.
pub struct Prepared {
    pub store: Arc<dyn Store>,
    /// A bootstrap token generated just now, to be shown once; `None` if one existed or was configured.
    pub generated_token: Option<String>,
}

pub async fn prepare(config: &Config) -> anyhow::Result<Prepared> {
    let store = open_store(config).await?;
    let configured = config.bootstrap_token.as_ref().map(|token| token.value.expose());
    let generated_token =
        ensure_bootstrap_token(store.as_ref(), configured, Utc::now()).await.context("cannot store the bootstrap token")?;
    Ok(Prepared { store, generated_token })
}

/// Binds the listen address, with a message that says what to do when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|err| {
        if err.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!("cannot listen on {addr}: the address is already in use; choose another with --listen HOST:PORT or GATEHOUSE_LISTEN")
        } else {
            anyhow::anyhow!("cannot listen on {addr}: {err}")
        }
    })
}

/// Device messages from an external broker, for the ingest that [`serve`] starts (the
/// embedded broker hands its messages to the ingest itself).
pub type DeviceMessages = mpsc::Receiver<Result<Delivery, Stray>>;

/// Fails, with the broker's own message, when the embedded MQTT broker's port is taken: checked
/// right after the HTTP port so that, like it, a taken port creates nothing (no database, no token).
pub fn check_mqtt_port(config: &Config) -> anyhow::Result<()> {
    let MqttMode::Embedded { listen, .. } = &config.mqtt.value else { return Ok(()) };
    match std::net::TcpListener::bind(listen) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            Err(gatehouse_mqtt::broker::BrokerError::AddressInUse(*listen).into())
        }
        Err(err) => Err(anyhow::anyhow!("the MQTT broker cannot listen on {listen}: {err}")),
    }
}

/// Everything the HTTP layer needs, built from the configuration and the store.
pub async fn app_state(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<(AppState, DeviceMessages)> {
    let bootstrap = Arc::new(BootstrapAuth::load(store.clone()).await.context("cannot read the bootstrap token")?);
    let tenants = Arc::new(gatehouse_services::tenant_cache::TenantCache::new(store.clone()));
    // First, so a taken MQTT port stops the start before anything is created.
    let (devices, messages) = connect_devices(config, store.clone(), tenants.clone()).await?;
    let identity = Arc::new(identity(config, store.as_ref()).await?);
    let access = Arc::new(gatehouse_services::access::AccessService::new(
        store.clone(),
        identity.keys.clone(),
        gatehouse_services::access::LogWriterConfig::default(),
    ));
    // Admin changes written by `gatehouse import`/`admin` or another node reach decisions without a restart.
    access.follow_external_changes(gatehouse_services::access::POLICY_FOLLOW_INTERVAL);
    let policy = gatehouse_services::access::policy_writes::PolicyWrites::new(store.clone(), access.clone());
    let devices = Arc::new(devices);
    let limits = config.limits();
    let device_operations = DeviceOperations::new(store.clone(), devices.clone(), access.log.clone(), limits.telemetry);
    let state = AppState::new(gatehouse_api::state::Shared {
        store,
        policy,
        bootstrap,
        tenants,
        identity,
        access,
        devices,
        device_operations,
        limits,
        event_log: config.event_log.value,
        metrics: gatehouse_api::metrics::prometheus(),
        version: env!("CARGO_PKG_VERSION"),
    });
    Ok((state, messages))
}

/// Starts the embedded MQTT broker (or reaches the configured one) and
/// connects Gatehouse's own client to it. The ingest of device messages starts
/// with [`serve`].
async fn connect_devices(
    config: &Config,
    store: Arc<dyn Store>,
    tenants: Arc<gatehouse_services::tenant_cache::TenantCache>,
) -> anyhow::Result<(DeviceService, DeviceMessages)> {
    match &config.mqtt.value {
        MqttMode::Embedded { listen, tls } => {
            let mut broker_config = BrokerConfig::new(*listen);
            broker_config.device_publish_rate = config.mqtt_device_publish_rate.value;
            broker_config.tls = tls.as_ref().map(|(cert, key)| TlsFiles { cert: cert.clone(), key: key.clone() });
            let store_for_devices = store.clone();
            let gatekeeper = Arc::new(RegistryGatekeeper::new(store, tenants));
            let broker = EmbeddedBroker::start(broker_config, gatekeeper).await?;
            let (username, password) = broker.service_credentials();
            // Gatehouse's own client always talks plain MQTT to the broker on loopback.
            let service = broker.service_addr();
            let host = if service.ip().is_unspecified() { "127.0.0.1".to_owned() } else { service.ip().to_string() };
            // A session of this start only: the embedded broker keeps no device messages for it.
            let client_id = format!("gatehouse-{}", uuid::Uuid::new_v4().simple());
            let mut options = BusOptions::from_url(&format!("mqtt://{host}:{}", service.port()), client_id)?;
            options.username = Some(username.to_owned());
            options.password = Some(password.to_owned());
            // Device messages reach the ingest in the broker's publish hook, not through a subscription.
            options.ingest = false;
            let (bus, incoming) = Bus::connect(options);
            Ok((DeviceService::new(store_for_devices, bus, Some(Arc::new(broker))), incoming))
        }
        MqttMode::External { url } => {
            let mut options = BusOptions::from_url(url.expose(), config.mqtt_client_id.value.clone())?;
            // Several nodes on one broker share the device channels: each message reaches one node.
            options.shared_group = Some(config.mqtt_shared_group.value.clone());
            // The broker keeps this node's session while it is away (a crash, a restart): what it
            // holds, and what it sent but was not acknowledged, comes again.
            options.persistent_session = true;
            let (bus, incoming) = Bus::connect(options);
            Ok((DeviceService::new(store, bus, None), incoming))
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to the grace period) and closes the store.
pub async fn serve(
    config: &Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (state, device_messages) = app_state(config, store).await?;
    serve_state(config, state, device_messages, listener, shutdown).await
}

/// [`serve`] with the state already built.
pub async fn serve_state(
    config: &Config,
    state: AppState,
    device_messages: DeviceMessages,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = state.store.clone();
    let ingest = Arc::new(Ingest::new(store.clone(), state.devices.clone(), state.access.clone()));
    if let Some(broker) = &state.devices.broker {
        broker.deliver_to(ingest.clone());
    }
    let ingest = tokio::spawn(gatehouse_mqtt::bus::deliver(state.devices.bus.clone(), ingest, device_messages));
    let watcher = Watcher { store: store.clone(), devices: state.devices.clone(), log: state.access.log.clone() };
    let device_watch = tokio::spawn(gatehouse_services::devices::watch::run(watcher));
    let event_tailer = config
        .event_log
        .value
        .then(|| tokio::spawn(gatehouse_services::events::tailer::run(store.clone(), state.access.log.commits())));
    let keys = state.identity.keys.clone();
    let keys_store = store.clone();
    let key_reload = tokio::spawn(async move {
        let mut every = tokio::time::interval(SIGNING_KEY_RELOAD_INTERVAL);
        loop {
            every.tick().await;
            if let Err(err) = keys.reload(keys_store.as_ref()).await {
                tracing::warn!(error = %err, "could not reload the signing keys");
            }
        }
    });
    let app = gatehouse_api::router(state);

    let log_store = store.clone();
    let prepare_log = tokio::spawn(async move {
        let mut every = tokio::time::interval(ACCESS_LOG_PREPARE_INTERVAL);
        loop {
            every.tick().await;
            if let Err(err) = log_store.access_log_prepare(Utc::now()).await {
                tracing::warn!(error = %err, "could not prepare the access log for the coming months");
            }
        }
    });

    let telemetry_store = store.clone();
    let telemetry_purge = tokio::spawn(async move {
        let mut every = tokio::time::interval(TELEMETRY_PURGE_INTERVAL);
        loop {
            every.tick().await;
            let cutoffs = gatehouse_services::devices::telemetry_cutoffs(Utc::now());
            let tenants = match telemetry_store.device_tenants().await {
                Ok(tenants) => tenants,
                Err(err) => {
                    tracing::warn!(error = %err, "could not list the tenants with devices");
                    continue;
                }
            };
            let remembered_since = Utc::now() - chrono::Duration::days(gatehouse_services::devices::DEVICE_MESSAGE_DEDUP_DAYS);
            for tenant in tenants {
                match telemetry_store.telemetry_purge(tenant, cutoffs).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(%tenant, deleted, "dropped telemetry past its retention"),
                    Err(err) => tracing::warn!(error = %err, %tenant, "could not purge telemetry"),
                }
                if let Err(err) = telemetry_store.device_messages_purge(tenant, remembered_since).await {
                    tracing::warn!(error = %err, %tenant, "could not forget old device message ids");
                }
            }
        }
    });

    let purge_store = store.clone();
    let purge = tokio::spawn(async move {
        let mut every = tokio::time::interval(IDEMPOTENCY_PURGE_INTERVAL);
        loop {
            every.tick().await;
            let before = Utc::now() - chrono::Duration::hours(IDEMPOTENCY_KEY_RETENTION_HOURS);
            match purge_store.idempotency_purge(before).await {
                Ok(purged) if purged > 0 => tracing::info!(purged, "forgot old idempotency keys"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "could not purge idempotency keys"),
            }
        }
    });

    let (stopping_tx, stopping_rx) = oneshot::channel::<()>();
    let grace = Duration::from_secs(config.shutdown_grace_seconds.value);
    let served =
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            let _ = stopping_tx.send(());
        });
    let mut served = Box::pin(std::future::IntoFuture::into_future(served));
    let result = tokio::select! {
        result = &mut served => result,
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "requests still running after the grace period; stopping anyway");
            Ok(())
        }
    };
    purge.abort();
    telemetry_purge.abort();
    ingest.abort();
    device_watch.abort();
    if let Some(tailer) = event_tailer {
        tailer.abort();
    }
    key_reload.abort();
    prepare_log.abort();
    store.close().await;
    tracing::info!("stopped");
    result.context("the HTTP server failed")
}

/// Listens for SIGINT (Ctrl-C) and SIGTERM from the moment it is created, so a
/// signal that arrives during start-up is not lost (or fatal).
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT received"),
                _ = terminate.recv() => tracing::info!("SIGTERM received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// A server running in this process, for tests and benchmarks.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The embedded MQTT broker's address (`None` with an external broker).
    pub mqtt_addr: Option<SocketAddr>,
    pub store: Arc<dyn Store>,
    /// Gatehouse's own MQTT client, for waiting until it is subscribed.
    pub bus: gatehouse_mqtt::bus::Bus,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Prepares, binds (port 0 picks a free port) and serves in a background task.
    pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
        let listener = bind(config.listen.value).await?;
        let prepared = prepare(&config).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let store = prepared.store.clone();
        let (state, device_messages) = app_state(&config, prepared.store).await?;
        let mqtt_addr = state.devices.broker.as_ref().map(|broker| broker.local_addr());
        let bus = state.devices.bus.clone();
        let task = tokio::spawn(async move {
            serve_state(&config, state, device_messages, listener, async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(RunningServer { addr, mqtt_addr, store, bus, stop: Some(stop), task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops gracefully and waits until the store is closed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.context("the server task panicked")?
    }
}
