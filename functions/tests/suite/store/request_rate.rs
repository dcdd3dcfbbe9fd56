//! The rate limit's sliding window, on a clock the test sets: at most N
//! requests in any 60 seconds, per actor and bucket, whatever the pattern.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use erasure::store::migrations::MIGRATOR;
use erasure::store::request_rate::{Bucket, Verdict, check};
use sqlx::PgPool;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    "2026-12-02T10:00:00Z".parse().unwrap()
}

fn at(secs: f64) -> DateTime<Utc> {
    t0() + TimeDelta::microseconds((secs * 1e6).round() as i64)
}

async fn ask(db: &PgPool, actor: Uuid, bucket: Bucket, secs: f64) -> Verdict {
    check(db, actor, bucket, 10, at(secs)).await.unwrap()
}

fn limited_for(secs: f64) -> Verdict {
    Verdict::Limited {
        retry_after: Duration::from_secs_f64(secs),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_tenth_is_admitted_the_eleventh_waits_for_the_first_to_leave_the_window(db: PgPool) {
    let actor = Uuid::new_v4();
    for i in 0..10 {
        let verdict = ask(&db, actor, Bucket::Mutations, f64::from(i)).await;
        assert_eq!(verdict, Verdict::Allowed, "request {} at {i} s", i + 1);
    }
    // The 11th, at 10 s: the first (at 0 s) leaves the window at 60 s.
    assert_eq!(
        ask(&db, actor, Bucket::Mutations, 10.0).await,
        limited_for(50.0)
    );
    assert_eq!(
        ask(&db, actor, Bucket::Mutations, 59.999).await,
        limited_for(0.001),
        "a refusal does not count, and the wait only shrinks"
    );
    // At 60 s the request of 0 s is outside (now - 60 s, now]: one place.
    assert_eq!(
        ask(&db, actor, Bucket::Mutations, 60.0).await,
        Verdict::Allowed
    );
    assert_eq!(
        ask(&db, actor, Bucket::Mutations, 60.5).await,
        limited_for(0.5),
        "the next place opens when the request of 1 s is 60 s old"
    );
    assert_eq!(
        ask(&db, actor, Bucket::Mutations, 61.0).await,
        Verdict::Allowed
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_burst_then_a_steady_trickle_never_exceeds_ten_in_any_minute(db: PgPool) {
    let actor = Uuid::new_v4();
    // Someone retrying every 0.5 s for three minutes.
    let mut admitted = Vec::new();
    for step in 0..360 {
        let secs = f64::from(step) * 0.5;
        if ask(&db, actor, Bucket::Mutations, secs).await == Verdict::Allowed {
            admitted.push(secs);
        }
    }
    for (i, &start) in admitted.iter().enumerate() {
        let in_window = admitted[i..]
            .iter()
            .take_while(|&&t| t < start + 60.0)
            .count();
        assert!(
            in_window <= 10,
            "{in_window} admitted in the minute from {start} s"
        );
    }
    assert_eq!(
        admitted.len(),
        30,
        "ten in each of the three minutes: {admitted:?}"
    );
    assert_eq!(
        &admitted[..11],
        &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 60.0]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn actors_and_buckets_are_counted_apart(db: PgPool) {
    let (admin, other) = (Uuid::new_v4(), Uuid::new_v4());
    for i in 0..10 {
        assert_eq!(
            ask(&db, admin, Bucket::Mutations, f64::from(i)).await,
            Verdict::Allowed
        );
    }
    assert!(matches!(
        ask(&db, admin, Bucket::Mutations, 11.0).await,
        Verdict::Limited { .. }
    ));
    assert_eq!(
        ask(&db, admin, Bucket::Listings, 11.0).await,
        Verdict::Allowed
    );
    assert_eq!(
        ask(&db, other, Bucket::Mutations, 11.0).await,
        Verdict::Allowed
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_requests_from_many_containers_admit_exactly_the_limit(db: PgPool) {
    let actor = Uuid::new_v4();
    let now = t0();
    let mut containers = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let db = db.clone();
        containers.spawn(async move { check(&db, actor, Bucket::Mutations, 10, now).await });
    }
    let mut allowed = 0;
    while let Some(verdict) = containers.join_next().await {
        allowed += usize::from(verdict.unwrap().unwrap() == Verdict::Allowed);
    }
    assert_eq!(allowed, 10);
    let kept: i32 =
        sqlx::query_scalar("SELECT cardinality(admitted) FROM request_rate WHERE actor_id = $1")
            .bind(actor)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(kept, 10, "the row holds the window, no more");
}
