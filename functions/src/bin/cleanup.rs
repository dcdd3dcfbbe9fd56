//! Lambda: the daily cleanup (EventBridge schedule). Purges the users whose
//! grace period has ended, until done or the deadline nears.

use std::time::SystemTime;

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
        let deadline = deadline::deadline(event.context.deadline);
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tracing::info!(
            remaining_ms = remaining.as_millis() as u64,
            "cleanup invoked"
        );
        let keep_going = deadline::before(deadline);
        Ok::<_, Error>(cleanup::handle(container, metrics, &event.payload, &keep_going).await?)
    }))
    .await
}
