//! Site- and zone-scoped roles: they act inside their scope on every located
//! route (sites, zones, units, access points), are refused on everything
//! outside it, and their lists hold only what they reach.

use gatehouse_api::permissions::{Access, ROUTE_ACCESS};
use reqwest::Method;
use serde_json::{json, Value};

use crate::identity::{account, as_token, login};
use crate::{on_both_backends, Fixture, TestApp};

on_both_backends!(a_site_manager_of_site_1_acts_on_site_1_and_on_nothing_of_site_2, a_zone_scope_reaches_its_subtree_only);

/// A second site of the fixture's tenant: site > hall, a unit and a door in the hall.
struct Elsewhere {
    site: String,
    hall: String,
    unit: String,
    door: String,
}

async fn second_site(app: &TestApp, slug: &str) -> Elsewhere {
    let t = Some(slug);
    let site = app.post("/api/v1/sites", t, json!({"name": "Annex", "time_zone": "UTC"})).await.id();
    let hall = app.post("/api/v1/zones", t, json!({"site_id": site, "name": "Hall", "kind": "area"})).await.id();
    let unit = app.post("/api/v1/units", t, json!({"zone_id": hall, "name": "B1"})).await.id();
    let door = app.post("/api/v1/access-points", t, json!({"zone_id": hall, "name": "Annex door", "kind": "door"})).await.id();
    Elsewhere { site, hall, unit, door }
}

/// Everything of site 2, as the bootstrap operator sees it.
async fn snapshot(app: &TestApp, slug: &str, other: &Elsewhere) -> Vec<Value> {
    let mut bodies = Vec::new();
    for path in [
        format!("/api/v1/sites/{}", other.site),
        format!("/api/v1/zones/{}", other.hall),
        format!("/api/v1/units/{}", other.unit),
        format!("/api/v1/access-points/{}", other.door),
        "/api/v1/zones".to_owned(),
    ] {
        bodies.push(app.get(&path, Some(slug)).await.ok().clone());
    }
    bodies
}

/// Every located route, aimed at site 2 from a caller scoped to site 1:
/// `(method, route, path, body)`. Lists are checked separately.
fn aimed_at_site_2(a: &Fixture, other: &Elsewhere) -> Vec<(&'static str, &'static str, String, Value)> {
    vec![
        ("GET", "/api/v1/sites/{id}", format!("/api/v1/sites/{}", other.site), Value::Null),
        ("PATCH", "/api/v1/sites/{id}", format!("/api/v1/sites/{}", other.site), json!({"name": "Taken"})),
        ("POST", "/api/v1/zones", "/api/v1/zones".into(), json!({"site_id": other.site, "name": "New", "kind": "area"})),
        (
            "POST",
            "/api/v1/zones",
            "/api/v1/zones".into(),
            json!({"site_id": other.site, "parent_id": other.hall, "name": "New", "kind": "area"}),
        ),
        ("GET", "/api/v1/zones/{id}", format!("/api/v1/zones/{}", other.hall), Value::Null),
        ("PATCH", "/api/v1/zones/{id}", format!("/api/v1/zones/{}", other.hall), json!({"name": "Taken"})),
        ("DELETE", "/api/v1/zones/{id}", format!("/api/v1/zones/{}", other.hall), Value::Null),
        ("POST", "/api/v1/units", "/api/v1/units".into(), json!({"zone_id": other.hall, "name": "B2"})),
        ("GET", "/api/v1/units/{id}", format!("/api/v1/units/{}", other.unit), Value::Null),
        ("PATCH", "/api/v1/units/{id}", format!("/api/v1/units/{}", other.unit), json!({"name": "Taken"})),
        // Moving one's own unit into site 2 is acting on site 2.
        ("PATCH", "/api/v1/units/{id}", format!("/api/v1/units/{}", a.unit), json!({"zone_id": other.hall})),
        ("DELETE", "/api/v1/units/{id}", format!("/api/v1/units/{}", other.unit), Value::Null),
        (
            "POST",
            "/api/v1/access-points",
            "/api/v1/access-points".into(),
            json!({"zone_id": other.hall, "name": "Gate", "kind": "gate"}),
        ),
        ("GET", "/api/v1/access-points/{id}", format!("/api/v1/access-points/{}", other.door), Value::Null),
        ("PATCH", "/api/v1/access-points/{id}", format!("/api/v1/access-points/{}", other.door), json!({"name": "Taken"})),
        (
            "PATCH",
            "/api/v1/access-points/{id}",
            format!("/api/v1/access-points/{}", a.access_point),
            json!({"zone_id": other.hall}),
        ),
        ("DELETE", "/api/v1/access-points/{id}", format!("/api/v1/access-points/{}", other.door), Value::Null),
        ("GET", "/api/v1/access-points/{id}/door", format!("/api/v1/access-points/{}/door", other.door), Value::Null),
        (
            "PUT",
            "/api/v1/access-points/{id}/door",
            format!("/api/v1/access-points/{}/door", other.door),
            json!({"mode": "locked"}),
        ),
        ("GET", "/api/v1/zones/{id}/rules", format!("/api/v1/zones/{}/rules", other.hall), Value::Null),
        ("PUT", "/api/v1/zones/{id}/rules", format!("/api/v1/zones/{}/rules", other.hall), json!({"anti_passback": "hard"})),
        ("GET", "/api/v1/zones/{id}/occupancy", format!("/api/v1/zones/{}/occupancy", other.hall), Value::Null),
        (
            "POST",
            "/api/v1/access-points/{id}/unlock",
            format!("/api/v1/access-points/{}/unlock", other.door),
            json!({"seconds": 3}),
        ),
    ]
}

