//! `make bench-deletion`: one request's latency, the service against raw SQL,
//! side by side in one run. A soft delete and a purge through `store::deletion`
//! (one bounded transaction: the actor's role read, the policy asked before and
//! after the target is locked, active orders counted, the act, an audit row)
//! against the same change by hand in one transaction, the lower bound.
//!
//! BENCH_REQUESTS users per contender (default 300), one request at a time as
//! one Lambda container serves them, in BENCH_ROUNDS interleaved rounds
//! (default 3; the spread of the ratios over them is printed), each
//! contender on its own copy of a seeded template database each round, behind the same relay as the cleanup's benchmark
//! (BENCH_RTT_MS, default 1 ms; 0 for loopback). Needs the owner's
//! DATABASE_URL (`source .local/stack.env`).

mod support;

use std::time::{Duration, Instant};

use erasure::config::RequestConfig;
use erasure::domain::{ActorId, TargetId};
use erasure::store::audited::{Deps, Origin};
use erasure::store::deletion;
use erasure::store::pauses::{self, PauseGate};
use erasure_fixtures::seed::SeedSpec;
use erasure_policy::Policy;
use sqlx::PgPool;
use support::{
    admin, behind_the_network, copy_of, drop_database, env_number, percentiles, purge_by_hand,
    round_trip, seeded_template, spread,
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

async fn raw_purge(db: &PgPool, user: Uuid) {
    let mut tx = db.begin().await.unwrap();
    purge_by_hand(&mut tx, user).await;
    tx.commit().await.unwrap();
}

#[derive(Clone, Copy)]
enum Contender {
    ServiceSoftDelete,
    RawSoftDelete,
    ServicePurge,
    RawPurge,
}

impl Contender {
    fn label(self) -> &'static str {
        match self {
            Contender::ServiceSoftDelete => "soft delete, erasure (policy, locks, audit)",
            Contender::RawSoftDelete => "soft delete, raw SQL (lower bound)",
            Contender::ServicePurge => "purge, erasure (policy, locks, plan, audit)",
            Contender::RawPurge => "purge, raw SQL (lower bound)",
        }
    }
}

/// Each request's latency, on a fresh copy of the template.
async fn measure(
    admin: &mut sqlx::PgConnection,
    options: &sqlx::postgres::PgConnectOptions,
    policy: &Policy,
    contender: Contender,
    actor: Uuid,
    users: &[Uuid],
) -> (Vec<Duration>, Duration) {
    let db = copy_of(admin, options, TEMPLATE, COPY).await;
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
    for &user in users {
        let started = Instant::now();
        match contender {
            Contender::ServiceSoftDelete => {
                deletion::soft_delete(
                    &deps,
                    ActorId(actor),
                    TargetId(user),
                    Some("benchmark".into()),
                    &origin,
                )
                .await
                .unwrap();
            }
            Contender::RawSoftDelete => raw_soft_delete(&db, actor, user).await,
            Contender::ServicePurge => {
                deletion::purge(
                    &deps,
                    ActorId(actor),
                    TargetId(user),
                    "benchmark purge".into(),
                    &origin,
                )
                .await
                .unwrap();
            }
            Contender::RawPurge => raw_purge(&db, user).await,
        }
        took.push(started.elapsed());
    }
    db.close().await;
    (took, rtt)
}

#[tokio::main]
async fn main() {
    let requests = env_number("BENCH_REQUESTS", 300);
    let (options, mut admin) = admin().await;

    let spec = SeedSpec::live_users(requests);
    let seeded = seeded_template(&mut admin, &options, TEMPLATE, &spec).await;

    let options = behind_the_network(options).await;
    let policy = Policy::embedded();
    let actor = seeded.admins[0];
    let contenders = [
        Contender::ServiceSoftDelete,
        Contender::RawSoftDelete,
        Contender::ServicePurge,
        Contender::RawPurge,
    ];
    // Interleaved: each round runs every contender on a fresh copy, over its
    // own share of the users, so that a slow spell of the machine shows as
    // spread rather than as one contender's verdict.
    let rounds = env_number("BENCH_ROUNDS", 3).clamp(1, seeded.users.len());
    let share = seeded.users.len() / rounds;
    let mut took: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    let mut ratios = [Vec::new(), Vec::new()];
    let mut rtt = Duration::ZERO;
    for round in 0..rounds {
        let users = &seeded.users[round * share..(round + 1) * share];
        let mut medians = Vec::new();
        for (i, &contender) in contenders.iter().enumerate() {
            let (t, measured) =
                measure(&mut admin, &options, &policy, contender, actor, users).await;
            rtt = measured;
            medians.push(percentiles(t.clone()).0.as_secs_f64());
            took[i].extend(t);
        }
        ratios[0].push(medians[0] / medians[1]);
        ratios[1].push(medians[2] / medians[3]);
    }
    drop_database(&mut admin, COPY).await;

    println!(
        "one request's latency, {share} requests each in each of {rounds} interleaved rounds (round trip to PostgreSQL: {rtt:.2?})"
    );
    let rows: Vec<_> = took.into_iter().map(percentiles).collect();
    for (contender, (median, p95)) in contenders.iter().zip(&rows) {
        println!(
            "  {:<48} median {median:>9.2?}   p95 {p95:>9.2?}",
            contender.label()
        );
    }
    let median = |i: usize| rows[i].0.as_secs_f64();
    for (what, (service, raw), per_round) in [
        ("soft delete", (0, 1), &ratios[0]),
        ("purge", (2, 3), &ratios[1]),
    ] {
        let (lo, hi) = spread(per_round);
        println!(
            "  {what}, erasure / raw SQL: {:.2}x the median (rounds {lo:.2}..{hi:.2})",
            median(service) / median(raw)
        );
    }
}
