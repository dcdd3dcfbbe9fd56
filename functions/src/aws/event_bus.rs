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

/// What `EventBus::put` did with each event, and whether the bus is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// One per event, in order: `Err` says why that event is not published.
    pub results: Vec<Result<(), String>>,
    /// The bus refused the first call, with this error: nothing was published.
    pub down: Option<String>,
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
    /// sizes need: one result per event, in order. PutEvents reports each
    /// entry's failure on its own (a call that succeeds may still have failed
    /// entries, FailedEntryCount); a call that fails is its entries'
    /// failure; an event too large for any call is refused unsent, so that
    /// it cannot take the others down with it. When the first call fails the
    /// bus is taken to be down (`Put::down`): no later call is made, and
    /// every event still unsent carries that call's error, apart from the
    /// too large, which say why they could never be sent.
    pub async fn put(&self, events: &[Due]) -> Put {
        let sizes: Vec<usize> = events.iter().map(entry_size).collect();
        let (calls, too_large) = calls(&sizes);
        let mut put = Put {
            results: vec![Ok(()); events.len()],
            down: None,
        };
        for i in too_large {
            put.results[i] = Err(format!(
                "TooLarge: the event is {} bytes, and PutEvents takes {MAX_CALL_BYTES} a call",
                sizes[i]
            ));
        }
        for (n, call) in calls.iter().enumerate() {
            let batch: Vec<&Due> = call.iter().map(|&i| &events[i]).collect();
            match self.put_call(&batch).await {
                Ok(answers) => {
                    for (&i, answer) in call.iter().zip(answers) {
                        put.results[i] = answer;
                    }
                }
                Err(e) if n == 0 => {
                    for &i in calls.iter().flatten() {
                        put.results[i] = Err(e.clone());
                    }
                    put.down = Some(e);
                    break;
                }
                Err(e) => {
                    for &i in call {
                        put.results[i] = Err(e.clone());
                    }
                }
            }
        }
        put
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
