//! The effective configuration: flags > environment > TOML file > defaults.
//!
//! [`FileConfig`] is what users write; [`Config`] is what the server runs with,
//! every value parsed and checked. A bad value stops the process at start with one
//! line naming the key, where it came from and the form expected.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gatehouse_api::Limits;
use gatehouse_services::identity::{MasterKey, PasswordParams};
use gatehouse_store::DatabaseUrl;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MQTT_LISTEN: &str = "127.0.0.1:1883";
pub const DEFAULT_DATA_DIR: &str = "./gatehouse-data";
pub const DATABASE_FILE_NAME: &str = "gatehouse.db";

/// The TOML file, as written by users. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_max_connections: Option<u32>,
    pub log_format: Option<String>,
    pub bootstrap_token: Option<String>,
    pub json_body_bytes_max: Option<usize>,
    pub import_body_bytes_max: Option<usize>,
    pub shutdown_grace_seconds: Option<u64>,
    pub master_key: Option<String>,
    pub token_issuer: Option<String>,
    pub access_token_ttl_seconds: Option<u64>,
    pub refresh_token_ttl_days: Option<u64>,
    pub password_hash_memory_kib: Option<u32>,
    pub password_hash_iterations: Option<u32>,
    pub password_hash_parallelism: Option<u32>,
    pub login_free_failures_per_account: Option<u32>,
    pub login_free_failures_per_source: Option<u32>,
    pub mqtt_listen: Option<String>,
    pub mqtt_url: Option<String>,
    pub mqtt_tls_cert: Option<PathBuf>,
    pub mqtt_tls_key: Option<PathBuf>,
    pub mqtt_device_publish_rate: Option<u32>,
    pub mqtt_client_id: Option<String>,
    pub mqtt_shared_group: Option<String>,
    pub event_log: Option<String>,
}

/// Values given on the command line (each `None` when the flag is absent).
#[derive(Debug, Default, Clone)]
pub struct FlagValues {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    pub mqtt_listen: Option<String>,
    pub mqtt_url: Option<String>,
    pub mqtt_tls_cert: Option<PathBuf>,
    pub mqtt_tls_key: Option<PathBuf>,
}

/// How Gatehouse reaches its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttMode {
    /// Runs its own broker on this address (TLS when both files are given).
    Embedded { listen: SocketAddr, tls: Option<(PathBuf, PathBuf)> },
    /// Connects as a client to the broker at this `mqtt://` URL (its password is a secret).
    External { url: Secret },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// A secret: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Where a value came from, for `config print` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The configuration the process runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Sourced<SocketAddr>,
    pub data_dir: Sourced<PathBuf>,
    pub database_url: Sourced<DatabaseUrl>,
    pub database_max_connections: Sourced<u32>,
    pub log_format: Sourced<LogFormat>,
    pub bootstrap_token: Option<Sourced<Secret>>,
    pub json_body_bytes_max: Sourced<usize>,
    pub import_body_bytes_max: Sourced<usize>,
    pub shutdown_grace_seconds: Sourced<u64>,
    /// Encrypts token signing keys at rest (base64, 32 bytes). When unset, a key
    /// file in the data directory is used, created at first start.
    pub master_key: Option<Sourced<Secret>>,
    pub token_issuer: Sourced<String>,
    pub access_token_ttl_seconds: Sourced<u64>,
    pub refresh_token_ttl_days: Sourced<u64>,
    pub password_hash: Sourced<PasswordParams>,
    /// Failed logins per e-mail before waits begin (locked at twice as many).
    pub login_free_failures_per_account: Sourced<u32>,
    /// Failed logins per source address before waits begin (locked at twice as many).
    pub login_free_failures_per_source: Sourced<u32>,
    pub mqtt: Sourced<MqttMode>,
    /// Publishes per second one device may send the embedded broker (bursts to twice that).
    pub mqtt_device_publish_rate: Sourced<u32>,
    /// The client id Gatehouse connects to an external broker with: stable across restarts,
    /// so the broker keeps its session (and the device messages it holds) while it is away.
    /// One per node.
    pub mqtt_client_id: Sourced<String>,
    /// The shared-subscription group the nodes of one deployment take device messages
    /// through on an external broker: each message reaches one node of the group.
    pub mqtt_shared_group: Sourced<String>,
    /// Whether the access log is turned into events (`GET /api/v1/events`). Off by default
    /// until writing events no longer costs the decision path (see docs/events.md).
    pub event_log: Sourced<bool>,
}

