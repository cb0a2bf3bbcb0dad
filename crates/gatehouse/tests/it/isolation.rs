//! Tenants never see each other: for every tenant route, a caller acting in
//! tenant A that addresses B's objects by id gets 404, A's lists never contain
//! B's rows, and A cannot point its own rows at B's.

use serde_json::json;

use crate::{on_both_backends, TestApp};

on_both_backends!(
    other_tenants_objects_are_not_found_on_any_route,
    lists_hold_only_the_callers_rows,
    references_into_another_tenant_are_refused
);

async fn other_tenants_objects_are_not_found_on_any_route(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    let b = app.populated_tenant("tenant-b").await;
    let as_a = Some(a.slug.as_str());
    for (collection, b_id) in b.objects() {
        let path = format!("{collection}/{b_id}");
        app.get(&path, as_a).await.problem(404, "not_found");
        let rename = if collection == "/api/v1/people" { json!({"first_name": "hijacked"}) } else { json!({"name": "hijacked"}) };
        app.patch(&path, as_a, rename).await.problem(404, "not_found");
        app.patch(&path, as_a, json!({})).await.problem(404, "not_found");
        app.delete(&path, as_a).await.problem(404, "not_found");
        // B still has it, untouched.
        let still = app.get(&path, Some(b.slug.as_str())).await;
        assert_eq!(still.ok()["tenant_id"], b.tenant.as_str());
        assert_ne!(still.ok()["name"], "hijacked");
        assert_ne!(still.ok()["first_name"], "hijacked");
        assert_ne!(still.ok()["status"], "archived");
    }
}

async fn lists_hold_only_the_callers_rows(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    let b = app.populated_tenant("tenant-b").await;
    for (fixture, other) in [(&a, &b), (&b, &a)] {
        for collection in ["/api/v1/sites", "/api/v1/zones", "/api/v1/units", "/api/v1/access-points", "/api/v1/people"] {
            let listed = app.get(&format!("{collection}?limit=500"), Some(&fixture.slug)).await;
            let ids = listed.ids();
            assert!(!ids.is_empty(), "{collection}");
            for item in listed.ok()["items"].as_array().unwrap() {
                assert_eq!(item["tenant_id"], fixture.tenant.as_str(), "{collection} lists only its own tenant");
            }
            for (_, other_id) in other.objects() {
                assert!(!ids.contains(&other_id), "{collection} of {} holds {other_id} of {}", fixture.slug, other.slug);
            }
        }
        // Filtering by another tenant's parent finds nothing rather than leaking.
        let by_foreign_zone = app.get(&format!("/api/v1/units?zone_id={}", other.floor), Some(&fixture.slug)).await;
        assert!(by_foreign_zone.ids().is_empty());
        let by_foreign_unit = app.get(&format!("/api/v1/people?unit_id={}", other.unit), Some(&fixture.slug)).await;
        assert!(by_foreign_unit.ids().is_empty());
    }
}

async fn references_into_another_tenant_are_refused(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    let b = app.populated_tenant("tenant-b").await;
    let as_a = Some(a.slug.as_str());
    let refused = [
        app.post("/api/v1/zones", as_a, json!({"site_id": b.site, "name": "X", "kind": "area"})).await,
        app.post("/api/v1/zones", as_a, json!({"site_id": a.site, "parent_id": b.building, "name": "X", "kind": "area"})).await,
        app.post("/api/v1/units", as_a, json!({"zone_id": b.floor, "name": "X"})).await,
        app.post("/api/v1/access-points", as_a, json!({"zone_id": b.building, "name": "X", "kind": "door"})).await,
        app.post("/api/v1/people", as_a, json!({"kind": "resident", "first_name": "X", "unit_id": b.unit})).await,
        app.patch(&format!("/api/v1/zones/{}", a.floor), as_a, json!({"parent_id": b.building})).await,
        app.patch(&format!("/api/v1/units/{}", a.unit), as_a, json!({"zone_id": b.floor})).await,
        app.patch(&format!("/api/v1/access-points/{}", a.access_point), as_a, json!({"zone_id": b.building})).await,
        app.patch(&format!("/api/v1/people/{}", a.person), as_a, json!({"unit_id": b.unit})).await,
    ];
    let fields: Vec<String> =
        refused.iter().map(|r| r.problem(422, "validation_failed")["field"].as_str().unwrap().to_owned()).collect();
    assert_eq!(fields, ["site_id", "parent_id", "zone_id", "zone_id", "unit_id", "parent_id", "zone_id", "zone_id", "unit_id"]);
    let csv = format!("kind,first_name,unit_id,email\nresident,X,{},ana@tenant-b.example\n", b.unit);
    let import = app.raw(reqwest::Method::POST, "/api/v1/people/import", as_a, "text/csv", csv).await;
    let errors = import.problem(422, "csv_invalid")["errors"].clone();
    assert_eq!(errors[0]["field"], "unit_id", "B's unit does not exist for A: {errors}");
    assert_eq!(errors.as_array().unwrap().len(), 1, "B's e-mails don't collide with A's: {errors}");
    // Nothing changed in A either.
    assert_eq!(app.get(&format!("/api/v1/zones/{}", a.floor), as_a).await.ok()["parent_id"], a.building.as_str());
    assert_eq!(app.get(&format!("/api/v1/people/{}", a.person), as_a).await.ok()["unit_id"], a.unit.as_str());
}
