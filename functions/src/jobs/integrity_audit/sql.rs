//! The integrity audit's own SQL: the queries the deletion plan generates
//! across every table that references a profile. (Checks on one table use
//! that table's statements in `store`.) Public so that their plans can be
//! shown and checked on a populated database.

use uuid::Uuid;

use crate::domain::plan::{Entry, PROFILES};

const PURGES: &str = "('PURGE', 'SCHEDULED_PURGE')";

/// An orphan batch is a range of the entry's column, (previous end, the
/// batch-th value after it], every row with that last value included: first
/// its end, then the rows in it that reference no profile. Two statements,
/// so that the planner sees both ends of the range and scans the column's
/// index and the profiles' primary key over just that range (merging the
/// two), wherever the batch falls.
///
/// The end of the next batch: $1 the last value covered (the nil uuid, which
/// `first` includes, for a column's first batch), $2 the batch size. NULL
/// when fewer rows are left, and the batch runs to the end.
pub fn orphan_batch_end_sql(entry: &Entry, first: bool) -> String {
    let (t, c) = (entry.reference.table, entry.reference.column);
    let after = after(first);
    format!("SELECT {c} FROM {t} WHERE {c} {after} $1 ORDER BY {c} OFFSET $2 - 1 LIMIT 1")
}

/// The rows of a batch that reference no profile: $1 and `first` as in
/// `orphan_batch_end_sql`, $2 the batch's last value (`MAX_UUID` for the
/// last batch).
pub fn orphan_batch_sql(entry: &Entry, first: bool) -> String {
    let (t, c) = (entry.reference.table, entry.reference.column);
    let after = after(first);
    format!(
        "SELECT count(*) FROM {t} x
          WHERE x.{c} {after} $1 AND x.{c} <= $2
            AND NOT EXISTS (
                SELECT 1 FROM {PROFILES} p WHERE p.id = x.{c} AND p.id {after} $1 AND p.id <= $2)"
    )
}

/// How a batch's range starts: a column's first batch includes the nil uuid
/// it starts from; the others start after the last value covered.
fn after(first: bool) -> &'static str {
    if first { ">=" } else { ">" }
}

/// The greatest uuid: the end of a column's last batch.
pub const MAX_UUID: Uuid = Uuid::max();

/// The SQL counting users purged within the window ($1, seconds) that a row
/// anywhere in the plan (or their profile) still references.
pub fn incomplete_purges_sql(plan: &[Entry]) -> String {
    let mut sql = format!(
        "SELECT count(*) FROM (
             SELECT DISTINCT target_id FROM deletion_audit
              WHERE action IN {PURGES} AND outcome = 'SUCCESS'
                AND occurred_at > now() - make_interval(secs => $1)) d
          WHERE EXISTS (SELECT 1 FROM {PROFILES} p WHERE p.id = d.target_id)"
    );
    for entry in plan {
        let (t, c) = (entry.reference.table, entry.reference.column);
        sql.push_str(&format!(
            " OR EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = d.target_id)"
        ));
    }
    sql
}
