//! Device commands: queued (audited), sent highest priority first and oldest first within
//! one, expired unsent, ended once, listed per device newest first in pages, and never
//! seen, sent, expired or listed from another tenant.

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

pub(crate) async fn commands_read_back_audited_and_listed_per_device_in_pages(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let lock = store.device_create(t, &new_lock("Front lock"), [1u8; 32], &change()).await.unwrap();
    let other_lock = store.device_create(t, &new_lock("Back lock"), [1u8; 32], &change()).await.unwrap();
    let mut by_operator = change();
    by_operator.request_id = Some("req-9".into());
    let pulse = QueuedCommand {
        kind: CommandKind::Pulse,
        params: serde_json::json!({"relay": 2, "ms": 700}),
        priority: 3,
        timeout_s: 10,
        expires_at: t0() + Duration::hours(2),
    };
    let created = store.command_create(t, lock.id, &pulse, &by_operator).await.unwrap();
    assert_eq!(
        (created.tenant_id, created.device_id, created.kind, &created.params),
        (t, lock.id, CommandKind::Pulse, &pulse.params)
    );
    assert_eq!((created.priority, created.timeout_s, created.expires_at), (3, 10, pulse.expires_at));
    assert_eq!((created.status, created.attempts, created.sent_at, created.finished_at), (CommandStatus::Queued, 0, None, None));
    assert_eq!((&created.result, &created.error, created.created_at), (&None, &None, t0()));
    assert_eq!(store.command_get(t, lock.id, created.id).await.unwrap(), created);
    assert!(matches!(store.command_get(t, other_lock.id, created.id).await, Err(StoreError::NotFound)), "another device's");
    assert!(matches!(store.command_get(t, lock.id, CommandId::generate()).await, Err(StoreError::NotFound)));

    // Queued in the change's transaction, with its audit entry; a refused one records nothing.
    let filter = AuditFilter { action: Some("devices.command.create".into()), ..AuditFilter::default() };
    let entries = store.audit_list(Some(t), &filter, PageRequest::default()).await.unwrap().items;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!((entry.target_type.as_str(), entry.target_id.clone()), ("device", Some(lock.id.to_string())));
    assert_eq!((entry.before.clone(), entry.after.clone()), (None, Some(serde_json::to_value(&created).unwrap())));
    assert_eq!((entry.request_id.as_deref(), entry.at), (Some("req-9"), t0()));
    let refused = store.command_create(t, DeviceId::generate(), &pulse, &change()).await;
    assert_eq!(field_of(refused.unwrap_err()), "device_id");
    // Out of the stored ranges (priority 0 to 9, a timeout of 1 to 3600 s): refused on both backends.
    for out_of_range in [QueuedCommand { priority: 10, ..pulse.clone() }, QueuedCommand { timeout_s: 0, ..pulse.clone() }] {
        assert!(store.command_create(t, lock.id, &out_of_range, &change()).await.is_err());
    }
    assert_eq!(store.audit_list(Some(t), &filter, PageRequest::default()).await.unwrap().items.len(), 1);
    assert_eq!(store.command_list(t, lock.id, PageRequest::default()).await.unwrap().items, vec![created.clone()]);

    // The device's commands, newest first, in pages; another device's are not among them.
    let mut queued = vec![created.id];
    for _ in 1..5 {
        queued.push(store.command_create(t, lock.id, &unlock(5, Duration::hours(1)), &change()).await.unwrap().id);
    }
    let elsewhere = store.command_create(t, other_lock.id, &unlock(5, Duration::hours(1)), &change()).await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let found = store.command_list(t, lock.id, page).await.unwrap();
        assert!(found.items.len() <= 2 && found.items.iter().all(|command| command.device_id == lock.id));
        seen.extend(found.items.iter().map(|command| command.id));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    queued.reverse();
    assert_eq!(seen, queued, "newest first, every one once");
    let theirs = store.command_list(t, other_lock.id, PageRequest::default()).await.unwrap();
    assert_eq!((theirs.items, theirs.next_after), (vec![elsewhere], None));
    assert!(matches!(store.command_list(t, DeviceId::generate(), PageRequest::default()).await, Err(StoreError::NotFound)));
}

