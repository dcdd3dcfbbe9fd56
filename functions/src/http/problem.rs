//! Errors as `application/problem+json` (RFC 9457), each with a stable `code`
//! that callers may branch on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use erasure_policy::Code;

use crate::store::errors::RequestError;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Seconds a caller should wait before retrying a request the database could
/// not serve (it restarts, fails over, or was busy).
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// Seconds a caller should wait while deletions are paused: a person, or the
/// alarm returning to OK, resumes them.
const PAUSED_RETRY_AFTER_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub retry_after_secs: Option<u64>,
    /// Members beyond the standard ones, such as the active order counts.
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            code,
            detail: detail.into(),
            retry_after_secs: None,
            extra: Map::new(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    fn with(mut self, name: &str, value: impl Into<Value>) -> Problem {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("urn:erasure:problem:{}", self.code.to_ascii_lowercase().replace('_', "-")),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Value::Object(members) = &mut body {
            members.extend(self.extra.clone());
        }
        body
    }
}

/// Left on a problem response for the metrics: its code, and whether the
/// policy refused.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    pub code: &'static str,
    pub policy_denial: bool,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let answered = Answered {
            code: self.code,
            policy_denial: self.extra.contains_key("rule"),
        };
        let mut response = (self.status, self.body().to_string()).into_response();
        response.extensions_mut().insert(answered);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<&RequestError> for Problem {
    fn from(e: &RequestError) -> Problem {
        let code = e.code();
        match e {
            RequestError::UnknownActor => Problem::new(
                StatusCode::UNAUTHORIZED,
                code,
                "the token's subject is not a user",
            ),
            RequestError::Denied { code: denied, rule } => {
                let status = match denied {
                    Code::AlreadyDeleted
                    | Code::NotSoftDeleted
                    | Code::GracePeriodExpired
                    | Code::LegalHold
                    | Code::NotOnHold => StatusCode::CONFLICT,
                    _ => StatusCode::FORBIDDEN,
                };
                Problem::new(status, code, denial_detail(*denied)).with("rule", rule.as_str())
            }
            RequestError::PolicyUnavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "the authorization policy is unavailable; nothing was changed",
            ),
            RequestError::Paused { alarm, since } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                format!(
                    "deletions are paused since {} by the alarm {alarm}, until it is resolved; nothing was changed",
                    since.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            )
            .with("pausedBy", alarm.as_str())
            .retry_after(PAUSED_RETRY_AFTER_SECS),
            RequestError::PauseUnknown => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "deletions are paused: whether they may go on cannot be checked now; nothing was changed",
            )
            .retry_after(UNAVAILABLE_RETRY_AFTER_SECS),
            RequestError::NotFound => Problem::new(StatusCode::NOT_FOUND, code, "no such user"),
            RequestError::ActiveOrders {
                catering,
                on_demand,
            } => Problem::new(
                StatusCode::CONFLICT,
                code,
                "the user has active orders; complete or cancel them first",
            )
            .with("activeCateringOrders", *catering)
            .with("activeOnDemandOrders", *on_demand)
            .with("totalActiveOrders", catering + on_demand),
            RequestError::Conflict => Problem::new(
                StatusCode::CONFLICT,
                code,
                "another live user now has this user's email",
            ),
            RequestError::ForeignKeyViolation => Problem::new(
                StatusCode::CONFLICT,
                code,
                "a row the deletion plan does not cover still references the user",
            ),
            RequestError::Timeout => Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                code,
                "the transaction did not finish in time and was rolled back",
            ),
            RequestError::Unavailable(_) | RequestError::Busy(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "the database is unavailable; nothing was changed",
            )
            .retry_after(UNAVAILABLE_RETRY_AFTER_SECS),
            RequestError::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code,
                "an unexpected error; nothing was changed",
            ),
            RequestError::ListingFailed(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code,
                "an unexpected error while listing deleted users; nothing was changed",
            ),
        }
    }
}

fn denial_detail(code: Code) -> &'static str {
    match code {
        Code::SuperAdminProtected => "a SUPER_ADMIN cannot be deleted",
        Code::SelfDeletion => "you cannot delete yourself",
        Code::AlreadyDeleted => "the user is already deleted",
        Code::NotSoftDeleted => "the user is not deleted",
        Code::GracePeriodExpired => {
            "the grace period has ended; the user can no longer be restored"
        }
        Code::LegalHold => "the user is under a legal hold; lift it before a permanent deletion",
        Code::NotOnHold => "the user is not under a legal hold",
        Code::SelfHoldLift => "you cannot lift a hold placed on yourself",
        _ => "you may not do this",
    }
}
