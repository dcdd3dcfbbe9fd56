//! Soft delete, restore, purge, and placing or lifting a legal hold on one
//! user: the flow of one request, read top to bottom in `in_transaction`.
//!
//! One transaction, bounded in time, in two round trips for everything but
//! a purge (`store::batched`). The first: BEGIN; the actor read
//! (FOR SHARE; the role comes from the database, never from a token); the
//! target locked (FOR UPDATE); then, in statements of their own so that they
//! see what committed while the locks were awaited, whether a legal hold is
//! in force on the target and (for a deletion) what its rows hold. Between the two the policy is asked whether the actor may attempt the
//! action at all (before anything about the target counts), then whether on
//! the locked facts, so a concurrent promotion, restore or deletion cannot
//! slip between the check and the act; active orders block. The second: the
//! act, the audit row, COMMIT. A purge runs the plan's statements between
//! the two. A refusal or failure rolls back and is audited on its own.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use erasure_policy::{Action, Input, Target, TargetState};
use serde::Serialize;
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::audit_log::{self, AuditAction, AuditEntry, Outcome};
use super::audited::{Attempt, Deps, Origin, actor_from, ask, record_refusal};
use super::batched::{Batched, Results};
use super::errors::RequestError;
use super::legal_holds::{self, LegalHold};
use super::outbox::{self, Announcement, Erasure, EventActor, EventUser};
use super::pauses::Gate;
use super::profiles::{self, Lock, Profile};
use super::purge::{self, Census, PurgeError};
use super::{inline, sessions};
use crate::domain::pauses::scopes;
use crate::domain::plan::PLAN;
use crate::domain::{ActorId, TargetId, UserType, functions};

/// The success summary, in the source app's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub user: SummaryUser,
    pub action: &'static str,
    pub at: DateTime<Utc>,
    pub by: ActorId,
    pub reason: Option<String>,
    pub rows_affected: BTreeMap<String, u64>,
    pub duration_ms: u64,
    /// The hold a placement left in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<LegalHold>,
    /// The erasure event it committed to the outbox, to publish now.
    #[serde(skip)]
    pub event: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryUser {
    pub id: TargetId,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: UserType,
}

/// The operations of this module: one user, acted on by one admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    SoftDelete,
    Restore,
    Purge,
    /// Place (or replace) a legal hold, until this time or until lifted.
    PlaceLegalHold {
        expires_at: Option<DateTime<Utc>>,
    },
    LiftLegalHold,
}

impl Operation {
    fn action(self) -> Action {
        match self {
            Operation::SoftDelete => Action::SoftDelete,
            Operation::Restore => Action::Restore,
            Operation::Purge => Action::Purge,
            Operation::PlaceLegalHold { .. } => Action::PlaceLegalHold,
            Operation::LiftLegalHold => Action::LiftLegalHold,
        }
    }

    /// The function that serves it: its pauses apply.
    fn function(self) -> &'static str {
        match self {
            Operation::SoftDelete => functions::SOFT_DELETE_USER,
            Operation::Restore => functions::RESTORE_USER,
            Operation::Purge => functions::PURGE_USER,
            Operation::PlaceLegalHold { .. } | Operation::LiftLegalHold => functions::LEGAL_HOLD,
        }
    }

    /// The erasure event it announces, if it announces one.
    fn erasure(self) -> Option<Erasure> {
        match self {
            Operation::SoftDelete => Some(Erasure::SoftDeleted),
            Operation::Restore => Some(Erasure::Restored),
            Operation::Purge => Some(Erasure::Purged),
            Operation::PlaceLegalHold { .. } | Operation::LiftLegalHold => None,
        }
    }

    fn irreversible(self) -> bool {
        self == Operation::Purge
    }

    fn audited_as(self) -> AuditAction {
        match self {
            Operation::SoftDelete => AuditAction::SoftDelete,
            Operation::Restore => AuditAction::Restore,
            Operation::Purge => AuditAction::Purge,
            Operation::PlaceLegalHold { .. } => AuditAction::PlaceLegalHold,
            Operation::LiftLegalHold => AuditAction::LiftLegalHold,
        }
    }

    /// Whether the first round trip counts the target's rows for the plan.
    fn counts_rows(self) -> bool {
        matches!(self, Operation::SoftDelete | Operation::Purge)
    }
}

