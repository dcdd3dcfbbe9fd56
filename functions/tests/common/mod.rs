//! Helpers shared by the integration tests: moto, and the deletion flow's dependencies.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::sync::LazyLock;
use std::time::Duration;

use aws_config::SdkConfig;
use erasure::aws::sdk;
use erasure::store::deletion::Deps;
use erasure_policy::Policy;
use sqlx::PgPool;

/// The real policy module, loaded once per test binary as a container does.
pub static POLICY: LazyLock<Policy> = LazyLock::new(Policy::embedded);

/// What the deletion flow needs, with the production bounds.
pub fn deps(db: &PgPool) -> Deps<'_> {
    Deps {
        db,
        policy: &POLICY,
        grace_period: Duration::from_secs(30 * 86_400),
        transaction_timeout: Duration::from_secs(10),
        lock_timeout: Duration::from_secs(2),
    }
}

/// The SDK configuration pointed at moto, as the local stack exports it.
pub async fn moto() -> SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|url| url.starts_with("http://127.0.0.1")),
        "AWS_ENDPOINT_URL must point at moto on loopback: run the tests with `make test`"
    );
    sdk::load().await
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn put_secret(sdk: &SdkConfig, name: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
}
