//! Every text a request carries into storage, a search or a log (a reason,
//! the search, the User-Agent, the Idempotency-Key, API Gateway's request id)
//! is checked first: a NUL or another control character is a 400 naming the
//! field, never a 500, and nothing is changed.

use crate::common::{
    Answer, event, http_app, is_deleted, profile_exists, send, with_body, with_header,
};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, *};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

fn listing_searching(term: &str) -> Value {
    let mut e = event("list_deleted_users", "filtered");
    let query = serde_urlencoded::to_string([("search", term)]).unwrap();
    e["rawQueryString"] = json!(query);
    e["queryStringParameters"] = json!({"search": term});
    e
}

fn refused(answer: &Answer, code: &str) {
    assert_eq!((answer.status, answer.code()), (400, code), "{answer:?}");
}

async fn reason_of(db: &PgPool, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT deletion_reason FROM profiles WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_nul_or_control_character_in_any_text_is_a_400_naming_the_field(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "100")]).await;
    let soft = |reason: &str| {
        with_body(
            "soft_delete_user",
            "admin-deletes-client",
            json!({ "reason": reason }),
        )
    };
    let purge = |reason: &str| {
        with_body(
            "purge_user",
            "admin-purges-user",
            json!({"confirmed": true, "reason": reason}),
        )
    };
    let twelve_nuls = "\0".repeat(12);
    let zero_width = "\u{200b}".repeat(12);
    let cases = [
        (
            "NUL in a soft delete's reason",
            soft("spam\0"),
            "INVALID_REASON",
            "U+0000",
        ),
        (
            "escape in a reason",
            soft("\u{1b}[2Jspam"),
            "INVALID_REASON",
            "U+001B",
        ),
        (
            "C1 control in a reason",
            soft("spam\u{85}"),
            "INVALID_REASON",
            "U+0085",
        ),
        (
            "twelve NULs as a purge reason",
            purge(&twelve_nuls),
            "INVALID_REASON",
            "U+0000",
        ),
        (
            "twelve zero-width spaces as a purge reason",
            purge(&zero_width),
            "INVALID_REASON",
            "characters that show",
        ),
        // The one control character HTTP lets into a header value (a NUL or
        // an escape is no valid HTTP: API Gateway refuses it, and so does
        // lambda_http's event parser, before any handler).
        (
            "tab in the User-Agent",
            with_header(soft("spam"), "user-agent", "curl\t1.0"),
            "INVALID_USER_AGENT",
            "U+0009",
        ),
        (
            "tab in the Idempotency-Key",
            with_header(soft("spam"), "idempotency-key", "a\tb"),
            "INVALID_IDEMPOTENCY_KEY",
            "visible ASCII",
        ),
        (
            "NUL in the search",
            listing_searching("ann\0"),
            "INVALID_SEARCH",
            "U+0000",
        ),
        (
            "line break in the search",
            listing_searching("a\nb"),
            "INVALID_SEARCH",
            "U+000A",
        ),
        (
            "tab in a listing's User-Agent",
            with_header(listing_searching("ann"), "user-agent", "\t"),
            "INVALID_USER_AGENT",
            "U+0009",
        ),
        (
            "a request id with a control character",
            {
                let mut e = soft("spam");
                e["requestContext"]["requestId"] = json!("id\u{7}");
                e
            },
            "INVALID_REQUEST_CONTEXT",
            "U+0007",
        ),
    ];
    for (what, request, code, detail) in cases {
        let answer = send(&app, &request).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, code),
            "{what}: {answer:?}"
        );
        assert!(
            answer.body["detail"].as_str().unwrap().contains(detail),
            "{what}: the detail says what is wrong: {answer:?}"
        );
    }
    assert!(!is_deleted(&db, ALICE).await);
    assert!(!is_deleted(&db, DAVE).await);
    assert!(profile_exists(&db, DAVE).await, "Dave is still there");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_blank_reason_is_no_reason_and_line_breaks_are_kept(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    let blank = with_body(
        "soft_delete_user",
        "admin-deletes-client",
        json!({"reason": " \t\u{200b}\n "}),
    );
    let answer = send(&app, &blank).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["reason"], Value::Null);
    assert_eq!(reason_of(&db, ALICE).await, None);
    let audited: Option<String> =
        sqlx::query_scalar("SELECT reason FROM deletion_audit ORDER BY seq DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(audited, None, "the audit row holds NULL too, not ''");

    let multi_line = erasure_fixtures::events::aimed_at(
        with_body(
            "soft_delete_user",
            "admin-deletes-client",
            json!({"reason": "\u{feff}ticket 7:\r\n\tasked twice "}),
        ),
        ERIN,
    );
    let answer = send(&app, &multi_line).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        reason_of(&db, ERIN).await.as_deref(),
        Some("ticket 7:\r\n\tasked twice")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn ten_visible_characters_make_a_purge_reason_whatever_the_script(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    let short = with_body(
        "purge_user",
        "admin-purges-user",
        json!({"confirmed": true, "reason": "東京 \u{200b}\u{200b} 削除依頼です"}),
    );
    refused(&send(&app, &short).await, "INVALID_REASON");
    let enough = with_body(
        "purge_user",
        "admin-purges-user",
        json!({"confirmed": true, "reason": "東京の削除依頼です、番号12"}),
    );
    let answer = send(&app, &enough).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// A body that is not UTF-8 reaches a function in base64, as API Gateway
/// passes a body it does not take for text: a 400, like any body not JSON.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_body_of_bytes_that_are_not_utf8_is_a_400(db: PgPool) {
    use base64::Engine as _;
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    let mut request = event("soft_delete_user", "admin-deletes-client");
    request["isBase64Encoded"] = json!(true);
    request["body"] =
        json!(base64::engine::general_purpose::STANDARD.encode(b"{\"reason\":\"\xff\xfe\"}"));
    refused(&send(&app, &request).await, "INVALID_BODY");
    assert!(!is_deleted(&db, ALICE).await);
}
