//! The deletion plan executed on a real PostgreSQL: exact rows per table, the
//! addresses rule, blocking by active orders, and nothing left referencing a
//! purged user.

use std::collections::BTreeMap;

use crate::common::references;
use erasure::domain::plan::PLAN;
use erasure::store::migrations::MIGRATOR;
use erasure::store::purge::{self, PurgeError};
use erasure_fixtures::seed::{SeedSpec, seed};
use sqlx::PgPool;
use uuid::Uuid;

async fn exec(db: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(db).await.unwrap();
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

const A: &str = "'aaaaaaaa-0000-4000-8000-000000000001'";

/// User A (a client) and B; A created addresses X (only A uses it), Y (B keeps
/// it too) and Z (B orders from it); A has a finished order with a dispatch
/// driven by D, drives a dispatch for B, uploaded a file, applied for a job.
async fn source_app_scenario(db: &PgPool) {
    exec(db, &format!(
        "INSERT INTO profiles (id, email, type) VALUES
           ({A}, 'a@example.com', 'CLIENT'),
           ('bbbbbbbb-0000-4000-8000-000000000002', 'b@example.com', 'CLIENT'),
           ('dddddddd-0000-4000-8000-000000000004', 'd@example.com', 'DRIVER');
         INSERT INTO accounts (user_id, provider, provider_account_id) VALUES ({A}, 'google', 'g-1');
         INSERT INTO sessions (user_id, session_token, expires_at) VALUES
           ({A}, 't1', now() + interval '1 day'), ({A}, 't2', now() + interval '1 day');
         INSERT INTO addresses (id, street1, city, state, zip, created_by) VALUES
           ('00000000-0000-4000-8000-00000000000a', '1 X St', 'Austin', 'TX', '78701', {A}),
           ('00000000-0000-4000-8000-00000000000b', '2 Y St', 'Austin', 'TX', '78701', {A}),
           ('00000000-0000-4000-8000-00000000000c', '3 Z St', 'Austin', 'TX', '78701', {A});
         INSERT INTO user_addresses (user_id, address_id) VALUES
           ({A}, '00000000-0000-4000-8000-00000000000a'),
           ({A}, '00000000-0000-4000-8000-00000000000b'),
           ('bbbbbbbb-0000-4000-8000-000000000002', '00000000-0000-4000-8000-00000000000b');
         INSERT INTO catering_requests (id, order_number, user_id, status, pickup_address_id, delivery_address_id) VALUES
           ('cccccccc-0000-4000-8000-000000000001', 'CV-1', {A}, 'COMPLETED',
            '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a');
         INSERT INTO on_demand_orders (id, order_number, user_id, status, pickup_address_id, delivery_address_id) VALUES
           ('eeeeeeee-0000-4000-8000-000000000001', 'OD-1', 'bbbbbbbb-0000-4000-8000-000000000002', 'COMPLETED',
            '00000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-00000000000b');
         INSERT INTO dispatches (catering_request_id, driver_id, user_id) VALUES
           ('cccccccc-0000-4000-8000-000000000001', 'dddddddd-0000-4000-8000-000000000004', {A});
         INSERT INTO dispatches (on_demand_order_id, driver_id, user_id) VALUES
           ('eeeeeeee-0000-4000-8000-000000000001', {A}, 'bbbbbbbb-0000-4000-8000-000000000002');
         INSERT INTO file_uploads (user_id, catering_request_id, file_name, file_url, file_type, file_size) VALUES
           ({A}, 'cccccccc-0000-4000-8000-000000000001', 'menu.pdf', 'https://f/1', 'application/pdf', 10);
         INSERT INTO job_applications (profile_id, first_name, last_name, email, position) VALUES
           ({A}, 'Ana', 'Alvarez', 'a@example.com', 'Driver');"
    ))
    .await;
}

fn a() -> Uuid {
    Uuid::parse_str(A.trim_matches('\'')).unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_purge_handles_every_table_as_the_plan_says(db: PgPool) {
    source_app_scenario(&db).await;
    let mut tx = db.begin().await.unwrap();
    let purged = purge::execute(&mut tx, PLAN, &[a()]).await.unwrap();
    assert_eq!(references(&mut tx, &[a()]).await.values().sum::<i64>(), 0);
    tx.commit().await.unwrap();

    let expected: BTreeMap<String, u64> = [
        ("accounts.deleted", 1),
        ("sessions.deleted", 2),
        ("user_addresses.deleted", 2),
        ("catering_requests.deleted", 1),
        ("on_demand_orders.deleted", 0),
        ("dispatches.deleted", 2),
        ("file_uploads.nullified", 1),
        ("job_applications.nullified", 1),
        ("profiles.deleted", 1),
        ("addresses.deleted", 1),
        ("addresses.unlinked", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(purged.rows.0, expected);
    // One user: their own rows are the totals, and the rows kept
    // unattributed are named by id.
    let own = &purged.users[&a()];
    assert_eq!(own.rows, purged.rows);
    let ids = |sql: &str| {
        let db = db.clone();
        let sql = sql.to_owned();
        async move {
            sqlx::query_scalar::<_, Uuid>(&sql)
                .fetch_all(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        own.unattributed["file_uploads"],
        ids("SELECT id FROM file_uploads WHERE user_id IS NULL").await
    );
    assert_eq!(
        own.unattributed["job_applications"],
        ids("SELECT id FROM job_applications WHERE profile_id IS NULL").await
    );

    // X (only A's) is gone; Y (B keeps it) and Z (B's order) stay, unattributed.
    let kept: Vec<(String, Option<Uuid>)> =
        sqlx::query_as("SELECT street1, created_by FROM addresses ORDER BY street1")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(kept, vec![("2 Y St".into(), None), ("3 Z St".into(), None)]);
    // The file and the application are kept, unlinked; B's order survives.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM file_uploads WHERE user_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM job_applications WHERE profile_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM on_demand_orders").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM profiles").await, 2);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_purged_id_cannot_be_referenced_again(db: PgPool) {
    source_app_scenario(&db).await;
    let mut tx = db.begin().await.unwrap();
    purge::execute(&mut tx, PLAN, &[a()]).await.unwrap();
    tx.commit().await.unwrap();
    let err = sqlx::query(
        "INSERT INTO sessions (user_id, session_token, expires_at) VALUES ($1, 'x', now())",
    )
    .bind(a())
    .execute(&db)
    .await
    .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23503")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn active_orders_block_the_whole_set_and_change_nothing(db: PgPool) {
    source_app_scenario(&db).await;
    exec(&db, &format!(
        "INSERT INTO catering_requests (order_number, user_id, status, pickup_address_id, delivery_address_id)
         VALUES ('CV-2', {A}, 'IN_PROGRESS', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a'),
                ('CV-3', {A}, 'PENDING', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a');
         INSERT INTO on_demand_orders (order_number, user_id, status, pickup_address_id, delivery_address_id)
         VALUES ('OD-2', {A}, 'ASSIGNED', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a')"
    ))
    .await;
    let b = Uuid::parse_str("bbbbbbbb-0000-4000-8000-000000000002").unwrap();
    let mut tx = db.begin().await.unwrap();
    let before = references(&mut tx, &[a(), b]).await;
    let err = purge::execute(&mut tx, PLAN, &[a(), b]).await.unwrap_err();
    let PurgeError::Blocked(blocked) = err else {
        panic!("{err}")
    };
    let expected: BTreeMap<&str, i64> = [("catering_requests", 2), ("on_demand_orders", 1)].into();
    assert_eq!(blocked, BTreeMap::from([(a(), expected)]));
    assert_eq!(references(&mut tx, &[a(), b]).await, before);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_of_seeded_users_is_purged_completely(db: PgPool) {
    let spec = SeedSpec {
        users: 30,
        heavy_users: 1,
        very_heavy_users: 1,
        active_order_share: 0.0,
        ..SeedSpec::default()
    };
    let seeded = seed(&db, &spec).await.unwrap();
    let users: Vec<Uuid> = [
        seeded.users.clone(),
        seeded.heavy_users.clone(),
        seeded.very_heavy_users.clone(),
    ]
    .concat();
    let profiles_before = count(&db, "SELECT count(*) FROM profiles").await;

    let mut tx = db.begin().await.unwrap();
    let before = references(&mut tx, &users).await;
    let purged = purge::execute(&mut tx, PLAN, &users).await.unwrap();
    assert_eq!(references(&mut tx, &users).await.values().sum::<i64>(), 0);
    tx.commit().await.unwrap();

    let rows = &purged.rows;
    assert_eq!(rows.0["profiles.deleted"], users.len() as u64);
    // Each user's share, attributed: they add up to the totals, every user
    // has every key, and each user's files are theirs.
    assert_eq!(purged.users.len(), users.len());
    for (key, total) in &rows.0 {
        let shares: u64 = purged.users.values().map(|u| u.rows.0[key]).sum();
        assert_eq!(shares, *total, "{key}");
    }
    for (user, purge) in &purged.users {
        assert_eq!(purge.rows.0["profiles.deleted"], 1);
        let files = purge.unattributed.get("file_uploads").map_or(0, Vec::len);
        assert_eq!(
            files as u64, purge.rows.0["file_uploads.nullified"],
            "{user}"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM profiles").await,
        profiles_before - users.len() as i64
    );
    let orders = rows.0["catering_requests.deleted"] + rows.0["on_demand_orders.deleted"];
    assert!(
        orders >= 500,
        "the very heavy user alone has 500+ orders: {rows:?}"
    );
    assert_eq!(
        rows.0["catering_requests.deleted"] as i64,
        before["catering_requests.user_id"]
    );
    assert_eq!(
        rows.0["file_uploads.nullified"] as i64,
        before["file_uploads.user_id"]
    );
    // Every address the purged users created is either gone or unattributed.
    assert_eq!(
        rows.0["addresses.deleted"] + rows.0["addresses.unlinked"],
        before["addresses.created_by"] as u64
    );
    // No order is left pointing at a deleted address (the foreign keys hold).
    assert_eq!(
        count(&db, "SELECT count(*) FROM catering_requests o LEFT JOIN addresses a ON a.id = o.pickup_address_id WHERE a.id IS NULL").await,
        0
    );
}

/// The plan's dispatch steps (driver, customer) run as one statement: a
/// dispatch naming two purged users is deleted once, and counted once.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_dispatch_naming_two_purged_users_is_deleted_once(db: PgPool) {
    source_app_scenario(&db).await;
    let d = Uuid::parse_str("dddddddd-0000-4000-8000-000000000004").unwrap();
    let mut tx = db.begin().await.unwrap();
    let purged = purge::execute(&mut tx, PLAN, &[a(), d]).await.unwrap();
    assert_eq!(
        references(&mut tx, &[a(), d]).await.values().sum::<i64>(),
        0
    );
    tx.commit().await.unwrap();
    // A drove one dispatch (for B) and was the customer of the one D drove.
    assert_eq!(purged.rows.0["dispatches.deleted"], 2);
    assert_eq!(purged.rows.0["profiles.deleted"], 2);
    // Each is counted for its first purged column in the plan (the driver):
    // A drove one; D drove the other.
    let dispatches = |user: Uuid| purged.users[&user].rows.0["dispatches.deleted"];
    assert_eq!((dispatches(a()), dispatches(d)), (1, 1));
    assert_eq!(count(&db, "SELECT count(*) FROM dispatches").await, 0);
}
