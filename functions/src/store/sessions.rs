//! The `sessions` table: a user's sign-ins.

use uuid::Uuid;

use super::inline;

/// Revokes every session of `user`, for a deletion's last batch: a
/// soft-deleted user is signed out everywhere. Returns a row per session.
pub fn revoke_all(user: Uuid) -> String {
    format!(
        "DELETE FROM sessions WHERE user_id = {} RETURNING id",
        inline::uuid(user)
    )
}
