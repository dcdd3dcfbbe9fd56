//! What an HTTP function's invocation is: the deploy's smoke test, answered
//! with the function's health and touching no user, or an API Gateway
//! request, answered through the router.

use erasure::http::invocation::{self, Answer, Invocation};
use erasure::http::{router::router, routes::Route};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, ALICE};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common::{audit_rows, event, http_app, is_deleted};

async fn invoke(db: &PgPool, payload: Value) -> Value {
    let app = http_app(db.clone(), &[]).await;
    let routes = router(app.clone(), &[Route::SoftDelete]);
    let event: Invocation = serde_json::from_str(&payload.to_string()).unwrap();
    let answer = invocation::answer(&app, routes, LambdaEvent::new(event, Default::default()))
        .await
        .unwrap();
    match answer {
        Answer::Health(health) => serde_json::to_value(health).unwrap(),
        Answer::Response(response) => response,
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_smoke_test_reports_health_and_changes_nothing(db: PgPool) {
    cast::load(&db).await.unwrap();
    let audited = audit_rows(&db).await;
    let health = invoke(&db, json!({"erasureSmokeTest": true})).await;
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["policySha256"], erasure_policy::EMBEDDED_SHA256);
    assert_eq!(
        audit_rows(&db).await,
        audited,
        "nothing audited, nothing changed"
    );
    assert!(!is_deleted(&db, ALICE).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_api_gateway_request_goes_through_the_router(db: PgPool) {
    cast::load(&db).await.unwrap();
    let response = invoke(&db, event("soft_delete_user", "admin-deletes-client")).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert!(is_deleted(&db, ALICE).await);
}

#[test]
fn a_smoke_test_with_anything_else_in_it_is_not_a_smoke_test() {
    for payload in [
        json!({"erasureSmokeTest": true, "x": 1}),
        json!({"erasureSmokeTest": "yes"}),
        json!({}),
    ] {
        assert!(
            !matches!(
                serde_json::from_value::<Invocation>(payload.clone()),
                Ok(Invocation::SmokeTest(_))
            ),
            "{payload}"
        );
    }
}
