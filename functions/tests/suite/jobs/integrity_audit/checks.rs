//! The integrity audit's checks: a clean database reports nothing, and each
//! check fires on exactly the damage it watches for.

use std::time::Duration;

use crate::common::POLICY;
use erasure::config::{CleanupConfig, IntegrityConfig};
use erasure::domain::plan::PLAN;
use erasure::jobs::cleanup::{self, Mode};
use erasure::jobs::integrity_audit::checks::{self, Check, IntegrityReport, Severity};
use erasure::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::seed::{SeedSpec, Seeded, seed};
use sqlx::PgPool;
use uuid::Uuid;

const DAY: u64 = 86_400;

fn settings() -> IntegrityConfig {
    IntegrityConfig {
        grace_period: Duration::from_secs(30 * DAY),
        window: Duration::from_secs(30 * DAY),
        volume_threshold: 3,
        // Small, so that every batched step takes several batches.
        batch: 4,
        scan_batch: 4,
        ..IntegrityConfig::default()
    }
}

async fn seeded(db: &PgPool) -> Seeded {
    let spec = SeedSpec {
        users: 20,
        heavy_users: 1,
        very_heavy_users: 0,
        soft_deleted: 3,
        expired: 3,
        ..SeedSpec::default()
    };
    seed(db, &spec).await.unwrap()
}

/// A database after real work: the expired purged by the cleanup, whose audit
/// rows the completeness check then follows.
async fn cleaned(db: &PgPool) -> Seeded {
    let s = seeded(db).await;
    let settings = CleanupConfig {
        batch_size: 2,
        grace_period: Duration::from_secs(30 * DAY),
        statement_timeout: Duration::from_secs(10),
    };
    let report = cleanup::run(
        db,
        &POLICY,
        &crate::common::pauses(db),
        &settings,
        Mode::Purge,
        &|| true,
    )
    .await
    .unwrap();
    assert_eq!(report.purged, 3);
    s
}

async fn run(db: &PgPool) -> IntegrityReport {
    checks::audit(db, PLAN, &settings()).await.unwrap()
}

/// The checks that found something, with their counts.
fn fired(report: &IntegrityReport) -> Vec<(&'static str, i64)> {
    report
        .findings
        .iter()
        .map(|f| (f.check.as_str(), f.count))
        .collect()
}

async fn append(db: &PgPool, entry: AuditEntry) {
    let mut tx = db.begin().await.unwrap();
    audit_log::append(&mut tx, &entry).await.unwrap();
    tx.commit().await.unwrap();
}

