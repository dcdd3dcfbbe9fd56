//! What an HTTP function's Lambda invocation is: an API Gateway request,
//! answered through the router, or the deploy's smoke test (sent to the
//! version directly), answered with the health check.

use std::convert::Infallible;

use axum::Router;
use lambda_http::request::LambdaRequest;
use lambda_runtime::LambdaEvent;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use tower::ServiceExt;

use super::app::App;
use crate::health::{self, Health, SmokeTest};

pub enum Invocation {
    SmokeTest(SmokeTest),
    Request(Box<LambdaRequest>),
}

// The smoke test first: its one field, and no other, matches no request
// event. A request is then read as `lambda_http` reads it (from the raw
// JSON, which it needs).
impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if let Ok(smoke_test) = serde_json::from_str::<SmokeTest>(raw.get()) {
            return Ok(Invocation::SmokeTest(smoke_test));
        }
        serde_json::from_str::<LambdaRequest>(raw.get())
            .map(|request| Invocation::Request(Box::new(request)))
            .map_err(D::Error::custom)
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Answer {
    Health(Health),
    /// The response event for API Gateway, as `lambda_http` writes it.
    Response(serde_json::Value),
}

pub async fn answer(
    app: &App,
    router: Router,
    event: LambdaEvent<Invocation>,
) -> Result<Answer, Infallible> {
    match event.payload {
        Invocation::SmokeTest(_) => Ok(Answer::Health(smoke_test(app).await)),
        Invocation::Request(request) => {
            let adapter = lambda_http::Adapter::from(router);
            let response = adapter
                .oneshot(LambdaEvent::new(*request, event.context))
                .await?;
            Ok(Answer::Response(
                serde_json::to_value(response).expect("a response event is JSON"),
            ))
        }
    }
}

/// The answer to the smoke test: the function's health, as its container has it.
pub async fn smoke_test(app: &App) -> Health {
    let report = health::check(&app.container.db, &app.container.policy).await;
    tracing::info!(healthy = report.healthy, problems = ?report.problems, "smoke test");
    report
}
