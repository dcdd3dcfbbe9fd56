//! The stack's EventBridge bus, where the relay publishes the erasure events.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::store::outbox::{Due, SOURCE};

/// PutEvents takes at most 10 entries a call (and 256 KB in all):
/// <https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>.
pub const MAX_ENTRIES: usize = 10;

#[derive(Debug, Clone)]
pub struct EventBus {
    client: Client,
    name: String,
}

impl EventBus {
    pub fn new(sdk: &SdkConfig, name: String) -> EventBus {
        EventBus {
            client: Client::new(sdk),
            name,
        }
    }

    /// Puts `events` (at most `MAX_ENTRIES`) in one call. `Err`: the call
    /// failed, nothing is known to be published. `Ok`: one result per event,
    /// in order; PutEvents reports each entry's failure on its own (a call
    /// that succeeds may still have failed entries, FailedEntryCount).
    pub async fn put(&self, events: &[Due]) -> Result<Vec<Result<(), String>>, String> {
        let entries = events.iter().map(|e| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.name)
                .source(SOURCE)
                .detail_type(&e.detail_type)
                .detail(&e.detail)
                .time(DateTime::from_millis(e.created_at.timestamp_millis()))
                .build()
        });
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let results = output.entries();
        if results.len() != events.len() {
            return Err(format!(
                "PutEvents answered {} entries for {} events",
                results.len(),
                events.len()
            ));
        }
        Ok(results
            .iter()
            .map(|r| match r.error_code() {
                None => Ok(()),
                Some(code) => Err(format!(
                    "{code}: {}",
                    r.error_message().unwrap_or("no message")
                )),
            })
            .collect())
    }
}
