//! The integrity audit's checks: what the purge promises, checked from the
//! same deletion plan, plus the audit log's chain, the source app's
//! suspicious patterns and data consistency. Each check reports a count (zero
//! when clean) so that each can have its own metric and alarm.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use crate::domain::UserType;
use crate::domain::plan::{Entry, PROFILES};
use crate::jobs::cleanup;
use crate::store::audit::{self, ChainReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub count: i64,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegritySettings {
    pub grace_period: Duration,
    /// How far back purges are checked for completeness and volume counted.
    pub window: Duration,
    /// Successful deletions by one actor within the window that count as unusual.
    pub volume_threshold: i64,
    /// Audit rows verified per query.
    pub chain_batch: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityReport {
    /// Every check's count, zero when clean.
    pub counts: BTreeMap<&'static str, i64>,
    pub findings: Vec<Finding>,
}

impl IntegrityReport {
    fn record(&mut self, check: &'static str, severity: Severity, count: i64, detail: String) {
        *self.counts.entry(check).or_default() += count;
        if count > 0 {
            self.findings.push(Finding {
                check,
                severity,
                count,
                detail,
            });
        }
    }
}

const DELETIONS: &str = "('SOFT_DELETE', 'PURGE', 'SCHEDULED_PURGE')";
const PURGES: &str = "('PURGE', 'SCHEDULED_PURGE')";

async fn count(db: &PgPool, sql: &str, seconds: Option<f64>) -> Result<i64, sqlx::Error> {
    let query = sqlx::query_scalar(sql);
    let query = match seconds {
        Some(s) => query.bind(s),
        None => query,
    };
    query.fetch_one(db).await
}

/// Runs every check over `plan` and returns the report.
pub async fn audit(
    db: &PgPool,
    plan: &[Entry],
    settings: &IntegritySettings,
) -> Result<IntegrityReport, sqlx::Error> {
    let mut report = IntegrityReport::default();
    let window = Some(settings.window.as_secs_f64());

    // Orphans: rows whose user reference points at no profile (possible only
    // if a foreign key was dropped or bypassed, which is what this watches for).
    for entry in plan {
        let (t, c) = (entry.reference.table, entry.reference.column);
        let sql = format!(
            "SELECT count(*) FROM {t} x WHERE x.{c} IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM {PROFILES} p WHERE p.id = x.{c})"
        );
        let n = count(db, &sql, None).await?;
        report.record(
            "orphans",
            Severity::Critical,
            n,
            format!("{t}.{c}: {n} row(s) reference no profile"),
        );
    }

    // Completeness: a user purged within the window has left nothing behind.
    let purged = format!(
        "SELECT DISTINCT target_id FROM deletion_audit
          WHERE action IN {PURGES} AND outcome = 'SUCCESS'
            AND occurred_at > now() - make_interval(secs => $1)"
    );
    let mut incomplete = format!(
        "SELECT count(*) FROM ({purged}) d WHERE EXISTS (SELECT 1 FROM {PROFILES} p WHERE p.id = d.target_id)"
    );
    for entry in plan {
        let (t, c) = (entry.reference.table, entry.reference.column);
        incomplete.push_str(&format!(
            " OR EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = d.target_id)"
        ));
    }
    let n = count(db, &incomplete, window).await?;
    report.record(
        "incomplete_purges",
        Severity::Critical,
        n,
        format!("{n} purged user(s) still referenced"),
    );

    // Retention: soft-deleted past the grace period and still here.
    let n = cleanup::overdue(db, settings.grace_period).await?;
    report.record(
        "overdue_users",
        Severity::Warning,
        n,
        format!("{n} user(s) past the grace period"),
    );

    // The audit log: the chain, then the fields every success row must carry.
    let mut conn = db.acquire().await?;
    let mut chain = ChainReport::default();
    loop {
        let next = audit::verify_batch(&mut conn, &chain, settings.chain_batch).await?;
        let done = next.rows_checked == chain.rows_checked;
        chain = next;
        if done {
            break;
        }
    }
    let breaks = chain.breaks.len() as i64;
    report.record(
        "audit_chain_breaks",
        Severity::Critical,
        breaks,
        format!("chain broken at {:?}", chain.breaks),
    );
    let n = count(
        db,
        "SELECT count(*) FROM deletion_audit WHERE outcome = 'SUCCESS' AND (
             target_id IS NULL AND action <> 'LIST_DELETED'
          OR actor_id IS NULL AND action <> 'SCHEDULED_PURGE'
          OR policy_digest IS NULL OR policy_rule IS NULL)",
        None,
    )
    .await?;
    report.record(
        "audit_incomplete_rows",
        Severity::Warning,
        n,
        format!("{n} success row(s) lack required fields"),
    );

    // Suspicious patterns, as the source app's monitoring checks them.
    let n = count(
        db,
        &format!("SELECT count(*) FROM deletion_audit WHERE outcome = 'SUCCESS' AND action IN {DELETIONS} AND actor_id = target_id"),
        None,
    )
    .await?;
    report.record(
        "self_deletions",
        Severity::Critical,
        n,
        format!("{n} successful self-deletion(s)"),
    );
    let n = count(
        db,
        &format!("SELECT count(*) FROM deletion_audit WHERE outcome = 'SUCCESS' AND action IN {DELETIONS} AND target_role = 'SUPER_ADMIN'"),
        None,
    )
    .await?;
    report.record(
        "super_admins_deleted",
        Severity::Critical,
        n,
        format!("{n} SUPER_ADMIN deletion(s)"),
    );
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (
             SELECT actor_id FROM deletion_audit
              WHERE outcome = 'SUCCESS' AND action IN {DELETIONS} AND actor_id IS NOT NULL
                AND occurred_at > now() - make_interval(secs => $1)
              GROUP BY actor_id HAVING count(*) > $2) heavy"
    ))
    .bind(settings.window.as_secs_f64())
    .bind(settings.volume_threshold)
    .fetch_one(db)
    .await?;
    report.record(
        "unusual_deletion_volume",
        Severity::Warning,
        n,
        format!("{n} actor(s) over {} deletions", settings.volume_threshold),
    );

    // Consistency.
    let n = count(
        db,
        "SELECT count(*) FROM (SELECT lower(email) FROM profiles WHERE deleted_at IS NULL
                                GROUP BY 1 HAVING count(*) > 1) d",
        None,
    )
    .await?;
    report.record(
        "duplicate_live_emails",
        Severity::Critical,
        n,
        format!("{n} email(s) shared by live users"),
    );
    let known: Vec<&str> = UserType::ALL.iter().map(|t| t.as_str()).collect();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles WHERE NOT (type = ANY($1))")
        .bind(&known)
        .fetch_one(db)
        .await?;
    report.record(
        "unknown_user_types",
        Severity::Warning,
        n,
        format!("{n} profile(s) of an unknown type"),
    );
    Ok(report)
}
