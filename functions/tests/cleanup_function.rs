//! The cleanup function's handler, driven by the EventBridge events in
//! `events/cleanup/`, with its metrics read back from moto's CloudWatch.

mod common;

use erasure::aws::metrics::Metrics;
use erasure::jobs::cleanup::{self, CleanupEvent};
use erasure::store::migrations::MIGRATOR;
use erasure::store::seed::{SeedSpec, seed};
use sqlx::PgPool;

const SCHEDULED: &str = include_str!("../../events/cleanup/scheduled.json");
const DRY_RUN: &str = include_str!("../../events/cleanup/dry-run.json");

async fn expired_count(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM profiles WHERE deleted_at < now() - interval '30 days'",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

#[test]
fn the_events_parse_and_say_whether_to_dry_run() {
    let scheduled: CleanupEvent = serde_json::from_str(SCHEDULED).unwrap();
    let dry: CleanupEvent = serde_json::from_str(DRY_RUN).unwrap();
    assert!(!scheduled.options.dry_run);
    assert!(dry.options.dry_run);
    let direct: CleanupEvent = serde_json::from_str(r#"{"dryRun": true}"#).unwrap();
    assert!(direct.options.dry_run);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_scheduled_event_purges_and_publishes_its_metrics(db: PgPool) {
    seed(
        &db,
        &SeedSpec {
            users: 20,
            expired: 6,
            soft_deleted: 2,
            heavy_users: 0,
            very_heavy_users: 0,
            ..SeedSpec::default()
        },
    )
    .await
    .unwrap();
    let c = common::container(db.clone()).await;
    let metrics = Metrics::new(&c.sdk);
    let event: CleanupEvent = serde_json::from_str(SCHEDULED).unwrap();
    let report = cleanup::handle(&c, &metrics, &event, &|| true)
        .await
        .unwrap();
    assert_eq!(report.purged, 6);
    assert_eq!(report.overdue_remaining, 0);
    assert_eq!(expired_count(&db).await, 0);

    let names = common::metric_names(&c.sdk, "cleanup").await;
    for expected in [
        "CleanupDuration",
        "CleanupStoppedEarly",
        "OverdueUsers",
        "PurgedUsers",
        "SkippedUsers",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let purged = common::metric_max(&c.sdk, "cleanup", "PurgedUsers").await;
    assert!(purged >= 6.0, "PurgedUsers in CloudWatch: {purged}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_dry_run_event_changes_nothing(db: PgPool) {
    seed(
        &db,
        &SeedSpec {
            users: 10,
            expired: 3,
            soft_deleted: 1,
            heavy_users: 0,
            very_heavy_users: 0,
            ..SeedSpec::default()
        },
    )
    .await
    .unwrap();
    let c = common::container(db.clone()).await;
    let event: CleanupEvent = serde_json::from_str(DRY_RUN).unwrap();
    let report = cleanup::handle(&c, &Metrics::new(&c.sdk), &event, &|| true)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.purged, 3);
    assert_eq!(expired_count(&db).await, 3);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cloudwatch_outage_does_not_undo_or_fail_the_purge(db: PgPool) {
    seed(
        &db,
        &SeedSpec {
            users: 10,
            expired: 2,
            soft_deleted: 1,
            heavy_users: 0,
            very_heavy_users: 0,
            ..SeedSpec::default()
        },
    )
    .await
    .unwrap();
    let c = common::container(db.clone()).await;
    let down = Metrics::new(&common::aws_down());
    assert!(
        down.publish(cleanup::FUNCTION, &cleanup::metrics(&Default::default()))
            .await
            .is_err(),
        "CloudWatch is really down"
    );
    let event: CleanupEvent = serde_json::from_str(SCHEDULED).unwrap();
    let report = cleanup::handle(&c, &down, &event, &|| true).await.unwrap();
    assert_eq!(report.purged, 2);
    assert_eq!(expired_count(&db).await, 0);
}
