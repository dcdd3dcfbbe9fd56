//! `make bench-cleanup`: purge throughput (users per second) of the scheduled
//! cleanup, side by side in one run with
//!   (a) a hand-written set-based SQL lower bound (no policy, no audit), and
//!   (b) the per-row loop the source app's documentation proposes: its purge
//!       transaction, one user at a time, doing the same work as the service.
//!
//! BENCH_USERS expired users (default 100,000), each with about ten related
//! rows, and BENCH_LIVE_USERS live ones beside them (default none, so the raw
//! bound may read whole tables; a day's cleanup meets many more live users
//! than expired ones), are generated once into a template database; each
//! contender purges its own copy (CREATE DATABASE … TEMPLATE). The per-row
//! loop runs on the first BENCH_LOOP_USERS (default 1,000) only, and its rate
//! is reported. The cleanup runs in batches of each size in BENCH_BATCH (a
//! comma-separated list; default: the shipped CLEANUP_BATCH_SIZE). Every
//! contender runs once in each of BENCH_ROUNDS interleaved rounds (default
//! 3); the median and the spread of each rate and ratio are printed.
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
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use support::{
    admin, behind_the_network, copy_of, drop_database, env_number, median, purge_by_hand,
    round_trip, seeded_template, spread,
};
use uuid::Uuid;

const TEMPLATE: &str = "erasure_bench_template";
const COPY: &str = "erasure_bench_run";
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

/// The cleanup's batch sizes to compare: BENCH_BATCH, a comma-separated
/// list (default: the shipped CLEANUP_BATCH_SIZE).
fn batch_sizes() -> Vec<i64> {
    let shipped = CleanupConfig::default().batch_size;
    std::env::var("BENCH_BATCH")
        .ok()
        .map(|v| {
            v.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("BENCH_BATCH: sizes separated by commas")
                })
                .collect()
        })
        .unwrap_or_else(|| vec![shipped])
}

/// Purges every expired user of a fresh copy with the cleanup as the
/// function runs it, in batches of `batch_size`.
async fn service(
    admin: &mut PgConnection,
    options: &PgConnectOptions,
    batch_size: i64,
) -> Duration {
    let db = copy_of(admin, options, TEMPLATE, COPY).await;
    let users = expired(&db).await.len();
    let settings = CleanupConfig {
        batch_size,
        grace_period: GRACE,
        statement_timeout: Duration::from_secs(60),
    };
    let started = Instant::now();
    let report = cleanup::run(
        &db,
        &Policy::embedded(),
        &PauseGate::new(db.clone(), Duration::ZERO),
        &settings,
        Mode::Purge,
        &|| true,
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(report.purged as usize, users, "{report:?}");
    db.close().await;
    took
}

/// The raw lower bound on a fresh copy.
async fn raw(admin: &mut PgConnection, options: &PgConnectOptions) -> Duration {
    let db = copy_of(admin, options, TEMPLATE, COPY).await;
    let started = Instant::now();
    raw_sql(&db).await;
    let took = started.elapsed();
    assert!(expired(&db).await.is_empty());
    db.close().await;
    took
}

/// The per-row loop over the first `users` expired users of a fresh copy.
async fn looped(admin: &mut PgConnection, options: &PgConnectOptions, users: usize) -> Duration {
    let db = copy_of(admin, options, TEMPLATE, COPY).await;
    let some: Vec<Uuid> = expired(&db).await.into_iter().take(users).collect();
    let started = Instant::now();
    per_row_loop(&db, &some).await;
    let took = started.elapsed();
    db.close().await;
    took
}

#[tokio::main]
async fn main() {
    let users = env_number("BENCH_USERS", 100_000);
    let live = env_number("BENCH_LIVE_USERS", 0);
    let loop_users = env_number("BENCH_LOOP_USERS", 1_000).min(users);
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let sizes = batch_sizes();
    let (options, mut admin) = admin().await;

    println!("generating {users} expired and {live} live users into {TEMPLATE} …");
    let started = Instant::now();
    let spec = SeedSpec {
        users: users + live,
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
        related as f64 / (users + live) as f64,
        started.elapsed()
    );

    // The contenders connect directly, or through the latency relay.
    let options = behind_the_network(options).await.options;
    let measured_rtt = {
        let db = copy_of(&mut admin, &options, TEMPLATE, COPY).await;
        let rtt = round_trip(&db).await;
        db.close().await;
        rtt
    };

    // Interleaved: every contender once per round, each on a fresh copy, so
    // that a slow spell of the machine shows as spread, not as a verdict.
    let mut raw_rates = Vec::new();
    let mut loop_rates = Vec::new();
    let mut service_rates = vec![Vec::new(); sizes.len()];
    for round in 1..=rounds {
        let took = raw(&mut admin, &options).await;
        raw_rates.push(rate(users, took));
        println!("  round {round}: raw SQL {users} users in {took:.2?}");
        for (i, &size) in sizes.iter().enumerate() {
            let took = service(&mut admin, &options, size).await;
            service_rates[i].push(rate(users, took));
            println!("  round {round}: cleanup (batches of {size}) {users} users in {took:.2?}");
        }
        let took = looped(&mut admin, &options, loop_users).await;
        loop_rates.push(rate(loop_users, took));
        println!("  round {round}: per-row loop {loop_users} users in {took:.2?}");
    }
    drop_database(&mut admin, COPY).await;

    println!(
        "purge throughput, users per second, median of {rounds} interleaved rounds (round trip to PostgreSQL: {measured_rtt:.2?})"
    );
    let row = |what: &str, rates: &[f64]| {
        let (lo, hi) = spread(rates);
        println!(
            "  {what:<56} {:>7.0}   (rounds {lo:.0}..{hi:.0})",
            median(rates)
        );
    };
    row(
        "raw set-based SQL (lower bound, no policy or audit)",
        &raw_rates,
    );
    for (size, rates) in sizes.iter().zip(&service_rates) {
        row(
            &format!("erasure cleanup, batches of {size} (policy, plan, audit)"),
            rates,
        );
    }
    row(
        "per-row loop (same work, a transaction per user)",
        &loop_rates,
    );
    for (size, rates) in sizes.iter().zip(&service_rates) {
        let to_raw: Vec<f64> = rates.iter().zip(&raw_rates).map(|(s, r)| s / r).collect();
        let to_loop: Vec<f64> = rates.iter().zip(&loop_rates).map(|(s, l)| s / l).collect();
        let (lo, hi) = spread(&to_raw);
        let (loop_lo, loop_hi) = spread(&to_loop);
        println!(
            "  batches of {size}: cleanup / raw SQL {:.2} (rounds {lo:.2}..{hi:.2}; goal: at least 0.75), \
             / per-row loop {:.0}x (rounds {loop_lo:.0}..{loop_hi:.0})",
            median(&to_raw),
            median(&to_loop),
        );
    }
}
