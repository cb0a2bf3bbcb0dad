//! The event log: numbered per tenant from 1 without gaps, listed in order and by
//! filter, written with its feed's position in one transaction, and never across tenants.

use gatehouse_domain::events::*;
use uuid::Uuid;

use super::*;

fn event(kind: EventType, subject: Option<Uuid>, minute: i64) -> NewEvent {
    NewEvent {
        id: EventId::generate(),
        event_type: kind,
        site_id: None,
        occurred_at: t0() + Duration::minutes(minute) + Duration::microseconds(123_456),
        source_kind: EventSourceKind::Device,
        source_id: Some("controller-1".into()),
        subject_kind: subject.map(|_| EventSubjectKind::AccessPoint),
        subject_id: subject,
        correlation_id: Some(Uuid::from_u128(7)),
        causation_id: None,
        payload_version: 1,
        payload: serde_json::json!({"note": "não – 🚪", "n": minute}),
    }
}

pub(crate) async fn events_are_numbered_per_tenant_and_listed_in_order(store: Arc<dyn Store>, _db: TestDatabase) {
    let acme = tenant(&store, "acme").await.id;
    let other = tenant(&store, "other").await.id;
    let door = Uuid::from_u128(1);
    let first = vec![event(EventType::AccessGranted, Some(door), 0), event(EventType::DoorForced, Some(door), 1)];
    let stored = store.events_append(acme, &first, t0(), None).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.event_seq).collect::<Vec<_>>(), [1, 2]);
    let theirs = store.events_append(other, &[event(EventType::DoorOpened, None, 0)], t0(), None).await.unwrap();
    assert_eq!(theirs[0].event_seq, 1, "each tenant its own sequence");
    let more = store
        .events_append(acme, &[event(EventType::AccessDenied, None, 2), event(EventType::DoorForced, Some(door), 3)], t0(), None)
        .await
        .unwrap();
    assert_eq!(more.iter().map(|e| e.event_seq).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(store.events_head(acme).await.unwrap(), 4);
    assert!(store.events_append(acme, &[], t0(), None).await.unwrap().is_empty());

    let all = store.events_list(acme, &EventFilter::default(), 0, 100).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[..2], stored[..], "stored exactly as returned by the append");
    assert!(all.iter().all(|e| e.tenant_id == acme));
    assert_eq!(all[0].payload["note"], "não – 🚪");
    assert_eq!(store.events_list(acme, &EventFilter::default(), 2, 1).await.unwrap()[0].event_seq, 3, "paged");
    let forced = EventFilter { types: vec![EventType::DoorForced], ..EventFilter::default() };
    assert_eq!(store.events_list(acme, &forced, 0, 100).await.unwrap().iter().map(|e| e.event_seq).collect::<Vec<_>>(), [2, 4]);
    let about_door = EventFilter { subject_id: Some(door), ..EventFilter::default() };
    assert_eq!(store.events_list(acme, &about_door, 0, 100).await.unwrap().len(), 3);
    let window =
        EventFilter { from: Some(t0() + Duration::minutes(1)), to: Some(t0() + Duration::minutes(3)), ..EventFilter::default() };
    assert_eq!(store.events_list(acme, &window, 0, 100).await.unwrap().iter().map(|e| e.event_seq).collect::<Vec<_>>(), [2, 3]);
    let listed_other = store.events_list(other, &EventFilter::default(), 0, 100).await.unwrap();
    assert_eq!(listed_other.len(), 1);
    assert_eq!(listed_other[0].event_type, EventType::DoorOpened);
}

pub(crate) async fn an_event_feed_moves_with_its_events_once(store: Arc<dyn Store>, _db: TestDatabase) {
    let acme = tenant(&store, "acme").await.id;
    assert_eq!(store.event_feed_position(acme, "access_log").await.unwrap(), 0);
    let feed = |from, to| Some(FeedMove { feed: "access_log", from, to });
    store.events_append(acme, &[event(EventType::AccessGranted, None, 0)], t0(), feed(0, 5)).await.unwrap();
    assert_eq!(store.event_feed_position(acme, "access_log").await.unwrap(), 5);
    // A second writer that read from the same position loses, and writes nothing.
    let stale = store.events_append(acme, &[event(EventType::AccessDenied, None, 1)], t0(), feed(0, 6)).await;
    assert!(matches!(stale, Err(StoreError::Conflict { field: "feed" })), "{stale:?}");
    let stale = store.events_append(acme, &[event(EventType::AccessDenied, None, 1)], t0(), feed(4, 6)).await;
    assert!(matches!(stale, Err(StoreError::Conflict { field: "feed" })), "{stale:?}");
    assert_eq!(store.events_head(acme).await.unwrap(), 1, "nothing of a refused append is kept");
    // A feed may move past entries that make no event.
    store.events_append(acme, &[], t0(), feed(5, 9)).await.unwrap();
    store.events_append(acme, &[event(EventType::DoorClosed, None, 2)], t0(), feed(9, 10)).await.unwrap();
    assert_eq!(store.event_feed_position(acme, "access_log").await.unwrap(), 10);
    assert_eq!(store.events_head(acme).await.unwrap(), 2);
    assert_eq!(store.event_feed_position(acme, "another").await.unwrap(), 0, "feeds are apart");
}
