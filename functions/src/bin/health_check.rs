//! Lambda: reports whether the function's database is reachable and migrated.
//! Invoked after a deploy and by the local stack's smoke test.

use erasure::container::Container;
use erasure::health;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let container = Container::init().await?;
    let container = &container;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async move {
        let report = health::check(&container.db, &container.policy).await;
        tracing::info!(healthy = report.healthy, problems = ?report.problems, "health check");
        Ok::<_, Error>(report)
    }))
    .await
}
