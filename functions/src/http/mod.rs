//! The HTTP functions: the route table (`routes`) and the router that wires
//! it (`router`), thin handlers, request parsing, problem+json, and the steps
//! every request takes around the store (`app`: token, rate limit,
//! Idempotency-Key), with metrics. The store does the work; this module
//! turns API Gateway requests into its calls and its answers back.

pub mod app;
pub mod handlers;
pub mod idempotency;
pub mod problem;
pub mod request;
pub mod router;
pub mod routes;
pub mod telemetry;

use std::sync::Arc;

use crate::config::http::HttpConfig;
use crate::container::Container;
use app::App;
use router::router;
use routes::Route;

/// The whole life of one HTTP function's container: configuration, clients,
/// the pool, the policy and the token keys once, then one request per
/// invocation, metrics flushed after each.
pub async fn serve(route: Route) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let metrics = telemetry::install(route.function())?;
    let container = Container::init().await?;
    let app = App::init(container, HttpConfig::from_env()?).await?;
    metrics_cloudwatch_embedded::lambda::service::run_http(metrics, router(Arc::new(app), &[route]))
        .await
}
