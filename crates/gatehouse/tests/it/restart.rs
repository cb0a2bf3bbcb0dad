//! A crash must not keep the doors offline: after SIGKILL with devices connected,
//! `gatehouse serve` starts again at once on the same HTTP and MQTT ports, although
//! the killed process's connections linger in TIME_WAIT on them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::binary::{gatehouse, tempfile_dir, Served};
use crate::{MASTER_KEY, TOKEN};

/// How long the restarted server may take to admit the device again.
const READMIT_WITHIN: Duration = Duration::from_secs(15);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve(dir: &std::path::Path, mqtt_port: u16) -> Served {
    let mut command = gatehouse(dir);
    command
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN)
        .env("GATEHOUSE_MASTER_KEY", MASTER_KEY)
        .env("GATEHOUSE_MQTT_LISTEN", format!("127.0.0.1:{mqtt_port}"))
        .arg("serve");
    Served::start(command)
}

/// A device that holds its connection open, as a controller does: `mosquitto_sub` on its command topic.
fn hold_connection(mqtt_port: u16, device: &Value) -> std::process::Child {
    let id = device["id"].as_str().unwrap();
    let topic = format!("{}/cmd", device["mqtt"]["topic_prefix"].as_str().unwrap());
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &mqtt_port.to_string(), "-q", "1", "-i", id, "-u", id])
        .args(["-P", device["mqtt"]["password"].as_str().unwrap(), "-t", &topic])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub must be installed")
}

/// Whether the device can connect and publish its status (`mosquitto_pub` exits 0 only once CONNACK accepted it).
fn device_connects(mqtt_port: u16, device: &Value) -> bool {
    let id = device["id"].as_str().unwrap();
    let topic = format!("{}/status", device["mqtt"]["topic_prefix"].as_str().unwrap());
    Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &mqtt_port.to_string(), "-q", "1", "-i", id, "-u", id])
        .args(["-P", device["mqtt"]["password"].as_str().unwrap(), "-t", &topic, "-m", r#"{"state":"online"}"#])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Waits until the server has seen the device online (its status published and ingested).
async fn wait_online(client: &reqwest::Client, base: &str, device: &Value) {
    let path = format!("{base}/api/v1/devices/{}", device["id"].as_str().unwrap());
    let deadline = Instant::now() + READMIT_WITHIN;
    loop {
        let reply = client.get(&path).bearer_auth(TOKEN).header("Gatehouse-Tenant", "acme").send().await.unwrap();
        let body: Value = reply.json().await.unwrap();
        if body["status"] == "online" {
            return;
        }
        assert!(Instant::now() < deadline, "the device never came online: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/proc/net/tcp` states.
const ESTABLISHED: &str = "01";
const TIME_WAIT: &str = "06";

/// Waits until a TCP socket whose local port is `port` is in `state`.
async fn wait_for_socket(port: u16, state: &str, failure: &str) {
    let deadline = Instant::now() + READMIT_WITHIN;
    let local = format!(":{port:04X}");
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let found = table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == state
        });
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_restarts_at_once_after_sigkill_with_devices_connected() {
    let dir = tempfile_dir();
    let mqtt_port = free_port();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let served = serve(dir.path(), mqtt_port);
    let tenant = json!({"name": "Acme", "slug": "acme"});
    assert_eq!(served.call(&client, TOKEN, None, Method::POST, "/tenants", Some(tenant)).await.0, 201);
    let controller = json!({"kind": "controller", "name": "Front controller"});
    let (status, device) = served.call(&client, TOKEN, Some("acme"), Method::POST, "/devices", Some(controller)).await;
    assert_eq!(status, 201, "{device}");
    assert!(device_connects(mqtt_port, &device), "the device connects before the crash");
    wait_online(&client, &served.base, &device).await;
    let mut held = hold_connection(mqtt_port, &device);
    wait_for_socket(mqtt_port, ESTABLISHED, "mosquitto_sub never connected").await;

    // The crash: the server dies where it stands; the device's connection is left to the kernel.
    served.kill();
    let _ = held.kill();
    let _ = held.wait();
    // What locked the port for a minute: the killed server's side of the connection in TIME_WAIT.
    wait_for_socket(mqtt_port, TIME_WAIT, "no TIME_WAIT connection on the MQTT port: the case is not reproduced").await;
    let started = Instant::now();
    let restarted = serve(dir.path(), mqtt_port);
    let ready = client.get(format!("{}/readyz", restarted.base)).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let deadline = Instant::now() + READMIT_WITHIN;
    while !device_connects(mqtt_port, &device) {
        assert!(Instant::now() < deadline, "the restarted broker does not admit the device");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let readmitted_after = started.elapsed();
    assert!(readmitted_after < READMIT_WITHIN, "admitted again after {readmitted_after:?}");
    restarted.kill();
}
