//! The pre-deploy snapshot (a CodeDeploy `PreTraffic` hook): before traffic
//! shifts to a new version, take a manual snapshot of the database, wait
//! until it is `available`, prune old ones, and tell CodeDeploy. Any failure
//! answers `Failed`, which stops the deployment.
//!
//! Every HTTP function has its own deployment group, so one deploy runs this
//! hook several times, often at once: the snapshot's name comes from the
//! deployment, and whichever invocation is first takes it while the others
//! find it and wait for the same snapshot.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aws::codedeploy::{CodeDeploy, HookStatus};
use crate::aws::metrics::{Metric, Metrics};
use crate::aws::rds::{Database, Rds, RdsError, Snapshot};
use crate::config::{ConfigError, Env};

/// The function's name, as the `Function` dimension of its metric.
pub const FUNCTION: &str = "snapshot_hook";
/// 1 when an invocation answered `Failed`, 0 when `Succeeded`.
pub const SNAPSHOT_FAILED: &str = "SnapshotFailed";

/// What CodeDeploy sends a lifecycle hook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookEvent {
    #[serde(rename = "DeploymentId")]
    pub deployment_id: String,
    #[serde(rename = "LifecycleEventHookExecutionId")]
    pub hook_execution_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    pub database: Database,
    /// Names start with it; pruning only touches snapshots that do.
    pub prefix: String,
    /// Pre-deploy snapshots kept, the newest first.
    pub keep: usize,
    /// Pause between status checks while the snapshot is being made.
    pub poll: Duration,
}

