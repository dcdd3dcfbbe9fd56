//! A transaction in as few round trips as its flow allows: BEGIN and the
//! transaction's bounds travel with the first reads, and the last writes with
//! COMMIT, each batch as one simple-protocol query (several statements, one
//! round trip; each statement still gets its own snapshot, so a read after a
//! lock sees what committed while it waited). Behind a network every round
//! trip costs about a millisecond; `deletion` does a soft delete or a restore
//! in two. Simple queries take no parameters: the values they carry are
//! written into the text by `inline`.
//!
//! sqlx's `Transaction` discards the rows of its BEGIN, so this type keeps
//! the transaction itself. Ending without a commit rolls back; a flow dropped
//! mid-flight (a timeout) closes its connection, which ends the transaction
//! on the server, instead of handing the pool a connection inside one.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Either, Executor, PgConnection, PgPool, Postgres};

use super::pool::{self, bounded_begin_statements};

/// The rows of each statement of a batch, in order.
pub type Results = Vec<Vec<PgRow>>;

pub struct Batched {
    conn: PoolConnection<Postgres>,
    open: bool,
}

impl Batched {
    /// Begins a transaction bounded by `statement` and `lock`, and runs
    /// `reads` in it, in the same round trip.
    ///
    /// The pool hands out a recently used connection without pinging it
    /// (`store::pool::lazy_pool`), so one the server has closed since fails
    /// here; nothing is written yet, so it runs again on another.
    pub async fn begin(
        db: &PgPool,
        statement: Duration,
        lock: Duration,
        reads: &[String],
    ) -> Result<(Batched, Results), sqlx::Error> {
        pool::on_live_connection(db, |conn| Self::on(conn, statement, lock, reads)).await
    }

    async fn on(
        conn: PoolConnection<Postgres>,
        statement: Duration,
        lock: Duration,
        reads: &[String],
    ) -> Result<(Batched, Results), sqlx::Error> {
        let mut tx = Batched { conn, open: true };
        let begin = bounded_begin_statements(statement, Some(lock));
        let skip = begin.len();
        let sql = begin.into_iter().chain(reads.iter().cloned());
        match tx.batch(sql.collect()).await {
            Ok(results) => Ok((tx, results.into_iter().skip(skip).collect())),
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Runs `writes` and commits, in one round trip. On an error nothing
    /// of the transaction remains.
    pub async fn commit(mut self, writes: &[String]) -> Result<Results, sqlx::Error> {
        let mut sql = writes.to_vec();
        sql.push("COMMIT".to_owned());
        match self.batch(sql).await {
            Ok(mut results) => {
                self.open = false;
                results.pop();
                Ok(results)
            }
            Err(e) => {
                // The error may be the COMMIT's own, which has ended the
                // transaction; a ROLLBACK then only warns.
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// Rolls back; if even that fails, the connection is closed instead.
    pub async fn rollback(mut self) {
        let conn: &mut PgConnection = &mut self.conn;
        if conn.execute(sqlx::raw_sql("ROLLBACK")).await.is_ok() {
            self.open = false;
        }
    }

    async fn batch(&mut self, statements: Vec<String>) -> Result<Results, sqlx::Error> {
        let sql = statements.join(";\n");
        let conn: &mut PgConnection = &mut self.conn;
        // Through `Executor`, not `RawSql`'s own methods, whose futures are
        // not Send for every lifetime (so no handler could hold them).
        let mut stream = conn.fetch_many(sqlx::raw_sql(&sql));
        let mut results = vec![Vec::new()];
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(_done) => results.push(Vec::new()),
                Either::Right(row) => results.last_mut().expect("never empty").push(row),
            }
        }
        // The statements' results, without the empty one after the last.
        results.pop();
        Ok(results)
    }
}

impl Drop for Batched {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// The statements between the first batch and the last run on the
/// transaction's connection as usual.
impl Deref for Batched {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Batched {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}
