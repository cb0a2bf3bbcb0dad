//! Every kind of policy change made over HTTP reaches the very next decision. No route
//! reloads the snapshot by hand: the writes go through `PolicyWrites`, which does, and
//! `every_policy_write_goes_through_the_service` fails for a route that calls one of them
//! on the store directly.

use chrono::Datelike as _;
use serde_json::{json, Value};

use crate::{on_both_backends, TestApp};

on_both_backends!(each_kind_of_policy_change_reaches_the_next_decision);

struct Door<'a> {
    app: &'a TestApp,
    point: String,
}

impl Door<'_> {
    async fn reason(&self, card: &str) -> String {
        let body = json!({"access_point_id": self.point, "credential": {"kind": "card", "value": card}});
        let decided = self.app.post("/api/v1/access/decide", Some("acme"), body).await;
        decided.ok()["reason"].as_str().unwrap().to_owned()
    }
}

async fn patch(app: &TestApp, path: String, body: Value) {
    app.patch(&path, Some("acme"), body).await.ok();
}

async fn put(app: &TestApp, path: String, body: Value) {
    app.put(&path, Some("acme"), body).await.ok();
}

fn every_day_but_today() -> Vec<&'static str> {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Madrid).weekday().num_days_from_monday() as usize;
    days.iter().enumerate().filter(|(index, _)| *index != today).map(|(_, day)| *day).collect()
}

async fn each_kind_of_policy_change_reaches_the_next_decision(app: TestApp) {
    let fixture = app.populated_tenant("acme").await;
    let t = Some("acme");
    let all_days = json!([{"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": "00:00", "end": "24:00"}]);
    let always = app.post("/api/v1/schedules", t, json!({"name": "Always", "intervals": all_days})).await.id();
    let entries = json!([{"zone_id": fixture.building, "schedule_id": always}]);
    let level = app.post("/api/v1/access-levels", t, json!({"name": "Building", "entries": entries})).await.id();
    app.post("/api/v1/grants", t, json!({"person_id": fixture.person, "access_level_id": level})).await.ok();
    app.post("/api/v1/credentials", t, json!({"person_id": fixture.person, "kind": "card", "value": "1000"})).await.ok();
    let door = Door { app: &app, point: fixture.access_point.clone() };
    assert_eq!(door.reason("1000").await, "granted");

    // The person.
    let person = format!("/api/v1/people/{}", fixture.person);
    patch(&app, person.clone(), json!({"status": "suspended"})).await;
    assert_eq!(door.reason("1000").await, "person_suspended");
    patch(&app, person, json!({"status": "active"})).await;
    assert_eq!(door.reason("1000").await, "granted");

    // The schedule.
    let schedule = format!("/api/v1/schedules/{always}");
    let not_today = json!([{"days": every_day_but_today(), "start": "00:00", "end": "24:00"}]);
    patch(&app, schedule.clone(), json!({"intervals": not_today})).await;
    assert_eq!(door.reason("1000").await, "outside_schedule");
    patch(&app, schedule, json!({"intervals": all_days})).await;
    assert_eq!(door.reason("1000").await, "granted");

    // The level's entries.
    let levels = format!("/api/v1/access-levels/{level}");
    patch(&app, levels.clone(), json!({"entries": [{"zone_id": fixture.floor, "schedule_id": always}]})).await;
    assert_eq!(door.reason("1000").await, "no_access_level");
    patch(&app, levels, json!({"entries": entries})).await;
    assert_eq!(door.reason("1000").await, "granted");

    // A grant through a group: a person outside the level gets in once a member.
    let bea = app.post("/api/v1/people", t, json!({"kind": "employee", "first_name": "Bea"})).await.id();
    app.post("/api/v1/credentials", t, json!({"person_id": bea, "kind": "card", "value": "2000"})).await.ok();
    assert_eq!(door.reason("2000").await, "no_access_level");
    let group = app.post("/api/v1/groups", t, json!({"name": "Staff", "kind": "department", "members": []})).await.id();
    app.post("/api/v1/grants", t, json!({"group_id": group, "access_level_id": level})).await.ok();
    assert_eq!(door.reason("2000").await, "no_access_level");
    patch(&app, format!("/api/v1/groups/{group}"), json!({"members": [bea]})).await;
    assert_eq!(door.reason("2000").await, "granted");
    assert_eq!(app.delete(&format!("/api/v1/groups/{group}"), t).await.status.as_u16(), 409, "a group with grants stays");

    // The door's mode.
    let door_settings = format!("/api/v1/access-points/{}/door", fixture.access_point);
    put(&app, door_settings.clone(), json!({"mode": "locked"})).await;
    assert_eq!(door.reason("1000").await, "door_locked");
    put(&app, door_settings, json!({"mode": "normal"})).await;
    assert_eq!(door.reason("1000").await, "granted");

    // A lockdown and its release.
    let body = json!({"scope": "site", "site_id": fixture.site, "reason": "drill"});
    let lockdown = app.post("/api/v1/lockdowns", t, body).await.id();
    assert_eq!(door.reason("1000").await, "lockdown");
    assert_eq!(app.delete(&format!("/api/v1/lockdowns/{lockdown}"), t).await.status.as_u16(), 200);
    assert_eq!(door.reason("1000").await, "granted");

    // The door itself moves out of the level's zone.
    let elsewhere = app.post("/api/v1/zones", t, json!({"site_id": fixture.site, "name": "Annex", "kind": "building"})).await;
    patch(&app, format!("/api/v1/access-points/{}", fixture.access_point), json!({"zone_id": elsewhere.id()})).await;
    assert_eq!(door.reason("1000").await, "no_access_level");
}

/// Routes and services reach the policy-changing store writes only through `PolicyWrites`, which reloads.
#[test]
fn every_policy_write_goes_through_the_service() {
    use gatehouse_services::access::policy_writes::POLICY_WRITES;
    assert!(POLICY_WRITES.len() >= 30, "{POLICY_WRITES:?}");
    let crates = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut stack: Vec<std::path::PathBuf> =
        ["gatehouse-api/src", "gatehouse-services/src"].iter().map(|dir| std::path::Path::new(crates).join(dir)).collect();
    let mut scanned = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("gatehouse-services/src/access/policy_writes.rs")
            {
                scanned += 1;
                let source = std::fs::read_to_string(&path).unwrap();
                for write in POLICY_WRITES {
                    assert!(
                        !source.contains(&format!("store.{write}(")),
                        "{} calls store.{write} directly: a policy write must go through PolicyWrites (state.policy), which reloads the snapshot",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(scanned > 60, "the scan read the API's and the services' sources ({scanned} files)");
}
