//! Devices over MQTT, driven by clients Gatehouse does not own: Debian's
//! `mosquitto_pub`/`mosquitto_rr`, and rumqttc used purely as a device would.
//!
//! The message flows run twice: against the embedded broker, and with
//! Gatehouse joined to the external Mosquitto on 127.0.0.1:1883 (where the
//! broker's own ACL is the operator's, so the refusal tests are the embedded
//! broker's alone).

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::{eventually, TestApp};
use gatehouse_testkit::TestBackend;

const EXTERNAL_BROKER: &str = "mqtt://127.0.0.1:1883";

/// A tenant whose resident Ana holds card 4242 (facility 17), good at the front door at any hour.
pub(crate) struct Site {
    pub(crate) slug: String,
    pub(crate) tenant: String,
    pub(crate) front: String,
    pub(crate) ana: String,
}

pub(crate) async fn site(app: &TestApp, slug: &str) -> Site {
    let fixture = app.populated_tenant(slug).await;
    let t = Some(slug);
    let always = app
        .post(
            "/api/v1/schedules",
            t,
            json!({"name": "Always", "intervals": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": "00:00", "end": "24:00"}]}),
        )
        .await
        .id();
    let level = app
        .post(
            "/api/v1/access-levels",
            t,
            json!({"name": "Front", "entries": [{"access_point_id": fixture.access_point, "schedule_id": always}]}),
        )
        .await
        .id();
    app.post("/api/v1/grants", t, json!({"person_id": fixture.person, "access_level_id": level})).await.ok();
    app.post(
        "/api/v1/credentials",
        t,
        json!({"person_id": fixture.person, "kind": "card", "value": "4242", "facility_code": 17}),
    )
    .await
    .ok();
    Site { slug: slug.to_owned(), tenant: fixture.tenant, front: fixture.access_point, ana: fixture.person }
}

/// A registered reader at the front door and its MQTT credentials.
pub(crate) struct Reader {
    pub(crate) id: String,
    pub(crate) password: String,
    pub(crate) prefix: String,
}

async fn reader(app: &TestApp, site: &Site, name: &str) -> Reader {
    let body =
        json!({"kind": "reader", "name": name, "access_point_id": site.front, "model": "R10", "serial": format!("SN-{name}")});
    let reader = device_of_kind(app, site, body).await;
    assert_eq!(reader.prefix, format!("gh/{}/{}", site.tenant, reader.id));
    reader
}

/// Waits (with a deadline) until Gatehouse's own client is subscribed to the device topics.
async fn subscribed(app: &TestApp) {
    tokio::time::timeout(Duration::from_secs(10), app.server.bus.subscribed())
        .await
        .expect("Gatehouse subscribes to device topics");
}

/// Where devices connect: the embedded broker, or the external one.
fn broker_port(app: &TestApp) -> u16 {
    app.server.mqtt_addr.map_or(1883, |addr| addr.port())
}

/// A device connection made with rumqttc; its messages arrive on `received`.
struct DeviceClient {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<(String, Value)>,
}

async fn connect(app: &TestApp, reader: &Reader, client_id: &str, secret: &str) -> Result<DeviceClient, ConnectReturnCode> {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", broker_port(app));
    options.set_credentials(reader.id.clone(), secret);
    options.set_max_packet_size(1024 * 1024, 1024 * 1024);
    let (client, mut events) = AsyncClient::new(options, 64);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await.expect("a CONNACK") {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => return Err(code),
            Err(err) => panic!("could not connect: {err}"),
        }
    }
    let (deliver, received) = mpsc::unbounded_channel();
    tokio::spawn(pump(events, deliver));
    client.subscribe(format!("{}/access/resp", reader.prefix), QoS::AtLeastOnce).await.unwrap();
    client.subscribe(format!("{}/cmd", reader.prefix), QoS::AtLeastOnce).await.unwrap();
    Ok(DeviceClient { client, received })
}

async fn pump(mut events: EventLoop, deliver: mpsc::UnboundedSender<(String, Value)>) {
    while let Ok(event) = events.poll().await {
        if let Event::Incoming(Packet::Publish(publish)) = event {
            let body = serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
            if deliver.send((publish.topic.clone(), body)).is_err() {
                return;
            }
        }
    }
}

impl DeviceClient {
    async fn publish(&self, topic: &str, body: &[u8]) {
        self.client.publish(topic, QoS::AtLeastOnce, false, body.to_vec()).await.unwrap();
    }

    /// The next access response, within a few seconds.
    async fn response(&mut self) -> Value {
        let (topic, body) =
            tokio::time::timeout(Duration::from_secs(10), self.received.recv()).await.expect("an access response").unwrap();
        assert!(topic.ends_with("/access/resp"), "{topic}");
        body
    }
}

impl DeviceClient {
    /// The next command, within `wait`; `None` if none comes.
    async fn command_within(&mut self, wait: Duration) -> Option<Value> {
        let (topic, body) = tokio::time::timeout(wait, self.received.recv()).await.ok()??;
        assert!(topic.ends_with("/cmd"), "{topic}");
        Some(body)
    }

    async fn command(&mut self) -> Value {
        self.command_within(Duration::from_secs(10)).await.expect("a command")
    }

    async fn ack(&self, prefix: &str, command: &Value, ok: bool) {
        let body = json!({"id": command["id"], "ok": ok, "result": {"done": command["kind"]}});
        self.publish(&format!("{prefix}/cmd/ack"), body.to_string().as_bytes()).await;
    }
}

/// A controller at the site's front door.
async fn controller(app: &TestApp, site: &Site) -> Reader {
    device_of_kind(app, site, json!({"kind": "controller", "name": "Front controller", "access_point_id": site.front})).await
}

fn card_request(request_id: &str, number: &str) -> Vec<u8> {
    json!({"request_id": request_id, "credential": {"kind": "card", "value": number, "facility_code": 17}, "direction": "in"})
        .to_string()
        .into_bytes()
}

/// `mosquitto_rr` arguments that send `request` on `req` as `reader` and wait up to 10 s for the answer on `resp`.
fn ask_as<'a>(reader: &'a Reader, req: &'a str, resp: &'a str, request: &'a str) -> [&'a str; 14] {
    ["-u", &reader.id, "-P", &reader.password, "-i", &reader.id, "-t", req, "-e", resp, "-m", request, "-W", "10"]
}

