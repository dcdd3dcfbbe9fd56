//! `openapi.yaml` against the handlers: the document has exactly the route
//! table's operations, and every answer the handlers give to the events in
//! `events/` has a documented status and validates against its schema.

use crate::common::{http_app, send};
use erasure::http::routes::Route;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast;
use serde_json::{Value, json};
use sqlx::PgPool;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML")
}

/// Follows a local `$ref` ("#/components/...") in `doc`.
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} resolves")),
        None => node,
    }
}

#[test]
fn the_document_has_exactly_the_route_tables_operations() {
    let doc = document();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.push((
                method.to_uppercase(),
                path.clone(),
                operation["operationId"].as_str().unwrap().to_owned(),
            ));
        }
    }
    documented.sort();
    let mut routes: Vec<_> = Route::ALL
        .iter()
        .map(|r| {
            (
                r.method().to_string(),
                r.path().to_owned(),
                r.operation_id().to_owned(),
            )
        })
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
}

fn operation(doc: &Value, route: Route) -> &Value {
    &doc["paths"][route.path()][route.method().as_str().to_lowercase()]
}

/// How `body` breaks the schema `reference` names (none when it conforms).
fn violations(doc: &Value, reference: &Value, body: &Value) -> Vec<String> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": reference,
        "components": doc["components"],
    });
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn the_schemas_refuse_what_the_contract_does_not_allow() {
    let doc = document();
    let summary = json!("#/components/schemas/Summary");
    let problem = json!("#/components/schemas/Problem");
    assert!(!violations(&doc, &summary, &json!({"user": {}})).is_empty());
    let unknown_code =
        json!({"type": "t", "title": "t", "status": 409, "code": "NOPE", "detail": "d"});
    assert!(!violations(&doc, &problem, &unknown_code).is_empty());
    let known_code =
        json!({"type": "t", "title": "t", "status": 409, "code": "CONFLICT", "detail": "d"});
    assert!(violations(&doc, &problem, &known_code).is_empty());
}

/// Checks one answer against the document; returns its code.
fn conforms(doc: &Value, route: Route, status: u16, content_type: &str, body: &Value) -> String {
    let responses = &operation(doc, route)["responses"];
    let response = responses.get(status.to_string()).unwrap_or_else(|| {
        panic!(
            "{} answered {status}, which is not documented",
            route.function()
        )
    });
    let response = resolve(doc, response);
    let media = &response["content"][content_type];
    assert!(
        media.is_object(),
        "{} {status} as {content_type} is not documented",
        route.function()
    );
    let errors = violations(doc, &media["schema"]["$ref"], body);
    assert!(
        errors.is_empty(),
        "{} {status}: {errors:?}\n{body}",
        route.function()
    );
    body["code"].as_str().unwrap_or("OK").to_owned()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_answer_to_the_events_is_documented_and_valid(db: PgPool) {
    cast::load(&db).await.unwrap();
    let doc = document();
    let app = http_app(db.clone(), &[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut functions: Vec<&str> = Route::ALL.iter().map(|r| r.function()).collect();
    functions.dedup();
    for function in functions {
        let dir = format!("{}/../events/{function}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            // The function's route the event was sent to, by its method.
            let method = event["requestContext"]["http"]["method"].as_str().unwrap();
            let route = Route::of(function)
                .into_iter()
                .find(|r| r.method() == method)
                .unwrap_or_else(|| panic!("{file:?}: {function} has no {method} route"));
            let answer = send(&app, &event).await;
            let content_type = answer.headers["content-type"].to_str().unwrap();
            let code = conforms(&doc, route, answer.status, content_type, &answer.body);
            seen.insert((route.function(), answer.status, code));
        }
    }
    // The events reach every kind of answer of the contract.
    let statuses: std::collections::BTreeSet<u16> = seen.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(statuses, [200, 400, 401, 403, 404, 409].into());
}

/// The reasons' patterns in `openapi.yaml` say exactly what the service
/// takes (src/http/text.rs), so that a generator from the document sends
/// only what is accepted and every refusal breaks the document.
#[test]
fn the_reason_patterns_agree_with_the_service_on_every_class_of_character() {
    use erasure::http::request::{legal_hold, optional_reason, purge_reason};
    let doc = document();
    let validates = |route: Route, body: &Value| {
        let mut schema =
            operation(&doc, route)["requestBody"]["content"]["application/json"]["schema"].clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        schema["components"] = doc["components"].clone();
        jsonschema::draft202012::new(&schema)
            .expect("a valid schema")
            .is_valid(body)
    };
    let mut samples: Vec<String> = [
        "GDPR erasure request",
        "  0123456789  ",
        "0123456789",
        "012345678",
        "東京の削除依頼です、番号12",
        "ticket 7:\r\n\tasked twice",
        "\u{feff}\u{200b}abcdefghij\u{200d}",
        "abc\u{a0}def\u{2003}ghij",
        "abcdefghi\u{180e}",
        "abcdefghi\u{115f}",
        "",
    ]
    .map(str::to_owned)
    .into();
    samples.push("\u{200b}".repeat(12));
    samples.push("x".repeat(1000));
    samples.push("x".repeat(1001));
    samples.push(format!("{} ", "x".repeat(1000)));
    for c in [
        '\0', '\u{1}', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}',
    ] {
        samples.push(format!("abcdefghij{c}k"));
    }
    for reason in &samples {
        let purge = json!({"confirmed": true, "reason": reason});
        assert_eq!(
            validates(Route::Purge, &purge),
            purge_reason(&purge).is_ok(),
            "purge reason {reason:?}"
        );
        let soft = json!({ "reason": reason });
        assert_eq!(
            validates(Route::SoftDelete, &soft),
            optional_reason(&soft).is_ok(),
            "soft delete reason {reason:?}"
        );
        let now = chrono::Utc::now();
        assert_eq!(
            validates(Route::PlaceLegalHold, &soft),
            legal_hold(&soft, now).is_ok(),
            "legal hold reason {reason:?}"
        );
        assert_eq!(
            validates(Route::LiftLegalHold, &soft),
            optional_reason(&soft).is_ok(),
            "lift reason {reason:?}"
        );
    }
}