/// One bad configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads environment variables; a function so tests can pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Builds the configuration from flags, the process environment and the file.
    pub fn load(flags: &FlagValues) -> Result<Config, ConfigError> {
        Self::build(flags, &|name| std::env::var(name).ok())
    }

    pub fn build(flags: &FlagValues, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let (file, file_path) = read_file(flags.config.clone().or_else(|| env("GATEHOUSE_CONFIG").map(PathBuf::from)))?;
        let layers = Layers { env, file_path: file_path.clone() };

        let listen = layers.pick(
            "listen",
            flags.listen.clone(),
            "--listen",
            "GATEHOUSE_LISTEN",
            file.listen.clone(),
            DEFAULT_LISTEN.to_owned(),
        );
        let listen = parse(listen, "listen", "HOST:PORT such as 127.0.0.1:8080", |raw| raw.parse::<SocketAddr>().ok())?;

        let data_dir = layers.pick(
            "data_dir",
            flags.data_dir.clone(),
            "--data-dir",
            "GATEHOUSE_DATA_DIR",
            file.data_dir.clone(),
            PathBuf::from(DEFAULT_DATA_DIR),
        );
        let data_dir = parse(data_dir, "data_dir", "a directory path", |path: &PathBuf| {
            (!path.as_os_str().is_empty()).then(|| path.clone())
        })?;

        let default_url = format!("sqlite://{}", data_dir.value.join(DATABASE_FILE_NAME).display());
        let database_url = layers.pick(
            "database_url",
            flags.database_url.clone(),
            "--database-url",
            "GATEHOUSE_DATABASE_URL",
            file.database_url.clone(),
            default_url,
        );
        let database_url = parse_with_reason(database_url, "database_url", |raw| raw.parse::<DatabaseUrl>())?;

        let max_connections = layers.pick_env_file(
            "GATEHOUSE_DATABASE_MAX_CONNECTIONS",
            file.database_max_connections.map(|v| v.to_string()),
            "8".into(),
        );
        let database_max_connections =
            parse(max_connections, "database_max_connections", "a whole number from 1 to 1000", |raw| {
                raw.parse::<u32>().ok().filter(|n| (1..=1000).contains(n))
            })?;

        let log_format = layers.pick(
            "log_format",
            flags.log_format.clone(),
            "--log-format",
            "GATEHOUSE_LOG_FORMAT",
            file.log_format.clone(),
            "human".to_owned(),
        );
        let log_format = parse(log_format, "log_format", "human or json", |raw| match raw.as_str() {
            "human" => Some(LogFormat::Human),
            "json" => Some(LogFormat::Json),
            _ => None,
        })?;

        let bootstrap_token = match (env("GATEHOUSE_BOOTSTRAP_TOKEN"), file.bootstrap_token.clone()) {
            (Some(token), _) => Some(Sourced { value: token, source: Source::Env("GATEHOUSE_BOOTSTRAP_TOKEN") }),
            (None, Some(token)) => Some(Sourced { value: token, source: Source::File(file_path.clone().unwrap_or_default()) }),
            (None, None) => None,
        };
        let bootstrap_token = bootstrap_token.map(parse_secret_token).transpose()?;

        let defaults = Limits::default();
        let json_limit = layers.pick_env_file(
            "GATEHOUSE_JSON_BODY_BYTES_MAX",
            file.json_body_bytes_max.map(|v| v.to_string()),
            defaults.json_body_bytes_max.to_string(),
        );
        let json_body_bytes_max = parse(json_limit, "json_body_bytes_max", "a byte count from 1024 to 67108864", |raw| {
            raw.parse::<usize>().ok().filter(|n| (1024..=64 * 1024 * 1024).contains(n))
        })?;
        let import_limit = layers.pick_env_file(
            "GATEHOUSE_IMPORT_BODY_BYTES_MAX",
            file.import_body_bytes_max.map(|v| v.to_string()),
            defaults.import_body_bytes_max.to_string(),
        );
        let import_body_bytes_max =
            parse(import_limit, "import_body_bytes_max", "a byte count from 1024 to 1073741824", |raw| {
                raw.parse::<usize>().ok().filter(|n| (1024..=1024 * 1024 * 1024).contains(n))
            })?;
        let grace = layers.pick_env_file(
            "GATEHOUSE_SHUTDOWN_GRACE_SECONDS",
            file.shutdown_grace_seconds.map(|v| v.to_string()),
            "30".into(),
        );
        let shutdown_grace_seconds = parse(grace, "shutdown_grace_seconds", "a whole number of seconds from 0 to 3600", |raw| {
            raw.parse::<u64>().ok().filter(|n| *n <= 3600)
        })?;

        let master_key = match (env("GATEHOUSE_MASTER_KEY"), file.master_key.clone()) {
            (Some(key), _) => Some(Sourced { value: key, source: Source::Env("GATEHOUSE_MASTER_KEY") }),
            (None, Some(key)) => Some(Sourced { value: key, source: Source::File(file_path.clone().unwrap_or_default()) }),
            (None, None) => None,
        };
        let master_key = master_key
            .map(|key| match MasterKey::parse(&key.value) {
                Ok(_) => Ok(Sourced { value: Secret(key.value), source: key.source }),
                Err(reason) => Err(ConfigError(format!(
                    "invalid configuration: master_key (from {}): {reason} (value not shown)",
                    key.source
                ))),
            })
            .transpose()?;
        let issuer = layers.pick_env_file("GATEHOUSE_TOKEN_ISSUER", file.token_issuer.clone(), "gatehouse".into());
        let token_issuer = parse(issuer, "token_issuer", "1 to 200 visible characters", |raw| {
            (!raw.is_empty() && raw.len() <= 200 && !raw.chars().any(char::is_control)).then(|| raw.clone())
        })?;
        let ttl = layers.pick_env_file(
            "GATEHOUSE_ACCESS_TOKEN_TTL_SECONDS",
            file.access_token_ttl_seconds.map(|v| v.to_string()),
            "900".into(),
        );
        let access_token_ttl_seconds =
            parse(ttl, "access_token_ttl_seconds", "a whole number of seconds from 60 to 86400", |raw| {
                raw.parse::<u64>().ok().filter(|n| (60..=86_400).contains(n))
            })?;
        let days = layers.pick_env_file(
            "GATEHOUSE_REFRESH_TOKEN_TTL_DAYS",
            file.refresh_token_ttl_days.map(|v| v.to_string()),
            "14".into(),
        );
        let refresh_token_ttl_days = parse(days, "refresh_token_ttl_days", "a whole number of days from 1 to 365", |raw| {
            raw.parse::<u64>().ok().filter(|n| (1..=365).contains(n))
        })?;
        let floor = PasswordParams::OWASP_MINIMUM;
        let memory = layers.pick_env_file(
            "GATEHOUSE_PASSWORD_HASH_MEMORY_KIB",
            file.password_hash_memory_kib.map(|v| v.to_string()),
            floor.memory_kib.to_string(),
        );
        let iterations = layers.pick_env_file(
            "GATEHOUSE_PASSWORD_HASH_ITERATIONS",
            file.password_hash_iterations.map(|v| v.to_string()),
            floor.iterations.to_string(),
        );
        let parallelism = layers.pick_env_file(
            "GATEHOUSE_PASSWORD_HASH_PARALLELISM",
            file.password_hash_parallelism.map(|v| v.to_string()),
            floor.parallelism.to_string(),
        );
        let number = |raw: Sourced<String>, key: &str, min: u32, max: u32| {
            parse(raw, key, &format!("a whole number from {min} (OWASP's minimum) to {max}"), |raw| {
                raw.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
            })
        };
        let memory = number(memory, "password_hash_memory_kib", floor.memory_kib, 4 * 1024 * 1024)?;
        let iterations = number(iterations, "password_hash_iterations", floor.iterations, 100)?;
        let parallelism = number(parallelism, "password_hash_parallelism", floor.parallelism, 64)?;
        let password_hash = Sourced {
            value: PasswordParams { memory_kib: memory.value, iterations: iterations.value, parallelism: parallelism.value },
            source: memory.source,
        };

        let per_account = layers.pick_env_file(
            "GATEHOUSE_LOGIN_FREE_FAILURES_PER_ACCOUNT",
            file.login_free_failures_per_account.map(|v| v.to_string()),
            "5".into(),
        );
        let count = |raw: Sourced<String>, key: &str, max: u32| {
            parse(raw, key, &format!("a whole number from 1 to {max}"), |raw| {
                raw.parse::<u32>().ok().filter(|n| (1..=max).contains(n))
            })
        };
        let login_free_failures_per_account = count(per_account, "login_free_failures_per_account", 100_000)?;
        let per_source = layers.pick_env_file(
            "GATEHOUSE_LOGIN_FREE_FAILURES_PER_SOURCE",
            file.login_free_failures_per_source.map(|v| v.to_string()),
            "20".into(),
        );
        let login_free_failures_per_source = count(per_source, "login_free_failures_per_source", 1_000_000)?;

        let mqtt = mqtt_mode(&layers, flags, &file)?;
        let rate = layers.pick_env_file(
            "GATEHOUSE_MQTT_DEVICE_PUBLISH_RATE",
            file.mqtt_device_publish_rate.map(|v| v.to_string()),
            "100".into(),
        );
        let mqtt_device_publish_rate =
            parse(rate, "mqtt_device_publish_rate", "a whole number of messages per second from 1 to 1000000", |raw| {
                raw.parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n))
            })?;

        let client_id = layers.pick_env_file("GATEHOUSE_MQTT_CLIENT_ID", file.mqtt_client_id.clone(), default_client_id());
        let mqtt_client_id = parse(client_id, "mqtt_client_id", MQTT_NAME_FORM, |raw| mqtt_name(raw))?;
        let group = layers.pick_env_file("GATEHOUSE_MQTT_SHARED_GROUP", file.mqtt_shared_group.clone(), "gatehouse".into());
        let mqtt_shared_group = parse(group, "mqtt_shared_group", MQTT_NAME_FORM, |raw| mqtt_name(raw))?;
        let events = layers.pick_env_file("GATEHOUSE_EVENT_LOG", file.event_log.clone(), "off".into());
        let event_log = parse(events, "event_log", "`on` or `off`", |raw| match raw.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        })?;

        Ok(Config {
            mqtt,
            mqtt_device_publish_rate,
            mqtt_client_id,
            mqtt_shared_group,
            event_log,
            login_free_failures_per_account,
            login_free_failures_per_source,
            master_key,
            token_issuer,
            access_token_ttl_seconds,
            refresh_token_ttl_days,
            password_hash,
            listen,
            data_dir,
            database_url,
            database_max_connections,
            log_format,
            bootstrap_token,
            json_body_bytes_max,
            import_body_bytes_max,
            shutdown_grace_seconds,
        })
    }

    pub fn limits(&self) -> Limits {
        Limits {
            json_body_bytes_max: self.json_body_bytes_max.value,
            import_body_bytes_max: self.import_body_bytes_max.value,
            ..Limits::default()
        }
    }

    /// The effective configuration as TOML, secrets masked, each value's source in a comment.
    pub fn render(&self) -> String {
        fn line(out: &mut String, key: &str, value: String, source: &Source) {
            out.push_str(&format!("{key} = {value:<40} # {source}\n"));
        }
        let quoted = |s: &str| format!("{s:?}");
        let mut out = String::new();
        line(&mut out, "listen", quoted(&self.listen.value.to_string()), &self.listen.source);
        line(&mut out, "data_dir", quoted(&self.data_dir.value.display().to_string()), &self.data_dir.source);
        line(&mut out, "database_url", quoted(&self.database_url.value.masked()), &self.database_url.source);
        line(
            &mut out,
            "database_max_connections",
            self.database_max_connections.value.to_string(),
            &self.database_max_connections.source,
        );
        let format = match self.log_format.value {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        };
        line(&mut out, "log_format", quoted(format), &self.log_format.source);
        match &self.bootstrap_token {
            Some(token) => line(&mut out, "bootstrap_token", quoted("***"), &token.source),
            None => out.push_str(
                "# bootstrap_token is not set: the stored (hashed) token is used, or one is generated at first start\n",
            ),
        }
        line(&mut out, "json_body_bytes_max", self.json_body_bytes_max.value.to_string(), &self.json_body_bytes_max.source);
        line(&mut out, "import_body_bytes_max", self.import_body_bytes_max.value.to_string(), &self.import_body_bytes_max.source);
        line(
            &mut out,
            "shutdown_grace_seconds",
            self.shutdown_grace_seconds.value.to_string(),
            &self.shutdown_grace_seconds.source,
        );
        match &self.mqtt.value {
            MqttMode::Embedded { listen, tls } => {
                line(&mut out, "mqtt_listen", quoted(&listen.to_string()), &self.mqtt.source);
                if let Some((cert, key)) = tls {
                    line(&mut out, "mqtt_tls_cert", quoted(&cert.display().to_string()), &self.mqtt.source);
                    line(&mut out, "mqtt_tls_key", quoted(&key.display().to_string()), &self.mqtt.source);
                }
            }
            MqttMode::External { url } => {
                line(&mut out, "mqtt_url", quoted(&mask_url_password(url.expose())), &self.mqtt.source);
                line(&mut out, "mqtt_client_id", quoted(&self.mqtt_client_id.value), &self.mqtt_client_id.source);
                line(&mut out, "mqtt_shared_group", quoted(&self.mqtt_shared_group.value), &self.mqtt_shared_group.source);
            }
        }
        line(
            &mut out,
            "mqtt_device_publish_rate",
            self.mqtt_device_publish_rate.value.to_string(),
            &self.mqtt_device_publish_rate.source,
        );
        line(&mut out, "event_log", quoted(if self.event_log.value { "on" } else { "off" }), &self.event_log.source);
        out
    }
}

