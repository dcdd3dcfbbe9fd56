//! CodeDeploy: a lifecycle hook's answer. Until it is given, the deployment
//! waits (and fails when the hook times out).

use aws_config::SdkConfig;
use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::error::DisplayErrorContext;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookStatus {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
pub struct CodeDeploy {
    client: Client,
}

impl CodeDeploy {
    pub fn new(sdk: &SdkConfig) -> CodeDeploy {
        CodeDeploy {
            client: Client::new(sdk),
        }
    }

    /// A client for a given endpoint (CodeDeploy's, or a stand-in in tests).
    pub fn with_endpoint(sdk: &SdkConfig, endpoint: &str) -> CodeDeploy {
        let config = aws_sdk_codedeploy::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        CodeDeploy {
            client: Client::from_conf(config),
        }
    }

    /// Tells CodeDeploy how the hook went (PutLifecycleEventHookExecutionStatus).
    pub async fn report(
        &self,
        deployment_id: &str,
        hook_execution_id: &str,
        status: HookStatus,
    ) -> Result<(), String> {
        let status = match status {
            HookStatus::Succeeded => LifecycleEventStatus::Succeeded,
            HookStatus::Failed => LifecycleEventStatus::Failed,
        };
        self.client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(hook_execution_id)
            .status(status)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(e).to_string())
    }
}
