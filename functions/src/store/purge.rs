//! Executes the deletion plan: the permanent deletion of a set of profiles,
//! generated from `domain::plan`, in four statements however many users the
//! set holds (the purge endpoint passes one, the scheduled cleanup a batch):
//! a census of what cascades and what blocks, one statement for every row the
//! service deletes or unlinks itself, the profiles (the database cascades the
//! rest), and the rows left unshared. Four round trips, because behind a
//! network each one costs about a millisecond. Every row is counted for the
//! purged user it belonged to (`Purged::users`), so that a batch's audit rows
//! and erasure events say what each user's purge did.
//!
//! The caller owns the transaction and has locked the profiles
//! (`SELECT … FOR UPDATE`); while it holds them no new order or reference to
//! them can commit, so what is checked here stays true until commit.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::inline;
use crate::domain::plan::{Action, Column, Entry, OnDelete, PROFILES};

/// Rows each step touched, keyed `table.verb` (e.g. `sessions.deleted`,
/// `file_uploads.nullified`, `addresses.unlinked`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RowsAffected(pub BTreeMap<String, u64>);

impl RowsAffected {
    fn add(&mut self, table: &str, verb: &str, rows: u64) {
        *self.0.entry(format!("{table}.{verb}")).or_default() += rows;
    }
}

/// What a purge did to one of its users: their rows per `table.verb`, and
/// the ids of the rows kept but unlinked from them (a file upload, a job
/// application), by table, so that a downstream system can find them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPurge {
    pub rows: RowsAffected,
    pub unattributed: BTreeMap<&'static str, Vec<Uuid>>,
}

/// What a purge did: in all, and to each user. A row two purged users shared
/// (a dispatch one drove for the other) counts once, for the first of its
/// columns in the plan that names a purged user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub rows: RowsAffected,
    pub users: BTreeMap<Uuid, UserPurge>,
}

impl Purged {
    fn add(&mut self, user: Uuid, table: &str, verb: &str, rows: u64) {
        self.rows.add(table, verb, rows);
        self.users
            .entry(user)
            .or_default()
            .rows
            .add(table, verb, rows);
    }

    /// Every user's rows carry every key the totals do (0 where none), as a
    /// purge of one user does.
    fn with_every_key(mut self) -> Purged {
        for user in self.users.values_mut() {
            for key in self.rows.0.keys() {
                user.rows.0.entry(key.clone()).or_default();
            }
        }
        self
    }
}

/// Active rows per blocking table, for each user that has any.
pub type Blockers = BTreeMap<Uuid, BTreeMap<&'static str, i64>>;

/// What the cascading tables hold for a set of users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// The users that rows in an active state still hold (ACTIVE_ORDERS_EXIST).
    pub blockers: Blockers,
    /// Rows per table that deleting the profiles would cascade to, for each
    /// user that has any.
    pub cascading: BTreeMap<Uuid, BTreeMap<&'static str, u64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("{} user(s) have active rows that block deletion", .0.len())]
    Blocked(Blockers),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Counts, in one query, what the plan's cascading entries hold for `users`,
/// and which of them rows in an active state block.
pub async fn census(
    db: &mut PgConnection,
    plan: &[Entry],
    users: &[Uuid],
) -> Result<Census, sqlx::Error> {
    // The blocking entries' status lists are parameters $2, $3, … in plan order.
    let mut statuses: Vec<&'static [&'static str]> = Vec::new();
    let sql = census_sql(plan, "$1", |active| {
        statuses.push(active);
        format!("${}", statuses.len() + 1)
    });
    let mut query = sqlx::query_as(&sql).bind(users);
    for active in statuses {
        query = query.bind(active);
    }
    Ok(tally(plan, query.fetch_all(&mut *db).await?))
}

/// The census of `census`, its values written into the text, for a batch
/// (`store::batched`); `census_of` reads its rows.
pub fn census_inline(plan: &[Entry], users: &[Uuid]) -> String {
    census_sql(plan, &inline::uuids(users), inline::texts)
}

pub fn census_of(plan: &[Entry], rows: &[PgRow]) -> Result<Census, sqlx::Error> {
    let rows = rows
        .iter()
        .map(CensusRow::from_row)
        .collect::<Result<_, _>>()?;
    Ok(tally(plan, rows))
}

/// (entry, user, active rows, rows).
type CensusRow = (i32, Uuid, i64, i64);

fn cascading(plan: &[Entry]) -> impl Iterator<Item = &Entry> {
    plan.iter()
        .filter(|e| e.action.expected_on_delete() == OnDelete::Cascade)
}

