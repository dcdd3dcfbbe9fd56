//! Smoke check of the local stack that `make run` and `make test` bring up:
//! PostgreSQL migrated, moto serving the functions' secrets, and the functions
//! answering under `cargo lambda watch` with Lambda's JSON log format.

mod common;

use common::{call, event, event_for, fresh_client, invocation, invoke, json_lines, stack};
use erasure::aws::anchor::Anchors;
use erasure::aws::{sdk, secrets::Secrets};
use erasure::jobs::integrity_audit::checks::Check;
use erasure::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use erasure::store::migrations::latest_version;
use serde_json::json;
use sqlx::PgPool;

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

#[tokio::test]
async fn the_cleanup_answers_the_scheduled_event_with_its_report() {
    let event = event("cleanup", "dry-run");
    let report = invoke("cleanup", &event).await;
    assert_eq!(report["dryRun"], true, "{report}");
    assert!(report["overdueRemaining"].is_i64(), "{report}");
    assert_eq!(report["stoppedEarly"], false, "{report}");
}

/// The relay, on the stack's bus: whatever the outbox held is published and
/// nothing waits after the run.
#[tokio::test]
async fn the_relay_answers_its_scheduled_event_with_an_empty_backlog() {
    let event = event("event_relay", "scheduled");
    let report = invoke("event_relay", &event).await;
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["backlog"]["depth"], 0, "{report}");
    assert!(report["published"].is_u64(), "{report}");
}

#[tokio::test]
async fn a_misspelt_cleanup_option_fails_the_invocation_before_it_runs() {
    let (status, answer) = invocation("cleanup", &json!({"dryrun": true})).await;
    assert_eq!(
        status,
        reqwest::StatusCode::INTERNAL_SERVER_ERROR,
        "{answer}"
    );
    let message = answer["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("unknown field `dryrun`, expected `dryRun`"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_functions_answer_under_cargo_lambda_watch() {
    let event = event("health_check", "post-deploy");
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
    let logged = json_lines("ERASURE_LAMBDA_LOG")
        .iter()
        .any(|line| line["fields"]["message"] == "health check" && line["level"] == "INFO");
    assert!(
        logged,
        "no JSON log line from health_check in the lambda log"
    );
}

#[tokio::test]
async fn each_http_route_answers_end_to_end() {
    let db = PgPool::connect(&stack("DATABASE_URL")).await.unwrap();
    let (user, email) = fresh_client(&db).await;

    let (status, summary) = call(
        "soft_delete_user",
        &event_for("soft_delete_user", "admin-deletes-client", user),
    )
    .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["user"]["email"], email.as_str());

    let mut listing = event_for("list_deleted_users", "helpdesk-lists", user);
    listing["rawQueryString"] = json!(format!("search={email}"));
    let (status, page) = call("list_deleted_users", &listing).await;
    assert_eq!((status, &page["total"]), (200, &json!(1)), "{page}");
    assert_eq!(page["users"][0]["daysUntilPurge"], 30, "{page}");

    let (status, restored) = call(
        "restore_user",
        &event_for("restore_user", "admin-restores-user", user),
    )
    .await;
    assert_eq!(
        (status, &restored["action"]),
        (200, &json!("RESTORE")),
        "{restored}"
    );

    // Held, the purge is refused; lifted, it goes through.
    let (status, held) = call(
        "legal_hold",
        &event_for("legal_hold", "super-admin-places-hold-until", user),
    )
    .await;
    assert_eq!(
        (status, &held["action"]),
        (200, &json!("PLACE_LEGAL_HOLD")),
        "{held}"
    );
    let (status, refused) = call(
        "purge_user",
        &event_for("purge_user", "admin-purges-user", user),
    )
    .await;
    assert_eq!(
        (status, &refused["code"]),
        (409, &json!("LEGAL_HOLD")),
        "{refused}"
    );
    let (status, lifted) = call(
        "legal_hold",
        &event_for("legal_hold", "admin-lifts-hold", user),
    )
    .await;
    assert_eq!(
        (status, &lifted["action"]),
        (200, &json!("LIFT_LEGAL_HOLD")),
        "{lifted}"
    );

    let (status, purged) = call(
        "purge_user",
        &event_for("purge_user", "admin-purges-user", user),
    )
    .await;
    assert_eq!(
        (status, &purged["rowsAffected"]["profiles.deleted"]),
        (200, &json!(1)),
        "{purged}"
    );
    let (status, problem) = call(
        "purge_user",
        &event_for("purge_user", "admin-purges-user", user),
    )
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (404, &json!("USER_NOT_FOUND")),
        "{problem}"
    );

    // Each function left its metrics as embedded metric format lines.
    let log = json_lines("ERASURE_LAMBDA_LOG");
    for function in [
        "soft_delete_user",
        "list_deleted_users",
        "restore_user",
        "purge_user",
        "legal_hold",
    ] {
        let emitted = log
            .iter()
            .any(|doc| doc["Function"] == function && doc["Requests"].is_number());
        assert!(
            emitted,
            "no Requests metric from {function} in the lambda log"
        );
    }
}

