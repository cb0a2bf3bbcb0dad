//! The simulator's side of the HTTP API: what the tenant has (access points,
//! zones, cards) and the simulated devices, registered or reused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gatehouse_mqtt::topics::topic_prefix;
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::device::{Card, Registered, Role};

/// Rows asked for per page (the API's largest page).
const PAGE_ROWS: u32 = 500;
/// Most pages read of one list; a tenant with more places than this is not simulated whole.
const PAGES_MAX: usize = 40;
/// Device registrations (or credential rotations) in flight at once.
const SETUP_IN_FLIGHT_MAX: usize = 8;
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The model every simulated device reports.
pub const SIMULATED_MODEL: &str = "gatehouse-simulator";

/// A client for one tenant.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: reqwest::Url,
    token: String,
    tenant: String,
}

/// The places devices attach to.
pub struct Places {
    pub access_points: Vec<Uuid>,
    pub zones: Vec<Uuid>,
}

pub struct Fleet {
    pub devices: Vec<Registered>,
    pub created: u32,
    pub reused: u32,
}

#[derive(Deserialize)]
struct ListPage {
    items: Vec<Value>,
    next_cursor: Option<String>,
}

impl Api {
    pub fn new(server: &str, token: &str, tenant: &str) -> anyhow::Result<Api> {
        let base = reqwest::Url::parse(server).map_err(|err| anyhow::anyhow!("--server `{server}` is not a URL: {err}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("--server must start with http:// or https:// (got `{}://`)", base.scheme());
        }
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api { client, base, token: token.to_owned(), tenant: tenant.to_owned() })
    }

    async fn call(&self, method: Method, path_and_query: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = self.base.join(path_and_query).with_context(|| format!("cannot build a URL for {path_and_query}"))?;
        let mut request =
            self.client.request(method.clone(), url).bearer_auth(&self.token).header("Gatehouse-Tenant", &self.tenant);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() || err.is_timeout() => {
                anyhow::bail!("cannot reach the Gatehouse server at {} (--server): {}", self.base, root_cause(&err))
            }
            Err(err) => anyhow::bail!("{method} {path_and_query} failed: {}", error_chain(&err)),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let detail = body["detail"].as_str().map(str::to_owned).unwrap_or_else(|| text.chars().take(200).collect());
        match status {
            StatusCode::UNAUTHORIZED => anyhow::bail!(
                "the server at {} refused the token (401: {detail}); pass a valid --token or set GATEHOUSE_TOKEN",
                self.base
            ),
            StatusCode::NOT_FOUND if body["field"] == "Gatehouse-Tenant" => {
                anyhow::bail!("no tenant '{}' on {} (--tenant)", self.tenant, self.base)
            }
            StatusCode::FORBIDDEN => {
                anyhow::bail!("the token may not {method} {path_and_query} in tenant '{}' (403: {detail})", self.tenant)
            }
            _ => anyhow::bail!("{method} {path_and_query} answered {status}: {detail}"),
        }
    }