async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: &Value) -> crate::Reply {
    let request = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path)).bearer_auth(token);
    let request = if body.is_null() { request } else { request.json(body) };
    app.send(request).await
}

async fn a_site_manager_of_site_1_acts_on_site_1_and_on_nothing_of_site_2(app: TestApp) {
    let a = app.populated_tenant("acme").await;
    let other = second_site(&app, "acme").await;
    account(&app, "acme", "manager@acme.example", json!([{"role": "site_manager", "scope": {"site_id": a.site}}])).await;
    let token = login(&app, "manager@acme.example", None).await["access_token"].as_str().unwrap().to_owned();
    let before = snapshot(&app, "acme", &other).await;

    // Every located route that names something is covered below; a new one must be added.
    let cases = aimed_at_site_2(&a, &other);
    for (method, route, access) in ROUTE_ACCESS {
        if matches!(access, Access::Located(_)) && (route.contains("{id}") || *method == "POST") {
            assert!(cases.iter().any(|(m, r, ..)| m == method && r == route), "{method} {route} is not tried against site 2");
        }
    }
    for (method, route, path, body) in &cases {
        let reply = call(&app, &token, method, path, body).await;
        let problem = reply.problem(403, "forbidden");
        assert!(problem["detail"].as_str().unwrap().contains("out_of_scope"), "{method} {route}: {}", reply.text);
    }
    assert_eq!(snapshot(&app, "acme", &other).await, before, "site 2 is untouched");

    // Lists hold site 1 only.
    for (collection, mine, theirs) in [
        ("/api/v1/sites", &a.site, &other.site),
        ("/api/v1/zones", &a.floor, &other.hall),
        ("/api/v1/units", &a.unit, &other.unit),
        ("/api/v1/access-points", &a.access_point, &other.door),
    ] {
        let listed = as_token(&app, Method::GET, collection, &token).await;
        let ids = listed.ids();
        assert!(ids.contains(mine) && !ids.contains(theirs), "{collection}: {}", listed.text);
    }
    let none = as_token(&app, Method::GET, &format!("/api/v1/units?zone_id={}", other.hall), &token).await;
    assert!(none.ids().is_empty(), "a filter naming site 2 finds nothing: {}", none.text);

    // Inside site 1 the same calls succeed.
    let zone = call(&app, &token, "POST", "/api/v1/zones", &json!({"site_id": a.site, "name": "Roof", "kind": "area"})).await;
    assert_eq!(zone.status.as_u16(), 201, "{}", zone.text);
    let zone = zone.id();
    for (method, path, body, status) in [
        ("PATCH", format!("/api/v1/sites/{}", a.site), json!({"name": "Main campus"}), 200),
        ("POST", "/api/v1/units".to_owned(), json!({"zone_id": a.floor, "name": "1B"}), 201),
        ("PATCH", format!("/api/v1/units/{}", a.unit), json!({"zone_id": zone}), 200),
        ("PATCH", format!("/api/v1/access-points/{}", a.access_point), json!({"name": "Main door"}), 200),
        ("PATCH", format!("/api/v1/zones/{}", a.floor), json!({"parent_id": null}), 200),
        ("GET", format!("/api/v1/zones/{}", a.floor), Value::Null, 200),
    ] {
        let reply = call(&app, &token, method, &path, &body).await;
        assert_eq!(reply.status.as_u16(), status, "{method} {path}: {}", reply.text);
    }
    // Creating a site, or deleting one, is tenant-wide: the site scope does not reach it.
    let site = call(&app, &token, "POST", "/api/v1/sites", &json!({"name": "Third", "time_zone": "UTC"})).await;
    site.problem(403, "forbidden");
}

async fn a_zone_scope_reaches_its_subtree_only(app: TestApp) {
    let a = app.populated_tenant("acme").await;
    let other = second_site(&app, "acme").await;
    let sibling =
        app.post("/api/v1/zones", Some("acme"), json!({"site_id": a.site, "name": "Garden", "kind": "area"})).await.id();
    // A maintenance worker for the building (which holds floor 1, unit 1A and the front door).
    account(&app, "acme", "fixer@acme.example", json!([{"role": "maintenance", "scope": {"zone_id": a.building}}])).await;
    let token = login(&app, "fixer@acme.example", None).await["access_token"].as_str().unwrap().to_owned();

    let zones = as_token(&app, Method::GET, "/api/v1/zones", &token).await.ids();
    assert!(zones.contains(&a.building) && zones.contains(&a.floor), "{zones:?}");
    assert!(!zones.contains(&sibling) && !zones.contains(&other.hall), "{zones:?}");
    assert_eq!(as_token(&app, Method::GET, "/api/v1/units", &token).await.ids(), vec![a.unit.clone()]);
    assert_eq!(as_token(&app, Method::GET, "/api/v1/access-points", &token).await.ids(), vec![a.access_point.clone()]);
    assert!(as_token(&app, Method::GET, "/api/v1/sites", &token).await.ids().is_empty(), "a zone scope is not its site");
    as_token(&app, Method::GET, &format!("/api/v1/units/{}", a.unit), &token).await.ok();
    for path in [format!("/api/v1/zones/{sibling}"), format!("/api/v1/sites/{}", a.site), format!("/api/v1/units/{}", other.unit)]
    {
        as_token(&app, Method::GET, &path, &token).await.problem(403, "forbidden");
    }
    // Maintenance reads; it changes nothing, in scope or not.
    call(&app, &token, "PATCH", &format!("/api/v1/units/{}", a.unit), &json!({"name": "X"})).await.problem(403, "forbidden");
}
