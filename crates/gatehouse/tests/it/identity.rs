//! Accounts, login, tokens and sessions, and the attacks they must refuse.

use base64::Engine as _;
use gatehouse_services::identity::{KeyRing, MasterKey};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{on_both_backends, Reply, TestApp, MASTER_KEY};

on_both_backends!(
    accounts_log_in_and_see_themselves,
    access_tokens_verify_independently_against_the_jwks,
    forged_expired_and_tampered_tokens_are_refused,
    logout_and_revocation_end_tokens_at_once,
    a_replayed_refresh_token_kills_the_session,
    roles_stay_in_their_tenant_scope_and_window,
    unknown_emails_and_wrong_passwords_look_the_same,
    accounts_api_refuses_escalation_and_weak_passwords,
    api_keys_are_shown_once_scoped_and_revocable,
    totp_codes_from_an_independent_implementation_work_once,
    explain_names_the_deciding_assignment,
    passwords_change_and_reset_and_disabling_ends_sessions,
    a_tenant_can_require_a_second_factor_for_chosen_roles,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_throttled_then_locked_and_audited_sqlite() {
    brute_force_is_throttled_then_locked_and_audited(gatehouse_testkit::TestBackend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_throttled_then_locked_and_audited_postgres() {
    brute_force_is_throttled_then_locked_and_audited(gatehouse_testkit::TestBackend::Postgres).await
}

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Creates an account in `tenant` (by the bootstrap operator) with these roles.
pub(crate) async fn account(app: &TestApp, tenant: &str, email: &str, roles: Value) -> String {
    let created = app.post("/api/v1/accounts", Some(tenant), json!({"email": email, "password": PASSWORD, "roles": roles})).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    created.id()
}

pub(crate) async fn login(app: &TestApp, email: &str, tenant: Option<&str>) -> Value {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    let reply = app.send(app.client.post(app.url("/api/v1/auth/login")).json(&body)).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    reply.body
}

pub(crate) async fn as_token(app: &TestApp, method: Method, path: &str, token: &str) -> Reply {
    app.send(app.client.request(method, app.url(path)).bearer_auth(token)).await
}

async fn accounts_log_in_and_see_themselves(app: TestApp) {
    app.create_tenant("acme").await;
    let id = account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator", "scope": null}])).await;
    let tokens = login(&app, "OPS@acme.example ", None).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("ghr_"));
    let access = tokens["access_token"].as_str().unwrap();

    let me = as_token(&app, Method::GET, "/api/v1/auth/me", access).await;
    let me = me.ok();
    assert_eq!(me["principal"], "account");
    assert_eq!(me["account"]["id"], id.as_str());
    assert_eq!(me["roles"][0]["role"], "security_operator");
    let held: Vec<&str> = me["permissions"].as_array().unwrap().iter().map(|p| p["permission"].as_str().unwrap()).collect();
    assert!(held.contains(&"access.door.unlock") && held.contains(&"people.person.read"));
    assert!(!held.contains(&"tenancy.site.create") && !held.contains(&"audit.log.read"));

    // The token acts in its tenant without naming it, within its permissions.
    as_token(&app, Method::GET, "/api/v1/access-points", access).await.ok();
    as_token(&app, Method::GET, "/api/v1/people", access).await.ok();
    let denied = app
        .send(app.client.post(app.url("/api/v1/sites")).bearer_auth(access).json(&json!({"name": "X", "time_zone": "UTC"})))
        .await;
    assert!(denied.problem(403, "forbidden")["detail"].as_str().unwrap().contains("tenancy.site.create"));

    let sessions = as_token(&app, Method::GET, "/api/v1/auth/sessions", access).await;
    let sessions = sessions.ok()["items"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    let jwks = app.send(app.client.get(app.url("/.well-known/jwks.json"))).await;
    assert_eq!(jwks.ok()["keys"][0]["alg"], "EdDSA");
}

fn b64(part: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()
}

async fn access_tokens_verify_independently_against_the_jwks(app: TestApp) {
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "receptionist"}])).await;
    let tokens = login(&app, "ops@acme.example", Some("acme")).await;
    let token = tokens["access_token"].as_str().unwrap();
    let jwks = app.send(app.client.get(app.url("/.well-known/jwks.json"))).await.body;

    // Verified with ed25519-dalek and hand-parsed JWS: no code shared with the server.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("the kid is published");
    assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    let public: [u8; 32] = b64(key["x"].as_str().unwrap()).try_into().unwrap();
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&b64(parts[2])).unwrap();
    verifying.verify_strict(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("the signature verifies");
    let claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    for claim in ["iss", "sub", "tid", "sid", "roles", "iat", "nbf", "exp", "jti"] {
        assert!(claims.get(claim).is_some(), "claim {claim} is present: {claims}");
    }
    assert_eq!(claims["roles"], json!(["receptionist"]));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
}