/// Attempts for a transaction that hits a deadlock or serialization failure.
const ATTEMPTS: u32 = 3;

pub async fn soft_delete(
    deps: &Deps<'_>,
    actor: ActorId,
    target: TargetId,
    reason: Option<String>,
    origin: &Origin,
) -> Result<Summary, RequestError> {
    run(deps, Operation::SoftDelete, actor, target, reason, origin).await
}

pub async fn restore(
    deps: &Deps<'_>,
    actor: ActorId,
    target: TargetId,
    origin: &Origin,
) -> Result<Summary, RequestError> {
    run(deps, Operation::Restore, actor, target, None, origin).await
}

pub async fn purge(
    deps: &Deps<'_>,
    actor: ActorId,
    target: TargetId,
    reason: String,
    origin: &Origin,
) -> Result<Summary, RequestError> {
    run(deps, Operation::Purge, actor, target, Some(reason), origin).await
}

/// Places a hold on `target` (or replaces the one there) until `expires_at`,
/// or until lifted.
pub async fn place_legal_hold(
    deps: &Deps<'_>,
    actor: ActorId,
    target: TargetId,
    reason: String,
    expires_at: Option<DateTime<Utc>>,
    origin: &Origin,
) -> Result<Summary, RequestError> {
    let operation = Operation::PlaceLegalHold { expires_at };
    run(deps, operation, actor, target, Some(reason), origin).await
}

pub async fn lift_legal_hold(
    deps: &Deps<'_>,
    actor: ActorId,
    target: TargetId,
    reason: Option<String>,
    origin: &Origin,
) -> Result<Summary, RequestError> {
    run(
        deps,
        Operation::LiftLegalHold,
        actor,
        target,
        reason,
        origin,
    )
    .await
}

async fn run(
    deps: &Deps<'_>,
    operation: Operation,
    actor: ActorId,
    target: TargetId,
    reason: Option<String>,
    origin: &Origin,
) -> Result<Summary, RequestError> {
    let mut attempt = Attempt::new(
        operation.audited_as(),
        actor,
        Some(target),
        reason.clone(),
        origin,
        deps.policy,
    );
    if let Some(refusal) = paused(deps, operation).await {
        record_refusal(deps.db, &attempt, &refusal).await;
        return Err(refusal);
    }
    let mut tries = 0;
    let result = loop {
        tries += 1;
        let flow = in_transaction(deps, operation, actor, target, reason.clone(), &mut attempt);
        match tokio::time::timeout(deps.settings.transaction_timeout, flow).await {
            // A deadlock victim rolled back whole; after a pause it may win.
            Ok(Err(RequestError::Busy(e))) if tries < ATTEMPTS => {
                tracing::warn!(error = %e, tries, "retrying after a deadlock or serialization failure");
                tokio::time::sleep(Duration::from_millis(25 << tries)).await;
            }
            Ok(result) => break result,
            // Dropping the flow drops its transaction, which rolls back.
            Err(_) => break Err(RequestError::Timeout),
        }
    };
    if let Err(e) = &result {
        record_refusal(deps.db, &attempt, e).await;
    }
    result
}

/// Whether the kill switch stops the operation. A switch that cannot be
/// read stops irreversible work and lets reversible work go on.
async fn paused(deps: &Deps<'_>, operation: Operation) -> Option<RequestError> {
    let scopes = scopes(operation.function(), operation.irreversible());
    match deps.pauses.check(&scopes).await {
        Gate::Open => None,
        Gate::Paused(pause) => Some(RequestError::Paused {
            alarm: pause.alarm_name,
            since: pause.paused_at,
        }),
        Gate::Unreadable(_) if operation.irreversible() => Some(RequestError::PauseUnknown),
        Gate::Unreadable(e) => {
            tracing::warn!(error = %e, ?operation, "the deletion switch cannot be read; going on, the operation is reversible");
            None
        }
    }
}