const MQTT_NAME_FORM: &str = "1 to 64 of a-z, A-Z, 0-9, `-`, `_`, `.`";

/// A client id or shared-subscription group: what every broker accepts.
fn mqtt_name(raw: &str) -> Option<String> {
    let fits = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    fits.then(|| raw.to_owned())
}

/// `gatehouse-{host name}`: stable across restarts of one machine, different between
/// machines (containers on one host have host names of their own).
fn default_client_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_default();
    let host: String =
        host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(48).collect();
    if host.is_empty() {
        "gatehouse".to_owned()
    } else {
        format!("gatehouse-{host}")
    }
}

/// `--mqtt-url` wins over `--mqtt-listen`: naming a broker means not running one.
fn mqtt_mode(layers: &Layers<'_>, flags: &FlagValues, file: &FileConfig) -> Result<Sourced<MqttMode>, ConfigError> {
    let url = layers.pick_optional(flags.mqtt_url.clone(), "--mqtt-url", "GATEHOUSE_MQTT_URL", file.mqtt_url.clone());
    if let Some(url) = url {
        if !url.value.starts_with("mqtt://") {
            return Err(ConfigError(format!(
                "invalid configuration: mqtt_url (from {}): expected mqtt://[user:password@]host[:port] (value not shown)",
                url.source
            )));
        }
        return Ok(Sourced { value: MqttMode::External { url: Secret(url.value) }, source: url.source });
    }
    let listen = layers.pick(
        "mqtt_listen",
        flags.mqtt_listen.clone(),
        "--mqtt-listen",
        "GATEHOUSE_MQTT_LISTEN",
        file.mqtt_listen.clone(),
        DEFAULT_MQTT_LISTEN.to_owned(),
    );
    let listen = parse(listen, "mqtt_listen", "HOST:PORT such as 127.0.0.1:1883", |raw| raw.parse::<SocketAddr>().ok())?;
    let cert = layers.pick_optional(
        flags.mqtt_tls_cert.clone(),
        "--mqtt-tls-cert",
        "GATEHOUSE_MQTT_TLS_CERT",
        file.mqtt_tls_cert.clone(),
    );
    let key =
        layers.pick_optional(flags.mqtt_tls_key.clone(), "--mqtt-tls-key", "GATEHOUSE_MQTT_TLS_KEY", file.mqtt_tls_key.clone());
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            for (name, path) in [("mqtt_tls_cert", &cert), ("mqtt_tls_key", &key)] {
                if !path.value.is_file() {
                    return Err(ConfigError(format!(
                        "invalid configuration: {name} = {:?} (from {}): no such file",
                        path.value, path.source
                    )));
                }
            }
            Some((cert.value, key.value))
        }
        (Some(given), None) | (None, Some(given)) => {
            return Err(ConfigError(format!(
                "invalid configuration: TLS for MQTT needs both --mqtt-tls-cert and --mqtt-tls-key (only one given, from {})",
                given.source
            )))
        }
    };
    Ok(Sourced { value: MqttMode::Embedded { listen: listen.value, tls }, source: listen.source })
}

