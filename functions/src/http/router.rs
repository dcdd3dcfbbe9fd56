//! The router a function answers with: the route table wired to the
//! handlers, 405 and 404 as problem+json, metrics and CORS around them.

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::app::App;
use super::handlers;
use super::problem::Problem;
use super::routes::Route;
use super::telemetry;

/// A router for `routes`: a function serves only its own, and a test or a
/// local server may serve them all. Other methods on a known path get 405,
/// unknown paths 404, both as problem+json.
pub fn router(app: Arc<App>, routes: &[Route]) -> Router {
    let mut router = Router::new();
    for (path, on_path) in by_path(routes) {
        let allowed: Vec<String> = on_path.iter().map(|r| r.method().to_string()).collect();
        let allowed = allowed.join(", ");
        let mut methods = MethodRouter::new();
        let mut missing = MethodRouter::new();
        for &route in &on_path {
            methods = methods.merge(handler(route));
            missing = missing.on(filter(route), missing_id);
        }
        router = router.route(
            path,
            methods.fallback(move || method_not_allowed(allowed.clone())),
        );
        if let Some(path) = on_path[0].without_id() {
            router = router.route(&path, missing);
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

/// `routes` by path, in the table's order: the legal hold's two methods
/// share one.
fn by_path(routes: &[Route]) -> Vec<(&'static str, Vec<Route>)> {
    let mut paths: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for &route in routes {
        match paths.iter_mut().find(|(path, _)| *path == route.path()) {
            Some((_, on_path)) => on_path.push(route),
            None => paths.push((route.path(), vec![route])),
        }
    }
    paths
}

/// `allowed`: the path's methods, as the Allow header lists them.
async fn method_not_allowed(allowed: String) -> impl IntoResponse {
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("this route answers {allowed} only"),
    );
    ([(axum::http::header::ALLOW, allowed)], problem)
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
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
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

fn filter(route: Route) -> MethodFilter {
    route.method().try_into().expect("a standard method")
}

/// The handler of `route`, on its method.
fn handler(route: Route) -> MethodRouter<Arc<App>> {
    let method = filter(route);
    match route {
        Route::SoftDelete => on(method, handlers::soft_delete),
        Route::Purge => on(method, handlers::purge),
        Route::Restore => on(method, handlers::restore),
        Route::ListDeleted => on(method, handlers::list_deleted),
        Route::PlaceLegalHold => on(method, handlers::place_legal_hold),
        Route::LiftLegalHold => on(method, handlers::lift_legal_hold),
    }
}