impl SnapshotSettings {
    /// SNAPSHOT_DB_INSTANCE_ID or SNAPSHOT_DB_CLUSTER_ID (Aurora), one of
    /// them; SNAPSHOT_PREFIX (`erasure-predeploy`), SNAPSHOT_KEEP (10).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SnapshotSettings, ConfigError> {
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
        Ok(SnapshotSettings {
            database,
            prefix,
            keep: env.positive("SNAPSHOT_KEEP", 10)? as usize,
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

/// RDS limits a cluster snapshot's name to 63 characters (an instance's to 255).
const MAX_NAME: usize = 63;

/// The snapshot's name for a deployment: lowercase letters, digits and
/// single hyphens, starting with the prefix's letter, at most 63 characters,
/// never ending in a hyphen (RDS's rules).
pub fn snapshot_name(prefix: &str, deployment_id: &str) -> String {
    let mut name = String::new();
    for c in format!("{prefix}-{deployment_id}").chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    name.truncate(MAX_NAME);
    name.trim_end_matches('-').to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Rds(#[from] RdsError),
    #[error("snapshot {id} is {status}, not available")]
    Unusable { id: String, status: String },
    #[error("snapshot {id} was still {status} when the time ran out")]
    OutOfTime { id: String, status: String },
}

/// What the hook did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookReport {
    pub status: HookStatus,
    pub snapshot: String,
    /// False when another invocation of the same deployment made it.
    pub created: bool,
    pub pruned: Vec<String>,
    pub error: Option<String>,
}

/// The snapshot called `name`, made (or found) and available, and the old
/// ones beyond `keep` deleted. Returns whether this call created it and
/// what it pruned.
async fn take(
    rds: &Rds,
    settings: &SnapshotSettings,
    name: &str,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<(bool, Vec<String>), SnapshotError> {
    let db = &settings.database;
    let (snapshot, created) = match rds.find(db, name).await? {
        Some(found) => (found, false),
        None => rds.create(db, name).await?,
    };
    tracing::info!(snapshot = %name, created, status = %snapshot.status, "pre-deploy snapshot");
    let look = || async { rds.find(db, name).await };
    wait_until_available(snapshot, look, settings.poll, keep_going).await?;
    let pruned = prune(rds, settings, name).await?;
    Ok((created, pruned))
}

/// Polls the snapshot (`look`) every `poll` until it is available, while
/// `keep_going` allows; a snapshot that failed or vanished is an error.
async fn wait_until_available<F, Fut>(
    mut snapshot: Snapshot,
    look: F,
    poll: Duration,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<(), SnapshotError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<Snapshot>, RdsError>>,
{
    loop {
        match snapshot.status.as_str() {
            "available" => return Ok(()),
            "creating" | "backing-up" | "copying" => {}
            other => {
                return Err(SnapshotError::Unusable {
                    id: snapshot.id,
                    status: other.to_owned(),
                });
            }
        }
        if !keep_going() {
            return Err(SnapshotError::OutOfTime {
                id: snapshot.id,
                status: snapshot.status,
            });
        }
        tokio::time::sleep(poll).await;
        snapshot = look().await?.ok_or_else(|| SnapshotError::Unusable {
            id: snapshot.id.clone(),
            status: "gone".to_owned(),
        })?;
    }
}

/// Deletes the oldest available pre-deploy snapshots beyond `keep`, never
/// `current`.
async fn prune(
    rds: &Rds,
    settings: &SnapshotSettings,
    current: &str,
) -> Result<Vec<String>, RdsError> {
    let prefix = format!("{}-", settings.prefix.to_ascii_lowercase());
    let mut ours: Vec<Snapshot> = rds
        .snapshots(&settings.database, None)
        .await?
        .into_iter()
        .filter(|s| s.id.starts_with(&prefix) && s.status == "available")
        .collect();
    // Newest first (by name when made in the same instant); the one just
    // taken is always kept.
    let rank = |s: &Snapshot| (s.id == current, s.created, s.id.clone());
    ours.sort_by_key(|s| std::cmp::Reverse(rank(s)));
    let mut pruned = Vec::new();
    for old in ours.iter().skip(settings.keep.max(1)) {
        rds.delete(&settings.database, &old.id).await?;
        pruned.push(old.id.clone());
    }
    Ok(pruned)
}

/// One invocation: take the snapshot, answer CodeDeploy, publish whether it
/// failed. An error is returned only when CodeDeploy could not be told (the
/// hook then times out, which fails the deployment too).
pub async fn handle(
    rds: &Rds,
    codedeploy: &CodeDeploy,
    metrics: &Metrics,
    settings: &SnapshotSettings,
    event: &HookEvent,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<HookReport, String> {
    let snapshot = snapshot_name(&settings.prefix, &event.deployment_id);
    let taken = take(rds, settings, &snapshot, keep_going).await;
    let report = match taken {
        Ok((created, pruned)) => HookReport {
            status: HookStatus::Succeeded,
            snapshot,
            created,
            pruned,
            error: None,
        },
        Err(e) => {
            tracing::error!(error = %e, deployment = %event.deployment_id, "pre-deploy snapshot failed; failing the deployment");
            HookReport {
                status: HookStatus::Failed,
                snapshot,
                created: false,
                pruned: vec![],
                error: Some(e.to_string()),
            }
        }
    };
    let failed = u8::from(report.status == HookStatus::Failed);
    if let Err(e) = metrics
        .publish(FUNCTION, &[Metric::count(SNAPSHOT_FAILED, failed)])
        .await
    {
        tracing::error!(error = %e, "could not publish the snapshot metric");
    }
    codedeploy
        .report(
            &event.deployment_id,
            &event.hook_execution_id,
            report.status,
        )
        .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    // moto makes a snapshot available at once and has no state transitions
    // for RDS, so the statuses RDS goes through are scripted here.
    fn snapshot(status: &str) -> Snapshot {
        Snapshot {
            id: "s".into(),
            status: status.into(),
            created: None,
        }
    }

    async fn wait(first: &str, then: &[&str], steps: usize) -> Result<usize, SnapshotError> {
        let script = Mutex::new(then.iter().map(|s| Some(snapshot(s))).collect::<Vec<_>>());
        let looks = Mutex::new(0);
        let look = || async {
            *looks.lock().unwrap() += 1;
            let mut script = script.lock().unwrap();
            Ok(if script.is_empty() {
                None
            } else {
                script.remove(0)
            })
        };
        let left = std::sync::atomic::AtomicUsize::new(steps);
        let keep_going = || {
            left.fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |l| l.checked_sub(1),
            )
            .is_ok()
        };
        wait_until_available(snapshot(first), look, Duration::from_millis(1), &keep_going).await?;
        Ok(*looks.lock().unwrap())
    }

    #[tokio::test]
    async fn waiting_follows_the_snapshot_until_it_is_available_or_time_is_up() {
        assert_eq!(wait("available", &[], 0).await.unwrap(), 0);
        assert_eq!(
            wait("creating", &["creating", "backing-up", "available"], 10)
                .await
                .unwrap(),
            3
        );
        let late = wait("creating", &["creating", "creating", "creating"], 2)
            .await
            .unwrap_err();
        assert!(
            matches!(late, SnapshotError::OutOfTime { ref status, .. } if status == "creating"),
            "{late}"
        );
        let failed = wait("creating", &["failed"], 10).await.unwrap_err();
        assert!(
            matches!(failed, SnapshotError::Unusable { ref status, .. } if status == "failed"),
            "{failed}"
        );
        let gone = wait("creating", &[], 10).await.unwrap_err();
        assert!(
            matches!(gone, SnapshotError::Unusable { ref status, .. } if status == "gone"),
            "{gone}"
        );
    }

    #[test]
    fn names_follow_the_rds_rules_and_the_deployment() {
        assert_eq!(
            snapshot_name("erasure-predeploy", "d-AB12CD34E"),
            "erasure-predeploy-d-ab12cd34e"
        );
        assert_eq!(snapshot_name("erasure", "d--X_y.z-"), "erasure-d-x-y-z");
        let long = snapshot_name("erasure-predeploy", &"d-".repeat(60));
        assert!(
            long.len() <= 63 && !long.ends_with('-') && !long.contains("--"),
            "{long}"
        );
        assert_ne!(
            snapshot_name("erasure", "d-1"),
            snapshot_name("erasure", "d-2")
        );
    }

    fn settings(vars: &[(&str, &str)]) -> Result<SnapshotSettings, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        SnapshotSettings::from_lookup(|k| map.get(k).map(|v| v.to_string()))
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
