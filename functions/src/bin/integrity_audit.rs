//! Lambda: the integrity audit (EventBridge schedule, or invoked on demand).
//! Resumes the open run until done or the deadline nears.

use erasure::aws::anchor::Anchors;
use erasure::aws::metrics::Metrics;
use erasure::container::Container;
use erasure::jobs::audit_run::{self, AuditEvent};
use erasure::jobs::deadline;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let container = Container::init().await?;
    let metrics = Metrics::new(&container.sdk);
    let anchors = Anchors::new(&container.sdk, &container.config.integrity.anchor_parameter);
    let (container, metrics, anchors) = (&container, &metrics, &anchors);
    lambda_runtime::run(service_fn(|event: LambdaEvent<AuditEvent>| async move {
        let keep_going = deadline::before(deadline::deadline(event.context.deadline));
        let outcome =
            audit_run::handle(container, metrics, anchors, &event.payload, &keep_going).await?;
        Ok::<_, Error>(outcome)
    }))
    .await
}
