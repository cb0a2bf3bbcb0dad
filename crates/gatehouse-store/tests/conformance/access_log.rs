//! The access log: sealed chains appended in batches, read back byte for byte,
//! and every kind of tampering with the stored rows named by the verifier.

use std::str::FromStr as _;

use gatehouse_access::chain::{Break, ChainHead, ChainKey, EntryKind, LogRecord, Verification, Verifier, GENESIS};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Executor, PgConnection, Row, SqliteConnection};
use uuid::Uuid;

use super::*;

const MASTER: [u8; 32] = [7u8; 32];

/// One tenant's chain as the decision engine would build it.
pub(crate) struct Chain {
    tenant: TenantId,
    key: ChainKey,
    head: ChainHead,
}

impl Chain {
    pub(crate) fn new(tenant: TenantId) -> Self {
        Chain { tenant, key: ChainKey::derive(&MASTER, tenant), head: ChainHead::EMPTY }
    }

    /// Continues from the head the store holds.
    fn from_head(tenant: TenantId, head: ChainHead) -> Self {
        Chain { head, ..Chain::new(tenant) }
    }

    /// The next entry, at `at`, its fields varied by its number and then by `edit`.
    fn next_with(&mut self, at: DateTime<Utc>, edit: impl FnOnce(&mut LogRecord)) -> LogRecord {
        let n = self.head.seq + 1;
        let mut record = LogRecord {
            tenant_id: self.tenant,
            seq: 0,
            id: DecisionId::generate(),
            at,
            kind: EntryKind::Decision,
            access_point_id: Some(AccessPointId::from_uuid(Uuid::from_u128(1 + (n % 2) as u128))),
            person_id: (n % 3 != 0).then(|| PersonId::from_uuid(Uuid::from_u128(10 + (n % 2) as u128))),
            credential_id: Some(CredentialId::from_uuid(Uuid::from_u128(100 + n as u128))),
            credential_kind: Some(if n % 2 == 0 { "card" } else { "pin" }.to_owned()),
            direction: Some("in".to_owned()),
            granted: Some(n % 4 != 0),
            reason: Some(if n % 4 != 0 { "granted" } else { "no_grant" }.to_owned()),
            door_action: Some("unlock".to_owned()),
            // Not normalised JSON: PostgreSQL must keep the text exactly (text, not jsonb).
            rule: Some(format!("{{\"level\":  \"L{n}\", \"a\":1 }}")),
            detail: (n % 5 == 0).then(|| "{\"note\": \"não – 🚪\"}".to_owned()),
            prev_hash: GENESIS,
            hash: GENESIS,
        };
        edit(&mut record);
        self.key.seal(&mut self.head, &mut record);
        record
    }

    pub(crate) fn next(&mut self, at: DateTime<Utc>) -> LogRecord {
        self.next_with(at, |_| ())
    }

    /// `count` entries, one second apart from `start`, with microseconds that vary.
    fn entries(&mut self, start: DateTime<Utc>, count: usize) -> Vec<LogRecord> {
        (0..count)
            .map(|i| {
                let micros = [0, 500_000, 123_456, 1, 999_999][i % 5];
                self.next(start + Duration::seconds(i as i64) + Duration::microseconds(micros))
            })
            .collect()
    }
}

/// Every entry of the tenant, fetched a page at a time as a verifier would.
async fn scan_all(store: &Arc<dyn Store>, tenant: TenantId, page: u32) -> Vec<LogRecord> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.access_log_scan(tenant, after, page).await.unwrap();
        let Some(last) = batch.last() else { return all };
        after = last.seq;
        all.extend(batch);
    }
}

async fn verify(store: &Arc<dyn Store>, tenant: TenantId) -> Verification {
    let mut verifier = Verifier::new(ChainKey::derive(&MASTER, tenant));
    let mut after = 0;
    loop {
        let batch = store.access_log_scan(tenant, after, 4).await.unwrap();
        let Some(last) = batch.last() else { return verifier.finish() };
        after = last.seq;
        batch.iter().for_each(|record| verifier.push(record));
    }
}

/// A connection to the database that is not the store: as the server's own role
/// ([`Raw::app`]) or as someone with the database's full powers ([`Raw::attacker`]).
enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

macro_rules! on_raw {
    ($raw:expr, $conn:ident => $body:expr) => {
        match $raw {
            Raw::Sqlite($conn) => $body,
            Raw::Postgres($conn) => $body,
        }
    };
}

impl Raw {
    async fn connect(db: &TestDatabase) -> Raw {
        match &db.url {
            DatabaseUrl::Sqlite(path) => {
                let options = SqliteConnectOptions::from_str("sqlite://")
                    .unwrap()
                    .filename(path)
                    .busy_timeout(std::time::Duration::from_secs(5));
                Raw::Sqlite(SqliteConnection::connect_with(&options).await.unwrap())
            }
            DatabaseUrl::Postgres(url) => Raw::Postgres(PgConnection::connect(url).await.unwrap()),
        }
    }

    /// What the server's own connections may do: on SQLite the file as it is (with its
    /// triggers), on PostgreSQL the app role with `tenant` set for row-level security.
    async fn app(db: &TestDatabase, tenant: TenantId) -> Raw {
        let mut raw = Raw::connect(db).await;
        if let Raw::Postgres(conn) = &mut raw {
            conn.execute(format!("SET ROLE {POSTGRES_APP_ROLE}").as_str()).await.unwrap();
            sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, false)")
                .bind(tenant.to_string())
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        raw
    }

    /// Someone who can write the database behind the server's back: the SQLite file's
    /// owner (who drops the triggers first), or PostgreSQL's owner.
    async fn attacker(db: &TestDatabase) -> Raw {
        let mut raw = Raw::connect(db).await;
        if let Raw::Sqlite(conn) = &mut raw {
            conn.execute("DROP TRIGGER access_log_no_update; DROP TRIGGER access_log_no_delete;").await.unwrap();
        }
        raw
    }

    /// Runs `sql` with `$1` the tenant and `$2` a sequence number (both must appear).
    async fn run(&mut self, sql: &str, tenant: TenantId, seq: i64) -> Result<u64, sqlx::Error> {
        on_raw!(self, conn => sqlx::query(sql).bind(tenant.as_uuid()).bind(seq).execute(&mut *conn).await.map(|done| done.rows_affected()))
    }

