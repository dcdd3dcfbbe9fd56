//! Configuration from the environment, read once per container. A missing or
//! malformed variable is an error that names the variable, never a default
//! that silently points somewhere else.

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
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Which policy module the functions run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The module compiled into the binary from the rules in the tree.
    Embedded,
    /// A module shipped on its own (a policy-only deploy): accepted only when
    /// its SHA-256 is the configured one.
    File { path: String, sha256: String },
}

/// Users per cleanup transaction unless CLEANUP_BATCH_SIZE says otherwise
/// (the benchmark measures this figure).
pub const DEFAULT_CLEANUP_BATCH_SIZE: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database: DatabaseSource,
    pub pool: PoolSettings,
    pub policy: PolicySource,
    /// How long a soft-deleted user stays restorable (GRACE_PERIOD_DAYS, 30).
    pub grace_period: Duration,
    /// Users per cleanup transaction (CLEANUP_BATCH_SIZE, 1000).
    pub cleanup_batch_size: i64,
    pub integrity: IntegrityConfig,
}

/// The integrity audit's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityConfig {
    /// How far back purges are checked and deletions counted
    /// (INTEGRITY_WINDOW_HOURS, 24).
    pub window: Duration,
    /// Deletions by one actor within the window that are unusual
    /// (INTEGRITY_VOLUME_THRESHOLD, 50).
    pub volume_threshold: i64,
    /// Rows or user ids per batched query (INTEGRITY_BATCH_SIZE, 5000).
    pub batch: i64,
    /// The SSM parameter that keeps the audit chain's anchor outside the
    /// database (AUDIT_ANCHOR_PARAMETER, /erasure/audit-chain-anchor).
    pub anchor_parameter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing configuration: set {0}")]
    Missing(&'static str),
    #[error("invalid configuration: {name}={value:?} is not {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("conflicting configuration: {0}")]
    Conflict(&'static str),
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(&lookup);
        let database = match (env.text("DATABASE_URL"), env.text("DATABASE_SECRET_ARN")) {
            (Some(url), None) => DatabaseSource::Url(url),
            (None, Some(secret_id)) => DatabaseSource::Secret(SecretSource {
                secret_id,
                host: env.text("DATABASE_HOST"),
                port: env.parsed("DATABASE_PORT", "a port number")?,
                dbname: env.text("DATABASE_NAME"),
                ssl_mode: env
                    .parsed(
                        "DATABASE_SSL_MODE",
                        "one of disable, prefer, require, verify-ca, verify-full",
                    )?
                    .unwrap_or(SslMode::Require),
            }),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "set DATABASE_URL or DATABASE_SECRET_ARN, not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::Missing("DATABASE_URL or DATABASE_SECRET_ARN"));
            }
        };
        let defaults = PoolSettings::default();
        let pool = PoolSettings {
            max_connections: env
                .parsed("DATABASE_POOL_MAX", "a whole number")?
                .unwrap_or(defaults.max_connections),
            acquire_timeout: env
                .millis("DATABASE_ACQUIRE_TIMEOUT_MS")?
                .unwrap_or(defaults.acquire_timeout),
            statement_timeout: env
                .millis("DATABASE_STATEMENT_TIMEOUT_MS")?
                .unwrap_or(defaults.statement_timeout),
        };
        if pool.max_connections == 0 {
            return Err(ConfigError::Invalid {
                name: "DATABASE_POOL_MAX",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        let policy = match (
            env.text("POLICY_MODULE_PATH"),
            env.text("POLICY_MODULE_SHA256"),
        ) {
            (None, None) => PolicySource::Embedded,
            (Some(path), Some(sha256)) => PolicySource::File { path, sha256 },
            (Some(_), None) => {
                return Err(ConfigError::Missing(
                    "POLICY_MODULE_SHA256 (the override module's digest)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing(
                    "POLICY_MODULE_PATH (the digest names no module)",
                ));
            }
        };
        let grace_days = env.positive("GRACE_PERIOD_DAYS", 30)?;
        let cleanup_batch_size =
            env.positive("CLEANUP_BATCH_SIZE", DEFAULT_CLEANUP_BATCH_SIZE)? as i64;
        let integrity = IntegrityConfig {
            window: Duration::from_secs(env.positive("INTEGRITY_WINDOW_HOURS", 24)? * 3600),
            volume_threshold: env.positive("INTEGRITY_VOLUME_THRESHOLD", 50)? as i64,
            batch: env.positive("INTEGRITY_BATCH_SIZE", 5000)? as i64,
            anchor_parameter: env
                .text("AUDIT_ANCHOR_PARAMETER")
                .unwrap_or_else(|| "/erasure/audit-chain-anchor".to_owned()),
        };
        Ok(Config {
            database,
            pool,
            policy,
            grace_period: Duration::from_secs(grace_days * 86_400),
            cleanup_batch_size,
            integrity,
        })
    }
}

/// Named lookups with typed, self-explaining errors.
pub(crate) struct Env<'a>(pub(crate) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The variable's value; empty counts as unset (as SAM renders an empty parameter).
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        self.text(name)
            .map(|value| {
                value.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    value,
                    expected,
                })
            })
            .transpose()
    }

    /// A whole number of at least 1, `default` when unset.
    pub(crate) fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self
            .parsed::<u64>(name, "a whole number")?
            .unwrap_or(default)
        {
            0 => Err(ConfigError::Invalid {
                name,
                value: "0".to_owned(),
                expected: "at least 1",
            }),
            n => Ok(n),
        }
    }

    pub(crate) fn millis(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        Ok(self
            .parsed::<u64>(name, "a number of milliseconds")?
            .map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn a_database_url_is_enough() {
        let c = config(&[("DATABASE_URL", "postgres://u:p@127.0.0.1/db")]).unwrap();
        assert_eq!(
            c.database,
            DatabaseSource::Url("postgres://u:p@127.0.0.1/db".into())
        );
        assert_eq!(c.pool, PoolSettings::default());
    }

    #[test]
    fn a_secret_takes_overrides_and_defaults_to_tls() {
        let c = config(&[
            (
                "DATABASE_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:db",
            ),
            ("DATABASE_HOST", "proxy.example"),
            ("DATABASE_PORT", "6543"),
        ])
        .unwrap();
        assert_eq!(
            c.database,
            DatabaseSource::Secret(SecretSource {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:db".into(),
                host: Some("proxy.example".into()),
                port: Some(6543),
                dbname: None,
                ssl_mode: SslMode::Require,
            })
        );
    }

    #[test]
    fn nothing_set_names_what_is_missing() {
        let err = config(&[("DATABASE_URL", "  ")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing configuration: set DATABASE_URL or DATABASE_SECRET_ARN"
        );
    }

    #[test]
    fn both_sources_at_once_is_refused() {
        let err = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("DATABASE_SECRET_ARN", "s"),
        ]);
        assert!(matches!(err, Err(ConfigError::Conflict(_))));
    }

    #[test]
    fn malformed_values_name_the_variable_and_the_value() {
        let err = config(&[("DATABASE_SECRET_ARN", "s"), ("DATABASE_PORT", "five")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: DATABASE_PORT=\"five\" is not a port number"
        );
        let err =
            config(&[("DATABASE_URL", "postgres://x"), ("DATABASE_POOL_MAX", "0")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_POOL_MAX"), "{err}");
        let err = config(&[("DATABASE_SECRET_ARN", "s"), ("DATABASE_SSL_MODE", "on")]).unwrap_err();
        assert!(
            err.to_string().contains("DATABASE_SSL_MODE=\"on\""),
            "{err}"
        );
    }

    #[test]
    fn pool_bounds_are_configurable() {
        let c = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("DATABASE_POOL_MAX", "4"),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "1500"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "2500"),
        ])
        .unwrap();
        assert_eq!(c.pool.max_connections, 4);
        assert_eq!(c.pool.acquire_timeout, Duration::from_millis(1500));
        assert_eq!(c.pool.statement_timeout, Duration::from_millis(2500));
    }

    #[test]
    fn the_embedded_policy_is_the_default_and_an_override_needs_its_digest() {
        let c = config(&[("DATABASE_URL", "postgres://x")]).unwrap();
        assert_eq!(c.policy, PolicySource::Embedded);
        let c = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("POLICY_MODULE_PATH", "/opt/policy.wasm"),
            ("POLICY_MODULE_SHA256", "ab12"),
        ])
        .unwrap();
        assert_eq!(
            c.policy,
            PolicySource::File {
                path: "/opt/policy.wasm".into(),
                sha256: "ab12".into()
            }
        );
        let err = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("POLICY_MODULE_PATH", "/p"),
        ]);
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("POLICY_MODULE_SHA256")
        );
        let err = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("POLICY_MODULE_SHA256", "ab"),
        ]);
        assert!(err.unwrap_err().to_string().contains("POLICY_MODULE_PATH"));
    }

    #[test]
    fn grace_period_and_batch_size_default_and_are_checked() {
        let c = config(&[("DATABASE_URL", "postgres://x")]).unwrap();
        assert_eq!(c.grace_period, Duration::from_secs(30 * 86_400));
        assert_eq!(c.cleanup_batch_size, 1000);
        let c = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("GRACE_PERIOD_DAYS", "7"),
            ("CLEANUP_BATCH_SIZE", "50"),
        ])
        .unwrap();
        assert_eq!(
            (c.grace_period.as_secs(), c.cleanup_batch_size),
            (7 * 86_400, 50)
        );
        for (name, value) in [("GRACE_PERIOD_DAYS", "0"), ("CLEANUP_BATCH_SIZE", "0")] {
            let err = config(&[("DATABASE_URL", "postgres://x"), (name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn debug_output_never_shows_a_database_url() {
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
