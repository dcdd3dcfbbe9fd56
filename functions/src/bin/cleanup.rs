//! Lambda: the daily cleanup (EventBridge schedule). Purges the users whose
//! grace period has ended, until done or the deadline nears.

use erasure::aws::metrics::Metrics;
use erasure::container::Container;
use erasure::jobs::cleanup::{self, CleanupEvent};
use erasure::jobs::deadline;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let container = Container::init().await?;
    let metrics = Metrics::new(&container.sdk);
    let (container, metrics) = (&container, &metrics);
    lambda_runtime::run(service_fn(|event: LambdaEvent<CleanupEvent>| async move {
        let keep_going = deadline::keep_going(event.context.deadline);
        cleanup::handle(container, metrics, &event.payload, &keep_going).await
    }))
    .await
}