    async fn table_exists(&mut self, table: &str) -> bool {
        let sql = match self {
            Raw::Sqlite(_) => "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = $1",
            Raw::Postgres(_) => "SELECT count(*) AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1",
        };
        on_raw!(self, conn => sqlx::query(sql).bind(table).fetch_one(&mut *conn).await.unwrap().get::<i64, _>("n") > 0)
    }
}

pub(crate) async fn access_log_append_and_scan_round_trip(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    assert_eq!(store.access_log_head(t).await.unwrap(), ChainHead::EMPTY);
    assert!(store.access_log_scan(t, 0, 10).await.unwrap().is_empty());
    assert!(store.access_log_tenants().await.unwrap().is_empty());

    let mut chain = Chain::new(t);
    // More than one full INSERT statement's worth, then the rest in smaller ones.
    let first = chain.entries(t0(), 1500);
    store.access_log_append(&first, &[]).await.unwrap();
    let second = vec![
        chain.next_with(t0() + Duration::hours(1), |r| {
            r.kind = EntryKind::DoorMode;
            r.person_id = None;
            r.credential_id = None;
            r.credential_kind = None;
            r.direction = None;
            r.granted = None;
            r.reason = None;
            r.door_action = None;
            r.rule = None;
            r.detail = Some("{\"mode\":\"unlocked\",\"by\":\"operator\"}".into());
        }),
        chain.next(t0() + Duration::hours(1) + Duration::microseconds(7)),
    ];
    store.access_log_append(&second, &[]).await.unwrap();
    assert_eq!(store.access_log_head(t).await.unwrap(), chain.head);

    let expected: Vec<LogRecord> = first.into_iter().chain(second).collect();
    let stored = scan_all(&store, t, 500).await;
    assert_eq!(stored.len(), expected.len());
    for (stored, expected) in stored.iter().zip(&expected) {
        // Byte for byte, `at` to the microsecond included.
        assert_eq!(stored, expected);
        assert_eq!(stored.at.timestamp_micros(), expected.at.timestamp_micros());
    }
    let verdict = verify(&store, t).await;
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!((verdict.entries, verdict.head_seq), (1502, 1502));
    assert_eq!(store.access_log_scan(t, 1500, 10).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), [1501, 1502]);
    assert_eq!(store.access_log_tenants().await.unwrap(), vec![t]);
    assert!(store.access_log_append(&[], &[]).await.is_ok(), "an empty batch is nothing to do");
}

pub(crate) async fn access_log_batches_hold_several_tenants(store: Arc<dyn Store>, _db: TestDatabase) {
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    tenant(&store, "tenant-c").await;
    let (mut chain_a, mut chain_b) = (Chain::new(a), Chain::new(b));
    // Interleaved, as group commit gathers them.
    let mut batch = Vec::new();
    for i in 0..6 {
        let at = t0() + Duration::seconds(i);
        batch.push(if i % 3 == 0 { chain_b.next(at) } else { chain_a.next(at) });
    }
    store.access_log_append(&batch, &[]).await.unwrap();
    let again: Vec<LogRecord> = vec![chain_a.next(t0() + Duration::minutes(1)), chain_b.next(t0() + Duration::minutes(1))];
    store.access_log_append(&again, &[]).await.unwrap();

    assert_eq!(store.access_log_head(a).await.unwrap(), chain_a.head);
    assert_eq!(store.access_log_head(b).await.unwrap(), chain_b.head);
    assert_eq!((chain_a.head.seq, chain_b.head.seq), (5, 3));
    for t in [a, b] {
        let stored = scan_all(&store, t, 100).await;
        let expected: Vec<&LogRecord> = batch.iter().chain(&again).filter(|r| r.tenant_id == t).collect();
        assert_eq!(stored.iter().collect::<Vec<_>>(), expected);
        assert!(verify(&store, t).await.valid);
    }
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(store.access_log_tenants().await.unwrap(), both, "tenant C has no log");
}

pub(crate) async fn access_log_a_batch_that_does_not_continue_the_head_fails_whole(store: Arc<dyn Store>, _db: TestDatabase) {
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    let (mut chain_a, mut chain_b) = (Chain::new(a), Chain::new(b));
    let start: Vec<LogRecord> = chain_a.entries(t0(), 3).into_iter().chain(chain_b.entries(t0(), 2)).collect();
    store.access_log_append(&start, &[]).await.unwrap();
    let (head_a, head_b) = (chain_a.head, chain_b.head);

    // Another node appended B's entry 3 first: this node's B 3 is stale.
    let mut other_node = Chain::from_head(b, head_b);
    store.access_log_append(&[other_node.next(t0() + Duration::minutes(1))], &[]).await.unwrap();
    let good_a = chain_a.entries(t0() + Duration::minutes(2), 2);
    let stale_b = chain_b.next(t0() + Duration::minutes(2));
    let batch: Vec<LogRecord> = good_a.iter().cloned().chain([stale_b.clone()]).collect();
    assert!(matches!(store.access_log_append(&batch, &[]).await, Err(StoreError::Conflict { field: "seq" })));
    assert_eq!(store.access_log_head(a).await.unwrap(), head_a, "nothing of the batch is written, A's part neither");
    assert_eq!(scan_all(&store, a, 100).await.len(), 3);
    assert_eq!(store.access_log_head(b).await.unwrap(), other_node.head);

    // The right number with the wrong previous hash is a fork too.
    let mut forked = Chain::from_head(a, ChainHead { seq: head_a.seq, hash: [9u8; 32] });
    let fork = forked.next(t0() + Duration::minutes(3));
    assert!(matches!(store.access_log_append(&[fork], &[]).await, Err(StoreError::Conflict { field: "seq" })));
    // Starting a chain that exists.
    let restart = Chain::new(a).next(t0() + Duration::minutes(3));
    assert!(matches!(store.access_log_append(&[restart], &[]).await, Err(StoreError::Conflict { field: "seq" })));
    // Entries of one tenant that skip within the batch are a caller's bug.
    let mut gap = Chain::from_head(a, head_a).entries(t0() + Duration::minutes(4), 3);
    gap.remove(1);
    assert_eq!(field_of(store.access_log_append(&gap, &[]).await.unwrap_err()), "seq");

    assert_eq!(store.access_log_head(a).await.unwrap(), head_a);
    assert!(verify(&store, a).await.valid);
    assert!(verify(&store, b).await.valid);
    // The batch, re-sealed from the heads as they are now, goes in.
    let mut chain_b = Chain::from_head(b, store.access_log_head(b).await.unwrap());
    let retried: Vec<LogRecord> = good_a.into_iter().chain([chain_b.next(t0() + Duration::minutes(2))]).collect();
    store.access_log_append(&retried, &[]).await.unwrap();
    assert_eq!(store.access_log_head(a).await.unwrap().seq, 5);
    assert_eq!(store.access_log_head(b).await.unwrap().seq, 4);
}

