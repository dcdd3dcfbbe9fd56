//! A job's failed invocation, as Lambda reports it. Lambda shows the error
//! type and message in the console, passes them to an asynchronous
//! invocation's failure destination, and logs them; so the type names the
//! job and the kind of failure (`Cleanup.DatabaseUnavailable`), and the
//! message says what it means for the run, without SQL, hosts or
//! credentials. The whole error chain goes to the function's own log.
//! <https://docs.aws.amazon.com/lambda/latest/dg/rust-handler.html>

use lambda_runtime::Diagnostic;

use crate::store::errors::{DbFailure, classify};

/// The jobs, by the names their error types carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Cleanup,
    IntegrityAudit,
    SnapshotHook,
    AlarmResponder,
    EventRelay,
}

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Cleanup => "Cleanup",
            Job::IntegrityAudit => "IntegrityAudit",
            Job::SnapshotHook => "SnapshotHook",
            Job::AlarmResponder => "AlarmResponder",
            Job::EventRelay => "EventRelay",
        }
    }
}

/// What went wrong, in the few kinds an operator acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The database could not be reached, or dropped the session mid-run.
    DatabaseUnavailable,
    /// A statement or lock timeout.
    DatabaseTimeout,
    /// Deadlocks or serialization failures that outlasted the retries.
    DatabaseBusy,
    /// Any other database error: a bug, or a schema out of step.
    DatabaseError,
    /// The event asked for something that does not exist.
    InvalidRequest,
    /// CodeDeploy could not be told the hook's verdict.
    CodeDeployUnreachable,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::DatabaseUnavailable => "DatabaseUnavailable",
            FailureKind::DatabaseTimeout => "DatabaseTimeout",
            FailureKind::DatabaseBusy => "DatabaseBusy",
            FailureKind::DatabaseError => "DatabaseError",
            FailureKind::InvalidRequest => "InvalidRequest",
            FailureKind::CodeDeployUnreachable => "CodeDeployUnreachable",
        }
    }

    fn of_database(e: &sqlx::Error) -> FailureKind {
        match classify(e) {
            DbFailure::Unavailable => FailureKind::DatabaseUnavailable,
            DbFailure::Timeout => FailureKind::DatabaseTimeout,
            DbFailure::Retryable => FailureKind::DatabaseBusy,
            DbFailure::ForeignKeyViolation | DbFailure::Conflict | DbFailure::Other => {
                FailureKind::DatabaseError
            }
        }
    }
}

/// A failed invocation of `job`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}.{}: {message}", job.as_str(), kind.as_str())]
pub struct JobFailure {
    pub job: Job,
    pub kind: FailureKind,
    pub message: String,
}

impl JobFailure {
    /// Logs the whole chain of `error` (the function's log is private to
    /// the account) and keeps only its meaning for Lambda's report.
    pub fn new(
        job: Job,
        kind: FailureKind,
        message: impl Into<String>,
        error: &dyn std::fmt::Debug,
    ) -> JobFailure {
        let failure = JobFailure {
            job,
            kind,
            message: message.into(),
        };
        tracing::error!(job = job.as_str(), kind = kind.as_str(), error = ?error, "{}", failure.message);
        failure
    }

    /// A database error of `job`, whose work so far `committed` describes.
    pub fn database(job: Job, error: &sqlx::Error, committed: &str) -> JobFailure {
        let kind = FailureKind::of_database(error);
        let what = match kind {
            FailureKind::DatabaseUnavailable => {
                "the database could not be reached or dropped the session"
            }
            FailureKind::DatabaseTimeout => "a statement or lock wait timed out",
            FailureKind::DatabaseBusy => {
                "the database stayed busy (deadlocks or serialization failures)"
            }
            _ => "the database refused a statement",
        };
        JobFailure::new(job, kind, format!("{what}; {committed}"), error)
    }
}

impl From<JobFailure> for Diagnostic {
    fn from(failure: JobFailure) -> Diagnostic {
        Diagnostic {
            error_type: format!("{}.{}", failure.job.as_str(), failure.kind.as_str()),
            error_message: failure.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_type_names_the_job_and_the_kind_and_the_message_no_internals() {
        let dropped = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection to 10.0.3.7:5432 reset",
        ));
        let failure = JobFailure::database(Job::Cleanup, &dropped, "the next run continues");
        let diagnostic = Diagnostic::from(failure);
        assert_eq!(diagnostic.error_type, "Cleanup.DatabaseUnavailable");
        assert!(diagnostic.error_message.ends_with("the next run continues"));
        assert!(!diagnostic.error_message.contains("10.0.3.7"));
        let timeout = sqlx::Error::PoolTimedOut;
        assert_eq!(
            JobFailure::database(Job::IntegrityAudit, &timeout, "").kind,
            FailureKind::DatabaseUnavailable
        );
    }
}
