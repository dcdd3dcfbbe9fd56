//! The API Gateway (HTTP API, payload 2.0) request events in `events/`: one
//! per scenario of the HTTP contract, signed for the local stack's HS256
//! key, acting as and on the users of `erasure_fixtures::cast`.

use std::path::Path;

use erasure::http::routes::Route;
use erasure_fixtures::cast::*;
use erasure_fixtures::tokens;
use serde_json::{Value, json};
use uuid::Uuid;

/// 2100-01-01: the events stay valid; `expired-token` expired 2026-01-01.
const VALID_UNTIL: i64 = 4_102_444_800;
const EXPIRED_AT: i64 = 1_767_225_600;

struct Scenario {
    route: Route,
    name: &'static str,
    actor: Option<Uuid>,
    /// The user id as written in the path (may be malformed on purpose).
    target: String,
    query: &'static str,
    body: Option<Value>,
    expired: bool,
}

fn scenario(route: Route, name: &'static str, actor: Uuid, target: Uuid) -> Scenario {
    Scenario {
        route,
        name,
        actor: Some(actor),
        target: target.to_string(),
        query: "",
        body: None,
        expired: false,
    }
}

fn scenarios() -> Vec<Scenario> {
    use Route::*;
    let reason = || Some(json!({"reason": "requested by the user"}));
    let purge = |reason: &str| Some(json!({"confirmed": true, "reason": reason}));
    vec![
        Scenario {
            body: reason(),
            ..scenario(SoftDelete, "admin-deletes-client", ADMIN, ALICE)
        },
        scenario(SoftDelete, "super-admin-deletes-client", SUPER_ADMIN, ALICE),
        Scenario {
            actor: None,
            ..scenario(SoftDelete, "unauthenticated", ADMIN, ALICE)
        },
        Scenario {
            expired: true,
            ..scenario(SoftDelete, "expired-token", ADMIN, ALICE)
        },
        scenario(SoftDelete, "helpdesk-denied", HELPDESK, ALICE),
        scenario(SoftDelete, "vendor-denied", VENDOR, ALICE),
        scenario(SoftDelete, "client-denied", CLIENT, ALICE),
        scenario(SoftDelete, "driver-denied", DRIVER, ALICE),
        scenario(SoftDelete, "super-admin-protected", ADMIN, SUPER_ADMIN),
        // The actor's own id in capitals: still the actor.
        Scenario {
            target: ADMIN.to_string().to_uppercase(),
            ..scenario(SoftDelete, "self-deletion", ADMIN, ADMIN)
        },
        scenario(SoftDelete, "active-catering-orders", ADMIN, BOB),
        scenario(SoftDelete, "active-on-demand-orders", ADMIN, CAROL),
        Scenario {
            target: "not-a-uuid".into(),
            ..scenario(SoftDelete, "malformed-id", ADMIN, ALICE)
        },
        Scenario {
            target: String::new(),
            ..scenario(SoftDelete, "missing-id", ADMIN, ALICE)
        },
        scenario(SoftDelete, "unknown-user", ADMIN, NOBODY),
        scenario(SoftDelete, "already-deleted", ADMIN, FRANK),
        Scenario {
            body: purge("GDPR erasure request #4411"),
            ..scenario(Purge, "admin-purges-user", ADMIN, DAVE)
        },
        Scenario {
            body: Some(json!({"reason": "GDPR erasure request #4411"})),
            ..scenario(Purge, "unconfirmed", ADMIN, DAVE)
        },
        Scenario {
            body: purge("because"),
            ..scenario(Purge, "short-reason", ADMIN, DAVE)
        },
        Scenario {
            body: purge("GDPR erasure request #4412"),
            ..scenario(Purge, "helpdesk-denied", HELPDESK, DAVE)
        },
        Scenario {
            body: purge("GDPR erasure request #4413"),
            ..scenario(Purge, "legal-hold", ADMIN, JUDY)
        },
        scenario(Restore, "admin-restores-user", ADMIN, FRANK),
        scenario(Restore, "not-soft-deleted", ADMIN, ALICE),
        scenario(Restore, "email-taken", ADMIN, HEIDI),
        scenario(Restore, "grace-period-over", ADMIN, GRACE),
        scenario(Restore, "helpdesk-denied", HELPDESK, FRANK),
        scenario(ListDeleted, "helpdesk-lists", HELPDESK, NOBODY),
        Scenario {
            query: "type=CLIENT&deletedBy=00000000-0000-4000-8000-000000000002&search=example.com&page=1&limit=1",
            ..scenario(ListDeleted, "filtered", ADMIN, NOBODY)
        },
        scenario(ListDeleted, "client-denied", CLIENT, NOBODY),
        Scenario {
            body: Some(json!({"reason": "preservation order, case 24-cv-1187"})),
            ..scenario(PlaceLegalHold, "admin-places-hold", ADMIN, ERIN)
        },
        Scenario {
            body: Some(json!({
                "reason": "regulator inquiry 2026-17",
                "expiresAt": "2099-01-01T00:00:00Z"
            })),
            ..scenario(
                PlaceLegalHold,
                "super-admin-places-hold-until",
                SUPER_ADMIN,
                FRANK,
            )
        },
        Scenario {
            body: Some(json!({"reason": "hold"})),
            ..scenario(PlaceLegalHold, "short-reason", ADMIN, ERIN)
        },
        Scenario {
            body: Some(json!({
                "reason": "preservation order, case 24-cv-1187",
                "expiresAt": "2020-01-01T00:00:00Z"
            })),
            ..scenario(PlaceLegalHold, "expiry-in-the-past", ADMIN, ERIN)
        },
        Scenario {
            body: Some(json!({"reason": "preservation order, case 24-cv-1187"})),
            ..scenario(PlaceLegalHold, "helpdesk-denied", HELPDESK, ERIN)
        },
        Scenario {
            body: Some(json!({"reason": "preservation order, case 24-cv-1187"})),
            ..scenario(PlaceLegalHold, "unknown-user", ADMIN, NOBODY)
        },
        Scenario {
            body: Some(json!({"reason": "case 24-cv-1187 settled"})),
            ..scenario(LiftLegalHold, "admin-lifts-hold", ADMIN, JUDY)
        },
        scenario(LiftLegalHold, "not-on-hold", ADMIN, ALICE),
        scenario(LiftLegalHold, "self-lift", ADMIN, ADMIN),
        scenario(LiftLegalHold, "client-denied", CLIENT, JUDY),
    ]
}

