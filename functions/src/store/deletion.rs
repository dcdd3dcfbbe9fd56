//! Soft delete, restore and purge of one user: the flow of one request.
//!
//! One transaction, bounded in time: the actor's role is read from the
//! database (never from a token); the policy is asked whether the actor may
//! attempt the action before anything about the target is looked up; the
//! target is locked (`FOR UPDATE`) and the policy asked again on the locked
//! facts, so a concurrent promotion, restore or deletion cannot slip between
//! the check and the act; active orders block; the act; the audit row; commit.
//! A refusal or failure rolls the transaction back and is audited on its own.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use erasure_policy::{Action, Actor, Input, Policy, Target, TargetState};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::audit::{self, AuditAction, AuditEntry, Outcome};
use super::errors::{DbFailure, classify};
use super::pool::bounded_begin;
use super::purge::{self, PurgeError};
use crate::domain::UserType;
use crate::domain::plan::PLAN;

/// What every operation needs.
pub struct Deps<'a> {
    pub db: &'a PgPool,
    pub policy: &'a Policy,
    pub grace_period: Duration,
    /// Bounds the whole transaction (the source app's 10 s).
    pub transaction_timeout: Duration,
    /// Bounds waiting for the target's row lock, within the transaction.
    pub lock_timeout: Duration,
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The success summary, in the source app's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub user: SummaryUser,
    pub action: &'static str,
    pub at: DateTime<Utc>,
    pub by: Uuid,
    pub reason: Option<String>,
    pub rows_affected: BTreeMap<String, u64>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryUser {
    pub id: Uuid,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: UserType,
}

/// Why an operation did not happen. Each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error("the actor is not a user")]
    UnknownActor,
    #[error("denied by the policy: {code} ({rule})")]
    Denied {
        code: &'static str,
        rule: &'static str,
    },
    #[error("the policy cannot decide: {0}")]
    PolicyUnavailable(String),
    #[error("user not found")]
    NotFound,
    #[error("the user has active orders")]
    ActiveOrders { catering: i64, on_demand: i64 },
    #[error("the user's email now belongs to another live user")]
    Conflict,
    #[error("a row still references the user")]
    ForeignKeyViolation,
    #[error("the transaction did not finish in time")]
    Timeout,
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A deadlock or serialization failure, still there after the retries.
    #[error("the database stayed busy: {0}")]
    Busy(#[source] sqlx::Error),
    #[error("unexpected database error: {0}")]
    Internal(#[source] sqlx::Error),
}

impl DeletionError {
    /// The code of the HTTP contract and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            DeletionError::UnknownActor => "UNAUTHORIZED",
            DeletionError::Denied { code, .. } => code,
            DeletionError::PolicyUnavailable(_) => erasure_policy::POLICY_UNAVAILABLE,
            DeletionError::NotFound => "USER_NOT_FOUND",
            DeletionError::ActiveOrders { .. } => "ACTIVE_ORDERS_EXIST",
            DeletionError::Conflict => "CONFLICT",
            DeletionError::ForeignKeyViolation => "FOREIGN_KEY_VIOLATION",
            DeletionError::Timeout => "TRANSACTION_TIMEOUT",
            DeletionError::Unavailable(_) | DeletionError::Busy(_) => "CONNECTION_FAILED",
            DeletionError::Internal(_) => "DELETION_FAILED",
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            DeletionError::Denied { .. } => Outcome::Denied,
            _ => Outcome::Failed,
        }
    }
}

impl From<sqlx::Error> for DeletionError {
    fn from(e: sqlx::Error) -> Self {
        match classify(&e) {
            DbFailure::ForeignKeyViolation => DeletionError::ForeignKeyViolation,
            DbFailure::Conflict => DeletionError::Conflict,
            DbFailure::Timeout => DeletionError::Timeout,
            DbFailure::Unavailable => DeletionError::Unavailable(e),
            DbFailure::Retryable => DeletionError::Busy(e),
            DbFailure::Other => DeletionError::Internal(e),
        }
    }
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

/// A profile as read under lock.
#[derive(sqlx::FromRow)]
struct ProfileRow {
    email: String,
    #[sqlx(rename = "type")]
    user_type: String,
    deleted_at: Option<DateTime<Utc>>,
}

impl ProfileRow {
    fn user_type(&self) -> Result<UserType, DeletionError> {
        self.user_type
            .parse()
            .map_err(|e| DeletionError::Internal(sqlx::Error::Decode(Box::new(e))))
    }
}

/// The facts the audit row records, filled in as the flow learns them.
pub(super) struct Attempt {
    entry: AuditEntry,
    started: Instant,
}

impl Attempt {
    pub(super) fn new(
        action: AuditAction,
        actor: Uuid,
        target: Option<Uuid>,
        reason: Option<String>,
        origin: &Origin,
        policy: &Policy,
    ) -> Attempt {
        Attempt {
            entry: AuditEntry {
                actor_id: Some(actor),
                target_id: target,
                reason,
                source_ip: origin.source_ip,
                user_agent: origin.user_agent.clone(),
                request_id: origin.request_id.clone(),
                policy_digest: Some(policy.sha256().to_owned()),
                ..AuditEntry::new(action, Outcome::Success)
            },
            started: Instant::now(),
        }
    }

