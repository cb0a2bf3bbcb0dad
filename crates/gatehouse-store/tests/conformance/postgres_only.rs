//! The second wall: PostgreSQL row-level security, checked with raw SQL that has
//! no tenant filter of its own, as the role the server works as.

use sqlx::{Connection, Executor, PgConnection, Row};

use super::*;

async fn as_app_role(db: &TestDatabase) -> PgConnection {
    let DatabaseUrl::Postgres(url) = &db.url else { unreachable!("a PostgreSQL test database") };
    let mut conn = PgConnection::connect(url).await.unwrap();
    conn.execute(format!("SET ROLE {POSTGRES_APP_ROLE}").as_str()).await.unwrap();
    conn
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_from_unfiltered_queries() {
    let db = TestDatabase::postgres().await;
    let store = open(&db.url, OpenOptions::default()).await.unwrap();
    let a = tenant(&store, "tenant-a").await.id;
    let b = tenant(&store, "tenant-b").await.id;
    for t in [a, b] {
        let s = site(&store, t, "Site").await;
        let z = zone(&store, t, s.id, None, "Zone").await;
        unit(&store, t, z.id, "101").await;
        let door = NewAccessPoint { zone_id: z.id, name: name("Door"), kind: AccessPointKind::Door };
        store.access_point_create(t, &door, &change()).await.unwrap();
        store.person_create(t, &new_person("Ana", None), &change()).await.unwrap();
    }

    let mut conn = as_app_role(&db).await;
    for table in ["sites", "zones", "units", "access_points", "people"] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(a.to_string()).execute(&mut *tx).await.unwrap();
        let rows = tx.fetch_all(format!("SELECT tenant_id FROM {table}").as_str()).await.unwrap();
        let tenants: Vec<uuid::Uuid> = rows.iter().map(|r| r.get("tenant_id")).collect();
        assert_eq!(tenants, vec![a.as_uuid()], "{table}: tenant A sees only its own row");
        tx.commit().await.unwrap();

        // With no tenant set, nothing is visible at all.
        let rows = conn.fetch_all(format!("SELECT tenant_id FROM {table}").as_str()).await.unwrap();
        assert!(rows.is_empty(), "{table}: no tenant, no rows");
    }

    // Writing a row for B while A is set is refused by the policy's WITH CHECK.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(a.to_string()).execute(&mut *tx).await.unwrap();
    let smuggled = sqlx::query(
        "INSERT INTO sites (id, tenant_id, name, time_zone, created_at, updated_at) VALUES ($1, $2, 'x', 'UTC', now(), now())",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(b.as_uuid())
    .execute(&mut *tx)
    .await;
    assert!(smuggled.is_err(), "row-level security must refuse a row of another tenant");
}

#[tokio::test]
async fn the_app_role_is_not_a_superuser_and_cannot_bypass_rls() {
    let db = TestDatabase::postgres().await;
    open(&db.url, OpenOptions::default()).await.unwrap();
    let mut conn = as_app_role(&db).await;
    let row = conn.fetch_one("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").await.unwrap();
    assert!(!row.get::<bool, _>("rolsuper"));
    assert!(!row.get::<bool, _>("rolbypassrls"));
}

#[tokio::test]
async fn the_app_role_cannot_rewrite_or_erase_the_audit_trail() {
    let db = TestDatabase::postgres().await;
    let store = open(&db.url, OpenOptions::default()).await.unwrap();
    let a = tenant(&store, "tenant-a").await.id;
    site(&store, a, "Site").await;
    let mut conn = as_app_role(&db).await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(a.to_string()).execute(&mut *tx).await.unwrap();
    assert!(tx.execute("UPDATE audit_log SET actor_label = 'someone else'").await.is_err(), "no UPDATE");
    tx.rollback().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('gatehouse.tenant_id', $1, true)").bind(a.to_string()).execute(&mut *tx).await.unwrap();
    assert!(tx.execute("DELETE FROM audit_log").await.is_err(), "no DELETE");
}