/// A complete success row of `action` by `actor` on `target`.
fn success(
    action: AuditAction,
    actor: Option<Uuid>,
    target: Uuid,
    target_role: &str,
) -> AuditEntry {
    AuditEntry {
        actor_id: actor,
        target_id: Some(target),
        target_role: Some(target_role.into()),
        policy_digest: Some(POLICY.sha256().into()),
        policy_rule: Some("target-may-be-acted-on".into()),
        ..AuditEntry::new(action, Outcome::Success)
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_clean_database_reports_nothing(db: PgPool) {
    cleaned(&db).await;
    let report = run(&db).await;
    assert_eq!(report.findings, vec![]);
    // Every check ran and counted zero; all but the anchor, which needs AWS
    // and is the invocation's (integrity_function.rs).
    let checks: Vec<Check> = report.counts.keys().copied().collect();
    let in_the_database: Vec<Check> = Check::ALL
        .into_iter()
        .filter(|c| *c != Check::AuditAnchor)
        .collect();
    assert_eq!(checks, in_the_database);
    assert!(report.counts.values().all(|n| *n == 0));
}

/// An orphaned user with more rows than a batch: the batch that reaches
/// them takes all their rows (its range ends at their id, inclusive), so
/// each row is counted once, none skipped and none twice.
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_orphan_with_more_rows_than_a_batch_is_counted_row_by_row_once(db: PgPool) {
    cleaned(&db).await;
    let ghost = Uuid::new_v4();
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO sessions (user_id, session_token, expires_at)
         SELECT $1, 'orphan-' || n, now() FROM generate_series(1, 10) n",
    )
    .bind(ghost)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(settings().scan_batch < 10);
    let report = run(&db).await;
    assert_eq!(fired(&report), [("orphans", 10)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_orphan_is_found_per_table_and_column(db: PgPool) {
    cleaned(&db).await;
    crate::common::insert_orphan(
        &db,
        "INSERT INTO sessions (user_id, session_token, expires_at) VALUES ($1, 'orphan', now())",
    )
    .await;
    let report = run(&db).await;
    assert_eq!(fired(&report), [("orphans", 1)]);
    assert!(
        report.findings[0].detail.starts_with("sessions.user_id"),
        "{:?}",
        report.findings
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_purge_that_left_rows_behind_is_found(db: PgPool) {
    let s = cleaned(&db).await;
    // Recorded as purged, yet the user and their rows are all still there.
    append(
        &db,
        success(AuditAction::Purge, Some(s.admins[0]), s.users[0], "CLIENT"),
    )
    .await;
    assert_eq!(fired(&run(&db).await), [("incomplete_purges", 1)]);
}

/// A hold in force on a user who is gone: purged behind the policy's back.
/// A hold that had expired before its user was purged is no finding.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_user_purged_while_held_is_found(db: PgPool) {
    cleaned(&db).await;
    sqlx::raw_sql(
        "INSERT INTO profiles (id, email, type) VALUES
           ('00000000-0000-4000-8000-00000000e001', 'held@example.com', 'CLIENT'),
           ('00000000-0000-4000-8000-00000000e002', 'was-held@example.com', 'CLIENT');
         INSERT INTO legal_holds (user_id, reason, placed_by, placed_at, expires_at) VALUES
           ('00000000-0000-4000-8000-00000000e001', 'litigation', gen_random_uuid(), now(), NULL),
           ('00000000-0000-4000-8000-00000000e002', 'litigation', gen_random_uuid(),
            now() - interval '2 days', now() - interval '1 day');",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(
        fired(&run(&db).await),
        [],
        "held and present: nothing wrong"
    );
    sqlx::query("DELETE FROM profiles WHERE email LIKE '%held@example.com'")
        .execute(&db)
        .await
        .unwrap();
    let report = run(&db).await;
    assert_eq!(fired(&report), [("held_but_purged", 1)]);
    assert_eq!(report.findings[0].severity, Severity::Critical);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn users_past_the_grace_period_are_overdue(db: PgPool) {
    let s = seeded(&db).await;
    assert_eq!(
        fired(&run(&db).await),
        [("overdue_users", s.expired.len() as i64)]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_edited_audit_row_breaks_the_chain(db: PgPool) {
    cleaned(&db).await;
    sqlx::query("UPDATE deletion_audit SET reason = 'edited' WHERE seq = (SELECT min(seq) + 1 FROM deletion_audit)")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(fired(&run(&db).await), [("audit_chain_breaks", 1)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deleted_audit_row_breaks_the_chain(db: PgPool) {
    cleaned(&db).await;
    sqlx::query("DELETE FROM deletion_audit WHERE seq = (SELECT min(seq) + 1 FROM deletion_audit)")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(fired(&run(&db).await), [("audit_chain_breaks", 1)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_success_row_without_its_policy_fields_is_incomplete(db: PgPool) {
    let s = cleaned(&db).await;
    let mut entry = success(
        AuditAction::SoftDelete,
        Some(s.admins[0]),
        s.users[1],
        "CLIENT",
    );
    entry.policy_rule = None;
    append(&db, entry).await;
    assert_eq!(fired(&run(&db).await), [("audit_incomplete_rows", 1)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_successful_self_deletion_is_found(db: PgPool) {
    let s = cleaned(&db).await;
    let admin = s.admins[0];
    append(
        &db,
        success(AuditAction::SoftDelete, Some(admin), admin, "ADMIN"),
    )
    .await;
    assert_eq!(fired(&run(&db).await), [("self_deletions", 1)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deleted_super_admin_is_found(db: PgPool) {
    let s = cleaned(&db).await;
    append(
        &db,
        success(
            AuditAction::SoftDelete,
            Some(s.admins[0]),
            s.super_admin,
            "SUPER_ADMIN",
        ),
    )
    .await;
    assert_eq!(fired(&run(&db).await), [("super_admins_deleted", 1)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn one_actor_deleting_unusually_many_is_found(db: PgPool) {
    let s = cleaned(&db).await;
    // Threshold 3: the fourth soft delete in the window is unusual.
    for user in &s.users[..4] {
        append(
            &db,
            success(AuditAction::SoftDelete, Some(s.admins[1]), *user, "CLIENT"),
        )
        .await;
    }
    assert_eq!(fired(&run(&db).await), [("unusual_deletion_volume", 1)]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn duplicate_live_emails_and_unknown_types_are_found(db: PgPool) {
    cleaned(&db).await;
    // Only without the schema's guards can these exist.
    sqlx::raw_sql(
        "DROP INDEX profiles_live_email_key;
         ALTER TABLE profiles DROP CONSTRAINT profiles_type_check;
         INSERT INTO profiles (email, type) VALUES ('twin@example.com', 'CLIENT'), ('TWIN@example.com', 'CLIENT');
         INSERT INTO profiles (email, type) VALUES ('root@example.com', 'ROOT');",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(
        fired(&run(&db).await),
        [("duplicate_live_emails", 1), ("unknown_user_types", 1)]
    );
}