    /// The audit row for this attempt ending with `outcome`.
    pub(super) fn record(&self, outcome: Outcome, error_code: Option<&str>) -> AuditEntry {
        AuditEntry {
            outcome,
            error_code: error_code.map(str::to_owned),
            duration_ms: Some(self.started.elapsed().as_millis().min(i32::MAX as u128) as i32),
            ..self.entry.clone()
        }
    }
}

pub async fn soft_delete(
    deps: &Deps<'_>,
    actor: Uuid,
    target: Uuid,
    reason: Option<String>,
    origin: &Origin,
) -> Result<Summary, DeletionError> {
    run(deps, Operation::SoftDelete, actor, target, reason, origin).await
}

pub async fn restore(
    deps: &Deps<'_>,
    actor: Uuid,
    target: Uuid,
    origin: &Origin,
) -> Result<Summary, DeletionError> {
    run(deps, Operation::Restore, actor, target, None, origin).await
}

pub async fn purge(
    deps: &Deps<'_>,
    actor: Uuid,
    target: Uuid,
    reason: String,
    origin: &Origin,
) -> Result<Summary, DeletionError> {
    run(deps, Operation::Purge, actor, target, Some(reason), origin).await
}

async fn run(
    deps: &Deps<'_>,
    operation: Operation,
    actor: Uuid,
    target: Uuid,
    reason: Option<String>,
    origin: &Origin,
) -> Result<Summary, DeletionError> {
    let mut attempt = Attempt::new(
        operation.audited_as(),
        actor,
        Some(target),
        reason.clone(),
        origin,
        deps.policy,
    );
    let mut tries = 0;
    let result = loop {
        tries += 1;
        let flow = in_transaction(deps, operation, actor, target, reason.clone(), &mut attempt);
        match tokio::time::timeout(deps.transaction_timeout, flow).await {
            // A deadlock victim rolled back whole; after a pause it may win.
            Ok(Err(DeletionError::Busy(e))) if tries < ATTEMPTS => {
                tracing::warn!(error = %e, tries, "retrying after a deadlock or serialization failure");
                tokio::time::sleep(Duration::from_millis(25 << tries)).await;
            }
            Ok(result) => break result,
            // Dropping the flow drops its transaction, which rolls back.
            Err(_) => break Err(DeletionError::Timeout),
        }
    };
    if let Err(e) = &result {
        record_refusal(deps.db, &attempt, e).await;
    }
    result
}

/// Audits a refused or failed attempt on its own, its transaction having
/// rolled back. An unavailable database cannot take the record either: the
/// error log line is then the record.
pub(super) async fn record_refusal(db: &PgPool, attempt: &Attempt, e: &DeletionError) {
    let entry = attempt.record(e.outcome(), Some(e.code()));
    let appended = async {
        let mut tx = db.begin().await?;
        audit::append(&mut tx, &entry).await?;
        tx.commit().await
    };
    if let Err(audit_error) = appended.await {
        tracing::error!(error = %audit_error, code = e.code(), "could not audit a refused request");
    }
}

async fn in_transaction(
    deps: &Deps<'_>,
    operation: Operation,
    actor_id: Uuid,
    target_id: Uuid,
    reason: Option<String>,
    attempt: &mut Attempt,
) -> Result<Summary, DeletionError> {
    let action = operation.action();
    let mut tx = begin(deps).await?;

    let actor = load_actor(&mut tx, actor_id, attempt).await?;
    ask(deps.policy.may_attempt(action, actor), attempt)?;

    let target_row = read_profile(&mut tx, target_id, Lock::Update)
        .await?
        .ok_or(DeletionError::NotFound)?;
    let target_type = target_row.user_type()?;
    attempt.entry.target_role = Some(target_type.as_str().to_owned());
    let now = Utc::now();
    let input = Input {
        action,
        actor,
        target: Some(Target {
            id: *target_id.as_bytes(),
            role: target_type.into(),
            state: match target_row.deleted_at {
                None => TargetState::Active,
                Some(at) => TargetState::SoftDeleted {
                    deleted_at: at.timestamp(),
                },
            },
        }),
        now: now.timestamp(),
        grace_period_secs: deps.grace_period.as_secs() as i64,
    };
    ask(deps.policy.decide(&input), attempt)?;

    let rows = match operation {
        Operation::SoftDelete => {
            refuse_active_orders(&mut tx, target_id).await?;
            soft_delete_row(&mut tx, actor_id, target_id, reason.as_deref()).await?
        }
        Operation::Restore => restore_row(&mut tx, target_id).await?,
        Operation::Purge => match purge::execute(&mut tx, PLAN, &[target_id]).await {
            Ok(rows) => rows.0,
            Err(PurgeError::Blocked(blocked)) => return Err(active_orders(&blocked, target_id)),
            Err(PurgeError::Database(e)) => return Err(e.into()),
        },
    };
    attempt.entry.rows_affected = rows.clone();
    audit::append(&mut tx, &attempt.record(Outcome::Success, None)).await?;
    tx.commit().await?;
    Ok(Summary {
        user: SummaryUser {
            id: target_id,
            email: target_row.email,
            user_type: target_type,
        },
        action: operation.audited_as().as_str(),
        at: now,
        by: actor_id,
        reason,
        rows_affected: rows,
        duration_ms: attempt.started.elapsed().as_millis() as u64,
    })
}

/// The actor, as the database knows them now (FOR SHARE: no demotion or
/// deletion of the actor can commit until this transaction ends).
pub(super) async fn load_actor(
    tx: &mut PgConnection,
    actor_id: Uuid,
    attempt: &mut Attempt,
) -> Result<Actor, DeletionError> {
    let row = read_profile(tx, actor_id, Lock::Share)
        .await?
        .ok_or(DeletionError::UnknownActor)?;
    let actor_type = row.user_type()?;
    attempt.entry.actor_role = Some(actor_type.as_str().to_owned());
    Ok(Actor::User {
        id: *actor_id.as_bytes(),
        role: actor_type.into(),
        soft_deleted: row.deleted_at.is_some(),
    })
}

/// How a profile is locked when read: the actor is only kept from changing
/// (SHARE), the target is about to be written (UPDATE).
enum Lock {
    Share,
    Update,
}

async fn read_profile(
    tx: &mut PgConnection,
    id: Uuid,
    lock: Lock,
) -> Result<Option<ProfileRow>, sqlx::Error> {
    let sql = match lock {
        Lock::Share => "SELECT email, type, deleted_at FROM profiles WHERE id = $1 FOR SHARE",
        Lock::Update => "SELECT email, type, deleted_at FROM profiles WHERE id = $1 FOR UPDATE",
    };
    sqlx::query_as(sql).bind(id).fetch_optional(tx).await
}

/// A transaction with the statement and lock bounds, for this transaction only.
pub(super) async fn begin<'a>(deps: &Deps<'a>) -> Result<Transaction<'a, Postgres>, sqlx::Error> {
    deps.db
        .begin_with(bounded_begin(
            deps.transaction_timeout,
            Some(deps.lock_timeout),
        ))
        .await
}