/// Signs arbitrary claims with the server's real current key (the test knows the master key).
async fn sign(app: &TestApp, claims: &Value) -> String {
    let ring = KeyRing::load_or_create(
        app.server.store.as_ref(),
        MasterKey::parse(MASTER_KEY).unwrap(),
        std::time::Duration::from_secs(900),
    )
    .await
    .unwrap();
    let (kid, key) = ring.signing_key().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

async fn forged_expired_and_tampered_tokens_are_refused(app: TestApp) {
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let tokens = login(&app, "ops@acme.example", None).await;
    let good = tokens["access_token"].as_str().unwrap().to_owned();
    as_token(&app, Method::GET, "/api/v1/people", &good).await.ok();
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    let header: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    let enc = |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());

    let mut refused: Vec<(&str, String)> = Vec::new();
    // alg: none, no signature.
    refused.push(("alg none", format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), parts[1])));
    // HS256 "signed" with the public key as the HMAC secret.
    let jwks = app.send(app.client.get(app.url("/.well-known/jwks.json"))).await.body;
    let public = b64(jwks["keys"][0]["x"].as_str().unwrap());
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let hs = jsonwebtoken::encode(&hs_header, &claims, &jsonwebtoken::EncodingKey::from_secret(&public)).unwrap();
    refused.push(("HS256 with the public key", hs));
    // A tampered claim (another subject) under the original signature.
    let mut tampered = claims.clone();
    tampered["sub"] = json!(uuid::Uuid::now_v7().to_string());
    refused.push(("tampered claim", format!("{}.{}.{}", parts[0], enc(&tampered), parts[2])));
    // Expired, and not yet valid, both properly signed.
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 3600);
    expired["nbf"] = json!(now - 3600);
    expired["exp"] = json!(now - 1800);
    refused.push(("expired", sign(&app, &expired).await));
    let mut early = claims.clone();
    early["nbf"] = json!(now + 3600);
    early["exp"] = json!(now + 7200);
    refused.push(("not yet valid", sign(&app, &early).await));
    // Properly signed, but for a session that does not exist.
    let mut no_session = claims.clone();
    no_session["sid"] = json!(uuid::Uuid::now_v7().to_string());
    refused.push(("unknown session", sign(&app, &no_session).await));
    // Properly signed, right session, but claiming another tenant.
    let mut other_tenant = claims.clone();
    other_tenant["tid"] = json!(uuid::Uuid::now_v7().to_string());
    refused.push(("session of another tenant", sign(&app, &other_tenant).await));
    refused.push(("garbage", "not.a.jwt".to_owned()));

    for (attack, token) in refused {
        let reply = as_token(&app, Method::GET, "/api/v1/people", &token).await;
        assert_eq!(reply.status.as_u16(), 401, "{attack}: {}", reply.text);
        assert_eq!(reply.body["code"], "unauthorized", "{attack}");
    }
    // The genuine token still works, and re-signing the same claims is accepted (the signer is real).
    as_token(&app, Method::GET, "/api/v1/people", &good).await.ok();
    as_token(&app, Method::GET, "/api/v1/people", &sign(&app, &claims).await).await.ok();
}

async fn logout_and_revocation_end_tokens_at_once(app: TestApp) {
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let first = login(&app, "ops@acme.example", None).await;
    let second = login(&app, "ops@acme.example", None).await;
    let (first_access, second_access) = (first["access_token"].as_str().unwrap(), second["access_token"].as_str().unwrap());

    let logout = as_token(&app, Method::POST, "/api/v1/auth/logout", first_access).await;
    assert_eq!(logout.status.as_u16(), 204);
    as_token(&app, Method::GET, "/api/v1/people", first_access).await.problem(401, "unauthorized");
    let refresh =
        app.send(app.client.post(app.url("/api/v1/auth/refresh")).json(&json!({"refresh_token": first["refresh_token"]}))).await;
    refresh.problem(401, "invalid_refresh_token");
    as_token(&app, Method::GET, "/api/v1/people", second_access).await.ok();

    // An administrator of the tenant ends the other session.
    let second_sid = {
        let me = as_token(&app, Method::GET, "/api/v1/auth/me", second_access).await;
        me.body["session_id"].as_str().unwrap().to_owned()
    };
    account(&app, "acme", "boss@acme.example", json!([{"role": "tenant_admin"}])).await;
    let boss = login(&app, "boss@acme.example", None).await;
    let ops_id = app.get("/api/v1/accounts", Some("acme")).await.ids()[0].clone();
    let reviewed =
        as_token(&app, Method::GET, &format!("/api/v1/accounts/{ops_id}/sessions"), boss["access_token"].as_str().unwrap()).await;
    assert!(reviewed.ids().contains(&second_sid), "the administrator finds the session to end");
    let ended =
        as_token(&app, Method::DELETE, &format!("/api/v1/auth/sessions/{second_sid}"), boss["access_token"].as_str().unwrap())
            .await;
    assert_eq!(ended.status.as_u16(), 204, "{}", ended.text);
    as_token(&app, Method::GET, "/api/v1/people", second_access).await.problem(401, "unauthorized");

    // Revocations survive a restart: the registry reloads sessions from the store.
    let third = login(&app, "ops@acme.example", None).await;
    let third_access = third["access_token"].as_str().unwrap().to_owned();
    as_token(&app, Method::POST, "/api/v1/auth/logout", &third_access).await;
    let app = app.restart().await;
    as_token(&app, Method::GET, "/api/v1/people", &third_access).await.problem(401, "unauthorized");
    as_token(&app, Method::GET, "/api/v1/people", boss["access_token"].as_str().unwrap()).await.ok();
}

