//! Configuration from the environment, read once per container, one section
//! per consumer. A missing or malformed variable is an error that names the
//! variable, never a default that silently points somewhere else.
//!
//! - `Config` (here): what every function with a database reads: where the
//!   database is, the pool, the policy module, and one section each for the
//!   requests' transactions, the cleanup and the integrity audit;
//! - `http::HttpConfig`: the HTTP functions only (token keys, CORS, rate limits);
//! - `snapshot::SnapshotConfig`: the snapshot hook only (it has no database).

mod database;
mod env;
pub mod http;
pub mod snapshot;

use std::time::Duration;

pub use database::{DatabaseSource, PoolSettings, SecretSource, SslMode};
pub use env::ConfigError;
pub(crate) use env::Env;

/// Which policy module the functions run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The module compiled into the binary from the rules in the tree.
    Embedded,
    /// A module shipped on its own (a policy-only deploy): accepted only when
    /// its SHA-256 is the configured one.
    File { path: String, sha256: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database: DatabaseSource,
    pub pool: PoolSettings,
    pub policy: PolicySource,
    pub requests: RequestConfig,
    pub cleanup: CleanupConfig,
    pub integrity: IntegrityConfig,
    /// Where the alarm responder announces pauses and resumes (ALARM_TOPIC_ARN; none: logged only).
    pub alarm_topic_arn: Option<String>,
    /// The EventBridge bus the erasure events go to (EVENT_BUS_NAME). The
    /// relay requires it; without it, an HTTP function leaves its event in
    /// the outbox for the relay rather than publishing it at once.
    pub event_bus_name: Option<String>,
}

/// How long a soft-deleted user stays restorable unless GRACE_PERIOD_DAYS
/// says otherwise. Every section that needs it gets it from one variable.
const GRACE_PERIOD: Duration = Duration::from_secs(30 * 86_400);

/// The store's bounds on one request's transaction (HTTP requests, and
/// anything else that runs `store::deletion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestConfig {
    /// GRACE_PERIOD_DAYS, 30.
    pub grace_period: Duration,
    /// Bound of the whole transaction (TRANSACTION_TIMEOUT_MS, 10 000: the source app's 10 s).
    pub transaction_timeout: Duration,
    /// Bound of the wait for a row lock, within it (LOCK_TIMEOUT_MS, 3 000).
    pub lock_timeout: Duration,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            grace_period: GRACE_PERIOD,
            transaction_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(3),
        }
    }
}

/// The scheduled cleanup's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupConfig {
    /// GRACE_PERIOD_DAYS, 30.
    pub grace_period: Duration,
    /// Users per transaction (CLEANUP_BATCH_SIZE, 1000: the benchmark measures this figure).
    pub batch_size: i64,
    /// Bounds each batch's statements (the pool's DATABASE_STATEMENT_TIMEOUT_MS).
    pub statement_timeout: Duration,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            grace_period: GRACE_PERIOD,
            batch_size: 1000,
            statement_timeout: PoolSettings::default().statement_timeout,
        }
    }
}

