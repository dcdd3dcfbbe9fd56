//! `Idempotency-Key` on the mutating routes: a retry with the same key and
//! request gets the first response again; the same key on another request
//! is refused (422). Keys belong to the actor who sent them and expire.
//!
//! The first request claims the key before it acts, so two copies of one
//! request racing each other cannot both act: the second sees the claim and
//! is told to retry (409). A claim whose request died (a container killed
//! mid-request) is taken over once it is older than any request can run.

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a key and its response are kept.
const KEPT_FOR: &str = "24 hours";
/// A claim without a response after this long belonged to a request that
/// died: longer than the Lambda timeout of the mutating functions.
const ABANDONED_AFTER: &str = "2 minutes";

/// A key as sent: 1 to 255 visible ASCII characters.
pub fn parse_key(raw: &[u8]) -> Option<String> {
    let valid = (1..=255).contains(&raw.len()) && raw.iter().all(|b| b.is_ascii_graphic());
    valid.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// What identifies a request: method, path and body (as canonical JSON, so
/// that whitespace or key order does not make a retry a different request).
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut hash = Sha256::new();
    for part in [method, path, &body.to_string()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(parse_key(b"retry-42").as_deref(), Some("retry-42"));
        assert_eq!(parse_key(b""), None);
        assert_eq!(parse_key(b"has space"), None);
        assert_eq!(parse_key("é".as_bytes()), None);
        assert!(parse_key(&[b'k'; 255]).is_some());
        assert_eq!(parse_key(&[b'k'; 256]), None);
    }

    #[test]
    fn the_fingerprint_ignores_json_layout_but_not_content() {
        let a = serde_json::from_str::<serde_json::Value>(r#"{"reason":"r","x":1}"#).unwrap();
        let b =
            serde_json::from_str::<serde_json::Value>("{ \"x\": 1,\n \"reason\": \"r\" }").unwrap();
        assert_eq!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("DELETE", "/p", &b)
        );
        assert_ne!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("DELETE", "/q", &a)
        );
        assert_ne!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("POST", "/p", &a)
        );
        assert_ne!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("DELETE", "/p", &json!({"reason": "s", "x": 1}))
        );
    }
}
