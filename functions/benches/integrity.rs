//! `make bench-integrity`: the integrity audit at scale, side by side in one
//! run with the raw anti-join SQL that finds the same orphans (the lower
//! bound: one `NOT EXISTS` count per column of the plan, nothing else).
//!
//! BENCH_USERS users (default 1,000,000) with about ten related rows each
//! (10.8 million at the default) and BENCH_AUDIT_ROWS hash-chained audit rows
//! (default 100,000, purges over a year, a day's worth in the audit's window) are generated once
//! into a template database, with one orphan planted per plan column. Both
//! contenders only read, so they share it; each runs once in each of
//! BENCH_ROUNDS interleaved rounds (default 3), and both must count the
//! planted orphans. Printed: the medians and the spread of the ratio; the
//! audit's checks other than the orphan scans, timed alone; the bench
//! process's resident memory during a full run (sampled every 50 ms); then
//! the function's handler (`invocation::handle`, its progress saved in
//! `integrity_runs`, its metrics and anchor in moto) driven by a deadline of
//! BENCH_INVOCATION_SECS (default 60) until the run completes, which shows
//! how many invocations a run spans and how many it would at Lambda's
//! 15-minute limit. BENCH_KEEP=1 keeps the template for the next run with the
//! same sizes, which reuses it. Needs the local stack (`infra/local/up.sh`, then
//! `source .local/stack.env`): the owner's DATABASE_URL and moto.

#[allow(dead_code, reason = "each benchmark uses part of the shared module")]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use erasure::aws::anchor::Anchors;
use erasure::aws::metrics::Metrics;
use erasure::aws::sdk;
use erasure::aws::secrets::Secrets;
use erasure::config::{Config, IntegrityConfig};
use erasure::container::Container;
use erasure::domain::plan::{Entry, PLAN, PROFILES};
use erasure::jobs::deadline;
use erasure::jobs::integrity_audit::checks::{self, Check};
use erasure::jobs::integrity_audit::invocation::{
    self, IntegrityAuditEvent, IntegrityAuditOutcome,
};
use erasure::store::pauses::PauseGate;
use erasure_fixtures::seed::SeedSpec;
use erasure_policy::Policy;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use support::{
    admin, drop_database, env_number, median, pool, resident_mib, seeded_template, spread,
};

const TEMPLATE: &str = "erasure_bench_integrity";
/// Lambda's longest invocation.
const LAMBDA_LIMIT: Duration = Duration::from_secs(15 * 60);

/// One orphan per plan column: a row whose reference is changed to a user
/// that does not exist, with the foreign keys' triggers off (as a restore
/// from a partial dump or a disabled constraint would leave it).
async fn plant_orphans(db: &PgPool) -> i64 {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut planted = 0;
    for entry in PLAN {
        let (t, c) = (entry.reference.table, entry.reference.column);
        planted += sqlx::query(&format!(
            "UPDATE {t} SET {c} = gen_random_uuid()
              WHERE ctid = (SELECT ctid FROM {t} WHERE {c} IS NOT NULL LIMIT 1)"
        ))
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected() as i64;
    }
    tx.commit().await.unwrap();
    planted
}

/// `rows` scheduled purges, through the chain trigger as the cleanup writes
/// them, spread over the last year: a day's worth in the audit's window.
async fn audit_rows(db: &PgPool, rows: usize) {
    sqlx::query(
        "INSERT INTO deletion_audit (occurred_at, action, outcome, target_id, target_role, reason,
                                     policy_digest, policy_rule)
         SELECT now() - (($1 - n) * 365 / $1) * interval '1 day' - interval '1 minute',
                'SCHEDULED_PURGE', 'SUCCESS', gen_random_uuid(), 'CLIENT', 'grace period ended',
                repeat('ab', 32), 'scheduled-purge'
           FROM generate_series(1, $1) n",
    )
    .bind(rows as i64)
    .execute(db)
    .await
    .unwrap();
}

