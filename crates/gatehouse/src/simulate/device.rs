//! One simulated device: an MQTT connection with the credentials it was issued,
//! the traffic it sends at its share of the rate, and its answers to commands.
//!
//! Each device is two tasks: one polls the connection (connects, reconnects,
//! takes in access answers and commands), the other sends on a fixed tick.
//! Both only queue publishes (`try_publish`), so neither can block the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use gatehouse_mqtt::topics::{Channel, DeviceTopic};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, Publish, QoS,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::stats::Stats;

/// Requests in flight per device; more are not sent until answers come (a device
/// does not keep asking when nobody answers).
const PENDING_PER_DEVICE_MAX: usize = 1_000;
/// An access request with no answer after this is counted unanswered.
const ANSWER_WAIT_MAX: Duration = Duration::from_secs(10);
/// Publishes the client may queue before `try_publish` refuses.
const CLIENT_QUEUE_MAX: usize = 256;
const PACKET_BYTES_MAX: usize = 64 * 1024;
const RECONNECT_WAIT_MAX: Duration = Duration::from_secs(10);
/// Share of access requests made with a card the tenant does not know.
const UNKNOWN_CARD_SHARE: f64 = 0.25;
const FIRMWARE: &str = "1.2.0";

/// Run phases, sent to every device over one watch channel.
pub const RUNNING: u8 = 0;
/// Stop sending; keep taking in answers.
pub const DRAINING: u8 = 1;
/// Say offline and disconnect.
pub const LEAVING: u8 = 2;

/// A device registered for this run, with the MQTT credentials just issued to it.
#[derive(Clone)]
pub struct Registered {
    pub id: uuid::Uuid,
    pub tenant: uuid::Uuid,
    pub role: Role,
    pub access_point_id: Option<uuid::Uuid>,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Controller,
    Reader,
    Sensor,
}

impl Role {
    pub fn kind(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Reader => "reader",
            Role::Sensor => "sensor",
        }
    }
}

/// A card the tenant issued, as a reader reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Card {
    pub number: u64,
    pub facility_code: Option<u32>,
}

pub struct DeviceSpec {
    pub registered: Registered,
    pub host: String,
    pub port: u16,
    /// Time between two of this device's messages.
    pub interval: Duration,
    pub first_tick: Instant,
    pub seed: u64,
}

/// Fails clearly when nothing listens at the broker's address, before any device is registered.
pub async fn check_broker(host: &str, port: u16) -> anyhow::Result<()> {
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => anyhow::bail!("cannot reach the MQTT broker at {host}:{port} (--mqtt): {err}"),
        Err(_) => anyhow::bail!("cannot reach the MQTT broker at {host}:{port} (--mqtt): no answer within 5 s"),
    }
}

/// What a device keeps between messages.
struct State {
    rng: SplitMix,
    /// Access requests sent and not yet answered, by request id.
    pending: HashMap<String, Instant>,
    next_request: u64,
    door_open: bool,
    temperature: f64,
    humidity: f64,
    firmware: String,
}

struct Device {
    id: uuid::Uuid,
    tenant: uuid::Uuid,
    role: Role,
    access_point_id: Option<uuid::Uuid>,
    client: AsyncClient,
    stats: Arc<Stats>,
    connected: AtomicBool,
    started: Instant,
    state: Mutex<State>,
}

