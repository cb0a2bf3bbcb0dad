//! A running server follows policy changes written by other processes: people imported
//! and credentials suspended with the command line, records written by another node
//! (here a second store on the same database), all reach the next decisions without a
//! restart, through the tenant's policy version in the database.

use std::time::{Duration, Instant};

use gatehouse_access::credential::{card_key, CredentialKind, CredentialStatus};
use gatehouse_access::policy::{CredentialInput, NewGrant};
use gatehouse_domain::audit::ChangeContext;
use gatehouse_domain::{AccessLevelId, CredentialId, PersonId, TenantId};
use gatehouse_store::{OpenOptions, PageRequest, PersonFilter};
use serde_json::{json, Value};

use crate::binary::{gatehouse, tempfile_dir};
use crate::{on_both_backends, TestApp, MASTER_KEY};

on_both_backends!(changes_made_by_the_command_line_and_another_node_reach_the_next_decision);

/// How long a change made elsewhere may take to reach decisions (the server looks every 250 ms).
const FOLLOWED_WITHIN: Duration = Duration::from_secs(5);

/// Runs `gatehouse ARGS` against the test server's database, as an operator at the console would.
fn console(app: &TestApp, args: &[&str]) -> String {
    let dir = tempfile_dir();
    let output = gatehouse(dir.path())
        .env("GATEHOUSE_DATABASE_URL", app.db.url_string())
        .env("GATEHOUSE_MASTER_KEY", MASTER_KEY)
        .args(args)
        .output()
        .expect("gatehouse runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "gatehouse {args:?}: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

async fn decide(app: &TestApp, door: &str, card: &str) -> Value {
    let body = json!({"access_point_id": door, "credential": {"kind": "card", "value": card}});
    app.post("/api/v1/access/decide", Some("acme"), body).await.ok().clone()
}

/// Decides until the answer is `granted` (or the deadline passes); returns how long it took.
async fn until_decided(app: &TestApp, door: &str, card: &str, granted: bool) -> Duration {
    let started = Instant::now();
    loop {
        let decision = decide(app, door, card).await;
        if decision["granted"] == granted {
            return started.elapsed();
        }
        assert!(started.elapsed() < FOLLOWED_WITHIN, "card {card} still decided {decision} after {FOLLOWED_WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn changes_made_by_the_command_line_and_another_node_reach_the_next_decision(app: TestApp) {
    let fixture = app.populated_tenant("acme").await;
    let t = Some("acme");
    let level =
        app.post("/api/v1/access-levels", t, json!({"name": "All", "entries": [{"zone_id": fixture.building}]})).await.id();
    app.post("/api/v1/grants", t, json!({"person_id": fixture.person, "access_level_id": level})).await.ok();
    let ana_card =
        app.post("/api/v1/credentials", t, json!({"person_id": fixture.person, "kind": "card", "value": "1000"})).await;
    let ana_card = ana_card.id();
    // The engine is loaded and decides from memory from here on.
    assert_eq!(decide(&app, &fixture.access_point, "1000").await["granted"], true);
    assert_eq!(decide(&app, &fixture.access_point, "2000").await["granted"], false);

    // The console imports a person; another node gives her a grant and card 2000.
    let dir = tempfile_dir();
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "kind,first_name,last_name,email\nemployee,Bea,Lima,bea@acme.example\n").unwrap();
    let imported = console(&app, &["import", "people", "--tenant", "acme", csv.to_str().unwrap()]);
    assert!(imported.contains("imported 1 of 1"), "{imported}");
    let other_node = gatehouse_store::open(&app.db.url, OpenOptions { max_connections: 2, migrate: false }).await.unwrap();
    let tenant = TenantId::from_uuid(fixture.tenant.parse().unwrap());
    let filter = PersonFilter { email: Some("bea@acme.example".to_owned()), ..PersonFilter::default() };
    let bea = other_node.person_list(tenant, &filter, PageRequest { limit: 10, after: None }).await.unwrap().items;
    assert_eq!(bea.len(), 1, "the console's import is in the database");
    let bea: PersonId = bea[0].id;
    let change = ChangeContext::system("another node", chrono::Utc::now());
    let grant = NewGrant {
        person_id: Some(bea),
        group_id: None,
        access_level_id: AccessLevelId::from_uuid(level.parse().unwrap()),
        valid_from: None,
        valid_until: None,
    };
    other_node.grant_create(tenant, &grant, &change).await.unwrap();
    let card = CredentialInput {
        id: CredentialId::generate(),
        person_id: bea,
        kind: CredentialKind::Card,
        value: Some("2000".to_owned()),
        facility_code: None,
        lookup_key: card_key(None, 2000),
        status: CredentialStatus::Active,
        valid_from: None,
        valid_until: None,
        single_use: false,
    };
    other_node.credential_create(tenant, &card, &change).await.unwrap();
    other_node.close().await;
    let took = until_decided(&app, &fixture.access_point, "2000", true).await;
    eprintln!("the imported person's card was granted {took:?} after the other node's write");

    // The console suspends Ana's card: the next decisions refuse it.
    let suspended = console(&app, &["admin", "set-credential-status", "--tenant", "acme", &ana_card, "--status", "suspended"]);
    assert!(suspended.contains("is suspended"), "{suspended}");
    let took = until_decided(&app, &fixture.access_point, "1000", false).await;
    eprintln!("the suspended card was refused {took:?} after the command returned");
    let refused = decide(&app, &fixture.access_point, "1000").await;
    assert_eq!(refused["reason"], "credential_suspended", "{refused}");
    // Bea's card is still good: the reload kept what came before.
    assert_eq!(decide(&app, &fixture.access_point, "2000").await["granted"], true);

    // Bad input at the console names the problem and changes nothing.
    let dir = tempfile_dir();
    let bad = gatehouse(dir.path())
        .env("GATEHOUSE_DATABASE_URL", app.db.url_string())
        .args(["admin", "set-credential-status", "--tenant", "acme", &ana_card, "--status", "misplaced"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--status: 'misplaced' is not one of"), "{bad:?}");
}