fn event(s: &Scenario, secret: &[u8]) -> Value {
    let method = s.route.method().to_string();
    let path = s.route.path().replace("{userId}", &s.target);
    let route_key = format!("{method} {}", s.route.path());
    let mut headers = json!({
        "accept": "application/json",
        "content-type": "application/json",
        "host": "erasure.local",
        "user-agent": "erasure-admin/1.0",
        "x-forwarded-for": "203.0.113.10",
    });
    let expires = if s.expired { EXPIRED_AT } else { VALID_UNTIL };
    if let Some(actor) = s.actor {
        headers["authorization"] =
            json!(format!("Bearer {}", tokens::sign(secret, actor, expires)));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": s.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "erasure",
            "domainName": "erasure.local",
            "domainPrefix": "erasure",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "erasure-admin/1.0"
            },
            "requestId": format!("local-{}-{}", s.route.function(), s.name),
            "routeKey": route_key,
            "stage": "$default",
            "time": "22/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1_795_338_000_000_i64
        },
        "isBase64Encoded": false
    });
    if s.route.path().contains("{userId}") && !s.target.is_empty() {
        event["pathParameters"] = json!({ "userId": s.target });
    }
    if !s.query.is_empty() {
        let params: serde_json::Map<String, Value> = s
            .query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(body) = &s.body {
        event["body"] = json!(body.to_string());
    }
    event
}

/// Writes every scenario's event under `dir/<function>/<scenario>.json`.
pub fn write(dir: &Path, secret: &[u8]) -> std::io::Result<usize> {
    let scenarios = scenarios();
    for s in &scenarios {
        let folder = dir.join(s.route.function());
        std::fs::create_dir_all(&folder)?;
        let json = serde_json::to_string_pretty(&event(s, secret)).expect("JSON");
        std::fs::write(folder.join(format!("{}.json", s.name)), json + "\n")?;
    }
    Ok(scenarios.len())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed events are what the table writes: edit the table and
    /// run `erasure-dev events`, never the files by hand.
    #[test]
    fn the_committed_events_are_the_tables() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let secret = std::fs::read(root.join("infra/local/jwt-hs256.secret")).unwrap();
        let dir = std::env::temp_dir().join(format!("erasure-events-{}", std::process::id()));
        let written = super::write(&dir, &secret).unwrap();
        let mut compared = 0;
        for function in std::fs::read_dir(&dir).unwrap() {
            let function = function.unwrap().path();
            for file in std::fs::read_dir(&function).unwrap() {
                let file = file.unwrap().path();
                let committed = root
                    .join("events")
                    .join(function.file_name().unwrap())
                    .join(file.file_name().unwrap());
                let (fresh, kept) = (
                    std::fs::read_to_string(&file).unwrap(),
                    std::fs::read_to_string(&committed).unwrap_or_default(),
                );
                assert_eq!(
                    fresh,
                    kept,
                    "{} differs: run `erasure-dev events`",
                    committed.display()
                );
                compared += 1;
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(compared, written);
    }
}
