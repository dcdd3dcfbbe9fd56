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

/// The entries of one PutEvents call may total at most 256 KB, each
/// counted as `entry_size` does; a call over it is refused whole.
pub const MAX_CALL_BYTES: usize = 256 * 1024;

/// An entry's size as EventBridge counts it: its Source, DetailType and
/// Detail in UTF-8 bytes, and 14 bytes for its Time
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>).
pub fn entry_size(event: &Due) -> usize {
    14 + SOURCE.len() + event.detail_type.len() + event.detail.len()
}

/// The calls `sizes` go in, as indexes: in order, each call within
/// `MAX_ENTRIES` and `MAX_CALL_BYTES`; and the entries no call can take.
fn calls(sizes: &[usize]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut too_large = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size > MAX_CALL_BYTES {
            too_large.push(i);
            continue;
        }
        match calls.last_mut() {
            Some(call) if call.len() < MAX_ENTRIES && bytes + size <= MAX_CALL_BYTES => {
                call.push(i);
                bytes += size;
            }
            _ => {
                calls.push(vec![i]);
                bytes = size;
            }
        }
    }
    (calls, too_large)
}

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

    /// Puts `events` (at most `MAX_ENTRIES`), in as many calls as their
    /// sizes need. `Err`: the bus refused the first call, nothing is known to
    /// be published. `Ok`: one result per event, in order; PutEvents reports
    /// each entry's failure on its own (a call that succeeds may still have
    /// failed entries, FailedEntryCount), a later call's failure is its
    /// entries', and an event too large for any call is refused unsent, so
    /// that it cannot take the others down with it.
    pub async fn put(&self, events: &[Due]) -> Result<Vec<Result<(), String>>, String> {
        let sizes: Vec<usize> = events.iter().map(entry_size).collect();
        let (calls, too_large) = calls(&sizes);
        let mut results: Vec<Result<(), String>> = vec![Ok(()); events.len()];
        for i in too_large {
            results[i] = Err(format!(
                "TooLarge: the event is {} bytes, and PutEvents takes {MAX_CALL_BYTES} a call",
                sizes[i]
            ));
        }
        for (n, call) in calls.iter().enumerate() {
            let batch: Vec<&Due> = call.iter().map(|&i| &events[i]).collect();
            match self.put_call(&batch).await {
                Ok(answers) => {
                    for (&i, answer) in call.iter().zip(answers) {
                        results[i] = answer;
                    }
                }
                Err(e) if n == 0 => return Err(e),
                Err(e) => {
                    for &i in call {
                        results[i] = Err(e.clone());
                    }
                }
            }
        }
        Ok(results)
    }

    /// One PutEvents call.
    async fn put_call(&self, events: &[&Due]) -> Result<Vec<Result<(), String>>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const KB: usize = 1024;

    #[test]
    fn entries_go_in_order_into_calls_within_both_limits() {
        let (grouped, too_large) = calls(&[100 * KB, 100 * KB, 100 * KB, 10, 10]);
        assert_eq!(grouped, [vec![0, 1], vec![2, 3, 4]]);
        assert!(too_large.is_empty());
        let (grouped, _) = calls(&[1; 12]);
        assert_eq!(grouped, [(0..10).collect::<Vec<_>>(), vec![10, 11]]);
        let (grouped, _) = calls(&[MAX_CALL_BYTES, 1]);
        assert_eq!(grouped, [vec![0], vec![1]]);
    }

    #[test]
    fn an_entry_over_the_call_limit_goes_in_no_call() {
        let (grouped, too_large) = calls(&[10, MAX_CALL_BYTES + 1, 10]);
        assert_eq!(grouped, [vec![0, 2]]);
        assert_eq!(too_large, [1]);
    }
}
