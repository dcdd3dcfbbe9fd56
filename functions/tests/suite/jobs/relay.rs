//! The erasure events, end to end on moto's EventBridge: a deletion through
//! the real handlers writes its event in its own transaction, the request
//! or the relay publishes it to a bus of the test's own, and an example rule
//! delivers it to an SQS queue, where it is read back and checked against
//! `events/published/schema.v1.json`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::common::{aws_down, event, http_app, moto, problem, send, send_event, unique};
use aws_config::SdkConfig;
use erasure::aws::event_bus::EventBus;
use erasure::http::app::App;
use erasure::jobs::relay;
use erasure::store::migrations::MIGRATOR;
use erasure::store::outbox;
use erasure_fixtures::cast::{self, *};
use erasure_fixtures::events::aimed_at;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// A bus of the test's own, with a rule sending every erasure event to a queue.
struct Listener {
    bus: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Listener {
    async fn new(sdk: &SdkConfig) -> Listener {
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let bus = unique("erasure-events");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let queue = sqs
            .create_queue()
            .queue_name(unique("erasure-consumer"))
            .send()
            .await
            .unwrap();
        let queue_url = queue.queue_url().unwrap().to_owned();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        events
            .put_rule()
            .name("every-erasure")
            .event_bus_name(&bus)
            .event_pattern(r#"{"source": ["erasure"]}"#)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("every-erasure")
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("consumer")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Listener {
            bus,
            sqs,
            queue_url,
        }
    }

    fn bus(&self, sdk: &SdkConfig) -> EventBus {
        EventBus::new(sdk, self.bus.clone())
    }

    /// Every event the queue holds, each checked against the schema.
    async fn received(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                break;
            }
            for message in out.messages() {
                let event: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                conforms(&event);
                all.push(event);
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        all
    }
}

/// `events/published/<name>`: the schema, and the samples beside it.
fn published(name: &str) -> PathBuf {
    erasure_fixtures::events::root()
        .join(erasure_fixtures::events::PUBLISHED)
        .join(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema, compiled once for every event the tests check.
static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&read_json(&published("schema.v1.json")))
        .expect("a valid schema")
});

fn conforms(event: &Value) {
    let errors: Vec<String> = SCHEMA
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?} in {event:#}");
}

/// An HTTP function whose events go to `bus`.
async fn app_publishing_to(db: &PgPool, bus: EventBus) -> Arc<App> {
    let mut app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    Arc::get_mut(&mut app).unwrap().container.events = Some(bus);
    app
}

async fn outbox_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM erasure_outbox")
        .fetch_one(db)
        .await
        .unwrap()
}