pub(crate) async fn access_log_two_writers_never_fork_a_chain(store: Arc<dyn Store>, db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let other = open(&db.url, OpenOptions { migrate: false, ..OpenOptions::default() }).await.unwrap();
    for round in 0..5 {
        // Both nodes seal from the same head (the empty one in round 0) and race.
        let head = store.access_log_head(t).await.unwrap();
        let mine = Chain::from_head(t, head).entries(t0() + Duration::minutes(round), 3);
        let theirs = Chain::from_head(t, head).entries(t0() + Duration::minutes(round) + Duration::seconds(30), 2);
        let (left, right) = tokio::join!(store.access_log_append(&mine, &[]), other.access_log_append(&theirs, &[]));
        let won = match (left, right) {
            (Ok(()), Err(StoreError::Conflict { field: "seq" })) => mine,
            (Err(StoreError::Conflict { field: "seq" }), Ok(())) => theirs,
            outcome => panic!("exactly one writer must win: {outcome:?}"),
        };
        assert_eq!(store.access_log_head(t).await.unwrap().hash, won.last().unwrap().hash);
    }
    let verdict = verify(&store, t).await;
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.head_seq, store.access_log_head(t).await.unwrap().seq);
    other.close().await;
}

/// Entries listed in the order of the instants devices reported for them (kept in the hashed
/// `detail` as serde writes them), the others at their `at`, ties in `seq` order; filtered by
/// that instant; paged by it. Fractions of 0, 3 and 6 digits, since SQLite compares text.
pub(crate) async fn access_log_lists_by_reported_instant(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let mut chain = Chain::new(t);
    let at = t0() + Duration::hours(1);
    let reported = |offset_micros: i64| t0() + Duration::microseconds(offset_micros);
    // (reported offset from t0 in µs, or None for an entry of Gatehouse's own at `at` + n s)
    let plan: [Option<i64>; 9] = [
        Some(2_000_000),
        Some(1_100_000),
        None,
        Some(1_000_000),
        Some(1_100_001),
        Some(1_000_100),
        Some(1_100_000),
        None,
        Some(0),
    ];
    let mut entries = Vec::new();
    for (n, offset) in plan.iter().enumerate() {
        let entry_at = at + Duration::seconds(n as i64);
        entries.push(chain.next_with(entry_at, |record| {
            record.kind = EntryKind::DoorEvent;
            record.detail =
                offset.map(|offset| serde_json::json!({"event": "tamper", "reported_at": reported(offset)}).to_string());
        }));
    }
    store.access_log_append(&entries, &[]).await.unwrap();
    assert_eq!(entries[0].reported_at(), Some(reported(2_000_000)));
    assert_eq!(entries[2].reported_at(), None);

    let list = |filter: AccessLogFilter, limit: u32| {
        let store = store.clone();
        async move {
            let (mut seqs, mut after) = (Vec::new(), None);
            loop {
                let page = store.access_log_list_reported(t, &filter, after, limit).await.unwrap();
                seqs.extend(page.items.iter().map(|r| r.seq));
                match page.next_after {
                    Some(next) => after = Some(next),
                    None => return seqs,
                }
            }
        }
    };
    // By reported instant: 0, 1.0, 1.0001, 1.1 (seq 2), 1.1 (seq 7), 1.100001, 2.0, then Gatehouse's own at `at`.
    let expected = vec![9, 4, 6, 2, 7, 5, 1, 3, 8];
    for limit in [1, 2, 100] {
        assert_eq!(list(AccessLogFilter::default(), limit).await, expected, "pages of {limit}");
    }
    let window = AccessLogFilter {
        reported_from: Some(reported(1_000_100)),
        reported_to: Some(reported(1_100_001)),
        ..AccessLogFilter::default()
    };
    assert_eq!(list(window.clone(), 2).await, vec![6, 2, 7]);
    assert_eq!(
        store.access_log_list(t, &window, None, 100).await.unwrap().items.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![2, 6, 7],
        "the filter in sequence order too"
    );
    let own = AccessLogFilter { reported_from: Some(at), ..AccessLogFilter::default() };
    assert_eq!(list(own, 100).await, vec![3, 8], "Gatehouse's own entries report their `at`");
    let person = AccessLogFilter { person_id: entries[0].person_id, ..AccessLogFilter::default() };
    let of_person: Vec<i64> =
        expected.iter().copied().filter(|seq| entries[*seq as usize - 1].person_id == entries[0].person_id).collect();
    assert_eq!(list(person, 2).await, of_person, "through SQLite's side index as well");
}

