//! The event log: appended in order with the tenant's head moved in the same transaction,
//! and the feed that wrote the events moved there too.

use chrono::SubsecRound as _;
use gatehouse_domain::events::{Event, NewEvent};

use super::*;
use crate::events::{EventFilter, EventStore, FeedMove, EVENTS_PER_APPEND_MAX};

/// Rows per multi-row INSERT: 14 bound values each, under SQLite's 32,766.
const EVENT_ROWS_PER_STATEMENT: usize = 1_000;

const EVENT_COLUMNS: &str = "tenant_id, event_seq, id, type, site_id, occurred_at, recorded_at, source_kind, source_id, \
     subject_kind, subject_id, correlation_id, causation_id, payload_version, payload";

fn decode_event(row: &Row) -> StoreResult<Event> {
    let kind: String = row.try_get("type")?;
    let source: String = row.try_get("source_kind")?;
    let subject: Option<String> = row.try_get("subject_kind")?;
    let payload: String = row.try_get("payload")?;
    let version: i32 = row.try_get("payload_version")?;
    Ok(Event {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
        event_seq: row.try_get("event_seq")?,
        id: EventId::from_uuid(row.try_get("id")?),
        event_type: stored("type", kind.parse())?,
        site_id: row.try_get::<Option<Uuid>, _>("site_id")?.map(SiteId::from_uuid),
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        source_kind: stored("source_kind", source.parse())?,
        source_id: row.try_get("source_id")?,
        subject_kind: stored_opt("subject_kind", subject, str::parse)?,
        subject_id: row.try_get("subject_id")?,
        correlation_id: row.try_get("correlation_id")?,
        causation_id: row.try_get("causation_id")?,
        payload_version: u16::try_from(version).map_err(|_| StoreError::Corrupt(format!("payload_version: {version}")))?,
        payload: serde_json::from_str(&payload).map_err(|err| StoreError::Corrupt(format!("payload: {err}")))?,
    })
}

fn stored_event(tenant: TenantId, seq: i64, event: &NewEvent, recorded_at: DateTime<Utc>) -> Event {
    Event {
        tenant_id: tenant,
        event_seq: seq,
        id: event.id,
        event_type: event.event_type,
        site_id: event.site_id,
        occurred_at: event.occurred_at,
        recorded_at,
        source_kind: event.source_kind,
        source_id: event.source_id.clone(),
        subject_kind: event.subject_kind,
        subject_id: event.subject_id,
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        payload_version: event.payload_version,
        payload: event.payload.clone(),
    }
}

/// Moves a feed from the position its writer read at; `Conflict` if it is elsewhere.
async fn move_feed(conn: &mut Conn, tenant: TenantId, feed: FeedMove<'_>) -> StoreResult<()> {
    let moved = if feed.from == 0 {
        sqlx::query(
            "INSERT INTO event_feeds (tenant_id, feed, position) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, feed) DO UPDATE SET position = excluded.position WHERE event_feeds.position = 0",
        )
        .bind(tenant.as_uuid())
        .bind(feed.feed)
        .bind(feed.to)
        .execute(&mut *conn)
        .await?
    } else {
        sqlx::query("UPDATE event_feeds SET position = $3 WHERE tenant_id = $1 AND feed = $2 AND position = $4")
            .bind(tenant.as_uuid())
            .bind(feed.feed)
            .bind(feed.to)
            .bind(feed.from)
            .execute(&mut *conn)
            .await?
    };
    if moved.rows_affected() == 0 {
        return Err(StoreError::Conflict { field: "feed" });
    }
    Ok(())
}

