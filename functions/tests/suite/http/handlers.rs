//! The HTTP functions through their real handlers: API Gateway events
//! from `events/`, real tokens, real PostgreSQL, the real policy module.

use crate::common::{
    audit_rows, event, http_app, is_deleted, last_audit, problem, send, send_event,
};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, *};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

async fn with_cast(db: &PgPool) {
    cast::load(db).await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_admin_soft_deletes_a_client_and_the_audit_row_says_who_where_and_why(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    let answer = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    problem(&answer, 200, "OK");
    let summary = &answer.body;
    assert_eq!(
        summary["user"],
        json!({"id": ALICE, "email": "alice@example.com", "type": "CLIENT"})
    );
    assert_eq!(summary["action"], "SOFT_DELETE");
    assert_eq!(summary["by"], json!(ADMIN));
    assert_eq!(summary["reason"], "requested by the user");
    assert_eq!(
        summary["rowsAffected"],
        json!({"profiles.soft_deleted": 1, "sessions.deleted": 2})
    );
    assert!(summary["durationMs"].is_u64());
    assert!(is_deleted(&db, ALICE).await);

    let row: Value = sqlx::query_scalar(
        "SELECT json_build_object('outcome', outcome, 'actor_role', actor_role,
                'target_role', target_role, 'reason', reason, 'source_ip', host(source_ip),
                'user_agent', user_agent, 'request_id', request_id, 'policy_rule', policy_rule)
           FROM deletion_audit ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        row,
        json!({
            "outcome": "SUCCESS",
            "actor_role": "ADMIN",
            "target_role": "CLIENT",
            "reason": "requested by the user",
            "source_ip": "203.0.113.10",
            "user_agent": "erasure-admin/1.0",
            "request_id": "local-soft_delete_user-admin-deletes-client",
            "policy_rule": "target-may-be-acted-on",
        })
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_refusal_of_the_source_app_through_the_soft_delete_function(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "100")]).await;
    // The outcome in the audit log; None: refused before the flow (no actor
    // or no id yet), so not audited.
    let refusals = [
        ("unauthenticated", 401, "UNAUTHORIZED", None),
        ("expired-token", 401, "UNAUTHORIZED", None),
        ("helpdesk-denied", 403, "FORBIDDEN", Some("DENIED")),
        ("vendor-denied", 403, "FORBIDDEN", Some("DENIED")),
        ("client-denied", 403, "FORBIDDEN", Some("DENIED")),
        ("driver-denied", 403, "FORBIDDEN", Some("DENIED")),
        (
            "super-admin-protected",
            403,
            "SUPER_ADMIN_PROTECTED",
            Some("DENIED"),
        ),
        ("self-deletion", 403, "SELF_DELETION", Some("DENIED")),
        (
            "active-catering-orders",
            409,
            "ACTIVE_ORDERS_EXIST",
            Some("FAILED"),
        ),
        (
            "active-on-demand-orders",
            409,
            "ACTIVE_ORDERS_EXIST",
            Some("FAILED"),
        ),
        ("malformed-id", 400, "INVALID_ID", None),
        ("missing-id", 400, "INVALID_ID", None),
        ("unknown-user", 404, "USER_NOT_FOUND", Some("FAILED")),
        ("already-deleted", 409, "ALREADY_DELETED", Some("DENIED")),
    ];
    for (name, status, code, audited) in refusals {
        let before = audit_rows(&db).await;
        let answer = send_event(&app, "soft_delete_user", name).await;
        problem(&answer, status, code);
        assert_eq!(
            audit_rows(&db).await - before,
            i64::from(audited.is_some()),
            "{name}"
        );
        if let Some(expected) = audited {
            let (action, outcome, error, actor, _) = last_audit(&db).await;
            assert_eq!(action, "SOFT_DELETE");
            assert_eq!(outcome, expected, "{name}");
            assert_eq!(error.as_deref(), Some(code), "{name}");
            let expected_actor = match name {
                "helpdesk-denied" => HELPDESK,
                "vendor-denied" => VENDOR,
                "client-denied" => CLIENT,
                "driver-denied" => DRIVER,
                _ => ADMIN,
            };
            assert_eq!(actor, Some(expected_actor), "{name}");
        }
    }
    let catering = send_event(&app, "soft_delete_user", "active-catering-orders").await;
    assert_eq!(
        (
            &catering.body["activeCateringOrders"],
            &catering.body["activeOnDemandOrders"],
            &catering.body["totalActiveOrders"]
        ),
        (&json!(2), &json!(0), &json!(2))
    );
    let on_demand = send_event(&app, "soft_delete_user", "active-on-demand-orders").await;
    assert_eq!(on_demand.body["totalActiveOrders"], 1);
    let super_admin = send_event(&app, "soft_delete_user", "super-admin-protected").await;
    assert_eq!(super_admin.body["rule"], "super-admin-protected");
    for id in [ALICE, BOB, CAROL, SUPER_ADMIN, ADMIN] {
        assert!(!is_deleted(&db, id).await, "{id} was left alone");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_super_admin_may_delete_too(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    let answer = send_event(&app, "soft_delete_user", "super-admin-deletes-client").await;
    problem(&answer, 200, "OK");
    assert_eq!(answer.body["by"], json!(SUPER_ADMIN));
}

/// Every row still naming `id`: its profile, and the rows of every column
/// the plan covers.
async fn references(db: &PgPool, id: Uuid) -> i64 {
    let mut conn = db.acquire().await.unwrap();
    let profile: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    profile
        + crate::common::references(&mut conn, &[id])
            .await
            .values()
            .sum::<i64>()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_purge_reports_exact_rows_and_leaves_no_orphan(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    for (name, status, code) in [
        ("unconfirmed", 400, "CONFIRMATION_REQUIRED"),
        ("short-reason", 400, "INVALID_REASON"),
        ("helpdesk-denied", 403, "FORBIDDEN"),
    ] {
        problem(&send_event(&app, "purge_user", name).await, status, code);
    }
    assert_eq!(
        references(&db, DAVE).await,
        14,
        "nothing was purged by the refusals"
    );

    let answer = send_event(&app, "purge_user", "admin-purges-user").await;
    problem(&answer, 200, "OK");
    let expected: serde_json::Map<String, Value> = DAVE_PURGE_ROWS
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    assert_eq!(answer.body["rowsAffected"], Value::Object(expected));
    assert_eq!(answer.body["reason"], "GDPR erasure request #4411");
    assert_eq!(references(&db, DAVE).await, 0);
    // Erin keeps the shared address and her order from Dave's other address.
    let erin: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM user_addresses WHERE user_id = $1),
                (SELECT count(*) FROM on_demand_orders WHERE user_id = $1)",
    )
    .bind(ERIN)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(erin, (1, 1));
    // The purged id cannot be referenced again.
    let reinsert = sqlx::query(
        "INSERT INTO sessions (user_id, session_token, expires_at) VALUES ($1, 'x', now())",
    )
    .bind(DAVE)
    .execute(&db)
    .await
    .unwrap_err();
    assert_eq!(
        reinsert.as_database_error().unwrap().code().as_deref(),
        Some("23503")
    );
    assert_eq!(last_audit(&db).await.0, "PURGE");
    // Purging again: the user is gone.
    problem(
        &send_event(&app, "purge_user", "admin-purges-user").await,
        404,
        "USER_NOT_FOUND",
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn restores_and_their_refusals(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    for (name, status, code) in [
        ("not-soft-deleted", 409, "NOT_SOFT_DELETED"),
        ("email-taken", 409, "CONFLICT"),
        ("grace-period-over", 409, "GRACE_PERIOD_EXPIRED"),
        ("helpdesk-denied", 403, "FORBIDDEN"),
    ] {
        problem(&send_event(&app, "restore_user", name).await, status, code);
        assert_eq!(
            last_audit(&db).await.2.as_deref(),
            Some(code),
            "{name} is audited"
        );
    }
    assert!(is_deleted(&db, HEIDI).await, "never a silent overwrite");
    let answer = send_event(&app, "restore_user", "admin-restores-user").await;
    problem(&answer, 200, "OK");
    assert_eq!(answer.body["action"], "RESTORE");
    assert!(!is_deleted(&db, FRANK).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_trash_lists_with_filters_pages_and_days_left(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    let all = send_event(&app, "list_deleted_users", "helpdesk-lists").await;
    problem(&all, 200, "OK");
    assert_eq!(all.body["total"], 4);
    let days: Vec<(String, i64, Option<String>)> = all.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap().to_owned(),
                u["daysUntilPurge"].as_i64().unwrap(),
                u["legalHold"]["reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("frank@example.com".into(), 27, None),
            ("heidi@example.com".into(), 25, None),
            ("judy@example.com".into(), 0, Some(JUDY_HOLD_REASON.into())),
            ("grace@example.com".into(), 0, None)
        ]
    );
    let judy = &all.body["users"][2]["legalHold"];
    assert_eq!(judy["placedBy"], ADMIN.to_string());
    assert_eq!(judy["expiresAt"], Value::Null);

    // CLIENTs deleted by the admin, matching "example.com", one per page.
    let filtered = send_event(&app, "list_deleted_users", "filtered").await;
    problem(&filtered, 200, "OK");
    assert_eq!(
        (&filtered.body["total"], &filtered.body["totalPages"]),
        (&json!(3), &json!(3))
    );
    assert_eq!(filtered.body["users"].as_array().unwrap().len(), 1);
    let mut second = event("list_deleted_users", "filtered");
    second["rawQueryString"] = json!(
        "type=CLIENT&deletedBy=00000000-0000-4000-8000-000000000002&search=example.com&page=2&limit=1"
    );
    let second = send(&app, &second).await;
    assert_ne!(
        second.body["users"][0]["id"],
        filtered.body["users"][0]["id"]
    );

    let mut bad = event("list_deleted_users", "filtered");
    bad["rawQueryString"] = json!("limit=1000");
    problem(&send(&app, &bad).await, 400, "INVALID_QUERY");
    problem(
        &send_event(&app, "list_deleted_users", "client-denied").await,
        403,
        "FORBIDDEN",
    );
    assert_eq!(last_audit(&db).await.0, "LIST_DELETED");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_reference_the_plan_does_not_know_is_409_and_a_bug_is_500(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    // A table added without telling the plan (plan_coverage.rs would fail too).
    sqlx::raw_sql(
        "CREATE TABLE rogue (user_id uuid REFERENCES profiles (id));
         INSERT INTO rogue VALUES ('00000000-0000-4000-8000-000000000104');",
    )
    .execute(&db)
    .await
    .unwrap();
    let answer = send_event(&app, "purge_user", "admin-purges-user").await;
    problem(&answer, 409, "FOREIGN_KEY_VIOLATION");
    assert_eq!(
        references(&db, DAVE).await,
        14,
        "the purge rolled back whole"
    );

    // Something nobody planned for: a failing trigger is a 500, audited, nothing changed.
    sqlx::raw_sql(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;
         CREATE TRIGGER boom BEFORE UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION boom();",
    )
    .execute(&db)
    .await
    .unwrap();
    let answer = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    problem(&answer, 500, "DELETION_FAILED");
    assert!(
        !answer.body["detail"].as_str().unwrap().contains("boom"),
        "no internals leak"
    );
    let (_, outcome, code, _, _) = last_audit(&db).await;
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("FAILED", Some("DELETION_FAILED"))
    );
    assert!(!is_deleted(&db, ALICE).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_listing_that_fails_unexpectedly_says_so_with_its_own_code(db: PgPool) {
    with_cast(&db).await;
    let app = http_app(db.clone(), &[]).await;
    // A schema out of step with the code: the listing's column is gone.
    sqlx::raw_sql("ALTER TABLE profiles RENAME COLUMN deletion_reason TO why")
        .execute(&db)
        .await
        .unwrap();
    let answer = send_event(&app, "list_deleted_users", "filtered").await;
    problem(&answer, 500, "LISTING_FAILED");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{answer:?}"
    );
    let (action, outcome, code, _, _) = last_audit(&db).await;
    assert_eq!(
        (action.as_str(), outcome.as_str(), code.as_deref()),
        ("LIST_DELETED", "FAILED", Some("LISTING_FAILED"))
    );
}