async fn a_replayed_refresh_token_kills_the_session(app: TestApp) {
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let first = login(&app, "ops@acme.example", None).await;
    let refresh =
        |token: Value| app.send(app.client.post(app.url("/api/v1/auth/refresh")).json(&json!({"refresh_token": token})));
    let second = refresh(first["refresh_token"].clone()).await;
    let second = second.ok().clone();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    as_token(&app, Method::GET, "/api/v1/people", second["access_token"].as_str().unwrap()).await.ok();

    // The first refresh token again: theft. The whole session dies, the fresh pair with it.
    let replay = refresh(first["refresh_token"].clone()).await;
    assert!(replay.problem(401, "invalid_refresh_token")["detail"].as_str().unwrap().contains("revoked"));
    as_token(&app, Method::GET, "/api/v1/people", second["access_token"].as_str().unwrap()).await.problem(401, "unauthorized");
    refresh(second["refresh_token"].clone()).await.problem(401, "invalid_refresh_token");
    refresh(json!("ghr_never-issued")).await.problem(401, "invalid_refresh_token");
}

async fn roles_stay_in_their_tenant_scope_and_window(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    let b = app.populated_tenant("tenant-b").await;
    let annex = app.post("/api/v1/sites", Some("tenant-a"), json!({"name": "Annex", "time_zone": "UTC"})).await.id();
    account(&app, "tenant-a", "admin@a.example", json!([{"role": "tenant_admin"}])).await;
    let admin = login(&app, "admin@a.example", None).await;
    let admin_token = admin["access_token"].as_str().unwrap();
    // Tenant A's admin, naming tenant B, or reaching B's objects through A.
    let in_b =
        app.send(app.client.get(app.url("/api/v1/sites")).bearer_auth(admin_token).header("Gatehouse-Tenant", "tenant-b")).await;
    in_b.problem(403, "forbidden");
    as_token(&app, Method::GET, &format!("/api/v1/sites/{}", b.site), admin_token).await.problem(404, "not_found");
    let listed = as_token(&app, Method::GET, "/api/v1/sites", admin_token).await;
    assert!(listed.ids().contains(&a.site) && !listed.ids().contains(&b.site));
    // Logging in to a tenant where the account holds no role is refused.
    let elsewhere = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": "admin@a.example", "password": PASSWORD, "tenant": "tenant-b"})),
        )
        .await;
    elsewhere.problem(403, "forbidden");

    // An operator scoped to one site is refused on tenant-wide routes and on other sites.
    account(&app, "tenant-a", "site1@a.example", json!([{"role": "security_operator", "scope": {"site_id": a.site}}])).await;
    let scoped = login(&app, "site1@a.example", None).await;
    let scoped = scoped["access_token"].as_str().unwrap();
    let annex_zone =
        app.post("/api/v1/zones", Some("tenant-a"), json!({"site_id": annex, "name": "Lobby", "kind": "area"})).await.id();
    let refused = as_token(&app, Method::GET, &format!("/api/v1/zones/{annex_zone}"), scoped).await;
    assert!(refused.problem(403, "forbidden")["detail"].as_str().unwrap().contains("out_of_scope"));
    let listed = as_token(&app, Method::GET, "/api/v1/zones", scoped).await;
    assert!(listed.ids().contains(&a.building) && !listed.ids().contains(&annex_zone), "{}", listed.text);
    let people = as_token(&app, Method::GET, "/api/v1/people", scoped).await;
    assert!(people.problem(403, "forbidden")["detail"].as_str().unwrap().contains("out_of_scope"), "people are tenant-wide");

    // A time-bound assignment outside its window grants nothing.
    account(
        &app,
        "tenant-a",
        "temp@a.example",
        json!([{"role": "receptionist", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2020-01-02T00:00:00Z"}]),
    )
    .await;
    let temp = login(&app, "temp@a.example", None).await;
    let expired = as_token(&app, Method::GET, "/api/v1/people", temp["access_token"].as_str().unwrap()).await;
    assert!(expired.problem(403, "forbidden")["detail"].as_str().unwrap().contains("outside_validity"));
}

async fn unknown_emails_and_wrong_passwords_look_the_same(app: TestApp) {
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let attempt = |email: &'static str, password: &'static str| {
        app.send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": email, "password": password})))
    };
    let wrong_password = attempt("ops@acme.example", "not the right password").await;
    let unknown_email = attempt("nobody@acme.example", "not the right password").await;
    wrong_password.problem(401, "invalid_credentials");
    assert_eq!(wrong_password.text, unknown_email.text, "identical bodies");
    assert_eq!(wrong_password.status, unknown_email.status);
    let malformed = app.send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "x"}))).await;
    assert_eq!(malformed.problem(422, "validation_failed")["field"], "password");
}