async fn in_transaction(
    deps: &Deps<'_>,
    operation: Operation,
    actor_id: ActorId,
    target_id: TargetId,
    reason: Option<String>,
    attempt: &mut Attempt,
) -> Result<Summary, RequestError> {
    // The first round trip: BEGIN, the actor and the target locked, and
    // (after both locks, so that it sees what committed meanwhile) what
    // their rows hold.
    let mut reads = vec![
        profiles::read_inline(actor_id.0, Lock::Share),
        profiles::read_inline(target_id.0, Lock::Update),
        legal_holds::in_force_inline(target_id.0),
    ];
    if operation.counts_rows() {
        reads.push(purge::census_inline(PLAN, &[target_id.0]));
    }
    let bounds = &deps.settings;
    let (mut tx, read) = Batched::begin(
        deps.db,
        bounds.transaction_timeout,
        bounds.lock_timeout,
        &reads,
    )
    .await?;
    let now = Utc::now();
    let decided = async {
        let (target, census) = decide(deps, operation, actor_id, target_id, now, &read, attempt)?;
        let asked = Asked {
            operation,
            actor: actor_id,
            target: target_id,
            target_type: target.user_type,
            reason: &reason,
            now,
        };
        let writes = act(&mut tx, &asked, census, attempt).await?;
        Ok::<_, RequestError>((target, writes))
    }
    .await;
    let (target, writes) = match decided {
        Ok(decided) => decided,
        Err(e) => {
            tx.rollback().await;
            return Err(e);
        }
    };
    // The last round trip: the act, the audit row and COMMIT.
    let written = tx.commit(&[writes.statement]).await?;
    let mut rows = attempt.entry.rows_affected.clone();
    if let Some(row) = written.first().and_then(|rows| rows.first()) {
        for (i, key) in writes.counted.iter().enumerate() {
            rows.insert((*key).to_owned(), row.try_get::<i64, _>(i)? as u64);
        }
    }
    Ok(Summary {
        user: SummaryUser {
            id: target_id,
            email: target.email,
            user_type: target.user_type,
        },
        action: operation.audited_as().as_str(),
        at: now,
        by: actor_id,
        reason,
        rows_affected: rows,
        duration_ms: attempt.elapsed_ms(),
        legal_hold: writes.legal_hold,
        event: writes.event,
    })
}

/// The policy's verdicts on the rows the first round trip read: may the
/// actor attempt the action at all (before anything about the target counts),
/// then may they do it to this target as it is now.
fn decide(
    deps: &Deps<'_>,
    operation: Operation,
    actor_id: ActorId,
    target_id: TargetId,
    now: DateTime<Utc>,
    read: &Results,
    attempt: &mut Attempt,
) -> Result<(Profile, Option<Census>), RequestError> {
    let action = operation.action();
    let profile = |i: usize| -> Result<Option<Profile>, sqlx::Error> {
        read[i].first().map(Profile::from_row).transpose()
    };
    let actor = actor_from(profile(0)?, actor_id, attempt)?;
    ask(deps.policy.may_attempt(action, actor), attempt)?;

    let target = profile(1)?.ok_or(RequestError::NotFound)?;
    attempt.entry.target_role = Some(target.user_type.as_str().to_owned());
    let held = match read[2].first() {
        Some(row) => row.try_get::<bool, _>(0)?,
        None => false,
    };
    let input = Input {
        action,
        actor,
        target: Some(Target {
            id: *target_id.0.as_bytes(),
            role: target.user_type.into(),
            state: match target.deleted_at {
                None => TargetState::Active,
                Some(at) => TargetState::SoftDeleted {
                    deleted_at: at.timestamp(),
                },
            },
            held,
        }),
        now: now.timestamp(),
        grace_period_secs: deps.settings.grace_period.as_secs() as i64,
    };
    ask(deps.policy.decide(&input), attempt)?;
    let census = read
        .get(3)
        .map(|rows| purge::census_of(PLAN, rows))
        .transpose()?;
    Ok((target, census))
}

/// What was asked, once the policy allowed it.
struct Asked<'a> {
    operation: Operation,
    actor: ActorId,
    target: TargetId,
    target_type: UserType,
    reason: &'a Option<String>,
    now: DateTime<Utc>,
}

/// What the last batch writes.
struct Writes {
    /// The rows_affected keys its one row counts, in order.
    counted: Vec<&'static str>,
    statement: String,
    /// The hold a placement leaves.
    legal_hold: Option<LegalHold>,
    /// The erasure event it puts in the outbox.
    event: Option<Uuid>,
}

