//! Create, get, list, update and delete (or archive) for every resource, and
//! that a restart keeps every row.

use serde_json::json;

use crate::{on_both_backends, TestApp};

on_both_backends!(
    sites_zones_units_and_access_points_round_trip,
    people_round_trip_and_archive,
    deleting_what_is_still_used_is_a_409,
    restarting_keeps_every_row,
);

async fn sites_zones_units_and_access_points_round_trip(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let t = Some("acme");

    let site = app.get(&format!("/api/v1/sites/{}", f.site), t).await;
    assert_eq!(site.ok()["time_zone"], "Europe/Madrid");
    let renamed =
        app.patch(&format!("/api/v1/sites/{}", f.site), t, json!({"name": "Head office", "time_zone": "America/New_York"})).await;
    assert_eq!(renamed.ok()["name"], "Head office");
    assert_eq!(app.get(&format!("/api/v1/sites/{}", f.site), t).await.ok()["time_zone"], "America/New_York");

    let floor = app.get(&format!("/api/v1/zones/{}", f.floor), t).await;
    assert_eq!(floor.ok()["parent_id"], f.building.as_str());
    assert_eq!(app.get(&format!("/api/v1/zones?parent_id={}", f.building), t).await.ids(), vec![f.floor.clone()]);
    assert_eq!(app.get("/api/v1/zones?top_level=true", t).await.ids(), vec![f.building.clone()]);
    assert_eq!(app.get("/api/v1/zones?kind=floor", t).await.ids(), vec![f.floor.clone()]);
    assert_eq!(app.get(&format!("/api/v1/zones?site_id={}", f.site), t).await.ids().len(), 2);
    let to_top = app.patch(&format!("/api/v1/zones/{}", f.floor), t, json!({"parent_id": null, "kind": "area"})).await;
    assert_eq!(to_top.ok()["parent_id"], serde_json::Value::Null);
    assert_eq!(to_top.ok()["kind"], "area");

    let unit = app.patch(&format!("/api/v1/units/{}", f.unit), t, json!({"name": "1B", "zone_id": f.building})).await;
    assert_eq!((unit.ok()["name"].as_str(), unit.ok()["zone_id"].as_str()), (Some("1B"), Some(f.building.as_str())));
    assert_eq!(app.get(&format!("/api/v1/units?zone_id={}", f.building), t).await.ids(), vec![f.unit.clone()]);

    let gate = app.post("/api/v1/access-points", t, json!({"zone_id": f.building, "name": "Car gate", "kind": "barrier"})).await;
    assert_eq!(gate.status.as_u16(), 201);
    assert_eq!(app.get("/api/v1/access-points?kind=barrier", t).await.ids(), vec![gate.id()]);
    let turned = app.patch(&format!("/api/v1/access-points/{}", gate.id()), t, json!({"kind": "turnstile"})).await;
    assert_eq!(turned.ok()["kind"], "turnstile");
    let deleted = app.delete(&format!("/api/v1/access-points/{}", gate.id()), t).await;
    assert_eq!(deleted.status.as_u16(), 204);
    app.get(&format!("/api/v1/access-points/{}", gate.id()), t).await.problem(404, "not_found");
}

async fn people_round_trip_and_archive(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let t = Some("acme");
    let created = app
        .post(
            "/api/v1/people",
            t,
            json!({"kind": "employee", "first_name": "Bo", "email": "BO@Example.com", "phone": "+1 (555) 010-9999",
                   "external_id": "EMP-7", "metadata": {"department": "IT", "badge": 7}}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201);
    let bo = created.ok();
    assert_eq!(bo["email"], "bo@example.com");
    assert_eq!(bo["phone"], "+15550109999");
    assert_eq!(bo["status"], "active");
    assert_eq!(bo["metadata"]["badge"], 7);
    assert_eq!(bo["last_name"], serde_json::Value::Null);
    let id = created.id();

    let patched =
        app.patch(&format!("/api/v1/people/{id}"), t, json!({"phone": null, "unit_id": f.unit, "status": "suspended"})).await;
    assert_eq!(patched.ok()["phone"], serde_json::Value::Null);
    assert_eq!(patched.ok()["unit_id"], f.unit.as_str());
    assert_eq!(patched.ok()["email"], "bo@example.com", "fields left out stay");

    assert_eq!(app.get("/api/v1/people?kind=employee", t).await.ids(), vec![id.clone()]);
    assert_eq!(app.get("/api/v1/people?email=bo@example.com", t).await.ids(), vec![id.clone()]);
    assert_eq!(app.get("/api/v1/people?external_id=EMP-7", t).await.ids(), vec![id.clone()]);
    assert_eq!(app.get("/api/v1/people?q=souz", t).await.ids(), vec![f.person.clone()]);
    assert_eq!(app.get(&format!("/api/v1/people?unit_id={}", f.unit), t).await.ids().len(), 2);

    let archived = app.delete(&format!("/api/v1/people/{id}"), t).await;
    assert_eq!(archived.ok()["status"], "archived");
    assert_eq!(app.get("/api/v1/people", t).await.ids(), vec![f.person.clone()], "archived people leave default lists");
    assert_eq!(app.get("/api/v1/people?status=archived", t).await.ids(), vec![id.clone()]);
    assert_eq!(app.get(&format!("/api/v1/people/{id}"), t).await.ok()["status"], "archived", "but stay for history");

    let dup = app.post("/api/v1/people", t, json!({"kind": "visitor", "first_name": "X", "email": "bo@example.com"})).await;
    assert_eq!(dup.problem(409, "conflict")["field"], "email");
}

async fn deleting_what_is_still_used_is_a_409(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let t = Some("acme");
    app.delete(&format!("/api/v1/sites/{}", f.site), t).await.problem(409, "in_use");
    app.delete(&format!("/api/v1/zones/{}", f.building), t).await.problem(409, "in_use");
    app.delete(&format!("/api/v1/units/{}", f.unit), t).await.problem(409, "in_use");
    // Unwind from the leaves and each delete succeeds.
    app.patch(&format!("/api/v1/people/{}", f.person), t, json!({"unit_id": null})).await.ok();
    for path in [
        format!("/api/v1/units/{}", f.unit),
        format!("/api/v1/access-points/{}", f.access_point),
        format!("/api/v1/zones/{}", f.floor),
        format!("/api/v1/zones/{}", f.building),
        format!("/api/v1/sites/{}", f.site),
    ] {
        assert_eq!(app.delete(&path, t).await.status.as_u16(), 204, "{path}");
        app.get(&path, t).await.problem(404, "not_found");
    }
}

async fn restarting_keeps_every_row(app: TestApp) {
    let f = app.populated_tenant("acme").await;
    let mut before = Vec::new();
    for (collection, id) in f.objects() {
        before.push(app.get(&format!("{collection}/{id}"), Some("acme")).await.ok().clone());
    }
    let app = app.restart().await;
    for ((collection, id), expected) in f.objects().iter().zip(before) {
        let after = app.get(&format!("{collection}/{id}"), Some("acme")).await;
        assert_eq!(after.ok(), &expected, "{collection}/{id} survived the restart unchanged");
    }
    assert_eq!(app.get("/api/v1/tenants", None).await.ids(), vec![f.tenant.clone()]);
}
