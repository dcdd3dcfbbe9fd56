//! `make bench-deletion`: one request's latency, the service against raw SQL,
//! side by side in one run. A soft delete, a restore and a purge through
//! `store::deletion` (one bounded transaction in two round trips: `BEGIN`
//! with the actor, the locked target and the census; the policy asked on the
//! locked rows; the act, the audit row and `COMMIT`) against the same change
//! by hand in one transaction, the lower bound. Behind the relay it prints
//! each one's round trips to PostgreSQL per request (the pool's check on
//! release included; both use the functions' pool, which checks on acquire
//! only a connection idle for seconds).
//!
//! The purge is measured twice: on ordinary users (about ten related rows)
//! and on users with 1,000+ (BENCH_HEAVY_USERS, default 30), each with its
//! erasure event written to the outbox in the same statement as its audit row.
//!
//! BENCH_REQUESTS users per contender (default 300), one request at a time as
//! one Lambda container serves them, in BENCH_ROUNDS interleaved rounds
//! (default 3; the spread of the ratios over them is printed), each
//! contender on its own copy of a seeded template database each round,
//! behind the same relay as the cleanup's benchmark (BENCH_RTT_MS, default
//! 1 ms; 0 for loopback). Needs the owner's DATABASE_URL
//! (`source .local/stack.env`).

#[allow(dead_code, reason = "each benchmark uses part of the shared module")]
mod support;

use std::time::{Duration, Instant};

use erasure::config::{PoolSettings, RequestConfig};
use erasure::domain::{ActorId, TargetId};
use erasure::store::audited::{Deps, Origin};
use erasure::store::deletion;
use erasure::store::pauses::{self, PauseGate};
use erasure::store::pool::lazy_pool;
use erasure_fixtures::seed::SeedSpec;
use erasure_policy::Policy;
use sqlx::PgPool;
use support::{
    Network, admin, behind_the_network, drop_database, env_number, percentiles, purge_by_hand,
    recreate, round_trip, seeded_template, spread,
};
use uuid::Uuid;

const TEMPLATE: &str = "erasure_bench_deletion_template";
const COPY: &str = "erasure_bench_deletion_run";

async fn raw_soft_delete(db: &PgPool, actor: Uuid, user: Uuid) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "UPDATE profiles SET deleted_at = now(), deleted_by = $1, deletion_reason = 'benchmark'
          WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(actor)
    .bind(user)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn raw_restore(db: &PgPool, user: Uuid) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "UPDATE profiles SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL
          WHERE id = $1 AND deleted_at IS NOT NULL",
    )
    .bind(user)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn raw_purge(db: &PgPool, user: Uuid) {
    let mut tx = db.begin().await.unwrap();
    purge_by_hand(&mut tx, user).await;
    tx.commit().await.unwrap();
}

#[derive(Clone, Copy)]
enum Contender {
    ServiceSoftDelete,
    RawSoftDelete,
    ServiceRestore,
    RawRestore,
    ServicePurge,
    RawPurge,
    ServiceHeavyPurge,
    RawHeavyPurge,
}

impl Contender {
    /// In pairs: the service, then the raw SQL it is measured against.
    const ALL: [Contender; 8] = [
        Contender::ServiceSoftDelete,
        Contender::RawSoftDelete,
        Contender::ServiceRestore,
        Contender::RawRestore,
        Contender::ServicePurge,
        Contender::RawPurge,
        Contender::ServiceHeavyPurge,
        Contender::RawHeavyPurge,
    ];
    const PAIRS: [&str; 4] = ["soft delete", "restore", "purge", "purge of 1,000+ rows"];

    fn label(self) -> &'static str {
        match self {
            Contender::ServiceSoftDelete => "soft delete, erasure (policy, locks, audit)",
            Contender::RawSoftDelete => "soft delete, raw SQL (lower bound)",
            Contender::ServiceRestore => "restore, erasure (policy, locks, audit)",
            Contender::RawRestore => "restore, raw SQL (lower bound)",
            Contender::ServicePurge => "purge, erasure (policy, locks, plan, audit)",
            Contender::RawPurge => "purge, raw SQL (lower bound)",
            Contender::ServiceHeavyPurge => "purge of 1,000+ rows, erasure",
            Contender::RawHeavyPurge => "purge of 1,000+ rows, raw SQL",
        }
    }

    /// Run on the users with 1,000+ related rows.
    fn heavy(self) -> bool {
        matches!(
            self,
            Contender::ServiceHeavyPurge | Contender::RawHeavyPurge
        )
    }

    fn restores(self) -> bool {
        matches!(self, Contender::ServiceRestore | Contender::RawRestore)
    }
}

/// What one contender did in one round.
struct Measured {
    took: Vec<Duration>,
    rtt: Duration,
    round_trips: Option<f64>,
}

