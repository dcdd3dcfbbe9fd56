//! The router a function answers with: the route table wired to the
//! handlers, 405 and 404 as problem+json, metrics and CORS around them.

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, on};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::app::App;
use super::handlers;
use super::problem::Problem;
use super::routes::Route;
use super::telemetry;

/// A router for `routes`: the function of one route serves only that one,
/// and a test or a local server may serve them all. Other methods on a known
/// path get 405, unknown paths 404, both as problem+json.
pub fn router(app: Arc<App>, routes: &[Route]) -> Router {
    let mut router = Router::new();
    for &route in routes {
        let method = route.method();
        router = router.route(
            route.path(),
            handler(route).fallback(move || method_not_allowed(method.clone())),
        );
        if let Some(path) = route.without_id() {
            router = router.route(
                &path,
                on(
                    route.method().try_into().expect("a standard method"),
                    missing_id,
                ),
            );
        }
    }
    router
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")
        })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            telemetry::record,
        ))
        .layer(cors(&app.http.cors_allowed_origins))
        .with_state(app)
}

async fn method_not_allowed(allowed: Method) -> impl IntoResponse {
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("this route answers {allowed} only"),
    );
    ([(axum::http::header::ALLOW, allowed.to_string())], problem)
}

async fn missing_id() -> Problem {
    Problem::bad_request("INVALID_ID", "the user id is missing")
}

/// Browser access for the configured admin origins only; none by default.
fn cors(origins: &[String]) -> CorsLayer {
    let origins = origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect::<Vec<_>>();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// The handler of `route`, on its method.
fn handler(route: Route) -> MethodRouter<Arc<App>> {
    let method = route.method().try_into().expect("a standard method");
    match route {
        Route::SoftDelete => on(method, handlers::soft_delete),
        Route::Purge => on(method, handlers::purge),
        Route::Restore => on(method, handlers::restore),
        Route::ListDeleted => on(method, handlers::list_deleted),
    }
}