    /// Every page of a list, up to [`PAGES_MAX`] pages.
    async fn list(&self, path: &str, query: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..PAGES_MAX {
            let mut url = format!("{path}?limit={PAGE_ROWS}{query}");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: ListPage = serde_json::from_value(self.call(Method::GET, &url, None).await?)
                .with_context(|| format!("GET {path} did not answer a list"))?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(items)
    }

    pub async fn places(&self) -> anyhow::Result<Places> {
        let ids = |items: Vec<Value>| items.iter().filter_map(|item| item["id"].as_str()?.parse().ok()).collect();
        let access_points = ids(self.list("/api/v1/access-points", "").await?);
        let zones = ids(self.list("/api/v1/zones", "").await?);
        Ok(Places { access_points, zones })
    }

    /// The tenant's active cards (the first page: variety enough).
    pub async fn cards(&self) -> anyhow::Result<Vec<Card>> {
        let page =
            self.call(Method::GET, &format!("/api/v1/credentials?kind=card&status=active&limit={PAGE_ROWS}"), None).await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|item| {
                let number: u64 = item["value"].as_str()?.parse().ok()?;
                let facility_code = item["facility_code"].as_u64().and_then(|code| u32::try_from(code).ok());
                Some(Card { number, facility_code })
            })
            .collect())
    }

    /// Registers the devices this run needs, reusing the simulated devices already there
    /// (found by serial) with new credentials.
    pub async fn fleet(
        &self,
        controllers: u32,
        sensors: u32,
        readers: u32,
        places: &Places,
        progress: &ProgressBar,
    ) -> anyhow::Result<Fleet> {
        let mut existing: HashMap<String, Value> = HashMap::new();
        for device in self.list("/api/v1/devices", "&name=sim-").await? {
            if device["model"] == SIMULATED_MODEL {
                if let Some(serial) = device["serial"].as_str() {
                    existing.insert(serial.to_owned(), device);
                }
            }
        }
        let mut wanted = Vec::new();
        for (role, count) in [(Role::Controller, controllers), (Role::Sensor, sensors), (Role::Reader, readers)] {
            for n in 1..=count {
                let place = (n - 1) as usize;
                let (access_point, zone) = match role {
                    Role::Sensor => (None, places.zones.get(place % places.zones.len().max(1)).copied()),
                    _ => (places.access_points.get(place % places.access_points.len().max(1)).copied(), None),
                };
                wanted.push((role, format!("sim-{}-{n:04}", role.kind()), access_point, zone));
            }
        }
        // Interleave the kinds so a fleet that starts one device after another mixes them.
        wanted.sort_by_key(|(_, serial, _, _)| serial.rsplit('-').next().map(str::to_owned));

        let permits = Arc::new(Semaphore::new(SETUP_IN_FLIGHT_MAX));
        let mut tasks = JoinSet::new();
        for (order, (role, serial, access_point, zone)) in wanted.into_iter().enumerate() {
            let api = self.clone();
            let found = existing.remove(&serial);
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let reused = found.is_some();
                let registered = api.register(role, &serial, access_point, zone, found).await;
                (order, reused, registered)
            });
        }
        let mut devices = Vec::new();
        let (mut created, mut reused) = (0, 0);
        while let Some(joined) = tasks.join_next().await {
            let (order, was_reused, registered) = joined.context("a device registration task failed")?;
            let registered = registered?;
            if was_reused {
                reused += 1;
            } else {
                created += 1;
            }
            devices.push((order, registered));
            progress.inc(1);
        }
        devices.sort_by_key(|(order, _)| *order);
        Ok(Fleet { devices: devices.into_iter().map(|(_, device)| device).collect(), created, reused })
    }

    async fn register(
        &self,
        role: Role,
        serial: &str,
        access_point: Option<Uuid>,
        zone: Option<Uuid>,
        found: Option<Value>,
    ) -> anyhow::Result<Registered> {
        let answer = match found {
            Some(device) => {
                let id = device["id"].as_str().context("a listed device without an id")?;
                // A reused device that lost its place (deleted access point) gets one again.
                let needs_place = match role {
                    Role::Sensor => device["zone_id"].is_null() && zone.is_some(),
                    _ => device["access_point_id"].is_null() && access_point.is_some(),
                };
                if needs_place {
                    let patch = match role {
                        Role::Sensor => json!({"zone_id": zone}),
                        _ => json!({"access_point_id": access_point}),
                    };
                    self.call(Method::PATCH, &format!("/api/v1/devices/{id}"), Some(patch)).await?;
                }
                self.call(Method::POST, &format!("/api/v1/devices/{id}/credentials"), None)
                    .await
                    .with_context(|| format!("cannot issue new credentials to {serial}"))?
            }
            None => {
                let mut body = json!({
                    "kind": role.kind(),
                    "name": serial,
                    "serial": serial,
                    "model": SIMULATED_MODEL,
                    "firmware": "1.2.0",
                });
                if let Some(access_point) = access_point {
                    body["access_point_id"] = json!(access_point);
                }
                if let Some(zone) = zone {
                    body["zone_id"] = json!(zone);
                }
                self.call(Method::POST, "/api/v1/devices", Some(body))
                    .await
                    .with_context(|| format!("cannot register {serial}"))?
            }
        };
        let text =
            |value: &Value, what: &str| value.as_str().map(str::to_owned).with_context(|| format!("no {what} in the answer"));
        let id: Uuid = text(&answer["id"], "device id")?.parse().context("the device id is not a UUID")?;
        let tenant: Uuid = text(&answer["tenant_id"], "tenant id")?.parse().context("the tenant id is not a UUID")?;
        let prefix = text(&answer["mqtt"]["topic_prefix"], "MQTT topic prefix")?;
        if prefix != topic_prefix(tenant, id) {
            anyhow::bail!("the server gave {serial} the topic prefix {prefix}; this simulator speaks gh/{{tenant}}/{{device}}");
        }
        Ok(Registered {
            id,
            tenant,
            role,
            access_point_id: answer["access_point_id"].as_str().and_then(|id| id.parse().ok()),
            password: text(&answer["mqtt"]["password"], "MQTT password")?,
        })
    }
}

/// The innermost cause: for a refused connection, "Connection refused (os error 111)".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// An error and its causes on one line (reqwest's own message hides the reason).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
