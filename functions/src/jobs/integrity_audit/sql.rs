//! The integrity audit's own SQL: the queries the deletion plan generates
//! across every table that references a profile. (Checks on one table use
//! that table's statements in `store`.) Public so that their plans can be
//! shown and checked on a populated database.

use crate::domain::plan::{Entry, PROFILES};

const PURGES: &str = "('PURGE', 'SCHEDULED_PURGE')";

/// The SQL of an orphan batch; with `resuming`, $1 is the last id covered
/// and $2 the batch size, otherwise $1 is the batch size.
pub fn orphan_batch_sql(entry: &Entry, resuming: bool) -> String {
    let (t, c) = (entry.reference.table, entry.reference.column);
    let (lower_bound, limit) = if resuming {
        (format!("AND {c} > $1"), "$2")
    } else {
        (String::new(), "$1")
    };
    // The profiles are probed by primary key for this batch's ids only, and
    // the rows of the orphaned ids (usually none) by the column's index
    // (`= ANY` of an array each time), so the cost follows the batch.
    format!(
        "WITH ids AS (
             SELECT DISTINCT {c} AS id FROM {t}
              WHERE {c} IS NOT NULL {lower_bound}
              ORDER BY {c} LIMIT {limit}),
         known AS (
             SELECT id FROM {PROFILES} WHERE id = ANY (ARRAY(SELECT id FROM ids)))
         SELECT (SELECT id FROM ids ORDER BY id DESC LIMIT 1),
                (SELECT count(*) FROM {t} x WHERE x.{c} = ANY (ARRAY(
                     SELECT id FROM ids WHERE id NOT IN (SELECT id FROM known))))"
    )
}

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