/// Runs `mosquitto_*` with a timeout; returns (exit success, stdout, stderr).
fn mosquitto(tool: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|err| panic!("{tool} must be installed: {err}"));
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// On the machine's shared Mosquitto, each test server is a deployment of its own (its own
/// client id and shared-subscription group), so the session another test left behind
/// never takes this one's messages.
async fn external(backend: TestBackend) -> TestApp {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let deployment = format!("gh-test-{nanos}-{}", NEXT_DEPLOYMENT.fetch_add(1, Ordering::Relaxed));
    let env = [
        ("GATEHOUSE_MQTT_URL", EXTERNAL_BROKER),
        ("GATEHOUSE_MQTT_CLIENT_ID", deployment.as_str()),
        ("GATEHOUSE_MQTT_SHARED_GROUP", deployment.as_str()),
    ];
    TestApp::spawn_with(backend, &env).await
}

static NEXT_DEPLOYMENT: AtomicU64 = AtomicU64::new(0);

// ---- The flows, on both brokers ---------------------------------------------------------

async fn readers_ask_and_are_answered_durably(app: TestApp) {
    let site = site(&app, "mqtt-ask").await;
    let reader = reader(&app, &site, "Lobby reader").await;
    let mut device = connect(&app, &reader, &reader.id, &reader.password).await.expect("the reader connects");
    // A request sent before Gatehouse subscribed would be lost on the external broker.
    subscribed(&app).await;

    device.publish(&format!("{}/status", reader.prefix), br#"{"state": "online", "firmware": "1.2.0"}"#).await;
    eventually("the reader is online with its firmware", || async {
        let got = app.get(&format!("/api/v1/devices/{}", reader.id), Some(&site.slug)).await;
        got.body["status"] == "online" && got.body["firmware"] == "1.2.0" && got.body["last_seen"].is_string()
    })
    .await;

    device.publish(&format!("{}/access/req", reader.prefix), &card_request("r-1", "4242")).await;
    let granted = device.response().await;
    assert_eq!(granted["request_id"], "r-1");
    assert_eq!(granted["granted"], true, "{granted}");
    assert_eq!(granted["reason"], "granted");
    assert_eq!(granted["door_action"], "unlock");
    device.publish(&format!("{}/access/req", reader.prefix), &card_request("r-2", "999")).await;
    let refused = device.response().await;
    assert_eq!((refused["request_id"].as_str(), refused["granted"].as_bool()), (Some("r-2"), Some(false)));
    assert_eq!(refused["reason"], "unknown_credential", "{refused}");

    // Answered means logged: the decision is in the access log, by the reader.
    let log = app.get(&format!("/api/v1/access/log?person_id={}", site.ana), Some(&site.slug)).await;
    let entry = log.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == granted["decision_id"])
        .cloned()
        .unwrap_or_else(|| panic!("decision {} not in the log: {}", granted["decision_id"], log.text));
    assert_eq!(entry["access_point_id"], site.front.as_str());
    assert!(entry["detail"].to_string().contains(&reader.id), "the reader is named as the actor: {entry}");

    // A request that cannot be read is answered with the reason, and the next one still works.
    device.publish(&format!("{}/access/req", reader.prefix), br#"{"request_id": "r-3", "credential": "#).await;
    let broken = device.response().await;
    assert_eq!(broken["request_id"], Value::Null);
    assert!(broken["error"].as_str().unwrap().contains("not valid"), "{broken}");
    device.publish(&format!("{}/access/req", reader.prefix), br#"{"request_id": "r-4", "credential": {"kind": "card"}}"#).await;
    let missing = device.response().await;
    assert_eq!((missing["request_id"].as_str(), missing["granted"].as_bool()), (Some("r-4"), Some(false)));
    assert!(missing["error"].is_string(), "{missing}");
    device.publish(&format!("{}/access/req", reader.prefix), &card_request("r-5", "4242")).await;
    assert_eq!(device.response().await["granted"], true);

    // The last will, or a device saying so, takes it offline.
    device.publish(&format!("{}/status", reader.prefix), br#"{"state": "offline"}"#).await;
    eventually("the reader is offline", || async {
        app.get(&format!("/api/v1/devices/{}", reader.id), Some(&site.slug)).await.body["status"] == "offline"
    })
    .await;
    let audit = app.get(&format!("/api/v1/audit?target_id={}", reader.id), Some(&site.slug)).await;
    let actions: Vec<&str> =
        audit.ok()["items"].as_array().unwrap().iter().filter_map(|entry| entry["action"].as_str()).collect();
    assert!(actions.contains(&"devices.device.online") && actions.contains(&"devices.device.offline"), "{actions:?}");
}

// The same flow through an operator's Mosquitto, on each backend (the embedded broker's runs in
// the list below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_ask_and_are_answered_through_an_external_mosquitto_on_sqlite() {
    readers_ask_and_are_answered_durably(external(TestBackend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_ask_and_are_answered_through_an_external_mosquitto_on_postgres() {
    readers_ask_and_are_answered_durably(external(TestBackend::Postgres).await).await;
}

// ---- The embedded broker's guard --------------------------------------------------------

async fn mosquitto_clients_are_admitted_only_with_their_own_secret_and_topics(app: TestApp) {
    let site = site(&app, "mqtt-guard").await;
    let reader = reader(&app, &site, "Gate reader").await;
    let port = broker_port(&app).to_string();
    let base = ["-h", "127.0.0.1", "-p", &port, "-q", "1"];

    // The right secret: mosquitto_rr publishes a request and waits for the answer on one connection.
    let req = format!("{}/access/req", reader.prefix);
    let resp = format!("{}/access/resp", reader.prefix);
    let request = String::from_utf8(card_request("rr-1", "4242")).unwrap();
    let mut args = base.to_vec();
    args.extend(ask_as(&reader, &req, &resp, &request));
    let (ok, stdout, stderr) = mosquitto("mosquitto_rr", &args);
    assert!(ok, "mosquitto_rr failed: {stderr}");
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    assert_eq!((answer["request_id"].as_str(), answer["granted"].as_bool()), (Some("rr-1"), Some(true)), "{answer}");

    // A wrong secret is refused at CONNECT.
    let status = format!("{}/status", reader.prefix);
    let mut args = base.to_vec();
    args.extend(["-u", &reader.id, "-P", "ghd_wrong", "-i", &reader.id, "-t", &status, "-m", r#"{"state":"online"}"#]);
    let (ok, _, stderr) = mosquitto("mosquitto_pub", &args);
    assert!(!ok, "a wrong secret must be refused");
    assert!(stderr.to_lowercase().contains("not authori") || stderr.to_lowercase().contains("bad user"), "{stderr}");

    // Another device's client id is refused, even with the right secret.
    let mut args = base.to_vec();
    args.extend(["-u", &reader.id, "-P", &reader.password, "-i", "someone-else", "-t", &status, "-m", "{}"]);
    assert!(!mosquitto("mosquitto_pub", &args).0, "a borrowed client id must be refused");

    // A foreign topic (another tenant's device) is refused; Gatehouse never sees it.
    let other = site_in(&app, "mqtt-guard-other").await;
    let foreign = format!("gh/{}/{}/status", other.0, other.1);
    let mut args = base.to_vec();
    let client = format!("{}-pub", reader.id);
    args.extend(["-u", &reader.id, "-P", &reader.password, "-i", &client, "-t", &foreign, "-m", r#"{"state":"online"}"#]);
    mosquitto("mosquitto_pub", &args);
    eventually("the refusals are audited", || async {
        let audit = app.get("/api/v1/audit?action=devices.mqtt.publish_refused", Some(&site.slug)).await;
        let connect = app.get("/api/v1/audit?action=devices.mqtt.connect_refused", Some(&site.slug)).await;
        audit.body["items"].as_array().is_some_and(|items| items.iter().any(|entry| entry.to_string().contains(&foreign)))
            && connect.body["items"].as_array().is_some_and(|items| items.len() >= 2)
    })
    .await;
    let other_device = app.get(&format!("/api/v1/devices/{}", other.1), Some("mqtt-guard-other")).await;
    assert_eq!(other_device.body["status"], "offline", "a foreign publish must not reach the other tenant's device");
    // The audit trail never holds the secret.
    let audit = app.get("/api/v1/audit", Some(&site.slug)).await;
    assert!(!audit.text.contains(&reader.password));
}

/// Another tenant with a device of its own: (tenant id, device id).
async fn site_in(app: &TestApp, slug: &str) -> (String, String) {
    let other = site(app, slug).await;
    let device = reader(app, &other, "Other reader").await;
    (other.tenant, device.id)
}

async fn a_bad_device_is_refused_or_throttled_while_the_others_keep_working(app: TestApp) {
    let site = site(&app, "mqtt-bad").await;
    let good = reader(&app, &site, "Good reader").await;
    let bad = reader(&app, &site, "Bad reader").await;
    let mut good_client = connect(&app, &good, &good.id, &good.password).await.unwrap();
    let bad_client = connect(&app, &bad, &bad.id, &bad.password).await.unwrap();

    // Unknown message type: a channel outside the scheme is refused and audited. MQTT 3.1.1
    // has no refusal but closing the connection (a PUBACK would say "received"), so it is
    // sent on a connection of its own.
    let stray_client = connect(&app, &bad, &format!("{}-stray", bad.id), &bad.password).await.unwrap();
    stray_client.publish(&format!("{}/firmware/blob", bad.prefix), b"{}").await;
    // Malformed JSON on status: ignored, counted, nothing written.
    bad_client.publish(&format!("{}/status", bad.prefix), b"{not json").await;
    // A flood: far over the device's budget in one burst.
    for n in 0..1_000 {
        bad_client
            .client
            .publish(format!("{}/telemetry", bad.prefix), QoS::AtMostOnce, false, format!("{{\"n\":{n}}}"))
            .await
            .unwrap();
    }
    // The good reader is answered meanwhile.
    for n in 0..5 {
        good_client.publish(&format!("{}/access/req", good.prefix), &card_request(&format!("g-{n}"), "4242")).await;
        assert_eq!(good_client.response().await["granted"], true);
    }
    eventually("the flood is throttled and audited", || async {
        let audit = app.get(&format!("/api/v1/audit?action=devices.mqtt.throttled&target_id={}", bad.id), Some(&site.slug)).await;
        audit.body["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    let refused =
        app.get(&format!("/api/v1/audit?action=devices.mqtt.publish_refused&target_id={}", bad.id), Some(&site.slug)).await;
    assert!(refused.text.contains("firmware/blob"), "{}", refused.text);
    let bad_device = app.get(&format!("/api/v1/devices/{}", bad.id), Some(&site.slug)).await;
    assert_eq!(bad_device.body["firmware"], Value::Null, "a malformed status changes nothing");

    // Oversized: a packet over the broker's limit closes that connection only.
    let huge = vec![b'x'; 200 * 1024];
    bad_client.publish(&format!("{}/telemetry", bad.prefix), &huge).await;
    good_client.publish(&format!("{}/access/req", good.prefix), &card_request("after", "4242")).await;
    assert_eq!(good_client.response().await["granted"], true);

    // Every decision the good reader was answered is in the log.
    let log = app.get("/api/v1/access/log?limit=500", Some(&site.slug)).await;
    assert_eq!(log.ok()["items"].as_array().unwrap().iter().filter(|entry| entry["granted"] == true).count(), 6);
}

async fn rotated_or_revoked_credentials_shut_the_old_secret_out(app: TestApp) {
    let site = site(&app, "mqtt-revoke").await;
    let reader = reader(&app, &site, "Rotating reader").await;
    let mut device = connect(&app, &reader, &reader.id, &reader.password).await.unwrap();
    device.publish(&format!("{}/access/req", reader.prefix), &card_request("before", "4242")).await;
    assert_eq!(device.response().await["granted"], true);

    let rotated = app.post(&format!("/api/v1/devices/{}/credentials", reader.id), Some(&site.slug), json!({})).await;
    let new_secret = rotated.ok()["mqtt"]["password"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, reader.password);
    // The open connection is closed on its next packet; the old secret no longer connects.
    device.publish(&format!("{}/access/req", reader.prefix), &card_request("stale", "4242")).await;
    assert!(tokio::time::timeout(Duration::from_secs(2), device.received.recv()).await.map_or(true, |got| got.is_none()));
    assert_eq!(connect(&app, &reader, &reader.id, &reader.password).await.err(), Some(ConnectReturnCode::BadUserNamePassword));
    let mut renewed = connect(&app, &reader, &reader.id, &new_secret).await.expect("the new secret connects");
    renewed.publish(&format!("{}/access/req", reader.prefix), &card_request("after", "4242")).await;
    assert_eq!(renewed.response().await["granted"], true);

    let revoked = app.delete(&format!("/api/v1/devices/{}/credentials", reader.id), Some(&site.slug)).await;
    assert_eq!(revoked.ok()["credentials_active"], false);
    assert_eq!(connect(&app, &reader, &reader.id, &new_secret).await.err(), Some(ConnectReturnCode::BadUserNamePassword));
    let audit = app.get(&format!("/api/v1/audit?target_id={}", reader.id), Some(&site.slug)).await;
    assert!(audit.text.contains("devices.device.rotate_credentials") && audit.text.contains("devices.device.revoke_credentials"));
    assert!(!audit.text.contains(&new_secret) && !audit.text.contains(&reader.password), "secrets never reach the audit trail");
}

// ---- The registry over HTTP ------------------------------------------------------------

async fn the_registry_checks_input_and_keeps_tenants_apart(app: TestApp) {
    let site = site(&app, "reg-a").await;
    let other = site_in(&app, "reg-b").await;
    let t = Some(site.slug.as_str());
    let lock = app
        .post(
            "/api/v1/devices",
            t,
            json!({"kind": "lock", "name": "Front lock", "access_point_id": site.front, "config": {"unlock_s": 8}, "capabilities": ["relay"]}),
        )
        .await;
    assert_eq!(lock.status.as_u16(), 201, "{}", lock.text);
    assert_eq!(lock.body["config"], json!({"heartbeat_s": 30, "unlock_s": 8, "held_open_s": 30}));
    assert_eq!(lock.body["status"], "offline");
    assert_eq!(lock.body["credentials_active"], true);
    let lock_id = lock.body["id"].as_str().unwrap().to_owned();

    // Bad input names the field and writes nothing.
    let bad = app.post("/api/v1/devices", t, json!({"kind": "lock", "name": "L2", "config": {"unlock_s": 0}})).await;
    assert_eq!(bad.problem(422, "validation_failed")["field"], "config.unlock_s");
    let bad = app.post("/api/v1/devices", t, json!({"kind": "sensor", "name": "S", "config": {"keypad": true}})).await;
    assert!(bad.problem(422, "validation_failed")["detail"].as_str().unwrap().contains("keypad"));
    let bad = app.post("/api/v1/devices", t, json!({"kind": "toaster", "name": "T"})).await;
    assert_eq!(bad.status.as_u16(), 422, "{}", bad.text);
    let foreign_point = app.post("/api/v1/devices", t, json!({"kind": "reader", "name": "R", "access_point_id": other.1})).await;
    assert!(foreign_point.status.is_client_error(), "{}", foreign_point.text);
    let twice = app.post("/api/v1/devices", t, json!({"kind": "reader", "name": "R", "serial": "SN-Other reader"})).await;
    assert_eq!(twice.status.as_u16(), 201, "serials are unique per tenant only: {}", twice.text);
    let twice = app.post("/api/v1/devices", t, json!({"kind": "reader", "name": "R2", "serial": "SN-Other reader"})).await;
    twice.problem(409, "conflict");
    let listed = app.get("/api/v1/devices?kind=lock", t).await;
    assert_eq!(listed.ids(), vec![lock_id.clone()]);

    let patched =
        app.patch(&format!("/api/v1/devices/{lock_id}"), t, json!({"name": "Front lock 2", "config": {"held_open_s": 60}})).await;
    assert_eq!(patched.ok()["config"]["held_open_s"], 60);
    assert_eq!(patched.body["config"]["unlock_s"], 5, "config is replaced whole");
    let refused = app.patch(&format!("/api/v1/devices/{lock_id}"), t, json!({"config": {"held_open_s": 0}})).await;
    refused.problem(422, "validation_failed");

    // Another tenant sees none of it.
    let b = Some("reg-b");
    for (method, path) in [
        (Method::GET, format!("/api/v1/devices/{lock_id}")),
        (Method::PATCH, format!("/api/v1/devices/{lock_id}")),
        (Method::DELETE, format!("/api/v1/devices/{lock_id}")),
        (Method::POST, format!("/api/v1/devices/{lock_id}/credentials")),
        (Method::DELETE, format!("/api/v1/devices/{lock_id}/credentials")),
    ] {
        let reply = app.send(app.request(method.clone(), &path, b).json(&json!({}))).await;
        reply.problem(404, "not_found");
    }
    assert!(!app.get("/api/v1/devices", b).await.ids().contains(&lock_id));

    // An access point a device serves cannot be deleted from under it.
    let in_use = app.delete(&format!("/api/v1/access-points/{}", site.front), t).await;
    assert_eq!(in_use.status.as_u16(), 409, "{}", in_use.text);
    assert_eq!(app.delete(&format!("/api/v1/devices/{lock_id}"), t).await.status.as_u16(), 204);
    app.get(&format!("/api/v1/devices/{lock_id}"), t).await.problem(404, "not_found");
    let _ = site.ana;
}

// ---- Commands ---------------------------------------------------------------------------

async fn command_state(app: &TestApp, site: &Site, device: &Reader, id: &Value) -> Value {
    app.get(&format!("/api/v1/devices/{}/commands/{}", device.id, id.as_str().unwrap()), Some(&site.slug)).await.ok().clone()
}

async fn commands_are_acknowledged_in_priority_order_and_wait_for_offline_devices(app: TestApp) {
    let site = site(&app, "mqtt-cmd").await;
    let unit = controller(&app, &site).await;
    let path = format!("/api/v1/devices/{}/commands", unit.id);
    let t = Some(site.slug.as_str());
    let mut device = connect(&app, &unit, &unit.id, &unit.password).await.unwrap();
    device.publish(&format!("{}/status", unit.prefix), br#"{"state": "online"}"#).await;
    eventually("the controller is online", || async {
        app.get(&format!("/api/v1/devices/{}", unit.id), t).await.body["status"] == "online"
    })
    .await;

    // Online: sent at once, acknowledged with a result.
    let queued = app.post(&path, t, json!({"kind": "unlock", "params": {"seconds": 5}, "priority": 5, "timeout_s": 10})).await;
    assert_eq!(queued.status.as_u16(), 202, "{}", queued.text);
    let sent = device.command().await;
    assert_eq!(
        (sent["id"].clone(), sent["kind"].as_str(), sent["params"]["seconds"].as_u64()),
        (queued.body["id"].clone(), Some("unlock"), Some(5))
    );
    device.ack(&unit.prefix, &sent, true).await;
    eventually("the unlock is acknowledged", || async {
        let state = command_state(&app, &site, &unit, &sent["id"]).await;
        state["status"] == "acknowledged" && state["result"]["done"] == "unlock"
    })
    .await;

    // Offline: commands wait; the one that expires first is never sent.
    device.publish(&format!("{}/status", unit.prefix), br#"{"state": "offline"}"#).await;
    device.client.disconnect().await.unwrap();
    eventually("the controller is offline", || async {
        app.get(&format!("/api/v1/devices/{}", unit.id), t).await.body["status"] == "offline"
    })
    .await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(800)).to_rfc3339();
    let reboot = app.post(&path, t, json!({"kind": "reboot", "priority": 1})).await.ok()["id"].clone();
    let identify = app.post(&path, t, json!({"kind": "identify", "priority": 9, "expires_at": soon})).await.ok()["id"].clone();
    let lock = app.post(&path, t, json!({"kind": "lock", "priority": 7})).await.ok()["id"].clone();
    eventually("the short-lived command expires unsent", || async {
        let state = command_state(&app, &site, &unit, &identify).await;
        state["status"] == "expired" && state["attempts"] == 0
    })
    .await;
    assert_eq!(command_state(&app, &site, &unit, &reboot).await["status"], "queued");

    let mut device = connect(&app, &unit, &unit.id, &unit.password).await.unwrap();
    device.publish(&format!("{}/status", unit.prefix), br#"{"state": "online"}"#).await;
    let first = device.command().await;
    assert_eq!(first["id"], lock, "the highest priority still queued goes first");
    device.ack(&unit.prefix, &first, true).await;
    let second = device.command().await;
    assert_eq!(second["id"], reboot);
    device.ack(&unit.prefix, &second, false).await;
    eventually("both are answered", || async {
        command_state(&app, &site, &unit, &lock).await["status"] == "acknowledged"
            && command_state(&app, &site, &unit, &reboot).await["status"] == "failed"
    })
    .await;
    assert!(device.command_within(Duration::from_millis(500)).await.is_none(), "the expired command is never sent");

    // Unanswered: resent with backoff, then timed out.
    let silent = app.post(&path, t, json!({"kind": "sync_time", "timeout_s": 2})).await.ok()["id"].clone();
    assert_eq!(device.command().await["id"], silent);
    assert_eq!(device.command().await["id"], silent, "resent while unanswered");
    eventually("the unanswered command times out", || async {
        let state = command_state(&app, &site, &unit, &silent).await;
        state["status"] == "timed_out" && state["attempts"].as_u64().unwrap_or(0) >= 2
    })
    .await;

    // Bad commands name their field.
    app.post(&path, t, json!({"kind": "unlock", "params": {"seconds": 0}})).await.problem(422, "validation_failed");
    app.post(&path, t, json!({"kind": "reboot", "params": {"force": true}})).await.problem(422, "validation_failed");
    app.post(&path, t, json!({"kind": "lock", "priority": 10})).await.problem(422, "validation_failed");
    let past = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    app.post(&path, t, json!({"kind": "lock", "expires_at": past})).await.problem(422, "validation_failed");
    assert_eq!(app.post(&path, t, json!({"kind": "self_destruct"})).await.status.as_u16(), 422);
    let listed = app.get(&path, t).await;
    assert_eq!(listed.ok()["items"].as_array().unwrap().len(), 5, "only accepted commands are kept");
}

async fn an_operator_unlocks_a_door_now_and_it_is_logged(app: TestApp) {
    let site = site(&app, "mqtt-unlock").await;
    let t = Some(site.slug.as_str());
    let unlock = format!("/api/v1/access-points/{}/unlock", site.front);
    app.post(&unlock, t, json!({"seconds": 3})).await.problem(409, "no_device");

    let unit = controller(&app, &site).await;
    let mut device = connect(&app, &unit, &unit.id, &unit.password).await.unwrap();
    device.publish(&format!("{}/status", unit.prefix), br#"{"state": "online"}"#).await;
    eventually("the controller is online", || async {
        app.get(&format!("/api/v1/devices/{}", unit.id), t).await.body["status"] == "online"
    })
    .await;
    app.post(&unlock, t, json!({"seconds": 0})).await.problem(422, "validation_failed");
    let answer = app.post(&unlock, t, json!({"seconds": 3})).await;
    assert_eq!(answer.status.as_u16(), 202, "{}", answer.text);
    let sent = device.command().await;
    assert_eq!((sent["kind"].as_str(), sent["params"]["seconds"].as_u64()), (Some("unlock"), Some(3)));
    assert_eq!(sent["id"], answer.body["commands"][0]["id"]);
    device.ack(&unit.prefix, &sent, true).await;

    let log = app.get(&format!("/api/v1/access/log?access_point_id={}", site.front), t).await;
    let entry = log.ok()["items"].as_array().unwrap().iter().find(|entry| entry["id"] == answer.body["decision_id"]).cloned();
    let entry = entry.unwrap_or_else(|| panic!("the unlock is not in the access log: {}", log.text));
    assert_eq!(entry["kind"], "remote_unlock");
    assert_eq!(entry["door_action"], "unlock");
    let verified = app.get("/api/v1/access/log/verify", t).await;
    assert_eq!(verified.ok()["valid"], true);
    // Another tenant cannot open it.
    let other = site_in(&app, "mqtt-unlock-other").await;
    let _ = other;
    app.post(&unlock, Some("mqtt-unlock-other"), json!({"seconds": 3})).await.problem(404, "not_found");
}

// ---- Telemetry, heartbeats and door events ------------------------------------------------

/// Registers a device and returns the MQTT credentials it was issued (its id is also its username).
pub(crate) async fn device_of_kind(app: &TestApp, site: &Site, body: Value) -> Reader {
    let created = app.post("/api/v1/devices", Some(&site.slug), body).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let body = &created.body;
    assert_eq!(body["mqtt"]["username"], body["id"]);
    Reader {
        id: body["id"].as_str().unwrap().to_owned(),
        password: body["mqtt"]["password"].as_str().unwrap().to_owned(),
        prefix: body["mqtt"]["topic_prefix"].as_str().unwrap().to_owned(),
    }
}

async fn telemetry_is_kept_raw_and_rolled_up_by_the_minute_and_hour(app: TestApp) {
    let site = site(&app, "mqtt-telemetry").await;
    let t = Some(site.slug.as_str());
    let sensor = device_of_kind(&app, &site, json!({"kind": "sensor", "name": "Lobby climate"})).await;
    let device = connect(&app, &sensor, &sensor.id, &sensor.password).await.unwrap();
    let topic = format!("{}/telemetry", sensor.prefix);

    // 30 samples, ten seconds apart, starting on a whole five minutes three hours ago.
    let now = chrono::Utc::now();
    let start = chrono::DateTime::from_timestamp((now.timestamp() - 3 * 3600) / 300 * 300, 0).unwrap();
    for i in 0..30 {
        let at = (start + chrono::Duration::seconds(10 * i)).to_rfc3339();
        device.publish(&topic, json!({"ts": at, "metrics": {"temperature": i, "humidity": 40}}).to_string().as_bytes()).await;
    }
    // Refused without harm: malformed, a future time, a non-number.
    device.publish(&topic, b"{\"metrics\": ").await;
    let ahead = (now + chrono::Duration::hours(1)).to_rfc3339();
    device.publish(&topic, json!({"ts": ahead, "metrics": {"temperature": 99}}).to_string().as_bytes()).await;
    device.publish(&topic, json!({"metrics": {"temperature": "hot"}}).to_string().as_bytes()).await;

    let from = (start - chrono::Duration::minutes(1)).to_rfc3339();
    let to = (start + chrono::Duration::minutes(10)).to_rfc3339();
    let series = |step: &str| {
        let step = if step.is_empty() { String::new() } else { format!("&step={step}") };
        format!(
            "/api/v1/devices/{}/telemetry?metric=temperature&from={}&to={}{step}",
            sensor.id,
            urlencode(&from),
            urlencode(&to)
        )
    };
    eventually("all 30 samples are written", || async {
        app.get(&series("raw"), t).await.body["points"].as_array().is_some_and(|points| points.len() == 30)
    })
    .await;
    let raw = app.get(&series("raw"), t).await;
    assert_eq!(raw.body["source"], "raw");
    assert_eq!(raw.body["points"][29]["value"], 29.0);

    let minutes = app.get(&series("1m"), t).await;
    assert_eq!(minutes.ok()["source"], "1m");
    let points = minutes.body["points"].as_array().unwrap();
    assert_eq!(points.len(), 5, "six samples a minute: {}", minutes.text);
    assert_eq!(
        (points[0]["min"].as_f64(), points[0]["max"].as_f64(), points[0]["avg"].as_f64()),
        (Some(0.0), Some(5.0), Some(2.5))
    );
    assert_eq!(points.iter().map(|point| point["count"].as_u64().unwrap()).sum::<u64>(), 30);

    let five = app.get(&series("300"), t).await;
    let points = five.ok()["points"].as_array().unwrap();
    assert_eq!(five.body["step"], "300");
    assert_eq!(points.iter().map(|point| point["count"].as_u64().unwrap()).sum::<u64>(), 30);
    assert_eq!(points[0]["count"], 30, "five minutes from a whole five minutes hold all: {}", five.text);
    assert_eq!(points[0]["avg"], 14.5);

    let hours = app.get(&series("1h"), t).await;
    assert_eq!(hours.ok()["source"], "1h");
    let counted: u64 = hours.body["points"].as_array().unwrap().iter().map(|point| point["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 30);
    let automatic = app.get(&series(""), t).await;
    assert_eq!(automatic.ok()["source"], "raw", "eleven minutes are answered from raw samples");

    // Bad queries name the parameter; another tenant sees nothing.
    app.get(&series("7"), t).await.problem(422, "validation_failed");
    let backwards =
        format!("/api/v1/devices/{}/telemetry?metric=temperature&from={}&to={}", sensor.id, urlencode(&to), urlencode(&from));
    app.get(&backwards, t).await.problem(422, "validation_failed");
    app.get(&format!("/api/v1/devices/{}/telemetry?metric=bad%20name", sensor.id), t).await.problem(422, "validation_failed");
    site_in(&app, "mqtt-telemetry-other").await;
    app.get(&series("raw"), Some("mqtt-telemetry-other")).await.problem(404, "not_found");
}

async fn a_silent_device_goes_offline_and_comes_back_when_it_speaks(app: TestApp) {
    let site = site(&app, "mqtt-heartbeat").await;
    let t = Some(site.slug.as_str());
    let sensor =
        device_of_kind(&app, &site, json!({"kind": "sensor", "name": "Quiet sensor", "config": {"heartbeat_s": 5}})).await;
    let device = connect(&app, &sensor, &sensor.id, &sensor.password).await.unwrap();
    let path = format!("/api/v1/devices/{}", sensor.id);
    let telemetry = format!("{}/telemetry", sensor.prefix);
    let battery = br#"{"metrics": {"battery": 97}}"#;

    device.publish(&telemetry, battery).await;
    eventually("speaking brings it online", || async { app.get(&path, t).await.body["status"] == "online" }).await;
    // Three heartbeats of five seconds without a word.
    let silent_from = std::time::Instant::now();
    eventually("silence takes it offline", || async { app.get(&path, t).await.body["status"] == "offline" }).await;
    assert!(silent_from.elapsed() >= Duration::from_secs(10), "not before it missed its heartbeats: {:?}", silent_from.elapsed());
    device.publish(&telemetry, battery).await;
    eventually("speaking again brings it back", || async { app.get(&path, t).await.body["status"] == "online" }).await;

    let audit = app.get(&format!("/api/v1/audit?target_id={}", sensor.id), t).await;
    let events: Vec<String> = audit.ok()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["action"].as_str().is_some_and(|action| action == "devices.device.online" || action == "devices.device.offline")
        })
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["devices.device.online", "devices.device.offline", "devices.device.online"], "newest first");
    assert!(audit.text.contains("silent for 3 heartbeats"), "{}", audit.text);
}

async fn door_events_become_access_log_entries_and_a_door_left_open_is_flagged(app: TestApp) {
    let site = site(&app, "mqtt-doors").await;
    let t = Some(site.slug.as_str());
    let unit = device_of_kind(
        &app,
        &site,
        json!({"kind": "controller", "name": "Door controller", "access_point_id": site.front, "config": {"held_open_s": 1}}),
    )
    .await;
    let device = connect(&app, &unit, &unit.id, &unit.password).await.unwrap();
    let events = format!("{}/events", unit.prefix);
    let other_door =
        app.post("/api/v1/access-points", t, json!({"zone_id": app.get(&format!("/api/v1/access-points/{}", site.front), t).await.body["zone_id"], "name": "Side door", "kind": "door"})).await.id();

    device.publish(&events, json!({"kind": "door_forced"}).to_string().as_bytes()).await;
    device.publish(&events, json!({"kind": "tamper", "access_point_id": other_door}).to_string().as_bytes()).await;
    device.publish(&events, b"{\"kind\": \"door_exploded\"}").await;
    device.publish(&events, json!({"kind": "door_opened"}).to_string().as_bytes()).await;

    eventually("the forced door is logged", || async { door_log(&app, &site, "door_forced").await.len() == 1 }).await;
    eventually("the door left open past its threshold is flagged", || async {
        door_log(&app, &site, "door_held_open").await.len() == 1
    })
    .await;
    let held = &door_log(&app, &site, "door_held_open").await[0];
    assert_eq!(held["kind"], "door_event");
    assert!(held["detail"].to_string().contains("gatehouse"), "raised by Gatehouse itself: {held}");
    device.publish(&events, json!({"kind": "door_closed"}).to_string().as_bytes()).await;
    eventually("the closing is logged", || async { door_log(&app, &site, "door_closed").await.len() == 1 }).await;
    // Flagged once per opening: a second opening is flagged in turn, and by then the watch
    // has looked at the doors for a whole threshold more without flagging the first again.
    device.publish(&events, json!({"kind": "door_opened"}).to_string().as_bytes()).await;
    eventually("the second opening is flagged", || async { door_log(&app, &site, "door_held_open").await.len() >= 2 }).await;
    assert_eq!(door_log(&app, &site, "door_held_open").await.len(), 2, "flagged once per opening");
    device.publish(&events, json!({"kind": "door_closed"}).to_string().as_bytes()).await;
    eventually("the second closing is logged", || async { door_log(&app, &site, "door_closed").await.len() == 2 }).await;

    // The other door's tamper and the unknown event were refused: nothing logged for them.
    let side = app.get(&format!("/api/v1/access/log?access_point_id={other_door}"), t).await;
    assert!(side.ok()["items"].as_array().unwrap().is_empty(), "{}", side.text);
    let all = app.get("/api/v1/access/log?limit=500", t).await;
    assert!(!all.text.contains("door_exploded"));
    assert_eq!(app.get("/api/v1/access/log/verify", t).await.ok()["valid"], true);
}

pub(crate) fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// The site's access-log entries at the front door with this reason.
async fn door_log(app: &TestApp, site: &Site, reason: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/access/log?reason={reason}&access_point_id={}", site.front), Some(&site.slug)).await;
    reply.ok()["items"].as_array().unwrap().clone()
}

async fn a_message_delivered_twice_is_kept_once_even_across_a_restart(app: TestApp) {
    let site = site(&app, "mqtt-twice").await;
    let body = json!({"kind": "controller", "name": "Door controller", "access_point_id": site.front});
    let unit = device_of_kind(&app, &site, body).await;
    let events = format!("{}/events", unit.prefix);
    let telemetry = format!("{}/telemetry", unit.prefix);
    let at = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = json!({"kind": "door_forced", "ts": at, "message_id": "e-1"}).to_string();
    let sample = json!({"ts": at, "message_id": "t-1", "metrics": {"temperature": 21.5}}).to_string();
    let series = format!(
        "/api/v1/devices/{}/telemetry?metric=temperature&step=raw&from={}",
        unit.id,
        urlencode(&(chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339())
    );

    // At least once: the same message, twice (a resend after a lost PUBACK), then again later.
    // Each on a connection of its own client id: rmqtt 0.23 may refuse a CONNECT that takes
    // over a session whose connection is still being taken down.
    let client = |n: usize| format!("{}-{n}", unit.id);
    for round in 0..2 {
        assert!(acknowledged(&app, &unit, &client(2 * round), &events, event.as_bytes()).await);
        assert!(acknowledged(&app, &unit, &client(2 * round + 1), &telemetry, sample.as_bytes()).await);
    }
    let app = app.restart().await;
    assert!(acknowledged(&app, &unit, &client(4), &events, event.as_bytes()).await, "a duplicate is acknowledged");
    assert!(acknowledged(&app, &unit, &client(5), &telemetry, sample.as_bytes()).await);

    let logged = door_log(&app, &site, "door_forced").await;
    assert_eq!(logged.len(), 1, "the event is logged once: {logged:?}");
    let points = app.get(&series, Some(&site.slug)).await;
    assert_eq!(points.ok()["points"].as_array().unwrap().len(), 1, "the sample is kept once: {}", points.text);
    // Another message id is another message.
    let other = json!({"kind": "door_forced", "ts": at, "message_id": "e-2"}).to_string();
    assert!(acknowledged(&app, &unit, &client(6), &events, other.as_bytes()).await);
    assert_eq!(door_log(&app, &site, "door_forced").await.len(), 2);
}

/// Makes the database refuse any access-log entry whose detail holds `marker` (or stop
/// refusing, with `on` false): a storage failure, injected from outside the server.
async fn refuse_log_entries(app: &TestApp, marker: &str, on: bool) {
    use sqlx::Connection as _;
    let url = app.db.url_string();
    match app.backend {
        TestBackend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let sql = if on {
                format!(
                    "CREATE TRIGGER injected_failure BEFORE INSERT ON access_log WHEN NEW.detail LIKE '%{marker}%' \
                     BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            } else {
                "DROP TRIGGER injected_failure".to_owned()
            };
            sqlx::query(&sql).execute(&mut conn).await.unwrap();
        }
        TestBackend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            if on {
                let function = format!(
                    "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.detail LIKE '%{marker}%' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$"
                );
                sqlx::query(&function).execute(&mut conn).await.unwrap();
                let trigger = "CREATE TRIGGER injected_failure BEFORE INSERT ON access_log \
                               FOR EACH ROW EXECUTE FUNCTION injected_failure()";
                sqlx::query(trigger).execute(&mut conn).await.unwrap();
            } else {
                sqlx::query("DROP TRIGGER injected_failure ON access_log").execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// Publishes one QoS 1 message on a connection of its own and says whether a PUBACK came
/// (`false`: the connection was closed first).
pub(crate) async fn acknowledged(app: &TestApp, unit: &Reader, client_id: &str, topic: &str, body: &[u8]) -> bool {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", broker_port(app));
    options.set_credentials(unit.id.clone(), unit.password.clone());
    let (client, mut events) = AsyncClient::new(options, 8);
    client.publish(topic, QoS::AtLeastOnce, false, body.to_vec()).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await.expect("a PUBACK or a close") {
            Ok(Event::Incoming(Packet::PubAck(_))) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

async fn a_door_event_the_log_could_not_keep_is_not_acknowledged(app: TestApp) {
    let site = site(&app, "mqtt-unkept").await;
    let body = json!({"kind": "controller", "name": "Door controller", "access_point_id": site.front});
    let unit = device_of_kind(&app, &site, body).await;
    let events = format!("{}/events", unit.prefix);
    let event = json!({"kind": "door_forced", "message_id": "poisoned-1"}).to_string();

    refuse_log_entries(&app, "poisoned", true).await;
    let first = acknowledged(&app, &unit, &unit.id, &events, event.as_bytes()).await;
    assert!(!first, "a door event the log refused must not be acknowledged");
    assert!(door_log(&app, &site, "door_forced").await.is_empty());

    // The device sends it again once it is back, and then it is kept, once.
    refuse_log_entries(&app, "poisoned", false).await;
    assert!(acknowledged(&app, &unit, &format!("{}-again", unit.id), &events, event.as_bytes()).await, "kept the second time");
    let logged = door_log(&app, &site, "door_forced").await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["detail"]["message_id"], "poisoned-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_speaks_tls_when_given_a_certificate() {
    let dir = std::env::temp_dir().join(format!("gatehouse-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl must be installed");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (cert_path, key_path) = (cert.display().to_string(), key.display().to_string());
    let app = TestApp::spawn_with(
        TestBackend::Sqlite,
        &[("GATEHOUSE_MQTT_TLS_CERT", cert_path.as_str()), ("GATEHOUSE_MQTT_TLS_KEY", key_path.as_str())],
    )
    .await;
    let site = site(&app, "mqtt-tls").await;
    let reader = reader(&app, &site, "TLS reader").await;
    subscribed(&app).await;
    let port = broker_port(&app).to_string();
    let (req, resp) = (format!("{}/access/req", reader.prefix), format!("{}/access/resp", reader.prefix));
    let request = String::from_utf8(card_request("tls-1", "4242")).unwrap();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "--cafile", &cert_path];
    args.extend(ask_as(&reader, &req, &resp, &request));
    let (ok, stdout, stderr) = mosquitto("mosquitto_rr", &args);
    assert!(ok, "mosquitto_rr over TLS failed: {stderr}");
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    assert_eq!(answer["granted"], true, "{answer}");
    // Plain MQTT is not spoken on the TLS port.
    let plain = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        &reader.id,
        "-P",
        &reader.password,
        "-i",
        &reader.id,
        "-t",
        &req,
        "-e",
        &resp,
        "-m",
        &request,
        "-W",
        "3",
    ];
    assert!(!mosquitto("mosquitto_rr", &plain).0, "a plain client must not get through the TLS listener");
    let _ = std::fs::remove_dir_all(dir);
}

// Every device case on both backends, on the embedded broker. (TLS is the broker's
// business alone, so its case runs once, on SQLite.)
crate::on_both_backends!(
    readers_ask_and_are_answered_durably,
    mosquitto_clients_are_admitted_only_with_their_own_secret_and_topics,
    a_bad_device_is_refused_or_throttled_while_the_others_keep_working,
    rotated_or_revoked_credentials_shut_the_old_secret_out,
    commands_are_acknowledged_in_priority_order_and_wait_for_offline_devices,
    an_operator_unlocks_a_door_now_and_it_is_logged,
    telemetry_is_kept_raw_and_rolled_up_by_the_minute_and_hour,
    a_silent_device_goes_offline_and_comes_back_when_it_speaks,
    door_events_become_access_log_entries_and_a_door_left_open_is_flagged,
    the_registry_checks_input_and_keeps_tenants_apart,
    a_door_event_the_log_could_not_keep_is_not_acknowledged,
    a_message_delivered_twice_is_kept_once_even_across_a_restart,
);
