//! Helpers shared by the integration tests that need the local stack's moto.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use aws_config::SdkConfig;
use erasure::aws::sdk;

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
