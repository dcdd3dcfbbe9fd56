//! The scheduled cleanup: permanently deletes the soft-deleted users whose
//! grace period has ended, through the same deletion plan as the purge.
//!
//! Batch by batch, each one transaction: take up to `batch_size` expired
//! profiles with `FOR UPDATE SKIP LOCKED` (a concurrent run, or a restore in
//! flight, holds its own rows and is passed over; users under a legal hold
//! are left out and counted), ask the policy for each (the system's
//! scheduled purge, on the hold as read after the lock), skip the users
//! active orders still hold,
//! execute the plan for the rest in a fixed number of statements, write one
//! audit row per user (with that user's own rows) and, in the same statement,
//! each purged user's erasure event into the outbox, commit. Between batches
//! it checks `keep_going` (the Lambda deadline) and leaves what is left to
//! the next run; at the end it publishes the events (`jobs::relay`).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use erasure_policy::{Action, Actor, Code, Input, Policy, Target, TargetState};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::failure::{Job, JobFailure};
use crate::aws::metrics::{Metric, Metrics};
use crate::config::CleanupConfig;
use crate::container::Container;
use crate::domain::TargetId;
use crate::domain::pauses::Scope;
use crate::domain::plan::PLAN;
use crate::jobs::event::JobEvent;
use crate::jobs::relay;
use crate::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use crate::store::legal_holds;
use crate::store::outbox::{Announcement, Erasure, EventActor, EventUser};
use crate::store::pauses::{Gate, PauseGate};
use crate::store::pool::bounded_begin;
use crate::store::profiles::{self, Expired};
use crate::store::purge::{self, Blockers, PurgeError, Purged, UserPurge};

/// The function's name, as the `Function` dimension of its metrics.
pub const FUNCTION: &str = "cleanup";

const LEGAL_HOLD: &str = Code::LegalHold.as_str();

/// Whether a run changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Purge,
    /// Report what would be purged, change nothing.
    DryRun,
}

/// What a run did, and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    pub dry_run: bool,
    /// Purged (or, in a dry run, that would have been).
    pub purged: u64,
    /// Skipped users by reason code (ACTIVE_ORDERS_EXIST, SUPER_ADMIN_PROTECTED…);
    /// LEGAL_HOLD counts every user past the grace period a hold keeps.
    pub skipped: BTreeMap<String, u64>,
    pub skipped_users: Vec<Uuid>,
    pub batches: u32,
    /// Stopped because `keep_going` said so, not because the work was done.
    pub stopped_early: bool,
    /// Stopped because deletions are paused: by which alarm (or because the
    /// switch cannot be read). Checked before every batch.
    pub paused: Option<String>,
    /// Users past the grace period still present after the run: a
    /// compliance problem if it stays above zero.
    pub overdue_remaining: i64,
    pub rows_affected: BTreeMap<String, u64>,
    pub duration_ms: u64,
}

