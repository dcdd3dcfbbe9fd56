//! `make bench-load`: many Lambda containers at once against the local
//! PostgreSQL, each with its own small pool (`store::pool::lazy_pool` with the
//! functions' default settings, as a container makes it) and its own policy
//! engine, calling `store::deletion` as the HTTP functions do.
//!
//! 1. Different users: BENCH_CONTAINERS containers (default 100) soft-delete
//!    and restore users of their own, one request at a time each, for
//!    BENCH_SECONDS (default 20): throughput, p50/p95/p99, errors, the
//!    server's deadlock count and peak connections. BENCH_POOL_CONNECTIONS
//!    overrides the pools' size (default 1, the template's DATABASE_POOL_MAX
//!    for the HTTP functions; the code's default, which the batch jobs use,
//!    is 2).
//! 2. The same few users: in each of BENCH_ROUNDS rounds (default 5) all the
//!    containers soft-delete BENCH_CONTESTED users (default 5) at once, then
//!    restore them at once: exactly one winner per user per step, every
//!    other answer a clean 409 (as the HTTP contract maps it), none 5xx.
//!
//! Straight to PostgreSQL on loopback (no relay): the database's own limits
//! are what this finds. Needs the owner's DATABASE_URL (`source .local/stack.env`).

#[allow(dead_code, reason = "each benchmark uses part of the shared module")]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use erasure::config::{PoolSettings, RequestConfig};
use erasure::domain::{ActorId, TargetId};
use erasure::http::problem::Problem;
use erasure::store::audited::{Deps, Origin};
use erasure::store::deletion;
use erasure::store::errors::RequestError;
use erasure::store::pauses::{self, PauseGate};
use erasure::store::pool::lazy_pool;
use erasure_fixtures::seed::SeedSpec;
use erasure_policy::Policy;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use support::{admin, drop_database, env_number, seeded_template};
use tokio::task::JoinSet;
use uuid::Uuid;

const DB: &str = "erasure_bench_load";

/// One simulated Lambda container: its own pool, policy and kill-switch cache.
struct Container {
    db: PgPool,
    policy: Policy,
    pauses: PauseGate,
}

impl Container {
    fn new(options: &PgConnectOptions, pool: &PoolSettings) -> Container {
        let db = lazy_pool(options.clone().database(DB), pool);
        Container {
            pauses: PauseGate::new(db.clone(), pauses::CACHE_FOR),
            db,
            policy: Policy::embedded(),
        }
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            db: &self.db,
            policy: &self.policy,
            settings: RequestConfig::default(),
            pauses: self.pauses.clone(),
        }
    }

    async fn act(&self, restore: bool, actor: Uuid, user: Uuid) -> Result<(), RequestError> {
        let (deps, origin) = (self.deps(), Origin::default());
        let (actor, target) = (ActorId(actor), TargetId(user));
        let done = if restore {
            deletion::restore(&deps, actor, target, &origin).await
        } else {
            let reason = Some("load test".to_owned());
            deletion::soft_delete(&deps, actor, target, reason, &origin).await
        };
        done.map(drop)
    }
}

/// The HTTP status and code an error is answered with.
fn answered(e: &RequestError) -> (u16, &'static str) {
    let problem = Problem::from(e);
    (problem.status.as_u16(), problem.code)
}

