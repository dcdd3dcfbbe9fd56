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

/// A stand-in for CodeDeploy's hook API on loopback, for the local stack and
/// the tests (moto does not serve PutLifecycleEventHookExecutionStatus). It
/// answers as CodeDeploy does, keeps each call (the X-Amz-Target header and
/// the JSON body) and prints it as a JSON line.
pub mod stand_in {
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::http::HeaderMap;
    use serde_json::{Value, json};

    pub type Calls = Arc<Mutex<Vec<(String, Value)>>>;

    /// Serves on `listener` until the task is dropped; returns its calls.
    pub fn serve(listener: tokio::net::TcpListener) -> Calls {
        let calls: Calls = Arc::default();
        let log = calls.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let log = log.clone();
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|t| t.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let id = body["lifecycleEventHookExecutionId"].clone();
                    // One JSON line per call: the local stack's log of hook answers.
                    println!("{}", json!({ "target": target, "body": body }));
                    log.lock().expect("not poisoned").push((target, body));
                    (
                        [("content-type", "application/x-amz-json-1.1")],
                        Json(json!({ "lifecycleEventHookExecutionId": id })),
                    )
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        calls
    }
}
