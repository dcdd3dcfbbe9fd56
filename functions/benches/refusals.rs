//! `make bench-refusals`: does a flood of refused requests slow a deletion?
//! Soft deletes, one at a time as one container serves them, while nothing
//! else happens, while as many `SELECT 1` keep the machine as busy (the
//! load's own cost), while a burst of BENCH_REFUSALS (default 1,000) refused
//! requests is counted the service's way (`refused_requests`, one row per
//! actor, route, code and minute), and while the same burst is written the
//! way the service avoids (an audit row each, serialized on the audit
//! chain's lock). The contenders run interleaved for BENCH_ROUNDS rounds
//! (default 5), so that the spread of the ratios shows the noise; the rows
//! each burst added are printed too. Behind the same relay as the other
//! benchmarks (BENCH_RTT_MS, default 1 ms). Needs the owner's DATABASE_URL
//! (`source .local/stack.env`).

#[allow(dead_code, reason = "each benchmark uses part of the shared module")]
mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use erasure::config::RequestConfig;
use erasure::domain::{ActorId, TargetId};
use erasure::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use erasure::store::audited::{Deps, Origin};
use erasure::store::deletion;
use erasure::store::pauses::{self, PauseGate};
use erasure::store::refused_requests::{self, Refusal};
use erasure_fixtures::seed::SeedSpec;
use erasure_policy::Policy;
use sqlx::PgPool;
use support::{
    admin, behind_the_network, drop_database, env_number, percentiles, pool_of, recreate,
    round_trip, seeded_template, spread,
};
use uuid::Uuid;

const TEMPLATE: &str = "erasure_bench_refusals_template";
const COPY: &str = "erasure_bench_refusals_run";
/// Concurrent senders of the burst (containers of the refused route).
const SENDERS: usize = 10;

#[derive(Clone, Copy, PartialEq)]
enum Flood {
    None,
    /// As many statements that share nothing with anyone: what the load of
    /// a burst costs this machine, whatever the statements.
    LoadAlone,
    Counted,
    AuditRowEach,
}

impl Flood {
    fn label(self) -> &'static str {
        match self {
            Flood::None => "soft delete, nothing else",
            Flood::LoadAlone => "soft delete, burst of SELECT 1 (the load alone)",
            Flood::Counted => "soft delete, burst counted per minute (erasure)",
            Flood::AuditRowEach => "soft delete, burst as an audit row each",
        }
    }
}

/// One refused request written as `flood` says.
async fn refuse(db: &PgPool, flood: Flood, actor: Uuid, origin: &Origin) {
    match flood {
        Flood::None => {}
        Flood::LoadAlone => {
            sqlx::query("SELECT 1").execute(db).await.unwrap();
        }
        Flood::Counted => {
            let refusal = Refusal {
                actor: ActorId(actor),
                route: "purge_user",
                status: 400,
                code: "INVALID_REASON",
                origin,
            };
            refused_requests::count(db, &refusal, Utc::now())
                .await
                .unwrap();
        }
        Flood::AuditRowEach => {
            let entry = AuditEntry {
                actor_id: Some(actor),
                error_code: Some("INVALID_REASON".into()),
                ..AuditEntry::new(AuditAction::Purge, Outcome::Failed)
            };
            let mut tx = db.begin().await.unwrap();
            audit_log::append(&mut tx, &entry).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

async fn rows(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM refused_requests) + (SELECT count(*) FROM deletion_audit)",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

/// Soft deletes of `users`, one at a time, while the burst runs (for the
/// whole of it: the deletes go on until the burst is done, at least
/// `users.len() / 2` of them). Each delete's latency, and the rows added.
async fn round(
    db: &PgPool,
    deps: &Deps<'_>,
    flood: Flood,
    burst: usize,
    actor: Uuid,
    users: &mut impl Iterator<Item = Uuid>,
    per_round: usize,
) -> (Vec<Duration>, i64) {
    let before = rows(db).await;
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let db = db.clone();
        senders.spawn(async move {
            let origin = Origin::default();
            for _ in 0..burst / SENDERS {
                refuse(&db, flood, actor, &origin).await;
            }
        });
    }
    let origin = Origin::default();
    let mut took = Vec::new();
    while took.len() < per_round
        || (flood != Flood::None && !senders.is_empty() && took.len() < 4 * per_round)
    {
        let Some(user) = users.next() else { break };
        let started = Instant::now();
        deletion::soft_delete(
            deps,
            ActorId(actor),
            TargetId(user),
            Some("benchmark".into()),
            &origin,
        )
        .await
        .unwrap();
        took.push(started.elapsed());
        while senders.try_join_next().is_some() {}
    }
    senders.join_all().await;
    let added = rows(db).await - before - took.len() as i64;
    (took, added)
}

#[tokio::main]
async fn main() {
    let burst = env_number("BENCH_REFUSALS", 1000);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let per_round = 40;
    let floods = [
        Flood::None,
        Flood::LoadAlone,
        Flood::Counted,
        Flood::AuditRowEach,
    ];
    let (options, mut admin) = admin().await;
    let spec = SeedSpec::live_users(rounds * floods.len() * per_round * 4);
    let seeded = seeded_template(&mut admin, &options, TEMPLATE, &spec).await;
    let options = behind_the_network(options).await.options;
    // The senders and the deleting container, a connection each.
    recreate(&mut admin, COPY, Some(TEMPLATE)).await;
    let db = pool_of(&options, COPY, SENDERS as u32 + 2).await;
    let rtt = round_trip(&db).await;
    let policy = Policy::embedded();
    let deps = Deps {
        db: &db,
        policy: &policy,
        settings: RequestConfig::default(),
        pauses: PauseGate::new(db.clone(), pauses::CACHE_FOR),
    };
    let actor = seeded.admins[0];
    let mut users = seeded.users.iter().copied();
    let mut took: Vec<Vec<Duration>> = vec![Vec::new(); floods.len()];
    let mut added: Vec<Vec<i64>> = vec![Vec::new(); floods.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); floods.len()];
    for _ in 0..rounds {
        let mut medians = Vec::new();
        for (i, &flood) in floods.iter().enumerate() {
            let (t, rows) = round(&db, &deps, flood, burst, actor, &mut users, per_round).await;
            medians.push(percentiles(t.clone()).0.as_secs_f64());
            took[i].extend(t);
            added[i].push(rows);
        }
        for i in 0..floods.len() {
            ratios[i].push(medians[i] / medians[0]);
        }
    }
    db.close().await;
    drop_database(&mut admin, COPY).await;

    println!(
        "soft delete latency during a burst of {burst} refused requests from {SENDERS} senders, {rounds} interleaved rounds (round trip to PostgreSQL: {rtt:.2?})"
    );
    for (i, flood) in floods.iter().enumerate() {
        let (median, p95) = percentiles(took[i].clone());
        let (lo, hi) = spread(&ratios[i]);
        println!(
            "  {:<50} median {median:>8.2?}  p95 {p95:>8.2?}  x{:.2} of quiet (rounds {lo:.2}..{hi:.2})  rows per burst {:?}",
            flood.label(),
            median.as_secs_f64() / percentiles(took[0].clone()).0.as_secs_f64(),
            added[i],
        );
    }
}
