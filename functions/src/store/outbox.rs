//! The erasure events' outbox (the `erasure_outbox` migration says why):
//! written in the deletion's own transaction, from the audit row it
//! announces; taken, published and deleted by the relay (`jobs::relay`).
//!
//! The event's detail is what the code knows before the audit row exists
//! (`Announcement`), merged in SQL with what the row records: the rows
//! affected, and the row's position and hash on the chain.
//! `events/published/schema.v1.json` documents it; the tests check every
//! event they receive against that schema.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::inline;
use crate::domain::{ActorId, TargetId, UserType};

/// The events' `source` on the bus.
pub const SOURCE: &str = "erasure";

/// The detail's `schemaVersion`: a change a consumer could trip on (a field
/// removed, renamed or retyped) is a new major version and a new schema file.
pub const SCHEMA_VERSION: &str = "1.0";

/// What happened to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    SoftDeleted,
    Restored,
    /// Permanently, by a person or by the schedule.
    Purged,
}

impl Erasure {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Erasure::SoftDeleted => "User Soft Deleted",
            Erasure::Restored => "User Restored",
            Erasure::Purged => "User Purged",
        }
    }
}

/// Who did it: an admin (by id, never a token) or the scheduled cleanup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum EventActor {
    User { id: ActorId },
    Schedule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventUser {
    pub id: TargetId,
    #[serde(rename = "type")]
    pub user_type: UserType,
}

/// An event, before its audit row is written. No email, no name, no reason's
/// text (it may hold personal data): whether one was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    #[serde(skip)]
    pub erasure: Erasure,
    pub schema_version: &'static str,
    /// Stable across re-deliveries: consumers de-duplicate on it.
    pub event_id: Uuid,
    pub user: EventUser,
    pub occurred_at: DateTime<Utc>,
    pub actor: EventActor,
    pub reason_given: bool,
    /// Rows kept but unlinked from the user (a purge's file uploads and job
    /// applications), by table: what a consumer erases elsewhere (the files).
    pub unattributed: BTreeMap<&'static str, Vec<Uuid>>,
}

impl Announcement {
    pub fn new(
        erasure: Erasure,
        user: EventUser,
        occurred_at: DateTime<Utc>,
        actor: EventActor,
        reason_given: bool,
    ) -> Announcement {
        Announcement {
            erasure,
            schema_version: SCHEMA_VERSION,
            event_id: Uuid::new_v4(),
            user,
            occurred_at,
            actor,
            reason_given,
            unattributed: BTreeMap::new(),
        }
    }

    /// The detail as the code knows it, as JSON text.
    fn detail(&self) -> String {
        serde_json::to_string(self).expect("an announcement serializes")
    }
}

/// The INSERT into the outbox of the events in `events` (a relation with
/// columns event_id, target_id, detail_type and detail, from
/// `inline_values` or `parameters`), each joined to its audit row in `audit`
/// (a relation with the audit log's seq, row_hash, rows_affected, target_id
/// and outcome: the RETURNING of the audit INSERT in the same statement) by
/// user, only where that row records a success.
pub fn insert_after(audit: &str, events: &str) -> String {
    format!(
        "INSERT INTO erasure_outbox (event_id, detail_type, audit_seq, detail)
         SELECT e.event_id, e.detail_type, a.seq,
                e.detail::jsonb || jsonb_build_object(
                    'rowsAffected', a.rows_affected,
                    'audit', jsonb_build_object('seq', a.seq, 'rowHash', encode(a.row_hash, 'hex')))
           FROM {audit} a
           JOIN {events} ON e.target_id = a.target_id AND a.outcome = 'SUCCESS'"
    )
}

/// `events` as a relation for `insert_after`, written into the text: for a
/// simple-protocol batch (`store::batched`), which takes no parameters.
pub fn inline_values(events: &[Announcement]) -> String {
    let values: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "({}, {}, {}, {})",
                inline::uuid(e.event_id),
                inline::uuid(e.user.id.0),
                inline::text(e.erasure.detail_type()),
                inline::text(&e.detail())
            )
        })
        .collect();
    format!(
        "(VALUES {}) AS e (event_id, target_id, detail_type, detail)",
        values.join(", ")
    )
}

/// The relation for `insert_after` as four array parameters from `$first`
/// on, bound with `Columns`: a prepared statement's text then stays the
/// same whatever the events (sqlx keeps each text's statement on its
/// connection, so text that varied would pile up there).
pub fn parameters(first: usize) -> String {
    let [a, b, c, d] = [first, first + 1, first + 2, first + 3];
    format!(
        "UNNEST(${a}::uuid[], ${b}::uuid[], ${c}::text[], ${d}::text[]) AS e (event_id, target_id, detail_type, detail)"
    )
}

