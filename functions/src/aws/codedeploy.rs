//! CodeDeploy: what a deployment deploys (the function and the version
//! traffic is about to shift to), and a lifecycle hook's answer. Until the
//! answer is given, the deployment waits (and fails when the hook times out).

use aws_config::SdkConfig;
use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::error::DisplayErrorContext;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookStatus {
    Succeeded,
    Failed,
}

/// The Lambda function of a deployment, from its AppSpec: traffic on
/// `alias` is about to shift from `current_version` to `target_version`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub name: String,
    pub alias: String,
    pub current_version: String,
    pub target_version: String,
}

/// The part of a Lambda deployment's AppSpec that names what it deploys
/// (<https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html>).
#[derive(Deserialize)]
struct AppSpec {
    #[serde(rename = "Resources")]
    resources: Vec<std::collections::BTreeMap<String, AppSpecResource>>,
}

#[derive(Deserialize)]
struct AppSpecResource {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Properties")]
    properties: Target,
}

/// The function an AppSpec (JSON, as CloudFormation writes it) deploys.
pub fn target_of(appspec: &str) -> Result<Target, String> {
    let spec: AppSpec =
        serde_json::from_str(appspec).map_err(|e| format!("the deployment's AppSpec: {e}"))?;
    let mut functions = spec
        .resources
        .into_iter()
        .flat_map(|r| r.into_values())
        .filter(|r| r.kind == "AWS::Lambda::Function");
    match (functions.next(), functions.next()) {
        (Some(only), None) => Ok(only.properties),
        _ => Err("the deployment's AppSpec does not name exactly one Lambda function".to_owned()),
    }
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

    /// What the deployment deploys: its AppSpec, from the deployment
    /// (GetDeployment) or, when that carries only the revision's digest,
    /// from the application's revision (GetApplicationRevision).
    pub async fn target(&self, deployment_id: &str) -> Result<Target, String> {
        let deployment = self
            .client
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| format!("CodeDeploy GetDeployment: {}", DisplayErrorContext(e)))?;
        let info = deployment
            .deployment_info()
            .ok_or_else(|| format!("CodeDeploy GetDeployment: no deployment {deployment_id}"))?;
        let revision = info.revision().ok_or_else(|| {
            format!("CodeDeploy GetDeployment: deployment {deployment_id} has no revision")
        })?;
        let content = match revision.app_spec_content().and_then(|c| c.content()) {
            Some(content) => content.to_owned(),
            None => self
                .client
                .get_application_revision()
                .application_name(info.application_name().unwrap_or_default())
                .revision(revision.clone())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "CodeDeploy GetApplicationRevision: {}",
                        DisplayErrorContext(e)
                    )
                })?
                .revision()
                .and_then(|r| r.app_spec_content())
                .and_then(|c| c.content())
                .ok_or("CodeDeploy GetApplicationRevision: the revision has no AppSpec content")?
                .to_owned(),
        };
        target_of(&content)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appspec_names_the_function_and_the_versions() {
        let appspec = r#"{"version": 0.0, "Resources": [{"SoftDeleteUserFunction": {"Type": "AWS::Lambda::Function",
            "Properties": {"Name": "erasure-prod-soft-delete-user", "Alias": "live", "CurrentVersion": "7", "TargetVersion": "8"}}}]}"#;
        assert_eq!(
            target_of(appspec).unwrap(),
            Target {
                name: "erasure-prod-soft-delete-user".into(),
                alias: "live".into(),
                current_version: "7".into(),
                target_version: "8".into(),
            }
        );
        assert!(target_of(r#"{"version": 0.0, "Resources": []}"#).is_err());
        assert!(target_of("version: 0.0").unwrap_err().contains("AppSpec"));
    }
}