/// Each request's latency, on a fresh copy of the template.
async fn measure(
    admin: &mut sqlx::PgConnection,
    network: &Network,
    policy: &Policy,
    contender: Contender,
    actor: Uuid,
    users: &[Uuid],
) -> Measured {
    recreate(admin, COPY, Some(TEMPLATE)).await;
    // Both contenders on the pool a container makes, which pings only a
    // connection idle for a while: requests one after another, as here, pay
    // no ping on acquire (sqlx's default pool would, for both alike).
    let options = network.options.clone().database(COPY);
    let db = lazy_pool(options, &PoolSettings::default());
    if contender.restores() {
        // Deleted a day ago, by hand: the restore is what is timed.
        sqlx::query(
            "UPDATE profiles SET deleted_at = now() - interval '1 day', deleted_by = $1
              WHERE id = ANY($2)",
        )
        .bind(actor)
        .bind(users)
        .execute(&db)
        .await
        .unwrap();
    }
    let rtt = round_trip(&db).await;
    let deps = Deps {
        db: &db,
        policy,
        settings: RequestConfig {
            lock_timeout: Duration::from_secs(2),
            ..RequestConfig::default()
        },
        pauses: PauseGate::new(db.clone(), pauses::CACHE_FOR),
    };
    let origin = Origin::default();
    let mut took = Vec::with_capacity(users.len());
    let trips_before = network.round_trips();
    for &user in users {
        let started = Instant::now();
        let (actor, target) = (ActorId(actor), TargetId(user));
        match contender {
            Contender::ServiceSoftDelete => {
                let reason = Some("benchmark".into());
                deletion::soft_delete(&deps, actor, target, reason, &origin)
                    .await
                    .unwrap();
            }
            Contender::RawSoftDelete => raw_soft_delete(&db, actor.0, user).await,
            Contender::ServiceRestore => {
                deletion::restore(&deps, actor, target, &origin)
                    .await
                    .unwrap();
            }
            Contender::RawRestore => raw_restore(&db, user).await,
            Contender::ServicePurge | Contender::ServiceHeavyPurge => {
                let reason = "benchmark purge".into();
                deletion::purge(&deps, actor, target, reason, &origin)
                    .await
                    .unwrap();
            }
            Contender::RawPurge | Contender::RawHeavyPurge => raw_purge(&db, user).await,
        }
        took.push(started.elapsed());
    }
    let round_trips = network
        .round_trips()
        .zip(trips_before)
        .map(|(after, before)| (after - before) as f64 / users.len() as f64);
    db.close().await;
    Measured {
        took,
        rtt,
        round_trips,
    }
}

#[tokio::main]
async fn main() {
    let requests = env_number("BENCH_REQUESTS", 300);
    let (options, mut admin) = admin().await;

    let heavy = env_number("BENCH_HEAVY_USERS", 30);
    let spec = SeedSpec {
        very_heavy_users: heavy,
        ..SeedSpec::live_users(requests)
    };
    let seeded = seeded_template(&mut admin, &options, TEMPLATE, &spec).await;

    let network = behind_the_network(options).await;
    let policy = Policy::embedded();
    let actor = seeded.admins[0];
    // Interleaved: each round runs every contender on a fresh copy, over its
    // own share of the users, so that a slow spell of the machine shows as
    // spread rather than as one contender's verdict.
    let rounds = env_number("BENCH_ROUNDS", 3).clamp(1, seeded.users.len().min(heavy.max(1)));
    let share = seeded.users.len() / rounds;
    let heavy_share = seeded.very_heavy_users.len() / rounds;
    let mut took: Vec<Vec<Duration>> = vec![Vec::new(); Contender::ALL.len()];
    let mut trips = vec![None; Contender::ALL.len()];
    let mut ratios = vec![Vec::new(); Contender::PAIRS.len()];
    let mut rtt = Duration::ZERO;
    for round in 0..rounds {
        let users = &seeded.users[round * share..(round + 1) * share];
        let heavy_users = &seeded.very_heavy_users[round * heavy_share..(round + 1) * heavy_share];
        let mut medians = Vec::new();
        for (i, &contender) in Contender::ALL.iter().enumerate() {
            let users = if contender.heavy() {
                heavy_users
            } else {
                users
            };
            let measured = measure(&mut admin, &network, &policy, contender, actor, users).await;
            rtt = measured.rtt;
            trips[i] = measured.round_trips;
            medians.push(percentiles(measured.took.clone()).0.as_secs_f64());
            took[i].extend(measured.took);
        }
        for (pair, ratio) in ratios.iter_mut().enumerate() {
            ratio.push(medians[2 * pair] / medians[2 * pair + 1]);
        }
    }
    drop_database(&mut admin, COPY).await;

    println!(
        "one request's latency, {share} requests each ({heavy_share} for the heavy purges) in each of {rounds} interleaved rounds (round trip to PostgreSQL: {rtt:.2?})"
    );
    let rows: Vec<_> = took.into_iter().map(percentiles).collect();
    for ((contender, (median, p95)), trips) in Contender::ALL.iter().zip(&rows).zip(&trips) {
        let trips = trips.map_or("-".to_owned(), |n| format!("{n:.1}"));
        println!(
            "  {:<48} median {median:>9.2?}   p95 {p95:>9.2?} ({:.2}x the median)   round trips {trips:>4}",
            contender.label(),
            p95.as_secs_f64() / median.as_secs_f64(),
        );
    }
    let median = |i: usize| rows[i].0.as_secs_f64();
    for (pair, (what, per_round)) in Contender::PAIRS.iter().zip(&ratios).enumerate() {
        let (lo, hi) = spread(per_round);
        println!(
            "  {what}, erasure / raw SQL: {:.2}x the median (rounds {lo:.2}..{hi:.2})",
            median(2 * pair) / median(2 * pair + 1)
        );
    }
}
