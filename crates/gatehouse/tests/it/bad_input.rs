//! Bad input gets a 4xx problem naming the field, and nothing is half-written.

use reqwest::Method;
use serde_json::json;

use crate::{on_both_backends, TestApp};

on_both_backends!(
    malformed_and_mistyped_bodies_name_the_field,
    wrong_content_types_and_oversized_bodies,
    invalid_time_zones_and_values,
    zone_trees_refuse_other_sites_and_cycles,
    bad_path_ids,
);

async fn malformed_and_mistyped_bodies_name_the_field(app: TestApp) {
    app.create_tenant("acme").await;
    let t = Some("acme");
    let raw = |body: &'static str| app.raw(Method::POST, "/api/v1/sites", t, "application/json", body);

    let malformed = raw(r#"{"name": "HQ", "time_zone": "#).await;
    malformed.problem(400, "malformed_json");
    assert!(!malformed.text.contains("line 1"), "positions are noise for clients");
    raw("").await.problem(400, "malformed_json");
    raw(r#"{"name": "HQ", "time_zone": "UTC"} {"again": 1}"#).await.problem(400, "malformed_json");

    let wrong_type = raw(r#"{"name": 42, "time_zone": "UTC"}"#).await;
    assert_eq!(wrong_type.problem(422, "validation_failed")["field"], "name");
    let missing = raw(r#"{"name": "HQ"}"#).await;
    assert_eq!(missing.problem(422, "validation_failed")["field"], "time_zone");
    let unknown = raw(r#"{"name": "HQ", "time_zone": "UTC", "timezone": "UTC"}"#).await;
    assert_eq!(unknown.problem(422, "validation_failed")["field"], "timezone");
    let not_object = raw(r#"["HQ"]"#).await;
    not_object.problem(422, "validation_failed");
    let empty_name = raw(r#"{"name": "   ", "time_zone": "UTC"}"#).await;
    assert_eq!(empty_name.problem(422, "validation_failed")["field"], "name");

    let bad_enum = app.post("/api/v1/people", t, json!({"kind": "alien", "first_name": "X"})).await;
    assert_eq!(bad_enum.problem(422, "validation_failed")["field"], "kind");
    let bad_email = app.post("/api/v1/people", t, json!({"kind": "resident", "first_name": "X", "email": "nope"})).await;
    assert_eq!(bad_email.problem(422, "validation_failed")["field"], "email");
    let bad_metadata = app.post("/api/v1/people", t, json!({"kind": "resident", "first_name": "X", "metadata": [1]})).await;
    assert_eq!(bad_metadata.problem(422, "validation_failed")["field"], "metadata");
    let nul_metadata =
        app.post("/api/v1/people", t, json!({"kind": "resident", "first_name": "X", "metadata": {"note": "a\u{0}b"}})).await;
    assert_eq!(nul_metadata.problem(422, "validation_failed")["field"], "metadata");
    let nul_name = app.post("/api/v1/people", t, json!({"kind": "resident", "first_name": "X\u{0}"})).await;
    assert_eq!(nul_name.problem(422, "validation_failed")["field"], "first_name");
    assert_eq!(app.get("/api/v1/people?q=a%00b", t).await.problem(400, "invalid_query")["field"], "q");
    assert_eq!(app.get("/api/v1/sites?name=a%0Ab", t).await.problem(400, "invalid_query")["field"], "name");
    app.get("/api/v1/tenants/no%00such", None).await.problem(404, "not_found");
    app.get("/api/v1/sites", Some("Not A Slug")).await.problem(404, "not_found");
    let bad_patch = app.patch("/api/v1/tenants/acme", None, json!({"status": "deleted"})).await;
    assert_eq!(bad_patch.problem(422, "validation_failed")["field"], "status");

    assert!(app.get("/api/v1/sites", t).await.ids().is_empty(), "nothing was written");
    assert!(app.get("/api/v1/people", t).await.ids().is_empty(), "nothing was written");
    assert_eq!(app.get("/api/v1/tenants/acme", None).await.ok()["status"], "active");
}

async fn wrong_content_types_and_oversized_bodies(app: TestApp) {
    app.create_tenant("acme").await;
    let t = Some("acme");
    let as_text = app.raw(Method::POST, "/api/v1/sites", t, "text/plain", r#"{"name": "HQ", "time_zone": "UTC"}"#).await;
    assert_eq!(as_text.problem(415, "unsupported_media_type")["field"], "Content-Type");
    let no_type = app.send(app.request(Method::POST, "/api/v1/sites", t).body(r#"{"name": "HQ", "time_zone": "UTC"}"#)).await;
    no_type.problem(415, "unsupported_media_type");
    let merge_patch = app
        .raw(
            Method::POST,
            "/api/v1/sites",
            t,
            "application/merge-patch+json; charset=utf-8",
            r#"{"name": "HQ", "time_zone": "UTC"}"#,
        )
        .await;
    assert_eq!(merge_patch.status.as_u16(), 201, "+json types are JSON");

    let huge_name = "x".repeat(2 * 1024 * 1024);
    let oversized = app.post("/api/v1/sites", t, json!({"name": huge_name, "time_zone": "UTC"})).await;
    oversized.problem(413, "payload_too_large");
    let oversized_patch = app.patch("/api/v1/tenants/acme", None, json!({"name": huge_name})).await;
    oversized_patch.problem(413, "payload_too_large");
    assert_eq!(app.get("/api/v1/sites", t).await.ids().len(), 1, "only the accepted site exists");
}

async fn invalid_time_zones_and_values(app: TestApp) {
    app.create_tenant("acme").await;
    let t = Some("acme");
    let bad_zone = app.post("/api/v1/sites", t, json!({"name": "HQ", "time_zone": "Mars/Olympus_Mons"})).await;
    let problem = bad_zone.problem(422, "validation_failed");
    assert_eq!(problem["field"], "time_zone");
    assert!(problem["detail"].as_str().unwrap().contains("Mars/Olympus_Mons"));
    let site = app.post("/api/v1/sites", t, json!({"name": "HQ", "time_zone": "UTC"})).await.id();
    let bad_patch = app.patch(&format!("/api/v1/sites/{site}"), t, json!({"time_zone": "Europe/Atlantis"})).await;
    assert_eq!(bad_patch.problem(422, "validation_failed")["field"], "time_zone");
    assert_eq!(app.get(&format!("/api/v1/sites/{site}"), t).await.ok()["time_zone"], "UTC", "unchanged");
    let bad_slug = app.post("/api/v1/tenants", None, json!({"name": "Bad", "slug": "Not A Slug"})).await;
    assert_eq!(bad_slug.problem(422, "validation_failed")["field"], "slug");
}

async fn zone_trees_refuse_other_sites_and_cycles(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let t = Some("acme");
    let other_site = app.post("/api/v1/sites", t, json!({"name": "Annex", "time_zone": "UTC"})).await.id();
    let elsewhere = app.post("/api/v1/zones", t, json!({"site_id": other_site, "name": "Annex hall", "kind": "area"})).await.id();

    let cross_site =
        app.post("/api/v1/zones", t, json!({"site_id": f.site, "parent_id": elsewhere, "name": "X", "kind": "area"})).await;
    assert_eq!(cross_site.problem(422, "validation_failed")["field"], "parent_id");
    let move_cross = app.patch(&format!("/api/v1/zones/{}", f.floor), t, json!({"parent_id": elsewhere})).await;
    assert_eq!(move_cross.problem(422, "validation_failed")["field"], "parent_id");

    let room =
        app.post("/api/v1/zones", t, json!({"site_id": f.site, "parent_id": f.floor, "name": "Room", "kind": "area"})).await.id();
    let cycle = app.patch(&format!("/api/v1/zones/{}", f.building), t, json!({"parent_id": room, "name": "Renamed"})).await;
    let problem = cycle.problem(422, "validation_failed");
    assert_eq!(problem["field"], "parent_id");
    let itself = app.patch(&format!("/api/v1/zones/{}", f.building), t, json!({"parent_id": f.building})).await;
    assert_eq!(itself.problem(422, "validation_failed")["field"], "parent_id");
    let building = app.get(&format!("/api/v1/zones/{}", f.building), t).await;
    assert_eq!(building.ok()["parent_id"], serde_json::Value::Null, "nothing half-written");
    assert_eq!(building.ok()["name"], "Building", "the rename in the refused patch did not land");

    let missing_parent = app
        .post(
            "/api/v1/zones",
            t,
            json!({"site_id": f.site, "parent_id": "01890a5d-ac96-774b-bcce-b302099a8057", "name": "Y", "kind": "area"}),
        )
        .await;
    assert_eq!(missing_parent.problem(422, "validation_failed")["field"], "parent_id");
    let dup_sibling = app
        .post("/api/v1/zones", t, json!({"site_id": f.site, "parent_id": f.building, "name": "floor 1", "kind": "floor"}))
        .await;
    assert_eq!(dup_sibling.problem(409, "conflict")["field"], "name");
    assert_eq!(app.get("/api/v1/zones", t).await.ids().len(), 4, "building, floor, room, annex hall");
}

async fn bad_path_ids(app: TestApp) {
    app.create_tenant("acme").await;
    let bad = app.get("/api/v1/sites/not-a-uuid", Some("acme")).await;
    assert_eq!(bad.problem(400, "invalid_path")["field"], "id");
    app.get("/api/v1/sites/01890a5d-ac96-774b-bcce-b302099a8057", Some("acme")).await.problem(404, "not_found");
}