/// One SELECT per cascading entry, each row a `CensusRow` (grouped by user);
/// a blocking entry also counts the active rows. `users` is the SQL of the
/// users' uuid[], and `active` writes the SQL of a blocking entry's status list.
fn census_sql(
    plan: &[Entry],
    users: &str,
    mut active: impl FnMut(&'static [&'static str]) -> String,
) -> String {
    let selects: Vec<String> = cascading(plan)
        .enumerate()
        .map(|(i, entry)| {
            let Column { table, column } = entry.reference;
            let active = match entry.action {
                Action::BlockIfActive {
                    status_column,
                    active: statuses,
                } => format!(
                    "count(*) FILTER (WHERE {status_column} = ANY({}))",
                    active(statuses)
                ),
                _ => "0::bigint".to_owned(),
            };
            format!(
                "SELECT {i}, {column}, {active}, count(*)
                   FROM {table} WHERE {column} = ANY({users}) GROUP BY {column}"
            )
        })
        .collect();
    if selects.is_empty() {
        return "SELECT 0, NULL::uuid, 0::bigint, 0::bigint WHERE false".to_owned();
    }
    selects.join("\nUNION ALL\n")
}

fn tally(plan: &[Entry], rows: Vec<CensusRow>) -> Census {
    let cascading: Vec<&Entry> = cascading(plan).collect();
    let mut census = Census::default();
    for (i, user, active, rows) in rows {
        let table = cascading[i as usize].reference.table;
        *census
            .cascading
            .entry(user)
            .or_default()
            .entry(table)
            .or_default() += rows as u64;
        if active > 0 {
            census
                .blockers
                .entry(user)
                .or_default()
                .insert(table, active);
        }
    }
    census
}

/// Permanently deletes `users` as `plan` says, refusing the whole set when
/// any of them is blocked. Order: what the service deletes or unlinks, the
/// profiles (the database cascades the rest), then the rows left unshared.
pub async fn execute(
    db: &mut PgConnection,
    plan: &[Entry],
    users: &[Uuid],
) -> Result<Purged, PurgeError> {
    let census = census(db, plan, users).await?;
    execute_counted(db, plan, users, census).await
}

