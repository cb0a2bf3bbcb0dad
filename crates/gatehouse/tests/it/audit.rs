//! The admin audit trail over HTTP: every change recorded with who, from where,
//! before and after; tenants see only their own; secrets never appear.

use reqwest::Method;
use serde_json::json;

use crate::{on_both_backends, TestApp, TOKEN};

on_both_backends!(
    changes_are_recorded_with_actor_origin_and_states,
    tenants_see_only_their_own_trail,
    platform_changes_have_their_own_trail
);

async fn changes_are_recorded_with_actor_origin_and_states(app: TestApp) {
    app.create_tenant("acme").await;
    let t = Some("acme");
    let created = app
        .send(
            app.request(Method::POST, "/api/v1/sites", t)
                .header("x-request-id", "req-audit-1")
                .json(&json!({"name": "HQ", "time_zone": "UTC"})),
        )
        .await;
    let site = created.id();
    app.patch(&format!("/api/v1/sites/{site}"), t, json!({"name": "Head office"})).await.ok();
    // A refused change leaves no trace.
    app.post("/api/v1/sites", t, json!({"name": "head office", "time_zone": "UTC"})).await.problem(409, "conflict");
    let person = app.post("/api/v1/people", t, json!({"kind": "visitor", "first_name": "Vi"})).await.id();
    app.delete(&format!("/api/v1/people/{person}"), t).await.ok();
    app.delete(&format!("/api/v1/sites/{site}"), t).await;

    let trail = app.get("/api/v1/audit", t).await;
    let items = trail.ok()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["tenancy.site.delete", "people.person.archive", "people.person.create", "tenancy.site.update", "tenancy.site.create"]
    );
    let creation = &items[4];
    assert_eq!(creation["request_id"], "req-audit-1");
    assert_eq!(creation["source"], "127.0.0.1");
    assert_eq!(creation["actor"]["kind"], "bootstrap");
    assert_eq!(creation["target_type"], "site");
    assert_eq!(creation["target_id"], site.as_str());
    assert_eq!(creation["after"]["name"], "HQ");
    assert_eq!(items[3]["before"]["name"], "HQ");
    assert_eq!(items[3]["after"]["name"], "Head office");
    assert_eq!(items[0]["after"], serde_json::Value::Null);
    assert!(!trail.text.contains(&TOKEN[4..]), "no secret in the trail");

    let by_request = app.get("/api/v1/audit?request_id=req-audit-1", t).await;
    assert_eq!(by_request.ok()["items"].as_array().unwrap().len(), 1);
    let by_target = app.get(&format!("/api/v1/audit?target_id={site}&action=tenancy.site.update"), t).await;
    assert_eq!(by_target.ok()["items"].as_array().unwrap().len(), 1);
    let future = app.get("/api/v1/audit?from=2100-01-01T00:00:00Z", t).await;
    assert!(future.ok()["items"].as_array().unwrap().is_empty());
    app.get("/api/v1/audit?from=yesterday", t).await.problem(400, "invalid_query");
    let paged = app.get("/api/v1/audit?limit=2", t).await;
    let cursor = paged.ok()["next_cursor"].as_str().unwrap().to_owned();
    let next = app.get(&format!("/api/v1/audit?limit=2&cursor={cursor}"), t).await;
    assert_eq!(next.ok()["items"][0]["action"], "people.person.create");
}

async fn tenants_see_only_their_own_trail(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    let b = app.populated_tenant("tenant-b").await;
    for (fixture, other) in [(&a, &b), (&b, &a)] {
        let trail = app.get("/api/v1/audit?limit=500", Some(&fixture.slug)).await;
        let items = trail.ok()["items"].as_array().unwrap();
        assert_eq!(items.len(), 6, "site, two zones, unit, door, person");
        assert!(items.iter().all(|e| e["tenant_id"] == fixture.tenant.as_str()));
        for (_, id) in other.objects() {
            assert!(!trail.text.contains(&id), "{}'s trail mentions {id} of {}", fixture.slug, other.slug);
        }
    }
}

async fn platform_changes_have_their_own_trail(app: TestApp) {
    let tenant = app.create_tenant("acme").await;
    app.patch("/api/v1/tenants/acme", None, json!({"status": "suspended"})).await.ok();
    let trail = app.get("/api/v1/platform/audit", None).await;
    let items = trail.ok()["items"].as_array().unwrap().clone();
    let tenant_entries: Vec<&serde_json::Value> = items.iter().filter(|e| e["target_type"] == "tenant").collect();
    assert_eq!(tenant_entries.len(), 2);
    assert_eq!(tenant_entries[0]["action"], "platform.tenant.update");
    assert_eq!(tenant_entries[0]["before"]["status"], "active");
    assert_eq!(tenant_entries[0]["after"]["status"], "suspended");
    assert_eq!(tenant_entries[1]["target_id"], tenant.as_str());
    // The bootstrap token's digest is a platform setting: its change is recorded, its value never.
    assert!(items.iter().any(|e| e["target_type"] == "setting" && e["target_id"] == "bootstrap_token_sha256"));
    assert!(items.iter().all(|e| e["target_type"] != "setting" || (e["before"].is_null() && e["after"].is_null())));
    // A tenant's own trail does not hold platform entries.
    app.patch("/api/v1/tenants/acme", None, json!({"status": "active"})).await.ok();
    let own = app.get("/api/v1/audit", Some("acme")).await;
    assert!(own.ok()["items"].as_array().unwrap().is_empty());
}