async fn accounts_api_refuses_escalation_and_weak_passwords(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    app.populated_tenant("tenant-b").await;
    let weak =
        app.post("/api/v1/accounts", Some("tenant-a"), json!({"email": "w@a.example", "password": "short", "roles": []})).await;
    assert_eq!(weak.problem(422, "validation_failed")["field"], "password");
    let own_email = app
        .post(
            "/api/v1/accounts",
            Some("tenant-a"),
            json!({"email": "maria.lopez@a.example", "password": "maria.lopez@a.example", "roles": []}),
        )
        .await;
    assert_eq!(own_email.problem(422, "validation_failed")["field"], "password");
    let platform = app
        .post(
            "/api/v1/accounts",
            Some("tenant-a"),
            json!({"email": "p@a.example", "password": PASSWORD, "roles": [{"role": "platform_admin"}]}),
        )
        .await;
    assert_eq!(platform.problem(422, "validation_failed")["field"], "roles[0].role");
    let bad_scope = app
        .post("/api/v1/accounts", Some("tenant-a"), json!({"email": "s@a.example", "password": PASSWORD, "roles": [{"role": "maintenance", "scope": {"site_id": "01890a5d-ac96-774b-bcce-b302099a8057"}}]}))
        .await;
    assert_eq!(bad_scope.problem(422, "validation_failed")["field"], "roles.scope.site_id");

    let manager = account(&app, "tenant-a", "manager@a.example", json!([{"role": "site_manager"}])).await;
    let dup = app
        .post("/api/v1/accounts", Some("tenant-a"), json!({"email": "MANAGER@a.example", "password": PASSWORD, "roles": []}))
        .await;
    assert_eq!(dup.problem(409, "conflict")["field"], "email");
    let tokens = login(&app, "manager@a.example", None).await;
    let manager_token = tokens["access_token"].as_str().unwrap();
    // A site manager may not create accounts at all, let alone a tenant admin.
    let escalate = app
        .send(
            app.client
                .post(app.url("/api/v1/accounts"))
                .bearer_auth(manager_token)
                .json(&json!({"email": "x@a.example", "password": PASSWORD, "roles": [{"role": "tenant_admin"}]})),
        )
        .await;
    escalate.problem(403, "forbidden");

    // An account may be one of the tenant's people, not another tenant's, and only one account per person.
    let b_person = app.get("/api/v1/people", Some("tenant-b")).await.ids()[0].clone();
    let foreign = app
        .post("/api/v1/accounts", Some("tenant-a"), json!({"email": "p@a.example", "password": PASSWORD, "person_id": b_person}))
        .await;
    assert_eq!(foreign.problem(422, "validation_failed")["field"], "person_id");
    let resident = app
        .post(
            "/api/v1/accounts",
            Some("tenant-a"),
            json!({"email": "ana@a.example", "password": PASSWORD, "person_id": a.person, "roles": [{"role": "resident"}]}),
        )
        .await;
    assert_eq!(resident.ok()["people"][0]["person_id"], a.person.as_str());
    let twice = app
        .post(
            "/api/v1/accounts",
            Some("tenant-a"),
            json!({"email": "ana2@a.example", "password": PASSWORD, "person_id": a.person}),
        )
        .await;
    assert_eq!(twice.problem(409, "conflict")["field"], "person_id");
    let listed = app.get("/api/v1/accounts", Some("tenant-a")).await;
    assert_eq!(listed.ids(), vec![manager.clone(), resident.id()]);
    assert!(!listed.text.contains("argon2") && !listed.text.contains(PASSWORD), "no hash or password is ever shown");
    assert_eq!(app.get(&format!("/api/v1/accounts/{manager}"), Some("tenant-a")).await.id(), manager);
    app.get(&format!("/api/v1/accounts/{manager}"), Some("tenant-b")).await.problem(404, "not_found");
    assert!(app.get("/api/v1/accounts", Some("tenant-b")).await.ids().is_empty());
    let trail = app.get("/api/v1/audit?action=identity.account.create", Some(&a.slug)).await;
    assert!(!trail.text.contains("argon2") && !trail.text.contains(PASSWORD));
}

