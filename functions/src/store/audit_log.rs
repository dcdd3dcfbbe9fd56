//! The deletion audit log: append a row, verify the chain.
//!
//! The chain itself is the database's job (the `deletion_audit_chain`
//! trigger): it serializes writers, numbers the row and hashes it with the
//! previous row's hash. Here the application appends, and the integrity audit
//! recomputes every hash and link with the same SQL function.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::inline;
use super::outbox::{self, Announcement};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SoftDelete,
    Purge,
    Restore,
    ListDeleted,
    ScheduledPurge,
    /// An alarm paused deletions (the alarm responder).
    PauseDeletions,
    /// Deletions resumed: by a person, or by the alarm returning to OK.
    ResumeDeletions,
    PlaceLegalHold,
    LiftLegalHold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failed,
}

impl AuditAction {
    /// The spelling the column's CHECK constraint accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SoftDelete => "SOFT_DELETE",
            AuditAction::Purge => "PURGE",
            AuditAction::Restore => "RESTORE",
            AuditAction::ListDeleted => "LIST_DELETED",
            AuditAction::ScheduledPurge => "SCHEDULED_PURGE",
            AuditAction::PauseDeletions => "PAUSE_DELETIONS",
            AuditAction::ResumeDeletions => "RESUME_DELETIONS",
            AuditAction::PlaceLegalHold => "PLACE_LEGAL_HOLD",
            AuditAction::LiftLegalHold => "LIFT_LEGAL_HOLD",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Denied => "DENIED",
            Outcome::Failed => "FAILED",
        }
    }
}

/// One attempt, as the caller knows it. `None` actor means the system.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub action: AuditAction,
    pub outcome: Outcome,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    /// An actor who is not a user: an alarm's ARN, or the person who resumed deletions.
    pub actor_name: Option<String>,
    pub target_id: Option<Uuid>,
    pub target_role: Option<String>,
    pub reason: Option<String>,
    pub error_code: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub duration_ms: Option<i32>,
    pub rows_affected: BTreeMap<String, u64>,
    pub policy_digest: Option<String>,
    pub policy_rule: Option<String>,
}

impl AuditEntry {
    /// An entry with only the action and outcome set.
    pub fn new(action: AuditAction, outcome: Outcome) -> AuditEntry {
        AuditEntry {
            action,
            outcome,
            actor_id: None,
            actor_role: None,
            actor_name: None,
            target_id: None,
            target_role: None,
            reason: None,
            error_code: None,
            source_ip: None,
            user_agent: None,
            request_id: None,
            duration_ms: None,
            rows_affected: BTreeMap::new(),
            policy_digest: None,
            policy_rule: None,
        }
    }
}

/// Where the row landed in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: i64,
    pub row_hash: Vec<u8>,
}

/// Appends `entry` in the caller's transaction (so it commits, or not, with
/// what it records). The chain lock is held from here until that commit.
pub async fn append(db: &mut PgConnection, entry: &AuditEntry) -> Result<Appended, sqlx::Error> {
    let mut appended = insert_then(db, std::slice::from_ref(entry), &[]).await?;
    Ok(appended.remove(0))
}

/// Appends `entries` in one statement (a batch job's one row per user); the
/// chain trigger numbers and hashes them in order. Each of `events` goes into
/// the outbox in the same statement, after its user's row if that row
/// records a success.
pub async fn append_many(
    db: &mut PgConnection,
    entries: &[AuditEntry],
    events: &[Announcement],
) -> Result<u64, sqlx::Error> {
    if entries.is_empty() {
        return Ok(0);
    }
    Ok(insert_then(db, entries, events).await?.len() as u64)
}

/// The columns a writer sets, in the order of both INSERTs below.
const COLUMNS: &str =
    "action, outcome, actor_id, actor_role, target_id, target_role, reason, error_code,
     source_ip, user_agent, request_id, duration_ms, rows_affected, policy_digest, policy_rule,
     actor_name";

/// The element type of each of `COLUMNS`, in its order: the arrays a batch
/// INSERT unnests, one bound parameter each.
const COLUMN_TYPES: [&str; 16] = [
    "text", "text", "uuid", "text", "uuid", "text", "text", "text", "inet", "text", "text", "int",
    "jsonb", "text", "text", "text",
];

/// What an audit INSERT returns: enough for the outbox's INSERT after it.
const RETURNING: &str = "RETURNING seq, row_hash, rows_affected, target_id, outcome";

