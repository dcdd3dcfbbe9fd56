//! The route table: the four routes of the HTTP contract, the function that
//! serves each, and the router a function answers with.

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, on};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::app::App;
use super::handlers;
use super::problem::Problem;
use super::telemetry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    SoftDelete,
    Purge,
    Restore,
    ListDeleted,
}

impl Route {
    pub const ALL: [Route; 4] = [
        Route::SoftDelete,
        Route::Purge,
        Route::Restore,
        Route::ListDeleted,
    ];

    pub fn method(self) -> Method {
        match self {
            Route::SoftDelete | Route::Purge => Method::DELETE,
            Route::Restore => Method::POST,
            Route::ListDeleted => Method::GET,
        }
    }

    /// The path as API Gateway and the OpenAPI document write it.
    pub fn path(self) -> &'static str {
        match self {
            Route::SoftDelete => "/api/users/{userId}",
            Route::Purge => "/api/users/{userId}/purge",
            Route::Restore => "/api/users/{userId}/restore",
            Route::ListDeleted => "/api/users/deleted",
        }
    }

    /// The Lambda function (and binary) that serves the route.
    pub fn function(self) -> &'static str {
        match self {
            Route::SoftDelete => "soft_delete_user",
            Route::Purge => "purge_user",
            Route::Restore => "restore_user",
            Route::ListDeleted => "list_deleted_users",
        }
    }

    /// Whether the route changes data (rate limited as a mutation, and
    /// honouring Idempotency-Key).
    pub fn mutates(self) -> bool {
        self != Route::ListDeleted
    }

    fn handler(self) -> MethodRouter<Arc<App>> {
        let method = self.method().try_into().expect("a standard method");
        match self {
            Route::SoftDelete => on(method, handlers::soft_delete),
            Route::Purge => on(method, handlers::purge),
            Route::Restore => on(method, handlers::restore),
            Route::ListDeleted => on(method, handlers::list_deleted),
        }
    }

    /// The same path with an empty user id, which the source app answers 400.
    fn without_id(self) -> Option<String> {
        self.path()
            .contains("{userId}")
            .then(|| self.path().replace("{userId}", ""))
    }
}

/// A router for `routes`: the function of one route serves only that one,
/// and a test or a local server may serve them all. Other methods on a known
/// path get 405, unknown paths 404, both as problem+json.
pub fn router(app: Arc<App>, routes: &[Route]) -> Router {
    let mut router = Router::new();
    for &route in routes {
        let method = route.method();
        router = router.route(
            route.path(),
            route
                .handler()
                .fallback(move || method_not_allowed(method.clone())),
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
