//! The HTTP functions' CloudWatch metrics, as the embedded metric format
//! lines a request leaves in the function's log. (Its own test binary: the
//! metrics recorder is once per process, as it is per Lambda container.)

// The suite's helpers; this binary uses only the HTTP ones.
#[allow(dead_code)]
#[path = "suite/common/mod.rs"]
mod common;

use common::{http_app, send_event};
use erasure::http::telemetry;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast;
use serde_json::Value;
use sqlx::PgPool;

/// The EMF documents of one flush, by the metric names each carries.
fn documents(collector: &metrics_cloudwatch_embedded::Collector) -> Vec<Value> {
    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The value of `metric` in the document whose dimensions are `dims`.
fn value<'a>(docs: &'a [Value], metric: &str, dims: &[(&str, &str)]) -> Option<&'a Value> {
    docs.iter()
        .find(|d| {
            let declared = &d["_aws"]["CloudWatchMetrics"][0];
            let names: Vec<&str> = declared["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            names.len() == dims.len()
                && dims.iter().all(|(k, v)| names.contains(k) && d[*k] == *v)
                && d.get(metric).is_some()
        })
        .map(|d| &d[metric])
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_request_is_counted_by_code_with_its_latency(db: PgPool) {
    let collector = telemetry::install("soft_delete_user").unwrap();
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    for name in [
        "admin-deletes-client",
        "helpdesk-denied",
        "already-deleted",
        "unauthenticated",
    ] {
        send_event(&app, "soft_delete_user", name).await;
    }
    let docs = documents(collector);
    let function = ("Function", "soft_delete_user");
    for doc in &docs {
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Erasure");
    }
    assert_eq!(
        value(&docs, telemetry::REQUESTS, &[function]),
        Some(&4.into())
    );
    assert_eq!(
        value(&docs, telemetry::SERVER_ERRORS, &[function]),
        None,
        "no 5xx"
    );
    let latencies = value(&docs, telemetry::LATENCY, &[function]).unwrap();
    assert_eq!(latencies.as_array().unwrap().len(), 4);
    for (code, n) in [
        ("OK", 1),
        ("FORBIDDEN", 1),
        ("ALREADY_DELETED", 1),
        ("UNAUTHORIZED", 1),
    ] {
        let found = value(&docs, telemetry::RESPONSES, &[function, ("Code", code)]);
        assert_eq!(found, Some(&n.into()), "{code}");
    }
    // The policy refused two of them (the role, and deleting twice).
    for code in ["FORBIDDEN", "ALREADY_DELETED"] {
        let found = value(
            &docs,
            telemetry::POLICY_DENIALS,
            &[function, ("Code", code)],
        );
        assert_eq!(found, Some(&1.into()), "{code}");
    }
    assert_eq!(
        value(
            &docs,
            telemetry::POLICY_DENIALS,
            &[function, ("Code", "UNAUTHORIZED")]
        ),
        None
    );
    let units = &docs
        .iter()
        .find(|d| d.get(telemetry::LATENCY).is_some())
        .unwrap()["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert!(
        units
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Name"] == "Latency" && m["Unit"] == "Milliseconds")
    );

    // A database that is gone: the 503 is a server error.
    send_event(
        &http_app(common::unreachable_pool(), &[]).await,
        "soft_delete_user",
        "admin-deletes-client",
    )
    .await;
    let docs = documents(collector);
    assert_eq!(
        value(&docs, telemetry::SERVER_ERRORS, &[function]),
        Some(&1.into())
    );
    assert_eq!(
        value(
            &docs,
            telemetry::RESPONSES,
            &[function, ("Code", "CONNECTION_FAILED")]
        ),
        Some(&1.into())
    );
}