/// Median response times for unknown e-mails and wrong passwords stay within 10%
/// of each other (attempts interleaved, so load changes hit both alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_emails_and_wrong_passwords_take_the_same_time() {
    // Throttling would answer most of these attempts with 429s; this test is about the 401s.
    let relaxed =
        [("GATEHOUSE_LOGIN_FREE_FAILURES_PER_ACCOUNT", "100000"), ("GATEHOUSE_LOGIN_FREE_FAILURES_PER_SOURCE", "1000000")];
    let app = TestApp::spawn_with(gatehouse_testkit::TestBackend::Sqlite, &relaxed).await;
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for round in 0..200 {
        for (email, times) in [
            ("ops@acme.example", &mut wrong),
            (if round % 2 == 0 { "nobody@acme.example" } else { "ghost@elsewhere.example" }, &mut unknown),
        ] {
            let started = std::time::Instant::now();
            let reply = app
                .send(
                    app.client
                        .post(app.url("/api/v1/auth/login"))
                        .json(&json!({"email": email, "password": "not the right password"})),
                )
                .await;
            times.push(started.elapsed());
            assert_eq!(reply.status.as_u16(), 401);
        }
    }
    let median = |times: &mut Vec<std::time::Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64()
    };
    let (unknown, wrong) = (median(&mut unknown), median(&mut wrong));
    let gap = (unknown - wrong).abs() / wrong.max(unknown);
    println!("median unknown e-mail {:.2} ms, wrong password {:.2} ms ({:.1}% apart)", unknown * 1e3, wrong * 1e3, gap * 100.0);
    assert!(
        gap < 0.10,
        "median unknown e-mail {:.2} ms vs wrong password {:.2} ms: {:.1}% apart",
        unknown * 1e3,
        wrong * 1e3,
        gap * 100.0
    );
}

