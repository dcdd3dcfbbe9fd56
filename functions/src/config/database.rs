//! Where the database is and how the pool reaches it.

use std::str::FromStr;
use std::time::Duration;

/// Where the database credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseSource {
    /// A full connection URL (`DATABASE_URL`): local development and tests.
    Url(String),
    /// A Secrets Manager secret in the RDS format (`DATABASE_SECRET_ARN`).
    Secret(SecretSource),
}

impl DatabaseSource {
    /// The Secrets Manager secret it is read from, if any.
    pub fn secret_id(&self) -> Option<&str> {
        match self {
            DatabaseSource::Url(_) => None,
            DatabaseSource::Secret(source) => Some(&source.secret_id),
        }
    }
}

/// A database secret, plus what the environment adds to or overrides in it:
/// an RDS-managed master secret holds only the username and password, and an
/// RDS Proxy endpoint replaces the instance's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    pub secret_id: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub ssl_mode: SslMode,
}

// Hand-written so that a URL with a password never reaches a log line.
impl std::fmt::Debug for DatabaseSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSource::Url(_) => f.write_str("Url(<redacted>)"),
            DatabaseSource::Secret(s) => f.debug_tuple("Secret").field(s).finish(),
        }
    }
}

/// TLS towards the database. RDS and Aurora get `Require` unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            _ => Err(()),
        }
    }
}

/// Pool sizing and time bounds. Lambda runs one request per container at a
/// time, so the pool is small: one connection for the request's transaction
/// and one spare (a failure can still be audited outside the failed
/// transaction). Hundreds of containers times a big pool would exhaust the
/// database; RDS Proxy is the place to multiplex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Bounds waiting for a pooled connection, connecting included.
    pub acquire_timeout: Duration,
    /// Session default for every statement; transactions set their own bound too.
    pub statement_timeout: Duration,
    /// A pooled connection idle at least this long is pinged before it is
    /// handed out; one used more recently is not (`store::pool::lazy_pool`).
    pub ping_after_idle: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
            ping_after_idle: Duration::from_secs(5),
        }
    }
}