/// `mqtt://user:***@host:port`: the password never reaches output.
fn mask_url_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

struct Layers<'a> {
    env: EnvLookup<'a>,
    file_path: Option<PathBuf>,
}

impl Layers<'_> {
    /// Flag, else environment, else file, else default. Environment values arrive as
    /// text; `T: From<String>` turns them into the flag's type.
    fn pick<T: From<String>>(
        &self,
        _key: &str,
        flag: Option<T>,
        flag_name: &'static str,
        env_name: &'static str,
        file: Option<T>,
        default: T,
    ) -> Sourced<T> {
        if let Some(value) = flag {
            return Sourced { value, source: Source::Flag(flag_name) };
        }
        if let Some(value) = (self.env)(env_name) {
            return Sourced { value: T::from(value), source: Source::Env(env_name) };
        }
        if let Some(value) = file {
            return Sourced { value, source: Source::File(self.file_path.clone().unwrap_or_default()) };
        }
        Sourced { value: default, source: Source::Default }
    }

    /// Flag, else environment, else file, else nothing.
    fn pick_optional<T: From<String>>(
        &self,
        flag: Option<T>,
        flag_name: &'static str,
        env_name: &'static str,
        file: Option<T>,
    ) -> Option<Sourced<T>> {
        if let Some(value) = flag {
            return Some(Sourced { value, source: Source::Flag(flag_name) });
        }
        if let Some(value) = (self.env)(env_name) {
            return Some(Sourced { value: T::from(value), source: Source::Env(env_name) });
        }
        file.map(|value| Sourced { value, source: Source::File(self.file_path.clone().unwrap_or_default()) })
    }

    /// For keys with no flag: environment, else file, else default.
    fn pick_env_file(&self, env_name: &'static str, file: Option<String>, default: String) -> Sourced<String> {
        if let Some(value) = (self.env)(env_name) {
            return Sourced { value, source: Source::Env(env_name) };
        }
        if let Some(value) = file {
            return Sourced { value, source: Source::File(self.file_path.clone().unwrap_or_default()) };
        }
        Sourced { value: default, source: Source::Default }
    }
}