/// Turns a verdict into a refusal, recording the deciding rule either way.
pub(super) fn ask(
    verdict: erasure_policy::Verdict<'_>,
    attempt: &mut Attempt,
) -> Result<(), DeletionError> {
    attempt.entry.policy_rule = verdict.rule().map(str::to_owned);
    match verdict.outcome {
        Ok(d) if d.allow => Ok(()),
        Ok(d) => Err(DeletionError::Denied {
            code: d.code.as_str(),
            rule: d.rule.as_str(),
        }),
        Err(reason) => Err(DeletionError::PolicyUnavailable(reason.to_string())),
    }
}

async fn refuse_active_orders(tx: &mut PgConnection, target: Uuid) -> Result<(), DeletionError> {
    let blocked = purge::census(tx, PLAN, &[target]).await?.blockers;
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(active_orders(&blocked, target))
    }
}

fn active_orders(blocked: &purge::Blockers, target: Uuid) -> DeletionError {
    let counts = blocked.get(&target);
    let count = |table| counts.and_then(|c| c.get(table)).copied().unwrap_or(0);
    DeletionError::ActiveOrders {
        catering: count("catering_requests"),
        on_demand: count("on_demand_orders"),
    }
}

async fn soft_delete_row(
    tx: &mut PgConnection,
    actor: Uuid,
    target: Uuid,
    reason: Option<&str>,
) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    let profiles = sqlx::query(
        "UPDATE profiles SET deleted_at = now(), deleted_by = $1, deletion_reason = $2, updated_at = now()
          WHERE id = $3",
    )
    .bind(actor)
    .bind(reason)
    .bind(target)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Revoke every session: a soft-deleted user is signed out everywhere.
    let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(target)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(BTreeMap::from([
        ("profiles.soft_deleted".to_owned(), profiles),
        ("sessions.deleted".to_owned(), sessions),
    ]))
}

async fn restore_row(
    tx: &mut PgConnection,
    target: Uuid,
) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    // A live user holding the email makes this fail with 23505: a conflict,
    // never an overwrite.
    let profiles = sqlx::query(
        "UPDATE profiles SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, updated_at = now()
          WHERE id = $1",
    )
    .bind(target)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(BTreeMap::from([("profiles.restored".to_owned(), profiles)]))
}
