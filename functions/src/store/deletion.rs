//! Soft delete, restore and purge of one user: the flow of one request,
//! read top to bottom in `in_transaction`.
//!
//! One transaction, bounded in time: the actor's role is read from the
//! database (never from a token); the policy is asked whether the actor may
//! attempt the action before anything about the target is looked up; the
//! target is locked (`FOR UPDATE`) and the policy asked again on the locked
//! facts, so a concurrent promotion, restore or deletion cannot slip between
//! the check and the act; active orders block; the act; the audit row; commit.
//! A refusal or failure rolls the transaction back and is audited on its own.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use erasure_policy::{Action, Input, Target, TargetState};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit_log::{self, AuditAction, Outcome};
use super::audited::{Attempt, Deps, Origin, ask, begin, load_actor, record_refusal};
use super::errors::RequestError;
use super::pauses::Gate;
use super::profiles::{self, Lock};
use super::purge::{self, PurgeError};
use super::sessions;
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
}

impl Operation {
    fn action(self) -> Action {
        match self {
            Operation::SoftDelete => Action::SoftDelete,
            Operation::Restore => Action::Restore,
            Operation::Purge => Action::Purge,
        }
    }

    /// The function that serves it: its pauses apply.
    fn function(self) -> &'static str {
        match self {
            Operation::SoftDelete => functions::SOFT_DELETE_USER,
            Operation::Restore => functions::RESTORE_USER,
            Operation::Purge => functions::PURGE_USER,
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
        }
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
    let action = operation.action();
    let mut tx = begin(deps).await?;

    let actor = load_actor(&mut tx, actor_id, attempt).await?;
    ask(deps.policy.may_attempt(action, actor), attempt)?;

    let target = profiles::read(&mut tx, target_id.0, Lock::Update)
        .await?
        .ok_or(RequestError::NotFound)?;
    attempt.entry.target_role = Some(target.user_type.as_str().to_owned());
    let now = Utc::now();
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
        }),
        now: now.timestamp(),
        grace_period_secs: deps.settings.grace_period.as_secs() as i64,
    };
    ask(deps.policy.decide(&input), attempt)?;

    let rows = match operation {
        Operation::SoftDelete => {
            refuse_active_orders(&mut tx, target_id.0).await?;
            let profiles =
                profiles::soft_delete(&mut tx, actor_id.0, target_id.0, reason.as_deref()).await?;
            let sessions = sessions::revoke_all(&mut tx, target_id.0).await?;
            BTreeMap::from([
                ("profiles.soft_deleted".to_owned(), profiles),
                ("sessions.deleted".to_owned(), sessions),
            ])
        }
        Operation::Restore => {
            let profiles = profiles::restore(&mut tx, target_id.0).await?;
            BTreeMap::from([("profiles.restored".to_owned(), profiles)])
        }
        Operation::Purge => match purge::execute(&mut tx, PLAN, &[target_id.0]).await {
            Ok(rows) => rows.0,
            Err(PurgeError::Blocked(blocked)) => return Err(active_orders(&blocked, target_id.0)),
            Err(PurgeError::Database(e)) => return Err(e.into()),
        },
    };
    attempt.entry.rows_affected = rows.clone();
    audit_log::append(&mut tx, &attempt.record(Outcome::Success, None)).await?;
    tx.commit().await?;
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
    })
}

async fn refuse_active_orders(tx: &mut PgConnection, target: Uuid) -> Result<(), RequestError> {
    let blocked = purge::census(tx, PLAN, &[target]).await?.blockers;
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(active_orders(&blocked, target))
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
