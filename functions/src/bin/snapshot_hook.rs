//! Lambda: the pre-deploy snapshot, CodeDeploy's PreTraffic hook. Snapshots
//! the database, waits until it is available, prunes old ones, and answers
//! CodeDeploy: Succeeded lets traffic shift, Failed stops the deployment.

use erasure::aws::codedeploy::CodeDeploy;
use erasure::aws::metrics::Metrics;
use erasure::aws::rds::Rds;
use erasure::aws::sdk;
use erasure::config::snapshot::SnapshotConfig;
use erasure::jobs::deadline;
use erasure::jobs::snapshot::{self, HookEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = SnapshotConfig::from_env()?;
    let sdk = sdk::load().await;
    let (rds, codedeploy, metrics) = (Rds::new(&sdk), CodeDeploy::new(&sdk), Metrics::new(&sdk));
    let (rds, codedeploy, metrics, settings) = (&rds, &codedeploy, &metrics, &settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<HookEvent>| async move {
        let keep_going = deadline::keep_going(event.context.deadline);
        let report = snapshot::handle(
            rds,
            codedeploy,
            metrics,
            settings,
            &event.payload,
            &keep_going,
        )
        .await?;
        Ok::<_, Error>(report)
    }))
    .await
}
