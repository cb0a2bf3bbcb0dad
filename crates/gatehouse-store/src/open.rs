//! Choosing and opening a backend from a database URL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;

use crate::{PostgresStore, SqliteStore, Store, StoreResult};

/// The PostgreSQL role the server works as; row-level security applies to it.
pub const POSTGRES_APP_ROLE: &str = "gatehouse_app";

/// A parsed `--database-url`: `sqlite://PATH` or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Some(path) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err("expected sqlite://PATH to a database file".to_owned());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            PgConnectOptions::from_str(raw).map_err(|err| format!("expected postgres://USER@HOST:PORT/DB: {err}"))?;
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        Err("expected sqlite://PATH or postgres://USER@HOST:PORT/DB".to_owned())
    }
}

impl DatabaseUrl {
    /// The URL with any password replaced by `***`, safe to print and log.
    pub fn masked(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => mask_password(url),
        }
    }
}

/// Masks the password in the user-info part and in a `password=` query parameter.
fn mask_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_owned(),
            },
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    match query {
        None => base,
        Some(query) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", masked.join("&"))
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Connections in the pool (PostgreSQL) or read connections (SQLite).
    pub max_connections: u32,
    /// Apply pending migrations before returning.
    pub migrate: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { max_connections: 8, migrate: true }
    }
}

/// Opens the store `url` names, applying migrations if `options.migrate`.
pub async fn open(url: &DatabaseUrl, options: OpenOptions) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match url {
        DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(path, options.max_connections).await?),
        DatabaseUrl::Postgres(raw) => {
            let connect = PgConnectOptions::from_str(raw)?.application_name("gatehouse");
            Arc::new(PostgresStore::open(connect, options.max_connections).await?)
        }
    };
    if options.migrate {
        store.migrate().await?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_mask() {
        assert_eq!("sqlite://data/g.db".parse(), Ok(DatabaseUrl::Sqlite(PathBuf::from("data/g.db"))));
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
        let pg: DatabaseUrl = "postgres://gh:s3cret@db:5432/gh".parse().unwrap_or(DatabaseUrl::Sqlite(PathBuf::new()));
        assert_eq!(pg.masked(), "postgres://gh:***@db:5432/gh");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let in_query: DatabaseUrl =
            "postgres://gh@db/gh?sslmode=require&password=s3cret".parse().unwrap_or(DatabaseUrl::Sqlite(PathBuf::new()));
        assert_eq!(in_query.masked(), "postgres://gh@db/gh?sslmode=require&password=***");
    }
}
