//! Crash safety of the access log: decisions stream in from concurrent clients
//! while the `gatehouse` process is killed with SIGKILL at a random moment,
//! several times over. After each restart, every decision a client received an
//! answer for is in the log, and the chain verifies (over HTTP and with
//! `gatehouse audit verify`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::binary::{gatehouse, tempfile_dir, Served, BIN};
use crate::{MASTER_KEY, TOKEN};

/// Rounds of load-then-kill per backend.
const ROUNDS: usize = 3;
/// Clients sending decisions at once.
const CLIENTS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_answered_decisions_survive_sigkill() {
    answered_decisions_survive_sigkill(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_answered_decisions_survive_sigkill() {
    let db = gatehouse_testkit::TestDatabase::postgres().await;
    answered_decisions_survive_sigkill(Some(db.url_string())).await;
}

fn command(dir: &std::path::Path, database_url: &Option<String>) -> std::process::Command {
    let mut command = gatehouse(dir);
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).env("GATEHOUSE_MASTER_KEY", MASTER_KEY);
    if let Some(url) = database_url {
        command.env("GATEHOUSE_DATABASE_URL", url);
    }
    command
}

async fn call(client: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = client.request(method, format!("{base}{path}")).bearer_auth(TOKEN).header("Gatehouse-Tenant", "acme");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status();
    let body: Value = reply.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Sets up a door, a person with a level and ten cards; returns the door.
async fn setup(client: &reqwest::Client, base: &str) -> String {
    use reqwest::Method;
    let created = client
        .post(format!("{base}/api/v1/tenants"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "Acme", "slug": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let post = |path: &'static str, body: Value| call(client, base, Method::POST, path, Some(body));
    let site = post("/api/v1/sites", json!({"name": "Main", "time_zone": "Europe/Madrid"})).await["id"].clone();
    let zone = post("/api/v1/zones", json!({"site_id": site, "name": "Building", "kind": "building"})).await["id"].clone();
    let door = post("/api/v1/access-points", json!({"zone_id": zone, "name": "Front", "kind": "door"})).await["id"].clone();
    let person = post("/api/v1/people", json!({"kind": "employee", "first_name": "Ana"})).await["id"].clone();
    let level = post("/api/v1/access-levels", json!({"name": "All", "entries": [{"zone_id": zone}]})).await["id"].clone();
    post("/api/v1/grants", json!({"person_id": person, "access_level_id": level})).await;
    for number in 0..10 {
        post("/api/v1/credentials", json!({"person_id": person, "kind": "card", "value": (1000 + number).to_string()})).await;
    }
    door.as_str().unwrap().to_owned()
}

/// Every entry id in the log, in sequence order, and whether the sequence is gapless.
async fn logged(client: &reqwest::Client, base: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/access/log?limit=500&cursor={cursor}"),
            None => "/api/v1/access/log?limit=500".to_owned(),
        };
        let page = call(client, base, reqwest::Method::GET, &path, None).await;
        for entry in page["items"].as_array().unwrap() {
            assert_eq!(entry["seq"].as_u64().unwrap() as usize, ids.len() + 1, "the sequence has no gaps");
            ids.push(entry["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

fn jitter_ms(max: u64) -> u64 {
    u64::from(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos()) % max
}

async fn answered_decisions_survive_sigkill(database_url: Option<String>) {
    let dir = tempfile_dir();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let served = Served::start({
        let mut command = command(dir.path(), &database_url);
        command.arg("serve");
        command
    });
    let door = setup(&client, &served.base).await;
    let mut served = Some(served);
    let answered: Arc<Mutex<HashSet<String>>> = Arc::default();

    for round in 0..ROUNDS {
        let running = served.take().unwrap();
        let base = running.base.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client_number| {
                let (client, base, door, answered, stop) =
                    (client.clone(), base.clone(), door.clone(), answered.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut sent = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let card = 1000 + (client_number as u64 + sent) % 12;
                        sent += 1;
                        let body = json!({"access_point_id": door, "credential": {"kind": "card", "value": card.to_string()}});
                        let reply = client
                            .post(format!("{base}/api/v1/access/decide"))
                            .bearer_auth(TOKEN)
                            .header("Gatehouse-Tenant", "acme")
                            .json(&body)
                            .send()
                            .await;
                        // Only a complete 200 with a decision id is an answer; a connection cut mid-way is not.
                        let Ok(reply) = reply else { continue };
                        if reply.status().as_u16() != 200 {
                            continue;
                        }
                        let Ok(decision) = reply.json::<Value>().await else { continue };
                        if let Some(id) = decision["decision_id"].as_str() {
                            answered.lock().unwrap().insert(id.to_owned());
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300 + jitter_ms(700))).await;
        running.kill();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for client in clients {
            client.await.unwrap();
        }

        let restarted = Served::start({
            let mut command = command(dir.path(), &database_url);
            command.arg("serve");
            command
        });
        let in_log: HashSet<String> = logged(&client, &restarted.base).await.into_iter().collect();
        let answered_now = answered.lock().unwrap().clone();
        assert!(answered_now.len() > 10 * (round + 1), "round {round}: only {} decisions were answered", answered_now.len());
        let lost: Vec<&String> = answered_now.iter().filter(|id| !in_log.contains(*id)).collect();
        assert!(lost.is_empty(), "round {round}: {} answered decisions are not in the log, e.g. {:?}", lost.len(), lost.first());
        let verified = call(&client, &restarted.base, reqwest::Method::GET, "/api/v1/access/log/verify", None).await;
        assert_eq!(verified["valid"], true, "round {round}: {verified}");
        served = Some(restarted);
    }

    let last = served.take().unwrap();
    last.kill();
    let mut verify = command(dir.path(), &database_url);
    let output = verify.args(["audit", "verify", "--tenant", "acme"]).output().expect("gatehouse audit verify runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{BIN} audit verify: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("chain intact"), "{stdout}");
}