pub(crate) async fn access_log_list_filters_and_pages(store: Arc<dyn Store>, _db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let mut chain = Chain::new(t);
    let entries = chain.entries(t0(), 40);
    store.access_log_append(&entries, &[]).await.unwrap();

    let list = |filter: AccessLogFilter| {
        let store = store.clone();
        async move {
            let mut seqs = Vec::new();
            let mut after = None;
            loop {
                let page = store.access_log_list(t, &filter, after, 3).await.unwrap();
                assert!(page.items.len() <= 3);
                seqs.extend(page.items.iter().map(|r| r.seq));
                match page.next_after_seq {
                    Some(cursor) => after = Some(cursor),
                    None => return seqs,
                }
            }
        }
    };
    let expect = |keep: &dyn Fn(&LogRecord) -> bool| entries.iter().filter(|r| keep(r)).map(|r| r.seq).collect::<Vec<_>>();

    assert_eq!(list(AccessLogFilter::default()).await, (1..=40).collect::<Vec<_>>());
    let person = PersonId::from_uuid(Uuid::from_u128(11));
    assert_eq!(
        list(AccessLogFilter { person_id: Some(person), ..Default::default() }).await,
        expect(&|r| r.person_id == Some(person))
    );
    let point = AccessPointId::from_uuid(Uuid::from_u128(2));
    let by_point = list(AccessLogFilter { access_point_id: Some(point), ..Default::default() }).await;
    assert_eq!(by_point, expect(&|r| r.access_point_id == Some(point)));
    assert_eq!(by_point.len(), 20);
    let pins = list(AccessLogFilter { credential_kind: Some("pin".into()), ..Default::default() }).await;
    assert_eq!(pins, expect(&|r| r.credential_kind.as_deref() == Some("pin")));
    let denied = list(AccessLogFilter { granted: Some(false), ..Default::default() }).await;
    assert_eq!(denied, expect(&|r| r.granted == Some(false)));
    assert_eq!(denied, [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
    let no_grant = list(AccessLogFilter { reason: Some("no_grant".into()), ..Default::default() }).await;
    assert_eq!(no_grant, denied);

    // Time bounds to the microsecond: `from` inclusive, `to` exclusive, across the
    // different lengths of fraction SQLite's text holds (none, .5, .123456, .000001).
    for (from, to) in [(2, 7), (5, 6), (0, 40), (13, 14)] {
        let (from_at, to_at) = (entries[from].at, entries[to.min(39)].at);
        let filter = AccessLogFilter { from: Some(from_at), to: Some(to_at), ..Default::default() };
        assert_eq!(list(filter).await, expect(&|r| r.at >= from_at && r.at < to_at), "{from}..{to}");
    }
    let just_after = entries[3].at + Duration::microseconds(1);
    let filter = AccessLogFilter { from: Some(just_after), to: Some(entries[6].at), ..Default::default() };
    assert_eq!(list(filter).await, [5, 6]);

    let combined = AccessLogFilter {
        from: Some(entries[10].at),
        person_id: Some(person),
        granted: Some(true),
        credential_kind: Some("pin".into()),
        ..Default::default()
    };
    let want = expect(&|r| {
        r.at >= entries[10].at
            && r.person_id == Some(person)
            && r.granted == Some(true)
            && r.credential_kind.as_deref() == Some("pin")
    });
    assert!(!want.is_empty());
    assert_eq!(list(combined).await, want);

    let page = store.access_log_list(t, &AccessLogFilter::default(), Some(35), 10).await.unwrap();
    assert_eq!(page.items, entries[35..]);
    assert_eq!(page.next_after_seq, None, "no page after the last");
    let page = store.access_log_list(t, &AccessLogFilter::default(), None, 5).await.unwrap();
    assert_eq!(page.next_after_seq, Some(5));
}

pub(crate) async fn access_log_tenants_never_see_each_other(store: Arc<dyn Store>, _db: TestDatabase) {
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    let (mut chain_a, mut chain_b) = (Chain::new(a), Chain::new(b));
    let batch: Vec<LogRecord> = chain_a.entries(t0(), 4).into_iter().chain(chain_b.entries(t0(), 3)).collect();
    store.access_log_append(&batch, &[]).await.unwrap();

    for (t, count) in [(a, 4), (b, 3)] {
        let scanned = store.access_log_scan(t, 0, 100).await.unwrap();
        assert_eq!(scanned.len(), count);
        assert!(scanned.iter().all(|r| r.tenant_id == t));
        let listed = store.access_log_list(t, &AccessLogFilter::default(), None, 100).await.unwrap();
        assert!(listed.items.iter().all(|r| r.tenant_id == t) && listed.items.len() == count);
        // A's person filter finds nothing of B's, even for ids they share.
        let person = AccessLogFilter { person_id: Some(PersonId::from_uuid(Uuid::from_u128(11))), ..Default::default() };
        assert!(store.access_log_list(t, &person, None, 100).await.unwrap().items.iter().all(|r| r.tenant_id == t));
    }
    let c = tenant(&store, "tenant-c").await.id;
    assert!(store.access_log_scan(c, 0, 100).await.unwrap().is_empty());
    assert_eq!(store.access_log_head(c).await.unwrap(), ChainHead::EMPTY);
    // An entry of C claiming to continue A's chain attaches to nothing of C's.
    let mut wrong = Chain::from_head(c, chain_a.head);
    assert!(matches!(store.access_log_append(&[wrong.next(t0())], &[]).await, Err(StoreError::Conflict { field: "seq" })));
}

pub(crate) async fn access_log_is_append_only_for_the_app(store: Arc<dyn Store>, db: TestDatabase) {
    let t = tenant(&store, "acme").await.id;
    let mut chain = Chain::new(t);
    store.access_log_append(&chain.entries(t0(), 3), &[]).await.unwrap();

    let mut app = Raw::app(&db, t).await;
    let update = app.run("UPDATE access_log SET reason = 'forged' WHERE tenant_id = $1 AND seq = $2", t, 2).await;
    assert!(update.is_err(), "no UPDATE: {update:?}");
    let delete = app.run("DELETE FROM access_log WHERE tenant_id = $1 AND seq >= $2", t, 1).await;
    assert!(delete.is_err(), "no DELETE: {delete:?}");
    if let Raw::Postgres(conn) = &mut app {
        assert!(conn.execute("TRUNCATE access_log").await.is_err(), "no TRUNCATE");
        let heads = app.run("DELETE FROM access_log_heads WHERE tenant_id = $1 AND seq >= $2", t, 0).await;
        assert!(heads.is_err(), "the head is moved forward, never removed: {heads:?}");
    }
    assert!(verify(&store, t).await.valid);
    assert_eq!(scan_all(&store, t, 10).await.len(), 3);
}

pub(crate) async fn access_log_tampering_is_found_and_named(store: Arc<dyn Store>, db: TestDatabase) {
    let mut tenants = Vec::new();
    for slug in ["changed", "deleted", "inserted", "last-deleted"] {
        let t = tenant(&store, slug).await.id;
        store.access_log_append(&Chain::new(t).entries(t0(), 6), &[]).await.unwrap();
        assert!(verify(&store, t).await.valid);
        tenants.push(t);
    }
    let [changed, deleted, inserted, last_deleted] = tenants[..] else { unreachable!() };
    let mut attacker = Raw::attacker(&db).await;

    // One field of entry 3 changed.
    let n = attacker.run("UPDATE access_log SET granted = NOT granted WHERE tenant_id = $1 AND seq = $2", changed, 3).await;
    assert_eq!(n.unwrap(), 1);
    let found = verify(&store, changed).await.first_break.unwrap();
    assert_eq!((found.seq, found.problem), (3, Break::Changed));

    // Entry 3 removed: entry 4 is where the chain finds the gap.
    assert_eq!(attacker.run("DELETE FROM access_log WHERE tenant_id = $1 AND seq = $2", deleted, 3).await.unwrap(), 1);
    let found = verify(&store, deleted).await.first_break.unwrap();
    assert_eq!((found.seq, found.problem, found.expected_seq), (4, Break::Missing, 3));

    // An entry slipped in as number 3, the later ones renumbered to make room.
    attacker.run("UPDATE access_log SET seq = -seq WHERE tenant_id = $1 AND seq >= $2", inserted, 3).await.unwrap();
    attacker.run("UPDATE access_log SET seq = 1 - seq WHERE tenant_id = $1 AND seq < 0 AND $2 > 0", inserted, 1).await.unwrap();
    let forged =
        "INSERT INTO access_log (tenant_id, seq, id, at, kind, access_point_id, person_id, credential_id, credential_kind, \
         direction, granted, reason, door_action, rule, detail, prev_hash, hash) \
         SELECT tenant_id, $2, id, at, kind, access_point_id, person_id, credential_id, credential_kind, direction, granted, \
         'forged', door_action, rule, detail, prev_hash, hash FROM access_log WHERE tenant_id = $1 AND seq = $2 + 1";
    assert_eq!(attacker.run(forged, inserted, 3).await.unwrap(), 1);
    assert_eq!(scan_all(&store, inserted, 10).await.len(), 7);
    let found = verify(&store, inserted).await.first_break.unwrap();
    assert_eq!((found.seq, found.problem), (3, Break::Changed));
    let named = store.access_log_scan(inserted, found.seq - 1, 1).await.unwrap();
    assert_eq!(named[0].reason.as_deref(), Some("forged"), "the slipped-in entry is the one named");

    // The newest entry removed: the chain itself is intact, the recorded head is not.
    assert_eq!(attacker.run("DELETE FROM access_log WHERE tenant_id = $1 AND seq = $2", last_deleted, 6).await.unwrap(), 1);
    let verdict = verify(&store, last_deleted).await;
    assert!(verdict.valid);
    assert_eq!(verdict.head_seq, 5);
    assert!(store.access_log_head(last_deleted).await.unwrap().seq > verdict.head_seq, "the head witnesses entry 6");

    // The untouched chains of the others were never involved.
    for t in tenants {
        assert_eq!(store.access_log_head(t).await.unwrap().seq, 6);
    }
}

async fn used_at(raw: &mut Raw, (tenant, id): (TenantId, CredentialId)) -> Option<DateTime<Utc>> {
    let sql = "SELECT used_at FROM credentials WHERE tenant_id = $1 AND id = $2";
    on_raw!(raw, conn => sqlx::query(sql)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get::<Option<DateTime<Utc>>, _>("used_at"))
}

/// Runs once migration 0010_access_policy has created `credentials`; until then it says so and passes.
pub(crate) async fn access_log_marks_single_use_credentials_used(store: Arc<dyn Store>, db: TestDatabase) {
    let mut raw = Raw::connect(&db).await;
    if !raw.table_exists("credentials").await {
        eprintln!("skipped: no credentials table yet (migration 0010_access_policy)");
        return;
    }
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    let mut credentials = Vec::new();
    for t in [a, b, a] {
        let person = store.person_create(t, &new_person("Ana", None), &change()).await.unwrap();
        let id = CredentialId::generate();
        let insert =
            "INSERT INTO credentials (id, tenant_id, person_id, kind, lookup_key, status, single_use, created_at, updated_at) \
                      VALUES ($1, $2, $3, 'qr', $4, 'active', $5, $6, $6)";
        on_raw!(&mut raw, conn => sqlx::query(insert)
            .bind(id.as_uuid())
            .bind(t.as_uuid())
            .bind(person.id.as_uuid())
            .bind(id.to_string())
            .bind(true)
            .bind(t0())
            .execute(&mut *conn)
            .await
            .unwrap()
            .rows_affected());
        credentials.push((t, id));
    }
    let [first, second, third] = credentials[..] else { unreachable!() };

    let at = t0() + Duration::microseconds(250);
    let mut chain_a = Chain::new(a);
    let uses: Vec<CredentialUse> =
        [first, second].iter().map(|&(tenant, credential)| CredentialUse { tenant, credential, at }).collect();
    // B's use rides in a batch that holds entries of A only.
    store.access_log_append(&[chain_a.next(at)], &uses).await.unwrap();
    assert_eq!(used_at(&mut raw, first).await, Some(at));
    assert_eq!(used_at(&mut raw, second).await, Some(at));
    // A second use keeps the first instant.
    let again = CredentialUse { tenant: a, credential: first.1, at: at + Duration::minutes(1) };
    store.access_log_append(&[chain_a.next(again.at)], &[again]).await.unwrap();
    assert_eq!(used_at(&mut raw, first).await, Some(at));
    // A batch that fails marks nothing.
    let stale = Chain::new(a).next(at);
    let refused = CredentialUse { tenant: a, credential: third.1, at };
    assert!(matches!(store.access_log_append(&[stale], &[refused]).await, Err(StoreError::Conflict { field: "seq" })));
    assert_eq!(used_at(&mut raw, third).await, None);
}

/// PostgreSQL only: monthly partitions and what the app role may touch.
mod partitions {
    use chrono::Datelike as _;
    use sqlx::postgres::PgConnectOptions;

    use super::*;

    async fn partition_of(conn: &mut PgConnection, tenant: TenantId, seq: i64) -> String {
        sqlx::query("SELECT tableoid::regclass::text AS partition FROM access_log WHERE tenant_id = $1 AND seq = $2")
            .bind(tenant.as_uuid())
            .bind(seq)
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get("partition")
    }

    async fn partitions(conn: &mut PgConnection) -> Vec<String> {
        sqlx::query(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'access_log'::regclass ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("name"))
        .collect()
    }

    fn month_name(at: DateTime<Utc>) -> String {
        format!("access_log_{}", at.format("%Y_%m"))
    }

    #[tokio::test]
    async fn rows_land_in_their_monthly_partition_or_the_default_one() {
        let db = TestDatabase::postgres().await;
        let store = open(&db.url, OpenOptions::default()).await.unwrap();
        let DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
        let mut owner = PgConnection::connect(url).await.unwrap();
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut owner).await.unwrap();
        let this_month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).unwrap();
        let ready: Vec<String> = (0..ACCESS_LOG_PARTITION_MONTHS)
            .map(|ahead| month_name(this_month + chrono::Months::new(ahead)))
            .chain(["access_log_default".to_owned()])
            .collect();
        let mut expected = ready.clone();
        expected.sort();
        assert_eq!(partitions(&mut owner).await, expected, "this month, the next two and the default");

        let t = tenant(&store, "acme").await.id;
        let mut chain = Chain::new(t);
        let in_month = this_month + Duration::days(3) + Duration::microseconds(123_456);
        let at_start = this_month; // the first instant of the month is in it
        let month_end = this_month + chrono::Months::new(1) - Duration::microseconds(1); // its last instant
        let long_ago = Utc.with_ymd_and_hms(2020, 1, 15, 12, 0, 0).unwrap();
        let entries = vec![chain.next(in_month), chain.next(at_start), chain.next(month_end), chain.next(long_ago)];
        store.access_log_append(&entries, &[]).await.unwrap();
        assert_eq!(partition_of(&mut owner, t, 1).await, month_name(this_month));
        assert_eq!(partition_of(&mut owner, t, 2).await, month_name(this_month));
        assert_eq!(partition_of(&mut owner, t, 3).await, month_name(this_month));
        assert_eq!(partition_of(&mut owner, t, 4).await, "access_log_default");
        let later = chain.next(this_month + chrono::Months::new(2) + Duration::days(1));
        store.access_log_append(&[later], &[]).await.unwrap();
        assert_eq!(partition_of(&mut owner, t, 5).await, month_name(this_month + chrono::Months::new(2)));
        // Read back through the parent in sequence order, whatever partition holds each.
        let scanned = store.access_log_scan(t, 0, 10).await.unwrap();
        assert_eq!(scanned[..4], entries[..]);
        assert_eq!(scanned.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert!(verify(&store, t).await.valid);
    }

    #[tokio::test]
    async fn partitions_are_ensured_and_a_month_already_in_the_default_one_is_skipped() {
        let db = TestDatabase::postgres().await;
        let store = open(&db.url, OpenOptions::default()).await.unwrap();
        let DatabaseUrl::Postgres(url) = &db.url else { unreachable!() };
        let pg = PostgresStore::open(PgConnectOptions::from_str(url).unwrap(), 1).await.unwrap();

        let t = tenant(&store, "acme").await.id;
        let mut chain = Chain::new(t);
        let long_ago = Utc.with_ymd_and_hms(2020, 2, 10, 8, 0, 0).unwrap();
        store.access_log_append(&[chain.next(long_ago)], &[]).await.unwrap();

        let outcomes = pg.ensure_access_log_partitions(Utc.with_ymd_and_hms(2020, 1, 31, 23, 0, 0).unwrap(), 3).await.unwrap();
        assert_eq!(
            outcomes,
            [
                ("access_log_2020_01".to_owned(), PartitionOutcome::Created),
                ("access_log_2020_02".to_owned(), PartitionOutcome::Skipped),
                ("access_log_2020_03".to_owned(), PartitionOutcome::Created),
            ]
        );
        let again = pg.ensure_access_log_partitions(long_ago, 2).await.unwrap();
        assert_eq!(again[0].1, PartitionOutcome::Skipped);
        assert_eq!(again[1], ("access_log_2020_03".to_owned(), PartitionOutcome::Existed));

        let mut owner = PgConnection::connect(url).await.unwrap();
        let names = partitions(&mut owner).await;
        assert!(names.contains(&"access_log_2020_01".to_owned()) && !names.contains(&"access_log_2020_02".to_owned()));
        assert_eq!(partition_of(&mut owner, t, 1).await, "access_log_default");
        // New rows of those months go where they belong; the log stays whole.
        store.access_log_append(&[chain.next(Utc.with_ymd_and_hms(2020, 3, 1, 0, 0, 0).unwrap())], &[]).await.unwrap();
        assert_eq!(partition_of(&mut owner, t, 2).await, "access_log_2020_03");
        assert!(verify(&store, t).await.valid);

        // Migrating again (every start) keeps what exists.
        assert_eq!(pg.migrate().await.unwrap(), 0);
        assert!(partitions(&mut owner).await.contains(&"access_log_2020_03".to_owned()));
        pg.close().await;
    }

    #[tokio::test]
    async fn the_app_role_reaches_entries_only_through_the_parent_and_only_its_tenants() {
        let db = TestDatabase::postgres().await;
        let store = open(&db.url, OpenOptions::default()).await.unwrap();
        let a = tenant(&store, "tenant-a").await.id;
        let b = tenant(&store, "tenant-b").await.id;
        let long_ago = Utc.with_ymd_and_hms(2020, 1, 15, 12, 0, 0).unwrap();
        let (mut chain_a, mut chain_b) = (Chain::new(a), Chain::new(b));
        let now = Utc::now();
        let batch = vec![chain_a.next(now), chain_a.next(long_ago), chain_b.next(now)];
        store.access_log_append(&batch, &[]).await.unwrap();

        let Raw::Postgres(mut app) = Raw::app(&db, a).await else { unreachable!() };
        let rows = app.fetch_all("SELECT tenant_id FROM access_log").await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|row| row.get::<Uuid, _>("tenant_id") == a.as_uuid()));
        let heads = app.fetch_all("SELECT tenant_id FROM access_log_heads").await.unwrap();
        assert_eq!(heads.len(), 1, "with a tenant set, only its own head");
        for partition in [month_name(now), "access_log_default".to_owned()] {
            for sql in [
                format!("SELECT * FROM {partition}"),
                format!("UPDATE {partition} SET reason = 'forged'"),
                format!("DELETE FROM {partition}"),
                format!("TRUNCATE {partition}"),
            ] {
                assert!(app.execute(sql.as_str()).await.is_err(), "{sql}: the partitions are not the app's");
            }
        }
        // Smuggling an entry into B's chain while A is set is refused by the policy.
        let smuggled = Chain::from_head(b, chain_b.head).next(now);
        let insert =
            "INSERT INTO access_log (tenant_id, seq, id, at, kind, prev_hash, hash) VALUES ($1, $2, $3, $4, 'decision', $5, $6)";
        let refused = sqlx::query(insert)
            .bind(b.as_uuid())
            .bind(smuggled.seq)
            .bind(smuggled.id.as_uuid())
            .bind(smuggled.at)
            .bind(&smuggled.prev_hash[..])
            .bind(&smuggled.hash[..])
            .execute(&mut app)
            .await;
        assert!(refused.is_err(), "row-level security refuses another tenant's entry");

        // With no tenant set (a platform read), no entry is visible, but every head is.
        sqlx::query("SELECT set_config('gatehouse.tenant_id', '', false)").execute(&mut app).await.unwrap();
        assert!(app.fetch_all("SELECT tenant_id FROM access_log").await.unwrap().is_empty());
        assert_eq!(app.fetch_all("SELECT tenant_id FROM access_log_heads").await.unwrap().len(), 2);
        assert!(app.execute("UPDATE access_log_heads SET seq = 0").await.unwrap().rows_affected() == 0, "read-only there");
        let mut both = vec![a, b];
        both.sort();
        assert_eq!(store.access_log_tenants().await.unwrap(), both);
    }
}

