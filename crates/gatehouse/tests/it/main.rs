//! The integration suite: the real server on a random port, driven over HTTP the
//! way a client would, on SQLite and on a fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod audit;
mod bad_input;
mod binary;
mod conventions;
mod crash;
mod device_backlog;
mod device_crash;
mod device_reported;
mod devices;
mod events;
mod follow;
mod identity;
mod import;
mod isolation;
mod matrix;
mod openapi;
mod operations;
mod policy_changes;
mod resources;
mod restart;
mod roles;
mod scopes;
mod simulate;
mod tamper;
mod upgrade;

use gatehouse::config::{Config, FlagValues};
use gatehouse::server::RunningServer;
use gatehouse_testkit::{TestBackend, TestDatabase};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

pub const TOKEN: &str = "ghb_integration-test-token-0123456789abcdefghijklmnop";
/// 32 bytes, base64: the test servers' master key (a test must not write one into the source tree).
pub const MASTER_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=";

/// Declares each listed `async fn case(app: TestApp)` of the calling module once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { super::$case($crate::TestApp::spawn(gatehouse_testkit::TestBackend::Sqlite).await).await } )+
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { super::$case($crate::TestApp::spawn(gatehouse_testkit::TestBackend::Postgres).await).await } )+
        }
    };
}

/// A running server on its own fresh database, and a client for it.
pub struct TestApp {
    pub server: RunningServer,
    pub client: reqwest::Client,
    pub backend: TestBackend,
    pub db: TestDatabase,
    extra_env: Vec<(String, String)>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code; returns the body.
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert_eq!(self.content_type(), "application/problem+json", "content type; body: {}", self.text);
        assert_eq!(self.body["code"], code, "code; body: {}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].as_str().unwrap_or_default().starts_with("urn:gatehouse:problem:"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    pub fn ok(&self) -> &Value {
        assert!(self.status.is_success(), "expected success, got {}: {}", self.status, self.text);
        &self.body
    }

    pub fn id(&self) -> String {
        self.ok()["id"].as_str().expect("an id").to_owned()
    }

    pub fn ids(&self) -> Vec<String> {
        self.ok()["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
    }
}

impl TestApp {
    pub async fn spawn(backend: TestBackend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts with extra environment settings (`GATEHOUSE_JSON_BODY_BYTES_MAX`, ...).
    pub async fn spawn_with(backend: TestBackend, env: &[(&str, &str)]) -> TestApp {
        // GATEHOUSE_TEST_LOG=1 (with GATEHOUSE_LOG=warn, say) prints the servers' logs: why a 500 was a 500.
        if std::env::var_os("GATEHOUSE_TEST_LOG").is_some() {
            gatehouse::logging::init(gatehouse::config::LogFormat::Human);
        }
        let db = TestDatabase::new(backend).await;
        let extra_env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let server = start(&db, &extra_env).await;
        TestApp { server, client: reqwest::Client::new(), backend, db, extra_env }
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        let TestApp { server, client, backend, db, extra_env } = self;
        server.stop().await.expect("graceful stop");
        let server = start(&db, &extra_env).await;
        TestApp { server, client, backend, db, extra_env }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// A request with the bootstrap token, acting in `tenant` (a slug or id) when given.
    pub fn request(&self, method: Method, path: &str, tenant: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path)).bearer_auth(TOKEN);
        match tenant {
            Some(tenant) => builder.header("Gatehouse-Tenant", tenant),
            None => builder,
        }
    }

    pub async fn send(&self, builder: RequestBuilder) -> Reply {
        let response = builder.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub async fn get(&self, path: &str, tenant: Option<&str>) -> Reply {
        self.send(self.request(Method::GET, path, tenant)).await
    }

    pub async fn post(&self, path: &str, tenant: Option<&str>, body: Value) -> Reply {
        self.send(self.request(Method::POST, path, tenant).json(&body)).await
    }

    pub async fn patch(&self, path: &str, tenant: Option<&str>, body: Value) -> Reply {
        self.send(self.request(Method::PATCH, path, tenant).json(&body)).await
    }

    pub async fn put(&self, path: &str, tenant: Option<&str>, body: Value) -> Reply {
        self.send(self.request(Method::PUT, path, tenant).json(&body)).await
    }

    pub async fn delete(&self, path: &str, tenant: Option<&str>) -> Reply {
        self.send(self.request(Method::DELETE, path, tenant)).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        self.send(self.request(method, path, tenant).header("content-type", content_type).body(body)).await
    }

    pub async fn create_tenant(&self, slug: &str) -> String {
        self.post("/api/v1/tenants", None, json!({"name": format!("Tenant {slug}"), "slug": slug})).await.id()
    }

    /// A tenant with one of everything: site > building > floor, a unit, a door and a resident.
    pub async fn populated_tenant(&self, slug: &str) -> Fixture {
        let tenant = self.create_tenant(slug).await;
        let t = Some(slug);
        let site = self.post("/api/v1/sites", t, json!({"name": "Main", "time_zone": "Europe/Madrid"})).await.id();
        let building = self.post("/api/v1/zones", t, json!({"site_id": site, "name": "Building", "kind": "building"})).await.id();
        let floor = self
            .post("/api/v1/zones", t, json!({"site_id": site, "parent_id": building, "name": "Floor 1", "kind": "floor"}))
            .await
            .id();
        let unit = self.post("/api/v1/units", t, json!({"zone_id": floor, "name": "1A"})).await.id();
        let access_point =
            self.post("/api/v1/access-points", t, json!({"zone_id": building, "name": "Front door", "kind": "door"})).await.id();
        let person = self
            .post(
                "/api/v1/people",
                t,
                json!({"kind": "resident", "first_name": "Ana", "last_name": "Souza", "email": format!("ana@{slug}.example"), "unit_id": unit}),
            )
            .await
            .id();
        Fixture { slug: slug.to_owned(), tenant, site, building, floor, unit, access_point, person }
    }
}

/// The ids of a [`TestApp::populated_tenant`].
#[derive(Debug, Clone)]
pub struct Fixture {
    pub slug: String,
    pub tenant: String,
    pub site: String,
    pub building: String,
    pub floor: String,
    pub unit: String,
    pub access_point: String,
    pub person: String,
}

impl Fixture {
    /// `(collection path, id)` for every tenant-owned object of the fixture.
    pub fn objects(&self) -> Vec<(&'static str, String)> {
        vec![
            ("/api/v1/sites", self.site.clone()),
            ("/api/v1/zones", self.building.clone()),
            ("/api/v1/zones", self.floor.clone()),
            ("/api/v1/units", self.unit.clone()),
            ("/api/v1/access-points", self.access_point.clone()),
            ("/api/v1/people", self.person.clone()),
        ]
    }
}

async fn start(db: &TestDatabase, extra_env: &[(String, String)]) -> RunningServer {
    let flags = FlagValues {
        listen: Some("127.0.0.1:0".into()),
        mqtt_listen: Some("127.0.0.1:0".into()),
        database_url: Some(db.url_string()),
        ..FlagValues::default()
    };
    let env = |name: &str| {
        if name == "GATEHOUSE_BOOTSTRAP_TOKEN" {
            return Some(TOKEN.to_owned());
        }
        if name == "GATEHOUSE_MASTER_KEY" {
            return Some(MASTER_KEY.to_owned());
        }
        extra_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    let config = Config::build(&flags, &env).expect("a valid test configuration");
    RunningServer::start(config).await.expect("the server starts")
}

/// Waits for a condition with a deadline instead of sleeping a fixed time.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
