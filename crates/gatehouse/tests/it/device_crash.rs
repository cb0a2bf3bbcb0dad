//! The device edge keeps its word: devices flood QoS 1 telemetry and door
//! events through the embedded broker, `gatehouse serve` is killed with SIGKILL
//! mid-flood and started again, and every message a device was sent a PUBACK
//! for is in the store, once. The PUBACKs are counted on the device side by
//! Mosquitto's own client (`mosquitto_pub -d`), not by any of Gatehouse's code.
//!
//! The same through an external Mosquitto with persistence on (a private one on a free
//! port): the devices' PUBACKs then come from Mosquitto, which holds what Gatehouse's
//! persistent session has not acknowledged; Gatehouse is killed mid-flood and started
//! again with the same client id, and everything Mosquitto acknowledged is stored, once.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::binary::{gatehouse, tempfile_dir, Served};
use crate::{MASTER_KEY, TOKEN};

/// Devices flooding at once; each floods telemetry and events over two connections.
const DEVICES: usize = 3;
/// Lines each publisher has to send: more than it gets through before the kill (Mosquitto,
/// acknowledging on receipt, goes faster than the embedded broker, which waits for the commit;
/// a raw telemetry read returns at most 10,000 points).
const LINES: usize = 6_000;
const LINES_THROUGH_MOSQUITTO: usize = 9_000;
/// Lines a second each publisher is fed through Mosquitto, which would otherwise take all of
/// them before Gatehouse could be killed.
const PACE_THROUGH_MOSQUITTO: u64 = 2_000;
/// How long the devices go on publishing to Mosquitto while Gatehouse is down.
const DOWN_THROUGH_MOSQUITTO: Duration = Duration::from_secs(1);
/// PUBACKs (over all publishers) to wait for before the kill: the flood is under way.
const ACKS_BEFORE_KILL: usize = 1_500;
const DEADLINE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Where the devices publish.
enum Broker {
    /// Gatehouse's own, on this port.
    Embedded(u16),
    /// A private Mosquitto; Gatehouse connects as `client_id`.
    External { mosquitto: Mosquitto, client_id: String },
}

impl Broker {
    fn lines(&self) -> usize {
        match self {
            Broker::Embedded(_) => LINES,
            Broker::External { .. } => LINES_THROUGH_MOSQUITTO,
        }
    }

    /// Lines a second each publisher is fed (`None`: as fast as it takes them).
    fn pace(&self) -> Option<u64> {
        match self {
            Broker::Embedded(_) => None,
            Broker::External { .. } => Some(PACE_THROUGH_MOSQUITTO),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Broker::Embedded(port) => *port,
            Broker::External { mosquitto, .. } => mosquitto.port,
        }
    }
}

/// A private `mosquitto` with persistence on, as docs/devices.md tells a site to run it.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: crate::binary::TempDir,
}

impl Mosquitto {
    fn start() -> Mosquitto {
        let dir = tempfile_dir();
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
                 max_queued_messages 1000000\nmax_queued_bytes 0\nmax_inflight_messages 0\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the private mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto { child, port, _dir: dir }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &std::path::Path, broker: &Broker, database_url: &Option<String>) -> Served {
    let mut command = gatehouse(dir);
    command
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN)
        .env("GATEHOUSE_MASTER_KEY", MASTER_KEY)
        // The budget is not what this test is about: it is raised so the flood is a flood.
        .env("GATEHOUSE_MQTT_DEVICE_PUBLISH_RATE", "1000000")
        .arg("serve");
    match broker {
        Broker::Embedded(port) => command.env("GATEHOUSE_MQTT_LISTEN", format!("127.0.0.1:{port}")),
        Broker::External { mosquitto, client_id } => command
            .env("GATEHOUSE_MQTT_URL", format!("mqtt://127.0.0.1:{}", mosquitto.port))
            .env("GATEHOUSE_MQTT_CLIENT_ID", client_id)
            .env("GATEHOUSE_MQTT_SHARED_GROUP", client_id),
    };
    if let Some(url) = database_url {
        command.env("GATEHOUSE_DATABASE_URL", url);
    }
    Served::start(command)
}

