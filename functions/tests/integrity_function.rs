//! The integrity audit function's handler, driven by the events in
//! `events/integrity_audit/`: a run spread over several invocations by the
//! deadline, one invocation at a time, a restart, and the per-check metrics
//! read back from moto's CloudWatch.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use erasure::aws::metrics::Metrics;
use erasure::domain::plan::PLAN;
use erasure::jobs::audit_run::{self, AuditEvent, AuditOutcome};
use erasure::jobs::integrity::{self, Check, IntegritySettings};
use erasure::store::checkpoint;
use erasure::store::migrations::MIGRATOR;
use erasure::store::seed::{SeedSpec, seed};
use sqlx::PgPool;

const SCHEDULED: &str = include_str!("../../events/integrity_audit/scheduled.json");
const RESTART: &str = include_str!("../../events/integrity_audit/restart.json");

fn event(json: &str) -> AuditEvent {
    serde_json::from_str(json).unwrap()
}

/// A `keep_going` that allows `n` more steps, as a deadline would.
fn steps(n: usize) -> impl Fn() -> bool + Sync {
    let left = AtomicUsize::new(n);
    move || {
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
            .is_ok()
    }
}

async fn seeded_with_an_orphan(db: &PgPool) {
    let spec = SeedSpec {
        users: 30,
        heavy_users: 1,
        very_heavy_users: 0,
        ..SeedSpec::default()
    };
    seed(db, &spec).await.unwrap();
    common::insert_orphan(
        db,
        "INSERT INTO accounts (user_id, provider, provider_account_id) VALUES ($1, 'x', 'orphan')",
    )
    .await;
}

#[test]
fn the_events_parse_and_say_whether_to_restart() {
    assert!(!event(SCHEDULED).options.restart);
    assert!(event(RESTART).options.restart);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_run_spread_over_invocations_reports_what_one_run_does_and_publishes_each_check(
    db: PgPool,
) {
    seeded_with_an_orphan(&db).await;
    let container = common::container(db.clone()).await;
    let metrics = Metrics::new(&container.sdk);
    let settings = IntegritySettings {
        grace_period: container.config.grace_period,
        window: container.config.integrity.window,
        volume_threshold: container.config.integrity.volume_threshold,
        batch: container.config.integrity.batch,
    };
    let whole = integrity::audit(&db, PLAN, &settings).await.unwrap();
    assert_eq!(whole.counts[&Check::Orphans], 1);

    // Three batches per invocation: the deadline stops each one part-way.
    let (mut invocations, mut last_step) = (0, 0);
    let report = loop {
        invocations += 1;
        match audit_run::handle(&container, &metrics, &event(SCHEDULED), &steps(3))
            .await
            .unwrap()
        {
            AuditOutcome::Incomplete { step, run_id, .. } => {
                assert!(step >= last_step, "{step} after {last_step}");
                last_step = step;
                let (saved_step, open): (i64, bool) = sqlx::query_as(
                    "SELECT (progress->>'step')::bigint, finished_at IS NULL FROM integrity_runs WHERE id = $1",
                )
                .bind(run_id)
                .fetch_one(&db)
                .await
                .unwrap();
                assert_eq!(
                    (saved_step as usize, open),
                    (step, true),
                    "the checkpoint is saved"
                );
            }
            AuditOutcome::Complete {
                report,
                invocations: counted,
                ..
            } => {
                assert_eq!(counted as usize, invocations);
                break report;
            }
            AuditOutcome::Busy => panic!("nobody else holds the run"),
        }
    };
    assert!(invocations > 3, "{invocations}");
    assert_eq!(report, whole);

    let names = common::metric_names(&container.sdk, audit_run::FUNCTION).await;
    for check in Check::ALL {
        assert!(
            names.iter().any(|n| n == check.metric()),
            "{} missing from {names:?}",
            check.metric()
        );
    }
    assert!(names.iter().any(|n| n == "IntegrityAuditDuration"));
    let orphans = common::metric_max(&container.sdk, audit_run::FUNCTION, "IntegrityOrphans").await;
    assert!(orphans >= 1.0, "IntegrityOrphans in CloudWatch: {orphans}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn one_invocation_at_a_time_and_a_restart_starts_over(db: PgPool) {
    let container = common::container(db.clone()).await;
    let metrics = Metrics::new(&container.sdk);
    // An invocation that stops at once leaves an open run.
    let paused = audit_run::handle(&container, &metrics, &event(SCHEDULED), &steps(0))
        .await
        .unwrap();
    let AuditOutcome::Incomplete {
        run_id: first,
        step: 0,
        ..
    } = paused
    else {
        panic!("{paused:?}")
    };

    // While another invocation holds it, a second one leaves it alone.
    let held = checkpoint::take(&db, false).await.unwrap().expect("free");
    assert_eq!(held.id, first);
    let busy = audit_run::handle(&container, &metrics, &event(SCHEDULED), &|| true)
        .await
        .unwrap();
    assert_eq!(busy, AuditOutcome::Busy);
    held.release().await.unwrap();

    // A restart abandons the open run and completes a new one.
    let restarted = audit_run::handle(&container, &metrics, &event(RESTART), &|| true)
        .await
        .unwrap();
    let AuditOutcome::Complete {
        run_id,
        invocations: 1,
        report,
    } = restarted
    else {
        panic!("{restarted:?}")
    };
    assert_ne!(run_id, first);
    assert!(report.findings.is_empty(), "{report:?}");
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM integrity_runs WHERE finished_at IS NULL")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(open, 0);
}