fn parse<R: fmt::Debug, T>(
    raw: Sourced<R>,
    key: &str,
    expected: &str,
    parse: impl Fn(&R) -> Option<T>,
) -> Result<Sourced<T>, ConfigError> {
    match parse(&raw.value) {
        Some(value) => Ok(Sourced { value, source: raw.source }),
        None => {
            Err(ConfigError(format!("invalid configuration: {key} = {:?} (from {}): expected {expected}", raw.value, raw.source)))
        }
    }
}

/// Like [`parse`] for a secret: the error never repeats the value, not even a
/// part of it (a token read from a file with a stray newline is still the token).
fn parse_secret_token(raw: Sourced<String>) -> Result<Sourced<Secret>, ConfigError> {
    let value = raw.value;
    // The API hands only tokens with this prefix to the bootstrap check: any other could
    // never authenticate, and the operator would be locked out without a word.
    let prefix = gatehouse_api::bootstrap::BOOTSTRAP_TOKEN_PREFIX;
    let visible = value.bytes().all(|b| b.is_ascii_graphic());
    if value.len() >= BOOTSTRAP_TOKEN_CHARS_MIN && visible && value.starts_with(prefix) {
        return Ok(Sourced { value: Secret(value), source: raw.source });
    }
    let problem = if !visible {
        "it contains spaces, control characters (a trailing newline?) or non-ASCII".to_owned()
    } else if !value.starts_with(prefix) {
        format!("it does not start with {prefix}")
    } else {
        format!("it has {} characters", value.len())
    };
    Err(ConfigError(format!(
        "invalid configuration: bootstrap_token (from {}): expected {prefix} followed by visible ASCII characters, \
         {BOOTSTRAP_TOKEN_CHARS_MIN} or more in all; {problem} (value not shown)",
        raw.source
    )))
}

