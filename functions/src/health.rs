//! The health check: can this function reach its database, as its own
//! least-privilege role, is the schema the one the code was built for, and
//! can its policy decide? Also what every HTTP function answers to the
//! deploy's smoke test, before its version gets any traffic.

use erasure_policy::Policy;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::store::migrations;

/// The pre-traffic smoke test: sent by the deploy's hook straight to a new
/// version (API Gateway cannot send it: it wraps every request in an event
/// of its own), answered with `Health`, changing nothing. A version that
/// cannot read its secrets fails at init and answers nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeTest {
    #[serde(rename = "erasureSmokeTest")]
    pub smoke_test: bool,
}

impl SmokeTest {
    pub const EVENT: SmokeTest = SmokeTest { smoke_test: true };
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub healthy: bool,
    pub database_role: Option<String>,
    pub schema_version: Option<i64>,
    pub expected_schema_version: i64,
    /// The SHA-256 of the policy module, as the audit log records it.
    pub policy_sha256: String,
    pub problems: Vec<String>,
}

pub async fn check(db: &PgPool, policy: &Policy) -> Health {
    let expected = migrations::latest_version();
    let mut problems = Vec::new();
    let found: Result<(String, Option<i64>), sqlx::Error> = sqlx::query_as(
        "SELECT current_user::text, (SELECT max(version) FROM _sqlx_migrations WHERE success)",
    )
    .fetch_one(db)
    .await;
    let (role, version) = match found {
        Ok((role, version)) => (Some(role), version),
        Err(e) => {
            problems.push(format!("database unreachable or unreadable: {e}"));
            (None, None)
        }
    };
    if let Some(version) = version.filter(|v| *v != expected) {
        problems.push(format!(
            "schema is at version {version}, the code expects {expected}"
        ));
    } else if role.is_some() && version.is_none() {
        problems.push("the database has no migrations applied".to_owned());
    }
    if let Some(reason) = policy.unavailable() {
        problems.push(format!(
            "policy unavailable, every decision is denied: {reason}"
        ));
    }
    Health {
        healthy: problems.is_empty(),
        database_role: role,
        schema_version: version,
        expected_schema_version: expected,
        policy_sha256: policy.sha256().to_owned(),
        problems,
    }
}
