//! The snapshot hook's settings: which database, how its pre-deploy
//! snapshots are named, how long one is the current deploy's, how many are kept.

use std::time::Duration;

use super::{ConfigError, Env};
use crate::aws::rds::{Database, snapshot_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    pub database: Database,
    /// Names start with it; pruning only touches snapshots that do.
    pub prefix: String,
    /// Pre-deploy snapshots kept, the newest first: one per deploy.
    pub keep: usize,
    /// A pre-deploy snapshot this recent is the current deploy's, taken by
    /// the hook of another of its functions (SNAPSHOT_SHARE_MINUTES, 10):
    /// keep it under the canary's interval, the shortest time between two
    /// deploys of the stack.
    pub share_window: Duration,
    /// Pause between status checks while the snapshot is being made.
    pub poll: Duration,
}

impl SnapshotConfig {
    /// SNAPSHOT_DB_INSTANCE_ID or SNAPSHOT_DB_CLUSTER_ID (Aurora), one of
    /// them; SNAPSHOT_PREFIX (`erasure-predeploy`), SNAPSHOT_KEEP (10).
    pub fn from_env() -> Result<SnapshotConfig, ConfigError> {
        SnapshotConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SnapshotConfig, ConfigError> {
        let env = Env(&lookup);
        let database = match (
            env.text("SNAPSHOT_DB_INSTANCE_ID"),
            env.text("SNAPSHOT_DB_CLUSTER_ID"),
        ) {
            (Some(instance), None) => Database::Instance(instance),
            (None, Some(cluster)) => Database::Cluster(cluster),
            (None, None) => {
                return Err(ConfigError::Missing(
                    "SNAPSHOT_DB_INSTANCE_ID or SNAPSHOT_DB_CLUSTER_ID",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "set SNAPSHOT_DB_INSTANCE_ID or SNAPSHOT_DB_CLUSTER_ID, not both",
                ));
            }
        };
        let prefix = env
            .text("SNAPSHOT_PREFIX")
            .unwrap_or_else(|| "erasure-predeploy".to_owned());
        if !valid_prefix(&prefix) {
            return Err(ConfigError::Invalid {
                name: "SNAPSHOT_PREFIX",
                value: prefix,
                expected: "up to 40 letters, digits and single hyphens, starting with a letter",
            });
        }
        Ok(SnapshotConfig {
            database,
            prefix,
            keep: env.positive("SNAPSHOT_KEEP", 10)? as usize,
            share_window: Duration::from_secs(env.positive("SNAPSHOT_SHARE_MINUTES", 10)? * 60),
            poll: Duration::from_secs(5),
        })
    }
}

/// A prefix that names survive whole: it starts with a letter, has nothing
/// the names would rewrite, and leaves room for a deployment id.
fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= 40
        && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && snapshot_name(prefix, "d") == format!("{}-d", prefix.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<SnapshotConfig, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        SnapshotConfig::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn one_database_and_a_usable_prefix_are_required() {
        let s = settings(&[("SNAPSHOT_DB_CLUSTER_ID", "erasure-aurora")]).unwrap();
        assert_eq!(
            (s.database, s.prefix.as_str(), s.keep),
            (
                Database::Cluster("erasure-aurora".into()),
                "erasure-predeploy",
                10
            )
        );
        assert!(matches!(settings(&[]), Err(ConfigError::Missing(_))));
        let both = [
            ("SNAPSHOT_DB_INSTANCE_ID", "a"),
            ("SNAPSHOT_DB_CLUSTER_ID", "b"),
        ];
        assert!(matches!(settings(&both), Err(ConfigError::Conflict(_))));
        for bad in [
            "1st",
            "double--hyphen",
            "trailing-",
            "under_score",
            &"x".repeat(41),
        ] {
            let err = settings(&[("SNAPSHOT_DB_INSTANCE_ID", "db"), ("SNAPSHOT_PREFIX", bad)])
                .unwrap_err();
            assert!(err.to_string().contains("SNAPSHOT_PREFIX"), "{bad}: {err}");
        }
    }
}
