//! What a database error means for the caller, by SQLSTATE and sqlx kind.

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
            // Class 08: connection exceptions; 57P01–57P03: the server is
            // shutting down or not accepting connections.
            Some(code) if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") => {
                DbFailure::Unavailable
            }
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
