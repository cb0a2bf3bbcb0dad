//! The embedded MQTT broker: rmqtt, with Gatehouse deciding who may connect
//! and what each connection may publish and subscribe to.
//!
//! rmqtt does the protocol (3.1.1 and 5), sessions, QoS and routing; the hooks
//! here add three things. Every connection authenticates: a device with its
//! id as both username and client id and the secret it was issued (checked
//! by the [`Gatekeeper`], i.e. against the registry), Gatehouse itself with a
//! service secret made fresh at each start and never stored. Every publish
//! and subscribe of a device is held to its own topics
//! ([`crate::topics`]). And every device has a publish budget, so one device
//! flooding the broker is throttled without slowing the others.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rmqtt::codec::v5::{PublishAckReason, SubscribeAckReason};
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;
use rmqtt::session::Session;
use rmqtt::types::{AuthResult, PublishAclResult, PublishResult, SubscribeAclResult};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::topics::{device_may_publish, device_may_subscribe};

/// Messages in flight to one session (rmqtt's default is 16). Gatehouse's own client
/// takes every device's messages through one session and acknowledges them only once
/// written: a narrow window starves it.
const SESSION_INFLIGHT_MAX: std::num::NonZeroU16 = match std::num::NonZeroU16::new(crate::bus::BUS_INFLIGHT_MAX) {
    Some(window) => window,
    None => std::num::NonZeroU16::MIN,
};
/// Messages queued for one session beyond the window (rmqtt's default is 1,000, and
/// past it rmqtt drops messages it has already acknowledged to their publisher).
const SESSION_QUEUE_MAX: usize = 1_000_000;

/// The username Gatehouse's own client connects with. Device usernames are ids, so it cannot collide.
pub const SERVICE_USERNAME: &str = "gatehouse";

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// Largest MQTT packet accepted; a bigger one closes the connection.
    pub max_packet_bytes: u32,
    pub max_connections: usize,
    /// Sustained publishes per second one device may send; bursts up to twice that.
    pub device_publish_rate: u32,
}

impl BrokerConfig {
    pub fn new(listen: SocketAddr) -> BrokerConfig {
        BrokerConfig { listen, tls: None, max_packet_bytes: 64 * 1024, max_connections: 100_000, device_publish_rate: 100 }
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Who a device connection is, once admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub tenant: Uuid,
    pub device: Uuid,
}

/// A device's attempt to connect, as the [`Gatekeeper`] sees it.
pub struct ConnectAttempt<'a> {
    /// The username parsed as a device id.
    pub device: Uuid,
    pub secret: &'a [u8],
    pub remote: Option<SocketAddr>,
}

/// What the registry answers to a [`ConnectAttempt`].
pub enum Admission {
    Device(DeviceIdentity),
    Refused(&'static str),
}

/// Something the broker refused, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A connection was refused; `device` is set when the username named one.
    Connect {
        device: Option<Uuid>,
        remote: Option<SocketAddr>,
        reason: &'static str,
    },
    Publish {
        identity: DeviceIdentity,
        topic: String,
    },
    Subscribe {
        identity: DeviceIdentity,
        filter: String,
    },
    /// A publish over the device's budget; reported once per second at most.
    Throttled {
        identity: DeviceIdentity,
    },
}

/// The registry's side of the broker: who may connect, and where refusals go.
#[async_trait]
pub trait Gatekeeper: Send + Sync + 'static {
    async fn authenticate(&self, attempt: ConnectAttempt<'_>) -> Admission;
    /// Called for every refusal; must not block (audit writes happen elsewhere).
    fn refused(&self, refusal: Refusal);
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(
        "MQTT port {0} is already in use: choose another with --mqtt-listen HOST:PORT (GATEHOUSE_MQTT_LISTEN), \
         or use the broker that is there with --mqtt-url mqtt://{0}"
    )]
    AddressInUse(SocketAddr),
    #[error("the MQTT broker could not listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: anyhow::Error },
}

/// A running embedded broker. Dropping it stops accepting connections.
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
    service_addr: SocketAddr,
    service_secret: String,
    hooks: Arc<Hooks>,
    task: JoinHandle<()>,
}