/// The audit row's seq and hex hash, where its user is `target` and it succeeded.
async fn audit_row_of(db: &PgPool, action: &str, target: Uuid) -> (i64, String) {
    sqlx::query_as(
        "SELECT seq, encode(row_hash, 'hex') FROM deletion_audit
          WHERE action = $1 AND target_id = $2 AND outcome = 'SUCCESS'",
    )
    .bind(action)
    .bind(target)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Alice soft-deleted by an admin (the event `admin-deletes-client`): 200.
async fn soft_delete_alice(app: &Arc<App>) {
    let answer = send_event(app, "soft_delete_user", "admin-deletes-client").await;
    problem(&answer, 200, "OK");
}

/// Alice restored by an admin: 200.
async fn restore_alice(app: &Arc<App>) {
    let restore = aimed_at(event("restore_user", "admin-restores-user"), ALICE);
    problem(&send(app, &restore).await, 200, "OK");
}

fn nothing_due() -> impl Fn() -> bool + Sync {
    || true
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_committed_deletion_is_announced_once_it_commits_with_its_audit_row(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let app = app_publishing_to(&db, listener.bus(&sdk)).await;

    let deleted = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    problem(&deleted, 200, "OK");
    // Published by the request itself, after its commit: nothing waits.
    assert_eq!(outbox_rows(&db).await, 0);
    let received = listener.received().await;
    assert_eq!(received.len(), 1, "{received:#?}");
    let published = &received[0];
    assert_eq!(published["detail-type"], "User Soft Deleted");
    assert_eq!(published["source"], "erasure");
    let detail = &published["detail"];
    assert_eq!(detail["user"]["id"], ALICE.to_string());
    assert_eq!(detail["user"]["type"], "CLIENT");
    assert_eq!(detail["actor"]["id"], ADMIN.to_string());
    assert_eq!(detail["reasonGiven"], true);
    assert_eq!(detail["rowsAffected"], deleted.body["rowsAffected"]);
    let (seq, hash) = audit_row_of(&db, "SOFT_DELETE", ALICE).await;
    assert_eq!(detail["audit"]["seq"], seq);
    assert_eq!(detail["audit"]["rowHash"], hash);
    // Never the email, the name or the reason's text.
    let text = published.to_string();
    assert!(!text.contains(deleted.body["user"]["email"].as_str().unwrap()));
    assert!(!text.contains("requested by the user"));

    // Restored, then purged: one event each, in order.
    restore_alice(&app).await;
    let purge = aimed_at(event("purge_user", "admin-purges-user"), ALICE);
    let purged = send(&app, &purge).await;
    problem(&purged, 200, "OK");
    let types: Vec<Value> = listener
        .received()
        .await
        .iter()
        .map(|e| e["detail-type"].clone())
        .collect();
    assert_eq!(types, ["User Restored", "User Purged"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_purge_names_the_file_uploads_it_kept_unattributed(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let app = app_publishing_to(&db, listener.bus(&sdk)).await;
    let files: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO file_uploads (user_id, file_name, file_url, file_type, file_size)
         SELECT $1, 'menu-' || n || '.pdf', 'https://f/' || n, 'application/pdf', 10
           FROM generate_series(1, 3) n RETURNING id",
    )
    .bind(ALICE)
    .fetch_all(&db)
    .await
    .unwrap();
    let purge = aimed_at(event("purge_user", "admin-purges-user"), ALICE);
    problem(&send(&app, &purge).await, 200, "OK");

    let received = listener.received().await;
    let detail = &received[0]["detail"];
    let mut named: Vec<Uuid> =
        serde_json::from_value(detail["unattributed"]["file_uploads"].clone()).unwrap();
    let mut files = files;
    named.sort();
    files.sort();
    assert_eq!(named, files);
    assert_eq!(detail["rowsAffected"]["file_uploads.nullified"], 3);
    assert_eq!(detail["rowsAffected"]["profiles.deleted"], 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refusal_and_a_rolled_back_deletion_announce_nothing(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let app = app_publishing_to(&db, listener.bus(&sdk)).await;

    problem(
        &send_event(&app, "soft_delete_user", "helpdesk-denied").await,
        403,
        "FORBIDDEN",
    );
    // A deletion whose last statement fails after its outbox row was
    // written (as a constraint or a dropped connection would fail it) rolls
    // back whole: the user, the audit row and the event.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$;
         CREATE TRIGGER refuse AFTER INSERT ON erasure_outbox FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&db)
    .await
    .unwrap();
    let failed = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    assert_eq!(failed.status, 500, "{:?}", failed.body);
    assert!(!crate::common::is_deleted(&db, ALICE).await);

    let report = relay::drain(&db, &listener.bus(&sdk), &nothing_due())
        .await
        .unwrap();
    assert_eq!((report.published, report.backlog.depth), (0, 0));
    assert_eq!(listener.received().await, Vec::<Value>::new());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_event_waits_while_eventbridge_is_down_and_the_relay_publishes_it_later(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let down = EventBus::new(&aws_down(), listener.bus.clone());
    let app = app_publishing_to(&db, down.clone()).await;

    // The deletion commits and answers; its event could not be published.
    soft_delete_alice(&app).await;
    let (attempts, error, backed_off): (i32, Option<String>, bool) = sqlx::query_as(
        "SELECT attempts, last_error, next_attempt_at > created_at FROM erasure_outbox",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((attempts, backed_off), (1, true));
    assert!(error.is_some());

    // Still down when it is due again: the attempt counts, the row stays.
    sqlx::query("UPDATE erasure_outbox SET next_attempt_at = now()")
        .execute(&db)
        .await
        .unwrap();
    let still_down = relay::drain(&db, &down, &nothing_due()).await.unwrap();
    assert_eq!((still_down.failed, still_down.backlog.depth), (1, 1));
    assert!(still_down.stopped_early);
    let backoff: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM erasure_outbox",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        (1.0..=4.0).contains(&backoff),
        "2^2 s less up to half: {backoff}"
    );

    // EventBridge is back and the backoff has passed: published, once.
    sqlx::query("UPDATE erasure_outbox SET next_attempt_at = now()")
        .execute(&db)
        .await
        .unwrap();
    let later = relay::drain(&db, &listener.bus(&sdk), &nothing_due())
        .await
        .unwrap();
    assert_eq!((later.published, later.backlog.depth), (1, 0));
    let received = listener.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail"]["user"]["id"], ALICE.to_string());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_event_published_again_after_a_relay_died_carries_the_same_id(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let bus = listener.bus(&sdk);
    // No bus for the request: the event waits for the relay.
    let app = http_app(db.clone(), &[]).await;
    soft_delete_alice(&app).await;

    // A relay takes the row and puts it, then dies before deleting it.
    let due = outbox::take_due(&db, 10, Duration::ZERO, None)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let put = bus.put(&due).await;
    assert_eq!(put.down, None);
    assert!(put.results.iter().all(Result::is_ok));
    // Its lease over, the next run publishes it again.
    let report = relay::drain(&db, &bus, &nothing_due()).await.unwrap();
    assert_eq!((report.published, report.backlog.depth), (1, 0));

    let received = listener.received().await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[0]["detail"], received[1]["detail"]);
    assert_eq!(
        received[0]["detail"]["eventId"],
        due[0].event_id.to_string()
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_leased_row_is_not_taken_by_a_second_relay(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    soft_delete_alice(&app).await;
    let first = outbox::take_due(&db, 10, relay::LEASE, None).await.unwrap();
    let second = outbox::take_due(&db, 10, relay::LEASE, None).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 0));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_relay_publishes_a_backlog_ten_at_a_time_oldest_first(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    // 24 events: soft deletes and restores of one user, in turn.
    for _ in 0..12 {
        soft_delete_alice(&app).await;
        restore_alice(&app).await;
    }
    let report = relay::drain(&db, &listener.bus(&sdk), &nothing_due())
        .await
        .unwrap();
    assert_eq!((report.published, report.backlog.depth), (24, 0));
    let seqs: Vec<i64> = listener
        .received()
        .await
        .iter()
        .map(|e| e["detail"]["audit"]["seq"].as_i64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted);
    assert_eq!(seqs.len(), 24);
}

/// An event over PutEvents' 256 KB, the oldest in the outbox, so that it is
/// taken in the same call's worth as the events beside it.
async fn insert_too_large(db: &PgPool) -> Uuid {
    let too_large = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO erasure_outbox (event_id, detail_type, audit_seq, detail, created_at, next_attempt_at)
         VALUES ($1, 'User Purged', -1, jsonb_build_object('padding', repeat('x', 300000)),
                 now() - interval '1 hour', now() - interval '1 hour')",
    )
    .bind(too_large)
    .execute(db)
    .await
    .unwrap();
    too_large
}

/// An event over PutEvents' 256 KB (a purge keeping thousands of rows
/// unattributed) can never be published: it is refused unsent, with why,
/// and the events beside it are published; it does not stop the run.
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_event_too_large_to_publish_waits_alone_and_says_why(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let app = http_app(db.clone(), &[]).await;
    soft_delete_alice(&app).await;
    restore_alice(&app).await;
    let too_large = insert_too_large(&db).await;

    let report = relay::drain(&db, &listener.bus(&sdk), &nothing_due())
        .await
        .unwrap();
    assert_eq!((report.published, report.failed), (2, 1));
    assert!(!report.stopped_early);
    assert_eq!(listener.received().await.len(), 2);
    let (left, error): (Uuid, String) =
        sqlx::query_as("SELECT event_id, last_error FROM erasure_outbox")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(left, too_large);
    assert!(error.starts_with("TooLarge: the event is 300"), "{error}");
    assert!(error.contains("262144"), "{error}");
}

/// With the bus down, an event too large to publish still says why it can
/// never be sent, and the events beside it carry the bus's error: the run
/// stops, nothing is published, every row waits.
#[sqlx::test(migrator = "MIGRATOR")]
async fn with_the_bus_down_a_too_large_event_still_says_why(db: PgPool) {
    cast::load(&db).await.unwrap();
    let down = EventBus::new(&aws_down(), unique("erasure-events"));
    let app = http_app(db.clone(), &[]).await;
    soft_delete_alice(&app).await;
    let too_large = insert_too_large(&db).await;

    let report = relay::drain(&db, &down, &nothing_due()).await.unwrap();
    assert_eq!((report.published, report.failed), (0, 2));
    assert!(report.stopped_early);
    let errors: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT event_id, last_error FROM erasure_outbox ORDER BY created_at")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].0, too_large);
    assert!(errors[0].1.starts_with("TooLarge: "), "{}", errors[0].1);
    assert!(!errors[1].1.starts_with("TooLarge"), "{}", errors[1].1);
    assert!(!errors[1].1.is_empty());
}

/// The scheduled event runs the relay and publishes its figures, the
/// backlog's among them (the delayed-events alarm reads its age).
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_scheduled_event_drains_the_outbox_and_publishes_the_backlog(db: PgPool) {
    cast::load(&db).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let app = http_app(db.clone(), &[]).await;
    soft_delete_alice(&app).await;

    let scheduled: relay::RelayEvent =
        serde_json::from_value(event("event_relay", "scheduled")).unwrap();
    assert_eq!(scheduled.options, relay::RelayOptions::default());
    let metrics = erasure::aws::metrics::Metrics::new(&sdk);
    let report = relay::handle(&db, &listener.bus(&sdk), &metrics, &nothing_due())
        .await
        .unwrap();
    assert_eq!((report.published, report.backlog.depth), (1, 0));
    assert_eq!(listener.received().await.len(), 1);
    let names = crate::common::metric_names(&sdk, relay::FUNCTION).await;
    for name in [
        "EventsPublished",
        "EventsFailed",
        "OutboxDepth",
        "OutboxOldestAge",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
}

/// The cleanup publishes its purged users' events at the end of its run,
/// each the schedule's, with the user's own rows.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_cleanup_announces_each_user_it_purged(db: PgPool) {
    let spec = erasure_fixtures::seed::SeedSpec {
        users: 10,
        expired: 4,
        soft_deleted: 1,
        heavy_users: 0,
        very_heavy_users: 0,
        ..Default::default()
    };
    let seeded = erasure_fixtures::seed::seed(&db, &spec).await.unwrap();
    let sdk = moto().await;
    let listener = Listener::new(&sdk).await;
    let mut container = crate::common::container(db.clone()).await;
    container.events = Some(listener.bus(&sdk));
    let metrics = erasure::aws::metrics::Metrics::new(&sdk);
    let event = serde_json::from_value(event("cleanup", "scheduled")).unwrap();
    let report = erasure::jobs::cleanup::handle(&container, &metrics, &event, &|| true)
        .await
        .unwrap();
    assert_eq!(report.purged, 4);
    assert_eq!(outbox_rows(&db).await, 0);

    let received = listener.received().await;
    let mut users: Vec<Uuid> = received
        .iter()
        .map(|e| e["detail"]["user"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    users.sort();
    let mut expired = seeded.expired.clone();
    expired.sort();
    assert_eq!(users, expired);
    for published in &received {
        assert_eq!(published["detail-type"], "User Purged");
        assert_eq!(published["detail"]["actor"]["kind"], "schedule");
        assert_eq!(published["detail"]["rowsAffected"]["profiles.deleted"], 1);
    }
}

#[test]
fn every_published_sample_conforms_to_the_schema() {
    let mut samples = 0;
    for file in std::fs::read_dir(published("")).unwrap() {
        let path = file.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("schema.")
        {
            continue;
        }
        conforms(&read_json(&path));
        samples += 1;
    }
    assert!(
        samples >= 4,
        "a sample per detail-type and one scheduled purge"
    );
}

#[test]
fn the_schema_refuses_personal_data_and_an_unknown_detail_type() {
    let sample = read_json(&published("user-purged.json"));
    let validator = &*SCHEMA;
    let mut with_email = sample.clone();
    with_email["detail"]["user"]["email"] = "alice@example.com".into();
    assert!(!validator.is_valid(&with_email));
    let mut with_reason = sample.clone();
    with_reason["detail"]["reason"] = "asked by phone".into();
    assert!(!validator.is_valid(&with_reason));
    let mut renamed = sample;
    renamed["detail-type"] = "User Deleted".into();
    assert!(!validator.is_valid(&renamed));
}
