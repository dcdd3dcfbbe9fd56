//! The parsers of every event a function accepts, fuzzed with proptest: the
//! API Gateway request, the job events, the CodeDeploy hook event and the
//! alarm events, from arbitrary bytes, arbitrary JSON, and the samples of
//! `events/` with a part replaced by arbitrary JSON. A parser never panics;
//! it accepts the event or says why not. HTTP requests that parse go on
//! through the real handlers on a real database, and are never a 5xx.
//!
//! Bounded for CI (`PROPTEST_CASES`, 256 by default, a fixed seed); run it
//! longer with, for example,
//! `PROPTEST_CASES=20000 cargo test -p erasure-functions --test suite parsers`.

use erasure::http::invocation::Invocation;
use erasure::jobs::alarm_responder::ResponderEvent;
use erasure::jobs::cleanup::CleanupEvent;
use erasure::jobs::integrity_audit::invocation::IntegrityAuditEvent;
use erasure::jobs::pre_traffic::HookEvent;
use erasure::jobs::relay::RelayEvent;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;

use crate::common::{http_app, send};

/// Field names the parsers look for, so that arbitrary objects reach past
/// the first missing field.
const KEYS: &[&str] = &[
    "version",
    "routeKey",
    "rawPath",
    "rawQueryString",
    "headers",
    "requestContext",
    "http",
    "method",
    "path",
    "sourceIp",
    "requestId",
    "body",
    "isBase64Encoded",
    "pathParameters",
    "queryStringParameters",
    "userId",
    "authorization",
    "user-agent",
    "idempotency-key",
    "httpMethod",
    "resource",
    "multiValueHeaders",
    "DeploymentId",
    "LifecycleEventHookExecutionId",
    "options",
    "dryRun",
    "restart",
    "source",
    "detail-type",
    "detail",
    "Records",
    "Sns",
    "Message",
    "alarmArn",
    "alarmData",
    "alarmName",
    "state",
    "value",
    "timestamp",
    "resume",
    "scope",
    "by",
    "reason",
    "smokeTest",
    "confirmed",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[\\x00-\\x1f/%{}\"\\\\]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every sample of `events/`, by function.
fn samples() -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for (function, dir) in erasure_fixtures::events::function_folders() {
        for file in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            all.push((
                function.clone(),
                serde_json::from_str::<Value>(&text).unwrap(),
            ));
        }
    }
    all.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.to_string().cmp(&b.1.to_string()))
    });
    all
}

/// Every node of `value`, as JSON pointers.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (k, v) in members {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// `sample` with the node `which` picks (modulo their number) replaced.
fn mutated(sample: &Value, which: usize, replacement: Value) -> Value {
    let mut nodes = Vec::new();
    pointers(sample, String::new(), &mut nodes);
    let mut event = sample.clone();
    let pointer = &nodes[which % nodes.len()];
    match event.pointer_mut(pointer) {
        Some(node) => *node = replacement,
        None => event = replacement,
    }
    event
}

fn config() -> Config {
    Config {
        rng_algorithm: RngAlgorithm::ChaCha,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Parses as Lambda does (from the payload's bytes): an event or an error
/// that says something, never a panic.
fn parses_or_says_why<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = serde_json::from_slice::<T>(bytes) {
        prop_assert!(!e.to_string().is_empty());
    }
    Ok(())
}

fn every_parser(bytes: &[u8]) -> Result<(), TestCaseError> {
    parses_or_says_why::<Invocation>(bytes)?;
    parses_or_says_why::<CleanupEvent>(bytes)?;
    parses_or_says_why::<IntegrityAuditEvent>(bytes)?;
    parses_or_says_why::<HookEvent>(bytes)?;
    parses_or_says_why::<ResponderEvent>(bytes)?;
    parses_or_says_why::<RelayEvent>(bytes)?;
    Ok(())
}

#[test]
fn arbitrary_bytes_and_json_never_panic_a_parser() {
    let mut runner =
        TestRunner::new_with_rng(config(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..256), |bytes| {
            every_parser(&bytes)
        })
        .unwrap();
    runner
        .run(&json(), |value| every_parser(value.to_string().as_bytes()))
        .unwrap();
}

#[test]
fn samples_with_a_part_replaced_never_panic_a_parser() {
    let samples = samples();
    let mut runner =
        TestRunner::new_with_rng(config(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(
            &(0..samples.len(), any::<usize>(), json()),
            |(i, which, part)| {
                every_parser(mutated(&samples[i].1, which, part).to_string().as_bytes())
            },
        )
        .unwrap();
}

/// HTTP events of `events/` with a part replaced, through the real handlers:
/// a 4xx or a success, never a 5xx, whatever the part (drawn up front from
/// the seeded runner, as the handlers are async).
#[sqlx::test(migrator = "MIGRATOR")]
async fn mutated_requests_through_the_handlers_are_never_a_5xx(db: PgPool) {
    cast::load(&db).await.unwrap();
    let app = http_app(
        db.clone(),
        &[
            ("RATE_LIMIT_PER_MINUTE", "1000000"),
            ("RATE_LIMIT_LIST_PER_MINUTE", "1000000"),
        ],
    )
    .await;
    let http: Vec<Value> = samples()
        .into_iter()
        .filter(|(_, e)| e.get("routeKey").is_some())
        .map(|(_, e)| e)
        .collect();
    let mut runner =
        TestRunner::new_with_rng(config(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = (0..http.len(), any::<usize>(), json());
    let mut sent = 0;
    for _ in 0..runner.config().cases {
        let (i, which, part) = strategy.new_tree(&mut runner).unwrap().current();
        let mut event = mutated(&http[i], which, part);
        // Keep the route, so that the event reaches a handler.
        if let Some(members) = event.as_object_mut() {
            members.insert("routeKey".into(), http[i]["routeKey"].clone());
        }
        if lambda_http::request::from_str(&event.to_string()).is_err() {
            continue; // the runtime's parse error: an invocation error, not a response
        }
        let answer = send(&app, &event).await;
        assert!(answer.status < 500, "{event}\n→ {answer:?}");
        sent += 1;
    }
    assert!(sent > 0, "some mutated requests parsed and were answered");
}
