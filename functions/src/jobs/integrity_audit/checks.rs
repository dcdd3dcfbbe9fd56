//! The integrity audit's checks: what the purge promises, checked from the
//! same deletion plan, plus the audit log's chain, the source app's
//! suspicious patterns and data consistency. Each check reports a count
//! (zero when clean) so that each has its own metric and alarm.
//!
//! At scale the audit is a sequence of steps; the big ones (orphans per
//! table, the audit chain) go in keyset-ordered batches. A run that nears
//! the Lambda deadline stops between batches with its `Progress`, which the
//! next invocation resumes (`invocation`, `store::integrity_runs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::sql::{MAX_UUID, incomplete_purges_sql, orphan_batch_end_sql, orphan_batch_sql};
use crate::aws::metrics::Metric;
use crate::config::IntegrityConfig;
use crate::domain::plan::Entry;
use crate::store::audit_log::{self, ChainReport};
use crate::store::{legal_holds, profiles};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

/// The checks, each with its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Orphans,
    IncompletePurges,
    OverdueUsers,
    AuditChainBreaks,
    AuditAnchor,
    AuditIncompleteRows,
    SelfDeletions,
    SuperAdminsDeleted,
    UnusualDeletionVolume,
    DuplicateLiveEmails,
    UnknownUserTypes,
    /// A legal hold in force on a user who is gone: purged despite it.
    HeldButPurged,
}

impl Check {
    pub const ALL: [Check; 12] = [
        Check::Orphans,
        Check::IncompletePurges,
        Check::OverdueUsers,
        Check::AuditChainBreaks,
        Check::AuditAnchor,
        Check::AuditIncompleteRows,
        Check::SelfDeletions,
        Check::SuperAdminsDeleted,
        Check::UnusualDeletionVolume,
        Check::DuplicateLiveEmails,
        Check::UnknownUserTypes,
        Check::HeldButPurged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Orphans => "orphans",
            Check::IncompletePurges => "incomplete_purges",
            Check::OverdueUsers => "overdue_users",
            Check::AuditChainBreaks => "audit_chain_breaks",
            Check::AuditAnchor => "audit_anchor",
            Check::AuditIncompleteRows => "audit_incomplete_rows",
            Check::SelfDeletions => "self_deletions",
            Check::SuperAdminsDeleted => "super_admins_deleted",
            Check::UnusualDeletionVolume => "unusual_deletion_volume",
            Check::DuplicateLiveEmails => "duplicate_live_emails",
            Check::UnknownUserTypes => "unknown_user_types",
            Check::HeldButPurged => "held_but_purged",
        }
    }

    /// The CloudWatch metric of the check (namespace `Erasure`, dimension
    /// `Function=integrity_audit`).
    pub fn metric(self) -> &'static str {
        match self {
            Check::Orphans => "IntegrityOrphans",
            Check::IncompletePurges => "IntegrityIncompletePurges",
            Check::OverdueUsers => "IntegrityOverdueUsers",
            Check::AuditChainBreaks => "IntegrityAuditChainBreaks",
            Check::AuditAnchor => "IntegrityAuditAnchor",
            Check::AuditIncompleteRows => "IntegrityAuditIncompleteRows",
            Check::SelfDeletions => "IntegritySelfDeletions",
            Check::SuperAdminsDeleted => "IntegritySuperAdminsDeleted",
            Check::UnusualDeletionVolume => "IntegrityUnusualDeletionVolume",
            Check::DuplicateLiveEmails => "IntegrityDuplicateLiveEmails",
            Check::UnknownUserTypes => "IntegrityUnknownUserTypes",
            Check::HeldButPurged => "IntegrityHeldButPurged",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Check::OverdueUsers
            | Check::AuditIncompleteRows
            | Check::UnusualDeletionVolume
            | Check::UnknownUserTypes => Severity::Warning,
            _ => Severity::Critical,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    pub count: i64,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityReport {
    /// Every check's count, zero when clean.
    pub counts: BTreeMap<Check, i64>,
    pub findings: Vec<Finding>,
}

impl IntegrityReport {
    pub fn record(&mut self, check: Check, count: i64, detail: String) {
        *self.counts.entry(check).or_default() += count;
        if count > 0 {
            self.findings.push(Finding {
                check,
                severity: check.severity(),
                count,
                detail,
            });
        }
    }

    /// One metric per check, for a finished run.
    pub fn metrics(&self) -> Vec<Metric> {
        Check::ALL
            .iter()
            .map(|c| Metric::count(c.metric(), self.counts.get(c).copied().unwrap_or(0) as f64))
            .collect()
    }
}

/// Where a run is: the next step, the keyset cursor within it, the chain
/// verified so far, and the report so far. Saved between invocations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub step: usize,
    /// The last value of the column a batched orphan scan covered.
    pub cursor: Option<Uuid>,
    pub chain: ChainReport,
    pub report: IntegrityReport,
}

/// The steps of a run, in order: one orphan scan per plan entry, then the
/// other checks.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Orphans(&'a Entry),
    IncompletePurges(&'a [Entry]),
    OverdueUsers,
    AuditChain,
    AuditIncompleteRows,
    SelfDeletions,
    SuperAdminsDeleted,
    UnusualDeletionVolume,
    DuplicateLiveEmails,
    UnknownUserTypes,
    HeldButPurged,
}

fn steps(plan: &[Entry]) -> Vec<Step<'_>> {
    let mut steps: Vec<Step> = plan.iter().map(Step::Orphans).collect();
    steps.extend([
        Step::IncompletePurges(plan),
        Step::OverdueUsers,
        Step::AuditChain,
        Step::AuditIncompleteRows,
        Step::SelfDeletions,
        Step::SuperAdminsDeleted,
        Step::UnusualDeletionVolume,
        Step::DuplicateLiveEmails,
        Step::UnknownUserTypes,
        Step::HeldButPurged,
    ]);
    steps
}

