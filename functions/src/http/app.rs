//! What an HTTP function holds for its lifetime, and the steps every request
//! takes before and after the store acts: authenticate, rate limit,
//! Idempotency-Key, and counting the refusals among them.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::problem::Problem;
use super::routes::Route;
use crate::auth::jwt::Verifier;
use crate::auth::keys::{self, VerifierError};
use crate::config::http::HttpConfig;
use crate::container::Container;
use crate::domain::ActorId;
use crate::jobs::relay;
use crate::store::audited::{Deps, Origin};
use crate::store::deletion::Summary;
use crate::store::errors::RequestError;
use crate::store::idempotency_keys::{self as idempotency, Claim, Stored};
use crate::store::refused_requests::{self, Refusal};
use crate::store::request_rate::{self, Bucket, Verdict};

pub struct App {
    pub container: Container,
    pub http: HttpConfig,
    pub verifier: Verifier,
}

#[derive(Debug, thiserror::Error)]
pub enum AppInitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Verifier(#[from] VerifierError),
}

/// The header a replayed response carries.
pub const REPLAYED: &str = "idempotent-replayed";

impl App {
    pub async fn init(container: Container, http: HttpConfig) -> Result<App, AppInitError> {
        let verifier = keys::verifier(&http, &container.secrets).await?;
        Ok(App {
            container,
            http,
            verifier,
        })
    }

    pub fn deps(&self) -> Deps<'_> {
        Deps {
            db: &self.container.db,
            policy: &self.container.policy,
            settings: self.container.config.requests,
            pauses: self.container.pauses.clone(),
        }
    }

    /// Publishes the erasure event a committed request wrote, if the bus is
    /// configured; otherwise (or if it fails) the relay will.
    pub async fn publish_now(&self, summary: &Summary) {
        if let (Some(bus), Some(event)) = (&self.container.events, summary.event) {
            relay::publish_now(&self.container.db, bus, event).await;
        }
    }

    /// The actor named by a valid bearer token, or 401.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<ActorId, Problem> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        self.verifier
            .actor(authorization)
            .map(ActorId)
            .map_err(|e| Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", e.to_string()))
    }

    /// Counts the request against the actor's limit for the route, or 429.
    pub async fn admit(&self, actor: ActorId, route: Route) -> Result<(), Problem> {
        let (bucket, per_minute) = if route.mutates() {
            (Bucket::Mutations, self.http.mutations_per_minute)
        } else {
            (Bucket::Listings, self.http.listings_per_minute)
        };
        let now = chrono::Utc::now();
        match request_rate::check(&self.container.db, actor.0, bucket, per_minute, now).await {
            Ok(Verdict::Allowed) => Ok(()),
            Ok(Verdict::Limited { retry_after }) => {
                tracing::warn!(%actor, ?route, "rate limited");
                Err(Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    format!("at most {per_minute} of these requests a minute"),
                )
                .retry_after(retry_after.as_secs_f64().ceil() as u64))
            }
            Err(e) => Err(db_problem(e)),
        }
    }

    /// Counts a refusal of an authenticated actor's request before the
    /// store's flow (a 4xx: the rate limit, a bad body or header, an
    /// Idempotency-Key reused) in `refused_requests`, with its `origin` when
    /// that could be read, and passes the result on. A refusal that cannot
    /// be counted is logged instead.
    pub async fn counting_refusal<T>(
        &self,
        actor: ActorId,
        route: Route,
        origin: Option<&Origin>,
        result: Result<T, Problem>,
    ) -> Result<T, Problem> {
        if let Err(problem) = &result
            && problem.status.is_client_error()
        {
            let unknown = Origin::default();
            let refusal = Refusal {
                actor,
                route: route.function(),
                status: problem.status.as_u16(),
                code: problem.code,
                origin: origin.unwrap_or(&unknown),
            };
            let now = chrono::Utc::now();
            if let Err(e) = refused_requests::count(&self.container.db, &refusal, now).await {
                tracing::error!(error = %e, %actor, code = problem.code, "could not count a refused request");
            }
        }
        result
    }

    /// Runs a mutation once per Idempotency-Key: a retry with the same key
    /// and request gets the first answer; a failure worth retrying (timeout,
    /// unavailable) frees the key for the retry. The key's own refusals
    /// (reused on another request, still in use) are the `Err`.
    pub async fn once<T: Serialize>(
        &self,
        actor: ActorId,
        idempotency: Option<(String, String)>,
        act: impl Future<Output = Result<T, RequestError>>,
    ) -> Result<Response, Problem> {
        let Some((key, fingerprint)) = idempotency else {
            return Ok(answer(act.await));
        };
        let db = &self.container.db;
        match idempotency::claim(db, actor.0, &key, &fingerprint).await {
            Err(e) => return Err(db_problem(e)),
            Ok(Claim::Replay(stored)) => return Ok(replay(stored)),
            Ok(Claim::Mismatch) => {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was used for a different request",
                ));
            }
            Ok(Claim::InProgress) => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "IDEMPOTENCY_KEY_IN_USE",
                    "a request with this Idempotency-Key is still running",
                )
                .retry_after(1));
            }
            Ok(Claim::Claimed) => {}
        }
        let response = answer(act.await);
        let status = response.status();
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            if let Err(e) = idempotency::release(db, actor.0, &key).await {
                tracing::error!(error = %e, "could not release an Idempotency-Key");
            }
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("an in-memory body");
        let stored = Stored {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        if let Err(e) = idempotency::complete(db, actor.0, &key, &stored).await {
            // The act committed; only its replay is lost. Answer it.
            tracing::error!(error = %e, "could not store the response for an Idempotency-Key");
        }
        Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
    }
}

/// The response to what the store did: 200 with the result, or the problem.
pub fn answer<T: Serialize>(result: Result<T, RequestError>) -> Response {
    match result {
        Ok(value) => (StatusCode::OK, axum::Json(value)).into_response(),
        Err(e) => problem(&e).into_response(),
    }
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        super::problem::CONTENT_TYPE
    };
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::HeaderName::from_static(REPLAYED),
                HeaderValue::from_static("true"),
            ),
        ],
        stored.body,
    )
        .into_response()
}

/// The problem for a failure of the request's bookkeeping (rate limit,
/// Idempotency-Key), mapped like any database failure.
fn db_problem(e: sqlx::Error) -> Problem {
    problem(&RequestError::from(e))
}

fn problem(e: &RequestError) -> Problem {
    if e.is_unexpected() {
        // A 500 is a bug: keep the whole chain.
        tracing::error!(error = ?e, "unexpected failure");
    }
    Problem::from(e)
}
