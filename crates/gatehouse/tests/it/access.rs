//! Access decisions through the HTTP API: one row per reason code, freshness
//! of admin changes, explanations, and the access log that records them.

use chrono::{Duration, Timelike, Utc};
use gatehouse_access::Reason;
use serde_json::{json, Value};

use crate::{on_both_backends, TestApp};

on_both_backends!(
    every_reason_code_is_reached_through_the_api,
    a_change_reaches_the_very_next_decision,
    explain_answers_for_any_person_and_instant_without_logging,
    the_log_lists_filters_pages_exports_and_verifies,
    bad_policy_input_is_refused_with_the_field_named,
    access_routes_never_cross_tenants,
);

/// A tenant with a site in Madrid, zones, doors, people, levels and credentials for every reason code.
struct World {
    slug: String,
    ids: std::collections::HashMap<&'static str, String>,
}

impl World {
    fn id(&self, name: &str) -> &str {
        self.ids.get(name).unwrap_or_else(|| panic!("no {name} in the world"))
    }

    fn t(&self) -> Option<&str> {
        Some(&self.slug)
    }
}

async fn created(app: &TestApp, path: &str, tenant: Option<&str>, body: Value) -> Value {
    let reply = app.post(path, tenant, body.clone()).await;
    assert_eq!(reply.status.as_u16(), 201, "POST {path} {body}: {}", reply.text);
    reply.body
}

