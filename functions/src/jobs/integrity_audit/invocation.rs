//! One invocation of the integrity audit function (scheduled, or on demand):
//! its event, its outcome, and the resumable run:
//! take the open run or start one, resume it until done or the deadline
//! nears, save where it got to, and, once a run is complete, log its report
//! and publish one metric per check.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::checks::{self, Check, IntegrityReport, Progress};
use crate::aws::anchor::{Anchors, ChainAnchor};
use crate::aws::metrics::{Metric, Metrics};
use crate::container::Container;
use crate::domain::plan::PLAN;
use crate::jobs::event::JobEvent;
use crate::jobs::failure::{Job, JobFailure};
use crate::store::audit_log::{self, ChainReport};
use crate::store::integrity_runs;

/// The function's name, as the `Function` dimension of its metrics.
pub const FUNCTION: &str = "integrity_audit";
/// Published once per completed run (its absence means no run completed).
pub const DURATION: &str = "IntegrityAuditDuration";

/// The audit's options (`jobs::event` says how they arrive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityAuditOptions {
    /// Abandon an open run and start over.
    #[serde(default)]
    pub restart: bool,
}

pub type IntegrityAuditEvent = JobEvent<IntegrityAuditOptions>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all_fields = "camelCase")]
pub enum IntegrityAuditOutcome {
    /// The run finished: the full report.
    Complete {
        run_id: i64,
        invocations: i32,
        report: IntegrityReport,
    },
    /// The deadline came first: the next invocation continues from `step`.
    Incomplete {
        run_id: i64,
        invocations: i32,
        step: usize,
        report_so_far: IntegrityReport,
    },
    /// Another invocation is working on the open run right now.
    Busy,
}

/// One invocation. `metrics` and `anchors` are built once per container, as
/// the other AWS clients are.
pub async fn handle(
    container: &Container,
    metrics: &Metrics,
    anchors: &Anchors,
    event: &IntegrityAuditEvent,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<IntegrityAuditOutcome, JobFailure> {
    audit(container, metrics, anchors, event, keep_going)
        .await
        .map_err(|e| {
            let committed =
                "the progress saved before it stands; the next invocation resumes there";
            JobFailure::database(Job::IntegrityAudit, &e, committed)
        })
}

async fn audit(
    container: &Container,
    metrics: &Metrics,
    anchors: &Anchors,
    event: &IntegrityAuditEvent,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<IntegrityAuditOutcome, sqlx::Error> {
    let started = Instant::now();
    let db = &container.db;
    let Some(mut held) = integrity_runs::take::<Progress>(db, event.options.restart).await? else {
        tracing::warn!("another invocation holds the integrity audit; leaving it to finish");
        return Ok(IntegrityAuditOutcome::Busy);
    };
    let (progress, done) = checks::resume(
        db,
        PLAN,
        &container.config.integrity,
        std::mem::take(&mut held.progress),
        keep_going,
    )
    .await?;
    integrity_runs::save(db, &held, &progress, done).await?;
    let (run_id, invocations) = (held.id, held.invocations);
    held.release().await?;
    let outcome = if done {
        let mut report = progress.report;
        check_anchor(db, anchors, &progress.chain, &mut report).await?;
        tracing::info!(run_id, findings = ?report.findings, counts = ?report.counts, "integrity audit complete");
        let mut figures = report.metrics();
        figures.push(Metric::millis(
            DURATION,
            started.elapsed().as_millis() as f64,
        ));
        // A CloudWatch outage is logged, not fatal: the report is saved and
        // returned, and the missing metrics alarm on their own.
        if let Err(e) = metrics.publish(FUNCTION, &figures).await {
            tracing::error!(error = %e, "could not publish the integrity metrics");
        }
        IntegrityAuditOutcome::Complete {
            run_id,
            invocations,
            report,
        }
    } else {
        tracing::info!(
            run_id,
            step = progress.step,
            "integrity audit paused before the deadline"
        );
        IntegrityAuditOutcome::Incomplete {
            run_id,
            invocations,
            step: progress.step,
            report_so_far: progress.report,
        }
    };
    Ok(outcome)
}

/// Compares the chain with the anchor kept outside the database (a finding
/// when the anchored row is gone or hashes differently, or when the anchor
/// cannot be read), then moves the anchor to the head this run verified, if
/// the chain is whole. A broken chain keeps the last good anchor.
async fn check_anchor(
    db: &PgPool,
    anchors: &Anchors,
    chain: &ChainReport,
    report: &mut IntegrityReport,
) -> Result<(), sqlx::Error> {
    let problem = match anchors.read().await {
        Err(e) => Some(e.to_string()),
        Ok(None) => None,
        Ok(Some(anchor)) => match audit_log::row_hash_at(db, anchor.seq).await? {
            Some(hash) if hex::encode(&hash) == anchor.row_hash => None,
            Some(_) => Some(format!(
                "row {} no longer has the hash the anchor recorded: the log up to it was rewritten",
                anchor.seq
            )),
            None => Some(format!(
                "row {}, which the anchor recorded, is gone: the log was cut",
                anchor.seq
            )),
        },
    };
    let sound = problem.is_none() && chain.breaks.is_empty();
    report.record(
        Check::AuditAnchor,
        i64::from(problem.is_some()),
        problem.unwrap_or_default(),
    );
    if let (true, Some(seq), Some(hash)) = (sound, chain.last_seq, &chain.last_hash) {
        let head = ChainAnchor {
            seq,
            row_hash: hex::encode(hash),
        };
        if let Err(e) = anchors.write(&head).await {
            report.record(Check::AuditAnchor, 1, e.to_string());
        }
    }
    Ok(())
}
