//! The demo and test data generator writes what its spec asks for.

use erasure::domain::plan::{ACTIVE_ORDER_STATUSES, PLAN};
use erasure::store::migrations::MIGRATOR;
use erasure::store::seed::{SeedError, SeedSpec, seed};
use sqlx::PgPool;
use uuid::Uuid;

/// Rows that reference `user` through any column the deletion plan names.
async fn related_rows(db: &PgPool, user: Uuid) -> i64 {
    let mut total = 0;
    for entry in PLAN {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = $1",
            entry.reference.table, entry.reference.column
        );
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(user)
            .fetch_one(db)
            .await
            .unwrap();
        total += n;
    }
    total
}

fn small() -> SeedSpec {
    SeedSpec {
        users: 40,
        heavy_users: 2,
        very_heavy_users: 1,
        soft_deleted: 4,
        expired: 3,
        shared_addresses: 5,
        chunk_size: 7,
        ..SeedSpec::default()
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn it_writes_the_users_and_staff_the_spec_asks_for(db: PgPool) {
    let spec = small();
    let seeded = seed(&db, &spec).await.unwrap();
    let profiles: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(
        profiles as usize,
        4 + spec.users + spec.heavy_users + spec.very_heavy_users
    );
    assert_eq!(seeded.rows["profiles"], profiles as usize);
    assert_eq!(seeded.admins.len(), 2);
    assert_eq!(seeded.heavy_users.len(), 2);
    assert_eq!(seeded.very_heavy_users.len(), 1);
    assert_eq!(
        seeded.users.len(),
        spec.users - spec.soft_deleted - spec.expired
    );

    let staff: Vec<(String,)> =
        sqlx::query_as("SELECT type FROM profiles WHERE id = ANY($1) ORDER BY type")
            .bind(
                [
                    vec![seeded.super_admin, seeded.helpdesk],
                    seeded.admins.clone(),
                ]
                .concat(),
            )
            .fetch_all(&db)
            .await
            .unwrap();
    let staff: Vec<&str> = staff.iter().map(|(t,)| t.as_str()).collect();
    assert_eq!(staff, ["ADMIN", "ADMIN", "HELPDESK", "SUPER_ADMIN"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn heavy_users_have_hundreds_and_thousands_of_related_rows(db: PgPool) {
    let seeded = seed(&db, &small()).await.unwrap();
    for &user in &seeded.heavy_users {
        let n = related_rows(&db, user).await;
        assert!((100..1000).contains(&n), "heavy user has {n} related rows");
    }
    let n = related_rows(&db, seeded.very_heavy_users[0]).await;
    assert!(n >= 1000, "very heavy user has {n} related rows");
    for &user in &seeded.users {
        let n = related_rows(&db, user).await;
        assert!((3..100).contains(&n), "ordinary user has {n} related rows");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn addresses_are_shared_between_users_and_orders(db: PgPool) {
    seed(&db, &small()).await.unwrap();
    // An address someone created that another user keeps or orders from.
    let shared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM addresses a
          WHERE EXISTS (SELECT 1 FROM user_addresses ua
                         WHERE ua.address_id = a.id AND ua.user_id <> a.created_by)
             OR EXISTS (SELECT 1 FROM catering_requests o
                         WHERE o.pickup_address_id = a.id AND o.user_id <> a.created_by)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(shared >= 2, "{shared} shared addresses");
    let unshared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM addresses a
          WHERE NOT EXISTS (SELECT 1 FROM user_addresses ua
                             WHERE ua.address_id = a.id AND ua.user_id <> a.created_by)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(unshared > 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn orders_are_active_and_finished_and_the_trash_has_none_active(db: PgPool) {
    let seeded = seed(&db, &small()).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(ACTIVE_ORDER_STATUSES)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert!(count("SELECT count(*) FROM catering_requests WHERE status = ANY($1)").await > 0);
    assert!(count("SELECT count(*) FROM on_demand_orders WHERE status = ANY($1)").await > 0);
    assert!(count("SELECT count(*) FROM catering_requests WHERE NOT status = ANY($1)").await > 0);
    assert_eq!(
        count(
            "SELECT count(*) FROM profiles p JOIN catering_requests o ON o.user_id = p.id
              WHERE p.deleted_at IS NOT NULL AND o.status = ANY($1)"
        )
        .await,
        0
    );

    let dispatches: i64 = sqlx::query_scalar("SELECT count(*) FROM dispatches")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(dispatches > 0);

    let trash: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, deleted_at < now() - interval '30 days' FROM profiles
          WHERE deleted_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut expected: Vec<(Uuid, bool)> = seeded
        .soft_deleted
        .iter()
        .map(|&id| (id, false))
        .chain(seeded.expired.iter().map(|&id| (id, true)))
        .collect();
    expected.sort();
    assert_eq!(trash, expected);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn different_seeds_can_share_a_database(db: PgPool) {
    let first = seed(
        &db,
        &SeedSpec {
            rng_seed: 1,
            ..small()
        },
    )
    .await
    .unwrap();
    let second = seed(
        &db,
        &SeedSpec {
            rng_seed: 2,
            ..small()
        },
    )
    .await
    .unwrap();
    assert_ne!(first.super_admin, second.super_admin);
    // The same seed reproduces the same ids, so it cannot be written twice.
    let again = seed(
        &db,
        &SeedSpec {
            rng_seed: 1,
            ..small()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(again, SeedError::Database(_)), "{again}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_impossible_spec_is_refused_before_writing(db: PgPool) {
    let spec = SeedSpec {
        users: 2,
        soft_deleted: 2,
        expired: 1,
        ..SeedSpec::default()
    };
    assert!(matches!(seed(&db, &spec).await, Err(SeedError::Spec(_))));
    let spec = SeedSpec {
        active_order_share: 1.5,
        ..SeedSpec::default()
    };
    assert!(matches!(seed(&db, &spec).await, Err(SeedError::Spec(_))));
    let spec = SeedSpec {
        grace_period_days: 1,
        ..SeedSpec::default()
    };
    assert!(matches!(seed(&db, &spec).await, Err(SeedError::Spec(_))));
    let spec = SeedSpec {
        ordinary_orders: (5, 2),
        ..SeedSpec::default()
    };
    assert!(matches!(seed(&db, &spec).await, Err(SeedError::Spec(_))));
    let profiles: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(profiles, 0);
}
