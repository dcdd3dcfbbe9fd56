//! The alarm responder on a real PostgreSQL, with the events of
//! `events/alarm_responder/` (direct alarm actions and SNS notifications):
//! trips, duplicates, out-of-order changes, composite and unknown alarms, a
//! person resuming; and the kill switch honoured by the purge endpoint, the
//! soft delete and the scheduled cleanup, also when it cannot be read.

use std::sync::atomic::{AtomicUsize, Ordering};

use erasure::aws::notify::Announcer;
use erasure::jobs::alarm_responder::{self, ResponderEvent, Response};
use erasure::jobs::cleanup::{self, Mode};
use erasure::store::audit_log::{self, ChainReport};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, DAVE, FRANK};
use serde_json::Value;
use sqlx::PgPool;

use crate::common::{POLICY, event, http_app, pauses, send_event};

fn responder_event(name: &str) -> ResponderEvent {
    serde_json::from_value(event("alarm_responder", name)).unwrap()
}

/// An announcer on a topic of moto's SNS, of this test only.
async fn announcer() -> Announcer {
    let sdk = crate::common::moto().await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name(crate::common::unique("erasure-alarms"))
        .send()
        .await
        .unwrap();
    Announcer::new(&sdk, topic.topic_arn().map(str::to_owned))
}

async fn respond(db: &PgPool, name: &str) -> Vec<Response> {
    alarm_responder::handle(db, &announcer().await, &responder_event(name))
        .await
        .unwrap()
}

