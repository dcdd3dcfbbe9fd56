//! The skeleton every audited request shares, whatever it does: what it
//! needs (`Deps`), where it came from (`Origin`), the attempt's audit row
//! filled in as the flow learns the facts (`Attempt`), a bounded
//! transaction, the actor read under lock, the policy's verdict, and a
//! refusal recorded on its own once its transaction has rolled back.
//! `deletion` and `trash` are the flows built on it.

use std::net::IpAddr;
use std::time::Instant;

use erasure_policy::{Actor, Policy};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::audit_log::{self, AuditAction, AuditEntry, Outcome};
use super::errors::RequestError;
use super::pauses::PauseGate;
use super::pool::bounded_begin;
use super::profiles::{self, Lock, Profile};
use crate::config::RequestConfig;
use crate::domain::{ActorId, TargetId};

/// What every request needs.
pub struct Deps<'a> {
    pub db: &'a PgPool,
    pub policy: &'a Policy,
    pub settings: RequestConfig,
    /// The kill switch, as this container reads it.
    pub pauses: PauseGate,
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The facts the audit row records, filled in as the flow learns them.
pub(super) struct Attempt {
    pub(super) entry: AuditEntry,
    pub(super) started: Instant,
}

impl Attempt {
    pub(super) fn new(
        action: AuditAction,
        actor: ActorId,
        target: Option<TargetId>,
        reason: Option<String>,
        origin: &Origin,
        policy: &Policy,
    ) -> Attempt {
        Attempt {
            entry: AuditEntry {
                actor_id: Some(actor.0),
                target_id: target.map(|t| t.0),
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
            duration_ms: Some(self.elapsed_ms().min(i32::MAX as u64) as i32),
            ..self.entry.clone()
        }
    }

    pub(super) fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// A transaction with the statement and lock bounds, for this transaction only.
pub(super) async fn begin<'a>(deps: &Deps<'a>) -> Result<Transaction<'a, Postgres>, sqlx::Error> {
    deps.db
        .begin_with(bounded_begin(
            deps.settings.transaction_timeout,
            Some(deps.settings.lock_timeout),
        ))
        .await
}

/// The actor, as the database knows them now (FOR SHARE: no demotion or
/// deletion of the actor can commit until this transaction ends).
pub(super) async fn load_actor(
    tx: &mut PgConnection,
    actor: ActorId,
    attempt: &mut Attempt,
) -> Result<Actor, RequestError> {
    let row = profiles::read(tx, actor.0, Lock::Share).await?;
    actor_from(row, actor, attempt)
}

/// The policy's actor from their profile, read under FOR SHARE.
pub(super) fn actor_from(
    row: Option<Profile>,
    actor: ActorId,
    attempt: &mut Attempt,
) -> Result<Actor, RequestError> {
    let row = row.ok_or(RequestError::UnknownActor)?;
    attempt.entry.actor_role = Some(row.user_type.as_str().to_owned());
    Ok(Actor::User {
        id: *actor.0.as_bytes(),
        role: row.user_type.into(),
        soft_deleted: row.deleted_at.is_some(),
    })
}

/// Turns a verdict into a refusal, recording the deciding rule either way.
pub(super) fn ask(
    verdict: erasure_policy::Verdict<'_>,
    attempt: &mut Attempt,
) -> Result<(), RequestError> {
    attempt.entry.policy_rule = verdict.rule().map(str::to_owned);
    match verdict.outcome {
        Ok(d) if d.allow => Ok(()),
        Ok(d) => Err(RequestError::Denied {
            code: d.code,
            rule: d.rule,
        }),
        Err(reason) => Err(RequestError::PolicyUnavailable(reason.to_string())),
    }
}

/// Audits a refused or failed attempt on its own, its transaction having
/// rolled back. An unavailable database cannot take the record either: the
/// error log line is then the record.
pub(super) async fn record_refusal(db: &PgPool, attempt: &Attempt, e: &RequestError) {
    let entry = attempt.record(e.outcome(), Some(e.code()));
    let appended = async {
        let mut tx = db.begin().await?;
        audit_log::append(&mut tx, &entry).await?;
        tx.commit().await
    };
    if let Err(audit_error) = appended.await {
        tracing::error!(error = %audit_error, code = e.code(), "could not audit a refused request");
    }
}
