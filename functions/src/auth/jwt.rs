//! Bearer-token verification. A token names its actor (`sub`) and nothing
//! more: the actor's role is read from the database, never from a claim.
//!
//! Accepted: HS256 with the shared secret (Supabase style), RS256 and ES256
//! with configured public keys (PEM, or a JWKS document with key ids). The
//! header's algorithm must be one a configured key is for, and is checked
//! against that key only, so an HS256 token cannot be verified with an RSA
//! public key used as an HMAC secret. `exp`, `nbf`, `iss` and `aud` are
//! checked; `exp`, `sub`, `iss` and `aud` are required.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use uuid::Uuid;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// Why a request has no verified actor (each answers 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("no configured key matches the token")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token lacks a required claim or has a malformed one")]
    BadClaims,
    #[error("the token's subject is not a user id")]
    BadSubject,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the {0:?} public key is not valid PEM for that algorithm")]
    Pem(Algorithm),
    #[error("the JWKS document is not valid: {0}")]
    Jwks(String),
    #[error("JWKS key {kid:?} uses {alg}, which is not accepted (RS256 and ES256 are)")]
    JwksAlgorithm { kid: Option<String>, alg: String },
}

struct Key {
    algorithm: Algorithm,
    kid: Option<String>,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys, issuer and audience.
pub struct Verifier {
    issuer: String,
    audience: String,
    keys: Vec<Key>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl Verifier {
    pub fn new(issuer: &str, audience: &str) -> Verifier {
        Verifier {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys: Vec::new(),
        }
    }

    /// Accepts HS256 tokens signed with `secret`.
    pub fn with_hs256_secret(mut self, secret: &[u8]) -> Verifier {
        self.keys.push(Key {
            algorithm: Algorithm::HS256,
            kid: None,
            key: DecodingKey::from_secret(secret),
        });
        self
    }

    /// Accepts RS256 or ES256 tokens signed by the private half of `pem`.
    pub fn with_public_pem(
        mut self,
        algorithm: Algorithm,
        pem: &[u8],
    ) -> Result<Verifier, KeyError> {
        let key = match algorithm {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
            Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
            other => return Err(KeyError::Pem(other)),
        }
        .map_err(|_| KeyError::Pem(algorithm))?;
        self.keys.push(Key {
            algorithm,
            kid: None,
            key,
        });
        Ok(self)
    }

    /// Accepts tokens signed by any RS256 or ES256 key of a JWKS document,
    /// chosen by the token's `kid`.
    pub fn with_jwks(mut self, json: &str) -> Result<Verifier, KeyError> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| KeyError::Jwks(e.to_string()))?;
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            let algorithm = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("RS256") => Algorithm::RS256,
                Some("ES256") => Algorithm::ES256,
                other => {
                    return Err(KeyError::JwksAlgorithm {
                        kid,
                        alg: other.unwrap_or("no alg").to_owned(),
                    });
                }
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Jwks(e.to_string()))?;
            self.keys.push(Key {
                algorithm,
                kid,
                key,
            });
        }
        Ok(self)
    }

    /// The actor of an `Authorization` header value (`Bearer <jwt>`, the
    /// scheme in any case, as RFC 9110 section 11.1 has it), as a canonical UUID.
    pub fn actor(&self, authorization: Option<&str>) -> Result<Uuid, TokenError> {
        let token = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Missing)?;
        let header = decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::InvalidAlgorithm => {
                TokenError::AlgorithmNotAllowed
            }
            _ => TokenError::Malformed,
        })?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .peekable();
        if candidates.peek().is_none() {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let key = candidates
            .find(|k| k.kid.is_none() || k.kid == header.kid)
            .ok_or(TokenError::UnknownKey)?;

        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => TokenError::BadClaims,
                ErrorKind::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
                _ => TokenError::Malformed,
            })?
            .claims;
        Uuid::parse_str(&claims.sub).map_err(|_| TokenError::BadSubject)
    }
}