/// The switch's audit rows: (action, actor_role, actor_name).
async fn switch_rows(db: &PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT action, actor_role, actor_name FROM deletion_audit
          WHERE action IN ('PAUSE_DELETIONS', 'RESUME_DELETIONS') ORDER BY seq",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

async fn paused_scopes(db: &PgPool) -> Vec<String> {
    erasure::store::pauses::active(db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.scope)
        .collect()
}

async fn chain_is_intact(db: &PgPool) {
    let mut conn = db.acquire().await.unwrap();
    let report = audit_log::verify_batch(&mut conn, &ChainReport::default(), 10_000)
        .await
        .unwrap();
    assert!(report.breaks.is_empty(), "{report:?}");
}

const CRITICAL_ARN: &str =
    "arn:aws:cloudwatch:us-east-1:123456789012:alarm:erasure-local-integrity-critical";

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_critical_integrity_alarm_pauses_irreversible_work_once_and_only_a_person_resumes(
    db: PgPool,
) {
    let tripped = respond(&db, "integrity-critical-alarm").await;
    assert_eq!(
        tripped,
        [Response::Paused {
            scope: "irreversible".into(),
            alarm: "erasure-local-integrity-critical".into(),
            newly: true
        }]
    );
    assert_eq!(paused_scopes(&db).await, ["irreversible"]);
    // CloudWatch and Lambda retry: the same change again changes nothing.
    assert!(matches!(
        respond(&db, "integrity-critical-alarm").await[..],
        [Response::AlreadyApplied { .. }]
    ));
    // An OK from before the ALARM, delivered after it, does not clear it.
    assert!(matches!(
        respond(&db, "integrity-critical-ok-out-of-order").await[..],
        [Response::AlreadyApplied { .. }]
    ));
    // The alarm back to OK is recorded; deletions stay paused.
    assert!(matches!(
        respond(&db, "integrity-critical-ok").await[..],
        [Response::StillPaused { .. }]
    ));
    assert_eq!(paused_scopes(&db).await, ["irreversible"]);
    let ok_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT alarm_ok_at FROM deletion_pauses WHERE scope = 'irreversible'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(ok_at.is_some());
    // A person resumes, with who and why.
    assert_eq!(
        respond(&db, "resume-irreversible").await,
        [Response::Resumed {
            scope: "irreversible".into(),
            by: "alice@ops.example".into()
        }]
    );
    assert!(paused_scopes(&db).await.is_empty());
    assert!(matches!(
        respond(&db, "resume-irreversible").await[..],
        [Response::NotPaused { .. }]
    ));
    assert_eq!(
        switch_rows(&db).await,
        [
            (
                "PAUSE_DELETIONS".into(),
                "ALARM".into(),
                CRITICAL_ARN.into()
            ),
            (
                "RESUME_DELETIONS".into(),
                "OPERATOR".into(),
                "alice@ops.example".into()
            ),
        ]
    );
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_functions_error_rate_through_sns_pauses_it_until_the_alarm_is_ok(db: PgPool) {
    assert!(matches!(
        &respond(&db, "purge-error-rate-alarm-sns").await[..],
        [Response::Paused { scope, .. }] if scope == "function:purge_user"
    ));
    assert_eq!(paused_scopes(&db).await, ["function:purge_user"]);
    assert!(matches!(
        &respond(&db, "purge-error-rate-ok-sns").await[..],
        [Response::Resumed { scope, .. }] if scope == "function:purge_user"
    ));
    assert!(paused_scopes(&db).await.is_empty());
    let actions: Vec<String> = switch_rows(&db).await.into_iter().map(|r| r.0).collect();
    assert_eq!(actions, ["PAUSE_DELETIONS", "RESUME_DELETIONS"]);
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn composite_unknown_and_paging_alarms_pause_nothing_unless_the_table_says_so(db: PgPool) {
    for name in ["composite-alarm", "unknown-alarm", "page-only-alarm"] {
        assert!(
            matches!(respond(&db, name).await[..], [Response::Ignored { .. }]),
            "{name}"
        );
    }
    assert!(paused_scopes(&db).await.is_empty());
    assert!(switch_rows(&db).await.is_empty());
    // A composite alarm is decided by its name, as any other.
    let mut composite = event("alarm_responder", "composite-alarm");
    composite["alarmData"]["alarmName"] = "erasure-local-cleanup-failures".into();
    let event: ResponderEvent = serde_json::from_value(composite).unwrap();
    let responses = alarm_responder::handle(&db, &announcer().await, &event)
        .await
        .unwrap();
    assert!(matches!(&responses[..], [Response::Paused { scope, .. }] if scope == "irreversible"));
}

#[test]
fn other_and_malformed_events_are_refused_with_what_they_are_not() {
    for (payload, says) in [
        (
            serde_json::json!({"detail-type": "Scheduled Event"}),
            "not a CloudWatch alarm event",
        ),
        (
            serde_json::json!({"source": "aws.cloudwatch", "alarmData": {}}),
            "CloudWatch alarm event, malformed",
        ),
        (
            serde_json::json!({"Records": [{"EventSource": "aws:sqs"}]}),
            "not an alarm's notification",
        ),
        (
            serde_json::json!({"resume": {"scope": "irreversible"}}),
            "resume command, malformed",
        ),
        (serde_json::json!([]), "not a CloudWatch alarm event"),
    ] {
        let err = serde_json::from_value::<ResponderEvent>(payload.clone()).unwrap_err();
        assert!(err.to_string().contains(says), "{payload}: {err}");
    }
    let mut sns = event("alarm_responder", "purge-error-rate-alarm-sns");
    let message = sns["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .replace("\"ALARM\"", "\"RED\"");
    sns["Records"][0]["Sns"]["Message"] = Value::String(message);
    let err = serde_json::from_value::<ResponderEvent>(sns).unwrap_err();
    assert!(err.to_string().contains("NewStateValue"), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unknown_scope_cannot_be_resumed(db: PgPool) {
    let event: ResponderEvent = serde_json::from_value(serde_json::json!(
        {"resume": {"scope": "everything", "by": "bob", "reason": "why not"}}
    ))
    .unwrap();
    let err = alarm_responder::handle(&db, &announcer().await, &event)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("everything"), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn while_paused_a_purge_is_503_and_audited_and_a_soft_delete_goes_on(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    respond(&db, "integrity-critical-alarm").await;

    let refused = send_event(&app, "purge_user", "admin-purges-user").await;
    assert_eq!((refused.status, refused.code()), (503, "DELETIONS_PAUSED"));
    assert_eq!(refused.headers["retry-after"], "300");
    assert_eq!(refused.body["pausedBy"], "erasure-local-integrity-critical");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM profiles WHERE id = $1)")
        .bind(DAVE)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(exists, "nothing was purged");
    let audited: Option<String> = sqlx::query_scalar(
        "SELECT error_code FROM deletion_audit WHERE action = 'PURGE' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(audited.as_deref(), Some("DELETIONS_PAUSED"));

    // Reversible work is not paused by the irreversible scope.
    let soft = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    assert_eq!(soft.status, 200, "{:?}", soft.body);

    respond(&db, "resume-irreversible").await;
    let purged = send_event(&app, "purge_user", "admin-purges-user").await;
    assert_eq!(purged.status, 200, "{:?}", purged.body);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_paused_function_refuses_its_own_mutations_only(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    respond(&db, "purge-error-rate-alarm-sns").await;
    let refused = send_event(&app, "purge_user", "admin-purges-user").await;
    assert_eq!(refused.code(), "DELETIONS_PAUSED");
    let restored = send_event(&app, "restore_user", "admin-restores-user").await;
    assert_eq!(restored.status, 200, "{:?}", restored.body);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_switch_that_cannot_be_read_pauses_irreversible_work_and_not_reversible_work(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    // The switch's table gone (a bad migration, a revoked grant): unreadable.
    sqlx::query("ALTER TABLE deletion_pauses RENAME TO deletion_pauses_gone")
        .execute(&db)
        .await
        .unwrap();
    let refused = send_event(&app, "purge_user", "admin-purges-user").await;
    assert_eq!((refused.status, refused.code()), (503, "DELETIONS_PAUSED"));
    assert!(refused.body.get("pausedBy").is_none());
    let soft = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    assert_eq!(soft.status, 200, "{:?}", soft.body);
    let report = cleanup::run(
        &db,
        &POLICY,
        &pauses(&db),
        &erasure::config::CleanupConfig::default(),
        Mode::Purge,
        &|| true,
    )
    .await
    .unwrap();
    assert_eq!(
        report.paused.as_deref(),
        Some("the deletion switch cannot be read")
    );
    assert_eq!(report.purged, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_trip_during_a_cleanup_stops_it_within_one_batch(db: PgPool) {
    cast::load(&db).await.unwrap();
    // More users past the grace period than one batch takes.
    sqlx::query("UPDATE profiles SET deleted_at = now() - interval '40 days' WHERE id <> ALL($1)")
        .bind(vec![FRANK])
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE profiles SET deleted_at = NULL WHERE type IN ('SUPER_ADMIN', 'ADMIN')")
        .execute(&db)
        .await
        .unwrap();
    let settings = erasure::config::CleanupConfig {
        batch_size: 1,
        ..erasure::config::CleanupConfig::default()
    };
    let trip = responder_event("integrity-critical-alarm");
    let (announce, checks) = (announcer().await, AtomicUsize::new(0));
    // The responder is another Lambda: its own runtime and connection.
    let options = (*db.connect_options()).clone();
    // The alarm fires once the first batch is done, before the second starts.
    let keep_going = || {
        if checks.fetch_add(1, Ordering::SeqCst) == 1 {
            let (options, trip, announce) = (options.clone(), trip.clone(), announce.clone());
            std::thread::spawn(move || {
                tokio::runtime::Runtime::new().unwrap().block_on(async {
                    let db = PgPool::connect_with(options).await.unwrap();
                    alarm_responder::handle(&db, &announce, &trip)
                        .await
                        .unwrap()
                })
            })
            .join()
            .unwrap();
        }
        true
    };
    let report = cleanup::run(
        &db,
        &POLICY,
        &pauses(&db),
        &settings,
        Mode::Purge,
        &keep_going,
    )
    .await
    .unwrap();
    assert_eq!(
        report.paused.as_deref(),
        Some("erasure-local-integrity-critical")
    );
    assert_eq!(
        report.batches, 1,
        "stopped after the batch in progress: {report:?}"
    );
    assert!(report.overdue_remaining > 1, "{report:?}");
    let metrics = cleanup::metrics(&report);
    assert!(metrics.iter().any(|m| m.name == "CleanupPaused"));
}
