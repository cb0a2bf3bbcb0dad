//! A database written by an earlier release opens with this one: it migrates, its
//! access-log chain still verifies, and its people, cards and PINs still decide.
//!
//! `tests/fixtures/gatehouse-0.1-c5ea673.db` was written by `gatehouse serve` built
//! from commit c5ea673 (migrations 1-15): tenant `fixture`, one door, Ana with card
//! 17/4242 and PIN 582913, four decisions logged, one sensor.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::binary::{gatehouse, tempfile_dir, Served};
use crate::MASTER_KEY;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gatehouse-0.1-c5ea673.db");
const FIXTURE_TOKEN: &str = "ghb_fixture-token-0123456789abcdefghijklmnop";

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let output = gatehouse(dir).env("GATEHOUSE_MASTER_KEY", MASTER_KEY).args(args).output().expect("gatehouse runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "gatehouse {args:?}: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_migrates_verifies_and_decides() {
    let dir = tempfile_dir();
    std::fs::copy(FIXTURE, dir.path().join("gatehouse.db")).unwrap();
    let migrated = run(dir.path(), &["migrate"]);
    // The fixture predates the migrations since its release (0016 onwards): each is applied.
    let applied: usize = migrated
        .split("applied ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no migration count in: {migrated}"));
    assert!(applied >= 2, "{migrated}");
    let verified = run(dir.path(), &["audit", "verify", "--tenant", "fixture"]);
    assert!(verified.contains("chain intact"), "{verified}");

    let mut command = gatehouse(dir.path());
    command.env("GATEHOUSE_BOOTSTRAP_TOKEN", FIXTURE_TOKEN).env("GATEHOUSE_MASTER_KEY", MASTER_KEY).arg("serve");
    let served = Served::start(command);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        served.call(&client, FIXTURE_TOKEN, Some("fixture"), method, path, body)
    };
    let (_, points) = call(Method::GET, "/access-points", None).await;
    let door = points["items"][0]["id"].as_str().expect("the fixture's door").to_owned();
    for (credential, granted) in [
        (json!({"kind": "card", "value": "4242", "facility_code": 17}), true),
        (json!({"kind": "pin", "value": "582913"}), true),
        (json!({"kind": "pin", "value": "111111"}), false),
    ] {
        let body = json!({"access_point_id": door, "credential": credential});
        let (status, decided) = call(Method::POST, "/access/decide", Some(body)).await;
        assert_eq!((status, &decided["granted"]), (200, &json!(granted)), "{credential}: {decided}");
    }
    let (_, log) = call(Method::GET, "/access/log?limit=100", None).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 4 + 3, "the old entries and the new ones: {log}");
    let (_, chain) = call(Method::GET, "/access/log/verify", None).await;
    assert_eq!(chain["valid"], true, "{chain}");
    served.kill();
    let verified = run(dir.path(), &["audit", "verify", "--tenant", "fixture"]);
    assert!(verified.contains("chain intact"), "{verified}");
}
