//! Health, readiness and metrics.

use crate::{on_both_backends, TestApp};

on_both_backends!(health_and_readiness, metrics_count_requests_by_route_method_and_status);

async fn health_and_readiness(app: TestApp) {
    let health = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(health.ok()["status"], "ok");
    let ready = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(ready.ok()["status"], "ready");
    let backend = match app.backend {
        gatehouse_testkit::TestBackend::Sqlite => "sqlite",
        gatehouse_testkit::TestBackend::Postgres => "postgres",
    };
    assert_eq!(ready.ok()["backend"], backend);
}

async fn metrics_count_requests_by_route_method_and_status(app: TestApp) {
    app.create_tenant("acme").await;
    app.get("/api/v1/sites/01890a5d-ac96-774b-bcce-b302099a8057", Some("acme")).await;
    let metrics = app.send(app.client.get(app.url("/metrics"))).await;
    assert!(metrics.content_type().starts_with("text/plain"));
    let text = &metrics.text;
    for expected in [
        r#"gatehouse_http_requests_total{route="/api/v1/tenants",method="POST",status="201"} 1"#,
        r#"gatehouse_http_requests_total{route="/api/v1/sites/{id}",method="GET",status="404"} 1"#,
        "gatehouse_http_request_duration_seconds_bucket{",
        "gatehouse_db_pool_connections{",
        "gatehouse_build_info{",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    // Prometheus tooling and Grafana show operators each metric's description.
    let typed: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    assert!(typed.len() >= 5, "{text}");
    for name in typed {
        let help = format!("# HELP {name} ");
        assert!(text.lines().any(|line| line.starts_with(&help) && line.len() > help.len()), "{name} has no # HELP:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_with_503_when_the_database_goes_away() {
    use sqlx::{Connection, Executor};
    let app = TestApp::spawn(gatehouse_testkit::TestBackend::Postgres).await;
    app.send(app.client.get(app.url("/readyz"))).await.ok();
    let gatehouse_store::DatabaseUrl::Postgres(url) = &app.db.url else { unreachable!() };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&gatehouse_testkit::postgres_admin_url()).await.unwrap();
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
    let gone = app.send(app.client.get(app.url("/readyz"))).await;
    gone.problem(503, "unavailable");
    assert!(!gone.text.contains(&name), "no database details leak");
    let health = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(health.status.as_u16(), 200, "alive even when not ready");
}
