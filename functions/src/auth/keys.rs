//! The token verifier an HTTP function builds at cold start from its
//! configuration: the HS256 secret is read from Secrets Manager, public keys
//! and JWKS documents come from configuration.

use super::jwt::{KeyError, Verifier};
use crate::aws::secrets::{SecretError, Secrets};
use crate::config::http::HttpConfig;

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

pub async fn verifier(config: &HttpConfig, secrets: &Secrets) -> Result<Verifier, VerifierError> {
    let mut verifier = Verifier::new(&config.issuer, &config.audience);
    if let Some(id) = &config.keys.hs256_secret_id {
        verifier = verifier.with_hs256_secret(secrets.string(id).await?.as_bytes());
    }
    if let Some((algorithm, pem)) = &config.keys.public_key {
        verifier = verifier.with_public_pem(*algorithm, pem.as_bytes())?;
    }
    if let Some(jwks) = &config.keys.jwks {
        verifier = verifier.with_jwks(jwks)?;
    }
    Ok(verifier)
}
