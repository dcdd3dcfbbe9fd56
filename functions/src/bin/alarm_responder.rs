//! Lambda: the alarm responder (a CloudWatch alarm's Lambda action, an SNS
//! notification of one, or a person's resume command). Pauses and resumes
//! deletions, audits and announces each change.

use erasure::aws::notify::Announcer;
use erasure::container::Container;
use erasure::jobs::alarm_responder::{self, ResponderEvent};
use erasure::jobs::failure::JobFailure;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let container = Container::init().await?;
    let announcer = Announcer::new(&container.sdk, container.config.alarm_topic_arn.clone());
    let (container, announcer) = (&container, &announcer);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ResponderEvent>| async move {
            let responses =
                alarm_responder::handle(&container.db, announcer, &event.payload).await?;
            tracing::info!(?responses, "alarm responder");
            Ok::<_, JobFailure>(responses)
        },
    ))
    .await
}