/// The integrity audit's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityConfig {
    /// GRACE_PERIOD_DAYS, 30: who is overdue.
    pub grace_period: Duration,
    /// How far back purges are checked and deletions counted
    /// (INTEGRITY_WINDOW_HOURS, 24).
    pub window: Duration,
    /// Deletions by one actor within the window that are unusual
    /// (INTEGRITY_VOLUME_THRESHOLD, 50).
    pub volume_threshold: i64,
    /// Audit rows per batch of the chain's verification, which reads them
    /// (INTEGRITY_BATCH_SIZE, 5000).
    pub batch: i64,
    /// Rows per batch of an orphan scan, counted in the database: only two
    /// values come back, so the size bounds a statement's time, not memory
    /// (INTEGRITY_SCAN_BATCH_SIZE, 50000; about 20 ms a batch on the local
    /// cluster, `make bench-integrity`).
    pub scan_batch: i64,
    /// The SSM parameter that keeps the audit chain's anchor outside the
    /// database (AUDIT_ANCHOR_PARAMETER, /erasure/audit-chain-anchor).
    pub anchor_parameter: String,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            grace_period: GRACE_PERIOD,
            window: Duration::from_secs(24 * 3600),
            volume_threshold: 50,
            batch: 5000,
            scan_batch: 50_000,
            anchor_parameter: "/erasure/audit-chain-anchor".to_owned(),
        }
    }
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
            ..defaults
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
        let grace_period = Duration::from_secs(
            env.positive("GRACE_PERIOD_DAYS", GRACE_PERIOD.as_secs() / 86_400)? * 86_400,
        );
        let request_defaults = RequestConfig::default();
        let requests = RequestConfig {
            grace_period,
            transaction_timeout: env
                .millis("TRANSACTION_TIMEOUT_MS")?
                .unwrap_or(request_defaults.transaction_timeout),
            lock_timeout: env
                .millis("LOCK_TIMEOUT_MS")?
                .unwrap_or(request_defaults.lock_timeout),
        };
        let cleanup = CleanupConfig {
            grace_period,
            batch_size: env.positive(
                "CLEANUP_BATCH_SIZE",
                CleanupConfig::default().batch_size as u64,
            )? as i64,
            statement_timeout: pool.statement_timeout,
        };
        let integrity_defaults = IntegrityConfig::default();
        let integrity = IntegrityConfig {
            grace_period,
            window: Duration::from_secs(
                env.positive(
                    "INTEGRITY_WINDOW_HOURS",
                    integrity_defaults.window.as_secs() / 3600,
                )? * 3600,
            ),
            volume_threshold: env.positive(
                "INTEGRITY_VOLUME_THRESHOLD",
                integrity_defaults.volume_threshold as u64,
            )? as i64,
            batch: env.positive("INTEGRITY_BATCH_SIZE", integrity_defaults.batch as u64)? as i64,
            scan_batch: env.positive(
                "INTEGRITY_SCAN_BATCH_SIZE",
                integrity_defaults.scan_batch as u64,
            )? as i64,
            anchor_parameter: env
                .text("AUDIT_ANCHOR_PARAMETER")
                .unwrap_or(integrity_defaults.anchor_parameter),
        };
        Ok(Config {
            database,
            pool,
            policy,
            requests,
            cleanup,
            integrity,
            alarm_topic_arn: env.text("ALARM_TOPIC_ARN"),
            event_bus_name: env.text("EVENT_BUS_NAME"),
        })
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
            ("POLICY_MODULE_PATH", "/opt/policy.cwasm"),
            ("POLICY_MODULE_SHA256", "ab12"),
        ])
        .unwrap();
        assert_eq!(
            c.policy,
            PolicySource::File {
                path: "/opt/policy.cwasm".into(),
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
        assert_eq!(c.requests, RequestConfig::default());
        assert_eq!(c.cleanup, CleanupConfig::default());
        assert_eq!(c.integrity, IntegrityConfig::default());
        let c = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("GRACE_PERIOD_DAYS", "7"),
            ("CLEANUP_BATCH_SIZE", "50"),
            ("INTEGRITY_BATCH_SIZE", "60"),
            ("INTEGRITY_SCAN_BATCH_SIZE", "70"),
        ])
        .unwrap();
        assert_eq!(
            (
                c.requests.grace_period.as_secs(),
                c.cleanup.grace_period.as_secs(),
                c.integrity.grace_period.as_secs(),
                c.cleanup.batch_size,
                c.integrity.batch,
                c.integrity.scan_batch,
            ),
            (7 * 86_400, 7 * 86_400, 7 * 86_400, 50, 60, 70)
        );
        for (name, value) in [
            ("GRACE_PERIOD_DAYS", "0"),
            ("CLEANUP_BATCH_SIZE", "0"),
            ("INTEGRITY_SCAN_BATCH_SIZE", "0"),
        ] {
            let err = config(&[("DATABASE_URL", "postgres://x"), (name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn transaction_bounds_are_the_stores_and_the_cleanup_takes_the_statement_bound() {
        let c = config(&[
            ("DATABASE_URL", "postgres://x"),
            ("TRANSACTION_TIMEOUT_MS", "4000"),
            ("LOCK_TIMEOUT_MS", "500"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "2500"),
        ])
        .unwrap();
        assert_eq!(c.requests.transaction_timeout, Duration::from_secs(4));
        assert_eq!(c.requests.lock_timeout, Duration::from_millis(500));
        assert_eq!(c.cleanup.statement_timeout, Duration::from_millis(2500));
    }

    #[test]
    fn debug_output_never_shows_a_database_url() {
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
