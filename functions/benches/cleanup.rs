//! `make bench-cleanup`: purge throughput (users per second) of the scheduled
//! cleanup, side by side in one run with
//!   (a) a hand-written set-based SQL lower bound (no policy, no audit), and
//!   (b) the per-row loop the source app's documentation proposes: its purge
//!       transaction, one user at a time, doing the same work as the service.
//!
//! BENCH_USERS expired users (default 100,000), each with about ten related
//! rows, are generated once into a template database; each contender purges
//! its own copy (CREATE DATABASE … TEMPLATE). The per-row loop runs on the
//! first BENCH_LOOP_USERS (default 2,000) only, and its rate is reported. The
//! cleanup runs in batches of BENCH_BATCH (default: the shipped
//! CLEANUP_BATCH_SIZE).
//!
//! The three contenders reach PostgreSQL through a relay that delays each
//! direction by half of BENCH_RTT_MS (default 1 ms), as the network between a
//! Lambda function and RDS does; BENCH_RTT_MS=0 connects them directly. The
//! round trip is measured and printed. Needs the owner's DATABASE_URL
//! (`source .local/stack.env`).

#[allow(dead_code, reason = "each benchmark uses part of the shared module")]
mod support;

use std::time::{Duration, Instant};

use erasure::config::CleanupConfig;
use erasure::domain::plan::ACTIVE_ORDER_STATUSES;
use erasure::jobs::cleanup::{self, Mode};
use erasure::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use erasure::store::pauses::PauseGate;
use erasure_fixtures::seed::SeedSpec;
use erasure_policy::Policy;
use sqlx::PgPool;
use support::{
    admin, behind_the_network, copy_of, drop_database, env_number, purge_by_hand, round_trip,
    seeded_template,
};
use uuid::Uuid;

const TEMPLATE: &str = "erasure_bench_template";
const GRACE: Duration = Duration::from_secs(30 * 86_400);

async fn expired(db: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM profiles WHERE deleted_at < now() - interval '30 days' ORDER BY deleted_at, id")
        .fetch_all(db)
        .await
        .unwrap()
}

/// The lower bound: every expired user at once, by hand, in one transaction.
async fn raw_sql(db: &PgPool) {
    let mut tx = db.begin().await.unwrap();
    sqlx::raw_sql(
        "CREATE TEMP TABLE doomed ON COMMIT DROP AS
             SELECT id FROM profiles WHERE deleted_at < now() - interval '30 days';
         CREATE TEMP TABLE their_addresses ON COMMIT DROP AS
             SELECT a.id FROM addresses a JOIN doomed d ON a.created_by = d.id;
         DELETE FROM dispatches WHERE driver_id IN (SELECT id FROM doomed) OR user_id IN (SELECT id FROM doomed);
         UPDATE file_uploads SET user_id = NULL WHERE user_id IN (SELECT id FROM doomed);
         UPDATE job_applications SET profile_id = NULL WHERE profile_id IN (SELECT id FROM doomed);
         UPDATE addresses SET created_by = NULL WHERE created_by IN (SELECT id FROM doomed);
         DELETE FROM profiles WHERE id IN (SELECT id FROM doomed);
         DELETE FROM addresses a USING their_addresses t
          WHERE a.id = t.id
            AND NOT EXISTS (SELECT 1 FROM user_addresses x WHERE x.address_id = a.id)
            AND NOT EXISTS (SELECT 1 FROM catering_requests x WHERE x.pickup_address_id = a.id)
            AND NOT EXISTS (SELECT 1 FROM catering_requests x WHERE x.delivery_address_id = a.id)
            AND NOT EXISTS (SELECT 1 FROM on_demand_orders x WHERE x.pickup_address_id = a.id)
            AND NOT EXISTS (SELECT 1 FROM on_demand_orders x WHERE x.delivery_address_id = a.id);",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The source app's proposal: its purge transaction, one user at a time. Each
/// does what the service does for a user (lock the profile, count the active
/// catering and on-demand orders that would block it, one statement per table,
/// one audit row), each statement index-friendly, so the comparison is about
/// per-row against set-based, not about the work or bad SQL.
async fn per_row_loop(db: &PgPool, users: &[Uuid]) {
    for user in users {
        let mut tx = db.begin().await.unwrap();
        let user_type: String =
            sqlx::query_scalar("SELECT type FROM profiles WHERE id = $1 FOR UPDATE")
                .bind(user)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        for table in ["catering_requests", "on_demand_orders"] {
            let active: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM {table} WHERE user_id = $1 AND status = ANY($2)"
            ))
            .bind(user)
            .bind(&ACTIVE_ORDER_STATUSES[..])
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            assert_eq!(active, 0, "the benchmark's users have no active orders");
        }
        purge_by_hand(&mut tx, *user).await;
        let entry = AuditEntry {
            target_id: Some(*user),
            target_role: Some(user_type),
            reason: Some("grace period ended".into()),
            ..AuditEntry::new(AuditAction::ScheduledPurge, Outcome::Success)
        };
        audit_log::append(&mut tx, &entry).await.unwrap();
        tx.commit().await.unwrap();
    }
}

