//! The legal hold through the real handlers: placing and lifting it, what it
//! stops (any purge) and what it does not (soft delete, restore), its
//! refusals, its expiry, and a hold placed while a purge waits for the
//! user's lock.

use std::time::Duration;

use crate::common::{
    event, http_app, is_deleted, last_audit, problem, profile_exists, send, send_event, with_body,
};
use erasure::store::legal_holds::{self, LegalHold};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, *};
use erasure_fixtures::events::aimed_at;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn hold_in_force(db: &PgPool, user: Uuid) -> bool {
    sqlx::query_scalar(&legal_holds::in_force_inline(user))
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_hold_stops_the_purge_until_it_is_lifted_and_each_step_is_audited(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;

    let placed = send_event(&app, "legal_hold", "admin-places-hold").await;
    problem(&placed, 200, "OK");
    assert_eq!(placed.body["action"], "PLACE_LEGAL_HOLD");
    assert_eq!(placed.body["rowsAffected"]["legal_holds.placed"], 1);
    let hold = &placed.body["legalHold"];
    assert_eq!(hold["reason"], "preservation order, case 24-cv-1187");
    assert_eq!(hold["placedBy"], ADMIN.to_string());
    assert_eq!(hold["expiresAt"], serde_json::Value::Null);
    assert_eq!(
        last_audit(&db).await,
        (
            "PLACE_LEGAL_HOLD".into(),
            "SUCCESS".into(),
            None,
            Some(ADMIN),
            Some(ERIN)
        )
    );
    assert!(hold_in_force(&db, ERIN).await);

    // Held: a soft delete and a restore go on; a purge is refused and audited.
    let soft = aimed_at(event("soft_delete_user", "admin-deletes-client"), ERIN);
    problem(&send(&app, &soft).await, 200, "OK");
    let purge = aimed_at(event("purge_user", "admin-purges-user"), ERIN);
    let refused = send(&app, &purge).await;
    problem(&refused, 409, "LEGAL_HOLD");
    assert_eq!(refused.body["rule"], "legal-hold-blocks-purge");
    let (action, outcome, code, _, target) = last_audit(&db).await;
    assert_eq!(
        (action.as_str(), outcome.as_str(), code.as_deref(), target),
        ("PURGE", "DENIED", Some("LEGAL_HOLD"), Some(ERIN))
    );
    assert!(profile_exists(&db, ERIN).await);
    let restore = aimed_at(event("restore_user", "admin-restores-user"), ERIN);
    problem(&send(&app, &restore).await, 200, "OK");
    assert!(!is_deleted(&db, ERIN).await);

    // Lifted (the event lifts Judy's hold; Erin's is lifted the same way).
    let lift = aimed_at(event("legal_hold", "admin-lifts-hold"), ERIN);
    let lifted = send(&app, &lift).await;
    problem(&lifted, 200, "OK");
    assert_eq!(lifted.body["action"], "LIFT_LEGAL_HOLD");
    assert_eq!(lifted.body["rowsAffected"]["legal_holds.lifted"], 1);
    assert_eq!(lifted.body["reason"], "case 24-cv-1187 settled");
    assert_eq!(last_audit(&db).await.0, "LIFT_LEGAL_HOLD");
    assert!(!hold_in_force(&db, ERIN).await);
    problem(&send(&app, &purge).await, 200, "OK");
    assert!(!profile_exists(&db, ERIN).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_cast_held_user_cannot_be_purged_and_her_hold_is_lifted(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    problem(
        &send_event(&app, "purge_user", "legal-hold").await,
        409,
        "LEGAL_HOLD",
    );
    // The held user may not lift her own hold (were she staff), nor may a
    // client, nor may the admin lift a hold that is not there.
    problem(
        &send_event(&app, "legal_hold", "self-lift").await,
        403,
        "SELF_HOLD_LIFT",
    );
    problem(
        &send_event(&app, "legal_hold", "client-denied").await,
        403,
        "FORBIDDEN",
    );
    problem(
        &send_event(&app, "legal_hold", "not-on-hold").await,
        409,
        "NOT_ON_HOLD",
    );
    assert!(hold_in_force(&db, JUDY).await, "refusals change nothing");
    problem(
        &send_event(&app, "legal_hold", "admin-lifts-hold").await,
        200,
        "OK",
    );
    problem(
        &send_event(&app, "purge_user", "legal-hold").await,
        200,
        "OK",
    );
    // Once purged, a hold cannot be placed on her: there is no such user.
    let place = aimed_at(event("legal_hold", "admin-places-hold"), JUDY);
    problem(&send(&app, &place).await, 404, "USER_NOT_FOUND");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_bad_hold_is_a_clear_400_and_a_hold_may_be_replaced(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    for (name, status, code) in [
        ("short-reason", 400, "INVALID_REASON"),
        ("expiry-in-the-past", 400, "INVALID_EXPIRY"),
        ("helpdesk-denied", 403, "FORBIDDEN"),
        ("unknown-user", 404, "USER_NOT_FOUND"),
    ] {
        problem(&send_event(&app, "legal_hold", name).await, status, code);
    }
    for (body, code) in [
        (
            json!({"reason": "preservation order", "expiresAt": "tomorrow"}),
            "INVALID_EXPIRY",
        ),
        (
            json!({"reason": "preservation order", "expiresAt": 5}),
            "INVALID_BODY",
        ),
        (
            json!({"reason": "preservation order", "until": "2099-01-01T00:00:00Z"}),
            "INVALID_BODY",
        ),
        (json!({}), "INVALID_REASON"),
    ] {
        let bad = with_body("legal_hold", "admin-places-hold", body.clone());
        problem(&send(&app, &bad).await, 400, code);
    }
    assert!(!hold_in_force(&db, ERIN).await, "nothing was placed");

    // Placed with an expiry, then placed again without one: replaced.
    let until = send_event(&app, "legal_hold", "super-admin-places-hold-until").await;
    problem(&until, 200, "OK");
    assert_eq!(until.body["legalHold"]["expiresAt"], "2099-01-01T00:00:00Z");
    let again = aimed_at(event("legal_hold", "admin-places-hold"), FRANK);
    problem(&send(&app, &again).await, 200, "OK");
    let (placed_by, expires): (Uuid, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT placed_by, expires_at FROM legal_holds WHERE user_id = $1")
            .bind(FRANK)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((placed_by, expires), (ADMIN, None));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_hold_past_its_expiry_stops_nothing(db: PgPool) {
    cast::load(&db).await.unwrap();
    sqlx::query(
        "UPDATE legal_holds SET placed_at = now() - interval '2 days',
                                expires_at = now() - interval '1 day'
          WHERE user_id = $1",
    )
    .bind(JUDY)
    .execute(&db)
    .await
    .unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    let listed = send_event(&app, "list_deleted_users", "helpdesk-lists").await;
    let judy = listed.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == JUDY.to_string())
        .unwrap();
    assert_eq!(judy["legalHold"], serde_json::Value::Null);
    problem(
        &send_event(&app, "legal_hold", "admin-lifts-hold").await,
        409,
        "NOT_ON_HOLD",
    );
    problem(
        &send_event(&app, "purge_user", "legal-hold").await,
        200,
        "OK",
    );
}

/// The race of the issue: a hold committed while a purge of the same user
/// waits for the user's row lock is honoured, because the purge reads the
/// hold in a statement after it has the lock. The other transaction does
/// what placing a hold does (the user's row locked, the hold written), and
/// commits only once the purge is seen waiting.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_hold_placed_while_a_purge_waits_for_the_lock_is_honoured(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    let mut placing = crate::common::hold_profile(&db, DAVE).await;
    let hold = LegalHold {
        reason: "preservation order, case 24-cv-1187".into(),
        placed_by: ADMIN,
        placed_at: chrono::Utc::now(),
        expires_at: None,
    };
    sqlx::raw_sql(&legal_holds::place(DAVE, &hold))
        .execute(&mut *placing)
        .await
        .unwrap();

    let purging = tokio::spawn({
        let app = app.clone();
        async move { send_event(&app, "purge_user", "admin-purges-user").await }
    });
    let mut waited = false;
    for _ in 0..400 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if waiting > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(waited, "the purge waits for the user's lock");
    placing.commit().await.unwrap();

    let answer = purging.await.unwrap();
    problem(&answer, 409, "LEGAL_HOLD");
    assert!(profile_exists(&db, DAVE).await);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM dispatches WHERE user_id = $1")
        .bind(DAVE)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, 1, "nothing of the plan ran");
}
