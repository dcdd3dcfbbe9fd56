//! Smoke check of the local stack that `make run` and `make test` bring up:
//! PostgreSQL migrated, moto serving the functions' secrets, and the functions
//! answering under `cargo lambda watch` with Lambda's JSON log format.

use std::time::Duration;

use erasure::aws::{sdk, secrets::Secrets};
use erasure::store::migrations::latest_version;
use serde_json::Value;
use sqlx::PgPool;

fn stack(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `make test`, which brings the stack up")
    })
}

#[tokio::test]
async fn postgres_is_up_and_migrated() {
    let db = PgPool::connect(&stack("DATABASE_URL")).await.unwrap();
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(version, Some(latest_version()));
}

#[tokio::test]
async fn moto_serves_the_functions_secrets() {
    let secrets = Secrets::new(&sdk::load().await);
    let creds = secrets
        .database_credentials(&stack("ERASURE_DB_SECRET"))
        .await
        .unwrap();
    assert_eq!(creds.username, stack("ERASURE_APP_DB_USER"));
    assert!(creds.host.is_some() && creds.port.is_some() && creds.dbname.is_some());
    let jwt_key = secrets.string(&stack("ERASURE_JWT_SECRET")).await.unwrap();
    assert!(
        jwt_key.len() >= 32,
        "the HS256 key is {} characters",
        jwt_key.len()
    );
}

/// Invokes `function` under `cargo lambda watch` with `event`.
async fn invoke(function: &str, event: &Value) -> Value {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        stack("ERASURE_LAMBDA_URL")
    );
    // The first invocation may wait for cargo to (re)build the function.
    let response = reqwest::Client::new()
        .post(&url)
        .json(event)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{function}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_cleanup_answers_the_scheduled_event_with_its_report() {
    let event: Value =
        serde_json::from_str(include_str!("../../events/cleanup/dry-run.json")).unwrap();
    let report = invoke("cleanup", &event).await;
    assert_eq!(report["dryRun"], true, "{report}");
    assert!(report["overdueRemaining"].is_i64(), "{report}");
    assert_eq!(report["stoppedEarly"], false, "{report}");
}

#[tokio::test]
async fn the_functions_answer_under_cargo_lambda_watch() {
    let event: Value =
        serde_json::from_str(include_str!("../../events/health_check/post-deploy.json")).unwrap();
    let report = invoke("health_check", &event).await;
    assert_eq!(report["healthy"], true, "{report}");
    assert_eq!(
        report["databaseRole"],
        stack("ERASURE_APP_DB_USER").as_str(),
        "{report}"
    );
    assert_eq!(report["schemaVersion"], latest_version(), "{report}");
    assert_eq!(
        report["policySha256"],
        erasure_policy::EMBEDDED_SHA256,
        "{report}"
    );

    // The function logged its report as a JSON object, as Lambda's JSON log format expects.
    let log = std::fs::read_to_string(stack("ERASURE_LAMBDA_LOG")).unwrap();
    let logged = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| line["fields"]["message"] == "health check" && line["level"] == "INFO");
    assert!(
        logged,
        "no JSON log line from health_check in the lambda log"
    );
}
