//! The pool made from a Secrets Manager secret connects as the functions'
//! least-privilege role, and the health check reads the schema through it;
//! a connection the server closed while it sat in the pool costs a request
//! nothing that writes nothing.

use std::str::FromStr;
use std::time::Duration;

use erasure::aws::secrets::Secrets;
use erasure::config::{DatabaseSource, PoolSettings, SecretSource, SslMode};
use erasure::health;
use erasure::store::batched::Batched;
use erasure::store::migrations::{MIGRATOR, latest_version};
use erasure::store::pool::{self, DatabaseConfigError};
use erasure::store::{errors, pauses};
use erasure_policy::EMBEDDED_SHA256;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgPool, Row};

use crate::common::{POLICY, functions_pool, pooled_backend, terminate};

const BOUND: Duration = Duration::from_secs(5);

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

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_connection_idle_long_enough_is_pinged_and_replaced_if_dead(db: PgPool) {
    let app = functions_pool(&db, Duration::ZERO);
    let first = pooled_backend(&app).await.unwrap();
    terminate(&db, first).await;
    let second = pooled_backend(&app)
        .await
        .expect("the dead connection is replaced before it is handed out");
    assert_ne!(first, second);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_connection_used_recently_is_handed_out_without_a_ping(db: PgPool) {
    let app = functions_pool(&db, Duration::from_secs(3600));
    let first = pooled_backend(&app).await.unwrap();
    terminate(&db, first).await;
    let err = pooled_backend(&app).await.unwrap_err();
    assert!(errors::connection_lost(&err), "{err}");
    // The dead connection was closed, not pooled again.
    let second = pooled_backend(&app).await.unwrap();
    assert_ne!(first, second);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn what_writes_nothing_runs_again_when_its_connection_is_gone(db: PgPool) {
    let app = functions_pool(&db, Duration::from_secs(3600));
    let first = pooled_backend(&app).await.unwrap();
    terminate(&db, first).await;
    let reads = ["SELECT pg_backend_pid()".to_owned()];
    let (tx, read) = Batched::begin(&app, BOUND, BOUND, &reads)
        .await
        .expect("begun again on a new connection");
    let second: i32 = read[0][0].get(0);
    assert_ne!(first, second);
    tx.commit(&[]).await.unwrap();

    while app.num_idle() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    terminate(&db, second).await;
    let switch = pauses::active(&app)
        .await
        .expect("the kill switch is read on a new connection");
    assert!(switch.is_empty());
}

#[tokio::test]
async fn a_failure_to_connect_is_not_retried() {
    let (host, _) = server();
    let nowhere = PgConnectOptions::new().host(&host).port(1);
    let settings = PoolSettings {
        acquire_timeout: Duration::from_millis(500),
        ..PoolSettings::default()
    };
    let app = pool::lazy_pool(nowhere, &settings);
    let mut attempts = 0;
    let err = pool::on_live_connection(&app, |_| {
        attempts += 1;
        async { Ok(()) }
    })
    .await
    .unwrap_err();
    assert!(matches!(err, sqlx::Error::PoolTimedOut), "{err}");
    assert_eq!(attempts, 0, "nothing runs without a connection");
}
