//! The pool made from a Secrets Manager secret connects as the functions'
//! least-privilege role, and the health check reads the schema through it.

use std::str::FromStr;

use erasure::aws::secrets::Secrets;
use erasure::config::{DatabaseSource, PoolSettings, SecretSource, SslMode};
use erasure::health;
use erasure::store::migrations::{MIGRATOR, latest_version};
use erasure::store::pool::{self, DatabaseConfigError};
use erasure_policy::EMBEDDED_SHA256;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use crate::common::POLICY;

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
    let sdk = crate::common::moto().await;
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
    let secret_id = crate::common::unique("erasure/test/pool");
    crate::common::put_secret(
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

#[tokio::test]
async fn a_secret_without_a_host_names_the_variable_to_set() {
    let sdk = crate::common::moto().await;
    let secret_id = crate::common::unique("erasure/test/nohost");
    crate::common::put_secret(
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
    let sdk = crate::common::moto().await;
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
