//! The route table: the four routes of the HTTP contract and the function
//! that serves each. `openapi.yaml` and `template.yaml` are checked against
//! it; `router` wires it to the handlers.

use axum::http::Method;

use crate::domain::functions;

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
            Route::SoftDelete => functions::SOFT_DELETE_USER,
            Route::Purge => functions::PURGE_USER,
            Route::Restore => functions::RESTORE_USER,
            Route::ListDeleted => functions::LIST_DELETED_USERS,
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
