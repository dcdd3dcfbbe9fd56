//! The erasure events' relay: publishes what the outbox holds to the
//! EventBridge bus, every minute on a schedule (and, for one event, right
//! after the commit of the request that wrote it: `publish_now`).
//!
//! Rows are leased (`outbox::take_due`), put ten to a call (fewer when
//! their sizes pass a call's 256 KB: `EventBus::put`), and deleted once
//! EventBridge accepted them; a rejected entry or a failed call puts its rows
//! back with backoff. A relay that dies between the put and the delete leaves
//! its rows to be published again when the lease ends: at least once, each
//! time with the same event id.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::event::JobEvent;
use super::failure::{Job, JobFailure};
use crate::aws::event_bus::{EventBus, MAX_ENTRIES, Put};
use crate::aws::metrics::{Metric, Metrics};
use crate::store::outbox::{self, Backlog};

/// The function's name, as the `Function` dimension of its metrics.
pub const FUNCTION: &str = "event_relay";

/// How long a relay holds the rows it took: well past a put's bound
/// (`aws::sdk`, 8 s), so a live relay never sees its rows taken again.
pub const LEASE: Duration = Duration::from_secs(60);

/// How long a request waits to publish its own event after its commit; past
/// it, the event waits for the relay, and the response goes out.
pub const PUBLISH_NOW_WITHIN: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReport {
    pub published: u64,
    /// Attempts that failed, each row put back to wait its backoff.
    pub failed: u64,
    /// Stopped because `keep_going` said so, or because the bus is down.
    pub stopped_early: bool,
    /// What waits after the run.
    pub backlog: Backlog,
}

/// Publishes the due rows, ten at a time, until none is due or `keep_going`
/// says stop. A call that fails whole ends the run (the bus is down: the
/// rows wait their backoff; the next run tries again).
pub async fn drain(
    db: &PgPool,
    bus: &EventBus,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<RelayReport, sqlx::Error> {
    let mut report = RelayReport::default();
    loop {
        if !keep_going() {
            report.stopped_early = true;
            break;
        }
        let round = publish(db, bus, None).await?;
        report.published += round.published;
        report.failed += round.failed;
        if round.down {
            report.stopped_early = true;
            break;
        }
        if round.taken < MAX_ENTRIES {
            break;
        }
    }
    report.backlog = outbox::backlog(db).await?;
    Ok(report)
}

/// Publishes `event` now, if it is still due (the relay may have it), within
/// `PUBLISH_NOW_WITHIN`. The deletion has committed: a failure here is
/// logged and leaves the event to the relay, never fails the request.
pub async fn publish_now(db: &PgPool, bus: &EventBus, event: Uuid) {
    let only = [event];
    match tokio::time::timeout(PUBLISH_NOW_WITHIN, publish(db, bus, Some(&only))).await {
        Ok(Ok(Round { failed: 0, .. })) => {}
        Ok(Ok(_)) => {
            tracing::warn!(%event, "the erasure event was not published; the relay will retry")
        }
        Ok(Err(e)) => {
            tracing::warn!(%event, error = %e, "the outbox could not be read; the relay will publish the event")
        }
        Err(_) => {
            tracing::warn!(%event, "publishing the erasure event took too long; the relay will retry");
            let why = format!("not published within {PUBLISH_NOW_WITHIN:?} of its commit");
            if let Err(e) = outbox::retry_later(db, &[(event, why)]).await {
                tracing::warn!(%event, error = %e, "the event stays leased; the relay takes it when the lease ends");
            }
        }
    }
}

/// One call's worth.
struct Round {
    taken: usize,
    published: u64,
    failed: u64,
    /// The call failed whole.
    down: bool,
}

async fn publish(db: &PgPool, bus: &EventBus, only: Option<&[Uuid]>) -> Result<Round, sqlx::Error> {
    let due = outbox::take_due(db, MAX_ENTRIES as i64, LEASE, only).await?;
    let mut round = Round {
        taken: due.len(),
        published: 0,
        failed: 0,
        down: false,
    };
    if due.is_empty() {
        return Ok(round);
    }
    let Put { results, down } = bus.put(&due).await;
    if let Some(e) = down {
        tracing::warn!(error = %e, events = due.len(), "EventBridge refused the call; the events wait");
        round.down = true;
    }
    let mut published = Vec::new();
    let mut failures = Vec::new();
    for (row, result) in due.iter().zip(results) {
        match result {
            Ok(()) => published.push(row.event_id),
            Err(e) => failures.push((row.event_id, e)),
        }
    }
    round.published = outbox::published(db, &published).await?;
    round.failed = failures.len() as u64;
    outbox::retry_later(db, &failures).await?;
    Ok(round)
}

/// The relay takes no options; `{}` or a scheduled event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayOptions {}

pub type RelayEvent = JobEvent<RelayOptions>;

/// The figures a run publishes; the template alarms on the oldest's age.
pub fn metrics(report: &RelayReport) -> Vec<Metric> {
    vec![
        Metric::count("EventsPublished", report.published as f64),
        Metric::count("EventsFailed", report.failed as f64),
        Metric::count("OutboxDepth", report.backlog.depth as f64),
        Metric::seconds("OutboxOldestAge", report.backlog.oldest_age_secs),
    ]
}

/// One invocation: the run, its metrics (a CloudWatch outage is logged: the
/// age alarm treats the missing figure as breaching), and the report.
pub async fn handle(
    db: &PgPool,
    bus: &EventBus,
    metrics_client: &Metrics,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<RelayReport, JobFailure> {
    let report = drain(db, bus, keep_going).await.map_err(|e| {
        JobFailure::database(
            Job::EventRelay,
            &e,
            "what was published is deleted from the outbox; the rest waits",
        )
    })?;
    if let Err(e) = metrics_client.publish(FUNCTION, &metrics(&report)).await {
        tracing::error!(error = %e, "relay metrics not published");
    }
    tracing::info!(
        published = report.published,
        failed = report.failed,
        depth = report.backlog.depth,
        oldest_age_secs = report.backlog.oldest_age_secs,
        "relay finished"
    );
    Ok(report)
}
