//! The HTTP functions: the route table (`routes`) and the router that wires
//! it (`router`), thin handlers, request parsing (`request`, with the rules
//! for free text in `text`), problem+json, and the steps
//! every request takes around the store (`app`: token, rate limit,
//! Idempotency-Key), with metrics; what an invocation is (`invocation`: a
//! request, or the deploy's smoke test). The store does the work; this module
//! turns API Gateway requests into its calls and its answers back.

pub mod app;
pub mod handlers;
pub mod idempotency;
pub mod invocation;
pub mod problem;
pub mod request;
pub mod router;
pub mod routes;
pub mod telemetry;
pub mod text;

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};

use crate::auth::keys;
use crate::config::http::HttpConfig;
use crate::container::Container;
use app::App;
use invocation::Invocation;
use router::router;
use routes::Route;

/// The whole life of one HTTP function's container: configuration, clients,
/// the pool, the policy and the token keys once (their two secrets read
/// concurrently), then one invocation at a time (a request, or the deploy's
/// smoke test), metrics flushed after each. `function` serves its routes
/// of the table.
pub async fn serve(function: &'static str) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let metrics = telemetry::install(function)?;
    let http = HttpConfig::from_env()?;
    let key_secret = http.keys.hs256_secret_id.as_deref();
    let (container, verifier) = Container::init_with(key_secret.as_slice(), async |secrets| {
        keys::verifier(&http, secrets).await
    })
    .await?;
    let app = Arc::new(App {
        container,
        http,
        verifier: verifier?,
    });
    let routes = router(app.clone(), &Route::of(function));
    let handler = service_fn(move |event: LambdaEvent<Invocation>| {
        let (app, routes) = (app.clone(), routes.clone());
        async move { invocation::answer(&app, routes, event).await }
    });
    metrics_cloudwatch_embedded::lambda::service::run(metrics, handler).await
}