/// What the operation writes: a purge runs the plan's statements now; the
/// last batch's statement (returned, with the rows_affected keys it counts)
/// does the rest and appends the audit row.
async fn act(
    tx: &mut Batched,
    asked: &Asked<'_>,
    census: Option<Census>,
    attempt: &mut Attempt,
) -> Result<Writes, RequestError> {
    let Asked {
        operation,
        actor,
        target,
        target_type,
        reason,
        now,
    } = *asked;
    let census = census.unwrap_or_default();
    let mut legal_hold = None;
    let mut announcement = operation.erasure().map(|erasure| {
        let user = EventUser {
            id: target,
            user_type: target_type,
        };
        let by = EventActor::User { id: actor };
        Announcement::new(erasure, user, now, by, reason.is_some())
    });
    let acts = match operation {
        Operation::SoftDelete => {
            refuse_active_orders(&census.blockers, target.0)?;
            vec![
                (
                    "profiles.soft_deleted",
                    profiles::soft_delete(actor.0, target.0, reason.as_deref()),
                ),
                ("sessions.deleted", sessions::revoke_all(target.0)),
            ]
        }
        Operation::Restore => vec![("profiles.restored", profiles::restore(target.0))],
        Operation::Purge => {
            match purge::execute_counted(tx, PLAN, &[target.0], census).await {
                Ok(mut purged) => {
                    let purge = purged.users.remove(&target.0).unwrap_or_default();
                    if let Some(event) = &mut announcement {
                        event.unattributed = purge.unattributed;
                    }
                    attempt.entry.rows_affected = purge.rows.0;
                }
                Err(PurgeError::Blocked(blocked)) => return Err(active_orders(&blocked, target.0)),
                Err(PurgeError::Database(e)) => return Err(e.into()),
            }
            Vec::new()
        }
        Operation::PlaceLegalHold { expires_at } => {
            let hold = LegalHold {
                reason: reason.clone().unwrap_or_default(),
                placed_by: actor.0,
                placed_at: now,
                expires_at,
            };
            let placed = legal_holds::place(target.0, &hold);
            legal_hold = Some(hold);
            vec![("legal_holds.placed", placed)]
        }
        Operation::LiftLegalHold => vec![("legal_holds.lifted", legal_holds::lift(target.0))],
    };
    let entry = attempt.record(Outcome::Success, None);
    Ok(Writes {
        counted: acts.iter().map(|(key, _)| *key).collect(),
        statement: acts_then_audit(&acts, &entry, announcement.as_ref()),
        legal_hold,
        event: announcement.map(|a| a.event_id),
    })
}

/// One statement: each act (a data-modifying statement returning a row per
/// row it wrote), then the audit row with their counts in its rows_affected,
/// then the event that announces it. Its one row: the count of each act, in
/// order.
fn acts_then_audit(
    acts: &[(&str, String)],
    entry: &AuditEntry,
    event: Option<&Announcement>,
) -> String {
    let mut ctes: Vec<String> = acts
        .iter()
        .enumerate()
        .map(|(i, (_, sql))| format!("act{i} AS ({sql})"))
        .collect();
    let counts: Vec<String> = (0..acts.len())
        .map(|i| format!("(SELECT count(*) FROM act{i}) AS n{i}"))
        .collect();
    let counted: Vec<String> = acts
        .iter()
        .enumerate()
        .map(|(i, (key, _))| format!("{}, n{i}", inline::text(key)))
        .collect();
    ctes.push(format!(
        "counts AS (SELECT {})",
        if counts.is_empty() {
            "1 AS one".to_owned()
        } else {
            counts.join(", ")
        }
    ));
    let counted = format!("jsonb_build_object({})", counted.join(", "));
    ctes.push(format!(
        "audit AS ({})",
        audit_log::insert_inline(entry, &counted, "FROM counts")
    ));
    if let Some(event) = event {
        let events = outbox::inline_values(std::slice::from_ref(event));
        ctes.push(format!(
            "outbox AS ({})",
            outbox::insert_after("audit", &events)
        ));
    }
    format!(
        "WITH {} SELECT counts.* FROM counts, audit",
        ctes.join(",\n")
    )
}

fn refuse_active_orders(blocked: &purge::Blockers, target: Uuid) -> Result<(), RequestError> {
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(active_orders(blocked, target))
    }
}

fn active_orders(blocked: &purge::Blockers, target: Uuid) -> RequestError {
    let counts = blocked.get(&target);
    let count = |table| counts.and_then(|c| c.get(table)).copied().unwrap_or(0);
    RequestError::ActiveOrders {
        catering: count("catering_requests"),
        on_demand: count("on_demand_orders"),
    }
}