/// One `mosquitto_pub -l` connection: every line it is fed is one QoS 1 message.
struct Publisher {
    child: Child,
    /// Line numbers (from 0) in the order their PUBLISH went out, by packet id.
    sent: Arc<Mutex<HashMap<u16, usize>>>,
    /// Packet ids a PUBACK came back for.
    acked: Arc<Mutex<Vec<u16>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Publisher {
    fn start(broker: &Broker, device: &Value, connection: &str, channel: &str, lines: Vec<String>) -> Publisher {
        let (mqtt_port, pace) = (broker.port(), broker.pace());
        let id = device["id"].as_str().unwrap();
        let topic = format!("{}/{channel}", device["mqtt"]["topic_prefix"].as_str().unwrap());
        // Line-buffered, so that nothing it printed is lost in its stdio buffer when it is killed.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_pub", "-h", "127.0.0.1", "-p", &mqtt_port.to_string(), "-q", "1", "-l", "-d"])
            .args(["-i", &format!("{id}-{connection}"), "-u", id, "-P", device["mqtt"]["password"].as_str().unwrap()])
            .args(["-t", &topic])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_pub (mosquitto-clients) and stdbuf must be installed");
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            for (n, line) in lines.iter().enumerate() {
                if writeln!(stdin, "{line}").is_err() {
                    return;
                }
                if let Some(pace) = pace.filter(|_| n % 100 == 99) {
                    std::thread::sleep(Duration::from_millis(100_000 / pace));
                }
            }
        });
        let sent = Arc::new(Mutex::new(HashMap::new()));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let (sent_by_reader, acked_by_reader) = (sent.clone(), acked.clone());
        let reader = std::thread::spawn(move || {
            let mut next_line = 0;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // "Client … sending PUBLISH (d0, q1, r0, m17, 'topic', … (42 bytes))": a first send (d0)
                // is the next line of input; "Client … received PUBACK (Mid: 17, RC:0)".
                if let Some(rest) = line.split("sending PUBLISH (d0, q1, r0, m").nth(1) {
                    let mid: u16 = rest.split(',').next().unwrap().parse().unwrap();
                    sent_by_reader.lock().unwrap().insert(mid, next_line);
                    next_line += 1;
                } else if let Some(rest) = line.split("received PUBACK (Mid: ").nth(1) {
                    let mid: u16 = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
                    acked_by_reader.lock().unwrap().push(mid);
                }
            }
        });
        Publisher { child, sent, acked, reader }
    }

    fn acks(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stops it and returns the line numbers it was sent a PUBACK for.
    fn acknowledged_lines(mut self) -> Vec<usize> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().unwrap();
        let sent = self.sent.lock().unwrap();
        let acked = self.acked.lock().unwrap();
        acked.iter().map(|mid| *sent.get(mid).expect("a PUBACK for a packet id that was never sent")).collect()
    }
}

async fn create_devices(client: &reqwest::Client, served: &Served) -> Vec<Value> {
    let tenant = json!({"name": "Acme", "slug": "acme"});
    assert_eq!(served.call(client, TOKEN, None, Method::POST, "/tenants", Some(tenant)).await.0, 201);
    let mut devices = Vec::new();
    for n in 0..DEVICES {
        let body = json!({"kind": "controller", "name": format!("Controller {n}")});
        let (status, device) = served.call(client, TOKEN, Some("acme"), Method::POST, "/devices", Some(body)).await;
        assert_eq!(status, 201, "{device}");
        devices.push(device);
    }
    devices
}

