//! The OpenAPI document matches the router: every operation in the spec is
//! served, and the server serves nothing on those paths that the spec leaves out.

use reqwest::Method;
use serde_json::Value;

use crate::{on_both_backends, TestApp};

on_both_backends!(every_spec_operation_is_served_and_nothing_more, docs_page_is_served);

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn every_spec_operation_is_served_and_nothing_more(app: TestApp) {
    app.create_tenant("acme").await;
    let spec = app.send(app.client.get(app.url("/api/v1/openapi.json"))).await;
    let spec = spec.ok();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().expect("paths");
    for expected in [
        "/api/v1/tenants",
        "/api/v1/sites",
        "/api/v1/zones/{id}",
        "/api/v1/units",
        "/api/v1/access-points/{id}",
        "/api/v1/people",
        "/api/v1/people/import",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
    ] {
        assert!(paths.contains_key(expected), "the spec describes {expected}");
    }
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", "01890a5d-ac96-774b-bcce-b302099a8057");
        for method in METHODS {
            let in_spec = item.get(method).is_some();
            let reply = app
                .send(
                    app.request(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), &concrete, Some("acme"))
                        .json(&Value::Null),
                )
                .await;
            let route_missing = reply.body["code"] == "route_not_found";
            let method_missing = reply.status.as_u16() == 405;
            if in_spec {
                operations += 1;
                assert!(!route_missing && !method_missing, "{method} {path} is in the spec but not served: {}", reply.text);
                let op = &item[method];
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} documents its responses");
                let permission = op["x-permission"].as_str().unwrap_or("undeclared");
                let scoped = op["x-permission-scoped"].as_bool().expect("every operation says whether scoped roles count");
                let place = ["/api/v1/sites", "/api/v1/zones", "/api/v1/units", "/api/v1/access-points"];
                let creating_or_deleting_a_site = path.starts_with("/api/v1/sites") && matches!(method, "post" | "delete");
                let expected = place.iter().any(|p| path.starts_with(p)) && !creating_or_deleting_a_site;
                assert_eq!(scoped, expected, "{method} {path}: x-permission-scoped");
                assert_ne!(permission, "undeclared", "{method} {path} declares no permission");
                let open_by_design = [
                    "/api/v1/openapi.json",
                    "/api/v1/auth/login",
                    "/api/v1/auth/refresh",
                    "/api/v1/auth/mfa/verify",
                    "/api/v1/auth/password/reset",
                ];
                if path.starts_with("/api/v1/auth/") && !open_by_design.contains(&path.as_str()) {
                    assert_eq!(permission, "authenticated", "{method} {path} is about the caller itself");
                } else if path.starts_with("/api/v1/") && !open_by_design.contains(&path.as_str()) {
                    assert_ne!(permission, "public", "{method} {path} is an API route and needs a permission");
                    assert_eq!(permission.split('.').count(), 3, "{method} {path}: {permission} is module.resource.action");
                }
            } else {
                assert!(method_missing, "{method} {path} is served but not in the spec ({})", reply.status);
            }
        }
    }
    assert!(operations >= 33, "{operations} operations");
    assert!(spec["components"]["schemas"]["Problem"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
}

/// Routes outside the spec exist only for the docs UI; everything else is
/// registered through utoipa's `routes!`, which is what puts it in the spec.
#[test]
fn no_route_is_registered_outside_the_spec() {
    let source_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../gatehouse-api/src");
    let mut stack = vec![std::path::PathBuf::from(source_dir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for needle in [".route(", ".route_service(", ".nest_service("] {
                    assert!(
                        !source.contains(needle),
                        "{} registers a route with {needle}, bypassing the OpenAPI spec",
                        path.display()
                    );
                }
            }
        }
    }
}

async fn docs_page_is_served(app: TestApp) {
    let docs = app.send(app.client.get(app.url("/docs/"))).await;
    assert_eq!(docs.status.as_u16(), 200);
    assert!(docs.text.to_lowercase().contains("swagger"), "an interactive docs page");
    let config = app.send(app.client.get(app.url("/docs/swagger-initializer.js"))).await;
    assert!(config.text.contains("/api/v1/openapi.json"), "the page loads our spec: {}", config.text);
}
