//! The `sessions` table: a user's sign-ins.

use sqlx::PgConnection;
use uuid::Uuid;

/// Revokes every session of `user`: a soft-deleted user is signed out
/// everywhere. Returns how many there were.
pub async fn revoke_all(tx: &mut PgConnection, user: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user)
        .execute(tx)
        .await?
        .rows_affected())
}