impl EmbeddedBroker {
    pub async fn start(config: BrokerConfig, gatekeeper: Arc<dyn Gatekeeper>) -> Result<EmbeddedBroker, BrokerError> {
        let listen = config.listen;
        let listen_error = |source: anyhow::Error| match source.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::AddrInUse => BrokerError::AddressInUse(listen),
            _ => BrokerError::Listen { addr: listen, source },
        };
        let builder = Builder::new()
            .name(if config.tls.is_some() { "gatehouse/tls" } else { "gatehouse/tcp" })
            .laddr(listen)
            // As servers bind: the port is free again at once after a crash, while the old
            // connections linger in TIME_WAIT (without it, every door stays offline for a
            // minute after a restart). Address reuse, not port reuse: a live process still
            // holds the port alone.
            .reuseaddr(Some(true))
            .nodelay(true)
            .max_inflight(SESSION_INFLIGHT_MAX)
            .max_mqueue_len(SESSION_QUEUE_MAX)
            .allow_anonymous(false)
            .max_packet_size(config.max_packet_bytes)
            .max_connections(config.max_connections)
            .tls_cert(config.tls.as_ref().map(|tls| tls.cert.display().to_string()))
            .tls_key(config.tls.as_ref().map(|tls| tls.key.display().to_string()));
        let listener = builder.bind().map_err(listen_error)?;
        let listener = match config.tls {
            Some(_) => listener.tls(),
            None => listener.tcp(),
        }
        .map_err(|source| BrokerError::Listen { addr: listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| BrokerError::Listen { addr: listen, source })?;
        // Behind TLS, Gatehouse's own client gets a plain listener of its own on loopback.
        let service_listener = match &config.tls {
            None => None,
            Some(_) => {
                let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
                let bound = Builder::new()
                    .name("gatehouse/service")
                    .laddr(loopback)
                    .reuseaddr(Some(true))
                    .nodelay(true)
                    .max_inflight(SESSION_INFLIGHT_MAX)
                    .max_mqueue_len(SESSION_QUEUE_MAX)
                    .allow_anonymous(false)
                    .max_packet_size(config.max_packet_bytes)
                    .bind()
                    .and_then(|listener| listener.tcp())
                    .map_err(|source| BrokerError::Listen { addr: loopback, source })?;
                Some(bound)
            }
        };
        let service_addr = match &service_listener {
            Some(bound) => bound.local_addr().map_err(|source| BrokerError::Listen { addr: listen, source })?,
            None => local_addr,
        };

        let service_secret = crate::random_secret();
        let hooks = Arc::new(Hooks {
            gatekeeper,
            service_secret: service_secret.clone(),
            admitted: RwLock::new(HashMap::new()),
            budgets: Mutex::new(HashMap::new()),
            publish_rate: f64::from(config.device_publish_rate.max(1)),
        });
        let scx = ServerContext::new().build().await;
        let register = scx.extends.hook_mgr().register();
        for hook in [Type::ClientAuthenticate, Type::MessagePublishCheckAcl, Type::ClientSubscribeCheckAcl] {
            register.add(hook, Box::new(HookHandler(hooks.clone()))).await;
        }
        register.start().await;
        let mut server = MqttServer::new(scx).listener_by_id(listener, 1);
        if let Some(service) = service_listener {
            server = server.listener_by_id(service, 2);
        }
        let server = server.build();
        let task = tokio::spawn(async move {
            if let Err(err) = server.run().await {
                tracing::error!(error = %err, "the embedded MQTT broker stopped");
            }
        });
        tracing::info!(%local_addr, "embedded MQTT broker listening");
        Ok(EmbeddedBroker { local_addr, service_addr, service_secret, hooks, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where Gatehouse's own client connects: plain MQTT on loopback (the device
    /// listener itself when it is not TLS).
    pub fn service_addr(&self) -> SocketAddr {
        self.service_addr
    }

    /// The username and secret Gatehouse's own client connects with.
    pub fn service_credentials(&self) -> (&str, &str) {
        (SERVICE_USERNAME, &self.service_secret)
    }

    /// Forgets a device's admission: its next publish or subscribe is refused and
    /// closes its connection, and it must authenticate again (with a valid secret) to return.
    pub fn revoke(&self, device: Uuid) {
        if let Ok(mut admitted) = self.hooks.admitted.write() {
            admitted.remove(&device);
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Hooks {
    gatekeeper: Arc<dyn Gatekeeper>,
    service_secret: String,
    /// Devices admitted on this node, by id; a revoked device is removed.
    admitted: RwLock<HashMap<Uuid, Uuid>>,
    budgets: Mutex<HashMap<Uuid, Budget>>,
    publish_rate: f64,
}

/// A token bucket: `tokens` refill at the publish rate up to twice that.
struct Budget {
    tokens: f64,
    refilled_at: Instant,
    reported_at: Option<Instant>,
}

impl Hooks {
    async fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        remote: Option<SocketAddr>,
    ) -> AuthResult {
        let secret = password.unwrap_or_default();
        if username == Some(SERVICE_USERNAME) {
            return if crate::constant_time_eq(secret, self.service_secret.as_bytes()) {
                AuthResult::Allow(true, None)
            } else {
                self.gatekeeper.refused(Refusal::Connect { device: None, remote, reason: "wrong service secret" });
                AuthResult::BadUsernameOrPassword
            };
        }
        let Some(device) = username.and_then(|name| Uuid::parse_str(name).ok()) else {
            self.gatekeeper.refused(Refusal::Connect { device: None, remote, reason: "the username is not a device id" });
            return AuthResult::BadUsernameOrPassword;
        };
        // A client id is a session's identity in MQTT: one device taking another's
        // would close the other's connection, so a device's client ids are its own:
        // its id, or its id and a suffix (`{id}-2`) for a second connection.
        if !client_id_belongs_to(client_id, device) {
            self.gatekeeper.refused(Refusal::Connect {
                device: Some(device),
                remote,
                reason: "the client id must be the device id (or the device id, a dash and a suffix)",
            });
            return AuthResult::NotAuthorized;
        }
        match self.gatekeeper.authenticate(ConnectAttempt { device, secret, remote }).await {
            Admission::Device(identity) => {
                if let Ok(mut admitted) = self.admitted.write() {
                    admitted.insert(identity.device, identity.tenant);
                }
                AuthResult::Allow(false, None)
            }
            Admission::Refused(reason) => {
                self.gatekeeper.refused(Refusal::Connect { device: Some(device), remote, reason });
                AuthResult::BadUsernameOrPassword
            }
        }
    }

    fn identity(&self, session: &Session) -> Option<DeviceIdentity> {
        let device = session.id.username.as_deref().and_then(|name| Uuid::parse_str(name).ok())?;
        let tenant = *self.admitted.read().ok()?.get(&device)?;
        Some(DeviceIdentity { tenant, device })
    }

    fn check_publish(&self, session: &Session, topic: &str) -> PublishAclResult {
        let Some(identity) = self.identity(session) else {
            return PublishAclResult::rejected(true, Some("the device's access was revoked".into()));
        };
        if !device_may_publish(identity.tenant, identity.device, topic) {
            self.gatekeeper.refused(Refusal::Publish { identity, topic: topic.to_owned() });
            return PublishAclResult::rejected(false, Some("a device publishes only on its own topics".into()));
        }
        if !self.spend(identity) {
            return PublishAclResult(PublishResult::reason_code(
                PublishAckReason::QuotaExceeded,
                Some("publish rate exceeded; slow down".into()),
                false,
            ));
        }
        PublishAclResult::allow()
    }

    fn check_subscribe(&self, session: &Session, filter: &str, granted: SubscribeAclResult) -> SubscribeAclResult {
        let Some(identity) = self.identity(session) else {
            return SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized);
        };
        if device_may_subscribe(identity.tenant, identity.device, filter) {
            granted
        } else {
            self.gatekeeper.refused(Refusal::Subscribe { identity, filter: filter.to_owned() });
            SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized)
        }
    }

    /// Takes one publish from the device's budget; false when it is spent.
    fn spend(&self, identity: DeviceIdentity) -> bool {
        let Ok(mut budgets) = self.budgets.lock() else { return true };
        let now = Instant::now();
        let burst = self.publish_rate * 2.0;
        let budget = budgets.entry(identity.device).or_insert(Budget { tokens: burst, refilled_at: now, reported_at: None });
        budget.tokens = (budget.tokens + now.duration_since(budget.refilled_at).as_secs_f64() * self.publish_rate).min(burst);
        budget.refilled_at = now;
        if budget.tokens >= 1.0 {
            budget.tokens -= 1.0;
            return true;
        }
        if budget.reported_at.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
            budget.reported_at = Some(now);
            self.gatekeeper.refused(Refusal::Throttled { identity });
        }
        false
    }
}

fn client_id_belongs_to(client_id: &str, device: Uuid) -> bool {
    let id = device.as_hyphenated().to_string();
    match client_id.strip_prefix(id.as_str()) {
        Some(rest) => rest.is_empty() || (rest.len() > 1 && rest.starts_with('-')),
        None => false,
    }
}

struct HookHandler(Arc<Hooks>);

#[async_trait]
impl Handler for HookHandler {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        match param {
            Parameter::ClientAuthenticate(info) => {
                let result = self
                    .0
                    .authenticate(
                        info.client_id(),
                        info.username().map(|name| &name[..]),
                        info.password().map(|secret| &secret[..]),
                        info.id().remote_addr,
                    )
                    .await;
                (false, Some(HookResult::AuthResult(result)))
            }
            Parameter::MessagePublishCheckAcl(session, publish) => {
                (false, Some(HookResult::PublishAclResult(self.0.check_publish(session, &publish.topic))))
            }
            Parameter::ClientSubscribeCheckAcl(session, subscribe) => {
                let granted = SubscribeAclResult::new_success(subscribe.opts.qos(), None);
                (false, Some(HookResult::SubscribeAclResult(self.0.check_subscribe(session, &subscribe.topic_filter, granted))))
            }
            _ => (true, acc),
        }
    }
}
