//! The SQL of every store trait, written once and compiled against each
//! backend's driver: `sqlite.rs` and `postgres.rs` each include this module
//! (`#[path = "sql/mod.rs"] mod sql;`) after naming their store type `This`,
//! so `Db`, `Row` and `Conn` below are that engine's concrete types.
//!
//! The text is the common subset of SQLite and PostgreSQL: `$N` placeholders
//! (sqlx's SQLite driver maps `$N` to the N-th argument), `RETURNING`, recursive
//! CTEs, `lower()` and `LIKE ... ESCAPE`. What differs between the engines — how
//! a transaction enters a tenant (PostgreSQL's row-level security), locking, the
//! access log's append and index — is the [`crate::backend::SqlBackend`] contract,
//! the only way this code reaches the engine. The SQL itself always filters by
//! `tenant_id` too.
//!
//! One file per area, each implementing that area's trait: tenancy, people,
//! identity (accounts, API keys, password resets), sessions (sessions, signing
//! keys, MFA), platform (health, settings, audit, idempotency), roles, access
//! (policy records, in `access/`), the access log and devices.

mod access;
mod access_log;
mod common;
mod decode;
mod device_commands;
mod device_messages;
mod devices;
mod events;
mod identity;
mod people;
mod platform;
mod roles;
mod sessions;
mod telemetry;
mod tenancy;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::tenancy::*;
use gatehouse_domain::values::Name;
use gatehouse_domain::*;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row as _};
use uuid::Uuid;

use self::common::*;
use super::This;
use crate::backend::{Finish as _, SqlBackend};
use crate::rows::*;
use crate::*;

type Db = <This as SqlBackend>::Db;
type Row = <Db as sqlx::Database>::Row;
type Conn = <Db as sqlx::Database>::Connection;
