//! The `idempotency_keys` table: one row per actor and key, claimed before
//! the request acts, completed with its answer, or released for a retry.

use sqlx::PgPool;
use uuid::Uuid;

/// How long a key and its response are kept.
const KEPT_FOR: &str = "24 hours";
/// A claim without a response after this long belonged to a request that
/// died: longer than the Lambda timeout of the mutating functions.
const ABANDONED_AFTER: &str = "2 minutes";

/// A response worth giving again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now: act, then `complete` or `release`.
    Claimed,
    /// The request was answered before: give the same answer.
    Replay(Stored),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

pub async fn claim(
    db: &PgPool,
    actor: Uuid,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, sqlx::Error> {
    // Expired keys are taken over as new; so is an abandoned claim, but only
    // by the same request.
    let claimed = sqlx::query(&format!(
        "INSERT INTO idempotency_keys AS k (actor_id, key, fingerprint) VALUES ($1, $2, $3)
         ON CONFLICT (actor_id, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, status = NULL, body = NULL, created_at = now()
          WHERE k.created_at < now() - interval '{KEPT_FOR}'
             OR (k.status IS NULL AND k.fingerprint = EXCLUDED.fingerprint
                 AND k.created_at < now() - interval '{ABANDONED_AFTER}')
         RETURNING 1"
    ))
    .bind(actor)
    .bind(key)
    .bind(fingerprint)
    .fetch_optional(db)
    .await?;
    if claimed.is_some() {
        return Ok(Claim::Claimed);
    }
    let (held_for, status, body): (String, Option<i16>, Option<String>) = sqlx::query_as(
        "SELECT fingerprint, status, body FROM idempotency_keys WHERE actor_id = $1 AND key = $2",
    )
    .bind(actor)
    .bind(key)
    .fetch_one(db)
    .await?;
    Ok(match (held_for == fingerprint, status, body) {
        (false, _, _) => Claim::Mismatch,
        (true, Some(status), Some(body)) => Claim::Replay(Stored {
            status: status as u16,
            body,
        }),
        (true, _, _) => Claim::InProgress,
    })
}

/// Records the response to a claimed key.
pub async fn complete(
    db: &PgPool,
    actor: Uuid,
    key: &str,
    response: &Stored,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, body = $4 WHERE actor_id = $1 AND key = $2",
    )
    .bind(actor)
    .bind(key)
    .bind(response.status as i16)
    .bind(&response.body)
    .execute(db)
    .await?;
    // The actor's expired keys go now, so the table stays small without a sweeper.
    sqlx::query(&format!(
        "DELETE FROM idempotency_keys WHERE actor_id = $1 AND created_at < now() - interval '{KEPT_FOR}'"
    ))
    .bind(actor)
    .execute(db)
    .await
    .map(|_| ())
}

/// Gives a claimed key up, for a request that failed in a way worth retrying
/// (the database was unavailable, the transaction timed out).
pub async fn release(db: &PgPool, actor: Uuid, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE actor_id = $1 AND key = $2 AND status IS NULL")
        .bind(actor)
        .bind(key)
        .execute(db)
        .await
        .map(|_| ())
}
