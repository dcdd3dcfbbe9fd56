//! Listing the trash: who may, the filters, pagination and the days left.

use crate::common::deps;
use chrono::{DateTime, Utc};
use erasure::domain::ActorId;
use erasure::domain::UserType;
use erasure::store::audited::Origin;
use erasure::store::migrations::MIGRATOR;
use erasure::store::profiles::{DeletedFilter, Page};
use erasure::store::trash;
use sqlx::PgPool;
use uuid::Uuid;

async fn user(db: &PgPool, email: &str, name: &str, user_type: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO profiles (email, name, type) VALUES ($1, $2, $3) RETURNING id")
        .bind(email)
        .bind(name)
        .bind(user_type)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn trash(db: &PgPool, id: Uuid, by: Uuid, days_ago: i64) {
    sqlx::query(
        "UPDATE profiles SET deleted_at = now() - make_interval(days => $3::int) - interval '1 hour',
                            deleted_by = $2, deletion_reason = 'test'
          WHERE id = $1",
    )
    .bind(id)
    .bind(by)
    .bind(days_ago as i32)
    .execute(db)
    .await
    .unwrap();
}

struct World {
    admin: Uuid,
    other_admin: Uuid,
    helpdesk: Uuid,
    vendor: Uuid,
    /// Deleted users, newest first: (id, days ago).
    deleted: Vec<(Uuid, i64)>,
}

async fn world(db: &PgPool) -> World {
    let admin = user(db, "admin@example.com", "Ada Admin", "ADMIN").await;
    let other_admin = user(db, "other@example.com", "Otto Admin", "ADMIN").await;
    let helpdesk = user(db, "help@example.com", "Hal Desk", "HELPDESK").await;
    let vendor = user(db, "vendor@example.com", "Vera Vendor", "VENDOR").await;
    let mut deleted = Vec::new();
    for (i, (name, user_type)) in [
        ("Maya Nguyen", "CLIENT"),
        ("Liam 100% Murphy", "CLIENT"),
        ("Noah Chen", "DRIVER"),
        ("Grace Ito", "VENDOR"),
        ("Sam Patel", "CLIENT"),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!(
            "{}@example.com",
            name.split(' ').next().unwrap().to_lowercase()
        );
        let id = user(db, &email, name, user_type).await;
        let days_ago = (i as i64) * 10;
        trash(
            db,
            id,
            if i % 2 == 0 { admin } else { other_admin },
            days_ago,
        )
        .await;
        deleted.push((id, days_ago));
    }
    // A live user never shows.
    user(db, "live@example.com", "Maya Live", "CLIENT").await;
    World {
        admin,
        other_admin,
        helpdesk,
        vendor,
        deleted,
    }
}

async fn ids(db: &PgPool, actor: Uuid, filter: DeletedFilter) -> Vec<Uuid> {
    let page = Page::new(1, 100).unwrap();
    let listing = trash::list(&deps(db), ActorId(actor), &filter, page, &Origin::default())
        .await
        .unwrap();
    listing.users.into_iter().map(|u| u.id).collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn staff_and_helpdesk_list_newest_first_with_days_left(db: PgPool) {
    let w = world(&db).await;
    let expected: Vec<Uuid> = w.deleted.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids(&db, w.admin, DeletedFilter::default()).await, expected);
    assert_eq!(
        ids(&db, w.helpdesk, DeletedFilter::default()).await,
        expected
    );

    let page = Page::new(1, 100).unwrap();
    let listing = trash::list(
        &deps(&db),
        ActorId(w.admin),
        &DeletedFilter::default(),
        page,
        &Origin::default(),
    )
    .await
    .unwrap();
    let days: Vec<i64> = listing.users.iter().map(|u| u.days_until_purge).collect();
    // Deleted 0, 10, 20, 30 and 40 days (and an hour) ago, with 30 days of grace.
    assert_eq!(days, [30, 20, 10, 0, 0]);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM deletion_audit WHERE action = 'LIST_DELETED'")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(actions.len(), 3);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn others_are_refused_and_audited(db: PgPool) {
    let w = world(&db).await;
    let page = Page::new(1, 10).unwrap();
    let err = trash::list(
        &deps(&db),
        ActorId(w.vendor),
        &DeletedFilter::default(),
        page,
        &Origin::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "FORBIDDEN");
    // A deleted helpdesk user may not list either.
    trash(&db, w.helpdesk, w.admin, 1).await;
    let err = trash::list(
        &deps(&db),
        ActorId(w.helpdesk),
        &DeletedFilter::default(),
        page,
        &Origin::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "FORBIDDEN");
    let denied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deletion_audit WHERE outcome = 'DENIED'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(denied, 2);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn filters_narrow_the_list(db: PgPool) {
    let w = world(&db).await;
    let d = |i: usize| w.deleted[i].0;
    let by_type = DeletedFilter {
        user_type: Some(UserType::Client),
        ..DeletedFilter::default()
    };
    assert_eq!(ids(&db, w.admin, by_type).await, [d(0), d(1), d(4)]);
    let by_deleter = DeletedFilter {
        deleted_by: Some(w.other_admin),
        ..DeletedFilter::default()
    };
    assert_eq!(ids(&db, w.admin, by_deleter).await, [d(1), d(3)]);
    let now = Utc::now();
    let window = DeletedFilter {
        deleted_after: Some(now - chrono::Duration::days(25)),
        deleted_before: Some(now - chrono::Duration::days(5)),
        ..DeletedFilter::default()
    };
    assert_eq!(ids(&db, w.admin, window).await, [d(1), d(2)]);
    let text = |s: &str| DeletedFilter {
        search: Some(s.into()),
        ..DeletedFilter::default()
    };
    assert_eq!(
        ids(&db, w.admin, text("MAYA")).await,
        [d(0)],
        "the live Maya is not in the trash"
    );
    assert_eq!(ids(&db, w.admin, text("noah@")).await, [d(2)]);
    assert_eq!(ids(&db, w.admin, text("100%")).await, [d(1)]);
    assert_eq!(
        ids(&db, w.admin, text("%")).await,
        [d(1)],
        "% is matched literally"
    );
    assert_eq!(
        ids(&db, w.admin, text("_")).await,
        Vec::<Uuid>::new(),
        "_ is matched literally"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn pages_split_the_list(db: PgPool) {
    let w = world(&db).await;
    let listing = |page| {
        let db = db.clone();
        async move {
            trash::list(
                &deps(&db),
                ActorId(w.admin),
                &DeletedFilter::default(),
                Page::new(page, 2).unwrap(),
                &Origin::default(),
            )
            .await
            .unwrap()
        }
    };
    let (p1, p3, p4) = (listing(1).await, listing(3).await, listing(4).await);
    assert_eq!((p1.total, p1.total_pages, p1.users.len()), (5, 3, 2));
    assert_eq!(p1.users[0].id, w.deleted[0].0);
    assert_eq!(
        p3.users.iter().map(|u| u.id).collect::<Vec<_>>(),
        [w.deleted[4].0]
    );
    assert!(p4.users.is_empty());
    assert_eq!(p4.total, 5);
    let deleted_at: Vec<DateTime<Utc>> = p1.users.iter().map(|u| u.deleted_at).collect();
    assert!(deleted_at[0] > deleted_at[1]);
}
