//! The integrity audit function's handler, driven by the events in
//! `events/integrity_audit/`: a run spread over several invocations by the
//! deadline, one invocation at a time, a restart, the per-check metrics
//! read back from moto's CloudWatch, and the audit chain's anchor in moto's SSM.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_config::SdkConfig;
use erasure::aws::anchor::{Anchors, ChainAnchor};
use erasure::aws::metrics::Metrics;
use erasure::container::Container;
use erasure::domain::plan::PLAN;
use erasure::jobs::integrity_audit::checks::{self, Check, IntegrityReport};
use erasure::jobs::integrity_audit::invocation::{
    self, IntegrityAuditEvent, IntegrityAuditOutcome,
};
use erasure::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use erasure::store::integrity_runs;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::seed::{SeedSpec, seed};
use sqlx::PgPool;
use uuid::Uuid;

const SCHEDULED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/integrity_audit/scheduled.json"
));
const RESTART: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/integrity_audit/restart.json"
));

fn event(json: &str) -> IntegrityAuditEvent {
    serde_json::from_str(json).unwrap()
}

/// A `keep_going` that allows `n` more steps, as a deadline would.
fn steps(n: usize) -> impl Fn() -> bool + Sync {
    let left = AtomicUsize::new(n);
    move || {
        left.try_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
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
    crate::common::insert_orphan(
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
    let container = crate::common::container(db.clone()).await;
    let metrics = Metrics::new(&container.sdk);
    let whole = checks::audit(&db, PLAN, &container.config.integrity)
        .await
        .unwrap();
    assert_eq!(whole.counts[&Check::Orphans], 1);

    // Three batches per invocation: the deadline stops each one part-way.
    let (mut invocations, mut last_step) = (0, 0);
    let report = loop {
        invocations += 1;
        match invocation::handle(
            &container,
            &metrics,
            &anchors(&container),
            &event(SCHEDULED),
            &steps(3),
        )
        .await
        .unwrap()
        {
            IntegrityAuditOutcome::Incomplete { step, run_id, .. } => {
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
            IntegrityAuditOutcome::Complete {
                report,
                invocations: counted,
                ..
            } => {
                assert_eq!(counted as usize, invocations);
                break report;
            }
            IntegrityAuditOutcome::Busy => panic!("nobody else holds the run"),
        }
    };
    assert!(invocations > 3, "{invocations}");
    // The invocation adds the anchor check, which needs AWS, to the checks.
    let mut report = report;
    assert_eq!(report.counts.remove(&Check::AuditAnchor), Some(0));
    assert_eq!(report, whole);

    let names = crate::common::metric_names(&container.sdk, invocation::FUNCTION).await;
    for check in Check::ALL {
        assert!(
            names.iter().any(|n| n == check.metric()),
            "{} missing from {names:?}",
            check.metric()
        );
    }
    assert!(names.iter().any(|n| n == "IntegrityAuditDuration"));
    let orphans =
        crate::common::metric_max(&container.sdk, invocation::FUNCTION, "IntegrityOrphans").await;
    assert!(orphans >= 1.0, "IntegrityOrphans in CloudWatch: {orphans}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn one_invocation_at_a_time_and_a_restart_starts_over(db: PgPool) {
    let container = crate::common::container(db.clone()).await;
    let metrics = Metrics::new(&container.sdk);
    // An invocation that stops at once leaves an open run.
    let paused = invocation::handle(
        &container,
        &metrics,
        &anchors(&container),
        &event(SCHEDULED),
        &steps(0),
    )
    .await
    .unwrap();
    let IntegrityAuditOutcome::Incomplete {
        run_id: first,
        step: 0,
        ..
    } = paused
    else {
        panic!("{paused:?}")
    };

    // While another invocation holds it, a second one leaves it alone.
    let held = integrity_runs::take::<checks::Progress>(&db, false)
        .await
        .unwrap()
        .expect("free");
    assert_eq!(held.id, first);
    let busy = invocation::handle(
        &container,
        &metrics,
        &anchors(&container),
        &event(SCHEDULED),
        &|| true,
    )
    .await
    .unwrap();
    assert_eq!(busy, IntegrityAuditOutcome::Busy);
    held.release().await.unwrap();

    // A restart abandons the open run and completes a new one.
    let restarted = invocation::handle(
        &container,
        &metrics,
        &anchors(&container),
        &event(RESTART),
        &|| true,
    )
    .await
    .unwrap();
    let IntegrityAuditOutcome::Complete {
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

/// Appends `n` audit rows, as the HTTP functions do.
async fn audited(db: &PgPool, n: usize) {
    let entries: Vec<AuditEntry> = (0..n)
        .map(|_| AuditEntry {
            target_id: Some(Uuid::new_v4()),
            ..AuditEntry::new(AuditAction::SoftDelete, Outcome::Success)
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    audit_log::append_many(&mut tx, &entries, &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// One whole run, through the function's handler, with its AWS clients on `sdk`.
async fn complete_run(container: &Container, sdk: &SdkConfig) -> IntegrityReport {
    let anchors = Anchors::new(sdk, &container.config.integrity.anchor_parameter);
    match invocation::handle(
        container,
        &Metrics::new(sdk),
        &anchors,
        &event(SCHEDULED),
        &|| true,
    )
    .await
    .unwrap()
    {
        IntegrityAuditOutcome::Complete { report, .. } => report,
        other => panic!("{other:?}"),
    }
}

fn anchors(container: &Container) -> Anchors {
    Anchors::new(&container.sdk, &container.config.integrity.anchor_parameter)
}

async fn head(db: &PgPool) -> ChainAnchor {
    let (seq, hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, row_hash FROM deletion_audit ORDER BY seq DESC LIMIT 1")
            .fetch_one(db)
            .await
            .unwrap();
    ChainAnchor {
        seq,
        row_hash: hex::encode(hash),
    }
}

fn anchor_finding(report: &IntegrityReport) -> String {
    assert_eq!(report.counts[&Check::AuditAnchor], 1, "{report:?}");
    let finding = report
        .findings
        .iter()
        .find(|f| f.check == Check::AuditAnchor)
        .unwrap();
    finding.detail.clone()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_anchor_follows_a_sound_chain_and_catches_a_history_rewritten_with_its_hashes(
    db: PgPool,
) {
    let container = crate::common::container(db.clone()).await;
    audited(&db, 5).await;
    let first = complete_run(&container, &container.sdk).await;
    assert_eq!(
        first.counts[&Check::AuditAnchor],
        0,
        "no anchor yet is no finding"
    );
    assert_eq!(
        anchors(&container).read().await.unwrap(),
        Some(head(&db).await)
    );

    // A sound chain moves the anchor to the new head.
    audited(&db, 3).await;
    let second = complete_run(&container, &container.sdk).await;
    assert_eq!(second.counts[&Check::AuditAnchor], 0);
    let anchor = head(&db).await;
    assert_eq!(
        anchors(&container).read().await.unwrap(),
        Some(anchor.clone())
    );

    // The database's owner edits the first row and recomputes every hash
    // after it: the chain is consistent again, and only the anchor knows.
    sqlx::raw_sql(
        "ALTER TABLE deletion_audit DISABLE TRIGGER USER;
         UPDATE deletion_audit SET reason = 'forged' WHERE seq = (SELECT min(seq) FROM deletion_audit);
         DO $$
         DECLARE r record; prev bytea;
         BEGIN
             FOR r IN SELECT seq FROM deletion_audit ORDER BY seq LOOP
                 UPDATE deletion_audit SET prev_hash = prev WHERE seq = r.seq;
                 UPDATE deletion_audit d SET row_hash = deletion_audit_row_hash(d)
                  WHERE seq = r.seq RETURNING row_hash INTO prev;
             END LOOP;
         END $$;
         ALTER TABLE deletion_audit ENABLE TRIGGER USER;",
    )
    .execute(&db)
    .await
    .unwrap();
    let third = complete_run(&container, &container.sdk).await;
    assert_eq!(
        third.counts[&Check::AuditChainBreaks],
        0,
        "the rewritten chain is consistent in itself"
    );
    let detail = anchor_finding(&third);
    assert!(detail.contains("rewritten"), "{detail}");
    assert_eq!(
        anchors(&container).read().await.unwrap(),
        Some(anchor),
        "a finding keeps the anchor where it was"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cut_log_an_anchor_that_is_not_one_and_ssm_down_are_findings(db: PgPool) {
    let container = crate::common::container(db.clone()).await;
    audited(&db, 5).await;
    complete_run(&container, &container.sdk).await;
    let anchor = anchors(&container).read().await.unwrap().unwrap();

    sqlx::query("DELETE FROM deletion_audit WHERE seq >= $1")
        .bind(anchor.seq - 1)
        .execute(&db)
        .await
        .unwrap();
    let cut = complete_run(&container, &container.sdk).await;
    assert_eq!(cut.counts[&Check::AuditChainBreaks], 0);
    let detail = anchor_finding(&cut);
    assert!(detail.contains("is gone"), "{detail}");

    aws_sdk_ssm::Client::new(&container.sdk)
        .put_parameter()
        .name(&container.config.integrity.anchor_parameter)
        .value("not an anchor")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let unreadable = complete_run(&container, &container.sdk).await;
    let detail = anchor_finding(&unreadable);
    assert!(detail.contains("does not hold an anchor"), "{detail}");

    // SSM down: the run completes, and says it could not check.
    let report = complete_run(&container, &crate::common::aws_down()).await;
    let detail = anchor_finding(&report);
    assert!(detail.contains("could not be read"), "{detail}");
}