/// The server's daily preparation: idempotent, and on PostgreSQL it leaves the next months with partitions of their own.
pub(crate) async fn access_log_prepare_is_idempotent(store: Arc<dyn Store>, db: TestDatabase) {
    let now = Utc::now();
    store.access_log_prepare(now).await.unwrap();
    store.access_log_prepare(now).await.unwrap();
    if let gatehouse_store::DatabaseUrl::Postgres(url) = &db.url {
        let mut raw = sqlx::PgConnection::connect(url).await.unwrap();
        let next = now.checked_add_months(chrono::Months::new(2)).unwrap();
        let name = format!("access_log_{}", next.format("%Y_%m"));
        let found: Option<String> = sqlx::query_scalar("SELECT relname::text FROM pg_class WHERE relname = $1")
            .bind(&name)
            .fetch_optional(&mut raw)
            .await
            .unwrap();
        assert_eq!(found.as_deref(), Some(name.as_str()));
    }
}

/// SQLite only: the log's lookups by person and by door come from a side file that a
/// background task folds the log into (`gatehouse.db-log-index`).
mod side_index {
    use std::path::{Path, PathBuf};

    use super::*;

    fn database_path(db: &TestDatabase) -> PathBuf {
        let DatabaseUrl::Sqlite(path) = &db.url else { unreachable!("a SQLite database") };
        path.clone()
    }

