//! Tampering with the access log directly in the database — changing,
//! deleting or inserting a single row, at the start, the middle and the end —
//! is found by `gatehouse audit verify`, which names the row.

use serde_json::json;

use crate::binary::{gatehouse, tempfile_dir, BIN};
use crate::{on_both_backends, TestApp, MASTER_KEY};

on_both_backends!(audit_verify_names_any_single_changed_deleted_or_inserted_row);

const ENTRIES: i64 = 6;

/// A raw connection to the server's database, as someone with the file or a superuser login has.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn connect(app: &TestApp) -> Raw {
        match app.backend {
            gatehouse_testkit::TestBackend::Sqlite => Raw::Sqlite(sqlx::SqlitePool::connect(&app.db.url_string()).await.unwrap()),
            gatehouse_testkit::TestBackend::Postgres => Raw::Postgres(sqlx::PgPool::connect(&app.db.url_string()).await.unwrap()),
        }
    }

    async fn run(&self, sql: &str) {
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// The id of the entry at `seq`, as the hyphenated UUID the CLI prints.
    async fn id_at(&self, seq: i64) -> String {
        let id: uuid::Uuid = match self {
            Raw::Sqlite(pool) => {
                sqlx::query_scalar("SELECT id FROM access_log WHERE seq = $1").bind(seq).fetch_one(pool).await.unwrap()
            }
            Raw::Postgres(pool) => {
                sqlx::query_scalar("SELECT id FROM access_log WHERE seq = $1").bind(seq).fetch_one(pool).await.unwrap()
            }
        };
        id.to_string()
    }

    fn new_id(&self) -> &'static str {
        match self {
            Raw::Sqlite(_) => "randomblob(16)",
            Raw::Postgres(_) => "gen_random_uuid()",
        }
    }
}

fn verify(app: &TestApp) -> (bool, String) {
    let dir = tempfile_dir();
    let output = gatehouse(dir.path())
        .env("GATEHOUSE_DATABASE_URL", app.db.url_string())
        .env("GATEHOUSE_MASTER_KEY", MASTER_KEY)
        .args(["audit", "verify", "--tenant", "acme"])
        .output()
        .expect("gatehouse audit verify runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.code().is_some(), "{BIN} exited by a signal");
    (output.status.success(), stdout + &String::from_utf8_lossy(&output.stderr))
}

async fn audit_verify_names_any_single_changed_deleted_or_inserted_row(app: TestApp) {
    let fixture = app.populated_tenant("acme").await;
    let t = Some("acme");
    let level =
        app.post("/api/v1/access-levels", t, json!({"name": "All", "entries": [{"zone_id": fixture.building}]})).await.id();
    app.post("/api/v1/grants", t, json!({"person_id": fixture.person, "access_level_id": level})).await.ok();
    app.post("/api/v1/credentials", t, json!({"person_id": fixture.person, "kind": "card", "value": "42"})).await.ok();
    for number in 0..ENTRIES {
        let card = if number % 2 == 0 { "42" } else { "43" };
        let body = json!({"access_point_id": fixture.access_point, "credential": {"kind": "card", "value": card}});
        app.post("/api/v1/access/decide", t, body).await.ok();
    }
    let (intact, output) = verify(&app);
    assert!(intact, "{output}");
    assert!(output.contains(&format!("acme: {ENTRIES} entries, chain intact")), "{output}");

    let raw = Raw::connect(&app).await;
    if matches!(raw, Raw::Sqlite(_)) {
        // Someone with the file can drop the server's guards; the chain is what remains.
        raw.run("DROP TRIGGER access_log_no_update; DROP TRIGGER access_log_no_delete;").await;
    }
    raw.run("CREATE TABLE access_log_backup AS SELECT * FROM access_log").await;
    let restore = "DELETE FROM access_log; INSERT INTO access_log SELECT * FROM access_log_backup;";

    for seq in [1, ENTRIES / 2, ENTRIES] {
        // Changed: one field of one row.
        let id = raw.id_at(seq).await;
        raw.run(&format!("UPDATE access_log SET reason = 'granted' WHERE seq = {seq} AND reason <> 'granted'; UPDATE access_log SET door_action = 'tampered' WHERE seq = {seq}")).await;
        let (intact, output) = verify(&app);
        assert!(!intact, "change at {seq} went unnoticed: {output}");
        assert!(output.contains(&format!("BROKEN at seq {seq} (entry {id}): changed")), "change at {seq}: {output}");
        raw.run(restore).await;

        // Deleted: the next entry no longer follows, or (for the last) the head names a missing entry.
        raw.run(&format!("DELETE FROM access_log WHERE seq = {seq}")).await;
        let (intact, output) = verify(&app);
        assert!(!intact, "deletion at {seq} went unnoticed: {output}");
        if seq == ENTRIES {
            assert!(output.contains(&format!("BROKEN at seq {seq} (no entry): missing")), "deletion at {seq}: {output}");
        } else {
            let next = raw.id_at(seq + 1).await;
            assert!(
                output.contains(&format!("BROKEN at seq {} (entry {next}): missing", seq + 1)),
                "deletion at {seq}: {output}"
            );
        }
        raw.run(restore).await;

        // Inserted: later entries renumbered to make room, a copy with a new id slipped in at `seq`.
        raw.run(&format!(
            "UPDATE access_log SET seq = seq + 1000000 WHERE seq >= {seq}; UPDATE access_log SET seq = seq - 999999 WHERE seq >= 1000000; \
             INSERT INTO access_log SELECT tenant_id, {seq}, {new_id}, at, kind, access_point_id, person_id, credential_id, credential_kind, \
             direction, granted, reason, door_action, rule, detail, prev_hash, hash FROM access_log WHERE seq = {next};",
            new_id = raw.new_id(),
            next = seq + 1,
        ))
        .await;
        let forged = raw.id_at(seq).await;
        let (intact, output) = verify(&app);
        assert!(!intact, "insertion at {seq} went unnoticed: {output}");
        assert!(output.contains(&format!("BROKEN at seq {seq} (entry {forged}): changed")), "insertion at {seq}: {output}");
        raw.run(restore).await;
    }
    let (intact, output) = verify(&app);
    assert!(intact, "restored: {output}");
}
