//! Bearer tokens, real and signed: HS256 with a shared secret, RS256 from a
//! PEM, ES256 from a JWKS document; and every way a token must be refused.

use erasure::auth::jwt::{TokenError, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use uuid::Uuid;

const ISSUER: &str = "https://auth.example.com/auth/v1";
const AUDIENCE: &str = "authenticated";
const SECRET: &[u8] = b"a-supabase-style-hs256-secret-of-32-bytes!";
const RSA_PRIVATE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rsa-private.pem"
));
const RSA_PUBLIC: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rsa-public.pem"
));
const EC_PRIVATE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ec-private.pem"
));
const EC_JWKS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ec-jwks.json"
));

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn actor() -> Uuid {
    Uuid::parse_str("6f1c2a4e-8b3d-4e5f-9a7b-0c1d2e3f4a5b").unwrap()
}

fn claims() -> Value {
    json!({ "sub": actor().to_string(), "iss": ISSUER, "aud": AUDIENCE,
            "exp": now() + 600, "iat": now(), "role": "SUPER_ADMIN" })
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn es256(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
    .unwrap()
}

/// A verifier that accepts all three kinds of key.
fn verifier() -> Verifier {
    Verifier::new(ISSUER, AUDIENCE)
        .with_hs256_secret(SECRET)
        .with_public_pem(Algorithm::RS256, RSA_PUBLIC)
        .unwrap()
        .with_jwks(EC_JWKS)
        .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn check(token: &str) -> Result<Uuid, TokenError> {
    verifier().actor(Some(&bearer(token)))
}

#[test]
fn valid_tokens_of_each_kind_name_their_actor() {
    assert_eq!(check(&hs256(&claims())), Ok(actor()));
    assert_eq!(check(&rs256(&claims())), Ok(actor()));
    assert_eq!(check(&es256(&claims(), "test-ec-1")), Ok(actor()));
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let v = verifier();
    let token = hs256(&claims());
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        assert_eq!(
            v.actor(Some(&format!("{scheme} {token}"))),
            Ok(actor()),
            "{scheme}"
        );
    }
    for scheme in ["Bearerx", "Bear", "Token"] {
        assert_eq!(
            v.actor(Some(&format!("{scheme} {token}"))),
            Err(TokenError::Missing),
            "{scheme}"
        );
    }
}

#[test]
fn the_subject_is_compared_in_canonical_form() {
    let upper = with(json!({ "sub": actor().to_string().to_uppercase() }));
    assert_eq!(check(&hs256(&upper)), Ok(actor()));
    let not_a_user = with(json!({ "sub": "service-role" }));
    assert_eq!(check(&hs256(&not_a_user)), Err(TokenError::BadSubject));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    assert_eq!(
        check(&hs256(&with(json!({ "exp": now() - 60 })))),
        Err(TokenError::Expired)
    );
    assert_eq!(
        check(&hs256(&with(json!({ "nbf": now() + 600 })))),
        Err(TokenError::NotYetValid)
    );
    // Within the 5 s leeway, a just-expired token still passes.
    assert_eq!(
        check(&hs256(&with(json!({ "exp": now() - 1 })))),
        Ok(actor())
    );
}

#[test]
fn another_issuer_or_audience_is_refused() {
    let other_issuer = with(json!({ "iss": "https://evil.example.com" }));
    assert_eq!(check(&rs256(&other_issuer)), Err(TokenError::WrongIssuer));
    let other_audience = with(json!({ "aud": "anon" }));
    assert_eq!(
        check(&rs256(&other_audience)),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn required_claims_must_be_present() {
    for missing in ["exp", "sub", "iss", "aud"] {
        let token = hs256(&with(json!({ missing: null })));
        assert_eq!(
            check(&token),
            Err(TokenError::BadClaims),
            "without {missing}"
        );
    }
}

#[test]
fn alg_none_is_refused() {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&claims())
    );
    // "none" is not an algorithm the library knows, so the header itself is refused.
    assert_eq!(check(&unsigned), Err(TokenError::Malformed));
}

#[test]
fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused() {
    // The classic confusion attack: sign HS256 with the public key as the secret.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC),
    )
    .unwrap();
    assert_eq!(check(&forged), Err(TokenError::BadSignature));
    // And with no HS256 secret configured, HS256 is not accepted at all.
    let rsa_only = Verifier::new(ISSUER, AUDIENCE)
        .with_public_pem(Algorithm::RS256, RSA_PUBLIC)
        .unwrap();
    assert_eq!(
        rsa_only.actor(Some(&bearer(&forged))),
        Err(TokenError::AlgorithmNotAllowed)
    );
}