/// The statement of `insert_then`, the same for every call: the columns as
/// arrays (one parameter each, in `COLUMNS`' order), unnested in order, then
/// the events' parameters after them for the outbox's INSERT.
static INSERT_THEN: LazyLock<String> = LazyLock::new(|| {
    let arrays: Vec<String> = (COLUMN_TYPES.iter().enumerate())
        .map(|(i, element)| format!("${}::{element}[]", i + 1))
        .collect();
    let names: Vec<String> = (1..=COLUMN_TYPES.len()).map(|i| format!("c{i}")).collect();
    let names = names.join(", ");
    let outbox = outbox::insert_after("audit", &outbox::parameters(COLUMN_TYPES.len() + 1));
    format!(
        "WITH audit AS (INSERT INTO deletion_audit ({COLUMNS})
         SELECT {names} FROM UNNEST({}) WITH ORDINALITY AS e({names}, n)
          ORDER BY n
         {RETURNING}),
         outbox AS ({outbox})
         SELECT seq, row_hash FROM audit ORDER BY seq",
        arrays.join(", ")
    )
});

/// The one INSERT behind both: columns as arrays, rows in the given order;
/// then `events`' outbox rows.
async fn insert_then(
    db: &mut PgConnection,
    entries: &[AuditEntry],
    events: &[Announcement],
) -> Result<Vec<Appended>, sqlx::Error> {
    let column = |f: &dyn Fn(&AuditEntry) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(f).collect()
    };
    let ids = |f: &dyn Fn(&AuditEntry) -> Option<Uuid>| -> Vec<Option<Uuid>> {
        entries.iter().map(f).collect()
    };
    let announced = outbox::Columns::of(events);
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(&INSERT_THEN)
        .bind(column(&|e| Some(e.action.as_str().to_owned())))
        .bind(column(&|e| Some(e.outcome.as_str().to_owned())))
        .bind(ids(&|e| e.actor_id))
        .bind(column(&|e| e.actor_role.clone()))
        .bind(ids(&|e| e.target_id))
        .bind(column(&|e| e.target_role.clone()))
        .bind(column(&|e| e.reason.clone()))
        .bind(column(&|e| e.error_code.clone()))
        .bind(column(&|e| e.source_ip.map(|ip| ip.to_string())))
        .bind(column(&|e| e.user_agent.clone()))
        .bind(column(&|e| e.request_id.clone()))
        .bind(entries.iter().map(|e| e.duration_ms).collect::<Vec<_>>())
        .bind(
            entries
                .iter()
                .map(|e| Json(&e.rows_affected))
                .collect::<Vec<_>>(),
        )
        .bind(column(&|e| e.policy_digest.clone()))
        .bind(column(&|e| e.policy_rule.clone()))
        .bind(column(&|e| e.actor_name.clone()))
        .bind(announced.event_ids)
        .bind(announced.target_ids)
        .bind(announced.detail_types)
        .bind(announced.details)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, row_hash)| Appended { seq, row_hash })
        .collect())
}

/// The append of `entry` as text, for a batch (`store::batched`): its values
/// written in, and `counted` (an SQL expression yielding a jsonb object, such
/// as the counts of the statement this is part of) merged into its
/// rows_affected. `from` is the rest of the SELECT that the values (and
/// `counted`) are selected from. Returns what `outbox::insert_after` needs.
pub fn insert_inline(entry: &AuditEntry, counted: &str, from: &str) -> String {
    let text = |v: &Option<String>| inline::optional_text(v.as_deref());
    let rows_affected = serde_json::to_string(&entry.rows_affected).expect("counts serialize");
    let values: [String; COLUMN_TYPES.len()] = [
        inline::text(entry.action.as_str()),
        inline::text(entry.outcome.as_str()),
        inline::optional_uuid(entry.actor_id),
        text(&entry.actor_role),
        inline::optional_uuid(entry.target_id),
        text(&entry.target_role),
        text(&entry.reason),
        text(&entry.error_code),
        inline::optional_inet(entry.source_ip),
        text(&entry.user_agent),
        text(&entry.request_id),
        inline::optional_int(entry.duration_ms),
        format!("{}::jsonb || {counted}", inline::text(&rows_affected)),
        text(&entry.policy_digest),
        text(&entry.policy_rule),
        text(&entry.actor_name),
    ];
    format!(
        "INSERT INTO deletion_audit ({COLUMNS}) SELECT {} {from} {RETURNING}",
        values.join(", ")
    )
}

/// Where the chain is broken, by the position (seq) at which it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ChainBreak {
    /// The row's content no longer matches its hash: it was edited (or its
    /// seq changed, as in a reordering).
    Altered { seq: i64 },
    /// The row does not link to the row before it: a row between them was
    /// removed, or one was inserted around the trigger.
    Unlinked { seq: i64 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub rows_checked: u64,
    pub breaks: Vec<ChainBreak>,
    /// Where to resume: the last seq checked and its hash.
    pub last_seq: Option<i64>,
    pub last_hash: Option<Vec<u8>>,
}

/// A stored row's links and its hash recomputed from its content.
#[derive(sqlx::FromRow)]
struct ChainRow {
    seq: i64,
    prev_hash: Option<Vec<u8>>,
    row_hash: Vec<u8>,
    recomputed: Vec<u8>,
}

