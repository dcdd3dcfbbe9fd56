//! What went wrong with a request to the store: `RequestError`, with the
//! stable codes of the HTTP contract and the audit log, and what a database
//! error means for the caller (`classify`, by SQLSTATE and sqlx kind).

use erasure_policy::{Code, Rule};

use super::audit_log::Outcome;

/// The code of a refusal while deletions are paused.
pub const DELETIONS_PAUSED: &str = "DELETIONS_PAUSED";

/// Why a request to the store did not happen (a deletion, a restore, a
/// listing). Each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the actor is not a user")]
    UnknownActor,
    #[error("denied by the policy: {} ({})", code.as_str(), rule.as_str())]
    Denied { code: Code, rule: Rule },
    #[error("the policy cannot decide: {0}")]
    PolicyUnavailable(String),
    #[error("deletions are paused by {alarm} since {since}")]
    Paused {
        alarm: String,
        since: chrono::DateTime<chrono::Utc>,
    },
    /// The kill switch cannot be read, and the work is irreversible.
    #[error("deletions are paused: the switch cannot be read")]
    PauseUnknown,
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
    /// `Internal`, on a read: the listing failed, and nothing was deleted.
    #[error("unexpected database error while listing: {0}")]
    ListingFailed(#[source] sqlx::Error),
}

impl RequestError {
    /// The code of the HTTP contract and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::UnknownActor => "UNAUTHORIZED",
            RequestError::Denied { code, .. } => code.as_str(),
            RequestError::PolicyUnavailable(_) => erasure_policy::POLICY_UNAVAILABLE,
            RequestError::Paused { .. } | RequestError::PauseUnknown => DELETIONS_PAUSED,
            RequestError::NotFound => "USER_NOT_FOUND",
            RequestError::ActiveOrders { .. } => "ACTIVE_ORDERS_EXIST",
            RequestError::Conflict => "CONFLICT",
            RequestError::ForeignKeyViolation => "FOREIGN_KEY_VIOLATION",
            RequestError::Timeout => "TRANSACTION_TIMEOUT",
            RequestError::Unavailable(_) | RequestError::Busy(_) => "CONNECTION_FAILED",
            RequestError::Internal(_) => "DELETION_FAILED",
            RequestError::ListingFailed(_) => "LISTING_FAILED",
        }
    }

    /// The same failure, met by a read: an unexpected error gets the
    /// listing's own code rather than the mutations'.
    pub fn on_read(self) -> RequestError {
        match self {
            RequestError::Internal(e) => RequestError::ListingFailed(e),
            other => other,
        }
    }

    /// A bug rather than a refusal or an outage (answered 500).
    pub fn is_unexpected(&self) -> bool {
        matches!(
            self,
            RequestError::Internal(_) | RequestError::ListingFailed(_)
        )
    }

    /// How the audit log records it.
    pub(super) fn outcome(&self) -> Outcome {
        match self {
            RequestError::Denied { .. }
            | RequestError::Paused { .. }
            | RequestError::PauseUnknown => Outcome::Denied,
            _ => Outcome::Failed,
        }
    }
}

impl From<sqlx::Error> for RequestError {
    fn from(e: sqlx::Error) -> Self {
        match classify(&e) {
            DbFailure::ForeignKeyViolation => RequestError::ForeignKeyViolation,
            DbFailure::Conflict => RequestError::Conflict,
            DbFailure::Timeout => RequestError::Timeout,
            DbFailure::Unavailable => RequestError::Unavailable(e),
            DbFailure::Retryable => RequestError::Busy(e),
            DbFailure::Other => RequestError::Internal(e),
        }
    }
}

/// The classes of database failure the service answers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// 23503: a row still references what was to be deleted.
    ForeignKeyViolation,
    /// 23505: a unique value is taken (e.g. a restored user's email).
    Conflict,
    /// 57014 statement timeout, 55P03 lock timeout.
    Timeout,
    /// 40001 serialization failure, 40P01 deadlock: worth retrying.
    Retryable,
    /// The database cannot be reached, or the pool had no connection in time.
    Unavailable,
    /// Anything else: a bug.
    Other,
}

pub fn classify(e: &sqlx::Error) -> DbFailure {
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("23503") => DbFailure::ForeignKeyViolation,
            Some("23505") => DbFailure::Conflict,
            Some("57014" | "55P03") => DbFailure::Timeout,
            Some("40001" | "40P01") => DbFailure::Retryable,
            Some(code) if ends_session(code) || code == "57P03" => DbFailure::Unavailable,
            _ => DbFailure::Other,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFailure::Unavailable,
        _ => DbFailure::Other,
    }
}

/// Whether `e` says the connection itself is gone (its socket died, or the
/// server ended the session), rather than that the database refused a
/// statement or could not be reached: a statement that wrote nothing is
/// worth running again on another connection.
pub fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| ends_session(&code)),
        _ => false,
    }
}

/// Class 08, connection exceptions; 57P01 and 57P02, the server shutting
/// down (an administrator's command, a crash). 57P03, not accepting
/// connections yet, comes only when connecting.
fn ends_session(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02")
}
