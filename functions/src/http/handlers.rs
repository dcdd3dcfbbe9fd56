//! The handlers, one a route. Each parses the request into a typed command, checks
//! who is asking, and hands over to the store; the order of checks is the
//! source app's: the id (400), the token (401), then the rate limit (429),
//! the texts and the body (400, 413), and the store's policy, lookup and
//! act. A refusal between the token and the store is counted
//! (`App::counting_refusal`); the store audits what reaches it.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext;

use super::app::{App, answer};
use super::idempotency;
use super::problem::Problem;
use super::request::{self, MAX_BODY_BYTES};
use super::routes::Route;
use crate::domain::{ActorId, TargetId};
use crate::store::audited::{Deps, Origin};
use crate::store::deletion::{self, Summary};
use crate::store::errors::RequestError;
use crate::store::trash;

/// A mutation, as the caller asked for it.
enum Command {
    SoftDelete {
        reason: Option<String>,
    },
    Purge {
        reason: String,
    },
    Restore,
    PlaceLegalHold {
        reason: String,
        expires_at: Option<DateTime<Utc>>,
    },
    LiftLegalHold {
        reason: Option<String>,
    },
}

impl Command {
    async fn execute(
        self,
        deps: &Deps<'_>,
        actor: ActorId,
        target: TargetId,
        origin: &Origin,
    ) -> Result<Summary, RequestError> {
        match self {
            Command::SoftDelete { reason } => {
                deletion::soft_delete(deps, actor, target, reason, origin).await
            }
            Command::Purge { reason } => deletion::purge(deps, actor, target, reason, origin).await,
            Command::Restore => deletion::restore(deps, actor, target, origin).await,
            Command::PlaceLegalHold { reason, expires_at } => {
                deletion::place_legal_hold(deps, actor, target, reason, expires_at, origin).await
            }
            Command::LiftLegalHold { reason } => {
                deletion::lift_legal_hold(deps, actor, target, reason, origin).await
            }
        }
    }
}

pub async fn soft_delete(app: State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    mutate(&app, &id, req, Route::SoftDelete, |body| {
        Ok(Command::SoftDelete {
            reason: request::optional_reason(body)?,
        })
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn purge(app: State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    mutate(&app, &id, req, Route::Purge, |body| {
        Ok(Command::Purge {
            reason: request::purge_reason(body)?,
        })
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn restore(app: State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    mutate(&app, &id, req, Route::Restore, |body| {
        request::no_fields(body).map(|()| Command::Restore)
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn place_legal_hold(
    app: State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    mutate(&app, &id, req, Route::PlaceLegalHold, |body| {
        let (reason, expires_at) = request::legal_hold(body, Utc::now())?;
        Ok(Command::PlaceLegalHold { reason, expires_at })
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn lift_legal_hold(
    app: State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    mutate(&app, &id, req, Route::LiftLegalHold, |body| {
        Ok(Command::LiftLegalHold {
            reason: request::optional_reason(body)?,
        })
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn list_deleted(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let listed = async {
        let actor = app.authenticate(&parts.headers)?;
        let origin = origin(&parts);
        let checked = async {
            app.admit(actor, Route::ListDeleted).await?;
            let origin = origin.as_ref().map_err(Clone::clone)?;
            let (filter, page) = request::list_query(query.as_deref())?;
            Ok((filter, page, origin))
        };
        let (filter, page, origin) = app
            .counting_refusal(
                actor,
                Route::ListDeleted,
                origin.as_ref().ok(),
                checked.await,
            )
            .await?;
        Ok::<_, Problem>(answer(
            trash::list(&app.deps(), actor, &filter, page, origin).await,
        ))
    };
    listed.await.unwrap_or_else(IntoResponse::into_response)
}

async fn mutate(
    app: &App,
    raw_id: &str,
    req: Request,
    route: Route,
    parse: impl FnOnce(&serde_json::Value) -> Result<Command, Problem>,
) -> Result<Response, Problem> {
    let target = request::user_id(raw_id)?;
    let (parts, body) = req.into_parts();
    let actor = app.authenticate(&parts.headers)?;
    let origin = origin(&parts);
    let checked = async {
        app.admit(actor, route).await?;
        let origin = origin.as_ref().map_err(Clone::clone)?;
        let idempotency_key = idempotency_key(&parts.headers)?;
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES + 1)
            .await
            .map_err(|_| request::too_large())?;
        let body = request::json(&bytes)?;
        let command = parse(&body)?;
        let idempotency = idempotency_key.map(|key| {
            let fingerprint =
                idempotency::fingerprint(parts.method.as_str(), parts.uri.path(), &body);
            (key, fingerprint)
        });
        Ok((command, idempotency, origin))
    };
    let (command, idempotency, origin) = app
        .counting_refusal(actor, route, origin.as_ref().ok(), checked.await)
        .await?;
    let deps = app.deps();
    let executed = async {
        let summary = command.execute(&deps, actor, target, origin).await?;
        app.publish_now(&summary).await;
        Ok(summary)
    };
    let once = app.once(actor, idempotency, executed);
    let answered = once.await;
    app.counting_refusal(actor, route, Some(origin), answered)
        .await
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    headers
        .get("idempotency-key")
        .map(|raw| {
            idempotency::parse_key(raw.as_bytes()).ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_IDEMPOTENCY_KEY",
                    "an Idempotency-Key is 1 to 255 visible ASCII characters",
                )
            })
        })
        .transpose()
}

fn origin(parts: &Parts) -> Result<Origin, Problem> {
    request::origin(&parts.headers, parts.extensions.get::<RequestContext>())
}
