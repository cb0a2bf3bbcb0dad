//! Test support shared by the storage conformance suite and the HTTP integration
//! suite: a fresh, real database per test, on either backend, removed afterwards.
//!
//! PostgreSQL is reached through `GATEHOUSE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own
//! database there and drops it when the [`TestDatabase`] is dropped.

#![allow(clippy::expect_used)] // test support: a broken harness should stop the test loudly

use std::path::PathBuf;

use gatehouse_store::DatabaseUrl;
use sqlx::{Connection, Executor, PgConnection};

pub const POSTGRES_URL_VAR: &str = "GATEHOUSE_TEST_POSTGRES_URL";
const POSTGRES_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    /// For PostgreSQL: the admin URL and the database name to drop afterwards.
    postgres: Option<(String, String)>,
    /// For SQLite: the directory holding the file (deleted on drop).
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: TestBackend) -> Self {
        match backend {
            TestBackend::Sqlite => Self::sqlite(),
            TestBackend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path: PathBuf = dir.path().join("gatehouse.db");
        Self { url: DatabaseUrl::Sqlite(path), postgres: None, _dir: Some(dir) }
    }

    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url();
        let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| panic!("cannot reach PostgreSQL at {admin_url} (set {POSTGRES_URL_VAR}): {err}"));
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Self { url: url.parse().expect("a valid PostgreSQL URL"), postgres: Some((admin_url, name)), _dir: None }
    }

    /// The URL a server under test is given.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else { return };
        // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| POSTGRES_URL_DEFAULT.to_owned())
}

/// `postgres://u@h:p/old?x` with the database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}