/// The `seq` values of every telemetry sample stored for the device.
async fn stored_telemetry(client: &reqwest::Client, served: &Served, device: &Value, since: &str) -> Vec<i64> {
    let path = format!(
        "/devices/{}/telemetry?metric=seq&step=raw&from={since}&to={}",
        device["id"].as_str().unwrap(),
        (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let (status, series) = served.call(client, TOKEN, Some("acme"), Method::GET, &path, None).await;
    assert_eq!(status, 200, "{series}");
    series["points"].as_array().unwrap().iter().map(|point| point["value"].as_f64().unwrap() as i64).collect()
}

/// The message ids of every door event in the log, with how often each is there.
async fn stored_events(client: &reqwest::Client, served: &Served) -> HashMap<String, usize> {
    let mut found = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/access/log?limit=500&cursor={cursor}"),
            None => "/access/log?limit=500".to_owned(),
        };
        let (status, page) = served.call(client, TOKEN, Some("acme"), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        for entry in page["items"].as_array().unwrap() {
            if let Some(id) = entry["detail"]["message_id"].as_str() {
                *found.entry(id.to_owned()).or_insert(0) += 1;
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

/// Until Gatehouse hears the first device's status through the broker: from then on its
/// subscription holds every device message (on an external broker, one published before it
/// subscribed reaches nobody).
async fn listening(client: &reqwest::Client, served: &Served, broker: &Broker, device: &Value) {
    let topic = format!("{}/status", device["mqtt"]["topic_prefix"].as_str().unwrap());
    let id = device["id"].as_str().unwrap();
    let path = format!("/devices/{id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let published = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port().to_string(), "-q", "1", "-t", &topic, "-m", r#"{"state":"online"}"#])
            .args(["-i", &format!("{id}-s"), "-u", id, "-P", device["mqtt"]["password"].as_str().unwrap()])
            .status()
            .expect("mosquitto_pub runs");
        assert!(published.success(), "mosquitto_pub could not publish the status");
        tokio::time::sleep(DOWN_THROUGH_MOSQUITTO).await;
        let (status, body) = served.call(client, TOKEN, Some("acme"), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "online" {
            return;
        }
        assert!(Instant::now() < deadline, "Gatehouse never heard the device through the broker");
    }
}

async fn acknowledged_messages_survive_sigkill(broker: Broker, database_url: Option<String>) {
    let dir = tempfile_dir();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let since = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let served = serve(dir.path(), &broker, &database_url);
    let devices = create_devices(&client, &served).await;
    listening(&client, &served, &broker, &devices[0]).await;

    let mut publishers = Vec::new();
    for (n, device) in devices.iter().enumerate() {
        let telemetry =
            (0..broker.lines()).map(|seq| json!({"message_id": format!("t{seq}"), "metrics": {"seq": seq}}).to_string());
        publishers.push(Publisher::start(&broker, device, "t", "telemetry", telemetry.collect()));
        let events =
            (0..broker.lines()).map(|seq| json!({"kind": "exit_button", "message_id": format!("d{n}-e{seq}")}).to_string());
        publishers.push(Publisher::start(&broker, device, "e", "events", events.collect()));
    }
    let deadline = Instant::now() + DEADLINE;
    while publishers.iter().map(Publisher::acks).sum::<usize>() < ACKS_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the flood never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The crash, mid-flood.
    served.kill();
    if let Broker::External { .. } = broker {
        // Mosquitto goes on acknowledging, and holds what it acknowledged for Gatehouse's session.
        tokio::time::sleep(DOWN_THROUGH_MOSQUITTO).await;
    }
    let acknowledged: Vec<Vec<usize>> = publishers.into_iter().map(Publisher::acknowledged_lines).collect();
    let acknowledged_total: usize = acknowledged.iter().map(Vec::len).sum();

    let restarted = serve(dir.path(), &broker, &database_url);
    // Through the embedded broker all of it is stored already; through Mosquitto it arrives
    // after the restart, from the session Mosquitto kept.
    let deadline = Instant::now() + DEADLINE;
    let (events, samples) = loop {
        let events = stored_events(&client, &restarted).await;
        let mut samples = Vec::new();
        for device in &devices {
            samples.push(stored_telemetry(&client, &restarted, device, &since).await);
        }
        let stored = events.len() + samples.iter().map(Vec::len).sum::<usize>();
        if stored >= acknowledged_total || Instant::now() > deadline {
            break (events, samples);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut totals = (0, 0);
    for (n, samples) in samples.iter().enumerate() {
        let (telemetry_acked, events_acked) = (&acknowledged[2 * n], &acknowledged[2 * n + 1]);
        assert!(
            telemetry_acked.len() < broker.lines() && events_acked.len() < broker.lines(),
            "the kill came after the flood ended"
        );
        let stored: HashSet<i64> = samples.iter().copied().collect();
        assert_eq!(stored.len(), samples.len(), "a telemetry message was stored twice");
        for line in telemetry_acked {
            assert!(stored.contains(&(*line as i64)), "device {n}: telemetry line {line} was acknowledged, not stored");
        }
        for line in events_acked {
            let id = format!("d{n}-e{line}");
            assert_eq!(events.get(&id), Some(&1), "device {n}: event {id} was acknowledged, stored {:?} times", events.get(&id));
        }
        totals.0 += telemetry_acked.len();
        totals.1 += events_acked.len();
    }
    assert!(events.values().all(|count| *count == 1), "an event was stored twice");
    eprintln!("acknowledged before the kill: {} telemetry and {} events; stored: {} events", totals.0, totals.1, events.len());
    let (status, verified) = restarted.call(&client, TOKEN, Some("acme"), Method::GET, "/access/log/verify", None).await;
    assert_eq!((status, &verified["valid"]), (200, &json!(true)), "{verified}");
    restarted.kill();
}

fn embedded() -> Broker {
    Broker::Embedded(free_port())
}

fn external() -> Broker {
    let client_id = format!("gatehouse-crash-{}", uuid::Uuid::new_v4().simple());
    Broker::External { mosquitto: Mosquitto::start(), client_id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_device_messages_survive_sigkill() {
    acknowledged_messages_survive_sigkill(embedded(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_device_messages_survive_sigkill() {
    let db = gatehouse_testkit::TestDatabase::postgres().await;
    acknowledged_messages_survive_sigkill(embedded(), Some(db.url_string())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_what_mosquitto_acknowledged_survives_a_gatehouse_sigkill() {
    acknowledged_messages_survive_sigkill(external(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_what_mosquitto_acknowledged_survives_a_gatehouse_sigkill() {
    let db = gatehouse_testkit::TestDatabase::postgres().await;
    acknowledged_messages_survive_sigkill(external(), Some(db.url_string())).await;
}