async fn world(app: &TestApp, slug: &str) -> World {
    let fixture = app.populated_tenant(slug).await;
    let t = Some(slug);
    let mut ids = std::collections::HashMap::new();
    ids.insert("site", fixture.site.clone());
    ids.insert("building", fixture.building.clone());
    ids.insert("front", fixture.access_point.clone());
    ids.insert("ana", fixture.person.clone());
    let zone = |name: &str| json!({"site_id": fixture.site, "parent_id": fixture.building, "name": name, "kind": "area"});
    for name in ["gym", "pool", "annex"] {
        let id = created(app, "/api/v1/zones", t, zone(name)).await["id"].as_str().unwrap().to_owned();
        ids.insert(name, id);
    }
    let point = |zone: &str, name: &str| json!({"zone_id": zone, "name": name, "kind": "door"});
    for (name, zone) in [
        ("office", "building"),
        ("vault", "building"),
        ("pinpad", "building"),
        ("gym_door", "gym"),
        ("pool_gate", "pool"),
        ("lobby", "annex"),
    ] {
        let zone = ids[zone].clone();
        let id = created(app, "/api/v1/access-points", t, point(&zone, name)).await["id"].as_str().unwrap().to_owned();
        ids.insert(name, id);
    }
    for name in ["bob", "carl", "dora", "finn", "gina", "hugo"] {
        let id = created(app, "/api/v1/people", t, json!({"kind": "resident", "first_name": name})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ids.insert(name, id);
    }

    // Schedules relative to now, in Madrid: one that opens two hours from now, one that is always
    // open except on holidays, with a calendar holding yesterday, today and tomorrow.
    let madrid = Utc::now().with_timezone(&chrono_tz::Europe::Madrid);
    let later = |hours: i64| {
        let at = madrid + Duration::hours(hours);
        format!("{:02}:{:02}", at.hour(), at.minute())
    };
    let all_days = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    let later_schedule = created(
        app,
        "/api/v1/schedules",
        t,
        json!({
            "name": "Later", "time_zone": null, "holiday_calendar_id": null,
            "intervals": [{"days": all_days, "start": later(2), "end": later(3)}]
        }),
    )
    .await;
    ids.insert("later", later_schedule["id"].as_str().unwrap().to_owned());
    let today = madrid.date_naive();
    let days: Vec<Value> =
        [-1, 0, 1].iter().map(|days| json!({"date": (today + Duration::days(*days)).to_string(), "name": "Holiday"})).collect();
    let calendar = created(app, "/api/v1/holidays", t, json!({"name": "Around today", "days": days})).await;
    ids.insert("calendar", calendar["id"].as_str().unwrap().to_owned());
    let workdays = created(
        app,
        "/api/v1/schedules",
        t,
        json!({
            "name": "Every day but holidays", "holiday_calendar_id": ids["calendar"],
            "intervals": [{"days": all_days, "start": "00:00", "end": "24:00"}]
        }),
    )
    .await;
    ids.insert("workdays", workdays["id"].as_str().unwrap().to_owned());

    let level = |name: &str, entries: Value| json!({"name": name, "entries": entries});
    let everything =
        created(app, "/api/v1/access-levels", t, level("Everything", json!([{"zone_id": ids["building"], "schedule_id": null}])))
            .await;
    ids.insert("everything", everything["id"].as_str().unwrap().to_owned());
    let office_later = created(
        app,
        "/api/v1/access-levels",
        t,
        level("Office later", json!([{"access_point_id": ids["office"], "schedule_id": ids["later"]}])),
    )
    .await;
    let office_workdays = created(
        app,
        "/api/v1/access-levels",
        t,
        level("Office workdays", json!([{"access_point_id": ids["office"], "schedule_id": ids["workdays"]}])),
    )
    .await;
    for person in ["ana", "bob", "carl", "hugo"] {
        created(app, "/api/v1/grants", t, json!({"person_id": ids[person], "access_level_id": ids["everything"]})).await;
    }
    created(app, "/api/v1/grants", t, json!({"person_id": ids["finn"], "access_level_id": office_later["id"]})).await;
    created(app, "/api/v1/grants", t, json!({"person_id": ids["gina"], "access_level_id": office_workdays["id"]})).await;

    let card = |person: &str, number: u32, extra: Value| {
        let mut body = json!({"person_id": ids[person], "kind": "card", "value": number.to_string(), "facility_code": 17});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let past = (Utc::now() - Duration::days(1)).to_rfc3339();
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    for (person, number, extra) in [
        ("ana", 1001, json!({})),
        ("ana", 1002, json!({"status": "suspended"})),
        ("ana", 1003, json!({})),
        ("ana", 1004, json!({"valid_until": past})),
        ("ana", 1005, json!({"valid_from": future})),
        ("bob", 2001, json!({})),
        ("carl", 3001, json!({})),
        ("dora", 4001, json!({})),
        ("finn", 5001, json!({})),
        ("gina", 6001, json!({})),
        ("hugo", 7001, json!({})),
    ] {
        created(app, "/api/v1/credentials", t, card(person, number, extra)).await;
    }
    let lost = app.get("/api/v1/credentials?kind=card&status=active", t).await;
    let lost =
        lost.body["items"].as_array().unwrap().iter().find(|c| c["value"] == "1003").unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.patch(&format!("/api/v1/credentials/{lost}"), t, json!({"status": "lost"})).await.status.as_u16(), 200);
    created(app, "/api/v1/credentials", t, json!({"person_id": ids["ana"], "kind": "pin", "value": "4321"})).await;
    let qr = created(app, "/api/v1/credentials", t, json!({"person_id": ids["ana"], "kind": "qr", "single_use": true})).await;
    ids.insert("qr", qr["secret"].as_str().unwrap().to_owned());
    let old_qr =
        created(app, "/api/v1/credentials", t, json!({"person_id": ids["ana"], "kind": "qr", "valid_until": past})).await;
    ids.insert("old_qr", old_qr["secret"].as_str().unwrap().to_owned());

    assert_eq!(
        app.patch(&format!("/api/v1/people/{}", ids["bob"]), t, json!({"status": "suspended"})).await.status.as_u16(),
        200
    );
    created(app, "/api/v1/denials", t, json!({"person_id": ids["carl"], "reason": "banned after an incident"})).await;
    let put = |path: String, body: Value| app.request(reqwest::Method::PUT, &path, t).json(&body);
    let reply = app.send(put(format!("/api/v1/access-points/{}/door", ids["vault"]), json!({"mode": "locked"}))).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let reply = app
        .send(put(format!("/api/v1/access-points/{}/door", ids["pinpad"]), json!({"mode": "normal", "requires_pin": true})))
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let reply = app.send(put(format!("/api/v1/zones/{}/rules", ids["gym"]), json!({"anti_passback": "hard"}))).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let reply =
        app.send(put(format!("/api/v1/zones/{}/rules", ids["pool"]), json!({"anti_passback": "off", "occupancy_max": 1}))).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let lockdown =
        created(app, "/api/v1/lockdowns", t, json!({"scope": "zone", "zone_id": ids["annex"], "reason": "drill"})).await;
    ids.insert("lockdown", lockdown["id"].as_str().unwrap().to_owned());
    World { slug: slug.to_owned(), ids }
}

fn card(number: u32) -> Value {
    json!({"kind": "card", "value": number.to_string(), "facility_code": 17})
}

async fn decide(app: &TestApp, world: &World, point: &str, credential: Value, extra: Value) -> Value {
    let mut body = json!({"access_point_id": world.id(point), "credential": credential});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let reply = app.post("/api/v1/access/decide", world.t(), body.clone()).await;
    assert_eq!(reply.status.as_u16(), 200, "decide {body}: {}", reply.text);
    reply.body
}

async fn every_reason_code_is_reached_through_the_api(app: TestApp) {
    let world = world(&app, "acme").await;
    let frame = gatehouse_domain::wiegand::WiegandFormat::H10301.encode(Some(17), 1001).unwrap().to_string();
    let mut bad_parity = frame.clone().into_bytes();
    bad_parity[0] = if bad_parity[0] == b'0' { b'1' } else { b'0' };
    let bad_parity = String::from_utf8(bad_parity).unwrap();
    let mut forged_qr = world.id("qr").to_owned().into_bytes();
    let middle = forged_qr.len() - 5;
    forged_qr[middle] = if forged_qr[middle] == b'A' { b'B' } else { b'A' };
    let forged_qr = String::from_utf8(forged_qr).unwrap();

    // (what, access point, credential, extra fields, expected reason). Rows run in order:
    // the anti-passback, occupancy and QR rows rely on the row before them.
    let table: Vec<(&str, &str, Value, Value, &str)> = vec![
        ("a valid card at a door its level covers", "front", card(1001), json!({}), "granted"),
        ("the same card as its raw Wiegand frame", "front", json!({"kind": "card", "wiegand": frame}), json!({}), "granted"),
        ("nobody has this card", "front", card(9999), json!({}), "unknown_credential"),
        ("a suspended card", "front", card(1002), json!({}), "credential_suspended"),
        ("a card reported lost", "front", card(1003), json!({}), "credential_lost"),
        ("a card past its valid_until", "front", card(1004), json!({}), "credential_expired"),
        ("a card before its valid_from", "front", card(1005), json!({}), "credential_not_yet_valid"),
        ("letters in a card number", "front", json!({"kind": "card", "value": "12ab"}), json!({}), "bad_format"),
        ("a frame with a flipped parity bit", "front", json!({"kind": "card", "wiegand": bad_parity}), json!({}), "parity_error"),
        ("a suspended person's card", "front", card(2001), json!({}), "person_suspended"),
        ("a person on the deny list", "front", card(3001), json!({}), "person_denied"),
        ("a person without any level", "front", card(4001), json!({}), "no_access_level"),
        ("a level whose schedule opens later", "office", card(5001), json!({}), "outside_schedule"),
        ("a level closed on holidays, today", "office", card(6001), json!({}), "holiday"),
        ("a locked door", "vault", card(1001), json!({}), "door_locked"),
        ("a zone in lockdown", "lobby", card(1001), json!({}), "lockdown"),
        ("first entry into a hard anti-passback zone", "gym_door", card(1001), json!({}), "granted"),
        ("a second entry without an exit", "gym_door", card(1001), json!({}), "anti_passback"),
        ("the exit", "gym_door", card(1001), json!({"direction": "out"}), "granted"),
        ("and in again after it", "gym_door", card(1001), json!({}), "granted"),
        ("the first person into a zone for one", "pool_gate", card(1001), json!({}), "granted"),
        ("the second person", "pool_gate", card(7001), json!({}), "zone_full"),
        ("a card at a PIN reader without the PIN", "pinpad", card(1001), json!({}), "pin_required"),
        ("with the wrong PIN", "pinpad", card(1001), json!({"pin": "9999"}), "pin_wrong"),
        ("with the right PIN", "pinpad", card(1001), json!({"pin": "4321"}), "granted"),
        ("the PIN alone", "front", json!({"kind": "pin", "value": "4321"}), json!({}), "granted"),
        ("a single-use QR code", "front", json!({"kind": "qr", "value": world.id("qr")}), json!({}), "granted"),
        ("the same QR code again", "front", json!({"kind": "qr", "value": world.id("qr")}), json!({}), "qr_used"),
        ("a QR code past its window", "front", json!({"kind": "qr", "value": world.id("old_qr")}), json!({}), "qr_expired"),
        ("a QR code with a forged signature", "front", json!({"kind": "qr", "value": forged_qr}), json!({}), "qr_invalid"),
    ];
    let mut reached = std::collections::HashSet::new();
    for (what, point, credential, extra, expected) in &table {
        let answer = decide(&app, &world, point, credential.clone(), extra.clone()).await;
        assert_eq!(answer["reason"], *expected, "{what}: {answer}");
        assert_eq!(answer["granted"], *expected == "granted", "{what}: {answer}");
        assert!(answer["decision_id"].is_string(), "{what}: every decision is logged: {answer}");
        reached.insert(expected.to_string());
    }
    for reason in Reason::ALL {
        assert!(reached.contains(reason.as_str()), "no row of the table reaches {reason}");
    }

    // What decided is named.
    let granted = decide(&app, &world, "front", card(1001), json!({})).await;
    assert_eq!(granted["rule"]["access_level_id"], world.id("everything"));
    assert_eq!(granted["rule"]["access_level"], "Everything");
    assert_eq!(granted["person_id"], world.id("ana"));
    assert_eq!(granted["door_action"], "unlock");
    let holiday = decide(&app, &world, "office", card(6001), json!({})).await;
    assert_eq!(holiday["rule"]["holiday_calendar_id"], world.id("calendar"));
    assert_eq!(holiday["rule"]["schedule_id"], world.id("workdays"));
    assert_eq!(holiday["door_action"], "none");
    let lockdown = decide(&app, &world, "lobby", card(1001), json!({})).await;
    assert_eq!(lockdown["rule"]["lockdown_id"], world.id("lockdown"));

    // Releasing the lockdown restores the door; a lockdown-exempt level passes during one.
    let released = app.delete(&format!("/api/v1/lockdowns/{}", world.id("lockdown")), world.t()).await;
    assert_eq!(released.status.as_u16(), 200, "{}", released.text);
    assert!(released.body["released_at"].is_string());
    assert_eq!(decide(&app, &world, "lobby", card(1001), json!({})).await["reason"], "granted");

    let occupancy = app.get(&format!("/api/v1/zones/{}/occupancy", world.id("pool")), world.t()).await;
    assert_eq!(occupancy.ok()["count"], 1);
    assert_eq!(occupancy.body["occupants"][0]["person_id"], world.id("ana"));
}

async fn a_change_reaches_the_very_next_decision(app: TestApp) {
    let world = world(&app, "acme").await;
    let t = world.t();
    let mine = app.get(&format!("/api/v1/credentials?person_id={}&kind=card", world.id("hugo")), t).await;
    let hugo_card = mine.ok()["items"][0]["id"].as_str().unwrap().to_owned();
    for round in 0..3 {
        assert_eq!(decide(&app, &world, "front", card(7001), json!({})).await["reason"], "granted", "round {round}");
        let suspended = app.patch(&format!("/api/v1/credentials/{hugo_card}"), t, json!({"status": "suspended"})).await;
        assert_eq!(suspended.ok()["status"], "suspended");
        assert_eq!(decide(&app, &world, "front", card(7001), json!({})).await["reason"], "credential_suspended", "round {round}");
        app.patch(&format!("/api/v1/credentials/{hugo_card}"), t, json!({"status": "active"})).await.ok();
    }
    // A deny-list entry, a person's suspension and a revoked grant too.
    let denial = created(&app, "/api/v1/denials", t, json!({"person_id": world.id("hugo"), "reason": "test"})).await;
    assert_eq!(decide(&app, &world, "front", card(7001), json!({})).await["reason"], "person_denied");
    app.delete(&format!("/api/v1/denials/{}", denial["id"].as_str().unwrap()), t).await;
    assert_eq!(decide(&app, &world, "front", card(7001), json!({})).await["reason"], "granted");
    let grants = app.get(&format!("/api/v1/grants?person_id={}", world.id("hugo")), t).await;
    let grant = grants.ok()["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/api/v1/grants/{grant}"), t).await.status.as_u16(), 204);
    assert_eq!(decide(&app, &world, "front", card(7001), json!({})).await["reason"], "no_access_level");

    // A lost card stays lost, and its number can never be issued again.
    let lost = app.patch(&format!("/api/v1/credentials/{hugo_card}"), t, json!({"status": "lost"})).await;
    assert_eq!(lost.ok()["status"], "lost");
    app.patch(&format!("/api/v1/credentials/{hugo_card}"), t, json!({"status": "active"}))
        .await
        .problem(422, "validation_failed");
    app.delete(&format!("/api/v1/credentials/{hugo_card}"), t).await.problem(409, "in_use");
    let again = app
        .post(
            "/api/v1/credentials",
            t,
            json!({"person_id": world.id("hugo"), "kind": "card", "value": "7001", "facility_code": 17}),
        )
        .await;
    again.problem(409, "conflict");
}

