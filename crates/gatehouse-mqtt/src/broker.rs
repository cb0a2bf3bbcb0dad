//! The embedded MQTT broker: rmqtt, with Gatehouse deciding who may connect,
//! what each connection may publish and subscribe to, and when a publish is
//! acknowledged.
//!
//! rmqtt does the protocol (3.1.1 and 5), sessions, QoS and routing; the hooks
//! here add four things. Every connection authenticates: a device with its
//! id as both username and client id and the secret it was issued (checked
//! by the [`Gatekeeper`], i.e. against the registry), Gatehouse itself with a
//! service secret made fresh at each start and never stored. Every publish
//! and subscribe of a device is held to its own topics ([`crate::topics`]).
//! Every device message is handed to the [`Upstream`] in the publish hook and
//! acknowledged only once it is kept: rmqtt sends the PUBACK when the hook
//! returns and reads the connection's next packet only after that, so a
//! message the device was told "received" is durable, and one device's
//! messages are written in the order it sent them. And every device has a
//! publish budget: over it, the hook waits until the device has budget again,
//! which holds back its acknowledgement and the reading of its socket, so a
//! flood or a replayed backlog is slowed to the budget instead of dropped.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rmqtt::codec::types::MQTT_LEVEL_5;
use rmqtt::codec::v5::{PublishAckReason, SubscribeAckReason};
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;
use rmqtt::session::Session;
use rmqtt::types::{AuthResult, FromType, Publish, PublishAclResult, PublishResult, QoS, SubscribeAclResult};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::topics::{device_may_subscribe, device_publish_topic};
use crate::upstream::{settle, Incoming, Outcome, Upstream};