/// The shortest bootstrap token accepted, prefix included.
const BOOTSTRAP_TOKEN_CHARS_MIN: usize = 32;

fn parse_with_reason<T>(
    raw: Sourced<String>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Sourced<T>, ConfigError> {
    match parse(&raw.value) {
        Ok(value) => Ok(Sourced { value, source: raw.source }),
        Err(reason) => {
            let shown = raw.value.parse::<DatabaseUrl>().map(|u| u.masked()).unwrap_or_else(|_| mask_userinfo(&raw.value));
            Err(ConfigError(format!("invalid configuration: {key} = {shown:?} (from {}): {reason}", raw.source)))
        }
    }
}

/// Hides anything between `://` and `@` in a value that failed to parse, in case it holds a password.
fn mask_userinfo(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &raw[..scheme + 3], &raw[at..]),
        _ => raw.to_owned(),
    }
}

fn read_file(path: Option<PathBuf>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let Some(path) = path else { return Ok((FileConfig::default(), None)) };
    let text = std::fs::read_to_string(&path)
        .map_err(|err| ConfigError(format!("invalid configuration: cannot read config file {}: {err}", path.display())))?;
    let file = toml::from_str::<FileConfig>(&text).map_err(|err| {
        let message = err.message().to_owned();
        ConfigError(format!("invalid configuration in {}: {message}", path.display()))
    })?;
    Ok((file, Some(path)))
}