/// Generates the template: the users and their rows, the planted orphans,
/// the audit rows. Returns how many orphans were planted.
async fn generate(
    admin: &mut PgConnection,
    options: &PgConnectOptions,
    users: usize,
    audit_log_rows: usize,
) -> i64 {
    println!("generating {users} users and {audit_log_rows} audit rows into {TEMPLATE} …");
    let started = Instant::now();
    let spec = SeedSpec {
        users,
        heavy_users: 0,
        very_heavy_users: 0,
        soft_deleted: users / 20,
        expired: 0,
        shared_addresses: 1_000,
        ordinary_orders: (2, 3),
        chunk_size: 10_000,
        ..SeedSpec::default()
    };
    seeded_template(admin, options, TEMPLATE, &spec).await;
    let db = pool(options, TEMPLATE).await;
    let planted = plant_orphans(&db).await;
    audit_rows(&db, audit_log_rows).await;
    sqlx::query("ANALYZE").execute(&db).await.unwrap();
    db.close().await;
    println!("  generated in {:.0?}", started.elapsed());
    planted
}

/// Rows in the tables that reference a profile.
async fn related_rows(db: &PgPool) -> i64 {
    let tables: BTreeSet<&str> = PLAN.iter().map(|e| e.reference.table).collect();
    let mut rows = 0;
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(db)
            .await
            .unwrap();
        rows += n;
    }
    rows
}

/// The lower bound: every plan column's orphans by anti-join.
async fn raw_anti_join(db: &PgPool, plan: &[Entry]) -> i64 {
    let mut orphans = 0;
    for entry in plan {
        let (t, c) = (entry.reference.table, entry.reference.column);
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {t} x
              WHERE x.{c} IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM {PROFILES} p WHERE p.id = x.{c})"
        ))
        .fetch_one(db)
        .await
        .unwrap();
        orphans += n;
    }
    orphans
}

/// A container as the function builds one, on `db`, its AWS clients on moto.
async fn container(db: PgPool) -> Container {
    let sdk = sdk::load().await;
    let anchor = format!("/erasure/bench/audit-chain-anchor-{}", std::process::id());
    let config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some("postgres://unused".into()),
        "AUDIT_ANCHOR_PARAMETER" => Some(anchor.clone()),
        _ => None,
    })
    .unwrap();
    Container {
        config,
        secrets: Secrets::new(&sdk),
        sdk,
        pauses: PauseGate::new(db.clone(), Duration::ZERO),
        db,
        policy: Policy::embedded(),
        events: None,
    }
}

/// Runs `work`, sampling this process's resident memory every 50 ms; returns
/// its output with the memory before and at its peak, in MiB.
async fn with_memory<T>(work: impl Future<Output = T>) -> (T, f64, f64) {
    let pid = std::process::id();
    let before = resident_mib(pid);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let done = done.clone();
        async move {
            let mut peak = 0.0f64;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(resident_mib(pid));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        }
    });
    let out = work.await;
    done.store(true, Ordering::Relaxed);
    let peak = sampler.await.unwrap().max(resident_mib(pid));
    (out, before, peak)
}

fn event(json: &str) -> IntegrityAuditEvent {
    serde_json::from_str(json).unwrap()
}

