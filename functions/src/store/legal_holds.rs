//! The `legal_holds` table: while a hold is in force on a user (placed, and
//! not past its expiry) no purge removes them; the policy refuses it
//! (`LEGAL_HOLD`) on what these statements read under the user's lock. One
//! row per held user: placing again replaces it, lifting deletes it; the
//! audit chain keeps the history.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::inline;

/// The SQL condition that the hold `$h` (a table alias, as a literal) is in
/// force: placed, and not past its expiry. A macro so that the constants of
/// every statement that asks can be `concat!`ed at compile time.
macro_rules! hold_in_force {
    ($h:literal) => {
        concat!(
            "(",
            $h,
            ".expires_at IS NULL OR ",
            $h,
            ".expires_at > now())"
        )
    };
}
pub(crate) use hold_in_force;

/// A hold, as the listing and a placement's answer show it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct LegalHold {
    pub reason: String,
    pub placed_by: Uuid,
    pub placed_at: DateTime<Utc>,
    /// None: until lifted.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Whether a hold is in force on `user`: one row, one boolean. For a
/// batch's reads, after the user's row is locked: placing a hold takes the
/// same lock, so none can appear between this read and the commit.
pub fn in_force_inline(user: Uuid) -> String {
    format!(
        concat!(
            "SELECT EXISTS (SELECT 1 FROM legal_holds h WHERE h.user_id = {} AND ",
            hold_in_force!("h"),
            ")"
        ),
        inline::uuid(user)
    )
}

/// Of `users`, those a hold is in force on (the cleanup, its batch locked).
pub async fn held_among(
    tx: &mut PgConnection,
    users: &[Uuid],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let held: Vec<Uuid> = sqlx::query_scalar(concat!(
        "SELECT h.user_id FROM legal_holds h WHERE h.user_id = ANY($1) AND ",
        hold_in_force!("h")
    ))
    .bind(users)
    .fetch_all(tx)
    .await?;
    Ok(held.into_iter().collect())
}

// The writes of a hold's last batch: each returns a row per hold written.

/// Places `hold` on `user`, replacing one already there.
pub fn place(user: Uuid, hold: &LegalHold) -> String {
    format!(
        "INSERT INTO legal_holds (user_id, reason, placed_by, placed_at, expires_at)
         VALUES ({}, {}, {}, {}, {})
         ON CONFLICT (user_id) DO UPDATE SET reason = EXCLUDED.reason,
           placed_by = EXCLUDED.placed_by, placed_at = EXCLUDED.placed_at,
           expires_at = EXCLUDED.expires_at
         RETURNING user_id",
        inline::uuid(user),
        inline::text(&hold.reason),
        inline::uuid(hold.placed_by),
        inline::timestamp(hold.placed_at),
        inline::optional_timestamp(hold.expires_at),
    )
}

pub fn lift(user: Uuid) -> String {
    format!(
        "DELETE FROM legal_holds WHERE user_id = {} RETURNING user_id",
        inline::uuid(user)
    )
}

/// Soft-deleted users past the grace period ($1, seconds) whom a hold keeps.
pub const HELD_PAST_GRACE: &str = concat!(
    "SELECT count(*) FROM profiles p JOIN legal_holds h ON h.user_id = p.id
  WHERE p.deleted_at < now() - make_interval(secs => $1) AND ",
    hold_in_force!("h")
);

pub async fn held_past_grace(db: &PgPool, grace_period: Duration) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(HELD_PAST_GRACE)
        .bind(grace_period.as_secs_f64())
        .fetch_one(db)
        .await
}

/// Holds in force on users who are gone: a purge that should never have
/// happened (the integrity audit's `held_but_purged`). The table is small
/// (holds are rare), so it is read whole.
pub const HELD_BUT_PURGED: &str = concat!(
    "SELECT count(*) FROM legal_holds h WHERE ",
    hold_in_force!("h"),
    " AND NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = h.user_id)"
);
