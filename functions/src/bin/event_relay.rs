//! Lambda: the erasure events' relay (EventBridge schedule, every minute).
//! Publishes what the outbox holds to the stack's bus, until done or the
//! deadline nears.

use erasure::aws::metrics::Metrics;
use erasure::container::Container;
use erasure::jobs::deadline;
use erasure::jobs::relay::{self, RelayEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let container = Container::init().await?;
    let bus = container
        .events
        .as_ref()
        .ok_or("EVENT_BUS_NAME is not set: the relay has nowhere to publish")?;
    let metrics = Metrics::new(&container.sdk);
    let (db, metrics) = (&container.db, &metrics);
    lambda_runtime::run(service_fn(|event: LambdaEvent<RelayEvent>| async move {
        let keep_going = deadline::keep_going(event.context.deadline);
        relay::handle(db, bus, metrics, &keep_going).await
    }))
    .await
}
