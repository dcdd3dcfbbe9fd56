//! SNS: announcing what the alarm responder did on the alarm topic, where
//! the people who own the service read their alarms.

use aws_config::SdkConfig;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;

#[derive(Debug, Clone)]
pub struct Announcer {
    client: Client,
    /// None: nowhere to announce (logged instead).
    topic_arn: Option<String>,
}

impl Announcer {
    pub fn new(sdk: &SdkConfig, topic_arn: Option<String>) -> Announcer {
        Announcer {
            client: Client::new(sdk),
            topic_arn,
        }
    }

    /// Publishes `message` under `subject`; the message id, or None without a topic.
    pub async fn announce(&self, subject: &str, message: &str) -> Result<Option<String>, String> {
        let Some(topic) = &self.topic_arn else {
            tracing::warn!(subject, "no alarm topic configured; not announced");
            return Ok(None);
        };
        // SNS subjects are at most 100 characters.
        let subject: String = subject.chars().take(100).collect();
        self.client
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|out| out.message_id().map(str::to_owned))
            .map_err(|e| format!("SNS Publish: {}", DisplayErrorContext(e)))
    }
}
