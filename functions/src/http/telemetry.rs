//! CloudWatch metrics for every request, in the embedded metric format: the
//! function's log lines carry them, so a request never waits on a metrics
//! API. The `Function` dimension is set once per container (see `serve`).
//!
//! - `Requests`, `ServerErrors` (5xx), `Timeouts` (408: a lock wait or the
//!   transaction bound, a refusal the caller may retry, not a fault of the
//!   code) and `Latency` (ms), by function, and again by function and
//!   `Version` (the version that answered, `AWS_LAMBDA_FUNCTION_VERSION`),
//!   which is what a canary's rollback alarms read; `Paused`, the 503s of
//!   paused deletions, a deliberate refusal counted apart from `ServerErrors`
//!   (so a pause neither keeps its own alarm firing nor rolls a deploy back);
//! - `Responses` by function and `Code` (`OK` or the problem's code);
//! - `PolicyDenials` by function and `Code`;
//! - `ColdStart`, by the Lambda integration of the metrics crate.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

use metrics_cloudwatch_embedded::Collector;

use super::problem::Answered;
use crate::store::errors::DELETIONS_PAUSED;

pub const REQUESTS: &str = "Requests";
pub const SERVER_ERRORS: &str = "ServerErrors";
pub const TIMEOUTS: &str = "Timeouts";
pub const PAUSED: &str = "Paused";
pub const LATENCY: &str = "Latency";
pub const RESPONSES: &str = "Responses";
pub const POLICY_DENIALS: &str = "PolicyDenials";
pub const COLD_START: &str = "ColdStart";
/// The dimension naming the version that answered.
pub const VERSION: &str = "Version";

/// This container's function version, as Lambda sets it (`$LATEST` when
/// run outside Lambda, as `cargo lambda watch` does).
static FUNCTION_VERSION: OnceLock<String> = OnceLock::new();

fn version() -> &'static str {
    FUNCTION_VERSION.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_else(|_| "$LATEST".to_owned())
    })
}

/// Installs the process's metrics recorder for `function` (once per
/// container): the namespace, the `Function` dimension, the cold start
/// metric, and the units.
pub fn install(
    function: &'static str,
) -> Result<&'static Collector, Box<dyn std::error::Error + Send + Sync>> {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(crate::aws::metrics::NAMESPACE)
        .with_dimension("Function", function)
        .lambda_cold_start_metric(COLD_START)
        .with_lambda_request_id("RequestId")
        .init()?;
    describe();
    Ok(collector)
}

fn describe() {
    describe_counter!(REQUESTS, Unit::Count, "requests answered");
    describe_counter!(SERVER_ERRORS, Unit::Count, "5xx answers");
    describe_counter!(TIMEOUTS, Unit::Count, "408 answers");
    describe_counter!(PAUSED, Unit::Count, "refused while deletions are paused");
    describe_histogram!(LATENCY, Unit::Milliseconds, "time to answer");
    describe_counter!(RESPONSES, Unit::Count, "answers by code");
    describe_counter!(POLICY_DENIALS, Unit::Count, "requests the policy refused");
}

pub async fn record(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status();
    let answered = response.extensions().get::<Answered>().copied();
    let code = answered.map_or(if status.is_success() { "OK" } else { "OTHER" }, |a| a.code);
    let latency = started.elapsed().as_secs_f64() * 1000.0;
    let paused = code == DELETIONS_PAUSED;
    // Once by function (the dashboard, the paging alarms), once by function
    // and version (a canary's own traffic).
    for version in [None, Some(version())] {
        let labels: Vec<(&'static str, &'static str)> =
            version.map(|v| (VERSION, v)).into_iter().collect();
        counter!(REQUESTS, &labels).increment(1);
        if paused {
            counter!(PAUSED, &labels).increment(1);
        } else if status.is_server_error() {
            counter!(SERVER_ERRORS, &labels).increment(1);
        }
        if status == axum::http::StatusCode::REQUEST_TIMEOUT {
            counter!(TIMEOUTS, &labels).increment(1);
        }
        histogram!(LATENCY, &labels).record(latency);
    }
    counter!(RESPONSES, "Code" => code).increment(1);
    if answered.is_some_and(|a| a.policy_denial) {
        counter!(POLICY_DENIALS, "Code" => code).increment(1);
    }
    response
}
