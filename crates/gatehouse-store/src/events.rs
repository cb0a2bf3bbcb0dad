//! The store's side of the event log: each tenant's events numbered gaplessly from 1
//! (`event_seq`, its own sequence, not the access log's `seq`), and the positions of the
//! feeds that write it (a tailer of the access log keeps how far it has read there).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_domain::events::{Event, EventSubjectKind, EventType, NewEvent};
use gatehouse_domain::{SiteId, TenantId};

use crate::StoreResult;

/// Events in one page at most, and in one append.
pub const EVENTS_PER_APPEND_MAX: usize = 10_000;

/// Which events a listing returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Any of these types (empty: every type).
    pub types: Vec<EventType>,
    pub site_id: Option<SiteId>,
    pub subject_kind: Option<EventSubjectKind>,
    pub subject_id: Option<uuid::Uuid>,
    /// `occurred_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `occurred_at < to`.
    pub to: Option<DateTime<Utc>>,
}

/// A feed's position moved in the same transaction as the events it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedMove<'a> {
    pub feed: &'a str,
    /// Where the writer read from: the stored position must still be this (else `Conflict`).
    pub from: i64,
    pub to: i64,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Numbers and appends one tenant's events in order, moving `feed` in the same
    /// transaction when given; returns them as stored. A feed that is no longer at
    /// `feed.from` (another writer went first) fails the whole call with `Conflict`.
    async fn events_append(
        &self,
        tenant: TenantId,
        events: &[NewEvent],
        recorded_at: DateTime<Utc>,
        feed: Option<FeedMove<'_>>,
    ) -> StoreResult<Vec<Event>>;

    /// Events matching `filter` with `event_seq > after_seq`, in sequence order.
    async fn events_list(&self, tenant: TenantId, filter: &EventFilter, after_seq: i64, limit: u32) -> StoreResult<Vec<Event>>;

    /// How far a feed has written (0 before it starts).
    async fn event_feed_position(&self, tenant: TenantId, feed: &str) -> StoreResult<i64>;

    /// The tenant's last `event_seq` (0 when it has none).
    async fn events_head(&self, tenant: TenantId) -> StoreResult<i64>;
}