fn rate(users: usize, took: Duration) -> f64 {
    users as f64 / took.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let users = env_number("BENCH_USERS", 100_000);
    let loop_users = env_number("BENCH_LOOP_USERS", 2_000).min(users);
    let (options, mut admin) = admin().await;

    println!("generating {users} expired users into {TEMPLATE} …");
    let started = Instant::now();
    let spec = SeedSpec {
        users,
        heavy_users: 0,
        very_heavy_users: 0,
        soft_deleted: 0,
        expired: users,
        shared_addresses: 100,
        ordinary_orders: (5, 6),
        chunk_size: 5_000,
        ..SeedSpec::default()
    };
    let seeded = seeded_template(&mut admin, &options, TEMPLATE, &spec).await;
    let related: usize = seeded
        .rows
        .iter()
        .filter(|(t, _)| **t != "profiles")
        .map(|(_, n)| n)
        .sum();
    println!(
        "  {:.1} related rows per user on average; generated in {:.0?}",
        related as f64 / users as f64,
        started.elapsed()
    );

    let copy = "erasure_bench_run";
    let policy = Policy::embedded();
    // The contenders connect directly, or through the latency relay.
    let options = behind_the_network(options).await.options;

    let db = copy_of(&mut admin, &options, TEMPLATE, copy).await;
    let measured_rtt = round_trip(&db).await;
    let settings = CleanupConfig {
        batch_size: env_number("BENCH_BATCH", CleanupConfig::default().batch_size as usize) as i64,
        grace_period: GRACE,
        statement_timeout: Duration::from_secs(60),
    };
    let started = Instant::now();
    let report = cleanup::run(
        &db,
        &policy,
        &PauseGate::new(db.clone(), std::time::Duration::ZERO),
        &settings,
        Mode::Purge,
        &|| true,
    )
    .await
    .unwrap();
    let service = started.elapsed();
    assert_eq!(report.purged as usize, users, "{report:?}");
    db.close().await;

    let db = copy_of(&mut admin, &options, TEMPLATE, copy).await;
    let started = Instant::now();
    raw_sql(&db).await;
    let raw = started.elapsed();
    assert!(expired(&db).await.is_empty());
    db.close().await;

    let db = copy_of(&mut admin, &options, TEMPLATE, copy).await;
    let some: Vec<Uuid> = expired(&db).await.into_iter().take(loop_users).collect();
    let started = Instant::now();
    per_row_loop(&db, &some).await;
    let looped = started.elapsed();
    db.close().await;
    drop_database(&mut admin, copy).await;

    let (s, r, l) = (
        rate(users, service),
        rate(users, raw),
        rate(loop_users, looped),
    );
    println!(
        "purge throughput, users per second (round trip to PostgreSQL: {measured_rtt:.2?}, cleanup batches of {})",
        settings.batch_size
    );
    println!(
        "  raw set-based SQL (lower bound, no policy or audit) {r:>10.0}   ({users} users in {raw:.2?})"
    );
    println!(
        "  erasure cleanup (policy, plan, audit per user)     {s:>10.0}   ({users} users in {service:.2?})"
    );
    println!(
        "  per-row loop (same work, a transaction per user)   {l:>10.0}   ({loop_users} users in {looped:.2?})"
    );
    println!("  cleanup / raw SQL: {:.2}   (goal: at least 0.5)", s / r);
    println!(
        "  cleanup / per-row loop: {:.0}x   (goal: at least 50x)",
        s / l
    );
}
