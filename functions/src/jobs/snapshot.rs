//! The pre-deploy snapshot: exactly one per deploy of the stack, however
//! many hooks ask for it.
//!
//! Every HTTP function has its own deployment group, so one `sam deploy`
//! starts one CodeDeploy deployment per changed function, each with its own
//! id, and their PreTraffic hooks run at about the same time. RDS takes one
//! snapshot of a database at a time (a second `CreateDBSnapshot` while the
//! instance is `backing-up` is refused), and one is all a deploy needs. So a
//! hook first looks for this deploy's snapshot: a pre-deploy snapshot still
//! being made, or made within the share window (shorter than the canary's
//! interval, so a later deploy never finds the previous one's). Finding
//! none, it takes one; a database that is busy (another hook's snapshot just
//! started, an automated backup, a modification) is waited for, then looked
//! at again. Whatever it took or found, it waits until that snapshot is
//! `available` within its deadline, then prunes beyond `keep`: one snapshot
//! per deploy, so retention counts deploys.

use std::time::{Duration, SystemTime};

use crate::aws::rds::{Rds, RdsError, Snapshot, snapshot_name};
use crate::config::snapshot::SnapshotConfig;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Rds(#[from] RdsError),
    #[error("snapshot {id} is {status}, not available")]
    Unusable { id: String, status: String },
    #[error("snapshot {id} was still {status} when the time ran out")]
    OutOfTime { id: String, status: String },
    #[error("the database stayed busy until the time ran out: {0}")]
    Busy(RdsError),
}

/// The deploy's snapshot, available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub snapshot: String,
    /// False when another hook of the deploy took it.
    pub created: bool,
    /// Old pre-deploy snapshots this call deleted.
    pub pruned: Vec<String>,
}

/// Statuses of a snapshot on its way to `available`.
const IN_PROGRESS: [&str; 3] = ["creating", "backing-up", "copying"];

/// The snapshot of the deploy that `deployment_id` belongs to, made (or
/// found) and available, and the old ones beyond `keep` deleted.
pub async fn take_for_deploy(
    rds: &Rds,
    settings: &SnapshotConfig,
    deployment_id: &str,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<Taken, SnapshotError> {
    let db = &settings.database;
    let (snapshot, created) = loop {
        if let Some(current) = this_deploys(rds, settings).await? {
            break (current, false);
        }
        match rds
            .create(db, &snapshot_name(&settings.prefix, deployment_id))
            .await
        {
            Ok(made) => break made,
            Err(e) if e.database_busy() => {
                tracing::info!(error = %e, "the database is busy; waiting to look again");
                if !keep_going() {
                    return Err(SnapshotError::Busy(e));
                }
                tokio::time::sleep(settings.poll).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(snapshot = %snapshot.id, created, status = %snapshot.status, "pre-deploy snapshot");
    let id = snapshot.id.clone();
    let look = || async { rds.find(db, &id).await };
    wait_until_available(snapshot, look, settings.poll, keep_going).await?;
    let pruned = prune(rds, settings, &id).await?;
    Ok(Taken {
        snapshot: id,
        created,
        pruned,
    })
}

/// The newest pre-deploy snapshot that is this deploy's: still being made,
/// or made within the share window.
async fn this_deploys(rds: &Rds, settings: &SnapshotConfig) -> Result<Option<Snapshot>, RdsError> {
    let since = SystemTime::now() - settings.share_window;
    Ok(ours(rds, settings)
        .await?
        .into_iter()
        .filter(|s| {
            IN_PROGRESS.contains(&s.status.as_str())
                || (s.status == "available" && s.created.is_some_and(|t| t >= since))
        })
        .max_by_key(|s| (s.created, s.id.clone())))
}

/// The pre-deploy snapshots of the database (by their prefix).
async fn ours(rds: &Rds, settings: &SnapshotConfig) -> Result<Vec<Snapshot>, RdsError> {
    let prefix = format!("{}-", settings.prefix.to_ascii_lowercase());
    Ok(rds
        .snapshots(&settings.database, None)
        .await?
        .into_iter()
        .filter(|s| s.id.starts_with(&prefix))
        .collect())
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
            status if IN_PROGRESS.contains(&status) => {}
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
    let mut available: Vec<Snapshot> = ours(rds, settings)
        .await?
        .into_iter()
        .filter(|s| s.status == "available")
        .collect();
    // Newest first (by name when made in the same instant); the one just
    // taken is always kept.
    let rank = |s: &Snapshot| (s.id == current, s.created, s.id.clone());
    available.sort_by_key(|s| std::cmp::Reverse(rank(s)));
    let mut pruned = Vec::new();
    for old in available.iter().skip(settings.keep.max(1)) {
        match rds.delete(&settings.database, &old.id).await {
            Ok(()) => pruned.push(old.id.clone()),
            // Another hook of the deploy pruned it first.
            Err(e) if e.already_gone() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(pruned)
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
            left.try_update(
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
