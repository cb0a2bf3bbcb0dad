//! A controller back from an hour offline replays its buffered door events at
//! QoS 1 over MQTT 3.1.1 as fast as it can (`mosquitto_pub -l`, Mosquitto's own
//! client). Its publish budget is far below that pace, so it is slowed, not
//! dropped: every event reaches the access log, in the order it was sent, with
//! the instant the controller gave it, and the replay takes about as long as
//! the budget says.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::binary::{gatehouse, tempfile_dir, Served};
use crate::{MASTER_KEY, TOKEN};

const BACKLOG: usize = 5_000;
/// Publishes per second the device may send (bursts to twice that): the default a site
/// runs with, which the replay far exceeds.
const BUDGET: usize = 100;
const DEADLINE: Duration = Duration::from_secs(180);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn replayed_backlog_arrives_whole_in_order(database_url: Option<String>) {
    let dir = tempfile_dir();
    let mqtt_port = free_port();
    let mut command = gatehouse(dir.path());
    command
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN)
        .env("GATEHOUSE_MASTER_KEY", MASTER_KEY)
        .env("GATEHOUSE_MQTT_LISTEN", format!("127.0.0.1:{mqtt_port}"))
        .env("GATEHOUSE_MQTT_DEVICE_PUBLISH_RATE", BUDGET.to_string())
        .arg("serve");
    if let Some(url) = &database_url {
        command.env("GATEHOUSE_DATABASE_URL", url);
    }
    let served = Served::start(command);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let tenant = json!({"name": "Acme", "slug": "acme"});
    assert_eq!(served.call(&client, TOKEN, None, Method::POST, "/tenants", Some(tenant)).await.0, 201);
    let body = json!({"kind": "controller", "name": "Back door controller"});
    let (status, device) = served.call(&client, TOKEN, Some("acme"), Method::POST, "/devices", Some(body)).await;
    assert_eq!(status, 201, "{device}");

    // An hour of buffered events, 0.7 s apart, replayed in one go.
    // To the microsecond, as instants are kept.
    let now = chrono::DateTime::from_timestamp_micros(chrono::Utc::now().timestamp_micros()).unwrap();
    let offline_since = now - chrono::Duration::hours(1);
    let instant = |n: usize| offline_since + chrono::Duration::milliseconds(700 * n as i64);
    let lines: Vec<String> = (0..BACKLOG)
        .map(|n| {
            let ts = instant(n).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            json!({"kind": "exit_button", "ts": ts, "message_id": format!("b{n}")}).to_string()
        })
        .collect();
    let id = device["id"].as_str().unwrap();
    let topic = format!("{}/events", device["mqtt"]["topic_prefix"].as_str().unwrap());
    let started = Instant::now();
    let mut publisher = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &mqtt_port.to_string(), "-V", "mqttv311", "-q", "1", "-l"])
        .args(["-i", id, "-u", id, "-P", device["mqtt"]["password"].as_str().unwrap(), "-t", &topic])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub (mosquitto-clients) must be installed");
    let mut stdin = publisher.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
        // End of input: mosquitto_pub sends what it has, then disconnects and exits.
    });
    feeder.join().unwrap();

    // Every event in the log, oldest first.
    let mut logged: Vec<Value> = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while logged.len() < BACKLOG {
        assert!(Instant::now() < deadline, "only {} of {BACKLOG} events reached the log", logged.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
        logged = events(&client, &served).await;
    }
    let took = started.elapsed();
    let output = publisher.wait_with_output().unwrap();
    assert!(output.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&output.stderr));

    assert_eq!(logged.len(), BACKLOG, "no event twice");
    for (n, entry) in logged.iter().enumerate() {
        let detail = &entry["detail"];
        assert_eq!(detail["message_id"], format!("b{n}"), "the log keeps the order the controller sent: {entry}");
        let reported: chrono::DateTime<chrono::Utc> = detail["reported_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(reported, instant(n), "the controller's instant is kept: {entry}");
        assert_eq!(detail["late"], true, "an hour-old event is marked as late: {entry}");
    }
    // The budget's burst (twice the rate) goes at once, the rest at the rate.
    let paced = Duration::from_secs_f64((BACKLOG - 2 * BUDGET) as f64 / BUDGET as f64);
    assert!(took >= paced.mul_f64(0.9), "{BACKLOG} events at {BUDGET}/s took {took:?}: the budget was not kept");
    eprintln!("{BACKLOG} events replayed at a budget of {BUDGET}/s in {took:?} (the budget allows {paced:?} at best)");
    served.kill();
}

/// The door events in the log, in log order (oldest first).
async fn events(client: &reqwest::Client, served: &Served) -> Vec<Value> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/access/log?limit=500&cursor={cursor}"),
            None => "/access/log?limit=500".to_owned(),
        };
        let (status, page) = served.call(client, TOKEN, Some("acme"), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        found.extend(page["items"].as_array().unwrap().iter().filter(|entry| entry["kind"] == "door_event").cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    found.sort_by_key(|entry| entry["seq"].as_i64());
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_replayed_backlog_arrives_whole_in_order_at_the_budget() {
    replayed_backlog_arrives_whole_in_order(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_replayed_backlog_arrives_whole_in_order_at_the_budget() {
    let db = gatehouse_testkit::TestDatabase::postgres().await;
    replayed_backlog_arrives_whole_in_order(Some(db.url_string())).await;
}
