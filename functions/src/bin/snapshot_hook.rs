//! Lambda: CodeDeploy's PreTraffic hook of every HTTP function. Takes the
//! deploy's database snapshot (one per deploy), smoke-tests the new version,
//! and answers CodeDeploy: Succeeded lets traffic shift, Failed stops the
//! deployment.

use erasure::aws::codedeploy::CodeDeploy;
use erasure::aws::lambda::Lambda;
use erasure::aws::metrics::Metrics;
use erasure::aws::rds::Rds;
use erasure::aws::sdk;
use erasure::config::snapshot::SnapshotConfig;
use erasure::jobs::deadline;
use erasure::jobs::pre_traffic::{self, HookClients, HookEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = SnapshotConfig::from_env()?;
    let sdk = sdk::load().await;
    let clients = HookClients {
        rds: Rds::new(&sdk),
        codedeploy: CodeDeploy::new(&sdk),
        lambda: Lambda::new(&sdk),
        metrics: Metrics::new(&sdk),
    };
    let (clients, settings) = (&clients, &settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<HookEvent>| async move {
        let keep_going = deadline::keep_going(event.context.deadline);
        pre_traffic::handle(clients, settings, &event.payload, &keep_going).await
    }))
    .await
}