/// With 3 free failures per e-mail: waits of 1 and 2 seconds, then the lockout at 6.
async fn brute_force_is_throttled_then_locked_and_audited(backend: gatehouse_testkit::TestBackend) {
    let app = TestApp::spawn_with(backend, &[("GATEHOUSE_LOGIN_FREE_FAILURES_PER_ACCOUNT", "3")]).await;
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let attempt = |password: &'static str| {
        app.send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ops@acme.example", "password": password})))
    };
    for _ in 0..3 {
        attempt("guess guess guess").await.problem(401, "invalid_credentials");
    }
    // The third failure starts the waits: now even the right password must wait.
    let throttled = attempt(PASSWORD).await;
    throttled.problem(429, "rate_limited");
    let retry_after: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // An unknown e-mail is throttled the same way.
    for _ in 0..3 {
        app.send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ghost@acme.example", "password": "x"})))
            .await;
    }
    let ghost = app
        .send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ghost@acme.example", "password": "x"})))
        .await;
    ghost.problem(429, "rate_limited");

    // Waiting out each doubling wait, the failures reach the lockout.
    let mut locked_for = 0;
    for _ in 0..20 {
        let reply = attempt("guess guess guess").await;
        if reply.status.as_u16() == 429 {
            let wait: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
            if wait > 60 {
                locked_for = wait;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
    }
    assert!(locked_for >= 800, "locked for about 15 minutes, got {locked_for} s");
    attempt(PASSWORD).await.problem(429, "rate_limited");

    let trail = app.get("/api/v1/platform/audit?action=identity.login.fail&limit=500", None).await;
    let failures = trail.ok()["items"].as_array().unwrap();
    assert!(failures.len() >= 9, "every failure is audited: {}", failures.len());
    assert_eq!(failures[0]["source"], "127.0.0.1");
    assert!(!trail.text.contains("guess guess guess"), "no password in the trail");
    let lockouts = app.get("/api/v1/platform/audit?action=identity.login.lockout", None).await;
    assert_eq!(lockouts.ok()["items"][0]["target_id"], "ops@acme.example");
}

async fn api_keys_are_shown_once_scoped_and_revocable(app: TestApp) {
    app.populated_tenant("tenant-a").await;
    app.populated_tenant("tenant-b").await;
    let created = app
        .post(
            "/api/v1/api-keys",
            Some("tenant-a"),
            json!({"name": "door integration", "role": "security_operator", "expires_at": null}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gh_") && key.len() == 3 + 43, "256 bits, base64url: {key}");
    assert_eq!(created.body["prefix"], &key[..11]);
    let id = created.id();

    // The key works within its role, in its tenant only.
    as_token(&app, Method::GET, "/api/v1/access-points", &key).await.ok();
    let me = as_token(&app, Method::GET, "/api/v1/auth/me", &key).await;
    assert_eq!(me.ok()["principal"], "api_key");
    as_token(&app, Method::DELETE, &format!("/api/v1/api-keys/{id}"), &key).await.problem(403, "forbidden");
    let elsewhere =
        app.send(app.client.get(app.url("/api/v1/people")).bearer_auth(&key).header("Gatehouse-Tenant", "tenant-b")).await;
    elsewhere.problem(403, "forbidden");

    let listed = app.get("/api/v1/api-keys", Some("tenant-a")).await;
    assert_eq!(listed.ids(), vec![id.clone()]);
    assert!(!listed.text.contains(&key), "the key is never shown again");
    assert!(listed.body["items"][0]["last_used_at"].is_string(), "last use is recorded");
    assert!(app.get("/api/v1/api-keys", Some("tenant-b")).await.ids().is_empty());
    app.delete(&format!("/api/v1/api-keys/{id}"), Some("tenant-b")).await.problem(404, "not_found");
    let trail = app.get("/api/v1/audit?target_type=api_key", Some("tenant-a")).await;
    assert!(!trail.text.contains(&key[3..]), "the key is not in the audit trail");

    let revoked = app.delete(&format!("/api/v1/api-keys/{id}"), Some("tenant-a")).await;
    assert!(revoked.ok()["revoked_at"].is_string());
    as_token(&app, Method::GET, "/api/v1/access-points", &key).await.problem(401, "unauthorized");
    as_token(&app, Method::GET, "/api/v1/access-points", "gh_not-a-real-key").await.problem(401, "unauthorized");

    let past = app
        .post(
            "/api/v1/api-keys",
            Some("tenant-a"),
            json!({"name": "old", "role": "maintenance", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.problem(422, "validation_failed")["field"], "expires_at");
    let platform = app.post("/api/v1/api-keys", Some("tenant-a"), json!({"name": "p", "role": "platform_admin"})).await;
    assert_eq!(platform.problem(422, "validation_failed")["field"], "role");
    let unknown_role = app.post("/api/v1/api-keys", Some("tenant-a"), json!({"name": "p", "role": "overlord"})).await;
    assert_eq!(unknown_role.problem(422, "validation_failed")["field"], "role");
}

fn totp_code(secret_base32: &str, at_unix: u64) -> String {
    let secret = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret_base32).expect("base32 secret");
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &secret, at_unix)
}

async fn totp_codes_from_an_independent_implementation_work_once(app: TestApp) {
    app.create_tenant("acme").await;
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let tokens = login(&app, "ops@acme.example", None).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let post =
        |path: &'static str, token: String, body: Value| app.send(app.client.post(app.url(path)).bearer_auth(token).json(&body));

    let enrolled = app.send(app.client.post(app.url("/api/v1/auth/mfa/totp/enroll")).bearer_auth(&access)).await;
    let enrolled = enrolled.ok().clone();
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    assert!(enrolled["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Gatehouse%3Aops%40acme.example?secret="));
    assert!(enrolled["otpauth_uri"].as_str().unwrap().contains("algorithm=SHA1&digits=6&period=30"));
    assert!(enrolled["qr_svg"].as_str().unwrap().contains("<svg"));

    let now = chrono::Utc::now().timestamp() as u64;
    post("/api/v1/auth/mfa/totp/confirm", access.clone(), json!({"code": "000000"})).await.problem(422, "validation_failed");
    let confirmed = post("/api/v1/auth/mfa/totp/confirm", access.clone(), json!({"code": totp_code(&secret, now)})).await;
    let recovery: Vec<String> =
        confirmed.ok()["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);

    // Login now stops half-way.
    let half = app
        .send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ops@acme.example", "password": PASSWORD})))
        .await;
    assert_eq!(half.ok()["mfa_required"], true);
    assert!(half.body.get("access_token").is_none());
    let mfa_token = half.body["mfa_token"].as_str().unwrap().to_owned();
    let verify = |token: String, code: String| {
        app.send(app.client.post(app.url("/api/v1/auth/mfa/verify")).json(&json!({"mfa_token": token, "code": code})))
    };
    // The confirming code's step is spent; the next step's code (clock drift allowed) works once.
    verify(mfa_token.clone(), totp_code(&secret, now)).await.problem(401, "unauthorized");
    let next = totp_code(&secret, now + 30);
    let done = verify(mfa_token.clone(), next.clone()).await;
    as_token(&app, Method::GET, "/api/v1/people", done.ok()["access_token"].as_str().unwrap()).await.ok();
    verify(mfa_token.clone(), next.clone()).await.problem(401, "unauthorized");

    // Replaying the same code in a fresh login is refused too.
    let again = app
        .send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ops@acme.example", "password": PASSWORD})))
        .await;
    let again_token = again.body["mfa_token"].as_str().unwrap().to_owned();
    verify(again_token.clone(), next).await.problem(401, "unauthorized");
    // A recovery code works, once.
    let recovered = verify(again_token, recovery[0].to_uppercase()).await;
    assert!(recovered.ok()["access_token"].is_string());
    let third = app
        .send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ops@acme.example", "password": PASSWORD})))
        .await;
    verify(third.body["mfa_token"].as_str().unwrap().to_owned(), recovery[0].clone()).await.problem(401, "unauthorized");
    verify("ghm_forged".to_owned(), "123456".to_owned()).await.problem(401, "unauthorized");

    // Enrolling again while active is a conflict; disabling needs a code.
    let re = app.send(app.client.post(app.url("/api/v1/auth/mfa/totp/enroll")).bearer_auth(&access)).await;
    re.problem(409, "conflict");
    post("/api/v1/auth/mfa/totp/disable", access.clone(), json!({"code": "999999"})).await.problem(422, "validation_failed");
    let off = post("/api/v1/auth/mfa/totp/disable", access.clone(), json!({"code": recovery[1].clone()})).await;
    assert_eq!(off.status.as_u16(), 204, "{}", off.text);
    login(&app, "ops@acme.example", None).await;

    let trail = app.get("/api/v1/platform/audit?target_type=account", None).await;
    assert!(!trail.text.contains(&secret), "the TOTP secret is never in the trail");
}

async fn explain_names_the_deciding_assignment(app: TestApp) {
    let a = app.populated_tenant("tenant-a").await;
    app.populated_tenant("tenant-b").await;
    let annex = app.post("/api/v1/sites", Some("tenant-a"), json!({"name": "Annex", "time_zone": "UTC"})).await.id();
    let annex_zone =
        app.post("/api/v1/zones", Some("tenant-a"), json!({"site_id": annex, "name": "Hall", "kind": "area"})).await.id();
    let annex_door = app
        .post("/api/v1/access-points", Some("tenant-a"), json!({"zone_id": annex_zone, "name": "Annex door", "kind": "door"}))
        .await
        .id();
    let operator = account(
        &app,
        "tenant-a",
        "ops@a.example",
        json!([{"role": "security_operator", "scope": {"site_id": a.site}, "valid_until": "2030-01-01T00:00:00Z"}]),
    )
    .await;
    let explain = |body: Value| app.post("/api/v1/authz/explain", Some("tenant-a"), body);

    let here = explain(
        json!({"account_id": operator, "permission": "access.door.unlock", "resource": {"access_point_id": a.access_point}}),
    )
    .await;
    let here = here.ok().clone();
    assert_eq!((here["allowed"].as_bool(), here["reason"].as_str()), (Some(true), Some("granted")));
    assert_eq!(here["role"], "security_operator");
    assert_eq!(here["scope"]["site"], a.site.as_str());
    assert!(here["assignment_id"].is_string());
    // A floor inside the building inside site 1 is in scope too.
    let floor =
        explain(json!({"account_id": operator, "permission": "access.door.unlock", "resource": {"zone_id": a.floor}})).await;
    assert_eq!(floor.ok()["allowed"], true);

    let there =
        explain(json!({"account_id": operator, "permission": "access.door.unlock", "resource": {"access_point_id": annex_door}}))
            .await;
    assert_eq!((there.ok()["allowed"].as_bool(), there.ok()["reason"].as_str()), (Some(false), Some("out_of_scope")));
    let lacking =
        explain(json!({"account_id": operator, "permission": "tenancy.site.delete", "resource": {"site_id": a.site}})).await;
    assert_eq!(lacking.ok()["reason"], "role_lacks_permission");
    let later = explain(json!({"account_id": operator, "permission": "access.door.unlock", "resource": {"site_id": a.site}, "at": "2031-01-01T00:00:00Z"})).await;
    assert_eq!(later.ok()["reason"], "outside_validity");

    explain(json!({"account_id": operator, "permission": "access.door.fly"})).await.problem(422, "validation_failed");
    let foreign = app
        .post("/api/v1/authz/explain", Some("tenant-b"), json!({"account_id": operator, "permission": "access.door.unlock"}))
        .await;
    foreign.problem(404, "not_found");
    let ambiguous = explain(
        json!({"account_id": operator, "permission": "access.door.unlock", "resource": {"site_id": a.site, "zone_id": a.floor}}),
    )
    .await;
    assert_eq!(ambiguous.problem(422, "validation_failed")["field"], "resource");
}

async fn passwords_change_and_reset_and_disabling_ends_sessions(app: TestApp) {
    app.create_tenant("acme").await;
    let id = account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    let phone = login(&app, "ops@acme.example", None).await;
    let laptop = login(&app, "ops@acme.example", None).await;
    let (phone, laptop) =
        (phone["access_token"].as_str().unwrap().to_owned(), laptop["access_token"].as_str().unwrap().to_owned());
    let change = |token: &str, body: Value| {
        app.send(app.client.post(app.url("/api/v1/auth/password")).bearer_auth(token.to_owned()).json(&body))
    };

    let wrong = change(&laptop, json!({"current_password": "not it at all", "new_password": "a brand new passphrase"})).await;
    assert_eq!(wrong.problem(422, "validation_failed")["field"], "current_password");
    let weak = change(&laptop, json!({"current_password": PASSWORD, "new_password": "short"})).await;
    assert_eq!(weak.problem(422, "validation_failed")["field"], "new_password");
    let changed = change(&laptop, json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})).await;
    assert_eq!(changed.status.as_u16(), 204, "{}", changed.text);
    as_token(&app, Method::GET, "/api/v1/people", &laptop).await.ok();
    as_token(&app, Method::GET, "/api/v1/people", &phone).await.problem(401, "unauthorized");
    let old = app
        .send(app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "ops@acme.example", "password": PASSWORD})))
        .await;
    old.problem(401, "invalid_credentials");

    // The administrator starts a reset and passes the token on; it works once.
    let reset = app.post(&format!("/api/v1/accounts/{id}/password-reset"), Some("acme"), json!({})).await;
    assert_eq!(reset.status.as_u16(), 201, "{}", reset.text);
    let token = reset.body["reset_token"].as_str().unwrap().to_owned();
    let use_reset = |token: String, password: &'static str| {
        app.send(
            app.client
                .post(app.url("/api/v1/auth/password/reset"))
                .json(&json!({"reset_token": token, "new_password": password})),
        )
    };
    use_reset(token.clone(), "short").await.problem(422, "validation_failed");
    assert_eq!(use_reset(token.clone(), "reset to something long").await.status.as_u16(), 204);
    use_reset(token.clone(), "and again something long").await.problem(401, "unauthorized");
    as_token(&app, Method::GET, "/api/v1/people", &laptop).await.problem(401, "unauthorized");
    let fresh = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": "ops@acme.example", "password": "reset to something long"})),
        )
        .await;
    let fresh = fresh.ok()["access_token"].as_str().unwrap().to_owned();

    // Disabling ends the sessions at once and refuses logins; enabling lets it back in.
    let disabled =
        app.patch(&format!("/api/v1/accounts/{id}"), Some("acme"), json!({"status": "disabled", "display_name": "Ops"})).await;
    assert_eq!(disabled.ok()["status"], "disabled");
    assert_eq!(disabled.ok()["display_name"], "Ops");
    as_token(&app, Method::GET, "/api/v1/people", &fresh).await.problem(401, "unauthorized");
    let refused = app
        .send(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": "ops@acme.example", "password": "reset to something long"})),
        )
        .await;
    refused.problem(401, "invalid_credentials");
    app.patch(&format!("/api/v1/accounts/{id}"), Some("acme"), json!({"status": "active"})).await.ok();
    app.send(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "ops@acme.example", "password": "reset to something long"})),
    )
    .await
    .ok();
    app.create_tenant("other").await;
    app.patch(&format!("/api/v1/accounts/{id}"), Some("other"), json!({"status": "disabled"})).await.problem(404, "not_found");
    let trail = app.get("/api/v1/platform/audit?target_type=account", None).await;
    assert!(!trail.text.contains("reset to something long") && !trail.text.contains(&token[4..]), "no secret in the trail");
}

