//! The `gatehouse` binary as an operator runs it: serve --demo, signals,
//! configuration errors, the bootstrap token, migrate and the CSV import command.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TOKEN;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

pub(crate) fn gatehouse(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("GATEHOUSE_BOOTSTRAP_TOKEN")
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_LISTEN")
        .env_remove("GATEHOUSE_MQTT_URL")
        .env("GATEHOUSE_MQTT_LISTEN", "127.0.0.1:0")
        .env_remove("GATEHOUSE_CONFIG")
        .env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// A `gatehouse serve` child process and the address it announced.
pub(crate) struct Served {
    child: Child,
    pub(crate) base: String,
    stdout: Option<std::thread::JoinHandle<String>>,
}

/// A test that fails half-way must not leave its server running.
impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Served {
    pub(crate) fn start(mut command: Command) -> Served {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gatehouse starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("gatehouse announces its address");
        Served { child, base: format!("http://{addr}"), stdout: Some(stdout) }
    }

    /// Calls the served API as `token`, in `tenant` if given; returns the status and the JSON body.
    pub(crate) async fn call(
        &self,
        client: &reqwest::Client,
        token: &str,
        tenant: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = client.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(token);
        if let Some(tenant) = tenant {
            request = request.header("Gatehouse-Tenant", tenant);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// SIGKILL: the process dies where it stands, with no chance to flush or finish anything.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status and everything printed on stdout.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.stdout.take().map(|out| out.join().unwrap_or_default()).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "gatehouse did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn count(client: &reqwest::Client, base: &str, token: &str, path: &str) -> usize {
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}{path}?limit=500&cursor={c}"),
            None => format!("{base}{path}?limit=500"),
        };
        let page: serde_json::Value =
            client.get(url).bearer_auth(token).header("Gatehouse-Tenant", "demo").send().await.unwrap().json().await.unwrap();
        total += page["items"].as_array().expect("items").len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return total,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_loads_once_and_stops_cleanly_on_sigterm() {
    let dir = tempfile_dir();
    let client = reqwest::Client::new();
    let mut counts = Vec::new();
    for _ in 0..2 {
        let mut command = gatehouse(dir.path());
        command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).args(["serve", "--demo"]);
        let served = Served::start(command);
        let ready = client.get(format!("{}/readyz", served.base)).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 200);
        let sites = count(&client, &served.base, TOKEN, "/api/v1/sites").await;
        let access_points = count(&client, &served.base, TOKEN, "/api/v1/access-points").await;
        let units = count(&client, &served.base, TOKEN, "/api/v1/units").await;
        let people = count(&client, &served.base, TOKEN, "/api/v1/people").await;
        let zones = count(&client, &served.base, TOKEN, "/api/v1/zones").await;
        assert_eq!(sites, 2);
        assert!(
            access_points >= 20 && units >= 80 && people >= 200,
            "{access_points} access points, {units} units, {people} people"
        );
        for kind in ["door", "gate", "barrier"] {
            let url = format!("{}/api/v1/access-points?kind={kind}", served.base);
            let page: serde_json::Value =
                client.get(url).bearer_auth(TOKEN).header("Gatehouse-Tenant", "demo").send().await.unwrap().json().await.unwrap();
            assert!(!page["items"].as_array().unwrap().is_empty(), "the demo has a {kind}");
        }
        // The demo decides: a resident's card opens the main gate, and the decision is logged.
        let gates: serde_json::Value = client
            .get(format!("{}/api/v1/access-points?name=Main%20pedestrian", served.base))
            .bearer_auth(TOKEN)
            .header("Gatehouse-Tenant", "demo")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let gate = gates["items"][0]["id"].as_str().expect("the main gate").to_owned();
        let decision: serde_json::Value = client
            .post(format!("{}/api/v1/access/decide", served.base))
            .bearer_auth(TOKEN)
            .header("Gatehouse-Tenant", "demo")
            .json(&serde_json::json!({"access_point_id": gate, "credential": {"kind": "card", "value": "10001", "facility_code": 17}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(decision["reason"], "granted", "{decision}");
        assert_eq!(decision["rule"]["access_level"], "Residents", "{decision}");
        counts.push((sites, zones, units, access_points, people));
        let (status, _) = served.terminate();
        assert!(status.success(), "exit code 0 on SIGTERM, got {status:?}");
    }
    assert_eq!(counts[0], counts[1], "the second --demo start loads nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_bootstrap_token_is_printed_once_and_can_be_rotated() {
    let dir = tempfile_dir();
    let client = reqwest::Client::new();
    let mut command = gatehouse(dir.path());
    command.arg("serve");
    let served = Served::start(command);
    let (status, stdout) = served.terminate();
    assert!(status.success());
    let token = stdout.split_whitespace().find(|w| w.starts_with("ghb_")).map(str::to_owned);
    let Some(token) = token else { panic!("the first start prints the token: {stdout:?}") };
    assert_eq!(token.len(), 47);

    let mut again = gatehouse(dir.path());
    again.arg("serve");
    let served = Served::start(again);
    let ok = client.get(format!("{}/api/v1/tenants", served.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let (status, stdout) = served.terminate();
    assert!(status.success());
    assert!(!stdout.contains("ghb_"), "the token is printed once only");

    let rotated = gatehouse(dir.path()).args(["admin", "rotate-bootstrap-token"]).output().unwrap();
    assert!(rotated.status.success());
    let new_token =
        String::from_utf8_lossy(&rotated.stdout).split_whitespace().find(|w| w.starts_with("ghb_")).unwrap().to_owned();
    assert_ne!(new_token, token);

    let mut third = gatehouse(dir.path());
    third.arg("serve");
    let served = Served::start(third);
    let old = client.get(format!("{}/api/v1/tenants", served.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(old.status().as_u16(), 401);
    let new = client.get(format!("{}/api/v1/tenants", served.base)).bearer_auth(&new_token).send().await.unwrap();
    assert_eq!(new.status().as_u16(), 200);
    assert!(served.terminate().0.success());

    let refused =
        gatehouse(dir.path()).env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).args(["admin", "rotate-bootstrap-token"]).output().unwrap();
    assert!(!refused.status.success(), "rotation is refused while a token is configured");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("GATEHOUSE_BOOTSTRAP_TOKEN"));

    let database = std::fs::read(dir.path().join("gatehouse.db")).unwrap();
    let haystack = String::from_utf8_lossy(&database);
    assert!(!haystack.contains(&new_token) && !haystack.contains(&token), "tokens are stored hashed");
}

#[test]
fn a_bad_value_stops_the_start_with_one_line_naming_the_key() {
    let dir = tempfile_dir();
    let out = gatehouse(dir.path()).env("GATEHOUSE_LISTEN", "everywhere").arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("listen") && stderr.contains("GATEHOUSE_LISTEN") && stderr.contains("HOST:PORT"), "{stderr}");

    let out = gatehouse(dir.path()).args(["serve", "--log-format", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-format"));

    let out = gatehouse(dir.path()).args(["migrate", "--database-url", "mysql://root:hunter2@db/x"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("database_url") && !stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_taken_port_is_reported_with_what_to_do() {
    let dir = tempfile_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = gatehouse(dir.path()).args(["serve", "--listen", &addr]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already in use") && stderr.contains("--listen"), "{stderr}");
    // The port is bound before anything else, so nothing is created and no token is shown and lost.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ghb_"), "no token is generated and lost when the port is taken");
    assert!(!dir.path().join("gatehouse.db").exists(), "no database is created when the port is taken");
}

#[test]
fn a_taken_mqtt_port_is_reported_with_both_ways_out() {
    let dir = tempfile_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = gatehouse(dir.path()).args(["serve", "--listen", "127.0.0.1:0", "--mqtt-listen", &addr]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|line| line.starts_with("gatehouse:")).unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.contains(&addr) && line.contains("--mqtt-listen") && line.contains(&format!("--mqtt-url mqtt://{addr}")),
        "{line}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ghb_"), "no token is generated and lost when the port is taken");
    assert!(!dir.path().join("gatehouse.db").exists(), "no database is created when the port is taken");
}

#[test]
fn config_print_masks_secrets_and_shows_sources() {
    let dir = tempfile_dir();
    let out = gatehouse(dir.path())
        .env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN)
        .args(["config", "print", "--database-url", "postgres://gh:hunter2@db.internal:5432/gatehouse"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("hunter2") && !printed.contains(TOKEN), "{printed}");
    assert!(
        printed.contains("postgres://gh:***@db.internal:5432/gatehouse") && printed.contains("flag --database-url"),
        "{printed}"
    );
    assert!(printed.contains("listen = \"127.0.0.1:8080\"") && printed.contains("# default"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_import_people_from_the_command_line() {
    let dir = tempfile_dir();
    let migrated = gatehouse(dir.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let first = String::from_utf8_lossy(&migrated.stdout).to_string();
    assert!(first.starts_with("applied ") && !first.starts_with("applied 0 ") && first.contains("up to date"), "{first}");
    let again = gatehouse(dir.path()).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("applied 0 migration(s)"));

    // A tenant to import into: the demo, loaded by a short serve.
    let mut command = gatehouse(dir.path());
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).args(["serve", "--demo"]);
    let served = Served::start(command);
    let client = reqwest::Client::new();
    let before = count(&client, &served.base, TOKEN, "/api/v1/people").await;
    assert!(served.terminate().0.success());

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "kind,first_name,email,unit\nvisitor,Zed,zed@example.com,A-101\nmartian,Yu,yu@example,\n").unwrap();
    let out = gatehouse(dir.path()).args(["import", "people"]).arg(&bad).args(["--tenant", "demo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: kind:") && stderr.contains("line 3: email:") && stderr.contains("nothing was imported"),
        "{stderr}"
    );

    let out =
        gatehouse(dir.path()).args(["import", "people"]).arg(&bad).args(["--tenant", "demo", "--skip-invalid"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1 of 2 row(s); skipped 1"));

    let out = gatehouse(dir.path()).args(["import", "people"]).arg(&bad).args(["--tenant", "nobody"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant 'nobody'"));

    let mut command = gatehouse(dir.path());
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).arg("serve");
    let served = Served::start(command);
    assert_eq!(count(&client, &served.base, TOKEN, "/api/v1/people").await, before + 1);
    assert!(served.terminate().0.success());
}

pub(crate) fn tempfile_dir() -> TempDir {
    TempDir::new()
}

/// A directory removed when dropped (tempfile is a dependency of the testkit, not of this crate).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("gatehouse-it-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_is_created_from_the_command_line_and_keys_rotate() {
    use std::io::Write as _;
    let dir = tempfile_dir();
    let client = reqwest::Client::new();
    // The demo tenant, to create the admin in.
    let mut command = gatehouse(dir.path());
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).args(["serve", "--demo"]);
    assert!(Served::start(command).terminate().0.success());

    let create = |password: &str| {
        let mut child = gatehouse(dir.path())
            .args([
                "admin",
                "create",
                "--tenant",
                "demo",
                "--email",
                "admin@demo.example",
                "--role",
                "tenant_admin",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = create("short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
    let created = create("a long and private passphrase");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains("tenant_admin"));
    let again = create("a long and private passphrase");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let mut command = gatehouse(dir.path());
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).arg("serve");
    let served = Served::start(command);
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", served.base))
        .json(&serde_json::json!({"email": "admin@demo.example", "password": "a long and private passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().expect("logged in").to_owned();
    let sites = client.get(format!("{}/api/v1/sites", served.base)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(sites.status().as_u16(), 200);
    assert!(served.terminate().0.success());

    let rotated = gatehouse(dir.path()).args(["admin", "rotate-signing-key"]).output().unwrap();
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let mut command = gatehouse(dir.path());
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", TOKEN).arg("serve");
    let served = Served::start(command);
    let jwks: serde_json::Value =
        client.get(format!("{}/.well-known/jwks.json", served.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "the retired key stays published while its tokens live");
    let still = client.get(format!("{}/api/v1/sites", served.base)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(still.status().as_u16(), 200, "a token signed by the retired key still verifies");
    assert!(served.terminate().0.success());
    let key_file = std::fs::metadata(dir.path().join("master.key")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(key_file.permissions().mode() & 0o077, 0, "the master key file is private");
    let database = std::fs::metadata(dir.path().join("gatehouse.db")).unwrap();
    assert_eq!(database.permissions().mode() & 0o077, 0, "the database file is private");
    let log_index = std::fs::metadata(dir.path().join("gatehouse.db-log-index")).unwrap();
    assert_eq!(log_index.permissions().mode() & 0o077, 0, "the access log's index file is private");
}
