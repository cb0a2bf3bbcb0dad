//! What devices report happened at their own instant (`ts`): the log keeps it as
//! `reported_at`, lists and filters by it, and keeps a controller's offline decisions as
//! the controller made them.
//!
//! A controller that decided on its own while it could not reach Gatehouse reports each
//! decision afterwards (`"kind": "access_decided_offline"` on `…/events`): Gatehouse logs it
//! as the controller's decision, with its instant, and does not decide it again.

use serde_json::{json, Value};

use crate::devices::{acknowledged, device_of_kind, site};
use crate::TestApp;

fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn of_kind(log: &Value, kind: &str) -> Vec<Value> {
    log["items"].as_array().unwrap().iter().filter(|entry| entry["kind"] == kind).cloned().collect()
}

async fn offline_decisions_are_logged_as_the_controller_made_them(app: TestApp) {
    let site = site(&app, "offline").await;
    let t = Some(site.slug.as_str());
    let body = json!({"kind": "controller", "name": "Door controller", "access_point_id": site.front});
    let unit = device_of_kind(&app, &site, body).await;
    let events = format!("{}/events", unit.prefix);
    let (granted_at, refused_at) = (ago(10), ago(9));
    let grant = json!({
        "kind": "access_decided_offline", "ts": granted_at, "message_id": "o-1",
        "credential": {"kind": "card", "value": "4242", "facility_code": 17}, "granted": true, "reason": "granted",
    });
    let refusal = json!({
        "kind": "access_decided_offline", "ts": refused_at, "message_id": "o-2", "direction": "out",
        "credential": {"kind": "card", "value": "31415926535"}, "granted": false, "reason": "unknown_credential",
    });
    // Each on a connection of its own (a client id reused at once may find the old session
    // still being taken down).
    let client = |n: usize| format!("{}-{n}", unit.id);
    for (n, message) in [&grant, &refusal, &grant].into_iter().enumerate() {
        assert!(acknowledged(&app, &unit, &client(n), &events, message.to_string().as_bytes()).await);
    }
    // What cannot be a decision is refused (acknowledged on MQTT 3.1.1, which has no refusal
    // but closing; logged nowhere).
    let refused = [
        json!({"kind": "access_decided_offline", "credential": {"kind": "card", "value": "4242"}, "granted": true, "reason": "granted"}),
        json!({"kind": "access_decided_offline", "ts": ago(1), "credential": {"kind": "card", "value": "4242"}, "granted": true, "reason": "no_access_level"}),
        json!({"kind": "access_decided_offline", "ts": ago(1), "credential": {"kind": "card", "value": "4242"}, "granted": false, "reason": "granted"}),
        json!({"kind": "access_decided_offline", "ts": ago(1), "credential": {"kind": "card", "value": "4242"}, "granted": false, "reason": "door_exploded"}),
        json!({"kind": "access_decided_offline", "ts": ago(60 * 24 * 40), "credential": {"kind": "card", "value": "4242"}, "granted": false, "reason": "pin_wrong"}),
        json!({"kind": "access_decided_offline", "ts": ago(1), "credential": {"kind": "card"}, "granted": false, "reason": "pin_wrong"}),
        json!({"kind": "access_decided_offline", "ts": ago(1), "credential": {"kind": "card", "value": "1"}, "granted": false, "reason": "pin_wrong", "pin": "1234"}),
    ];
    for (n, message) in refused.iter().enumerate() {
        assert!(acknowledged(&app, &unit, &client(10 + n), &events, message.to_string().as_bytes()).await);
    }

    let log = app.get("/api/v1/access/log?limit=500", t).await;
    let offline = of_kind(log.ok(), "offline_decision");
    assert_eq!(offline.len(), 2, "two decisions, the repeated one once, none of the refused: {}", log.text);
    assert!(of_kind(&log.body, "decision").is_empty(), "nothing was decided again: {}", log.text);
    let (first, second) = (&offline[0], &offline[1]);
    assert_eq!(first["granted"], true);
    assert_eq!(first["reason"], "granted");
    assert_eq!(first["person_id"], site.ana.as_str(), "whose card it was, from the policy: {first}");
    assert!(first["credential_id"].is_string());
    assert_eq!(first["credential_kind"], "card");
    assert_eq!(first["direction"], "in");
    assert_eq!(first["access_point_id"], site.front.as_str());
    assert_eq!(first["door_action"], Value::Null, "the controller acted; Gatehouse asks nothing of the door");
    assert_eq!(first["detail"]["message_id"], "o-1");
    assert_eq!(first["detail"]["late"], true);
    assert_eq!(first["detail"]["by"]["id"], unit.id.as_str());
    let reported =
        |entry: &Value| chrono::DateTime::parse_from_rfc3339(entry["detail"]["reported_at"].as_str().unwrap()).unwrap();
    assert_eq!(reported(first), chrono::DateTime::parse_from_rfc3339(&granted_at).unwrap());
    assert_eq!(second["granted"], false);
    assert_eq!(second["reason"], "unknown_credential");
    assert_eq!(second["person_id"], Value::Null);
    assert_eq!(second["direction"], "out");
    assert_eq!(reported(second), chrono::DateTime::parse_from_rfc3339(&refused_at).unwrap());
    assert!(!log.text.contains("31415926535"), "the presented value is not kept: {}", log.text);
    // Found with the log's filters, like any decision.
    let refusals = app.get("/api/v1/access/log?granted=false&reason=unknown_credential", t).await;
    assert_eq!(of_kind(refusals.ok(), "offline_decision").len(), 1, "{}", refusals.text);
    assert_eq!(app.get("/api/v1/access/log/verify", t).await.ok()["valid"], true);
}