/// Starts the device; `first` hears how its first connection went.
pub fn spawn(
    spec: DeviceSpec,
    cards: Arc<Vec<Card>>,
    stats: Arc<Stats>,
    phase: watch::Receiver<u8>,
    first: mpsc::Sender<Result<(), String>>,
) -> JoinHandle<()> {
    let registered = spec.registered;
    let id = registered.id.to_string();
    let mut options = MqttOptions::new(id.clone(), spec.host.clone(), spec.port);
    options.set_credentials(id, registered.password.clone());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_max_packet_size(PACKET_BYTES_MAX, PACKET_BYTES_MAX);
    let status_topic = DeviceTopic::new(registered.tenant, registered.id, Channel::Status).to_string();
    options.set_last_will(LastWill::new(status_topic, json!({"state": "offline"}).to_string(), QoS::AtLeastOnce, true));
    let (client, mut events) = AsyncClient::new(options, CLIENT_QUEUE_MAX);
    // Requests are small: without this, Nagle holds each one back behind the last.
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    let device = Arc::new(Device {
        id: registered.id,
        tenant: registered.tenant,
        role: registered.role,
        access_point_id: registered.access_point_id,
        client,
        stats,
        connected: AtomicBool::new(false),
        started: Instant::now(),
        state: Mutex::new(State {
            rng: SplitMix(spec.seed),
            pending: HashMap::new(),
            next_request: 0,
            door_open: false,
            temperature: 21.0,
            humidity: 45.0,
            firmware: FIRMWARE.to_owned(),
        }),
    });
    tokio::spawn(async move {
        let traffic = tokio::spawn(send_traffic(device.clone(), cards, spec.interval, spec.first_tick, phase.clone()));
        poll_connection(&device, events, phase, first).await;
        let _ = traffic.await;
    })
}

async fn poll_connection(
    device: &Device,
    mut events: EventLoop,
    mut phase: watch::Receiver<u8>,
    first: mpsc::Sender<Result<(), String>>,
) {
    let mut first = Some(first);
    let mut wait = Duration::from_millis(500);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                wait = Duration::from_millis(500);
                // Subscribed (queued) before any request goes out, so no answer is missed.
                device.on_connect();
                if !device.connected.swap(true, Ordering::SeqCst) {
                    device.stats.connected.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(())).await;
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => device.take(&publish),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                device.disconnected();
                return;
            }
            Ok(_) => {}
            Err(err) => {
                device.disconnected();
                if *phase.borrow() >= DRAINING {
                    return;
                }
                Stats::add(&device.stats.connection_errors);
                if let Some(first) = first.take() {
                    let _ = first.send(Err(describe(&err))).await;
                }
                tracing::debug!(device = %device.id, error = %err, "simulated device lost its connection");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = phase.wait_for(|phase| *phase >= DRAINING) => return,
                }
                wait = (wait * 2).min(RECONNECT_WAIT_MAX);
            }
        }
    }
}

fn describe(err: &ConnectionError) -> String {
    match err {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => {
            format!("the broker refused the device's credentials ({code:?}); is --mqtt the broker this Gatehouse server uses?")
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        other => other.to_string(),
    }
}

async fn send_traffic(
    device: Arc<Device>,
    cards: Arc<Vec<Card>>,
    interval: Duration,
    first_tick: Instant,
    mut phase: watch::Receiver<u8>,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::from_std(first_tick), interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut swept_at = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if device.connected.load(Ordering::SeqCst) {
                    device.send_one(&cards);
                }
                if swept_at.elapsed() >= Duration::from_secs(1) {
                    swept_at = Instant::now();
                    device.give_up_on_old_requests();
                }
            }
            _ = phase.wait_for(|phase| *phase >= DRAINING) => break,
        }
    }
    if phase.wait_for(|phase| *phase >= LEAVING).await.is_ok() && device.connected.load(Ordering::SeqCst) {
        // A device that stops cleanly says so itself: its last will is only for a lost connection.
        device.publish(Channel::Status, json!({"state": "offline"}), QoS::AtLeastOnce, true);
        let _ = device.client.try_disconnect();
    }
}

