//! Executes the deletion plan: the permanent deletion of a set of profiles,
//! generated from `domain::plan`, in a fixed number of set-based statements
//! however many users the set holds (the purge endpoint passes one, the
//! scheduled cleanup a batch).
//!
//! The caller owns the transaction and has locked the profiles
//! (`SELECT … FOR UPDATE`); while it holds them no new order or reference to
//! them can commit, so what is checked here stays true until commit.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

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

/// Active rows per blocking table, for each user that has any.
pub type Blockers = BTreeMap<Uuid, BTreeMap<&'static str, i64>>;

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("{} user(s) have active rows that block deletion", .0.len())]
    Blocked(Blockers),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The users among `users` that rows in an active state still hold, with the
/// count per table (ACTIVE_ORDERS_EXIST, and the cleanup's skip list).
pub async fn blockers(
    db: &mut PgConnection,
    plan: &[Entry],
    users: &[Uuid],
) -> Result<Blockers, sqlx::Error> {
    let mut found = Blockers::new();
    for entry in plan {
        let Action::BlockIfActive {
            status_column,
            active,
        } = entry.action
        else {
            continue;
        };
        let Column { table, column } = entry.reference;
        let sql = format!(
            "SELECT {column}, count(*) FROM {table}
              WHERE {column} = ANY($1) AND {status_column} = ANY($2)
              GROUP BY {column}"
        );
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(&sql)
            .bind(users)
            .bind(active)
            .fetch_all(&mut *db)
            .await?;
        for (user, count) in rows {
            found.entry(user).or_default().insert(table, count);
        }
    }
    Ok(found)
}

/// Permanently deletes `users` as `plan` says, refusing the whole set when
/// any of them is blocked. Order: what the service deletes, what it unlinks,
/// the profiles (the database cascades the rest), then the rows left
/// unshared.
pub async fn execute(
    db: &mut PgConnection,
    plan: &[Entry],
    users: &[Uuid],
) -> Result<RowsAffected, PurgeError> {
    let blocked = blockers(db, plan, users).await?;
    if !blocked.is_empty() {
        return Err(PurgeError::Blocked(blocked));
    }
    let mut rows = RowsAffected::default();

    // What cascades is counted before it goes, for the summary.
    for entry in plan
        .iter()
        .filter(|e| e.action.expected_on_delete() == OnDelete::Cascade)
    {
        let Column { table, column } = entry.reference;
        let sql = format!("SELECT count(*) FROM {table} WHERE {column} = ANY($1)");
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(users)
            .fetch_one(&mut *db)
            .await?;
        rows.add(table, "deleted", n as u64);
    }

    // Rows that may be deleted once unshared are remembered before unlinking.
    let mut unshared_candidates = Vec::new();
    for entry in plan {
        if let Action::DeleteIfUnshared { shared_through } = entry.action {
            let Column { table, column } = entry.reference;
            let sql = format!("SELECT id FROM {table} WHERE {column} = ANY($1)");
            let ids: Vec<Uuid> = sqlx::query_scalar(&sql)
                .bind(users)
                .fetch_all(&mut *db)
                .await?;
            unshared_candidates.push((table, shared_through, ids));
        }
    }

    for entry in plan {
        let Column { table, column } = entry.reference;
        let (sql, verb) = match entry.action {
            Action::Delete => (
                format!("DELETE FROM {table} WHERE {column} = ANY($1)"),
                "deleted",
            ),
            Action::Nullify | Action::DeleteIfUnshared { .. } => (
                format!("UPDATE {table} SET {column} = NULL WHERE {column} = ANY($1)"),
                "nullified",
            ),
            Action::Cascade | Action::BlockIfActive { .. } => continue,
        };
        let n = sqlx::query(&sql)
            .bind(users)
            .execute(&mut *db)
            .await?
            .rows_affected();
        if !matches!(entry.action, Action::DeleteIfUnshared { .. }) {
            rows.add(table, verb, n);
        }
    }

    let sql = format!("DELETE FROM {PROFILES} WHERE id = ANY($1)");
    let n = sqlx::query(&sql)
        .bind(users)
        .execute(&mut *db)
        .await?
        .rows_affected();
    rows.add(PROFILES, "deleted", n);

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
        let sql = format!("DELETE FROM {table} t WHERE t.id = ANY($1) AND {unshared}");
        let deleted = sqlx::query(&sql)
            .bind(&candidates)
            .execute(&mut *db)
            .await?
            .rows_affected();
        rows.add(table, "deleted", deleted);
        rows.add(table, "unlinked", candidates.len() as u64 - deleted);
    }
    Ok(rows)
}