/// Runs batches until none is left or `keep_going` returns false. A batch
/// that fails (the database drops mid-batch) rolls back whole and ends the
/// run with the error; the next run picks the same users up.
pub async fn run(
    db: &PgPool,
    policy: &Policy,
    pauses: &PauseGate,
    settings: &CleanupConfig,
    mode: Mode,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<CleanupReport, sqlx::Error> {
    let started = Instant::now();
    let dry_run = mode == Mode::DryRun;
    let mut report = CleanupReport {
        dry_run,
        ..CleanupReport::default()
    };
    // Users this run has looked at and left (skipped, or seen in a dry run):
    // not offered again, so every batch makes progress.
    let mut passed_over: Vec<Uuid> = Vec::new();
    // One connection for the whole run: the pool would test it again before
    // every batch, a round trip each.
    let mut conn = db.acquire().await?;
    loop {
        if !keep_going() {
            report.stopped_early = true;
            break;
        }
        // A dry run changes nothing, so it goes on while deletions are paused.
        if !dry_run && let Some(why) = paused(pauses).await {
            tracing::warn!(paused_by = %why, batches = report.batches, "deletions are paused; the cleanup stops");
            report.paused = Some(why);
            break;
        }
        let mut tx = conn
            .begin_with(bounded_begin(settings.statement_timeout, None))
            .await?;
        let taken = profiles::take_expired(
            &mut tx,
            settings.grace_period,
            &passed_over,
            settings.batch_size,
        )
        .await?;
        if taken.is_empty() {
            break;
        }
        report.batches += 1;
        let outcome = purge_batch(&mut tx, policy, settings, dry_run, &taken).await?;
        passed_over.extend(outcome.skipped.iter().map(|(id, _)| *id));
        for (id, code) in &outcome.skipped {
            *report.skipped.entry(code.clone()).or_default() += 1;
            report.skipped_users.push(*id);
        }
        report.purged += outcome.purged.len() as u64;
        if dry_run {
            passed_over.extend(&outcome.purged);
            tx.rollback().await?;
        } else {
            for (k, v) in outcome.rows {
                *report.rows_affected.entry(k).or_default() += v;
            }
            tx.commit().await?;
        }
    }
    drop(conn);
    report.overdue_remaining = profiles::overdue(db, settings.grace_period).await?;
    // Held users are not taken (nor audited daily: the hold is on the chain);
    // this count also covers any a hold placed mid-run kept from a batch.
    let held = legal_holds::held_past_grace(db, settings.grace_period).await?;
    if held > 0 {
        report.skipped.insert(LEGAL_HOLD.to_owned(), held as u64);
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Why the cleanup may not purge now, if it may not: the pausing alarm, or
/// a switch that cannot be read (irreversible work fails closed).
async fn paused(pauses: &PauseGate) -> Option<String> {
    match pauses.check_now(&[Scope::Irreversible]).await {
        Gate::Open => None,
        Gate::Paused(pause) => Some(pause.alarm_name),
        Gate::Unreadable(_) => Some("the deletion switch cannot be read".to_owned()),
    }
}

struct BatchOutcome {
    purged: Vec<Uuid>,
    /// (user, reason code)
    skipped: Vec<(Uuid, String)>,
    rows: BTreeMap<String, u64>,
}

async fn purge_batch(
    tx: &mut PgConnection,
    policy: &Policy,
    settings: &CleanupConfig,
    dry_run: bool,
    taken: &[Expired],
) -> Result<BatchOutcome, sqlx::Error> {
    let now = Utc::now().timestamp();
    let ids: Vec<Uuid> = taken.iter().map(|u| u.id).collect();
    let held = legal_holds::held_among(tx, &ids).await?;
    let mut audit_rows = Vec::with_capacity(taken.len());
    let mut allowed = Vec::with_capacity(taken.len());
    let mut skipped = Vec::new();
    for user in taken {
        let entry = |outcome, code: Option<&str>, rule: Option<&str>| AuditEntry {
            target_id: Some(user.id),
            target_role: Some(user.user_type.as_str().to_owned()),
            reason: Some("grace period ended".into()),
            error_code: code.map(str::to_owned),
            policy_digest: Some(policy.sha256().to_owned()),
            policy_rule: rule.map(str::to_owned),
            ..AuditEntry::new(AuditAction::ScheduledPurge, outcome)
        };
        let verdict = policy.decide(&Input {
            action: Action::ScheduledPurge,
            actor: Actor::System,
            target: Some(Target {
                id: *user.id.as_bytes(),
                role: user.user_type.into(),
                state: TargetState::SoftDeleted {
                    deleted_at: user.deleted_at.timestamp(),
                },
                held: held.contains(&user.id),
            }),
            now,
            grace_period_secs: settings.grace_period.as_secs() as i64,
        });
        if verdict.allowed() {
            allowed.push(user);
        } else {
            let outcome = if verdict.outcome.is_ok() {
                Outcome::Denied
            } else {
                Outcome::Failed
            };
            skipped.push((user.id, verdict.code().to_owned()));
            audit_rows.push(entry(outcome, Some(verdict.code()), verdict.rule()));
            continue;
        }
        audit_rows.push(entry(Outcome::Success, None, verdict.rule()));
    }

    // Users that active orders hold are skipped and reported, the rest
    // purged. The plan refuses a set with any blocked user in it (and says
    // who), so the blocked are taken out and the rest tried again; the locks
    // keep new orders out, so a second refusal needs an order's status to
    // change in between. A dry run only asks who is blocked.
    let mut purgeable: Vec<Uuid> = allowed.iter().map(|u| u.id).collect();
    let mut blocked = if dry_run {
        purge::census(tx, PLAN, &purgeable).await?.blockers
    } else {
        Blockers::new()
    };
    let mut purged = Purged::default();
    loop {
        purgeable.retain(|id| !blocked.contains_key(id));
        for (id, _) in std::mem::take(&mut blocked) {
            skipped.push((id, "ACTIVE_ORDERS_EXIST".to_owned()));
            if let Some(entry) = audit_rows.iter_mut().find(|e| e.target_id == Some(id)) {
                entry.outcome = Outcome::Failed;
                entry.error_code = Some("ACTIVE_ORDERS_EXIST".into());
            }
        }
        if dry_run || purgeable.is_empty() {
            break;
        }
        match purge::execute(tx, PLAN, &purgeable).await {
            Ok(done) => {
                purged = done;
                break;
            }
            Err(PurgeError::Blocked(late)) => blocked = late,
            Err(PurgeError::Database(e)) => return Err(e),
        }
    }
    if !dry_run {
        let events = announce(&mut audit_rows, std::mem::take(&mut purged.users), taken);
        audit_log::append_many(tx, &audit_rows, &events).await?;
    }
    Ok(BatchOutcome {
        purged: purgeable,
        skipped,
        rows: purged.rows.0,
    })
}

/// Each purged user's rows go into their audit row, and their erasure event
/// (with the rows kept unattributed) into the outbox after it. `audit_rows`
/// holds one row per taken user, in `taken`'s order (`purge_batch` writes
/// them so), so each user's row is found by position, not by a search.
fn announce(
    audit_rows: &mut [AuditEntry],
    mut purged: BTreeMap<Uuid, UserPurge>,
    taken: &[Expired],
) -> Vec<Announcement> {
    let now = Utc::now();
    debug_assert_eq!(audit_rows.len(), taken.len());
    taken
        .iter()
        .zip(audit_rows)
        .filter_map(|(user, entry)| {
            debug_assert_eq!(entry.target_id, Some(user.id));
            let purge = purged.remove(&user.id)?;
            entry.rows_affected = purge.rows.0;
            let id = EventUser {
                id: TargetId(user.id),
                user_type: user.user_type,
            };
            let mut event = Announcement::new(Erasure::Purged, id, now, EventActor::Schedule, true);
            event.unattributed = purge.unattributed;
            Some(event)
        })
        .collect()
}

/// The cleanup's options (`jobs::event` says how they arrive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupOptions {
    /// Report what would be purged without changing anything.
    #[serde(default, rename = "dryRun")]
    pub dry_run: bool,
}

pub type CleanupEvent = JobEvent<CleanupOptions>;

/// The figures a run publishes, one metric each, so each can have its alarm.
pub fn metrics(report: &CleanupReport) -> Vec<Metric> {
    vec![
        Metric::count("PurgedUsers", report.purged as f64),
        Metric::count("SkippedUsers", report.skipped.values().sum::<u64>() as f64),
        Metric::count("OverdueUsers", report.overdue_remaining as f64),
        Metric::count("CleanupStoppedEarly", u8::from(report.stopped_early)),
        Metric::count("CleanupPaused", u8::from(report.paused.is_some())),
        Metric::millis("CleanupDuration", report.duration_ms as f64),
    ]
}

/// One invocation: the run, its metrics (a CloudWatch outage is logged, not
/// fatal: the purge has happened, and the missing metric alarms on its own),
/// the purged users' erasure events, and the report.
pub async fn handle(
    container: &Container,
    metrics_client: &Metrics,
    event: &CleanupEvent,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<CleanupReport, JobFailure> {
    let mode = if event.options.dry_run {
        Mode::DryRun
    } else {
        Mode::Purge
    };
    let report = run(
        &container.db,
        &container.policy,
        &container.pauses,
        &container.config.cleanup,
        mode,
        keep_going,
    )
    .await
    .map_err(|e| {
        let committed = "the batches before it are committed; the next run continues";
        JobFailure::database(Job::Cleanup, &e, committed)
    })?;
    if !report.dry_run
        && let Err(e) = metrics_client.publish(FUNCTION, &metrics(&report)).await
    {
        tracing::error!(error = %e, "cleanup metrics not published");
    }
    // The purged users' erasure events, committed with their batches, go out
    // now rather than at the relay's next minute; what fails here waits for it.
    if !report.dry_run
        && report.purged > 0
        && let Some(bus) = &container.events
    {
        match relay::drain(&container.db, bus, keep_going).await {
            Ok(relayed) => tracing::info!(
                published = relayed.published,
                failed = relayed.failed,
                "erasure events published"
            ),
            Err(e) => tracing::warn!(error = %e, "erasure events left to the relay"),
        }
    }
    tracing::info!(
        purged = report.purged,
        skipped = ?report.skipped,
        overdue_remaining = report.overdue_remaining,
        batches = report.batches,
        stopped_early = report.stopped_early,
        paused = ?report.paused,
        dry_run = report.dry_run,
        duration_ms = report.duration_ms,
        "cleanup finished"
    );
    Ok(report)
}