impl Device {
    fn topic(&self, channel: Channel) -> String {
        DeviceTopic::new(self.tenant, self.id, channel).to_string()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the state cannot leave it inconsistent in a way that matters here.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a publish; false (and counted) when the client's queue is full.
    fn publish(&self, channel: Channel, body: Value, qos: QoS, retain: bool) -> bool {
        let counter = match channel {
            Channel::Status => &self.stats.sent_status,
            Channel::Telemetry => &self.stats.sent_telemetry,
            Channel::Events => &self.stats.sent_events,
            Channel::CmdAck => &self.stats.commands_acked,
            _ => &self.stats.sent_access,
        };
        match self.client.try_publish(self.topic(channel), qos, retain, body.to_string()) {
            Ok(()) => {
                if channel != Channel::AccessReq {
                    Stats::add(counter);
                }
                true
            }
            Err(_) => {
                Stats::add(&self.stats.publish_errors);
                false
            }
        }
    }

    fn disconnected(&self) {
        if self.connected.swap(false, Ordering::SeqCst) {
            self.stats.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn on_connect(&self) {
        let mut filters = vec![(self.topic(Channel::Cmd), QoS::AtLeastOnce)];
        if self.role == Role::Reader {
            filters.push((self.topic(Channel::AccessResp), QoS::AtLeastOnce));
        }
        for (filter, qos) in filters {
            if self.client.try_subscribe(filter, qos).is_err() {
                Stats::add(&self.stats.publish_errors);
            }
        }
        let firmware = self.lock().firmware.clone();
        self.publish(Channel::Status, json!({"state": "online", "firmware": firmware}), QoS::AtLeastOnce, true);
    }

    /// A message from Gatehouse: an access answer or a command.
    fn take(&self, publish: &Publish) {
        match DeviceTopic::parse(&publish.topic).map(|topic| topic.channel) {
            Ok(Channel::AccessResp) => self.take_answer(&publish.payload),
            Ok(Channel::Cmd) => self.take_command(&publish.payload),
            _ => Stats::add(&self.stats.malformed),
        }
    }

    fn take_answer(&self, payload: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<Value>(payload) else {
            Stats::add(&self.stats.malformed);
            return;
        };
        let Some(request_id) = answer["request_id"].as_str() else {
            Stats::add(&self.stats.malformed);
            return;
        };
        let Some(sent_at) = self.lock().pending.remove(request_id) else {
            // Already given up on, or not ours.
            return;
        };
        if self.stats.is_closed() {
            return;
        }
        self.stats.request_settled();
        self.stats.round_trip(sent_at.elapsed());
        if let Some(error) = answer.get("error").filter(|error| !error.is_null()) {
            self.stats.answer_error(error.as_str().unwrap_or("(not text)"));
        } else if answer["granted"] == true {
            Stats::add(&self.stats.granted);
        } else {
            Stats::add(&self.stats.refused);
        }
    }

    fn take_command(&self, payload: &[u8]) {
        Stats::add(&self.stats.commands_received);
        let firmware = self.lock().firmware.clone();
        let Some(reply) = answer_command(payload, &firmware) else {
            Stats::add(&self.stats.malformed);
            return;
        };
        if let Some(firmware) = &reply.firmware {
            self.lock().firmware = firmware.clone();
        }
        self.publish(Channel::CmdAck, reply.ack, QoS::AtLeastOnce, false);
        if reply.announce_status {
            let firmware = self.lock().firmware.clone();
            self.publish(Channel::Status, json!({"state": "online", "firmware": firmware}), QoS::AtLeastOnce, true);
        }
        if let (Some(open_for), Some(_)) = (reply.door_cycle, self.access_point_id) {
            self.door_cycle(open_for);
        }
    }

    /// An unlock: the door opens now and closes after `open_for`.
    fn door_cycle(&self, open_for: Duration) {
        self.lock().door_open = true;
        self.publish(Channel::Events, self.event("door_opened"), QoS::AtLeastOnce, false);
        let client = self.client.clone();
        let topic = self.topic(Channel::Events);
        let closed = self.event("door_closed").to_string();
        let stats = self.stats.clone();
        tokio::spawn(async move {
            tokio::time::sleep(open_for).await;
            match client.try_publish(topic, QoS::AtLeastOnce, false, closed) {
                Ok(()) => Stats::add(&stats.sent_events),
                Err(_) => Stats::add(&stats.publish_errors),
            }
        });
    }

    fn event(&self, kind: &str) -> Value {
        let mut event = json!({"ts": now(), "kind": kind});
        if let Some(access_point) = self.access_point_id {
            event["access_point_id"] = json!(access_point);
        }
        event
    }

    /// One message of this device's share of the rate.
    fn send_one(&self, cards: &[Card]) {
        let roll = self.lock().rng.unit();
        match self.role {
            Role::Reader if roll < 0.85 => self.send_access_request(cards),
            Role::Controller if roll < 0.6 => self.send_door_event(),
            Role::Sensor if roll >= 0.85 => {
                let kind = if self.lock().rng.unit() < 0.6 { "alarm_input" } else { "tamper" };
                self.publish(Channel::Events, self.event(kind), QoS::AtLeastOnce, false);
            }
            _ => self.send_telemetry(),
        }
    }

    fn send_access_request(&self, cards: &[Card]) {
        let (request_id, body) = {
            let mut state = self.lock();
            if state.pending.len() >= PENDING_PER_DEVICE_MAX {
                drop(state);
                Stats::add(&self.stats.publish_errors);
                return;
            }
            state.next_request += 1;
            let request_id = format!("{}-{}", self.id.simple(), state.next_request);
            let card = if cards.is_empty() || state.rng.unit() < UNKNOWN_CARD_SHARE {
                let facility_code = cards.first().and_then(|card| card.facility_code).or(Some(17));
                Card { number: 900_000 + state.rng.below(100_000), facility_code }
            } else {
                cards[state.rng.below(cards.len() as u64) as usize]
            };
            let mut credential = json!({"kind": "card", "value": card.number.to_string()});
            if let Some(facility_code) = card.facility_code {
                credential["facility_code"] = json!(facility_code);
            }
            let direction = if state.rng.unit() < 0.8 { "in" } else { "out" };
            state.pending.insert(request_id.clone(), Instant::now());
            (request_id.clone(), json!({"request_id": request_id, "credential": credential, "direction": direction}))
        };
        if self.publish(Channel::AccessReq, body, QoS::AtLeastOnce, false) {
            self.stats.request_sent();
        } else {
            self.lock().pending.remove(&request_id);
        }
    }

    /// Controllers watch their door: it opens and closes, is held or forced now and then.
    fn send_door_event(&self) {
        let kind = {
            let mut state = self.lock();
            let roll = state.rng.unit();
            let (kind, open) = if state.door_open {
                if roll < 0.85 {
                    ("door_closed", false)
                } else {
                    ("door_held_open", true)
                }
            } else if roll < 0.75 {
                ("door_opened", true)
            } else if roll < 0.9 {
                ("exit_button", false)
            } else if roll < 0.95 {
                ("door_forced", true)
            } else {
                ("tamper", false)
            };
            state.door_open = open;
            kind
        };
        self.publish(Channel::Events, self.event(kind), QoS::AtLeastOnce, false);
    }

    fn send_telemetry(&self) {
        let metrics = {
            let mut state = self.lock();
            let drift = state.rng.unit() - 0.5;
            state.temperature = (state.temperature + drift * 0.4).clamp(15.0, 30.0);
            let drift = state.rng.unit() - 0.5;
            state.humidity = (state.humidity + drift).clamp(20.0, 80.0);
            let mut metrics = json!({
                "temperature": (state.temperature * 10.0).round() / 10.0,
                "humidity": state.humidity.round(),
                "uptime_s": self.started.elapsed().as_secs(),
            });
            if self.role == Role::Sensor {
                metrics["battery"] = json!(100 - (self.started.elapsed().as_secs() / 3600).min(100));
            }
            metrics
        };
        self.publish(Channel::Telemetry, json!({"ts": now(), "metrics": metrics}), QoS::AtMostOnce, false);
    }

    fn give_up_on_old_requests(&self) {
        let mut state = self.lock();
        let before = state.pending.len();
        state.pending.retain(|_, sent_at| sent_at.elapsed() < ANSWER_WAIT_MAX);
        let given_up = (before - state.pending.len()) as u64;
        drop(state);
        for _ in 0..given_up {
            self.stats.request_settled();
            Stats::add(&self.stats.unanswered);
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// How a device answers one command.
#[derive(Debug, PartialEq)]
pub struct CommandReply {
    /// The body for `…/cmd/ack`.
    pub ack: Value,
    /// Unlock or pulse: the door opens, then closes after this.
    pub door_cycle: Option<Duration>,
    /// The firmware the device runs from now on.
    pub firmware: Option<String>,
    /// The device reports its status again (after a reboot or an update).
    pub announce_status: bool,
}

/// The simulated device's answer to a command; `None` when it cannot be read (no id).
/// Every command with an id is acknowledged: a simulated device does what it is told.
pub fn answer_command(payload: &[u8], firmware: &str) -> Option<CommandReply> {
    let command: Value = serde_json::from_slice(payload).ok()?;
    let id = command.get("id").filter(|id| id.is_string() || id.is_number())?.clone();
    let kind = command["kind"].as_str().unwrap_or_default();
    let params = &command["params"];
    let seconds =
        |name: &str, default: f64| params[name].as_f64().filter(|s| s.is_finite() && *s >= 0.0).unwrap_or(default).min(30.0);
    let mut reply = CommandReply { ack: Value::Null, door_cycle: None, firmware: None, announce_status: false };
    let result = match kind {
        "unlock" => {
            let open_for = seconds("duration_s", 1.0);
            reply.door_cycle = Some(Duration::from_secs_f64(open_for));
            json!({"door": "unlocked", "open_s": open_for})
        }
        "pulse" => {
            reply.door_cycle = Some(Duration::from_secs_f64(seconds("duration_s", 0.5)));
            json!({"door": "pulsed"})
        }
        "lock" => json!({"door": "locked"}),
        "reboot" => {
            reply.announce_status = true;
            json!({"rebooted": true})
        }
        "firmware_update" => {
            let version = params["version"].as_str().filter(|version| !version.is_empty() && version.len() <= 128);
            let version = version.unwrap_or(firmware).to_owned();
            reply.firmware = Some(version.clone());
            reply.announce_status = true;
            json!({"firmware": version})
        }
        "set_config" => json!({"applied": params}),
        _ => json!({}),
    };
    reply.ack = json!({"id": id, "ok": true, "result": result});
    Some(reply)
}

/// SplitMix64: enough randomness for traffic, with no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_with_an_id_is_acknowledged() {
        let reply = answer_command(br#"{"id":"c1","kind":"unlock","params":{"duration_s":2}}"#, "1.2.0").unwrap();
        assert_eq!(reply.ack, json!({"id": "c1", "ok": true, "result": {"door": "unlocked", "open_s": 2.0}}));
        assert_eq!(reply.door_cycle, Some(Duration::from_secs(2)));

        let reply = answer_command(br#"{"id":"c2","kind":"firmware_update","params":{"version":"2.0.1"}}"#, "1.2.0").unwrap();
        assert_eq!(reply.firmware.as_deref(), Some("2.0.1"));
        assert!(reply.announce_status);
        assert_eq!(reply.ack["result"]["firmware"], "2.0.1");

        let reply = answer_command(br#"{"id":"c3","kind":"something_new"}"#, "1.2.0").unwrap();
        assert_eq!(reply.ack, json!({"id": "c3", "ok": true, "result": {}}));
        assert_eq!(reply.door_cycle, None);

        assert_eq!(answer_command(br#"{"kind":"unlock"}"#, "1.2.0"), None);
        assert_eq!(answer_command(b"not json", "1.2.0"), None);
    }

    #[test]
    fn the_random_numbers_stay_in_range() {
        let mut rng = SplitMix(7);
        for _ in 0..10_000 {
            let unit = rng.unit();
            assert!((0.0..1.0).contains(&unit));
            assert!(rng.below(10) < 10);
        }
    }
}