#[tokio::main]
async fn main() {
    let users = env_number("BENCH_USERS", 1_000_000);
    let audit_log_rows = env_number("BENCH_AUDIT_ROWS", 100_000);
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let invocation = Duration::from_secs(env_number("BENCH_INVOCATION_SECS", 60) as u64);
    let (options, mut admin) = admin().await;

    // With BENCH_KEEP the template outlives the run, and a later run with the
    // same sizes reuses it (generating a million users takes minutes).
    let keep = std::env::var_os("BENCH_KEEP").is_some();
    let label = format!("users={users} audit_rows={audit_log_rows} orphans=");
    let kept: Option<String> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(TEMPLATE)
    .fetch_optional(&mut admin)
    .await
    .unwrap()
    .flatten();
    let planted = match kept.as_deref().and_then(|k| k.strip_prefix(&label)) {
        Some(planted) if keep => {
            println!("reusing {TEMPLATE} ({users} users, {audit_log_rows} audit rows)");
            planted.parse().unwrap()
        }
        _ => generate(&mut admin, &options, users, audit_log_rows).await,
    };
    sqlx::query(&format!(
        "COMMENT ON DATABASE {TEMPLATE} IS '{label}{planted}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let db = pool(&options, TEMPLATE).await;
    let related = related_rows(&db).await;
    println!(
        "  {related} related rows ({:.1} per user), {planted} orphans planted",
        related as f64 / users as f64
    );

    let settings = IntegrityConfig::default();
    let (mut raw, mut audit, mut rest, mut ratios) = (vec![], vec![], vec![], vec![]);
    let mut memory = (0.0, 0.0);
    for round in 1..=rounds {
        let started = Instant::now();
        let found = raw_anti_join(&db, PLAN).await;
        let raw_took = started.elapsed().as_secs_f64();
        assert_eq!(found, planted, "the anti-join finds every planted orphan");

        let started = Instant::now();
        let (report, before, peak) = with_memory(checks::audit(&db, PLAN, &settings)).await;
        let audit_took = started.elapsed().as_secs_f64();
        let report = report.unwrap();
        assert_eq!(report.counts[&Check::Orphans], planted, "{report:?}");
        memory = (before, peak);

        // The checks other than the orphan scans: the same run with no plan
        // columns to scan.
        let started = Instant::now();
        checks::audit(&db, &[], &settings).await.unwrap();
        let rest_took = started.elapsed().as_secs_f64();

        println!(
            "  round {round}: raw anti-join {raw_took:.2} s, full audit {audit_took:.2} s (of which the other checks {rest_took:.2} s)"
        );
        raw.push(raw_took);
        audit.push(audit_took);
        rest.push(rest_took);
        ratios.push(audit_took / raw_took);
    }

    // The function's handler, one simulated invocation after another.
    let container = container(db.clone()).await;
    let metrics = Metrics::new(&container.sdk);
    let anchors = Anchors::new(&container.sdk, &container.config.integrity.anchor_parameter);
    let restart = event(include_str!("../../events/integrity_audit/restart.json"));
    let scheduled = event(include_str!("../../events/integrity_audit/scheduled.json"));
    let started = Instant::now();
    let mut invocations = 0;
    let ((), handler_before, handler_peak) = with_memory(async {
        loop {
            let keep_going = deadline::before(SystemTime::now() + invocation);
            let outcome = invocation::handle(
                &container,
                &metrics,
                &anchors,
                if invocations == 0 {
                    &restart
                } else {
                    &scheduled
                },
                &keep_going,
            )
            .await
            .unwrap();
            invocations += 1;
            match outcome {
                IntegrityAuditOutcome::Complete { report, .. } => {
                    assert_eq!(report.counts[&Check::Orphans], planted, "{report:?}");
                    break;
                }
                IntegrityAuditOutcome::Incomplete { .. } => continue,
                IntegrityAuditOutcome::Busy => panic!("nothing else holds the run"),
            }
        }
    })
    .await;
    let handler_took = started.elapsed();
    db.close().await;
    if !keep {
        drop_database(&mut admin, TEMPLATE).await;
    }

    let (lo, hi) = spread(&ratios);
    println!(
        "integrity audit of {users} users, {related} related rows, {audit_log_rows} audit rows, median of {rounds} interleaved rounds"
    );
    println!(
        "  raw anti-join SQL (lower bound, orphans only)  {:>8.2} s",
        median(&raw)
    );
    println!(
        "  erasure integrity audit (every check)          {:>8.2} s",
        median(&audit)
    );
    println!(
        "    of which the checks other than orphans       {:>8.2} s",
        median(&rest)
    );
    println!(
        "  audit / raw: {:.2}x (rounds {lo:.2}..{hi:.2}; goal: at most 1.5x)",
        median(&ratios)
    );
    println!(
        "  resident memory of the bench process: {:.1} MiB before a full run, {:.1} MiB at its peak",
        memory.0, memory.1
    );
    // At Lambda's limit the deadline keeps 30 s in hand (`jobs::deadline`).
    let per_limit = (LAMBDA_LIMIT - Duration::from_secs(30)).as_secs_f64();
    println!(
        "  the handler with a {invocation:?} deadline: {invocations} invocations, {handler_took:.1?} in all, resident {handler_before:.1} -> {handler_peak:.1} MiB; at the 15-minute limit: {} invocation(s)",
        (handler_took.as_secs_f64() / per_limit).ceil().max(1.0)
    );
}
