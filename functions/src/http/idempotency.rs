//! `Idempotency-Key` on the mutating routes: a retry with the same key and
//! request gets the first response again; the same key on another request
//! is refused (422). Keys belong to the actor who sent them and expire.
//!
//! The first request claims the key before it acts, so two copies of one
//! request racing each other cannot both act: the second sees the claim and
//! is told to retry (409). A claim whose request died (a container killed
//! mid-request) is taken over once it is older than any request can run
//! (the claims themselves: `store::idempotency_keys`).

use sha2::{Digest, Sha256};

/// A key as sent: 1 to 255 visible ASCII characters.
pub fn parse_key(raw: &[u8]) -> Option<String> {
    let valid = (1..=255).contains(&raw.len()) && raw.iter().all(|b| b.is_ascii_graphic());
    valid.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// What identifies a request: method, path and body (as canonical JSON, so
/// that whitespace or key order does not make a retry a different request).
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut hash = Sha256::new();
    for part in [method, path, &body.to_string()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(parse_key(b"retry-42").as_deref(), Some("retry-42"));
        assert_eq!(parse_key(b""), None);
        assert_eq!(parse_key(b"has space"), None);
        assert_eq!(parse_key("é".as_bytes()), None);
        assert!(parse_key(&[b'k'; 255]).is_some());
        assert_eq!(parse_key(&[b'k'; 256]), None);
    }

    #[test]
    fn the_fingerprint_ignores_json_layout_but_not_content() {
        let a = serde_json::from_str::<serde_json::Value>(r#"{"reason":"r","x":1}"#).unwrap();
        let b =
            serde_json::from_str::<serde_json::Value>("{ \"x\": 1,\n \"reason\": \"r\" }").unwrap();
        assert_eq!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("DELETE", "/p", &b)
        );
        assert_ne!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("DELETE", "/q", &a)
        );
        assert_ne!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("POST", "/p", &a)
        );
        assert_ne!(
            fingerprint("DELETE", "/p", &a),
            fingerprint("DELETE", "/p", &json!({"reason": "s", "x": 1}))
        );
    }
}
