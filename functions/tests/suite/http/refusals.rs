//! Refusals after the token is verified and before the store's flow (a bad
//! body, 413, an Idempotency-Key reused, the rate limit) leave a trace:
//! counted per actor, route, code and minute in `refused_requests`, so that
//! a flood of them is a bounded number of rows and none on the audit chain.

use crate::common::{audit_rows, event, http_app, send, with_body, with_header};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, ADMIN};
use serde_json::json;
use sqlx::PgPool;

/// (route, code, status, total count, rows) of the refusals counted.
async fn counted(db: &PgPool) -> Vec<(String, String, i16, i64, i64)> {
    sqlx::query_as(
        "SELECT route, code, status, sum(count)::bigint, count(*)
           FROM refused_requests WHERE actor_id = $1
          GROUP BY route, code, status ORDER BY route, code",
    )
    .bind(ADMIN)
    .fetch_all(db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_kind_of_refusal_is_counted_with_where_it_came_from(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "5")]).await;
    let keyed = |reason: &str| {
        with_header(
            with_body(
                "soft_delete_user",
                "admin-deletes-client",
                json!({ "reason": reason }),
            ),
            "idempotency-key",
            "k-1",
        )
    };
    let mut huge = event("soft_delete_user", "admin-deletes-client");
    huge["body"] = json!(format!("{{\"reason\":\"{}\"}}", "x".repeat(20_000)));
    let before = audit_rows(&db).await;
    let answers = [
        send(
            &app,
            &with_body(
                "soft_delete_user",
                "admin-deletes-client",
                json!({"reasn": 1}),
            ),
        )
        .await,
        send(&app, &huge).await,
        send(&app, &keyed("first")).await,
        send(&app, &keyed("another body, same key")).await,
        send(&app, &keyed("another body, same key")).await,
        send(&app, &keyed("rate limited by now")).await,
    ];
    let statuses: Vec<_> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [400, 413, 200, 422, 422, 429], "{answers:?}");
    assert_eq!(
        counted(&db).await,
        [
            (
                "soft_delete_user".into(),
                "IDEMPOTENCY_KEY_REUSED".into(),
                422,
                2,
                1
            ),
            ("soft_delete_user".into(), "INVALID_BODY".into(), 400, 1, 1),
            (
                "soft_delete_user".into(),
                "PAYLOAD_TOO_LARGE".into(),
                413,
                1,
                1
            ),
            ("soft_delete_user".into(), "RATE_LIMITED".into(), 429, 1, 1),
        ]
    );
    assert_eq!(
        audit_rows(&db).await,
        before + 1,
        "only the soft delete that ran is on the audit chain"
    );
    let origin: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT last_request_id, host(last_source_ip) FROM refused_requests WHERE code = 'INVALID_BODY'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        origin,
        (
            Some("local-soft_delete_user-admin-deletes-client".into()),
            Some("203.0.113.10".into())
        )
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_flood_of_a_thousand_refusals_is_a_row_or_two(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000000")]).await;
    let bad = with_body(
        "purge_user",
        "admin-purges-user",
        json!({"confirmed": true}),
    );
    let before = audit_rows(&db).await;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..10 {
        let (app, bad) = (app.clone(), bad.clone());
        tasks.spawn(async move {
            for _ in 0..100 {
                let answer = send(&app, &bad).await;
                assert_eq!(answer.code(), "INVALID_REASON", "worker {worker}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let counted = counted(&db).await;
    assert_eq!(counted.len(), 1, "{counted:?}");
    let (route, code, status, total, rows) = &counted[0];
    assert_eq!(
        (route.as_str(), code.as_str(), *status, *total),
        ("purge_user", "INVALID_REASON", 400, 1000)
    );
    assert!(
        *rows <= 2,
        "one row a minute (two if the flood spans a minute's turn): {rows}"
    );
    assert_eq!(audit_rows(&db).await, before, "nothing on the audit chain");
}
