//! What the workspace-level tests share: where the local stack is, and how
//! to invoke a function under `cargo lambda watch`.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::time::Duration;

use erasure_fixtures::{cast, events};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The workspace's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn stack(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `make test`, which brings the stack up")
    })
}

/// The JSON lines of the log file the stack variable `var` names (other
/// lines, such as cargo's, skipped).
pub fn json_lines(var: &str) -> Vec<Value> {
    std::fs::read_to_string(stack(var))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Invokes `function` under `cargo lambda watch` with `event`: the status
/// and the answer.
pub async fn invocation(function: &str, event: &Value) -> (reqwest::StatusCode, Value) {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        stack("ERASURE_LAMBDA_URL")
    );
    // The first invocation may wait for cargo to (re)build the function.
    let response = reqwest::Client::new()
        .post(&url)
        .json(event)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The answer of an invocation that must succeed.
pub async fn invoke(function: &str, event: &Value) -> Value {
    let (status, answer) = invocation(function, event).await;
    assert!(status.is_success(), "{function}: {status} {answer}");
    answer
}

/// The event `events/<function>/<name>.json`.
pub fn event(function: &str, name: &str) -> Value {
    events::read(function, name)
}

/// An event of `events/`, aimed at `target` instead of the cast member it names.
pub fn event_for(function: &str, name: &str, target: Uuid) -> Value {
    events::aimed_at(event(function, name), target)
}

/// An API Gateway response: its status and its JSON body.
pub async fn call(function: &str, event: &Value) -> (u64, Value) {
    http_parts(&invoke(function, event).await)
}

/// The status and the JSON body of a function's API Gateway answer.
pub fn http_parts(answer: &Value) -> (u64, Value) {
    let body = answer["body"].as_str().unwrap_or("null");
    let status = answer["statusCode"].as_u64();
    (
        status.unwrap_or_else(|| panic!("not an HTTP answer: {answer}")),
        serde_json::from_str(body).unwrap_or_else(|_| panic!("a body that is not JSON: {answer}")),
    )
}

/// A client of this run only, so that a test can run again on the same
/// stack, with the cast (the actors the events name) loaded: its id and email.
pub async fn fresh_client(db: &PgPool) -> (Uuid, String) {
    if !cast::is_loaded(db).await.unwrap() {
        cast::load(db).await.unwrap();
    }
    let email = format!("run-{}@example.com", Uuid::new_v4().simple());
    let id =
        sqlx::query_scalar("INSERT INTO profiles (email, type) VALUES ($1, 'CLIENT') RETURNING id")
            .bind(&email)
            .fetch_one(db)
            .await
            .unwrap();
    (id, email)
}