/// The database file used by default for a data directory.
pub fn default_database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn build(flags: FlagValues, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::build(&flags, &|name| env.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = build(FlagValues::default(), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.value.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url.value, DatabaseUrl::Sqlite(PathBuf::from("./gatehouse-data/gatehouse.db")));
        assert_eq!(config.log_format.value, LogFormat::Human);
    }

    #[test]
    fn flag_beats_environment_beats_file() {
        let dir = std::env::temp_dir().join(format!("gh-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("gatehouse.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\nlog_format = \"json\"\ndata_dir = \"/var/lib/gh\"\n").ok();
        let flags = FlagValues { config: Some(file.clone()), listen: Some("127.0.0.1:9000".into()), ..FlagValues::default() };
        let config = build(flags, &[("GATEHOUSE_LISTEN", "127.0.0.1:8000"), ("GATEHOUSE_LOG_FORMAT", "human")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.value.port(), 9000);
        assert_eq!(config.listen.source, Source::Flag("--listen"));
        assert_eq!(config.log_format.value, LogFormat::Human, "environment beats the file");
        assert_eq!(config.data_dir.value, PathBuf::from("/var/lib/gh"), "the file beats the default");
        assert_eq!(config.database_url.value, DatabaseUrl::Sqlite(PathBuf::from("/var/lib/gh/gatehouse.db")));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_values_name_key_source_and_form() {
        let err = build(FlagValues::default(), &[("GATEHOUSE_LISTEN", "everywhere")]).unwrap_err().0;
        assert_eq!(err, "invalid configuration: listen = \"everywhere\" (from environment GATEHOUSE_LISTEN): expected HOST:PORT such as 127.0.0.1:8080");
        let err = build(FlagValues { log_format: Some("xml".into()), ..Default::default() }, &[]).unwrap_err().0;
        assert!(err.contains("log_format") && err.contains("--log-format") && err.contains("human or json"), "{err}");
        let err = build(FlagValues { database_url: Some("mysql://root:hunter2@db/x".into()), ..Default::default() }, &[])
            .unwrap_err()
            .0;
        assert!(err.contains("database_url") && !err.contains("hunter2"), "{err}");
        let err = build(FlagValues::default(), &[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err().0;
        assert!(err.contains("database_max_connections"), "{err}");
    }

    #[test]
    fn a_bad_token_is_refused_without_being_repeated() {
        let token = "ghb_0123456789abcdefghijklmnopqrstuvwxyz\n";
        let err = build(FlagValues::default(), &[("GATEHOUSE_BOOTSTRAP_TOKEN", token)]).unwrap_err().0;
        assert!(err.contains("bootstrap_token") && err.contains("GATEHOUSE_BOOTSTRAP_TOKEN"), "{err}");
        assert!(!err.contains("0123456789"), "{err}");
        let err = build(FlagValues::default(), &[("GATEHOUSE_BOOTSTRAP_TOKEN", "short-secret")]).unwrap_err().0;
        assert!(!err.contains("short-secret"), "{err}");
        let err = build(FlagValues::default(), &[("GATEHOUSE_BOOTSTRAP_TOKEN", "ghb_short")]).unwrap_err().0;
        assert!(err.contains("it has 9 characters") && !err.contains("ghb_short"), "{err}");
    }

    #[test]
    fn a_token_the_api_could_never_accept_is_refused_with_the_expected_form() {
        let unprefixed = "0123456789abcdefghijklmnopqrstuvwxyz-operator";
        let err = build(FlagValues::default(), &[("GATEHOUSE_BOOTSTRAP_TOKEN", unprefixed)]).unwrap_err().0;
        assert!(err.contains("expected ghb_ followed by") && err.contains("it does not start with ghb_"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("0123456789"), "{err}");
        let fine = format!("ghb_{unprefixed}");
        assert!(build(FlagValues::default(), &[("GATEHOUSE_BOOTSTRAP_TOKEN", &fine)]).is_ok());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let path = std::env::temp_dir().join(format!("gh-config-unknown-{}.toml", std::process::id()));
        std::fs::write(&path, "listen_addr = \"x\"\n").ok();
        let err = build(FlagValues { config: Some(path.clone()), ..Default::default() }, &[]).unwrap_err().0;
        assert!(err.contains("listen_addr"), "{err}");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn printing_masks_secrets() {
        let config = build(
            FlagValues { database_url: Some("postgres://gh:hunter2@db:5432/gh".into()), ..Default::default() },
            &[("GATEHOUSE_BOOTSTRAP_TOKEN", "ghb_0123456789abcdefghijklmnopqrstuvwxyz")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let printed = config.render();
        assert!(!printed.contains("hunter2") && !printed.contains("0123456789abcdef"), "{printed}");
        assert!(printed.contains("bootstrap_token = \"***\""));
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
