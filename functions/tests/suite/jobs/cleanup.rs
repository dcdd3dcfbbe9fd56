//! The scheduled cleanup on a real PostgreSQL: its runs, and the function's
//! handler driven by the EventBridge events in `events/cleanup/`, with its
//! metrics read back from moto's CloudWatch.

use crate::common::POLICY;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use erasure::aws::metrics::Metrics;
use erasure::config::CleanupConfig;
use erasure::domain::plan::PLAN;
use erasure::domain::{ActorId, TargetId};
use erasure::jobs::cleanup::{self, CleanupEvent, CleanupReport, Mode};
use erasure::jobs::failure::{Job, JobFailure};
use erasure::store::audit_log::{self, ChainReport};
use erasure::store::audited::Origin;
use erasure::store::deletion;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::seed::{SeedSpec, Seeded, seed};
use lambda_runtime::Diagnostic;
use sqlx::PgPool;
use uuid::Uuid;

fn settings() -> CleanupConfig {
    CleanupConfig {
        batch_size: 3,
        grace_period: Duration::from_secs(30 * 86_400),
        statement_timeout: Duration::from_secs(10),
    }
}

async fn seeded(db: &PgPool) -> Seeded {
    let spec = SeedSpec {
        users: 30,
        heavy_users: 0,
        very_heavy_users: 0,
        soft_deleted: 4,
        expired: 8,
        ..SeedSpec::default()
    };
    seed(db, &spec).await.unwrap()
}

async fn run(db: &PgPool, settings: &CleanupConfig) -> CleanupReport {
    cleanup::run(
        db,
        &POLICY,
        &crate::common::pauses(db),
        settings,
        Mode::Purge,
        &|| true,
    )
    .await
    .unwrap()
}

/// Rows referencing `users` through any plan column, plus their profiles.
async fn traces(db: &PgPool, users: &[Uuid]) -> i64 {
    traces_except(db, users, "").await
}

/// The same, leaving out one table.
async fn traces_except(db: &PgPool, users: &[Uuid], table: &str) -> i64 {
    let mut total: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles WHERE id = ANY($1)")
        .bind(users)
        .fetch_one(db)
        .await
        .unwrap();
    for entry in PLAN.iter().filter(|e| e.reference.table != table) {
        let r = entry.reference;
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = ANY($1)",
            r.table, r.column
        );
        total += sqlx::query_scalar::<_, i64>(&sql)
            .bind(users)
            .fetch_one(db)
            .await
            .unwrap();
    }
    total
}

async fn chain_is_intact(db: &PgPool) {
    let mut conn = db.acquire().await.unwrap();
    let report = audit_log::verify_batch(&mut conn, &ChainReport::default(), 100_000)
        .await
        .unwrap();
    assert_eq!(report.breaks, vec![]);
}

