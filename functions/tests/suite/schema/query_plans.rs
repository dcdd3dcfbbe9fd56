//! The integrity audit's queries, the cleanup's batch and the relay's
//! leases, on a seeded, analyzed database: each is EXPLAINed (run with
//! `--nocapture` to read the plans) and must reach its rows through an
//! index, never by reading a whole table. The one exception is stated where
//! it is made.

use std::collections::BTreeSet;

use erasure::config::CleanupConfig;
use erasure::domain::plan::PLAN;
use erasure::jobs::cleanup::{self, Mode};
use erasure::jobs::integrity_audit::sql::{
    incomplete_purges_sql, orphan_batch_end_sql, orphan_batch_sql,
};
use erasure::store::audit_log::{self, AuditAction, AuditEntry, Outcome, VERIFY_BATCH};
use erasure::store::migrations::MIGRATOR;
use erasure::store::{legal_holds, outbox, profiles};
use erasure_fixtures::seed::{SeedSpec, seed};
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgPool, Row};
use uuid::Uuid;

const DAY: f64 = 86_400.0;
/// A batch as small against these tables as the default batch (5000) is
/// against production ones.
const BATCH: i64 = 100;
/// 512 KiB.
const SMALL_TABLE_PAGES: i32 = 64;

/// A database with enough rows that the planner's choices are the ones it
/// makes at scale: thousands of users and their rows, and an audit log of
/// years of which one day is in the window.
async fn populated(db: &PgPool) {
    let spec = SeedSpec {
        users: 4000,
        heavy_users: 10,
        very_heavy_users: 1,
        soft_deleted: 200,
        expired: 100,
        ..SeedSpec::default()
    };
    seed(db, &spec).await.unwrap();
    let settings = CleanupConfig {
        batch_size: 50,
        ..CleanupConfig::default()
    };
    cleanup::run(
        db,
        &crate::common::POLICY,
        &crate::common::pauses(db),
        &settings,
        Mode::Purge,
        &|| true,
    )
    .await
    .unwrap();
    let entries: Vec<AuditEntry> = (0..20_000)
        .map(|_| AuditEntry {
            actor_id: Some(Uuid::new_v4()),
            target_id: Some(Uuid::new_v4()),
            ..AuditEntry::new(AuditAction::SoftDelete, Outcome::Denied)
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    audit_log::append_many(&mut tx, &entries, &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Spread the history over years, as a log kept for seven would be.
    sqlx::query("ALTER TABLE deletion_audit DISABLE TRIGGER USER")
        .execute(db)
        .await
        .unwrap();
    sqlx::query("UPDATE deletion_audit SET occurred_at = now() - (seq % 2000) * interval '1 day' WHERE outcome = 'DENIED'")
        .execute(db)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE deletion_audit ENABLE TRIGGER USER")
        .execute(db)
        .await
        .unwrap();
    // A few holds, as there are in production: on soft-deleted users.
    sqlx::query(
        "INSERT INTO legal_holds (user_id, reason, placed_by)
         SELECT id, 'litigation', id FROM profiles WHERE deleted_at IS NOT NULL LIMIT 20",
    )
    .execute(db)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(db).await.unwrap();
}

/// The plan of `sql` with `args`, as JSON, printed as text too.
async fn explain(db: &PgPool, name: &str, sql: &str, args: PgArguments) -> Value {
    let text: Vec<String> = sqlx::query_scalar_with(&format!("EXPLAIN {sql}"), args.clone())
        .fetch_all(db)
        .await
        .unwrap();
    println!("-- {name}\n{}\n", text.join("\n"));
    let json: Value = sqlx::query_scalar_with(&format!("EXPLAIN (FORMAT JSON) {sql}"), args)
        .fetch_one(db)
        .await
        .unwrap();
    json[0]["Plan"].clone()
}

/// Every (node type, relation) of a plan.
fn scans(plan: &Value, out: &mut BTreeSet<(String, String)>) {
    if let Some(relation) = plan["Relation Name"].as_str() {
        out.insert((
            plan["Node Type"].as_str().unwrap().to_owned(),
            relation.to_owned(),
        ));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        scans(child, out);
    }
}

fn seq_scans(plan: &Value) -> Vec<String> {
    let mut found = BTreeSet::new();
    scans(plan, &mut found);
    found
        .into_iter()
        .filter(|(node, _)| node == "Seq Scan")
        .map(|(_, r)| r)
        .collect()
}

fn args(f: impl FnOnce(&mut PgArguments)) -> PgArguments {
    let mut a = PgArguments::default();
    f(&mut a);
    a
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_batched_and_windowed_query_uses_an_index(db: PgPool) {
    populated(&db).await;
    let window = DAY;
    let mut checked = Vec::new();
    for entry in PLAN {
        let name = format!(
            "orphans in {}.{}",
            entry.reference.table, entry.reference.column
        );
        // A column's first batch, and one from the middle of it.
        let middle: Uuid = sqlx::query_scalar(&format!(
            "SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} OFFSET (SELECT count({c}) / 2 FROM {t}) LIMIT 1",
            t = entry.reference.table,
            c = entry.reference.column
        ))
        .fetch_one(&db)
        .await
        .unwrap();
        for (from, first, label) in [
            (Uuid::nil(), true, &name),
            (middle, false, &"(resumed)".to_owned()),
        ] {
            let end = explain(
                &db,
                label,
                &orphan_batch_end_sql(entry, first),
                args(|a| {
                    a.add(from).unwrap();
                    a.add(BATCH).unwrap();
                }),
            )
            .await;
            let until: Option<Uuid> = sqlx::query_scalar(&orphan_batch_end_sql(entry, first))
                .bind(from)
                .bind(BATCH)
                .fetch_optional(&db)
                .await
                .unwrap();
            let count = explain(
                &db,
                label,
                &orphan_batch_sql(entry, first),
                args(|a| {
                    a.add(from).unwrap();
                    a.add(until.unwrap_or(Uuid::max())).unwrap();
                }),
            )
            .await;
            checked.push((format!("{label} (its end)"), end));
            checked.push((label.clone(), count));
        }
    }
    let windowed = [
        ("incomplete purges", incomplete_purges_sql(PLAN)),
        (
            "audit rows lacking fields",
            audit_log::INCOMPLETE_ROWS.to_owned(),
        ),
        ("self-deletions", audit_log::SELF_DELETIONS.to_owned()),
        (
            "SUPER_ADMIN deletions",
            audit_log::SUPER_ADMINS_DELETED.to_owned(),
        ),
    ];
    for (name, query) in windowed {
        let plan = explain(&db, name, &query, args(|a| a.add(window).unwrap())).await;
        checked.push((name.to_owned(), plan));
    }
    let volume = explain(
        &db,
        "unusual volume",
        audit_log::UNUSUAL_VOLUME,
        args(|a| {
            a.add(window).unwrap();
            a.add(50_i64).unwrap();
        }),
    )
    .await;
    checked.push(("unusual volume".into(), volume));
    let chain = explain(
        &db,
        "audit chain batch",
        VERIFY_BATCH,
        args(|a| {
            a.add(0_i64).unwrap();
            a.add(BATCH).unwrap();
        }),
    )
    .await;
    checked.push(("audit chain batch".into(), chain));
    let overdue = explain(
        &db,
        "overdue users",
        profiles::OVERDUE,
        args(|a| a.add(30.0 * DAY).unwrap()),
    )
    .await;
    checked.push(("overdue users".into(), overdue));
    // Not the audit's, but read at the same scale: the cleanup's batch.
    let take = explain(
        &db,
        "cleanup batch",
        profiles::EXPIRED_BATCH,
        args(|a| {
            a.add(30.0 * DAY).unwrap();
            a.add(Vec::<Uuid>::new()).unwrap();
            a.add(BATCH).unwrap();
            a.add(profiles::known_user_types()).unwrap();
        }),
    )
    .await;
    checked.push(("cleanup batch".into(), take));
    // Run once a batch on one connection, so by the sixth batch sqlx's
    // prepared statement may keep its generic plan.
    let types: Vec<String> = profiles::known_user_types()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect();
    let take = generic_plan(
        &db,
        "cleanup batch",
        profiles::EXPIRED_BATCH,
        "float8, uuid[], bigint, text[]",
        &format!(
            "{}, '{{}}', {BATCH}, ARRAY[{}]",
            30.0 * DAY,
            types.join(", ")
        ),
    )
    .await;
    checked.push(("cleanup batch (generic plan)".into(), take));
    // The holds' statements: legal_holds is small by nature (it is read
    // whole by held_but_purged), profiles must still be reached by index.
    let held = explain(
        &db,
        "held past grace",
        legal_holds::HELD_PAST_GRACE,
        args(|a| a.add(30.0 * DAY).unwrap()),
    )
    .await;
    checked.push(("held past grace".into(), held));
    let purged = explain(
        &db,
        "held but purged",
        legal_holds::HELD_BUT_PURGED,
        args(|_| {}),
    )
    .await;
    checked.push(("held but purged".into(), purged));

    // A table of a few pages the planner may read whole by choice: cheaper
    // than its index, and no cost at scale. Anything bigger is a finding.
    let pages: Vec<(String, i32)> =
        sqlx::query_as("SELECT relname::text, relpages FROM pg_class WHERE relkind = 'r'")
            .fetch_all(&db)
            .await
            .unwrap();
    let small = |table: &str| {
        pages
            .iter()
            .any(|(t, p)| t == table && *p < SMALL_TABLE_PAGES)
    };
    let mut offenders = Vec::new();
    for (name, plan) in &checked {
        for table in seq_scans(plan) {
            if small(&table) {
                println!("({name}: {table} is under {SMALL_TABLE_PAGES} pages, read whole)");
            } else {
                offenders.push((name.clone(), table));
            }
        }
    }
    assert!(offenders.is_empty(), "whole-table reads: {offenders:?}");

    // The exceptions: a duplicate live email or an unknown type can exist
    // only if the unique index or the CHECK constraint was dropped, so no
    // index can find them; these two read profiles whole, once a run.
    let emails = explain(
        &db,
        "duplicate live emails",
        profiles::DUPLICATE_LIVE_EMAILS,
        PgArguments::default(),
    )
    .await;
    assert_eq!(seq_scans(&emails), ["profiles"]);
    let types = explain(
        &db,
        "unknown user types",
        profiles::UNKNOWN_USER_TYPES,
        args(|a| a.add(profiles::known_user_types()).unwrap()),
    )
    .await;
    assert_eq!(seq_scans(&types), ["profiles"]);
}

/// The plan a prepared statement settles on after its fifth run (the
/// generic one, for any parameters), on a connection taken out of the pool
/// and closed after, so that neither the statement's name nor the forced
/// plan mode meets a later query.
async fn generic_plan(db: &PgPool, name: &str, sql: &str, types: &str, values: &str) -> Value {
    let mut conn = db.acquire().await.unwrap().detach();
    let statements = format!(
        "SET plan_cache_mode = force_generic_plan;
         PREPARE probe ({types}) AS {sql};
         EXPLAIN (FORMAT JSON) EXECUTE probe ({values})"
    );
    let mut plan = None;
    let mut stream = sqlx::raw_sql(&statements).fetch_many(&mut conn);
    while let Some(item) = futures_util::TryStreamExt::try_next(&mut stream)
        .await
        .unwrap()
    {
        if let sqlx::Either::Right(row) = item {
            plan = Some(row.get::<Value, _>(0));
        }
    }
    let plan = plan.expect("EXPLAIN returns the plan");
    println!("-- {name} (generic plan)\n{plan:#}\n");
    plan[0]["Plan"].clone()
}

/// The indexes a plan reads through.
fn indexes(plan: &Value, out: &mut BTreeSet<String>) {
    if let Some(index) = plan["Index Name"].as_str() {
        out.insert(index.to_owned());
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        indexes(child, out);
    }
}

/// EventBridge down for a day leaves a backlog in the outbox: the relay's
/// lease and a request's lease of its own event must reach their rows by
/// index, as the plan each prepared statement keeps will.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_relays_leases_reach_a_backlog_by_index(db: PgPool) {
    sqlx::query(
        "INSERT INTO erasure_outbox (event_id, detail_type, audit_seq, detail, created_at, next_attempt_at)
         SELECT gen_random_uuid(), 'User Purged', n, '{}'::jsonb,
                now() - n * interval '1 second', now() - n * interval '1 second'
           FROM generate_series(1, 20000) AS n",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("ANALYZE erasure_outbox")
        .execute(&db)
        .await
        .unwrap();
    let newest: Uuid =
        sqlx::query_scalar("SELECT event_id FROM erasure_outbox ORDER BY created_at DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    let any = generic_plan(
        &db,
        "take due",
        outbox::TAKE_DUE,
        "bigint, float8",
        "10, 60",
    )
    .await;
    let these = generic_plan(
        &db,
        "take these",
        outbox::TAKE_THESE,
        "bigint, float8, uuid[]",
        &format!("10, 60, ARRAY['{newest}'::uuid]"),
    )
    .await;
    for (plan, index) in [
        (&any, "erasure_outbox_due_idx"),
        (&these, "erasure_outbox_pkey"),
    ] {
        assert_eq!(seq_scans(plan), Vec::<String>::new());
        let mut used = BTreeSet::new();
        indexes(plan, &mut used);
        assert!(used.contains(index), "{index} not in {used:?}");
    }
}
