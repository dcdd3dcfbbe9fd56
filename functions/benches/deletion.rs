//! `make bench-deletion`: one request's latency, the service against raw SQL,
//! side by side in one run. A soft delete and a purge through `store::deletion`
//! (one bounded transaction: the actor's role read, the policy asked before and
//! after the target is locked, active orders counted, the act, an audit row)
//! against the same change by hand in one transaction, the lower bound.
//!
//! BENCH_REQUESTS users per contender (default 300), one request at a time as
//! one Lambda container serves them, each contender on its own copy of a
//! seeded template database, behind the same relay as the cleanup's benchmark
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
    admin, behind_the_network, copy_of, env_number, percentiles, purge_by_hand, round_trip,
    seeded_template,
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

    let spec = SeedSpec {
        users: requests,
        heavy_users: 0,
        very_heavy_users: 0,
        soft_deleted: 0,
        expired: 0,
        active_order_share: 0.0,
        ..SeedSpec::default()
    };
    let seeded = seeded_template(&mut admin, &options, TEMPLATE, &spec).await;

    let options = behind_the_network(options).await;
    let policy = Policy::embedded();
    let actor = seeded.admins[0];
    let mut rows = Vec::new();
    let mut rtt = Duration::ZERO;
    for contender in [
        Contender::ServiceSoftDelete,
        Contender::RawSoftDelete,
        Contender::ServicePurge,
        Contender::RawPurge,
    ] {
        let (took, measured) = measure(
            &mut admin,
            &options,
            &policy,
            contender,
            actor,
            &seeded.users,
        )
        .await;
        rtt = measured;
        rows.push((contender, percentiles(took)));
    }
    sqlx::query(&format!("DROP DATABASE {COPY} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();

    println!(
        "one request's latency, {} requests each (round trip to PostgreSQL: {rtt:.2?})",
        seeded.users.len()
    );
    for (contender, (median, p95)) in &rows {
        println!(
            "  {:<48} median {median:>9.2?}   p95 {p95:>9.2?}",
            contender.label()
        );
    }
    let median = |i: usize| rows[i].1.0.as_secs_f64();
    println!(
        "  soft delete, erasure / raw SQL: {:.1}x the median",
        median(0) / median(1)
    );
    println!(
        "  purge, erasure / raw SQL: {:.1}x the median",
        median(2) / median(3)
    );
}
