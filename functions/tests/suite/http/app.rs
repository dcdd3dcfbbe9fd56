//! What stands around the flow of the HTTP functions (`src/http/app.rs`):
//! tokens, the rate limit, Idempotency-Key, concurrency, and a database that
//! is slow or gone. Real tokens, real PostgreSQL.

use std::collections::BTreeMap;

use crate::common::{
    Answer, LOCAL_JWT_SECRET, audit_rows, event, hold_profile, http_app, is_deleted, send,
    send_event, with_header,
};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, *};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const RSA_PUBLIC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rsa-public.pem"
));
const ISSUER: &str = "http://127.0.0.1:54321/auth/v1";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(sub: Uuid) -> Value {
    json!({"iss": ISSUER, "aud": "authenticated", "sub": sub, "exp": now() + 600})
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// The event with another Authorization header (or none).
fn authorized(mut event: Value, authorization: Option<String>) -> Value {
    let headers = event["headers"].as_object_mut().unwrap();
    match authorization {
        Some(value) => headers.insert("authorization".into(), json!(value)),
        None => headers.remove("authorization"),
    };
    event
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_tokens_are_401_and_change_nothing(db: PgPool) {
    cast::load(&db).await.unwrap();
    // An RS256 key is configured too, so the HS/RS confusion is really tried.
    let app = http_app(
        db.clone(),
        &[
            ("JWT_PUBLIC_KEY_PEM", RSA_PUBLIC),
            ("RATE_LIMIT_PER_MINUTE", "100"),
        ],
    )
    .await;
    let secret = LOCAL_JWT_SECRET.as_bytes();
    let with = |changes: Value| {
        let mut c = claims(ADMIN);
        c.as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        c
    };
    let valid = hs256(&claims(ADMIN), secret);
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let other_payload = hs256(&claims(SUPER_ADMIN), secret)
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let tokens = [
        (
            "expired",
            hs256(&with(json!({"exp": now() - 3600})), secret),
        ),
        (
            "not yet valid",
            hs256(&with(json!({"nbf": now() + 3600})), secret),
        ),
        (
            "wrong issuer",
            hs256(
                &with(json!({"iss": "https://evil.example/auth/v1"})),
                secret,
            ),
        ),
        (
            "wrong audience",
            hs256(&with(json!({"aud": "anon"})), secret),
        ),
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "HS256 keyed with the RSA public key",
            hs256(&claims(ADMIN), RSA_PUBLIC.as_bytes()),
        ),
        (
            "tampered signature",
            format!("{head}.{payload}.{flipped}{}", &signature[1..]),
        ),
        (
            "swapped payload",
            format!("{head}.{other_payload}.{signature}"),
        ),
        (
            "other secret",
            hs256(&claims(ADMIN), b"not the local secret"),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "no subject",
            hs256(
                &json!({"iss": ISSUER, "aud": "authenticated", "exp": now() + 60}),
                secret,
            ),
        ),
    ];
    for (what, token) in tokens {
        let request = authorized(
            event("soft_delete_user", "admin-deletes-client"),
            Some(format!("Bearer {token}")),
        );
        let answer = send(&app, &request).await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "UNAUTHORIZED"),
            "{what}: {answer:?}"
        );
    }
    for header in ["Basic YWRtaW46YWRtaW4=", "Bearer", ""] {
        let request = authorized(
            event("soft_delete_user", "admin-deletes-client"),
            Some(header.to_owned()),
        );
        assert_eq!(send(&app, &request).await.status, 401, "{header:?}");
    }
    assert!(!is_deleted(&db, ALICE).await);
    assert_eq!(audit_rows(&db).await, 0);
    // The same request with a good token works: the refusals were the tokens'.
    let request = authorized(
        event("soft_delete_user", "admin-deletes-client"),
        Some(format!("Bearer {valid}")),
    );
    assert_eq!(send(&app, &request).await.status, 200);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_actor_missing_from_the_database_is_401_and_a_deleted_one_403(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    let secret = LOCAL_JWT_SECRET.as_bytes();
    let stranger = authorized(
        event("soft_delete_user", "admin-deletes-client"),
        Some(format!("Bearer {}", hs256(&claims(NOBODY), secret))),
    );
    let answer = send(&app, &stranger).await;
    assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"));
    // Frank was an admin's target; make him an admin who was soft-deleted.
    sqlx::query("UPDATE profiles SET type = 'ADMIN' WHERE id = $1")
        .bind(FRANK)
        .execute(&db)
        .await
        .unwrap();
    let deleted_admin = authorized(
        event("soft_delete_user", "admin-deletes-client"),
        Some(format!("Bearer {}", hs256(&claims(FRANK), secret))),
    );
    let answer = send(&app, &deleted_admin).await;
    assert_eq!(
        (answer.status, answer.code()),
        (403, "FORBIDDEN"),
        "{answer:?}"
    );
    assert!(!is_deleted(&db, ALICE).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_rate_limit_holds_per_actor_across_containers(db: PgPool) {
    cast::load(&db).await.unwrap();
    // Two "containers" (two apps, two pools' worth of state) share the limit.
    let (a, b) = (
        http_app(db.clone(), &[]).await,
        http_app(db.clone(), &[]).await,
    );
    let request = event("soft_delete_user", "unknown-user");
    let mut statuses = Vec::new();
    for i in 0..10 {
        statuses.push(
            send(if i % 2 == 0 { &a } else { &b }, &request)
                .await
                .status,
        );
    }
    assert_eq!(statuses, [404; 10], "ten a minute are allowed");
    let limited = send(&b, &request).await;
    assert_eq!((limited.status, limited.code()), (429, "RATE_LIMITED"));
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (50..=60).contains(&retry_after),
        "until the first of the ten is a minute old: {retry_after}"
    );
    // Another actor, and the same actor's listings, are counted apart.
    assert_eq!(
        send_event(&a, "soft_delete_user", "super-admin-deletes-client")
            .await
            .status,
        200
    );
    assert_eq!(
        send_event(&a, "list_deleted_users", "filtered")
            .await
            .status,
        200
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    let request = with_header(
        event("soft_delete_user", "admin-deletes-client"),
        "idempotency-key",
        "del-alice-1",
    );
    let first = send(&app, &request).await;
    assert_eq!(first.status, 200);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let rows = audit_rows(&db).await;

    // The same body laid out differently is the same request.
    let mut retry = request.clone();
    retry["body"] = json!("{ \"reason\" : \"requested by the user\" }");
    let replayed = send(&app, &retry).await;
    assert_eq!((replayed.status, &replayed.body), (200, &first.body));
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(audit_rows(&db).await, rows, "the retry did not act again");

    let mut other_body = request.clone();
    other_body["body"] = json!(r#"{"reason":"something else"}"#);
    let reused = send(&app, &other_body).await;
    assert_eq!(
        (reused.status, reused.code()),
        (422, "IDEMPOTENCY_KEY_REUSED")
    );
    let other_user = with_header(
        event("soft_delete_user", "active-catering-orders"),
        "idempotency-key",
        "del-alice-1",
    );
    assert_eq!(send(&app, &other_user).await.status, 422);

    // A refusal is an answer too, and is replayed as such.
    let refused = with_header(
        event("soft_delete_user", "active-catering-orders"),
        "idempotency-key",
        "del-bob-1",
    );
    let first = send(&app, &refused).await;
    let again = send(&app, &refused).await;
    assert_eq!((first.status, again.status), (409, 409));
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["content-type"], "application/problem+json");

    for bad in ["has space", &"k".repeat(256)] {
        let request = with_header(
            event("soft_delete_user", "admin-deletes-client"),
            "idempotency-key",
            bad,
        );
        assert_eq!(send(&app, &request).await.code(), "INVALID_IDEMPOTENCY_KEY");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_key_whose_request_failed_for_the_database_may_be_retried(db: PgPool) {
    cast::load(&db).await.unwrap();
    // Alice's row is held by another transaction: the first attempt times out.
    let app = http_app(db.clone(), &[("LOCK_TIMEOUT_MS", "200")]).await;
    let request = with_header(
        event("soft_delete_user", "admin-deletes-client"),
        "idempotency-key",
        "k-408",
    );
    let blocker = hold_profile(&db, ALICE).await;
    let timed_out = send(&app, &request).await;
    assert_eq!(
        (timed_out.status, timed_out.code()),
        (408, "TRANSACTION_TIMEOUT")
    );
    blocker.rollback().await.unwrap();
    let (outcome, code): (String, Option<String>) =
        sqlx::query_as("SELECT outcome, error_code FROM deletion_audit ORDER BY seq DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("FAILED", Some("TRANSACTION_TIMEOUT"))
    );
    assert!(!is_deleted(&db, ALICE).await);
    let retried = send(&app, &request).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert!(is_deleted(&db, ALICE).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unreachable_database_is_503_with_retry_after(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    // The same function, its pool pointing at a port nothing listens on.
    let app_without_db = http_app(crate::common::unreachable_pool(), &[]).await;
    drop(app);
    for name in ["admin-deletes-client", "unknown-user"] {
        let answer = send_event(&app_without_db, "soft_delete_user", name).await;
        assert_eq!(
            (answer.status, answer.code()),
            (503, "CONNECTION_FAILED"),
            "{answer:?}"
        );
        assert_eq!(answer.headers["retry-after"], "5");
    }
    assert!(!is_deleted(&db, ALICE).await);
}

async fn client(db: &PgPool, i: usize) -> Uuid {
    sqlx::query_scalar("INSERT INTO profiles (email, type) VALUES ($1, 'CLIENT') RETURNING id")
        .bind(format!("crowd-{i}@example.com"))
        .fetch_one(db)
        .await
        .unwrap()
}

fn delete_of(id: Uuid) -> Value {
    erasure_fixtures::events::aimed_at(event("soft_delete_user", "admin-deletes-client"), id)
}

fn tally(answers: &[Answer]) -> BTreeMap<(u16, String), usize> {
    let mut counts = BTreeMap::new();
    for a in answers {
        *counts.entry((a.status, a.code().to_owned())).or_default() += 1;
    }
    counts
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_requests_have_clean_outcomes(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(client(&db, i).await);
    }
    let answers = futures_join(users.iter().map(|&id| {
        let app = app.clone();
        async move { send(&app, &delete_of(id)).await }
    }))
    .await;
    assert_eq!(tally(&answers), BTreeMap::from([((200, "OK".into()), 20)]));

    // Ten at once on one user: one wins, nine are told it is already deleted.
    let answers = futures_join((0..10).map(|_| {
        let app = app.clone();
        async move { send_event(&app, "soft_delete_user", "admin-deletes-client").await }
    }))
    .await;
    assert_eq!(
        tally(&answers),
        BTreeMap::from([
            ((200, "OK".into()), 1),
            ((409, "ALREADY_DELETED".into()), 9)
        ])
    );

    // A restore racing a soft delete of Frank leaves one consistent end.
    let mut delete_frank = delete_of(FRANK);
    delete_frank["body"] = json!(null);
    let restore = event("restore_user", "admin-restores-user");
    let (deleted, restored) = tokio::join!(send(&app, &delete_frank), send(&app, &restore));
    let (deleted_at, deleted_by): (Option<chrono::DateTime<chrono::Utc>>, Option<Uuid>) =
        sqlx::query_as("SELECT deleted_at, deleted_by FROM profiles WHERE id = $1")
            .bind(FRANK)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        deleted_at.is_some(),
        deleted_by.is_some(),
        "never half of each"
    );
    assert_eq!(
        restored.status, 200,
        "Frank was deleted, so the restore applies in either order"
    );
    // Restore first: the delete then applies (200); delete first: it is refused (409).
    assert_eq!(deleted_at.is_some(), deleted.status == 200, "{deleted:?}");
    let mut conn = db.acquire().await.unwrap();
    let report = erasure::store::audit_log::verify_batch(&mut conn, &Default::default(), 10_000)
        .await
        .unwrap();
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);
}

/// Runs futures at once on the test's runtime, in spawned tasks.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<Answer>
where
    F: Future<Output = Answer> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut answers = Vec::new();
    for h in handles {
        answers.push(h.await.unwrap());
    }
    answers
}
