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
        "credential": {"kind": "card", "value": "999"}, "granted": false, "reason": "unknown_credential",
    });
    for message in [&grant, &refusal, &grant] {
        assert!(acknowledged(&app, &unit, &unit.id, &events, message.to_string().as_bytes()).await);
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
    for message in &refused {
        assert!(acknowledged(&app, &unit, &unit.id, &events, message.to_string().as_bytes()).await);
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
    assert!(!log.text.contains("999"), "the presented value is not kept: {}", log.text);
    // Found with the log's filters, like any decision.
    let refusals = app.get("/api/v1/access/log?granted=false&reason=unknown_credential", t).await;
    assert_eq!(of_kind(refusals.ok(), "offline_decision").len(), 1, "{}", refusals.text);
    assert_eq!(app.get("/api/v1/access/log/verify", t).await.ok()["valid"], true);
}

crate::on_both_backends!(offline_decisions_are_logged_as_the_controller_made_them);