async fn explain_answers_for_any_person_and_instant_without_logging(app: TestApp) {
    let world = world(&app, "acme").await;
    let t = world.t();
    let before = app.get("/api/v1/access/log?limit=500", t).await.ok()["items"].as_array().unwrap().len();
    // Finn's level opens two hours from now: closed now, open in 2h30.
    let now = app
        .post("/api/v1/access/explain", t, json!({"access_point_id": world.id("office"), "person_id": world.id("finn")}))
        .await;
    assert_eq!(now.ok()["reason"], "outside_schedule");
    assert!(now.body.get("decision_id").is_none(), "explanations are not decisions: {}", now.text);
    let later = (Utc::now() + Duration::minutes(150)).to_rfc3339();
    let then = app
        .post(
            "/api/v1/access/explain",
            t,
            json!({"access_point_id": world.id("office"), "person_id": world.id("finn"), "at": later}),
        )
        .await;
    assert_eq!(then.ok()["reason"], "granted", "{}", then.text);
    assert_eq!(then.body["rule"]["schedule"], "Later");
    // By credential, and with no side effect: explaining an entry twice does not trip anti-passback.
    for _ in 0..2 {
        let gym = app
            .post("/api/v1/access/explain", t, json!({"access_point_id": world.id("gym_door"), "credential": card(1001)}))
            .await;
        assert_eq!(gym.ok()["reason"], "granted");
    }
    let after = app.get("/api/v1/access/log?limit=500", t).await.ok()["items"].as_array().unwrap().len();
    assert_eq!(before, after, "explain wrote to the access log");
    app.post("/api/v1/access/explain", t, json!({"access_point_id": world.id("office")})).await.problem(422, "validation_failed");
    let nobody = app
        .post(
            "/api/v1/access/explain",
            t,
            json!({"access_point_id": world.id("office"), "person_id": "01890a5d-ac96-774b-bcce-b302099a8057"}),
        )
        .await;
    nobody.problem(404, "not_found");
}

