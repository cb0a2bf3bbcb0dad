//! Starting and stopping the platform: open the store, make sure a bootstrap
//! token exists, serve HTTP until told to stop, then drain and close.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use gatehouse_api::bootstrap::{ensure_bootstrap_token, BootstrapAuth};
use gatehouse_api::{telemetry, AppState};
use gatehouse_store::{OpenOptions, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;

/// How often stale idempotency keys are purged, and how long keys are kept.
const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
const IDEMPOTENCY_KEY_RETENTION_HOURS: i64 = 24;

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

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to the grace period) and closes the store.
pub async fn serve(
    config: &Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bootstrap = Arc::new(BootstrapAuth::load(store.clone()).await.context("cannot read the bootstrap token")?);
    let tenants = Arc::new(gatehouse_api::tenant_cache::TenantCache::new(store.clone()));
    let state = AppState {
        store: store.clone(),
        bootstrap,
        tenants,
        limits: config.limits(),
        metrics: telemetry::prometheus(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let app = gatehouse_api::router(state);

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
    pub store: Arc<dyn Store>,
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
        let task = tokio::spawn(async move {
            serve(&config, prepared.store, listener, async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(RunningServer { addr, store, stop: Some(stop), task })
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
