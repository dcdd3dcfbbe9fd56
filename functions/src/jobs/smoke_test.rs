//! The new version's smoke test, before any traffic: the deploy's hook
//! invokes the version CodeDeploy is about to shift to (read from the
//! deployment, never guessed) with `SmokeTest`, directly, not through the
//! alias, so no user request reaches it. It passes when the version starts
//! (its secrets read, its pool made, its policy loaded) and reports itself
//! healthy: the database reachable as the functions' role, the schema at
//! the version the code expects, the policy module the pinned one.

use crate::aws::codedeploy::Target;
use crate::aws::lambda::Lambda;
use crate::health::{Health, SmokeTest};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmokeTestError {
    #[error("{0}")]
    Unreachable(String),
    #[error("version {version} of {function} failed ({kind}): {detail}")]
    Failed {
        function: String,
        version: String,
        kind: String,
        detail: String,
    },
    #[error("version {version} of {function} answered what is not a health report: {detail}")]
    Unreadable {
        function: String,
        version: String,
        detail: String,
    },
    #[error("version {version} of {function} is not healthy: {}", problems.join("; "))]
    Unhealthy {
        function: String,
        version: String,
        problems: Vec<String>,
    },
}

pub async fn run(lambda: &Lambda, target: &Target) -> Result<Health, SmokeTestError> {
    let event = serde_json::to_vec(&SmokeTest::EVENT).expect("a plain struct");
    let (function, version) = (target.name.clone(), target.target_version.clone());
    let invoked = lambda
        .invoke(&function, &version, &event)
        .await
        .map_err(SmokeTestError::Unreachable)?;
    let text = String::from_utf8_lossy(&invoked.payload).into_owned();
    if let Some(kind) = invoked.function_error {
        return Err(SmokeTestError::Failed {
            function,
            version,
            kind,
            detail: text,
        });
    }
    let health: Health = serde_json::from_str(&text).map_err(|e| SmokeTestError::Unreadable {
        function: function.clone(),
        version: version.clone(),
        detail: format!("{e}: {text}"),
    })?;
    if health.healthy {
        Ok(health)
    } else {
        Err(SmokeTestError::Unhealthy {
            function,
            version,
            problems: health.problems,
        })
    }
}