async fn a_tenant_can_require_a_second_factor_for_chosen_roles(app: TestApp) {
    app.create_tenant("acme").await;
    let required =
        app.patch("/api/v1/tenants/acme", None, json!({"mfa_required_roles": ["security_operator", "tenant_admin"]})).await;
    assert_eq!(required.ok()["mfa_required_roles"], json!(["security_operator", "tenant_admin"]));
    account(&app, "acme", "ops@acme.example", json!([{"role": "security_operator"}])).await;
    account(&app, "acme", "desk@acme.example", json!([{"role": "receptionist"}])).await;
    let ops = login(&app, "ops@acme.example", None).await["access_token"].as_str().unwrap().to_owned();
    let desk = login(&app, "desk@acme.example", None).await["access_token"].as_str().unwrap().to_owned();

    as_token(&app, Method::GET, "/api/v1/people", &desk).await.ok();
    as_token(&app, Method::GET, "/api/v1/people", &ops).await.problem(403, "mfa_enrollment_required");
    // Enrolment itself (and the caller's own view) stays open.
    as_token(&app, Method::GET, "/api/v1/auth/me", &ops).await.ok();
    let enrolled = as_token(&app, Method::POST, "/api/v1/auth/mfa/totp/enroll", &ops).await;
    let secret = enrolled.ok()["secret"].as_str().unwrap().to_owned();
    let code = totp_code(&secret, chrono::Utc::now().timestamp() as u64);
    let confirmed =
        app.send(app.client.post(app.url("/api/v1/auth/mfa/totp/confirm")).bearer_auth(&ops).json(&json!({"code": code}))).await;
    confirmed.ok();
    as_token(&app, Method::GET, "/api/v1/people", &ops).await.ok();
}
