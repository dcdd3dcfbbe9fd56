//! CodeDeploy's PreTraffic hook of every HTTP function: before traffic
//! shifts to a new version, the deploy's database snapshot (`snapshot`),
//! then the new version's smoke test (`smoke_test`), then the answer:
//! `Succeeded` lets traffic shift, `Failed` stops the deployment. Any
//! failure answers `Failed`, with its reason in the log and a metric.

use serde::{Deserialize, Serialize};

use super::failure::{FailureKind, Job, JobFailure};
use super::smoke_test::{self, SmokeTestError};
use super::snapshot::{self, SnapshotError, Taken};
use crate::aws::codedeploy::{CodeDeploy, HookStatus};
use crate::aws::lambda::Lambda;
use crate::aws::metrics::{Metric, Metrics};
use crate::aws::rds::Rds;
use crate::config::snapshot::SnapshotConfig;

/// The function's name, as the `Function` dimension of its metrics.
pub const FUNCTION: &str = "snapshot_hook";
/// 1 when the deploy's snapshot could not be had, else 0.
pub const SNAPSHOT_FAILED: &str = "SnapshotFailed";
/// 1 when the new version failed its smoke test, else 0.
pub const SMOKE_TEST_FAILED: &str = "SmokeTestFailed";

/// What CodeDeploy sends a lifecycle hook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookEvent {
    #[serde(rename = "DeploymentId")]
    pub deployment_id: String,
    #[serde(rename = "LifecycleEventHookExecutionId")]
    pub hook_execution_id: String,
}

/// The AWS clients the hook uses, built once per container.
pub struct HookClients {
    pub rds: Rds,
    pub codedeploy: CodeDeploy,
    pub lambda: Lambda,
    pub metrics: Metrics,
}

/// What the hook did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookReport {
    pub status: HookStatus,
    /// The deploy's snapshot, when there is one.
    pub snapshot: Option<String>,
    /// False when another hook of the deploy took it.
    pub created: bool,
    pub pruned: Vec<String>,
    /// The version smoke-tested (`function:version`).
    pub smoke_tested: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum HookError {
    #[error("pre-deploy snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("smoke test: {0}")]
    Target(String),
    #[error("smoke test: {0}")]
    SmokeTest(#[from] SmokeTestError),
}

/// One invocation: the snapshot, the smoke test, the answer to CodeDeploy,
/// and the metrics. An error is returned only when CodeDeploy could not be
/// told (the hook then times out, which fails the deployment too).
pub async fn handle(
    clients: &HookClients,
    settings: &SnapshotConfig,
    event: &HookEvent,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<HookReport, JobFailure> {
    let mut report = HookReport {
        status: HookStatus::Succeeded,
        snapshot: None,
        created: false,
        pruned: vec![],
        smoke_tested: None,
        error: None,
    };
    let outcome = async {
        let Taken {
            snapshot,
            created,
            pruned,
        } = snapshot::take_for_deploy(&clients.rds, settings, &event.deployment_id, keep_going)
            .await?;
        (report.snapshot, report.created, report.pruned) = (Some(snapshot), created, pruned);
        let target = clients
            .codedeploy
            .target(&event.deployment_id)
            .await
            .map_err(HookError::Target)?;
        report.smoke_tested = Some(format!("{}:{}", target.name, target.target_version));
        smoke_test::run(&clients.lambda, &target).await?;
        Ok::<_, HookError>(())
    }
    .await;
    // The step that failed: the snapshot, or anything of the smoke test.
    let (snapshot_failed, smoke_test_failed) = match &outcome {
        Ok(()) => (0u8, 0u8),
        Err(HookError::Snapshot(_)) => (1, 0),
        Err(_) => (0, 1),
    };
    let figures = [
        Metric::count(SNAPSHOT_FAILED, snapshot_failed),
        Metric::count(SMOKE_TEST_FAILED, smoke_test_failed),
    ];
    if let Err(e) = &outcome {
        tracing::error!(error = %e, deployment = %event.deployment_id, "the pre-traffic hook failed; failing the deployment");
        report.status = HookStatus::Failed;
        report.error = Some(e.to_string());
    }
    if let Err(e) = clients.metrics.publish(FUNCTION, &figures).await {
        tracing::error!(error = %e, "could not publish the hook's metrics");
    }
    clients
        .codedeploy
        .report(
            &event.deployment_id,
            &event.hook_execution_id,
            report.status,
        )
        .await
        .map_err(|e| {
            let message = "CodeDeploy could not be told the hook's verdict; the hook times out, which fails the deployment";
            JobFailure::new(Job::SnapshotHook, FailureKind::CodeDeployUnreachable, message, &e)
        })?;
    Ok(report)
}
