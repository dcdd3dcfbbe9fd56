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
}

/// The INSERT of `events` into the outbox, each joined to its audit row in
/// `audit` (a relation with the audit log's seq, row_hash, rows_affected,
/// target_id and outcome: the RETURNING of the audit INSERT in the same
/// statement) by user, only where that row records a success.
pub fn insert_after(audit: &str, events: &[Announcement]) -> String {
    let values: Vec<String> = events
        .iter()
        .map(|e| {
            let detail = serde_json::to_string(e).expect("an announcement serializes");
            format!(
                "({}, {}, {}, {}::jsonb)",
                inline::uuid(e.event_id),
                inline::uuid(e.user.id.0),
                inline::text(e.erasure.detail_type()),
                inline::text(&detail)
            )
        })
        .collect();
    format!(
        "INSERT INTO erasure_outbox (event_id, detail_type, audit_seq, detail)
         SELECT e.event_id, e.detail_type, a.seq,
                e.detail || jsonb_build_object(
                    'rowsAffected', a.rows_affected,
                    'audit', jsonb_build_object('seq', a.seq, 'rowHash', encode(a.row_hash, 'hex')))
           FROM {audit} a
           JOIN (VALUES {}) AS e (event_id, target_id, detail_type, detail)
             ON e.target_id = a.target_id AND a.outcome = 'SUCCESS'",
        values.join(", ")
    )
}

/// A row the relay took, leased to it until it publishes it or gives up.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Due {
    pub event_id: Uuid,
    pub detail_type: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// Leases the rows due at most `limit` at a time, oldest first (a row leased
/// and not published or failed by the time the lease ends is due again: the
/// relay died). SKIP LOCKED: two relays never take the same row at once.
pub const TAKE_DUE: &str = "UPDATE erasure_outbox o
        SET next_attempt_at = now() + make_interval(secs => $2), attempts = o.attempts + 1
      WHERE o.event_id IN (SELECT event_id FROM erasure_outbox
                            WHERE next_attempt_at <= now() AND ($3::uuid[] IS NULL OR event_id = ANY($3))
                            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
  RETURNING o.event_id, o.detail_type, o.detail::text AS detail, o.created_at";

/// Leases up to `limit` due rows: any (`only` None), or only these.
pub async fn take_due(
    db: &PgPool,
    limit: i64,
    lease: Duration,
    only: Option<&[Uuid]>,
) -> Result<Vec<Due>, sqlx::Error> {
    let mut due: Vec<Due> = sqlx::query_as(TAKE_DUE)
        .bind(limit)
        .bind(lease.as_secs_f64())
        .bind(only)
        .fetch_all(db)
        .await?;
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
