//! Configuration only the HTTP functions read: who signs tokens, CORS and the
//! rate limits. (Their transactions' bounds are the store's: `RequestConfig`.)

use jsonwebtoken::Algorithm;

use super::{ConfigError, Env};

/// Where the token keys come from; at least one is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKeys {
    /// The Secrets Manager id of the HS256 secret (JWT_HS256_SECRET_ARN).
    pub hs256_secret_id: Option<String>,
    /// A public key (JWT_PUBLIC_KEY_PEM) and its algorithm
    /// (JWT_PUBLIC_KEY_ALGORITHM, RS256 or ES256; RS256 by default).
    pub public_key: Option<(Algorithm, String)>,
    /// A JWKS document (JWT_JWKS), keys chosen by `kid`.
    pub jwks: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub issuer: String,
    pub audience: String,
    pub keys: TokenKeys,
    /// Origins allowed to call from a browser (CORS_ALLOWED_ORIGINS, comma
    /// separated); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// Deletes, purges and restores per actor per minute (RATE_LIMIT_PER_MINUTE, 10).
    pub mutations_per_minute: u32,
    /// Trash listings per actor per minute (RATE_LIMIT_LIST_PER_MINUTE, 60).
    pub listings_per_minute: u32,
}

impl HttpConfig {
    pub fn from_env() -> Result<HttpConfig, ConfigError> {
        HttpConfig::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<HttpConfig, ConfigError> {
        let env = Env(&lookup);
        let public_key = match env.text("JWT_PUBLIC_KEY_PEM") {
            None => None,
            Some(pem) => {
                let algorithm = match env.text("JWT_PUBLIC_KEY_ALGORITHM").as_deref() {
                    None | Some("RS256") => Algorithm::RS256,
                    Some("ES256") => Algorithm::ES256,
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            name: "JWT_PUBLIC_KEY_ALGORITHM",
                            value: other.to_owned(),
                            expected: "RS256 or ES256",
                        });
                    }
                };
                Some((algorithm, pem.replace("\\n", "\n")))
            }
        };
        let keys = TokenKeys {
            hs256_secret_id: env.text("JWT_HS256_SECRET_ARN"),
            public_key,
            jwks: env.text("JWT_JWKS"),
        };
        if keys.hs256_secret_id.is_none() && keys.public_key.is_none() && keys.jwks.is_none() {
            return Err(ConfigError::Missing(
                "JWT_HS256_SECRET_ARN, JWT_PUBLIC_KEY_PEM or JWT_JWKS",
            ));
        }
        Ok(HttpConfig {
            issuer: env
                .text("JWT_ISSUER")
                .ok_or(ConfigError::Missing("JWT_ISSUER"))?,
            audience: env
                .text("JWT_AUDIENCE")
                .ok_or(ConfigError::Missing("JWT_AUDIENCE"))?,
            keys,
            cors_allowed_origins: env
                .text("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            mutations_per_minute: env
                .positive("RATE_LIMIT_PER_MINUTE", 10)?
                .min(u32::MAX.into()) as u32,
            listings_per_minute: env
                .positive("RATE_LIMIT_LIST_PER_MINUTE", 60)?
                .min(u32::MAX.into()) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<HttpConfig, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        HttpConfig::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    const BASE: [(&str, &str); 3] = [
        ("JWT_ISSUER", "https://auth.example/auth/v1"),
        ("JWT_AUDIENCE", "authenticated"),
        ("JWT_HS256_SECRET_ARN", "erasure/jwt"),
    ];

    #[test]
    fn defaults_follow_the_source_app() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.keys.hs256_secret_id.as_deref(), Some("erasure/jwt"));
        assert_eq!(c.mutations_per_minute, 10);
        assert_eq!(c.listings_per_minute, 60);
        assert!(c.cors_allowed_origins.is_empty());
    }

    #[test]
    fn a_key_source_issuer_and_audience_are_required() {
        let err = config(&BASE[..2]).unwrap_err();
        assert!(err.to_string().contains("JWT_JWKS"), "{err}");
        let err = config(&BASE[1..]).unwrap_err();
        assert_eq!(err, ConfigError::Missing("JWT_ISSUER"));
    }

    #[test]
    fn public_keys_cors_and_limits_are_read() {
        let mut vars = BASE[..2].to_vec();
        vars.extend([
            ("JWT_PUBLIC_KEY_PEM", "-----BEGIN PUBLIC KEY-----\\nabc"),
            ("JWT_PUBLIC_KEY_ALGORITHM", "ES256"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://admin.example, https://ops.example",
            ),
            ("RATE_LIMIT_PER_MINUTE", "3"),
        ]);
        let c = config(&vars).unwrap();
        let (alg, pem) = c.keys.public_key.unwrap();
        assert_eq!(alg, Algorithm::ES256);
        assert!(
            pem.contains("KEY-----\nabc"),
            "escaped newlines are restored"
        );
        assert_eq!(
            c.cors_allowed_origins,
            ["https://admin.example", "https://ops.example"]
        );
        assert_eq!(c.mutations_per_minute, 3);

        let bad_algorithm = [
            BASE[0],
            BASE[1],
            ("JWT_PUBLIC_KEY_PEM", "x"),
            ("JWT_PUBLIC_KEY_ALGORITHM", "HS512"),
        ];
        let err = config(&bad_algorithm).unwrap_err();
        assert!(
            err.to_string()
                .contains("JWT_PUBLIC_KEY_ALGORITHM=\"HS512\""),
            "{err}"
        );
        let err = config(&[&BASE[..], &[("RATE_LIMIT_PER_MINUTE", "0")]].concat()).unwrap_err();
        assert!(err.to_string().contains("RATE_LIMIT_PER_MINUTE"), "{err}");
    }
}