    fn side_path(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push("-log-index");
        PathBuf::from(name)
    }

    /// Removes the database file's companions with these suffixes ("" for the file itself).
    fn remove_files(path: &Path, suffixes: &[&str]) {
        for suffix in suffixes {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }

    async fn open_sqlite(path: &Path) -> (Arc<SqliteStore>, Arc<dyn Store>) {
        let sqlite = Arc::new(SqliteStore::open(path, 2).await.unwrap());
        sqlite.migrate().await.unwrap();
        let store: Arc<dyn Store> = sqlite.clone();
        (sqlite, store)
    }

    /// A database at `path` whose tenant `acme` logged `count` entries, all folded
    /// into the side file, then closed: the tenant and its entries.
    async fn folded_log(path: &Path, count: usize) -> (TenantId, Vec<LogRecord>) {
        let (sqlite, store) = open_sqlite(path).await;
        let t = tenant(&store, "acme").await.id;
        let entries = Chain::new(t).entries(t0(), count);
        store.access_log_append(&entries, &[]).await.unwrap();
        sqlite.fold_access_log_index().await.unwrap();
        sqlite.close().await;
        (t, entries)
    }

    /// Every `seq` the filter lists, fetched three at a time.
    async fn list_all(store: &Arc<dyn Store>, tenant: TenantId, filter: &AccessLogFilter) -> Vec<i64> {
        let (mut seqs, mut after) = (Vec::new(), None);
        loop {
            let page = store.access_log_list(tenant, filter, after, 3).await.unwrap();
            seqs.extend(page.items.iter().map(|r| r.seq));
            match page.next_after_seq {
                Some(cursor) => after = Some(cursor),
                None => return seqs,
            }
        }
    }

    /// `(watermark, rows by person, rows by access point)` as the side file holds them.
    async fn side_contents(database: &Path) -> (i64, i64, i64) {
        let options = SqliteConnectOptions::new().filename(side_path(database)).read_only(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let watermark = count("SELECT log_rowid FROM folded").fetch_one(&mut conn).await.unwrap();
        let people = count("SELECT count(*) FROM log_by_person").fetch_one(&mut conn).await.unwrap();
        let points = count("SELECT count(*) FROM log_by_access_point").fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        (watermark, people, points)
    }

    /// Lookups by every person and door of `entries` list exactly their entries, in order.
    async fn assert_lookups(store: &Arc<dyn Store>, tenant: TenantId, entries: &[LogRecord]) {
        let people: Vec<PersonId> = entries.iter().filter_map(|r| r.person_id).collect();
        let points: Vec<AccessPointId> = entries.iter().filter_map(|r| r.access_point_id).collect();
        for person in people.iter().take(2) {
            let filter = AccessLogFilter { person_id: Some(*person), ..Default::default() };
            let want: Vec<i64> = entries.iter().filter(|r| r.person_id == Some(*person)).map(|r| r.seq).collect();
            assert_eq!(list_all(store, tenant, &filter).await, want, "person {person}");
        }
        for point in points.iter().take(2) {
            let filter = AccessLogFilter { access_point_id: Some(*point), ..Default::default() };
            let want: Vec<i64> = entries.iter().filter(|r| r.access_point_id == Some(*point)).map(|r| r.seq).collect();
            assert_eq!(list_all(store, tenant, &filter).await, want, "access point {point}");
            let denied = AccessLogFilter { access_point_id: Some(*point), granted: Some(false), ..Default::default() };
            let want: Vec<i64> =
                entries.iter().filter(|r| r.access_point_id == Some(*point) && r.granted == Some(false)).map(|r| r.seq).collect();
            assert_eq!(list_all(store, tenant, &denied).await, want, "denied at {point}");
        }
    }

    #[tokio::test]
    async fn lookups_hold_entries_on_both_sides_of_the_watermark_and_only_the_tenants_own() {
        let db = TestDatabase::new(TestBackend::Sqlite).await;
        let path = database_path(&db);
        let (sqlite, store) = open_sqlite(&path).await;
        let (a, b) = (tenant(&store, "tenant-a").await.id, tenant(&store, "tenant-b").await.id);
        let (mut chain_a, mut chain_b) = (Chain::new(a), Chain::new(b));
        // B's entries use the same person and door ids as A's.
        let mut entries_a = chain_a.entries(t0(), 40);
        let batch: Vec<LogRecord> = entries_a.iter().cloned().chain(chain_b.entries(t0(), 12)).collect();
        store.access_log_append(&batch, &[]).await.unwrap();
        sqlite.fold_access_log_index().await.unwrap();
        let (watermark, people, points) = side_contents(&path).await;
        assert_eq!(watermark, 52, "every entry folded in");
        assert_eq!(people, batch.iter().filter(|r| r.person_id.is_some()).count() as i64);
        assert_eq!(points, 52);

        // Newer entries are listed before the next round folds them in.
        let newer = chain_a.entries(t0() + Duration::minutes(5), 25);
        store.access_log_append(&newer, &[]).await.unwrap();
        entries_a.extend(newer);
        assert_lookups(&store, a, &entries_a).await;
        sqlite.fold_access_log_index().await.unwrap();
        assert_eq!(side_contents(&path).await.0, 77);
        assert_lookups(&store, a, &entries_a).await;

        let b_seqs = list_all(&store, b, &AccessLogFilter { person_id: entries_a[0].person_id, ..Default::default() }).await;
        assert!(b_seqs.iter().all(|seq| *seq <= 12) && !b_seqs.is_empty(), "{b_seqs:?}");
        let only_b = store
            .access_log_list(
                b,
                &AccessLogFilter { access_point_id: entries_a[0].access_point_id, ..Default::default() },
                None,
                100,
            )
            .await
            .unwrap();
        assert!(only_b.items.iter().all(|r| r.tenant_id == b) && only_b.items.len() == 6);
        sqlite.close().await;
    }

    #[tokio::test]
    async fn a_side_file_ahead_of_a_restored_database_is_never_read_and_is_rebuilt() {
        let db = TestDatabase::new(TestBackend::Sqlite).await;
        let path = database_path(&db);
        let backup = path.with_extension("backup");
        let (sqlite, store) = open_sqlite(&path).await;
        let t = tenant(&store, "acme").await.id;
        let mut chain = Chain::new(t);
        let mut kept = chain.entries(t0(), 20);
        store.access_log_append(&kept, &[]).await.unwrap();
        sqlite.close().await;
        std::fs::copy(&path, &backup).unwrap();

        // Entries of a person seen nowhere else, folded into the side file, then lost to the restore.
        let (sqlite, store) = open_sqlite(&path).await;
        let lost_person = PersonId::from_uuid(Uuid::from_u128(99));
        let lost: Vec<LogRecord> =
            (0..15).map(|i| chain.next_with(t0() + Duration::minutes(i), |r| r.person_id = Some(lost_person))).collect();
        store.access_log_append(&lost, &[]).await.unwrap();
        sqlite.fold_access_log_index().await.unwrap();
        assert_eq!(side_contents(&path).await.0, 35);
        sqlite.close().await;
        remove_files(&path, &["-wal", "-shm"]);
        std::fs::copy(&backup, &path).unwrap();

        // Reopened on the backup, the same seqs are taken by new entries of other people.
        let (sqlite, store) = open_sqlite(&path).await;
        // Emptied when opened, before any lookup; the first round may have folded the backup's entries since.
        assert!(side_contents(&path).await.0 <= 20);
        let mut chain = Chain::from_head(t, store.access_log_head(t).await.unwrap());
        let newer = chain.entries(t0() + Duration::hours(1), 15);
        store.access_log_append(&newer, &[]).await.unwrap();
        kept.extend(newer);
        let lost_filter = AccessLogFilter { person_id: Some(lost_person), ..Default::default() };
        assert_eq!(list_all(&store, t, &lost_filter).await, Vec::<i64>::new());
        assert_lookups(&store, t, &kept).await;
        sqlite.fold_access_log_index().await.unwrap();
        assert_eq!(side_contents(&path).await.0, 35);
        assert_eq!(list_all(&store, t, &lost_filter).await, Vec::<i64>::new());
        assert_lookups(&store, t, &kept).await;
        sqlite.close().await;
    }

    #[tokio::test]
    async fn a_side_file_left_beside_a_new_database_is_emptied_before_its_migration() {
        let db = TestDatabase::new(TestBackend::Sqlite).await;
        let path = database_path(&db);
        folded_log(&path, 20).await;
        remove_files(&path, &["", "-wal", "-shm"]);

        // A new database in its place, with the old side file still there.
        let (sqlite, store) = open_sqlite(&path).await;
        let t = tenant(&store, "acme").await.id;
        let entries = Chain::new(t).entries(t0(), 12);
        store.access_log_append(&entries, &[]).await.unwrap();
        assert_lookups(&store, t, &entries).await;
        sqlite.close().await;
    }

    #[tokio::test]
    async fn an_unreadable_side_file_is_rebuilt_from_the_log() {
        let db = TestDatabase::new(TestBackend::Sqlite).await;
        let path = database_path(&db);
        let (t, entries) = folded_log(&path, 20).await;

        std::fs::write(side_path(&path), b"this is not a database file, and it is long enough to be read as one").unwrap();
        let (sqlite, store) = open_sqlite(&path).await;
        assert_lookups(&store, t, &entries).await;
        sqlite.fold_access_log_index().await.unwrap();
        assert_eq!(side_contents(&path).await, (20, 14, 20));
        assert_lookups(&store, t, &entries).await;
        sqlite.close().await;
    }
}
