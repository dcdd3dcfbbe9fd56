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
use crate::aws::rds::{Rds, RdsError, Snapshot, snapshot_name};
use crate::config::snapshot::SnapshotConfig;

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
    settings: &SnapshotConfig,
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
    settings: &SnapshotConfig,
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
    settings: &SnapshotConfig,
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
}