/// The stored hash of the row at `seq`, if there is one.
pub async fn row_hash_at(db: &PgPool, seq: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT row_hash FROM deletion_audit WHERE seq = $1")
        .bind(seq)
        .fetch_optional(db)
        .await
}

/// The rows after seq $1, at most $2, with their hashes recomputed.
pub const VERIFY_BATCH: &str =
    "SELECT seq, prev_hash, row_hash, deletion_audit_row_hash(d) AS recomputed
       FROM deletion_audit d
      WHERE seq > $1
      ORDER BY seq
      LIMIT $2";

/// Verifies up to `batch` rows after `from` (a previous report, or the start).
/// Keyset-ordered on the primary key, so a large log is checked in bounded
/// steps that can resume across invocations.
pub async fn verify_batch(
    db: &mut PgConnection,
    from: &ChainReport,
    batch: i64,
) -> Result<ChainReport, sqlx::Error> {
    let rows: Vec<ChainRow> = sqlx::query_as(VERIFY_BATCH)
        .bind(from.last_seq.unwrap_or(i64::MIN))
        .bind(batch)
        .fetch_all(db)
        .await?;
    let mut report = from.clone();
    for ChainRow {
        seq,
        prev_hash,
        row_hash,
        recomputed,
    } in rows
    {
        if row_hash != recomputed {
            report.breaks.push(ChainBreak::Altered { seq });
        }
        if prev_hash != report.last_hash {
            report.breaks.push(ChainBreak::Unlinked { seq });
        }
        report.rows_checked += 1;
        report.last_seq = Some(seq);
        report.last_hash = Some(row_hash);
    }
    Ok(report)
}

// What the integrity audit counts in the log: the rows of the window ($1,
// seconds). Older rows were checked by the runs of their day, and the chain
// shows if they change. The rows are read by time
// (`deletion_audit_occurred_at_idx`, or `(action, occurred_at)`).

/// Success rows lacking a field every success records.
pub const INCOMPLETE_ROWS: &str = "SELECT count(*) FROM deletion_audit
    WHERE occurred_at > now() - make_interval(secs => $1) AND outcome = 'SUCCESS'
      AND action IN ('SOFT_DELETE', 'PURGE', 'RESTORE', 'LIST_DELETED', 'SCHEDULED_PURGE') AND (
          target_id IS NULL AND action <> 'LIST_DELETED'
       OR actor_id IS NULL AND action <> 'SCHEDULED_PURGE'
       OR policy_digest IS NULL OR policy_rule IS NULL)";

pub const SELF_DELETIONS: &str = "SELECT count(*) FROM deletion_audit
    WHERE action IN ('SOFT_DELETE', 'PURGE', 'SCHEDULED_PURGE')
      AND occurred_at > now() - make_interval(secs => $1)
      AND outcome = 'SUCCESS' AND actor_id = target_id";

pub const SUPER_ADMINS_DELETED: &str = "SELECT count(*) FROM deletion_audit
    WHERE action IN ('SOFT_DELETE', 'PURGE', 'SCHEDULED_PURGE')
      AND occurred_at > now() - make_interval(secs => $1)
      AND outcome = 'SUCCESS' AND target_role = 'SUPER_ADMIN'";

/// Actors with more than $2 successful deletions in the window.
pub const UNUSUAL_VOLUME: &str = "SELECT count(*) FROM (
    SELECT actor_id FROM deletion_audit
     WHERE action IN ('SOFT_DELETE', 'PURGE', 'SCHEDULED_PURGE')
       AND occurred_at > now() - make_interval(secs => $1)
       AND outcome = 'SUCCESS' AND actor_id IS NOT NULL
     GROUP BY actor_id HAVING count(*) > $2) heavy";

async fn windowed(db: &PgPool, sql: &str, window_secs: f64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sql)
        .bind(window_secs)
        .fetch_one(db)
        .await
}

pub async fn incomplete_rows(db: &PgPool, window_secs: f64) -> Result<i64, sqlx::Error> {
    windowed(db, INCOMPLETE_ROWS, window_secs).await
}

pub async fn self_deletions(db: &PgPool, window_secs: f64) -> Result<i64, sqlx::Error> {
    windowed(db, SELF_DELETIONS, window_secs).await
}

pub async fn super_admins_deleted(db: &PgPool, window_secs: f64) -> Result<i64, sqlx::Error> {
    windowed(db, SUPER_ADMINS_DELETED, window_secs).await
}

pub async fn unusual_volume(
    db: &PgPool,
    window_secs: f64,
    threshold: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(UNUSUAL_VOLUME)
        .bind(window_secs)
        .bind(threshold)
        .fetch_one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_its_array_type() {
        assert_eq!(COLUMNS.split(',').count(), COLUMN_TYPES.len());
    }
}