#[test]
fn algorithms_without_a_configured_key_are_refused() {
    let hs_only = Verifier::new(ISSUER, AUDIENCE).with_hs256_secret(SECRET);
    assert_eq!(
        hs_only.actor(Some(&bearer(&rs256(&claims())))),
        Err(TokenError::AlgorithmNotAllowed)
    );
    let hs384 = encode(
        &Header::new(Algorithm::HS384),
        &claims(),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(check(&hs384), Err(TokenError::AlgorithmNotAllowed));
}

#[test]
fn an_unknown_key_id_is_refused() {
    assert_eq!(
        check(&es256(&claims(), "rotated-away")),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn a_tampered_token_is_refused() {
    let token = rs256(&claims());
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<u8> = signature.bytes().collect();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let tampered_signature = format!("{head}.{}", String::from_utf8(sig).unwrap());
    assert_eq!(check(&tampered_signature), Err(TokenError::BadSignature));

    // A payload swapped for another user's, keeping the original signature.
    let original = hs256(&claims());
    let parts: Vec<&str> = original.split('.').collect();
    let other = hs256(&with(json!({ "sub": Uuid::new_v4().to_string() })));
    let other_payload = other.split('.').nth(1).unwrap();
    let swapped = format!("{}.{other_payload}.{}", parts[0], parts[2]);
    assert_eq!(check(&swapped), Err(TokenError::BadSignature));
}

#[test]
fn garbage_and_missing_headers_are_refused() {
    let v = verifier();
    assert_eq!(v.actor(None), Err(TokenError::Missing));
    assert_eq!(v.actor(Some("")), Err(TokenError::Missing));
    assert_eq!(v.actor(Some("Bearer ")), Err(TokenError::Missing));
    assert_eq!(
        v.actor(Some(&hs256(&claims()))),
        Err(TokenError::Missing),
        "no Bearer prefix"
    );
    assert_eq!(
        v.actor(Some("Basic dXNlcjpwYXNz")),
        Err(TokenError::Missing)
    );
    for garbage in ["abc", "a.b.c", "...."] {
        assert_eq!(
            v.actor(Some(&bearer(garbage))),
            Err(TokenError::Malformed),
            "{garbage}"
        );
    }
    // A valid header with a garbage payload fails on the signature, which is
    // checked before the payload is parsed at all.
    let garbage_payload = bearer("eyJhbGciOiJIUzI1NiJ9.%%%.sig");
    assert_eq!(
        v.actor(Some(&garbage_payload)),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn bad_key_material_is_a_configuration_error() {
    assert!(
        Verifier::new(ISSUER, AUDIENCE)
            .with_public_pem(Algorithm::RS256, b"not a key")
            .is_err()
    );
    assert!(
        Verifier::new(ISSUER, AUDIENCE)
            .with_public_pem(Algorithm::HS256, RSA_PUBLIC)
            .is_err()
    );
    assert!(
        Verifier::new(ISSUER, AUDIENCE)
            .with_jwks("{\"keys\": 3}")
            .is_err()
    );
    let hs_jwks = r#"{"keys":[{"kty":"oct","alg":"HS256","k":"c2VjcmV0"}]}"#;
    assert!(Verifier::new(ISSUER, AUDIENCE).with_jwks(hs_jwks).is_err());
}
