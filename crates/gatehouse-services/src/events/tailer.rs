//! Reads each tenant's access log from where it left off and writes one event per entry,
//! moving its position (feed [`ACCESS_LOG_FEED`]) in the same transaction as the events: a
//! crash between the two cannot lose an event or write one twice, and two nodes tailing the
//! same database cannot both write one (the second's position no longer matches).
//!
//! The decision path does not wait for it: decisions are answered once their entry is
//! durable, and the event follows, within [`TAIL_COALESCE`] of a commit. It wakes on the log
//! writer's commits, and at least every [`TAIL_IDLE_MAX`] for entries other processes wrote.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gatehouse_domain::TenantId;
use gatehouse_store::{FeedMove, Store, StoreError, StoreResult};

use super::from_log::event_of;

/// The feed name of the access log's tailer.
pub const ACCESS_LOG_FEED: &str = "access_log";
/// Entries read (and events written) per transaction.
const TAIL_BATCH_MAX: u32 = 5_000;
/// How long the tailer lets entries gather after a commit before it writes their events: one
/// transaction for many commits' entries keeps the event log off the decision path's back.
pub const TAIL_COALESCE: Duration = Duration::from_millis(250);
/// Longest wait without a commit of this process before looking anyway.
pub const TAIL_IDLE_MAX: Duration = Duration::from_secs(1);
/// Wait after a failed round before the next.
const TAIL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs until the log writer stops.
pub async fn run(store: Arc<dyn Store>, mut commits: tokio::sync::watch::Receiver<u64>) {
    loop {
        if let Err(err) = catch_up(store.as_ref()).await {
            tracing::warn!(error = %err, "could not turn access-log entries into events; trying again");
            tokio::time::sleep(TAIL_RETRY_AFTER).await;
            continue;
        }
        match tokio::time::timeout(TAIL_IDLE_MAX, commits.changed()).await {
            Ok(Err(_)) => return,
            Ok(Ok(())) => tokio::time::sleep(TAIL_COALESCE).await,
            Err(_) => {}
        }
    }
}

/// Writes the events of every entry not yet turned into one, for every tenant; how many.
pub async fn catch_up(store: &dyn Store) -> StoreResult<u64> {
    let mut written = 0;
    for tenant in store.access_log_tenants().await? {
        written += catch_up_tenant(store, tenant).await?;
    }
    Ok(written)
}

async fn catch_up_tenant(store: &dyn Store, tenant: TenantId) -> StoreResult<u64> {
    let mut written = 0;
    let mut from = store.event_feed_position(tenant, ACCESS_LOG_FEED).await?;
    loop {
        let entries = store.access_log_scan(tenant, from, TAIL_BATCH_MAX).await?;
        let Some(last) = entries.last().map(|entry| entry.seq) else { return Ok(written) };
        let events: Vec<_> = entries.iter().filter_map(event_of).collect();
        let feed = FeedMove { feed: ACCESS_LOG_FEED, from, to: last };
        match store.events_append(tenant, &events, Utc::now(), Some(feed)).await {
            Ok(stored) => {
                written += stored.len() as u64;
                metrics::counter!("gatehouse_events_total", "feed" => ACCESS_LOG_FEED).increment(stored.len() as u64);
                from = last;
            }
            // Another node wrote these first: read on from where it got to.
            Err(StoreError::Conflict { field: "feed" }) => {
                from = store.event_feed_position(tenant, ACCESS_LOG_FEED).await?;
            }
            Err(err) => return Err(err),
        }
        if entries.len() < TAIL_BATCH_MAX as usize {
            return Ok(written);
        }
    }
}
