//! The `deletion_pauses` and `alarm_states` tables: the kill switch, and the
//! newest state change seen per alarm. Every function reads the switch
//! (`PauseGate`, with a short cache); the alarm responder writes it, each
//! change in the same transaction as its audit row.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::pool;
use crate::domain::pauses::Scope;

/// An active pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    pub scope: String,
    pub alarm_name: String,
    pub reason: String,
    pub paused_at: DateTime<Utc>,
}

/// What the switch says for an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    Paused(Pause),
    /// The switch could not be read: irreversible work treats it as paused.
    Unreadable(String),
}

/// How long a container trusts what it read (as Powertools' parameters do,
/// 5 s): most requests cost no round trip for the switch.
pub const CACHE_FOR: Duration = Duration::from_secs(5);

/// The active pauses, and when they were read.
type Cached = Option<(Instant, Vec<Pause>)>;

/// The switch as one container reads it, built once per container.
#[derive(Clone)]
pub struct PauseGate {
    db: PgPool,
    cache_for: Duration,
    cached: Arc<Mutex<Cached>>,
}

impl PauseGate {
    pub fn new(db: PgPool, cache_for: Duration) -> PauseGate {
        PauseGate {
            db,
            cache_for,
            cached: Arc::default(),
        }
    }

    /// The first active pause among `scopes`, as read at most `cache_for` ago.
    pub async fn check(&self, scopes: &[Scope]) -> Gate {
        let cached = {
            let cached = self.cached.lock().expect("not poisoned");
            cached
                .as_ref()
                .filter(|(at, _)| at.elapsed() < self.cache_for)
                .map(|(_, pauses)| pauses.clone())
        };
        match cached {
            Some(pauses) => first_among(pauses, scopes),
            None => self.check_now(scopes).await,
        }
    }

    /// The same, read now (the cleanup, before each batch); what it reads
    /// is cached for the next `check`.
    pub async fn check_now(&self, scopes: &[Scope]) -> Gate {
        match active(&self.db).await {
            Ok(pauses) => {
                *self.cached.lock().expect("not poisoned") = Some((Instant::now(), pauses.clone()));
                first_among(pauses, scopes)
            }
            Err(e) => {
                tracing::error!(error = %e, "the deletion switch cannot be read");
                Gate::Unreadable(e.to_string())
            }
        }
    }
}

fn first_among(pauses: Vec<Pause>, scopes: &[Scope]) -> Gate {
    let keys: Vec<String> = scopes.iter().map(|s| s.key()).collect();
    pauses
        .into_iter()
        .find(|p| keys.contains(&p.scope))
        .map_or(Gate::Open, Gate::Paused)
}

/// Every active pause.
pub async fn active(db: &PgPool) -> Result<Vec<Pause>, sqlx::Error> {
    pool::on_live_connection(db, |mut conn| async move {
        sqlx::query_as(
            "SELECT scope, alarm_name, reason, paused_at FROM deletion_pauses WHERE paused ORDER BY scope",
        )
        .fetch_all(&mut *conn)
        .await
    })
    .await
}

/// Records the alarm's state change; true when it is newer than any seen
/// for the alarm (false: delivered twice, or older than what is recorded).
pub async fn record_change(
    tx: &mut PgConnection,
    alarm_arn: &str,
    alarm_name: &str,
    state: &str,
    changed_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let applied: Option<bool> = sqlx::query_scalar(
        "INSERT INTO alarm_states (alarm_arn, alarm_name, state, changed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (alarm_arn) DO UPDATE
            SET alarm_name = EXCLUDED.alarm_name, state = EXCLUDED.state,
                changed_at = EXCLUDED.changed_at, received_at = now()
          WHERE alarm_states.changed_at < EXCLUDED.changed_at
         RETURNING true",
    )
    .bind(alarm_arn)
    .bind(alarm_name)
    .bind(state)
    .bind(changed_at)
    .fetch_optional(tx)
    .await?;
    Ok(applied.unwrap_or(false))
}

/// Pauses `scope` for the alarm; true when it was not paused already.
pub async fn pause(
    tx: &mut PgConnection,
    scope: Scope,
    alarm_name: &str,
    alarm_arn: &str,
    reason: &str,
    changed_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let was_paused: Option<bool> =
        sqlx::query_scalar("SELECT paused FROM deletion_pauses WHERE scope = $1 FOR UPDATE")
            .bind(scope.key())
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO deletion_pauses (scope, paused, alarm_name, alarm_arn, reason, alarm_changed_at)
         VALUES ($1, true, $2, $3, $4, $5)
         ON CONFLICT (scope) DO UPDATE
            SET paused = true, alarm_name = EXCLUDED.alarm_name, alarm_arn = EXCLUDED.alarm_arn,
                reason = EXCLUDED.reason, alarm_changed_at = EXCLUDED.alarm_changed_at,
                paused_at = CASE WHEN deletion_pauses.paused THEN deletion_pauses.paused_at ELSE now() END,
                alarm_ok_at = NULL, resumed_at = NULL, resumed_by = NULL, resume_reason = NULL",
    )
    .bind(scope.key())
    .bind(alarm_name)
    .bind(alarm_arn)
    .bind(reason)
    .bind(changed_at)
    .execute(&mut *tx)
    .await?;
    Ok(was_paused != Some(true))
}

/// The pausing alarm of `scope` went back to OK at `changed_at`: recorded;
/// true when the pause is this alarm's and is still on.
pub async fn alarm_ok(
    tx: &mut PgConnection,
    scope: Scope,
    alarm_arn: &str,
    changed_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let recorded = sqlx::query(
        "UPDATE deletion_pauses SET alarm_ok_at = $3
          WHERE scope = $1 AND paused AND alarm_arn = $2 AND alarm_changed_at < $3",
    )
    .bind(scope.key())
    .bind(alarm_arn)
    .bind(changed_at)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(recorded == 1)
}

/// Resumes `scope`; true when it was paused.
pub async fn resume(
    tx: &mut PgConnection,
    scope: Scope,
    by: &str,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let resumed = sqlx::query(
        "UPDATE deletion_pauses SET paused = false, resumed_at = now(), resumed_by = $2, resume_reason = $3
          WHERE scope = $1 AND paused",
    )
    .bind(scope.key())
    .bind(by)
    .bind(reason)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(resumed == 1)
}