/// `events`, column by column, for `parameters`.
pub struct Columns {
    pub event_ids: Vec<Uuid>,
    pub target_ids: Vec<Uuid>,
    pub detail_types: Vec<&'static str>,
    pub details: Vec<String>,
}

impl Columns {
    pub fn of(events: &[Announcement]) -> Columns {
        Columns {
            event_ids: events.iter().map(|e| e.event_id).collect(),
            target_ids: events.iter().map(|e| e.user.id.0).collect(),
            detail_types: events.iter().map(|e| e.erasure.detail_type()).collect(),
            details: events.iter().map(Announcement::detail).collect(),
        }
    }
}

/// A row the relay took, leased to it until it publishes it or gives up.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Due {
    pub event_id: Uuid,
    pub detail_type: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// The statement that leases due rows matching `$filter`, at most `$1` at a
/// time, oldest first, for `$2` seconds (a row leased and not published or
/// failed by the time the lease ends is due again: the relay died). SKIP
/// LOCKED: two relays never take the same row at once. The ids are taken as
/// an array, so the UPDATE reaches them by primary key: as `IN (…)` the
/// generic plan, guessing a tenth of the table for `LIMIT $1`, hash-joined
/// a whole backlog read from disk.
macro_rules! take_due_where {
    ($filter:literal) => {
        concat!(
            "UPDATE erasure_outbox o
        SET next_attempt_at = now() + make_interval(secs => $2), attempts = o.attempts + 1
      WHERE o.event_id = ANY(ARRAY(SELECT event_id FROM erasure_outbox
                                    WHERE next_attempt_at <= now() ",
            $filter,
            "
                                    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED))
  RETURNING o.event_id, o.detail_type, o.detail::text AS detail, o.created_at"
        )
    };
}

/// Any due rows, through `erasure_outbox_due_idx`.
pub const TAKE_DUE: &str = take_due_where!("");

/// Only the rows `$3` names (a request's own event), through the primary
/// key: one statement for both would get one generic plan, which walks the
/// due index past a whole backlog to find them.
pub const TAKE_THESE: &str = take_due_where!("AND event_id = ANY($3)");

/// Leases up to `limit` due rows: any (`only` None), or only these.
pub async fn take_due(
    db: &PgPool,
    limit: i64,
    lease: Duration,
    only: Option<&[Uuid]>,
) -> Result<Vec<Due>, sqlx::Error> {
    let lease = lease.as_secs_f64();
    let query = match only {
        Some(these) => sqlx::query_as(TAKE_THESE)
            .bind(limit)
            .bind(lease)
            .bind(these),
        None => sqlx::query_as(TAKE_DUE).bind(limit).bind(lease),
    };
    let mut due: Vec<Due> = query.fetch_all(db).await?;
    due.sort_by_key(|d| d.created_at);
    Ok(due)
}

/// Published: the rows go (the audit log keeps the history).
pub async fn published(db: &PgPool, events: &[Uuid]) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM erasure_outbox WHERE event_id = ANY($1)")
            .bind(events)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// The longest wait between two attempts at one row.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Not published: each row waits 2^attempts seconds (at most `MAX_BACKOFF`),
/// less up to half of it at random so that rows failed together spread out,
/// and keeps the error for the runbook.
pub const RETRY_LATER: &str = "UPDATE erasure_outbox o
        SET next_attempt_at = now() + make_interval(secs => least($3, 2 ^ o.attempts) * (1 - random() / 2)),
            last_error = f.error
       FROM UNNEST($1::uuid[], $2::text[]) AS f (event_id, error)
      WHERE o.event_id = f.event_id";

pub async fn retry_later(db: &PgPool, failures: &[(Uuid, String)]) -> Result<u64, sqlx::Error> {
    let (ids, errors): (Vec<Uuid>, Vec<String>) = failures.iter().cloned().unzip();
    Ok(sqlx::query(RETRY_LATER)
        .bind(ids)
        .bind(errors)
        .bind(MAX_BACKOFF.as_secs_f64())
        .execute(db)
        .await?
        .rows_affected())
}

/// How many events wait, and how long the oldest has (0 when none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Backlog {
    pub depth: i64,
    pub oldest_age_secs: f64,
}

pub const BACKLOG: &str = "SELECT count(*) AS depth,
        coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age_secs
   FROM erasure_outbox";

pub async fn backlog(db: &PgPool) -> Result<Backlog, sqlx::Error> {
    sqlx::query_as(BACKLOG).fetch_one(db).await
}
