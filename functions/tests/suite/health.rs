//! The health check: what it reports of a database it cannot use, a schema
//! behind the code and a policy that cannot decide. (Healthy through a
//! secret-backed pool: `store/pool.rs`.)

use erasure::config::PoolSettings;
use erasure::health;
use erasure::store::migrations::{MIGRATOR, latest_version};
use erasure::store::pool;
use erasure_policy::{EMBEDDED_PRECOMPILED_SHA256, Policy};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use crate::common::POLICY;

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_health_check_reports_a_policy_that_cannot_decide(db: PgPool) {
    let altered = Policy::from_precompiled(b"not a module", EMBEDDED_PRECOMPILED_SHA256);
    let report = health::check(&db, &altered).await;
    assert!(!report.healthy);
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].starts_with("policy unavailable"),
        "{report:?}"
    );
    assert!(
        report.problems[0].contains("does not match the pinned"),
        "{report:?}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_health_check_reports_a_schema_behind_the_code(db: PgPool) {
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(latest_version())
        .execute(&db)
        .await
        .unwrap();
    let report = health::check(&db, &POLICY).await;
    assert!(!report.healthy);
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].contains("the code expects"),
        "{report:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn the_health_check_reports_an_unmigrated_database(db: PgPool) {
    let report = health::check(&db, &POLICY).await;
    assert!(!report.healthy);
    assert_eq!(report.schema_version, None);
    assert!(!report.problems.is_empty());
}

#[tokio::test]
async fn an_unreachable_database_is_unhealthy_within_the_acquire_bound() {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(9)
        .username("u")
        .database("d");
    let settings = PoolSettings {
        acquire_timeout: std::time::Duration::from_millis(500),
        ..PoolSettings::default()
    };
    let report = health::check(&pool::lazy_pool(options, &settings), &POLICY).await;
    assert!(!report.healthy);
    assert!(
        report.problems[0].starts_with("database unreachable"),
        "{report:?}"
    );
}