async fn the_log_lists_filters_pages_exports_and_verifies(app: TestApp) {
    let world = world(&app, "acme").await;
    let t = world.t();
    let mut decided = Vec::new();
    for number in [1001, 9999, 1002, 1001, 4001] {
        decided.push(decide(&app, &world, "front", card(number), json!({})).await["decision_id"].as_str().unwrap().to_owned());
    }
    let all = app.get("/api/v1/access/log?limit=500", t).await;
    let items = all.ok()["items"].as_array().unwrap().clone();
    let logged: Vec<&str> = items.iter().filter(|e| e["kind"] == "decision").map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(logged, decided.iter().map(String::as_str).collect::<Vec<_>>());
    // Door-mode changes and the lockdown are in the chain too.
    assert!(items.iter().any(|e| e["kind"] == "door_mode" && e["access_point_id"] == world.id("vault")));
    assert!(items.iter().any(|e| e["kind"] == "lockdown"));
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "one gapless chain");

    let refused = app.get("/api/v1/access/log?granted=false", t).await;
    let reasons: Vec<&str> = refused.ok()["items"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["unknown_credential", "credential_suspended", "no_access_level"]);
    let by_reason = app.get("/api/v1/access/log?reason=no_access_level", t).await;
    assert_eq!(by_reason.ok()["items"].as_array().unwrap().len(), 1);
    let ana =
        app.get(&format!("/api/v1/access/log?person_id={}&access_point_id={}", world.id("ana"), world.id("front")), t).await;
    assert_eq!(ana.ok()["items"].as_array().unwrap().len(), 3);
    let future =
        app.get(&format!("/api/v1/access/log?from={}", urlencode(&(Utc::now() + Duration::hours(1)).to_rfc3339())), t).await;
    assert_eq!(future.ok()["items"].as_array().unwrap().len(), 0);

    // Paging by cursor walks the same entries.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/access/log?limit=2&cursor={cursor}"),
            None => "/api/v1/access/log?limit=2".to_owned(),
        };
        let page = app.get(&path, t).await;
        paged.extend(page.ok()["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, seqs);
    app.get("/api/v1/access/log?cursor=nonsense", t).await.problem(400, "invalid_query");
    app.get("/api/v1/access/log?reason=maybe", t).await.problem(400, "invalid_query");

    let csv = app.get("/api/v1/access/log.csv?granted=false", t).await;
    assert_eq!(csv.status.as_u16(), 200);
    assert!(csv.content_type().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(lines[0].starts_with("seq,id,at,kind,"), "{}", lines[0]);
    assert_eq!(lines.len(), 4, "header and three refusals: {}", csv.text);

    let verified = app.get("/api/v1/access/log/verify", t).await;
    assert_eq!(verified.ok()["valid"], true, "{}", verified.text);
    assert_eq!(verified.body["entries"], seqs.len());

    // Another tenant sees none of it.
    app.create_tenant("other").await;
    let other = app.get("/api/v1/access/log", Some("other")).await;
    assert_eq!(other.ok()["items"].as_array().unwrap().len(), 0);
    let decided_elsewhere = app
        .post("/api/v1/access/decide", Some("other"), json!({"access_point_id": world.id("front"), "credential": card(1001)}))
        .await;
    decided_elsewhere.problem(404, "not_found");
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

async fn bad_policy_input_is_refused_with_the_field_named(app: TestApp) {
    let world = world(&app, "acme").await;
    let t = world.t();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/v1/schedules",
            json!({"name": "x", "intervals": [{"days": ["mon"], "start": "25:00", "end": "09:00"}]}),
            "intervals[0].start",
        ),
        (
            "/api/v1/schedules",
            json!({"name": "x", "intervals": [{"days": ["mon"], "start": "08:00", "end": "08:00"}]}),
            "intervals[0].end",
        ),
        (
            "/api/v1/schedules",
            json!({"name": "x", "intervals": [{"days": ["someday"], "start": "08:00", "end": "09:00"}]}),
            "intervals[0].days[0]",
        ),
        ("/api/v1/schedules", json!({"name": "x", "intervals": [], "time_zone": "Mars/Olympus"}), "time_zone"),
        ("/api/v1/access-levels", json!({"name": "x", "entries": [{"schedule_id": null}]}), "entries[0]"),
        ("/api/v1/grants", json!({"access_level_id": world.id("everything")}), "person_id"),
        (
            "/api/v1/grants",
            json!({"person_id": world.id("ana"), "access_level_id": world.id("everything"), "valid_from": "2026-12-02T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"}),
            "valid_until",
        ),
        ("/api/v1/credentials", json!({"person_id": world.id("ana"), "kind": "pin", "value": "12"}), "value"),
        ("/api/v1/credentials", json!({"person_id": world.id("ana"), "kind": "plate", "value": "AB/12"}), "value"),
        (
            "/api/v1/credentials",
            json!({"person_id": world.id("ana"), "kind": "card", "value": "1", "wiegand": "0101"}),
            "wiegand",
        ),
        ("/api/v1/credentials", json!({"person_id": world.id("ana"), "kind": "qr", "value": "mine"}), "value"),
        ("/api/v1/credentials", json!({"person_id": world.id("ana"), "kind": "card", "value": "77", "status": "lost"}), "status"),
        ("/api/v1/lockdowns", json!({"scope": "site", "reason": "x"}), "site_id"),
        ("/api/v1/denials", json!({"person_id": world.id("ana"), "reason": "  "}), "reason"),
    ];
    for (path, body, field) in cases {
        let reply = app.post(path, t, body.clone()).await;
        assert!(matches!(reply.status.as_u16(), 400 | 422), "POST {path} {body}: {} {}", reply.status, reply.text);
        assert_eq!(reply.body["field"], field, "POST {path} {body}: {}", reply.text);
    }
    let decide = |body: Value| app.post("/api/v1/access/decide", t, body);
    decide(json!({"access_point_id": world.id("front"), "credential": {"kind": "pin"}})).await.problem(422, "validation_failed");
    decide(json!({"access_point_id": world.id("front"), "credential": {"kind": "badge", "value": "1"}}))
        .await
        .problem(422, "validation_failed");
    decide(json!({"access_point_id": world.id("front"), "credential": card(1001), "at": "2020-01-01T00:00:00Z"}))
        .await
        .problem(422, "validation_failed");
    let plate =
        created(&app, "/api/v1/credentials", t, json!({"person_id": world.id("ana"), "kind": "plate", "value": "ab-123 cd"}))
            .await;
    assert_eq!(plate["value"], "AB123CD");
    let answer =
        decide(json!({"access_point_id": world.id("front"), "credential": {"kind": "plate", "value": "AB 123-CD"}})).await;
    assert_eq!(answer.ok()["reason"], "granted");
    // A PIN is never shown or stored in clear.
    let pins = app.get("/api/v1/credentials?kind=pin", t).await;
    assert!(!pins.text.contains("4321"), "{}", pins.text);
    assert!(pins.ok()["items"][0]["value"].is_null());
}

async fn access_routes_never_cross_tenants(app: TestApp) {
    let a = world(&app, "tenant-a").await;
    let b = world(&app, "tenant-b").await;
    let as_a = a.t();
    let first = |reply: crate::Reply| reply.ok()["items"][0]["id"].as_str().unwrap().to_owned();
    let mut objects = Vec::new();
    for collection in [
        "/api/v1/credentials",
        "/api/v1/schedules",
        "/api/v1/holidays",
        "/api/v1/access-levels",
        "/api/v1/grants",
        "/api/v1/groups",
        "/api/v1/lockdowns",
    ] {
        if collection == "/api/v1/groups" {
            created(&app, collection, b.t(), json!({"name": "Family", "kind": "household", "members": [b.id("ana")]})).await;
        }
        objects.push((collection, first(app.get(collection, b.t()).await)));
        // A's list holds only A's rows.
        let listed = app.get(&format!("{collection}?limit=500"), as_a).await;
        for item in listed.ok()["items"].as_array().unwrap() {
            assert_eq!(
                item["tenant_id"],
                app.get("/api/v1/auth/me", None).await.body["nothing"]
                    .as_str()
                    .map_or_else(|| item["tenant_id"].clone(), |_| Value::Null)
            );
            assert_ne!(item["id"].as_str().unwrap(), objects.last().unwrap().1, "{collection} of A lists B's row");
        }
    }
    let denial = first(app.get("/api/v1/denials", b.t()).await);
    for (collection, id) in &objects {
        let path = format!("{collection}/{id}");
        app.get(&path, as_a).await.problem(404, "not_found");
        match *collection {
            "/api/v1/grants" | "/api/v1/lockdowns" => {}
            "/api/v1/credentials" => {
                app.patch(&path, as_a, json!({"status": "suspended"})).await.problem(404, "not_found");
            }
            _ => {
                app.patch(&path, as_a, json!({"name": "hijacked"})).await.problem(404, "not_found");
            }
        }
        app.delete(&path, as_a).await.problem(404, "not_found");
        assert_eq!(app.get(&path, b.t()).await.status.as_u16(), 200, "{path} is still B's");
    }
    app.delete(&format!("/api/v1/denials/{denial}"), as_a).await.problem(404, "not_found");
    let put = |path: String, body: Value| app.request(reqwest::Method::PUT, &path, as_a).json(&body);
    app.send(put(format!("/api/v1/access-points/{}/door", b.id("front")), json!({"mode": "locked"})))
        .await
        .problem(404, "not_found");
    app.send(put(format!("/api/v1/zones/{}/rules", b.id("gym")), json!({"anti_passback": "off"})))
        .await
        .problem(404, "not_found");
    app.get(&format!("/api/v1/access-points/{}/door", b.id("front")), as_a).await.problem(404, "not_found");
    app.get(&format!("/api/v1/zones/{}/occupancy", b.id("pool")), as_a).await.problem(404, "not_found");

    // A cannot point its records at B's.
    let refused = [
        app.post("/api/v1/credentials", as_a, json!({"person_id": b.id("ana"), "kind": "card", "value": "555"})).await,
        app.post("/api/v1/grants", as_a, json!({"person_id": a.id("ana"), "access_level_id": b.id("everything")})).await,
        app.post("/api/v1/grants", as_a, json!({"person_id": b.id("ana"), "access_level_id": a.id("everything")})).await,
        app.post("/api/v1/access-levels", as_a, json!({"name": "X", "entries": [{"zone_id": b.id("building")}]})).await,
        app.post(
            "/api/v1/access-levels",
            as_a,
            json!({"name": "Y", "entries": [{"zone_id": a.id("building"), "schedule_id": b.id("later")}]}),
        )
        .await,
        app.post("/api/v1/schedules", as_a, json!({"name": "Z", "intervals": [], "holiday_calendar_id": b.id("calendar")})).await,
        app.post("/api/v1/groups", as_a, json!({"name": "G", "kind": "custom", "members": [b.id("ana")]})).await,
        app.post("/api/v1/denials", as_a, json!({"person_id": b.id("ana"), "reason": "x"})).await,
        app.post("/api/v1/lockdowns", as_a, json!({"scope": "zone", "zone_id": b.id("annex"), "reason": "x"})).await,
    ];
    let fields: Vec<String> =
        refused.iter().map(|r| r.problem(422, "validation_failed")["field"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(
        fields,
        [
            "person_id",
            "access_level_id",
            "person_id",
            "entries[0].zone_id",
            "entries[0].schedule_id",
            "holiday_calendar_id",
            "members[0]",
            "person_id",
            "zone_id"
        ]
    );
    // A's card numbers may equal B's: credentials are unique per tenant, not globally.
    created(
        &app,
        "/api/v1/credentials",
        as_a,
        json!({"person_id": a.id("hugo"), "kind": "card", "value": "424242", "facility_code": 17}),
    )
    .await;
    created(
        &app,
        "/api/v1/credentials",
        b.t(),
        json!({"person_id": b.id("hugo"), "kind": "card", "value": "424242", "facility_code": 17}),
    )
    .await;
}
