//! The router around the handlers: methods a route does not answer (405 with
//! `Allow`), unknown paths (404), body caps and malformed bodies, and CORS
//! for the configured origins only.

use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, ALICE};
use serde_json::json;
use sqlx::PgPool;

use crate::common::{event, http_app, is_deleted, send};

#[sqlx::test(migrator = "MIGRATOR")]
async fn methods_routes_bodies_and_cors_are_answered_by_the_route_table(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    let mut wrong_method = event("soft_delete_user", "admin-deletes-client");
    wrong_method["requestContext"]["http"]["method"] = json!("PUT");
    let answer = send(&app, &wrong_method).await;
    assert_eq!((answer.status, answer.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(answer.headers["allow"], "DELETE");

    let mut unknown = event("soft_delete_user", "admin-deletes-client");
    unknown["rawPath"] = json!("/api/profiles/00000000-0000-4000-8000-000000000101");
    assert_eq!(send(&app, &unknown).await.code(), "ROUTE_NOT_FOUND");

    let mut huge = event("soft_delete_user", "admin-deletes-client");
    huge["body"] = json!(json!({"reason": "x".repeat(20_000)}).to_string());
    assert_eq!(send(&app, &huge).await.code(), "PAYLOAD_TOO_LARGE");
    let mut broken = event("soft_delete_user", "admin-deletes-client");
    broken["body"] = json!("{\"reason\": ");
    assert_eq!(send(&app, &broken).await.code(), "INVALID_BODY");
    assert!(!is_deleted(&db, ALICE).await);

    // A browser preflight from the configured origin, and from another.
    let mut preflight = event("soft_delete_user", "admin-deletes-client");
    preflight["requestContext"]["http"]["method"] = json!("OPTIONS");
    preflight["headers"]["origin"] = json!("https://admin.erasure.local");
    preflight["headers"]["access-control-request-method"] = json!("DELETE");
    let allowed = send(&app, &preflight).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://admin.erasure.local"
    );
    preflight["headers"]["origin"] = json!("https://evil.example");
    let refused = send(&app, &preflight).await;
    assert!(refused.headers.get("access-control-allow-origin").is_none());
}