#[async_trait]
impl EventStore for This {
    async fn events_append(
        &self,
        tenant: TenantId,
        events: &[NewEvent],
        recorded_at: DateTime<Utc>,
        feed: Option<FeedMove<'_>>,
    ) -> StoreResult<Vec<Event>> {
        if events.len() > EVENTS_PER_APPEND_MAX {
            return Err(StoreError::Invalid(ValidationError::new(
                "events",
                format!("at most {EVENTS_PER_APPEND_MAX} events in one append"),
            )));
        }
        let mut tx = self.write(tenant).await?;
        if let Some(feed) = feed {
            move_feed(&mut tx, tenant, feed).await?;
        }
        if events.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        // The head is moved first: its row lock orders concurrent appends of one tenant.
        let head: i64 = sqlx::query_scalar(
            "INSERT INTO event_heads (tenant_id, event_seq) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET event_seq = event_heads.event_seq + excluded.event_seq \
             RETURNING event_seq",
        )
        .bind(tenant.as_uuid())
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
        let first = head - count + 1;
        let recorded_at = recorded_at.trunc_subsecs(6);
        let stored: Vec<Event> = events
            .iter()
            .zip(first..)
            .map(|(event, seq)| {
                let mut event = stored_event(tenant, seq, event, recorded_at);
                event.occurred_at = event.occurred_at.trunc_subsecs(6);
                event
            })
            .collect();
        for chunk in stored.chunks(EVENT_ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            query.push_values(chunk, |mut row, event| {
                row.push_bind(event.tenant_id.as_uuid())
                    .push_bind(event.event_seq)
                    .push_bind(event.id.as_uuid())
                    .push_bind(event.event_type.as_str())
                    .push_bind(event.site_id.map(|id| id.as_uuid()))
                    .push_bind(event.occurred_at)
                    .push_bind(event.recorded_at)
                    .push_bind(event.source_kind.as_str())
                    .push_bind(event.source_id.clone())
                    .push_bind(event.subject_kind.map(|kind| kind.as_str()))
                    .push_bind(event.subject_id)
                    .push_bind(event.correlation_id)
                    .push_bind(event.causation_id)
                    .push_bind(i32::from(event.payload_version))
                    .push_bind(event.payload.to_string());
            });
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn events_list(&self, tenant: TenantId, filter: &EventFilter, after_seq: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant_id = "));
        query.push_bind(tenant.as_uuid()).push(" AND event_seq > ").push_bind(after_seq);
        if !filter.types.is_empty() {
            query.push(" AND type IN (");
            let mut types = query.separated(", ");
            for kind in &filter.types {
                types.push_bind(kind.as_str());
            }
            query.push(")");
        }
        if let Some(site) = filter.site_id {
            query.push(" AND site_id = ").push_bind(site.as_uuid());
        }
        if let Some(kind) = filter.subject_kind {
            query.push(" AND subject_kind = ").push_bind(kind.as_str());
        }
        if let Some(subject) = filter.subject_id {
            query.push(" AND subject_id = ").push_bind(subject);
        }
        if let Some(from) = filter.from {
            query.push(" AND occurred_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            query.push(" AND occurred_at < ").push_bind(to);
        }
        query.push(" ORDER BY event_seq LIMIT ").push_bind(i64::from(limit));
        let mut tx = self.read(tenant).await?;
        let rows = query.build().fetch_all(&mut *tx).await?;
        tx.finish().await?;
        rows.iter().map(decode_event).collect()
    }

    async fn event_feed_position(&self, tenant: TenantId, feed: &str) -> StoreResult<i64> {
        let mut tx = self.read(tenant).await?;
        let position: Option<i64> = sqlx::query_scalar("SELECT position FROM event_feeds WHERE tenant_id = $1 AND feed = $2")
            .bind(tenant.as_uuid())
            .bind(feed)
            .fetch_optional(&mut *tx)
            .await?;
        tx.finish().await?;
        Ok(position.unwrap_or(0))
    }

    async fn events_head(&self, tenant: TenantId) -> StoreResult<i64> {
        let mut tx = self.read(tenant).await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT event_seq FROM event_heads WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
        tx.finish().await?;
        Ok(head.unwrap_or(0))
    }
}
