//! The service's Lambda functions, by the name of their binary: the
//! `Function` dimension of their metrics and the scope of a pause.

pub const SOFT_DELETE_USER: &str = "soft_delete_user";
pub const PURGE_USER: &str = "purge_user";
pub const RESTORE_USER: &str = "restore_user";
pub const LIST_DELETED_USERS: &str = "list_deleted_users";
/// Places (PUT) and lifts (DELETE) a legal hold.
pub const LEGAL_HOLD: &str = "legal_hold";