/// `execute`, with the census already taken in this transaction, after the
/// profiles were locked.
pub async fn execute_counted(
    db: &mut PgConnection,
    plan: &[Entry],
    users: &[Uuid],
    census: Census,
) -> Result<Purged, PurgeError> {
    if !census.blockers.is_empty() {
        return Err(PurgeError::Blocked(census.blockers));
    }
    let mut purged = Purged::default();
    // What cascades is counted before it goes, for the summary; every
    // cascading table is in the totals, with 0 when nothing matched.
    for entry in cascading(plan) {
        purged.rows.add(entry.reference.table, "deleted", 0);
    }
    for (user, tables) in census.cascading {
        for (table, n) in tables {
            purged.add(user, table, "deleted", n);
        }
    }

    let unshared_candidates = detach(db, plan, users, &mut purged).await?;

    let sql = format!("DELETE FROM {PROFILES} WHERE id = ANY($1) RETURNING id");
    let deleted: Vec<Uuid> = sqlx::query_scalar(&sql)
        .bind(users)
        .fetch_all(&mut *db)
        .await?;
    purged.rows.add(PROFILES, "deleted", 0);
    for user in deleted {
        purged.add(user, PROFILES, "deleted", 1);
    }

    for (table, sharers, candidates) in unshared_candidates {
        let unshared = sharers
            .iter()
            .map(|s| {
                format!(
                    "NOT EXISTS (SELECT 1 FROM {} s WHERE s.{} = t.id)",
                    s.table, s.column
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql =
            format!("DELETE FROM {table} t WHERE t.id = ANY($1) AND {unshared} RETURNING t.id");
        let ids: Vec<Uuid> = candidates.iter().map(|(_, id)| *id).collect();
        let deleted: HashSet<Uuid> = sqlx::query_scalar(&sql)
            .bind(&ids)
            .fetch_all(&mut *db)
            .await?
            .into_iter()
            .collect();
        purged.rows.add(table, "deleted", 0);
        purged.rows.add(table, "unlinked", 0);
        for (user, id) in candidates {
            let verb = if deleted.contains(&id) {
                "deleted"
            } else {
                "unlinked"
            };
            purged.add(user, table, verb, 1);
        }
    }
    Ok(purged.with_every_key())
}

/// A delete-if-unshared table, the columns that may share its rows, and the
/// rows the purged users had created, with their creator (unlinked now,
/// deleted later if unshared).
type Candidates = (&'static str, &'static [Column], Vec<(Uuid, Uuid)>);

/// One statement's worth of the service's own work on one table.
#[derive(Debug, PartialEq)]
struct Step {
    table: &'static str,
    action: Action,
    columns: Vec<&'static str>,
}

/// The service's own steps: one per entry, except that a table deleted from
/// through several columns (a dispatch's driver and customer) is one step with
/// the conditions ORed, so that no row is written by two steps of one
/// statement (PostgreSQL would apply only one of them).
fn steps(plan: &[Entry]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for entry in plan
        .iter()
        .filter(|e| e.action.expected_on_delete() == OnDelete::NoAction)
    {
        let Column { table, column } = entry.reference;
        match steps.iter_mut().find(|s| {
            s.table == table && s.action == Action::Delete && entry.action == Action::Delete
        }) {
            Some(step) => step.columns.push(column),
            None => steps.push(Step {
                table,
                action: entry.action,
                columns: vec![column],
            }),
        }
    }
    steps
}

/// Every step the service does itself before the profiles go, in one
/// statement of data-modifying CTEs, each row it writes returned with the
/// purged user it belonged to. An UPDATE reads that user from the row as it
/// was (PostgreSQL's RETURNING shows the new, NULL, value). A delete-if-unshared
/// step unlinks its rows and returns their ids, the candidates for deletion
/// once the profiles' cascades have run; a nullify step returns the ids of
/// the rows it keeps unattributed.
async fn detach(
    db: &mut PgConnection,
    plan: &[Entry],
    users: &[Uuid],
    purged: &mut Purged,
) -> Result<Vec<Candidates>, sqlx::Error> {
    let steps = steps(plan);
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let mut ctes = Vec::new();
    let mut results = Vec::new();
    for (
        i,
        Step {
            table,
            action,
            columns,
        },
    ) in steps.iter().enumerate()
    {
        let write = match action {
            Action::Delete => {
                let matches = columns
                    .iter()
                    .map(|c| format!("{c} = ANY($1)"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                // The first column naming a purged user owns the row.
                let owner = columns
                    .iter()
                    .map(|c| format!("WHEN {c} = ANY($1) THEN {c}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                format!(
                    "DELETE FROM {table} WHERE {matches} RETURNING CASE {owner} END AS owner, NULL::uuid AS id"
                )
            }
            _ => {
                let column = columns[0];
                format!(
                    "UPDATE {table} t SET {column} = NULL FROM {table} was
                      WHERE was.id = t.id AND was.{column} = ANY($1)
                  RETURNING was.{column} AS owner, t.id"
                )
            }
        };
        ctes.push(format!("w{i} AS ({write})"));
        results.push(format!(
            "SELECT {i}, owner, count(*), array_agg(id) FILTER (WHERE id IS NOT NULL) FROM w{i} GROUP BY owner"
        ));
    }
    let sql = format!(
        "WITH {}\n{}",
        ctes.join(",\n"),
        results.join("\nUNION ALL\n")
    );
    let written: Vec<(i32, Uuid, i64, Option<Vec<Uuid>>)> =
        sqlx::query_as(&sql).bind(users).fetch_all(&mut *db).await?;

    let verb = |action: Action| match action {
        Action::Delete => "deleted",
        _ => "nullified",
    };
    // Every step is in the totals, with 0 when it wrote nothing.
    for step in steps
        .iter()
        .filter(|s| !matches!(s.action, Action::DeleteIfUnshared { .. }))
    {
        purged.rows.add(step.table, verb(step.action), 0);
    }
    let mut candidates: Vec<Candidates> = steps
        .iter()
        .filter_map(|step| match step.action {
            Action::DeleteIfUnshared { shared_through } => {
                Some((step.table, shared_through, Vec::new()))
            }
            _ => None,
        })
        .collect();
    for (i, owner, n, ids) in written {
        let step = &steps[i as usize];
        let ids = ids.unwrap_or_default();
        match step.action {
            Action::Delete => purged.add(owner, step.table, "deleted", n as u64),
            Action::DeleteIfUnshared { .. } => {
                let (_, _, found) = candidates
                    .iter_mut()
                    .find(|(table, _, _)| *table == step.table)
                    .expect("every delete-if-unshared step has its candidates");
                found.extend(ids.into_iter().map(|id| (owner, id)));
            }
            _ => {
                purged.add(owner, step.table, "nullified", n as u64);
                let user = purged.users.entry(owner).or_default();
                user.unattributed.entry(step.table).or_default().extend(ids);
            }
        }
    }
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::PLAN;

    #[test]
    fn no_table_is_written_by_two_steps_of_the_one_statement() {
        let steps = steps(PLAN);
        for (i, step) in steps.iter().enumerate() {
            assert!(
                steps[i + 1..].iter().all(|s| s.table != step.table),
                "{} is written by two steps; one statement cannot apply both",
                step.table
            );
        }
        let dispatches = steps.iter().find(|s| s.table == "dispatches").unwrap();
        assert_eq!(dispatches.columns, ["driver_id", "user_id"]);
    }
}