/// Messages in flight to one session (rmqtt's default is 16). Gatehouse's own client
/// takes every device's messages through one session and acknowledges them only once
/// written: a narrow window starves it.
const SESSION_INFLIGHT_MAX: std::num::NonZeroU16 = match std::num::NonZeroU16::new(crate::bus::BUS_INFLIGHT_MAX) {
    Some(window) => window,
    None => std::num::NonZeroU16::MIN,
};
/// Messages queued for one session beyond the window (rmqtt's default is 1,000, and
/// past it rmqtt drops messages it has already acknowledged to their publisher).
/// Only Gatehouse's commands and answers pass through sessions now: device
/// messages end in the publish hook.
const SESSION_QUEUE_MAX: usize = 100_000;
/// How long a publish waits for the ingest to be attached at start before the
/// connection is closed (the device sends it again).
const UPSTREAM_WAIT: Duration = Duration::from_secs(10);
/// A device throttled again within this time of its last throttled publish is
/// not reported again: one report per flood.
const THROTTLE_REPORT_QUIET: Duration = Duration::from_secs(60);

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
    /// A device went over its publish budget and is being slowed; reported once per
    /// flood (again only after a minute without throttling).
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
            upstream: watch::channel(None).0,
        });
        let scx = ServerContext::new().build().await;
        let register = scx.extends.hook_mgr().register();
        for hook in [Type::ClientAuthenticate, Type::MessagePublish, Type::MessagePublishCheckAcl, Type::ClientSubscribeCheckAcl]
        {
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

    /// Where device messages go from now on. Until this is called, publishes wait
    /// (up to [`UPSTREAM_WAIT`]), unacknowledged.
    pub fn deliver_to(&self, upstream: Arc<dyn Upstream>) {
        self.hooks.upstream.send_replace(Some(upstream));
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
    upstream: watch::Sender<Option<Arc<dyn Upstream>>>,
}

/// A token bucket: `tokens` refill at the publish rate up to twice that. A
/// publish takes one even when none is left; a negative balance is the time
/// the device must wait.
struct Budget {
    tokens: f64,
    refilled_at: Instant,
    throttled_at: Option<Instant>,
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

    /// Takes a device's publish in: checks it, waits out the device's budget, hands
    /// it to the upstream and, at QoS 1 and 2, waits until it is kept. What this
    /// returns is what the device's PUBACK says.
    async fn take_publish(&self, session: &Session, publish: &Publish) -> PublishAclResult {
        let received = Instant::now();
        let Some(identity) = self.identity(session) else {
            return PublishAclResult::rejected(true, Some("the device's access was revoked".into()));
        };
        let mqtt5 = session.protocol().await.is_ok_and(|level| level == MQTT_LEVEL_5);
        let topic = match device_publish_topic(identity.tenant, identity.device, &publish.topic) {
            Some(topic) => topic,
            None => {
                self.gatekeeper.refused(Refusal::Publish { identity, topic: publish.topic.to_string() });
                // MQTT 3.1.1 has no refusal but closing: a PUBACK would say "received".
                return PublishAclResult::rejected(!mqtt5, Some("a device publishes only on its own topics".into()));
            }
        };
        let wait = self.reserve(identity);
        if !wait.is_zero() {
            metrics::counter!("gatehouse_mqtt_throttled_messages_total", "channel" => topic.channel.suffix()).increment(1);
            tokio::time::sleep(wait).await;
        }
        let Some(upstream) = self.upstream().await else {
            return unkept("Gatehouse is starting; send it again");
        };
        metrics::counter!("gatehouse_mqtt_messages_total", "channel" => topic.channel.suffix()).increment(1);
        let acknowledged = publish.qos != QoS::AtMostOnce;
        let message = Incoming { topic, payload: publish.payload.clone(), retained: publish.retain, acknowledged };
        let settling = upstream.admit(message).await;
        if !acknowledged {
            // Fire and forget, as MQTT defines QoS 0: admitted in order, written without waiting.
            tokio::spawn(settle(topic.channel, false, received, settling));
            return PublishAclResult::allow();
        }
        match settle(topic.channel, true, received, settling).await {
            Outcome::Kept => PublishAclResult::allow(),
            // Refused for what it is: sending it again cannot help, so it is acknowledged
            // (with the reason where the protocol has a place for one) and counted.
            Outcome::Refused { why, detail } if mqtt5 => {
                let code =
                    if why == "malformed" { PublishAckReason::PayloadFormatInvalid } else { PublishAckReason::NotAuthorized };
                PublishAclResult(PublishResult::reason_code(code, Some(detail.into()), false))
            }
            Outcome::Refused { .. } => PublishAclResult::allow(),
            Outcome::Unkept { detail } => unkept(&detail),
        }
    }

    /// A device's last will, published by the broker when its connection drops.
    async fn take_will(&self, username: Option<&str>, publish: &Publish) {
        let received = Instant::now();
        let Some(device) = username.and_then(|name| Uuid::parse_str(name).ok()) else { return };
        let Some(tenant) = self.admitted.read().ok().and_then(|admitted| admitted.get(&device).copied()) else { return };
        let Some(topic) = device_publish_topic(tenant, device, &publish.topic) else { return };
        let Some(upstream) = self.upstream().await else { return };
        let message = Incoming { topic, payload: publish.payload.clone(), retained: publish.retain, acknowledged: false };
        let settling = upstream.admit(message).await;
        if let Outcome::Unkept { detail } = settle(topic.channel, false, received, settling).await {
            tracing::warn!(%device, %detail, "a device's last will was not kept");
        }
    }

    async fn upstream(&self) -> Option<Arc<dyn Upstream>> {
        let mut upstream = self.upstream.subscribe();
        let attached = tokio::time::timeout(UPSTREAM_WAIT, upstream.wait_for(Option::is_some)).await;
        match attached {
            Ok(Ok(upstream)) => upstream.clone(),
            _ => None,
        }
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

    /// Takes one publish from the device's budget and says how long the device must
    /// wait for it: zero while it has budget.
    fn reserve(&self, identity: DeviceIdentity) -> Duration {
        let Ok(mut budgets) = self.budgets.lock() else { return Duration::ZERO };
        let now = Instant::now();
        let burst = self.publish_rate * 2.0;
        let budget = budgets.entry(identity.device).or_insert(Budget { tokens: burst, refilled_at: now, throttled_at: None });
        budget.tokens = (budget.tokens + now.duration_since(budget.refilled_at).as_secs_f64() * self.publish_rate).min(burst);
        budget.refilled_at = now;
        budget.tokens -= 1.0;
        if budget.tokens >= 0.0 {
            return Duration::ZERO;
        }
        if budget.throttled_at.is_none_or(|at| now.duration_since(at) >= THROTTLE_REPORT_QUIET) {
            self.gatekeeper.refused(Refusal::Throttled { identity });
        }
        budget.throttled_at = Some(now);
        Duration::from_secs_f64(-budget.tokens / self.publish_rate)
    }
}

/// Closes the connection without acknowledging: the device sends the message again.
fn unkept(detail: &str) -> PublishAclResult {
    PublishAclResult(PublishResult::reason_code(PublishAckReason::UnspecifiedError, Some(detail.to_owned().into()), true))
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
                (false, Some(HookResult::PublishAclResult(self.0.take_publish(session, publish).await)))
            }
            Parameter::MessagePublish(_, from, publish) if matches!(from.typ(), FromType::LastWill) => {
                self.0.take_will(from.id.username.as_deref(), publish).await;
                (true, acc)
            }
            Parameter::ClientSubscribeCheckAcl(session, subscribe) => {
                let granted = SubscribeAclResult::new_success(subscribe.opts.qos(), None);
                (false, Some(HookResult::SubscribeAclResult(self.0.check_subscribe(session, &subscribe.topic_filter, granted))))
            }
            _ => (true, acc),
        }
    }
}
