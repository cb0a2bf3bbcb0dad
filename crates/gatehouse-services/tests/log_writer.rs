//! The access-log writer on both backends: an entry written with the commands it
//! records (an operator's unlock) is one transaction, all or nothing, and the
//! tenant's chain stays whole around it, whatever else the writer batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use gatehouse_access::chain::{ChainHead, EntryKind, LogRecord};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::devices::{CommandKind, DeviceKind, NewDevice};
use gatehouse_domain::tenancy::NewTenant;
use gatehouse_domain::values::{Name, Slug};
use gatehouse_domain::{CommandId, DeviceId, TenantId};
use gatehouse_services::access::decision::log_entry;
use gatehouse_services::access::verify::verify_chain;
use gatehouse_services::access::{AccessLogWriter, LogWriterConfig};
use gatehouse_services::identity::{KeyRing, MasterKey};
use gatehouse_services::ServiceError;
use gatehouse_store::{open, CommandToQueue, OpenOptions, QueuedCommand, Store, StoreError};
use gatehouse_testkit::{TestBackend, TestDatabase};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn change() -> ChangeContext {
    ChangeContext::system("log writer test", t0())
}

async fn tenant(store: &Arc<dyn Store>, slug: &str) -> TenantId {
    let new = NewTenant { name: Name::parse(slug).unwrap(), slug: Slug::parse(slug).unwrap() };
    store.tenant_create(&new, &change()).await.unwrap().id
}

async fn lock(store: &Arc<dyn Store>, tenant: TenantId) -> DeviceId {
    let new = NewDevice {
        kind: DeviceKind::Lock,
        name: Name::parse("Front lock").unwrap(),
        model: None,
        serial: None,
        firmware: None,
        capabilities: Vec::new(),
        access_point_id: None,
        zone_id: None,
        config: None,
    };
    store.device_create(tenant, &new, [7u8; 32], &change()).await.unwrap().id
}

fn unlock(device: DeviceId) -> CommandToQueue {
    CommandToQueue {
        id: CommandId::generate(),
        device,
        command: QueuedCommand {
            kind: CommandKind::Unlock,
            params: serde_json::json!({"seconds": 5}),
            priority: 9,
            timeout_s: 10,
            expires_at: t0() + chrono::Duration::seconds(30),
        },
    }
}

fn entry(tenant: TenantId, kind: EntryKind) -> LogRecord {
    log_entry(tenant, t0(), kind)
}

async fn entries_and_commands_share_one_chain(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    let store = open(&db.url, OpenOptions::default()).await.unwrap();
    let (acme, other) = (tenant(&store, "acme").await, tenant(&store, "other").await);
    let (acme_lock, other_lock) = (lock(&store, acme).await, lock(&store, other).await);
    let keys = Arc::new(KeyRing::load_or_create(store.as_ref(), MasterKey::generate(), Duration::from_secs(900)).await.unwrap());
    let writer = AccessLogWriter::spawn(store.clone(), keys.clone(), LogWriterConfig::default());

    let first = writer.append(entry(acme, EntryKind::DoorEvent), None).await.unwrap();
    assert_eq!(first.seq, 1);
    let asked = unlock(acme_lock);
    let (sealed, created) =
        writer.append_with_commands(entry(acme, EntryKind::RemoteUnlock), vec![asked.clone()], change()).await.unwrap();
    assert_eq!(sealed.seq, 2);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].id, asked.id, "the command keeps the id its caller made");

    // Plain entries queued around one with commands: committed in queue order, one chain.
    let (before, with_commands, after) = tokio::join!(
        writer.append(entry(acme, EntryKind::DoorEvent), None),
        writer.append_with_commands(entry(acme, EntryKind::RemoteUnlock), vec![unlock(acme_lock)], change()),
        writer.append(entry(acme, EntryKind::DoorEvent), None),
    );
    let mut seqs = vec![before.unwrap().seq, with_commands.unwrap().0.seq, after.unwrap().seq];
    seqs.sort_unstable();
    assert_eq!(seqs, [3, 4, 5]);

    // A command for another tenant's device: nothing of it is written, and the chain goes on.
    let refused = writer
        .append_with_commands(entry(acme, EntryKind::RemoteUnlock), vec![unlock(acme_lock), unlock(other_lock)], change())
        .await
        .unwrap_err();
    assert!(matches!(refused, ServiceError::Store(StoreError::Invalid(_) | StoreError::NotFound)), "{refused:?}");
    assert_eq!(store.commands_open(acme).await.unwrap().len(), 2, "the refused unlock queued nothing");
    assert_eq!(store.access_log_head(acme).await.unwrap().seq, 5, "and logged nothing");
    assert_eq!(writer.append(entry(acme, EntryKind::DoorEvent), None).await.unwrap().seq, 6);

    // A caller whose view of the head is stale writes nothing at all.
    let head = store.access_log_head(acme).await.unwrap();
    let mut stale = entry(acme, EntryKind::RemoteUnlock);
    let mut behind = ChainHead { seq: head.seq - 1, hash: store.access_log_scan(acme, head.seq - 2, 1).await.unwrap()[0].hash };
    keys.chain_key(acme).seal(&mut behind, &mut stale);
    let conflict = store.commands_create_logged(acme, &[unlock(acme_lock)], &stale, &change()).await.unwrap_err();
    assert!(matches!(conflict, StoreError::Conflict { field: "seq" }), "{conflict:?}");
    assert_eq!(store.commands_open(acme).await.unwrap().len(), 2);
    assert_eq!(store.access_log_head(acme).await.unwrap(), head);

    let verified = verify_chain(store.as_ref(), keys.chain_key(acme), acme).await.unwrap();
    assert!(verified.valid && verified.entries == 6, "{verified:?}");
    let audited = store.audit_list(Some(acme), &Default::default(), gatehouse_store::PageRequest::first(50)).await.unwrap();
    let queued = audited.items.iter().filter(|entry| entry.action == "devices.command.create").count();
    assert_eq!(queued, 2, "each command written is audited, the refused ones are not");
}

#[tokio::test]
async fn sqlite_entries_and_commands_share_one_chain() {
    entries_and_commands_share_one_chain(TestBackend::Sqlite).await;
}

#[tokio::test]
async fn postgres_entries_and_commands_share_one_chain() {
    entries_and_commands_share_one_chain(TestBackend::Postgres).await;
}
