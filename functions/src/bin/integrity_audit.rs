//! Lambda: the integrity audit (EventBridge schedule, or invoked on demand).
//! Resumes the open run until done or the deadline nears.

use erasure::aws::anchor::Anchors;
use erasure::aws::metrics::Metrics;
use erasure::container::Container;
use erasure::jobs::deadline;
use erasure::jobs::integrity_audit::invocation::{self, IntegrityAuditEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let container = Container::init().await?;
    let metrics = Metrics::new(&container.sdk);
    let anchors = Anchors::new(&container.sdk, &container.config.integrity.anchor_parameter);
    let (container, metrics, anchors) = (&container, &metrics, &anchors);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<IntegrityAuditEvent>| async move {
            let keep_going = deadline::keep_going(event.context.deadline);
            invocation::handle(container, metrics, anchors, &event.payload, &keep_going).await
        },
    ))
    .await
}