fn reasons(log: &Value) -> Vec<String> {
    log["items"].as_array().unwrap().iter().map(|entry| entry["reason"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn the_log_is_listed_and_filtered_by_the_instant_devices_report(app: TestApp) {
    let site = site(&app, "reported").await;
    let t = Some(site.slug.as_str());
    let body = json!({"kind": "controller", "name": "Door controller", "access_point_id": site.front});
    let unit = device_of_kind(&app, &site, body).await;
    let events = format!("{}/events", unit.prefix);
    // A backlog sent out of order (as a controller that buffered by door might), then one event now.
    let sent = [("door_forced", 3), ("tamper", 10), ("exit_button", 7), ("alarm_input", 0)];
    for (n, (kind, minutes)) in sent.into_iter().enumerate() {
        let event = json!({"kind": kind, "ts": ago(minutes)});
        assert!(acknowledged(&app, &unit, &format!("{}-{n}", unit.id), &events, event.to_string().as_bytes()).await);
    }
    // Gatehouse's own entry: a decision now, with no reported instant.
    let asked = json!({"access_point_id": site.front, "credential": {"kind": "card", "value": "4242", "facility_code": 17}});
    app.post("/api/v1/access/decide", t, asked).await.ok();

    let by_seq = app.get("/api/v1/access/log", t).await;
    assert_eq!(reasons(by_seq.ok()), ["door_forced", "tamper", "exit_button", "alarm_input", "granted"]);
    let items = by_seq.body["items"].as_array().unwrap();
    assert!(items[..4].iter().all(|entry| entry["reported_at"].is_string()), "{}", by_seq.text);
    assert_eq!(items[4]["reported_at"], Value::Null, "Gatehouse's own entry reports nothing");

    let by_reported = app.get("/api/v1/access/log?order=reported_at", t).await;
    let expected = ["tamper", "exit_button", "door_forced", "alarm_input", "granted"];
    assert_eq!(reasons(by_reported.ok()), expected, "{}", by_reported.text);
    // Paged one at a time, the same order.
    let (mut paged, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/access/log?order=reported_at&limit=1&cursor={cursor}"),
            None => "/api/v1/access/log?order=reported_at&limit=1".to_owned(),
        };
        let page = app.get(&path, t).await;
        paged.extend(reasons(page.ok()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, expected);
    // The CSV export, in the same order.
    let csv = app.get("/api/v1/access/log.csv?order=reported_at", t).await;
    assert_eq!(csv.status.as_u16(), 200, "{}", csv.text);
    // The reason is the 11th column, before any JSON with commas in it.
    let listed: Vec<&str> = csv.text.lines().skip(1).map(|line| line.split(',').nth(10).unwrap()).collect();
    assert_eq!(listed, expected, "{}", csv.text);

    // Filtered by the reported instant: between 8 and 2 minutes ago.
    let window =
        format!("reported_from={}&reported_to={}", crate::devices::urlencode(&ago(8)), crate::devices::urlencode(&ago(2)));
    let filtered = app.get(&format!("/api/v1/access/log?{window}"), t).await;
    assert_eq!(reasons(filtered.ok()), ["door_forced", "exit_button"], "{}", filtered.text);
    let filtered = app.get(&format!("/api/v1/access/log?{window}&order=reported_at"), t).await;
    assert_eq!(reasons(filtered.ok()), ["exit_button", "door_forced"], "{}", filtered.text);

    // A cursor of one order does not page the other.
    let seq_cursor = app.get("/api/v1/access/log?limit=1", t).await.body["next_cursor"].as_str().unwrap().to_owned();
    let mixed = app.get(&format!("/api/v1/access/log?order=reported_at&cursor={seq_cursor}"), t).await;
    assert_eq!(mixed.status.as_u16(), 400, "{}", mixed.text);
    assert_eq!(mixed.body["field"], "cursor");
    let bad = app.get("/api/v1/access/log?order=when", t).await;
    assert_eq!(bad.status.as_u16(), 400, "{}", bad.text);
}

crate::on_both_backends!(
    offline_decisions_are_logged_as_the_controller_made_them,
    the_log_is_listed_and_filtered_by_the_instant_devices_report,
);
