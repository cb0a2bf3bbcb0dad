//! A tenant's own roles, and changing the roles of an existing account: both
//! take effect on the very next request of sessions and keys already issued.

use reqwest::Method;
use serde_json::{json, Value};

use crate::identity::{account, as_token, login};
use crate::{on_both_backends, TestApp};

on_both_backends!(
    custom_roles_grant_what_they_list_and_changes_apply_at_once,
    nobody_defines_a_role_stronger_than_themselves,
    roles_added_to_and_taken_from_an_account_apply_at_once,
    a_tenant_s_roles_do_not_exist_in_another_tenant,
);

async fn token_of(app: &TestApp, email: &str) -> String {
    login(app, email, None).await["access_token"].as_str().unwrap().to_owned()
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> crate::Reply {
    app.send(app.client.request(method, app.url(path)).bearer_auth(token).json(&body)).await
}

async fn custom_roles_grant_what_they_list_and_changes_apply_at_once(app: TestApp) {
    app.populated_tenant("acme").await;
    let created = app
        .post(
            "/api/v1/roles",
            Some("acme"),
            json!({"name": "night_guard", "description": "Nights at the lobby", "inherits": "receptionist", "permissions": ["access.log.read", "tenancy.zone.read"]}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let role = created.body.clone();
    assert_eq!(role["builtin"], false);
    let effective: Vec<&str> = role["effective_permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(effective.contains(&"people.person.read") && effective.contains(&"access.log.read"), "{effective:?}");
    assert!(!effective.contains(&"audit.log.read"));

    let listed = app.get("/api/v1/roles", Some("acme")).await;
    let names: Vec<&str> = listed.ok()["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"security_operator") && names.contains(&"night_guard") && !names.contains(&"platform_admin"),
        "{names:?}"
    );
    assert_eq!(app.get("/api/v1/roles/tenant_admin", Some("acme")).await.ok()["builtin"], true);
    assert_eq!(app.get("/api/v1/roles/night_guard", Some("acme")).await.ok()["description"], "Nights at the lobby");

    // An account and an API key holding it.
    account(&app, "acme", "guard@acme.example", json!([{"role": "night_guard"}])).await;
    let token = token_of(&app, "guard@acme.example").await;
    let key = app.post("/api/v1/api-keys", Some("acme"), json!({"name": "lobby screen", "role": "night_guard"})).await;
    let key = key.ok()["key"].as_str().unwrap().to_owned();
    for credential in [&token, &key] {
        as_token(&app, Method::GET, "/api/v1/people", credential).await.ok();
        as_token(&app, Method::GET, "/api/v1/audit", credential).await.problem(403, "forbidden");
    }
    let me = as_token(&app, Method::GET, "/api/v1/auth/me", &token).await;
    assert!(me.text.contains("night_guard"), "{}", me.text);

    // Dropping what it inherits takes effect on the next request, with no new login.
    let patched = app.patch("/api/v1/roles/night_guard", Some("acme"), json!({"inherits": null})).await;
    assert_eq!(patched.ok()["inherits"], json!([]));
    for credential in [&token, &key] {
        as_token(&app, Method::GET, "/api/v1/people", credential).await.problem(403, "forbidden");
        as_token(&app, Method::GET, "/api/v1/zones", credential).await.ok();
    }

    // Built-in roles are fixed; a role in use stays.
    app.patch("/api/v1/roles/tenant_admin", Some("acme"), json!({"description": "x"})).await.problem(409, "builtin_role");
    app.delete("/api/v1/roles/security_operator", Some("acme")).await.problem(409, "builtin_role");
    let taken = app.post("/api/v1/roles", Some("acme"), json!({"name": "tenant_admin", "permissions": []})).await;
    assert_eq!(taken.problem(422, "validation_failed")["field"], "name");
    let twice = app.post("/api/v1/roles", Some("acme"), json!({"name": "night_guard", "permissions": []})).await;
    twice.problem(409, "conflict");
    app.delete("/api/v1/roles/night_guard", Some("acme")).await.problem(409, "in_use");
    let unknown = app
        .post(
            "/api/v1/accounts",
            Some("acme"),
            json!({"email": "x@acme.example", "password": "correct horse battery staple", "roles": [{"role": "day_guard"}]}),
        )
        .await;
    assert_eq!(unknown.problem(422, "validation_failed")["field"], "roles[0].role");
    let platform =
        app.post("/api/v1/roles", Some("acme"), json!({"name": "sneaky", "permissions": ["platform.tenant.create"]})).await;
    assert_eq!(platform.problem(422, "validation_failed")["field"], "permissions");
    let bad_code = app.post("/api/v1/roles", Some("acme"), json!({"name": "typo", "permissions": ["people.person.fly"]})).await;
    let problem = bad_code.problem(422, "validation_failed");
    assert_eq!(problem["field"], "permissions[0]");
    assert!(problem["detail"].as_str().unwrap().contains("people.person.fly"), "{}", bad_code.text);

    // The audit trail has the definition and its change.
    let audit = app.get("/api/v1/audit?target_type=role", Some("acme")).await;
    let actions: Vec<&str> = audit.ok()["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"identity.role.create") && actions.contains(&"identity.role.update"), "{actions:?}");

    // Unused again, it can go.
    let keys = app.get("/api/v1/api-keys", Some("acme")).await;
    let key_id = keys.ok()["items"][0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v1/api-keys/{key_id}"), Some("acme")).await;
    let guard = app.get("/api/v1/accounts", Some("acme")).await;
    let guard = guard.ok()["items"].as_array().unwrap().iter().find(|a| a["email"] == "guard@acme.example").unwrap().clone();
    let assignment = guard["roles"][0]["id"].as_str().unwrap();
    let removed =
        app.delete(&format!("/api/v1/accounts/{}/roles/{assignment}", guard["id"].as_str().unwrap()), Some("acme")).await;
    assert_eq!(removed.status.as_u16(), 204, "{}", removed.text);
    assert_eq!(app.delete("/api/v1/roles/night_guard", Some("acme")).await.status.as_u16(), 204);
    app.get("/api/v1/roles/night_guard", Some("acme")).await.problem(404, "not_found");
}

async fn nobody_defines_a_role_stronger_than_themselves(app: TestApp) {
    app.create_tenant("acme").await;
    let maker = app
        .post("/api/v1/roles", Some("acme"), json!({"name": "role_maker", "permissions": ["identity.role.create", "identity.role.read", "identity.role.update", "people.person.read"]}))
        .await;
    assert_eq!(maker.status.as_u16(), 201, "{}", maker.text);
    account(&app, "acme", "maker@acme.example", json!([{"role": "role_maker"}])).await;
    let token = token_of(&app, "maker@acme.example").await;
    let stronger =
        call(&app, &token, Method::POST, "/api/v1/roles", json!({"name": "auditor", "permissions": ["audit.log.read"]})).await;
    assert!(stronger.problem(403, "forbidden")["detail"].as_str().unwrap().contains("audit.log.read"));
    let inherited =
        call(&app, &token, Method::POST, "/api/v1/roles", json!({"name": "boss", "inherits": "tenant_admin", "permissions": []}))
            .await;
    inherited.problem(403, "forbidden");
    let weaker =
        call(&app, &token, Method::POST, "/api/v1/roles", json!({"name": "reader", "permissions": ["people.person.read"]})).await;
    assert_eq!(weaker.status.as_u16(), 201, "{}", weaker.text);
    let raised = call(
        &app,
        &token,
        Method::PATCH,
        "/api/v1/roles/reader",
        json!({"permissions": ["people.person.read", "audit.log.read"]}),
    )
    .await;
    raised.problem(403, "forbidden");
    // Nor raise itself.
    let own = call(&app, &token, Method::PATCH, "/api/v1/roles/role_maker", json!({"inherits": "site_manager"})).await;
    own.problem(403, "forbidden");
    assert_eq!(app.get("/api/v1/roles/reader", Some("acme")).await.ok()["permissions"], json!(["people.person.read"]));
}

async fn roles_added_to_and_taken_from_an_account_apply_at_once(app: TestApp) {
    let a = app.populated_tenant("acme").await;
    let id = account(&app, "acme", "later@acme.example", json!([{"role": "visitor"}])).await;
    let token = token_of(&app, "later@acme.example").await;
    as_token(&app, Method::GET, "/api/v1/people", &token).await.problem(403, "forbidden");

    let added =
        app.post(&format!("/api/v1/accounts/{id}/roles"), Some("acme"), json!({"role": "receptionist", "scope": null})).await;
    assert_eq!(added.status.as_u16(), 201, "{}", added.text);
    let assignment = added.id();
    as_token(&app, Method::GET, "/api/v1/people", &token).await.ok();
    let scoped = app
        .post(
            &format!("/api/v1/accounts/{id}/roles"),
            Some("acme"),
            json!({"role": "maintenance", "scope": {"zone_id": a.floor}}),
        )
        .await;
    assert_eq!(scoped.status.as_u16(), 201, "{}", scoped.text);
    assert_eq!(as_token(&app, Method::GET, "/api/v1/units", &token).await.ids(), vec![a.unit.clone()]);

    let removed = app.delete(&format!("/api/v1/accounts/{id}/roles/{assignment}"), Some("acme")).await;
    assert_eq!(removed.status.as_u16(), 204, "{}", removed.text);
    as_token(&app, Method::GET, "/api/v1/people", &token).await.problem(403, "forbidden");
    app.delete(&format!("/api/v1/accounts/{id}/roles/{assignment}"), Some("acme")).await.problem(404, "not_found");

    // A role the giver does not hold is refused; so is a platform role, an unknown one, and an empty window.
    for (body, status, field) in [
        (json!({"role": "platform_admin"}), 422, "role"),
        (json!({"role": "no_such_role"}), 422, "role"),
        (
            json!({"role": "visitor", "valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}),
            422,
            "valid_until",
        ),
        (json!({"role": "visitor", "scope": {"site_id": "01890a5d-ac96-774b-bcce-b302099a8057"}}), 422, "scope.site_id"),
    ] {
        let reply = app.post(&format!("/api/v1/accounts/{id}/roles"), Some("acme"), body.clone()).await;
        assert_eq!(reply.problem(status, "validation_failed")["field"], field, "{body}: {}", reply.text);
    }
    account(&app, "acme", "desk@acme.example", json!([{"role": "site_manager"}])).await;
    let manager = token_of(&app, "desk@acme.example").await;
    // A site manager may read accounts but not change their roles.
    call(&app, &manager, Method::POST, &format!("/api/v1/accounts/{id}/roles"), json!({"role": "visitor"}))
        .await
        .problem(403, "forbidden");
    let audit = app.get(&format!("/api/v1/audit?target_id={id}"), Some("acme")).await;
    assert!(audit.ok()["items"].as_array().unwrap().len() >= 3, "{}", audit.text);
}

async fn a_tenant_s_roles_do_not_exist_in_another_tenant(app: TestApp) {
    app.create_tenant("tenant-a").await;
    app.create_tenant("tenant-b").await;
    let made =
        app.post("/api/v1/roles", Some("tenant-a"), json!({"name": "night_guard", "permissions": ["people.person.read"]})).await;
    assert_eq!(made.status.as_u16(), 201);
    app.get("/api/v1/roles/night_guard", Some("tenant-b")).await.problem(404, "not_found");
    app.patch("/api/v1/roles/night_guard", Some("tenant-b"), json!({"permissions": []})).await.problem(404, "not_found");
    app.delete("/api/v1/roles/night_guard", Some("tenant-b")).await.problem(404, "not_found");
    let listed = app.get("/api/v1/roles", Some("tenant-b")).await;
    assert!(!listed.text.contains("night_guard"));
    let assign = app
        .post(
            "/api/v1/accounts",
            Some("tenant-b"),
            json!({"email": "b@b.example", "password": "correct horse battery staple", "roles": [{"role": "night_guard"}]}),
        )
        .await;
    assert_eq!(assign.problem(422, "validation_failed")["field"], "roles[0].role");
    let key = app.post("/api/v1/api-keys", Some("tenant-b"), json!({"name": "k", "role": "night_guard"})).await;
    assert_eq!(key.problem(422, "validation_failed")["field"], "role");
    // The same name may exist in both, each with its own permissions.
    let again = app.post("/api/v1/roles", Some("tenant-b"), json!({"name": "night_guard", "permissions": []})).await;
    assert_eq!(again.status.as_u16(), 201);
    assert_eq!(app.get("/api/v1/roles/night_guard", Some("tenant-a")).await.ok()["permissions"], json!(["people.person.read"]));
    // An account of tenant A cannot be given roles through tenant B.
    let ana = account(&app, "tenant-a", "ana@a.example", json!([{"role": "visitor"}])).await;
    app.post(&format!("/api/v1/accounts/{ana}/roles"), Some("tenant-b"), json!({"role": "visitor"}))
        .await
        .problem(404, "not_found");
}