pub(crate) async fn command_ends_and_queue_expiry_read_back_as_recorded(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let lock = store.device_create(t, &new_lock("Front lock"), [1u8; 32], &change()).await.unwrap();
    let other_lock = store.device_create(t, &new_lock("Back lock"), [1u8; 32], &change()).await.unwrap();
    assert_eq!(store.command_queue_expiry(t, lock.id).await.unwrap(), None, "nothing queued");
    let soon = store.command_create(t, lock.id, &unlock(1, Duration::minutes(10)), &change()).await.unwrap();
    let later_one = store.command_create(t, lock.id, &unlock(9, Duration::minutes(20)), &change()).await.unwrap();
    let last = store.command_create(t, lock.id, &unlock(5, Duration::minutes(30)), &change()).await.unwrap();
    let theirs = store.command_create(t, other_lock.id, &unlock(5, Duration::minutes(5)), &change()).await.unwrap();
    assert_eq!(store.command_queue_expiry(t, lock.id).await.unwrap(), Some(soon.expires_at), "the device's own, earliest first");

    // A sent command is no longer waiting in the queue.
    store.command_sent(t, soon.id, t0() + Duration::seconds(1)).await.unwrap();
    assert_eq!(store.command_queue_expiry(t, lock.id).await.unwrap(), Some(later_one.expires_at));
    let open: Vec<CommandId> = store.commands_open(t).await.unwrap().iter().map(|command| command.id).collect();
    assert_eq!(open, vec![soon.id, later_one.id, last.id, theirs.id], "sent ones are open too");

    // A queued command can end without a send; what it ended with reads back.
    let outcome = CommandOutcome {
        status: CommandStatus::Failed,
        result: Some(serde_json::json!({"code": 17})),
        error: Some("jammed".into()),
        at: t0() + Duration::seconds(2),
    };
    let failed = store.command_finish(t, later_one.id, &outcome).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.result.clone(), failed.error.as_deref()),
        (CommandStatus::Failed, outcome.result.clone(), Some("jammed"))
    );
    assert_eq!((failed.finished_at, failed.sent_at, failed.attempts), (Some(outcome.at), None, 0));
    assert_eq!(store.command_get(t, lock.id, later_one.id).await.unwrap(), failed);
    // A send recorded after the end changes nothing.
    store.command_sent(t, later_one.id, t0() + Duration::seconds(3)).await.unwrap();
    assert_eq!(store.command_get(t, lock.id, later_one.id).await.unwrap(), failed);
    let acknowledged = CommandOutcome { result: Some(serde_json::json!({"ok": true})), ..ended(CommandStatus::Acknowledged, 4) };
    let done = store.command_finish(t, soon.id, &acknowledged).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.attempts, done.sent_at, done.error),
        (CommandStatus::Acknowledged, 1, Some(t0() + Duration::seconds(1)), None)
    );
    assert_eq!(store.command_finish(t, CommandId::generate(), &acknowledged).await.unwrap(), None, "unknown");

    // Expired unsent ones leave the queue too; a device with nothing queued has no expiry.
    assert_eq!(store.command_queue_expiry(t, lock.id).await.unwrap(), Some(last.expires_at));
    assert_eq!(store.command_next(t, lock.id, t0() + Duration::hours(1)).await.unwrap(), None);
    let expired = store.command_get(t, lock.id, last.id).await.unwrap();
    assert_eq!((expired.status, expired.finished_at), (CommandStatus::Expired, Some(t0() + Duration::hours(1))));
    assert_eq!(store.command_queue_expiry(t, lock.id).await.unwrap(), None);
    assert_eq!(
        store.command_queue_expiry(t, other_lock.id).await.unwrap(),
        Some(theirs.expires_at),
        "another device's queue is its own"
    );
    assert_eq!(store.commands_open(t).await.unwrap().iter().map(|command| command.id).collect::<Vec<_>>(), vec![theirs.id]);
}

pub(crate) async fn commands_are_neither_listed_sent_nor_expired_from_another_tenant(store: Arc<dyn Store>, _db: TestDatabase) {
    let (acme, other) = (tenant(&store, "acme").await.id, tenant(&store, "other").await.id);
    let lock = store.device_create(acme, &new_lock("Front lock"), [1u8; 32], &change()).await.unwrap();
    let stale = store.command_create(acme, lock.id, &unlock(5, Duration::seconds(30)), &change()).await.unwrap();
    let audited = store.audit_list(Some(acme), &AuditFilter::default(), PageRequest::default()).await.unwrap().items;

    assert!(matches!(store.command_list(other, lock.id, PageRequest::default()).await, Err(StoreError::NotFound)));
    assert_eq!(store.command_queue_expiry(other, lock.id).await.unwrap(), None);
    store.command_sent(other, stale.id, t0() + Duration::seconds(1)).await.unwrap();
    // Another tenant's dispatcher looking at the device's queue a minute on expires nothing.
    assert!(store.command_next(other, lock.id, t0() + Duration::minutes(1)).await.unwrap().is_none());
    assert_eq!(store.command_get(acme, lock.id, stale.id).await.unwrap(), stale, "not sent, not expired");
    let refused = store.command_create(other, lock.id, &unlock(5, Duration::hours(1)), &change()).await;
    assert_eq!(field_of(refused.unwrap_err()), "device_id");
    assert_eq!(store.command_list(acme, lock.id, PageRequest::default()).await.unwrap().items, vec![stale]);
    assert_eq!(store.audit_list(Some(acme), &AuditFilter::default(), PageRequest::default()).await.unwrap().items, audited);
    assert!(store.audit_list(Some(other), &AuditFilter::default(), PageRequest::default()).await.unwrap().items.is_empty());
}
