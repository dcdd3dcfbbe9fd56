//! The route table: the routes of the HTTP contract and the function that
//! serves each (one route a function, but the legal hold's, whose two
//! methods share a path and a function). `openapi.yaml` and `template.yaml`
//! are checked against it; `router` wires it to the handlers.

use axum::http::Method;

use crate::domain::functions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    SoftDelete,
    Purge,
    Restore,
    ListDeleted,
    PlaceLegalHold,
    LiftLegalHold,
}

impl Route {
    pub const ALL: [Route; 6] = [
        Route::SoftDelete,
        Route::Purge,
        Route::Restore,
        Route::ListDeleted,
        Route::PlaceLegalHold,
        Route::LiftLegalHold,
    ];

    /// The routes `function` serves.
    pub fn of(function: &str) -> Vec<Route> {
        Route::ALL
            .into_iter()
            .filter(|r| r.function() == function)
            .collect()
    }

    pub fn method(self) -> Method {
        match self {
            Route::SoftDelete | Route::Purge | Route::LiftLegalHold => Method::DELETE,
            Route::Restore => Method::POST,
            Route::ListDeleted => Method::GET,
            Route::PlaceLegalHold => Method::PUT,
        }
    }

    /// The path as API Gateway and the OpenAPI document write it.
    pub fn path(self) -> &'static str {
        match self {
            Route::SoftDelete => "/api/users/{userId}",
            Route::Purge => "/api/users/{userId}/purge",
            Route::Restore => "/api/users/{userId}/restore",
            Route::ListDeleted => "/api/users/deleted",
            Route::PlaceLegalHold | Route::LiftLegalHold => "/api/users/{userId}/legal-hold",
        }
    }

    /// The Lambda function (and binary) that serves the route.
    pub fn function(self) -> &'static str {
        match self {
            Route::SoftDelete => functions::SOFT_DELETE_USER,
            Route::Purge => functions::PURGE_USER,
            Route::Restore => functions::RESTORE_USER,
            Route::ListDeleted => functions::LIST_DELETED_USERS,
            Route::PlaceLegalHold | Route::LiftLegalHold => functions::LEGAL_HOLD,
        }
    }

    /// The operation's id in `openapi.yaml`: the function's name, but for
    /// the two operations of the legal hold's function.
    pub fn operation_id(self) -> &'static str {
        match self {
            Route::PlaceLegalHold => "place_legal_hold",
            Route::LiftLegalHold => "lift_legal_hold",
            other => other.function(),
        }
    }

    /// Whether the route changes data (rate limited as a mutation, and
    /// honouring Idempotency-Key).
    pub fn mutates(self) -> bool {
        self != Route::ListDeleted
    }

    /// The same path with an empty user id, which the source app answers 400.
    pub fn without_id(self) -> Option<String> {
        self.path()
            .contains("{userId}")
            .then(|| self.path().replace("{userId}", ""))
    }
}