/// Runs every check to the end.
pub async fn audit(
    db: &PgPool,
    plan: &[Entry],
    settings: &IntegrityConfig,
) -> Result<IntegrityReport, sqlx::Error> {
    let (progress, _) = resume(db, plan, settings, Progress::default(), &|| true).await?;
    Ok(progress.report)
}

/// Continues a run from `progress` while `keep_going` allows; returns where
/// it got to and whether the run is complete.
pub async fn resume(
    db: &PgPool,
    plan: &[Entry],
    settings: &IntegrityConfig,
    mut progress: Progress,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<(Progress, bool), sqlx::Error> {
    let steps = steps(plan);
    while let Some(&step) = steps.get(progress.step) {
        if !keep_going() {
            return Ok((progress, false));
        }
        if advance(db, step, settings, &mut progress).await? {
            progress.step += 1;
            progress.cursor = None;
        }
    }
    Ok((progress, true))
}

/// Does one batch of `step`; true when the step is finished.
async fn advance(
    db: &PgPool,
    step: Step<'_>,
    settings: &IntegrityConfig,
    progress: &mut Progress,
) -> Result<bool, sqlx::Error> {
    let window = settings.window.as_secs_f64();
    let report = &mut progress.report;
    match step {
        Step::Orphans(entry) => {
            let (last, orphans) =
                orphan_batch(db, entry, progress.cursor, settings.scan_batch).await?;
            let (t, c) = (entry.reference.table, entry.reference.column);
            report.record(
                Check::Orphans,
                orphans,
                format!("{t}.{c}: {orphans} row(s) reference no profile"),
            );
            progress.cursor = last;
            return Ok(last.is_none());
        }
        Step::AuditChain => {
            let mut conn = db.acquire().await?;
            let next = audit_log::verify_batch(&mut conn, &progress.chain, settings.batch).await?;
            let done = next.rows_checked == progress.chain.rows_checked;
            progress.chain = next;
            if !done {
                return Ok(false);
            }
            let breaks = &progress.chain.breaks;
            report.record(
                Check::AuditChainBreaks,
                breaks.len() as i64,
                format!("chain broken at {breaks:?}"),
            );
        }
        Step::IncompletePurges(plan) => {
            let n: i64 = sqlx::query_scalar(&incomplete_purges_sql(plan))
                .bind(window)
                .fetch_one(db)
                .await?;
            report.record(
                Check::IncompletePurges,
                n,
                format!("{n} purged user(s) still referenced"),
            );
        }
        Step::OverdueUsers => {
            let n = profiles::overdue(db, settings.grace_period).await?;
            report.record(
                Check::OverdueUsers,
                n,
                format!("{n} user(s) past the grace period"),
            );
        }
        Step::AuditIncompleteRows => {
            let n = audit_log::incomplete_rows(db, window).await?;
            let detail = format!("{n} success row(s) lack required fields");
            report.record(Check::AuditIncompleteRows, n, detail);
        }
        Step::SelfDeletions => {
            let n = audit_log::self_deletions(db, window).await?;
            let detail = format!("{n} successful self-deletion(s)");
            report.record(Check::SelfDeletions, n, detail);
        }
        Step::SuperAdminsDeleted => {
            let n = audit_log::super_admins_deleted(db, window).await?;
            report.record(
                Check::SuperAdminsDeleted,
                n,
                format!("{n} SUPER_ADMIN deletion(s)"),
            );
        }
        Step::UnusualDeletionVolume => {
            let n = audit_log::unusual_volume(db, window, settings.volume_threshold).await?;
            let detail = format!("{n} actor(s) over {} deletions", settings.volume_threshold);
            report.record(Check::UnusualDeletionVolume, n, detail);
        }
        Step::DuplicateLiveEmails => {
            let n = profiles::duplicate_live_emails(db).await?;
            let detail = format!("{n} email(s) shared by live users");
            report.record(Check::DuplicateLiveEmails, n, detail);
        }
        Step::UnknownUserTypes => {
            let n = profiles::unknown_user_types(db).await?;
            let detail = format!("{n} profile(s) of an unknown type");
            report.record(Check::UnknownUserTypes, n, detail);
        }
        Step::HeldButPurged => {
            let n: i64 = sqlx::query_scalar(legal_holds::HELD_BUT_PURGED)
                .fetch_one(db)
                .await?;
            let detail = format!("{n} user(s) purged while a legal hold was in force");
            report.record(Check::HeldButPurged, n, detail);
        }
    }
    Ok(true)
}

/// One batch of an orphan scan: the next `batch` rows of the entry's table
/// after `after` in the order of its column (all the rows of the last value
/// taken), and how many of them reference no profile. The last value covered,
/// `None` when the column is done.
async fn orphan_batch(
    db: &PgPool,
    entry: &Entry,
    after: Option<Uuid>,
    batch: i64,
) -> Result<(Option<Uuid>, i64), sqlx::Error> {
    let first = after.is_none();
    let from = after.unwrap_or(Uuid::nil());
    let end: Option<Uuid> = sqlx::query_scalar(&orphan_batch_end_sql(entry, first))
        .bind(from)
        .bind(batch)
        .fetch_optional(db)
        .await?;
    let orphans: i64 = sqlx::query_scalar(&orphan_batch_sql(entry, first))
        .bind(from)
        .bind(end.unwrap_or(MAX_UUID))
        .fetch_one(db)
        .await?;
    Ok((end, orphans))
}
