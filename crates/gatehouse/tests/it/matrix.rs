//! The route x role matrix: every route of the permission table, called by an
//! account of every built-in role, is refused (403) exactly when the role lacks
//! the route's permission. A route added without a permission, or with the wrong
//! one, shows up here.

use gatehouse_api::permissions::{Access, ROUTE_ACCESS};
use gatehouse_domain::authz::{BuiltinRole, Permission};
use reqwest::Method;
use serde_json::json;

use crate::TestApp;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_exactly_the_roles_without_its_permission() {
    let app = TestApp::spawn(gatehouse_testkit::TestBackend::Sqlite).await;
    app.populated_tenant("acme").await;
    let roles: Vec<BuiltinRole> = BuiltinRole::ALL.iter().copied().filter(|role| !role.is_platform()).collect();
    let mut checked = 0;
    for role in roles {
        let email = format!("{}@acme.example", role.name());
        let created = app
            .post(
                "/api/v1/accounts",
                Some("acme"),
                json!({"email": email, "password": PASSWORD, "roles": [{"role": role.name()}]}),
            )
            .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.text);
        let login =
            app.send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": email, "password": PASSWORD}))).await;
        let token = login.body["access_token"].as_str().expect("logged in").to_owned();
        let held = role.effective_permissions();

        for (method, route, access) in ROUTE_ACCESS {
            let path = route.replace("{id}", "01890a5d-ac96-774b-bcce-b302099a8057");
            let request = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path)).bearer_auth(&token);
            let request = if *method == "GET" || *method == "DELETE" { request } else { request.json(&json!({})) };
            // Logging out would end this role's session in the middle of the matrix.
            if *route == "/api/v1/auth/logout" {
                continue;
            }
            let reply = app.send(request).await;
            let refused = reply.status.as_u16() == 403 && reply.body["code"] == "forbidden";
            let expected_refusal = match access {
                Access::Public | Access::Authenticated => false,
                Access::Platform(_) => true,
                Access::Tenant(code) | Access::Located(code) => !held.contains(Permission::parse(code).unwrap()),
            };
            assert_eq!(
                refused,
                expected_refusal,
                "{} calling {method} {route} ({}): {} {}",
                role.name(),
                access.code(),
                reply.status,
                reply.text
            );
            assert_ne!(reply.status.as_u16(), 401, "{} is authenticated on {method} {route}", role.name());
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked} calls checked");
}