/// The server's deadlock count for the database (pg_stat_database).
async fn deadlocks(owner: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = $1")
        .bind(DB)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// Samples the database's connections every 20 ms until `stop`; the peak.
fn watch_connections(options: &PgConnectOptions, stop: Arc<AtomicBool>) -> Arc<AtomicI64> {
    let peak = Arc::new(AtomicI64::new(0));
    let (options, seen) = (options.clone(), peak.clone());
    tokio::spawn(async move {
        let db = support::pool_of(&options, "postgres", 1).await;
        while !stop.load(Ordering::Relaxed) {
            let now: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                    .bind(DB)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            seen.fetch_max(now, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    peak
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Part 1: each container on users of its own for `seconds`.
async fn different_users(
    containers: &[Arc<Container>],
    actor: Uuid,
    users: &[Uuid],
    seconds: u64,
) -> (Vec<Duration>, BTreeMap<String, usize>) {
    let share = users.len() / containers.len();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = JoinSet::new();
    for (i, container) in containers.iter().enumerate() {
        let (container, mine) = (
            container.clone(),
            users[i * share..(i + 1) * share].to_vec(),
        );
        tasks.spawn(async move {
            let mut took = Vec::new();
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            // Soft delete all of its users, restore them all, and again.
            'run: for pass in 0.. {
                for &user in &mine {
                    if Instant::now() >= until {
                        break 'run;
                    }
                    let started = Instant::now();
                    match container.act(pass % 2 == 1, actor, user).await {
                        Ok(()) => took.push(started.elapsed()),
                        Err(e) => *errors.entry(e.code().to_owned()).or_default() += 1,
                    }
                }
            }
            (took, errors)
        });
    }
    let mut took = Vec::new();
    let mut errors = BTreeMap::new();
    for (t, e) in tasks.join_all().await {
        took.extend(t);
        for (code, n) in e {
            *errors.entry(code).or_default() += n;
        }
    }
    took.sort();
    (took, errors)
}

/// What one contested step (all containers at once on the same users) gave.
#[derive(Default)]
struct Contest {
    /// Per user, how many requests succeeded.
    winners: BTreeMap<Uuid, usize>,
    /// Per HTTP status and code, how many answered so.
    answers: BTreeMap<(u16, &'static str), usize>,
}

/// Part 2: every container on one of `users` at once; `restore` or soft delete.
async fn contested(
    containers: &[Arc<Container>],
    actor: Uuid,
    users: &[Uuid],
    restore: bool,
) -> Contest {
    let start = Arc::new(tokio::sync::Barrier::new(containers.len()));
    let mut tasks = JoinSet::new();
    for (i, container) in containers.iter().enumerate() {
        let (container, start, user) = (container.clone(), start.clone(), users[i % users.len()]);
        tasks.spawn(async move {
            start.wait().await;
            (user, container.act(restore, actor, user).await)
        });
    }
    let mut contest = Contest::default();
    for (user, outcome) in tasks.join_all().await {
        let winners = contest.winners.entry(user).or_default();
        let answer = match outcome {
            Ok(()) => {
                *winners += 1;
                (200, "OK")
            }
            Err(e) => answered(&e),
        };
        *contest.answers.entry(answer).or_default() += 1;
    }
    contest
}

#[tokio::main]
async fn main() {
    let n = env_number("BENCH_CONTAINERS", 100);
    let seconds = env_number("BENCH_SECONDS", 20) as u64;
    let rounds = env_number("BENCH_ROUNDS", 5);
    let contested_users = env_number("BENCH_CONTESTED", 5).clamp(1, n);
    let (options, mut owner) = admin().await;
    let seeded = seeded_template(&mut owner, &options, DB, &SeedSpec::live_users(n * 20)).await;
    let actor = seeded.admins[0];
    // The template gives each HTTP function's container one connection.
    let pool = PoolSettings {
        max_connections: env_number("BENCH_POOL_CONNECTIONS", 1)
            .try_into()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(1),
        ..PoolSettings::default()
    };
    let containers: Vec<Arc<Container>> = (0..n)
        .map(|_| Arc::new(Container::new(&options, &pool)))
        .collect();
    let max_per_container = pool.max_connections;

    let deadlocks_before = deadlocks(&mut owner).await;
    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_connections(&options, stop.clone());
    let started = Instant::now();
    let (took, errors) = different_users(&containers, actor, &seeded.users, seconds).await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let deadlocked = deadlocks(&mut owner).await - deadlocks_before;
    let (p50, p95, p99) = (
        percentile(&took, 0.5),
        percentile(&took, 0.95),
        percentile(&took, 0.99),
    );
    println!(
        "{n} containers at once, each its own pool (at most {max_per_container} connections), different users, {seconds} s, straight to PostgreSQL"
    );
    println!(
        "  {} soft deletes and restores: {:.0} per second; p50 {p50:.2?}  p95 {p95:.2?}  p99 {p99:.2?} ({:.1}x p50)",
        took.len(),
        took.len() as f64 / elapsed.as_secs_f64(),
        p99.as_secs_f64() / p50.as_secs_f64()
    );
    println!(
        "  errors: {}; deadlocks (pg_stat_database): {deadlocked}; peak connections: {}",
        if errors.is_empty() {
            "none".to_owned()
        } else {
            format!("{errors:?}")
        },
        peak.load(Ordering::Relaxed)
    );

    // The different-users part left every user live or soft-deleted by
    // where its container stopped: start the contest from live users.
    let users = &seeded.users[..contested_users];
    sqlx::query("UPDATE profiles SET deleted_at = NULL, deleted_by = NULL WHERE id = ANY($1)")
        .bind(users)
        .execute(&mut owner_db(&options).await)
        .await
        .unwrap();
    println!(
        "{n} containers at once on the same {contested_users} users, {rounds} rounds of a soft delete then a restore"
    );
    let mut clean = true;
    for round in 1..=rounds {
        for restore in [false, true] {
            let contest = contested(&containers, actor, users, restore).await;
            let one_winner_each = contest.winners.values().all(|&w| w == 1);
            let no_5xx = contest.answers.keys().all(|(status, _)| *status < 500);
            clean &= one_winner_each && no_5xx;
            println!(
                "  round {round} {:<11} winners per user {:?}; answers {:?}",
                if restore { "restore" } else { "soft delete" },
                contest.winners.values().collect::<Vec<_>>(),
                contest.answers
            );
        }
    }
    println!(
        "  {}",
        if clean {
            "every step: exactly one winner per user, no 5xx"
        } else {
            "NOT CLEAN: see the steps above"
        }
    );
    for container in &containers {
        container.db.close().await;
    }
    drop_database(&mut owner, DB).await;
}

/// A connection as the owner to the benchmark's database.
async fn owner_db(options: &PgConnectOptions) -> PgConnection {
    use sqlx::Connection;
    PgConnection::connect_with(&options.clone().database(DB))
        .await
        .unwrap()
}
