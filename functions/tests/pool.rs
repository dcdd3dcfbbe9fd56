//! The pool made from a Secrets Manager secret connects as the functions'
//! least-privilege role, and the health check reads the schema through it.

mod common;

use std::str::FromStr;
use std::sync::LazyLock;

use erasure::aws::secrets::Secrets;
use erasure::config::{DatabaseSource, PoolSettings, SecretSource, SslMode};
use erasure::health;
use erasure::store::migrations::{MIGRATOR, latest_version};
use erasure::store::pool::{self, DatabaseConfigError};
use erasure_policy::{EMBEDDED_SHA256, Policy};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

static POLICY: LazyLock<Policy> = LazyLock::new(Policy::embedded);

/// The test database's host and port, from the owner's DATABASE_URL.
fn server() -> (String, u16) {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let options = PgConnectOptions::from_str(&url).unwrap();
    (options.get_host().to_owned(), options.get_port())
}

fn source(secret_id: &str) -> DatabaseSource {
    DatabaseSource::Secret(SecretSource {
        secret_id: secret_id.to_owned(),
        host: None,
        port: None,
        dbname: None,
        ssl_mode: SslMode::Disable,
    })
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_secret_backed_pool_connects_as_the_app_role_and_is_healthy(db: PgPool) {
    let sdk = common::moto().await;
    let login = format!("erasure_t_{}", uuid::Uuid::new_v4().simple());
    let password = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query(&format!(
        "CREATE ROLE {login} LOGIN PASSWORD '{password}' IN ROLE erasure_app"
    ))
    .execute(&db)
    .await
    .unwrap();
    let dbname: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&db)
        .await
        .unwrap();
    let (host, port) = server();
    let secret_id = common::unique("erasure/test/pool");
    common::put_secret(
        &sdk,
        &secret_id,
        &serde_json::json!({
            "username": login, "password": password, "host": host, "port": port, "dbname": dbname
        })
        .to_string(),
    )
    .await;

    let options = pool::connect_options(&source(&secret_id), &Secrets::new(&sdk))
        .await
        .unwrap();
    let app = pool::lazy_pool(options, &PoolSettings::default());
    let report = health::check(&app, &POLICY).await;
    app.close().await;
    sqlx::query(&format!("DROP ROLE {login}"))
        .execute(&db)
        .await
        .unwrap();

    assert!(report.healthy, "{report:?}");
    assert_eq!(report.database_role.as_deref(), Some(login.as_str()));
    assert_eq!(report.schema_version, Some(latest_version()));
    assert_eq!(report.policy_sha256, EMBEDDED_SHA256);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_health_check_reports_a_policy_that_cannot_decide(db: PgPool) {
    let altered = Policy::from_bytes(b"not a module", EMBEDDED_SHA256);
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

#[tokio::test]
async fn a_secret_without_a_host_names_the_variable_to_set() {
    let sdk = common::moto().await;
    let secret_id = common::unique("erasure/test/nohost");
    common::put_secret(
        &sdk,
        &secret_id,
        r#"{"username":"u","password":"p","dbname":"d"}"#,
    )
    .await;
    let err = pool::connect_options(&source(&secret_id), &Secrets::new(&sdk))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DatabaseConfigError::Incomplete { field: "host", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("DATABASE_HOST"), "{err}");
}

#[tokio::test]
async fn an_invalid_database_url_is_refused_without_echoing_it() {
    let sdk = common::moto().await;
    for url in [
        "mysql://root:hunter2@host/db",
        "postgres://root:hunter2@host:port/db",
    ] {
        let source = DatabaseSource::Url(url.into());
        let err = pool::connect_options(&source, &Secrets::new(&sdk))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DatabaseConfigError::InvalidUrl),
            "{url}: {err}"
        );
        assert!(!err.to_string().contains("hunter2"));
    }
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
