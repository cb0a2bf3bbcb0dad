//! Device commands: queued, sent highest priority first and oldest first within one,
//! expired unsent, ended once, and never seen from another tenant.

use super::*;
use gatehouse_domain::devices::{Command, CommandKind, CommandStatus, DeviceKind, NewDevice};

pub(crate) fn new_lock(device_name: &str) -> NewDevice {
    NewDevice {
        kind: DeviceKind::Lock,
        name: name(device_name),
        model: None,
        serial: None,
        firmware: None,
        capabilities: Vec::new(),
        access_point_id: None,
        zone_id: None,
        config: None,
    }
}

pub(crate) fn unlock(priority: u8, expires_in: Duration) -> QueuedCommand {
    QueuedCommand {
        kind: CommandKind::Unlock,
        params: serde_json::json!({"seconds": 5}),
        priority,
        timeout_s: 3600,
        expires_at: t0() + expires_in,
    }
}

pub(crate) fn ended(status: CommandStatus, seconds: i64) -> CommandOutcome {
    CommandOutcome { status, result: None, error: None, at: t0() + Duration::seconds(seconds) }
}

pub async fn commands_go_by_priority_then_age_expire_unsent_and_end_once(store: Arc<dyn Store>, _db: TestDatabase) {
    let (acme, other) = (tenant(&store, "acme").await.id, tenant(&store, "other").await.id);
    let lock = store.device_create(acme, &new_lock("Front lock"), [1u8; 32], &change()).await.unwrap();
    let low = store.command_create(acme, lock.id, &unlock(1, Duration::hours(1)), &change()).await.unwrap();
    let high_first = store.command_create(acme, lock.id, &unlock(9, Duration::hours(1)), &change()).await.unwrap();
    let high_second = store.command_create(acme, lock.id, &unlock(9, Duration::hours(1)), &change()).await.unwrap();
    let stale = store.command_create(acme, lock.id, &unlock(9, Duration::seconds(30)), &change()).await.unwrap();
    // Every stored field comes back as written (on PostgreSQL they are int4 columns).
    let read: Command = store.command_get(acme, lock.id, low.id).await.unwrap();
    assert_eq!((read.priority, read.timeout_s, read.attempts, read.status), (1, 3600, 0, CommandStatus::Queued));
    assert_eq!(read, low);
    assert_eq!(store.command_queue_expiry(acme, lock.id).await.unwrap(), Some(stale.expires_at));

    // A minute on, the 30-second one expired unsent; the rest go by priority, then age.
    let later = t0() + Duration::minutes(1);
    let next = store.command_next(acme, lock.id, later).await.unwrap().unwrap();
    assert_eq!(next.id, high_first.id);
    assert_eq!(store.command_get(acme, lock.id, stale.id).await.unwrap().status, CommandStatus::Expired);
    store.command_sent(acme, next.id, later).await.unwrap();
    store.command_sent(acme, next.id, later + Duration::seconds(5)).await.unwrap();
    let sent = store.command_get(acme, lock.id, next.id).await.unwrap();
    assert_eq!((sent.status, sent.attempts, sent.sent_at), (CommandStatus::Sent, 2, Some(later)));
    let finished = store.command_finish(acme, next.id, &ended(CommandStatus::Acknowledged, 70)).await.unwrap();
    assert_eq!(finished.map(|command| command.status), Some(CommandStatus::Acknowledged));
    assert!(store.command_finish(acme, next.id, &ended(CommandStatus::Failed, 80)).await.unwrap().is_none(), "ends once");
    assert_eq!(store.command_next(acme, lock.id, later).await.unwrap().map(|command| command.id), Some(high_second.id));
    let open: Vec<CommandId> = store.commands_open(acme).await.unwrap().iter().map(|command| command.id).collect();
    assert_eq!(open, vec![low.id, high_second.id], "still queued or sent, oldest first");
    let listed = store.command_list(acme, lock.id, PageRequest { limit: 10, after: None }).await.unwrap().items;
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0].id, stale.id, "newest first");

    // Another tenant sees none of it, and cannot end it.
    assert!(matches!(store.command_get(other, lock.id, low.id).await, Err(StoreError::NotFound)));
    assert!(store.commands_open(other).await.unwrap().is_empty());
    assert!(store.command_next(other, lock.id, later).await.unwrap().is_none());
    assert!(store.command_finish(other, low.id, &ended(CommandStatus::Failed, 90)).await.unwrap().is_none());
    assert_eq!(store.command_get(acme, lock.id, low.id).await.unwrap().status, CommandStatus::Queued);
    assert!(store.command_create(other, lock.id, &unlock(5, Duration::hours(1)), &change()).await.is_err());
}