async fn scheduled_purges(db: &PgPool, outcome: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deletion_audit WHERE action = 'SCHEDULED_PURGE' AND outcome = $1",
    )
    .bind(outcome)
    .fetch_one(db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn exactly_the_expired_are_purged_and_the_protected_skipped(db: PgPool) {
    let s = seeded(&db).await;
    // One expired user was a SUPER_ADMIN, one still has an active order.
    let (root, busy) = (s.expired[0], s.expired[1]);
    sqlx::query("UPDATE profiles SET type = 'SUPER_ADMIN' WHERE id = $1")
        .bind(root)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE catering_requests SET status = 'ACTIVE' WHERE id = (SELECT id FROM catering_requests WHERE user_id = $1 LIMIT 1)")
        .bind(busy)
        .execute(&db)
        .await
        .unwrap();
    let purgeable: Vec<Uuid> = s.expired[2..].to_vec();
    // A dispatch belongs to its customer and its driver; purging an expired
    // driver deletes the dispatches they drove for live customers (the plan),
    // so live users are compared without dispatches.
    let live_before = traces_except(&db, &s.users, "dispatches").await;
    let within_grace_before = traces(&db, &s.soft_deleted).await;

    let report = run(&db, &settings()).await;
    assert_eq!(report.purged, purgeable.len() as u64, "{report:?}");
    assert_eq!(report.skipped.get("SUPER_ADMIN_PROTECTED"), Some(&1));
    assert_eq!(report.skipped.get("ACTIVE_ORDERS_EXIST"), Some(&1));
    let mut skipped = report.skipped_users.clone();
    skipped.sort();
    let mut expected_skipped = vec![root, busy];
    expected_skipped.sort();
    assert_eq!(skipped, expected_skipped);
    assert_eq!(report.overdue_remaining, 2);
    assert!(report.batches >= 2, "batch size 3 over 8 users: {report:?}");
    assert!(!report.stopped_early);

    assert_eq!(
        traces(&db, &purgeable).await,
        0,
        "the purged leave nothing behind"
    );
    assert_eq!(
        traces_except(&db, &s.users, "dispatches").await,
        live_before,
        "live users untouched"
    );
    assert_eq!(
        traces(&db, &s.soft_deleted).await,
        within_grace_before,
        "users within grace untouched"
    );
    assert_eq!(
        scheduled_purges(&db, "SUCCESS").await,
        purgeable.len() as i64
    );
    assert_eq!(scheduled_purges(&db, "DENIED").await, 1);
    assert_eq!(scheduled_purges(&db, "FAILED").await, 1);
    chain_is_intact(&db).await;
}

/// Each purged user's audit row records their own rows, and their erasure
/// event (in the outbox, committed with the batch) carries the same; the
/// skipped are announced nowhere.
#[sqlx::test(migrator = "MIGRATOR")]
async fn each_purged_user_is_announced_with_their_own_rows_and_the_skipped_are_not(db: PgPool) {
    let s = seeded(&db).await;
    let busy = s.expired[0];
    sqlx::query("UPDATE catering_requests SET status = 'ACTIVE' WHERE id = (SELECT id FROM catering_requests WHERE user_id = $1 LIMIT 1)")
        .bind(busy)
        .execute(&db)
        .await
        .unwrap();
    let report = run(&db, &settings()).await;
    assert_eq!(report.purged, s.expired.len() as u64 - 1);

    let announced: Vec<(Uuid, String, serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT (o.detail->'user'->>'id')::uuid, o.detail_type, o.detail, a.rows_affected
           FROM erasure_outbox o JOIN deletion_audit a ON a.seq = o.audit_seq
          ORDER BY o.audit_seq",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut users: Vec<Uuid> = announced.iter().map(|(user, ..)| *user).collect();
    users.sort();
    let mut purged: Vec<Uuid> = s.expired[1..].to_vec();
    purged.sort();
    assert_eq!(
        users, purged,
        "one event per purged user, none for the skipped"
    );
    let mut summed = std::collections::BTreeMap::<String, u64>::new();
    for (_, detail_type, detail, audited) in &announced {
        assert_eq!(detail_type, "User Purged");
        assert_eq!(detail["actor"], serde_json::json!({"kind": "schedule"}));
        assert_eq!(&detail["rowsAffected"], audited);
        assert_eq!(audited["profiles.deleted"], 1);
        for (key, n) in audited.as_object().unwrap() {
            *summed.entry(key.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    assert_eq!(
        summed, report.rows_affected,
        "the users' rows add up to the run's"
    );
    chain_is_intact(&db).await;
}

/// A held user past the grace period is left out and counted, not overdue
/// and not audited run after run; a hold past its expiry keeps nobody; once
/// the hold is lifted the next run purges the user.
#[sqlx::test(migrator = "MIGRATOR")]
async fn held_users_are_skipped_and_reported_until_the_hold_is_lifted(db: PgPool) {
    let s = seeded(&db).await;
    let (held, was_held) = (s.expired[0], s.expired[1]);
    sqlx::query(
        "INSERT INTO legal_holds (user_id, reason, placed_by, placed_at, expires_at) VALUES
           ($1, 'litigation hold', $3, now(), NULL),
           ($2, 'litigation hold', $3, now() - interval '2 days', now() - interval '1 day')",
    )
    .bind(held)
    .bind(was_held)
    .bind(s.admins[0])
    .execute(&db)
    .await
    .unwrap();
    let before = traces(&db, &[held]).await;

    for _ in 0..2 {
        let report = run(&db, &settings()).await;
        assert_eq!(report.skipped.get("LEGAL_HOLD"), Some(&1), "{report:?}");
        assert_eq!(report.overdue_remaining, 0, "a held user is not overdue");
    }
    assert_eq!(traces(&db, &[held]).await, before, "the held user is whole");
    assert_eq!(
        traces(&db, &[was_held]).await,
        0,
        "an expired hold keeps nobody"
    );
    let audited_held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deletion_audit WHERE target_id = $1")
            .bind(held)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(audited_held, 0, "no row per run for a held user");
    assert_eq!(
        scheduled_purges(&db, "SUCCESS").await,
        s.expired.len() as i64 - 1
    );

    sqlx::query("DELETE FROM legal_holds WHERE user_id = $1")
        .bind(held)
        .execute(&db)
        .await
        .unwrap();
    let report = run(&db, &settings()).await;
    assert_eq!((report.purged, report.skipped.get("LEGAL_HOLD")), (1, None));
    assert_eq!(traces(&db, &[held]).await, 0);
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_dry_run_changes_nothing(db: PgPool) {
    let s = seeded(&db).await;
    let before = traces(&db, &s.expired).await;
    let report = cleanup::run(
        &db,
        &POLICY,
        &crate::common::pauses(&db),
        &settings(),
        Mode::DryRun,
        &|| true,
    )
    .await
    .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.purged, s.expired.len() as u64);
    assert!(report.rows_affected.is_empty());
    assert_eq!(report.overdue_remaining, s.expired.len() as i64);
    assert_eq!(traces(&db, &s.expired).await, before);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_audit")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_runs_at_once_purge_each_user_once(db: PgPool) {
    let s = seeded(&db).await;
    let (a, b) = (db.clone(), db.clone());
    let one = tokio::spawn(async move {
        run(
            &a,
            &CleanupConfig {
                batch_size: 1,
                ..settings()
            },
        )
        .await
    });
    let two = tokio::spawn(async move {
        run(
            &b,
            &CleanupConfig {
                batch_size: 1,
                ..settings()
            },
        )
        .await
    });
    let (one, two) = (one.await.unwrap(), two.await.unwrap());
    assert_eq!(
        one.purged + two.purged,
        s.expired.len() as u64,
        "{one:?} {two:?}"
    );
    assert_eq!(
        scheduled_purges(&db, "SUCCESS").await,
        s.expired.len() as i64
    );
    assert_eq!(traces(&db, &s.expired).await, 0);
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn restores_racing_the_cleanup_never_leave_half_a_user(db: PgPool) {
    let s = seeded(&db).await;
    let admin = s.admins[0];
    let deps_db = db.clone();
    let expired = s.expired.clone();
    let restores = tokio::spawn(async move {
        let deps = crate::common::deps(&deps_db);
        let mut codes = Vec::new();
        for user in expired {
            let result =
                deletion::restore(&deps, ActorId(admin), TargetId(user), &Origin::default()).await;
            codes.push(result.map(|_| "RESTORED").unwrap_or_else(|e| e.code()));
        }
        codes
    });
    let report = run(
        &db,
        &CleanupConfig {
            batch_size: 1,
            ..settings()
        },
    )
    .await;
    let codes = restores.await.unwrap();
    // Past the grace period a restore is refused, or finds the user gone.
    assert!(
        codes
            .iter()
            .all(|c| matches!(*c, "GRACE_PERIOD_EXPIRED" | "USER_NOT_FOUND")),
        "{codes:?}"
    );
    assert_eq!(report.purged, s.expired.len() as u64);
    // Each user is wholly gone: no profile and no reference left.
    for user in &s.expired {
        assert_eq!(traces(&db, &[*user]).await, 0);
    }
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deadline_mid_run_leaves_the_rest_to_the_next_run(db: PgPool) {
    let s = seeded(&db).await;
    let checks = AtomicU32::new(0);
    // Two batches' worth of time, then the deadline.
    let keep_going = || checks.fetch_add(1, Ordering::SeqCst) < 2;
    let first = cleanup::run(
        &db,
        &POLICY,
        &crate::common::pauses(&db),
        &settings(),
        Mode::Purge,
        &keep_going,
    )
    .await
    .unwrap();
    assert!(first.stopped_early);
    assert_eq!(first.batches, 2);
    assert_eq!(first.purged, 6);
    assert_eq!(first.overdue_remaining, s.expired.len() as i64 - 6);

    let second = run(&db, &settings()).await;
    assert!(!second.stopped_early);
    assert_eq!(second.purged, s.expired.len() as u64 - 6);
    assert_eq!(second.overdue_remaining, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_connection_killed_mid_batch_rolls_the_batch_back_and_the_next_run_completes(db: PgPool) {
    let s = seeded(&db).await;
    // Hold a lock on a dispatch of the first expired user, so the batch waits
    // inside its transaction, then kill the waiting backend.
    let oldest: Uuid = sqlx::query_scalar(
        "SELECT id FROM profiles WHERE id = ANY($1) ORDER BY deleted_at, id LIMIT 1",
    )
    .bind(&s.expired)
    .fetch_one(&db)
    .await
    .unwrap();
    let mut holder = db.begin().await.unwrap();
    let held: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM dispatches WHERE user_id = $1 LIMIT 1 FOR UPDATE")
            .bind(oldest)
            .fetch_optional(&mut *holder)
            .await
            .unwrap();
    assert!(held.is_some(), "the seeded user has a dispatch");
    let before = traces(&db, &s.expired).await;

    let cleanup_db = db.clone();
    let running = tokio::spawn(async move {
        cleanup::run(
            &cleanup_db,
            &POLICY,
            &crate::common::pauses(&cleanup_db),
            &settings(),
            Mode::Purge,
            &|| true,
        )
        .await
    });
    let killer = db.clone();
    let killed = tokio::spawn(async move {
        for _ in 0..200 {
            let pids: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            )
            .fetch_all(&killer)
            .await
            .unwrap();
            if let Some(pid) = pids.first() {
                return sqlx::query_scalar::<_, bool>("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .fetch_one(&killer)
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    });
    assert!(
        killed.await.unwrap(),
        "the waiting batch was found and killed"
    );
    let dropped = running.await.unwrap().unwrap_err();
    // What Lambda is told: the job and the kind, no SQL or host.
    let told = Diagnostic::from(JobFailure::database(
        Job::Cleanup,
        &dropped,
        "the next run continues",
    ));
    assert_eq!(
        told.error_type, "Cleanup.DatabaseUnavailable",
        "{dropped:?}"
    );
    assert!(
        told.error_message
            .starts_with("the database could not be reached or dropped the session"),
        "{}",
        told.error_message
    );
    holder.rollback().await.unwrap();

    assert_eq!(
        traces(&db, &s.expired).await,
        before,
        "the killed batch rolled back whole"
    );
    let report = run(&db, &settings()).await;
    assert_eq!(report.purged, s.expired.len() as u64);
    assert_eq!(traces(&db, &s.expired).await, 0);
    chain_is_intact(&db).await;
}

// The function's handler.

const SCHEDULED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/cleanup/scheduled.json"
));
const DRY_RUN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/cleanup/dry-run.json"
));

async fn expired_count(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM profiles WHERE deleted_at < now() - interval '30 days'",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

#[test]
fn the_events_parse_and_say_whether_to_dry_run() {
    let scheduled: CleanupEvent = serde_json::from_str(SCHEDULED).unwrap();
    let dry: CleanupEvent = serde_json::from_str(DRY_RUN).unwrap();
    assert!(!scheduled.options.dry_run);
    assert!(dry.options.dry_run);
    let direct: CleanupEvent = serde_json::from_str(r#"{"dryRun": true}"#).unwrap();
    assert!(direct.options.dry_run);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_scheduled_event_purges_and_publishes_its_metrics(db: PgPool) {
    seed(
        &db,
        &SeedSpec {
            users: 20,
            expired: 6,
            soft_deleted: 2,
            heavy_users: 0,
            very_heavy_users: 0,
            ..SeedSpec::default()
        },
    )
    .await
    .unwrap();
    let c = crate::common::container(db.clone()).await;
    let metrics = Metrics::new(&c.sdk);
    let event: CleanupEvent = serde_json::from_str(SCHEDULED).unwrap();
    let report = cleanup::handle(&c, &metrics, &event, &|| true)
        .await
        .unwrap();
    assert_eq!(report.purged, 6);
    assert_eq!(report.overdue_remaining, 0);
    assert_eq!(expired_count(&db).await, 0);

    let names = crate::common::metric_names(&c.sdk, "cleanup").await;
    for expected in [
        "CleanupDuration",
        "CleanupStoppedEarly",
        "OverdueUsers",
        "PurgedUsers",
        "SkippedUsers",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let purged = crate::common::metric_max(&c.sdk, "cleanup", "PurgedUsers").await;
    assert!(purged >= 6.0, "PurgedUsers in CloudWatch: {purged}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_dry_run_event_changes_nothing(db: PgPool) {
    seed(
        &db,
        &SeedSpec {
            users: 10,
            expired: 3,
            soft_deleted: 1,
            heavy_users: 0,
            very_heavy_users: 0,
            ..SeedSpec::default()
        },
    )
    .await
    .unwrap();
    let c = crate::common::container(db.clone()).await;
    let event: CleanupEvent = serde_json::from_str(DRY_RUN).unwrap();
    let report = cleanup::handle(&c, &Metrics::new(&c.sdk), &event, &|| true)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.purged, 3);
    assert_eq!(expired_count(&db).await, 3);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cloudwatch_outage_does_not_undo_or_fail_the_purge(db: PgPool) {
    seed(
        &db,
        &SeedSpec {
            users: 10,
            expired: 2,
            soft_deleted: 1,
            heavy_users: 0,
            very_heavy_users: 0,
            ..SeedSpec::default()
        },
    )
    .await
    .unwrap();
    let c = crate::common::container(db.clone()).await;
    let down = Metrics::new(&crate::common::aws_down());
    assert!(
        down.publish(cleanup::FUNCTION, &cleanup::metrics(&Default::default()))
            .await
            .is_err(),
        "CloudWatch is really down"
    );
    let event: CleanupEvent = serde_json::from_str(SCHEDULED).unwrap();
    let report = cleanup::handle(&c, &down, &event, &|| true).await.unwrap();
    assert_eq!(report.purged, 2);
    assert_eq!(expired_count(&db).await, 0);
}