#[tokio::test]
async fn the_integrity_audit_answers_its_scheduled_event() {
    // At least one audit row, so that the run has a head to anchor.
    let db = PgPool::connect(&stack("DATABASE_URL")).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let entry = AuditEntry {
        reason: Some("local stack smoke test".into()),
        ..AuditEntry::new(AuditAction::ListDeleted, Outcome::Denied)
    };
    audit_log::append(&mut tx, &entry).await.unwrap();
    tx.commit().await.unwrap();

    let event = event("integrity_audit", "scheduled");
    let outcome = invoke("integrity_audit", &event).await;
    assert_eq!(outcome["status"], "Complete", "{outcome}");
    let counts = outcome["report"]["counts"].as_object().unwrap();
    assert_eq!(counts.len(), Check::ALL.len(), "{outcome}");
    assert_eq!(counts["audit_anchor"], 0, "{outcome}");
    // The run left the chain's anchor in moto's SSM, at a row of the log.
    let anchor = Anchors::new(&sdk::load().await, &stack("ERASURE_AUDIT_ANCHOR"))
        .read()
        .await
        .unwrap()
        .expect("the run wrote the anchor");
    let hash: Option<String> =
        sqlx::query_scalar("SELECT encode(row_hash, 'hex') FROM deletion_audit WHERE seq = $1")
            .bind(anchor.seq)
            .fetch_optional(&db)
            .await
            .unwrap();
    assert_eq!(hash, Some(anchor.row_hash), "the anchored row, as it is");
}

#[tokio::test]
async fn the_snapshot_hook_snapshots_and_answers_codedeploy() {
    let event = event("snapshot_hook", "pre-traffic");
    let report = invoke("snapshot_hook", &event).await;
    assert_eq!(report["status"], "Succeeded", "{report}");
    assert_eq!(
        report["snapshot"], "erasure-local-predeploy-d-ab12cd34e",
        "{report}"
    );
    // The deployment's new version, read from CodeDeploy, passed its smoke test.
    assert_eq!(
        report["smokeTested"], "soft_delete_user:$LATEST",
        "{report}"
    );
    // The stack's CodeDeploy stand-in logged the answer.
    let log = json_lines("ERASURE_CODEDEPLOY_LOG");
    let answered = log.iter().any(|call| {
        call["body"]["deploymentId"] == "d-AB12CD34E" && call["body"]["status"] == "Succeeded"
    });
    assert!(
        answered,
        "no Succeeded answer in the CodeDeploy stand-in's log:\n{log:#?}"
    );
}

#[tokio::test]
async fn an_http_function_answers_the_smoke_test_with_its_health_and_changes_nothing() {
    let answer = invoke("purge_user", &json!({"erasureSmokeTest": true})).await;
    assert_eq!(answer["healthy"], true, "{answer}");
    assert_eq!(answer["databaseRole"], "erasure_fn", "{answer}");
    assert_eq!(
        answer["policySha256"],
        erasure_policy::EMBEDDED_SHA256,
        "{answer}"
    );
}

#[tokio::test]
async fn the_alarm_responder_ignores_an_alarm_that_pauses_nothing_and_refuses_other_events() {
    let event = event("alarm_responder", "page-only-alarm");
    let answer = invoke("alarm_responder", &event).await;
    assert_eq!(answer[0]["outcome"], "Ignored", "{answer}");
    let (status, refused) = invocation(
        "alarm_responder",
        &json!({"detail-type": "Scheduled Event"}),
    )
    .await;
    assert!(!status.is_success(), "{refused}");
    assert!(
        refused["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("not a CloudWatch alarm event"),
        "{refused}"
    );
}

/// A job that fails names the job and the kind as Lambda's error type, and
/// its message keeps internals out (the log has them).
#[tokio::test]
async fn a_failed_job_tells_lambda_its_kind() {
    let resume = json!({"resume": {"scope": "everything", "by": "ops", "reason": "test"}});
    let (status, failed) = invocation("alarm_responder", &resume).await;
    assert!(!status.is_success(), "{failed}");
    assert_eq!(
        failed["errorType"], "AlarmResponder.InvalidRequest",
        "{failed}"
    );
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("no scope \"everything\""),
        "{failed}"
    );
}

/// A browser's preflight through a function URL under `cargo lambda watch`
/// (started with `--disable-cors`, so the functions' own CORS answers, as the
/// HTTP API's CorsConfiguration does in production): the configured origin
/// is allowed without credentials, any other is not allowed.
#[tokio::test]
async fn cors_under_cargo_lambda_watch_answers_as_production() {
    let url = format!(
        "{}/lambda-url/list_deleted_users/api/users/deleted",
        stack("ERASURE_LAMBDA_URL")
    );
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .timeout(std::time::Duration::from_secs(300))
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.unwrap();
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"], "http://localhost:3000",
        "{headers:?}"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET"),
        "{headers:?}"
    );
    assert!(
        !headers.contains_key("access-control-allow-credentials"),
        "{headers:?}"
    );
    // What a browser acts on: without Allow-Origin it refuses the call.
    let foreign = preflight("https://evil.example").await.unwrap();
    let headers = foreign.headers();
    for refused in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
    ] {
        assert!(!headers.contains_key(refused), "{refused}: {headers:?}");
    }
}
