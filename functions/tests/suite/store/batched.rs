//! A transaction in two round trips (`store::batched`): its reads ride with
//! BEGIN and its writes with COMMIT, and however it ends (refused, failed,
//! dropped mid-flight, its connection killed) nothing half-done stays and
//! the pool never hands out a connection inside a transaction.

use std::time::Duration;

use erasure::store::batched::Batched;
use erasure::store::errors::{DbFailure, classify};
use erasure::store::migrations::MIGRATOR;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool, Row};
use uuid::Uuid;

use crate::common::hold_profile;

const BOUND: Duration = Duration::from_secs(5);

async fn profile(db: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO profiles (email, type) VALUES ($1, 'CLIENT') RETURNING id")
        .bind(email)
        .fetch_one(db)
        .await
        .unwrap()
}

/// A pool of one connection, so that the next acquire gets the one a
/// `Batched` used.
async fn one_connection(db: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*db.connect_options()).clone())
        .await
        .unwrap()
}

/// Whether the pool's connection is inside a transaction block: SAVEPOINT
/// is refused outside one (25P01).
async fn handed_out_inside_a_transaction(db: &PgPool) -> bool {
    let mut conn = db.acquire().await.unwrap();
    match conn.execute("SAVEPOINT probe").await {
        Ok(_) => true,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("25P01") => false,
        Err(e) => panic!("probe failed: {e}"),
    }
}

async fn emails(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT email FROM profiles ORDER BY email")
        .fetch_all(db)
        .await
        .unwrap()
}

/// Whether another session can lock `id` right now.
async fn lockable(db: &PgPool, id: Uuid) -> bool {
    let mut tx = db.begin().await.unwrap();
    let locked = sqlx::query("SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE NOWAIT")
        .bind(id)
        .execute(&mut *tx)
        .await
        .is_ok();
    tx.rollback().await.unwrap();
    locked
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn reads_ride_with_begin_and_writes_with_commit(db: PgPool) {
    let id = profile(&db, "a@example.com").await;
    let reads = [
        format!("SELECT email FROM profiles WHERE id = '{id}' FOR UPDATE"),
        "SELECT 1 WHERE false".to_owned(),
        "SELECT n FROM generate_series(1, 3) n".to_owned(),
    ];
    let (tx, read) = Batched::begin(&db, BOUND, BOUND, &reads).await.unwrap();
    // One result per read, each with its own rows; the bounds' own
    // statements are not among them.
    let counts: Vec<usize> = read.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 0, 3]);
    assert_eq!(read[0][0].get::<String, _>(0), "a@example.com");
    assert!(!lockable(&db, id).await, "the read's lock is held");

    let writes = [
        format!("UPDATE profiles SET email = 'b@example.com' WHERE id = '{id}' RETURNING id"),
        "INSERT INTO profiles (email, type) VALUES ('c@example.com', 'CLIENT')".to_owned(),
    ];
    let written = tx.commit(&writes).await.unwrap();
    assert_eq!(written.iter().map(Vec::len).collect::<Vec<_>>(), [1, 0]);
    assert_eq!(emails(&db).await, ["b@example.com", "c@example.com"]);
    assert!(lockable(&db, id).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_failed_last_batch_leaves_nothing_and_a_clean_connection(db: PgPool) {
    profile(&db, "taken@example.com").await;
    let one = one_connection(&db).await;
    let (tx, _) = Batched::begin(&one, BOUND, BOUND, &[]).await.unwrap();
    let writes = [
        "INSERT INTO profiles (email, type) VALUES ('new@example.com', 'CLIENT')".to_owned(),
        "INSERT INTO profiles (email, type) VALUES ('taken@example.com', 'CLIENT')".to_owned(),
    ];
    let err = tx.commit(&writes).await.unwrap_err();
    assert_eq!(classify(&err), DbFailure::Conflict, "{err}");
    assert_eq!(emails(&db).await, ["taken@example.com"]);
    assert!(!handed_out_inside_a_transaction(&one).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_flow_rolls_back_and_keeps_its_connection(db: PgPool) {
    let id = profile(&db, "a@example.com").await;
    let one = one_connection(&db).await;
    let reads = [
        "SELECT pg_backend_pid()".to_owned(),
        format!("SELECT 1 FROM profiles WHERE id = '{id}' FOR UPDATE"),
    ];
    let (tx, read) = Batched::begin(&one, BOUND, BOUND, &reads).await.unwrap();
    let pid: i32 = read[0][0].get(0);
    tx.rollback().await;
    assert!(lockable(&db, id).await);
    assert!(!handed_out_inside_a_transaction(&one).await);
    // The same session serves the next request.
    let next: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&one)
        .await
        .unwrap();
    assert_eq!(next, pid);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_lock_wait_past_its_bound_fails_the_first_batch_cleanly(db: PgPool) {
    let id = profile(&db, "a@example.com").await;
    let holder = hold_profile(&db, id).await;
    let one = one_connection(&db).await;
    let reads = [format!(
        "SELECT 1 FROM profiles WHERE id = '{id}' FOR UPDATE"
    )];
    let err = Batched::begin(&one, BOUND, Duration::from_millis(100), &reads)
        .await
        .err()
        .expect("the lock is held");
    assert_eq!(classify(&err), DbFailure::Timeout, "{err}");
    holder.rollback().await.unwrap();
    assert!(!handed_out_inside_a_transaction(&one).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_flow_dropped_mid_transaction_releases_its_locks_and_its_connection(db: PgPool) {
    let id = profile(&db, "a@example.com").await;
    let one = one_connection(&db).await;
    let reads = [format!(
        "SELECT 1 FROM profiles WHERE id = '{id}' FOR UPDATE"
    )];
    let (tx, _) = Batched::begin(&one, BOUND, BOUND, &reads).await.unwrap();
    // As a timeout does: the flow's future, and its transaction, dropped.
    drop(tx);
    // The connection is closed (asynchronously), never returned inside
    // the transaction; the server ends the transaction with it.
    assert!(!handed_out_inside_a_transaction(&one).await);
    assert!(lockable(&db, id).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_connection_killed_mid_transaction_commits_nothing(db: PgPool) {
    let id = profile(&db, "a@example.com").await;
    let reads = [
        "SELECT pg_backend_pid()".to_owned(),
        format!("SELECT 1 FROM profiles WHERE id = '{id}' FOR UPDATE"),
    ];
    let (tx, read) = Batched::begin(&db, BOUND, BOUND, &reads).await.unwrap();
    let pid: i32 = read[0][0].get(0);
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(killed);
    let writes = [format!(
        "UPDATE profiles SET email = 'changed@example.com' WHERE id = '{id}'"
    )];
    let err = tx.commit(&writes).await.unwrap_err();
    assert_eq!(classify(&err), DbFailure::Unavailable, "{err}");
    assert_eq!(emails(&db).await, ["a@example.com"]);
}
