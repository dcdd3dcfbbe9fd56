//! What invokes a scheduled job, parsed into the job's options.
//!
//! Three shapes arrive:
//! - the options themselves: the template's schedules send them as their
//!   `Input`, and an operator's `cargo lambda invoke` or console test sends
//!   them by hand (`{"dryRun": true}`);
//! - an EventBridge event whose `detail` holds them (a rule's scheduled event,
//!   a replay);
//! - EventBridge Scheduler's default notification, sent when a schedule has
//!   no `Input`, whose `detail` is the string `"{}"`, not an object.
//!
//! Options refuse fields they do not know, so a misspelt `dryRun` fails the
//! invocation with the field's name instead of purging for real.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobEvent<O> {
    pub options: O,
}

impl<'de, O: DeserializeOwned> Deserialize<'de> for JobEvent<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let event = Value::deserialize(deserializer)?;
        let options = if event.get("detail-type").is_some() {
            let detail = match event.get("detail") {
                None | Some(Value::Null) => Ok(Value::Object(Default::default())),
                Some(Value::String(text)) => serde_json::from_str(text),
                Some(detail) => Ok(detail.clone()),
            };
            detail
                .and_then(options)
                .map_err(|e| D::Error::custom(format!("the EventBridge event's detail: {e}")))?
        } else {
            options(event).map_err(D::Error::custom)?
        };
        Ok(JobEvent { options })
    }
}

/// The options from a JSON object. Anything else is refused: serde would
/// read `[]` as a struct of defaults, which for the cleanup is a real run.
fn options<O: DeserializeOwned>(value: Value) -> Result<O, serde_json::Error> {
    if !value.is_object() {
        return Err(serde_json::Error::custom(format!(
            "expected a JSON object of options, got {value}"
        )));
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Options {
        #[serde(default, rename = "dryRun")]
        dry_run: bool,
    }

    fn parse(json: &str) -> Result<Options, String> {
        serde_json::from_str::<JobEvent<Options>>(json)
            .map(|e| e.options)
            .map_err(|e| e.to_string())
    }

    const SCHEDULER_DEFAULT: &str = r#"{
        "version": "0", "id": "4f5e1c9a-3c1b-4a0e-9d2f-7b6a5c4d3e2f",
        "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-22T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/erasure-dev-cleanup"],
        "detail": "{}"
    }"#;

    #[test]
    fn every_shape_gives_the_options() {
        assert_eq!(parse(r#"{"dryRun": true}"#), Ok(Options { dry_run: true }));
        assert_eq!(parse("{}"), Ok(Options::default()));
        assert_eq!(parse(SCHEDULER_DEFAULT), Ok(Options::default()));
        let rule = |detail: &str| {
            format!(
                r#"{{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {detail}}}"#
            )
        };
        assert_eq!(parse(&rule("{}")), Ok(Options::default()));
        assert_eq!(
            parse(&rule(r#"{"dryRun": true}"#)),
            Ok(Options { dry_run: true })
        );
        assert_eq!(
            parse(&rule(r#""{\"dryRun\": true}""#)),
            Ok(Options { dry_run: true })
        );
        assert_eq!(parse(&rule("null")), Ok(Options::default()));
    }

    #[test]
    fn a_misspelt_or_mistyped_option_is_an_error_naming_it() {
        let err = parse(r#"{"dryrun": true}"#).unwrap_err();
        assert!(err.contains("unknown field `dryrun`"), "{err}");
        let err = parse(r#"{"dryRun": "yes"}"#).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        let err = parse(
            r#"{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"dry_run": true}}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("detail") && err.contains("unknown field `dry_run`"),
            "{err}"
        );
        for not_an_object in ["[]", "[false]", "42", "\"\"", "null"] {
            let err = parse(not_an_object).unwrap_err();
            assert!(
                err.contains("expected a JSON object"),
                "{not_an_object}: {err}"
            );
        }
        let err = parse(r#"{"detail-type": "Scheduled Event", "detail": "[]"}"#).unwrap_err();
        assert!(err.contains("expected a JSON object"), "{err}");
    }
}
