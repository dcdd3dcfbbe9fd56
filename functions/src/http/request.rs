//! Turning what the caller sent into typed values, or a 400 that says what
//! was wrong. Nothing here touches the database.

use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::request::RequestContext;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::problem::Problem;
use super::text::{self, Lines};
use crate::domain::TargetId;
use crate::domain::UserType;
use crate::store::audited::Origin;
use crate::store::profiles::{DeletedFilter, Page};

/// Request bodies are small JSON objects; anything larger is refused unread.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest reason kept in the audit log and on the profile.
pub const MAX_REASON_CHARS: usize = 1000;
/// Shortest reason a permanent deletion needs (the source app's rule).
pub const MIN_PURGE_REASON_CHARS: usize = 10;

/// A user id from the path: a UUID in its hyphenated form, any case. It is
/// compared as a value, so `ABC…` and `abc…` name the same user.
pub fn user_id(raw: &str) -> Result<TargetId, Problem> {
    if raw.is_empty() {
        return Err(Problem::bad_request("INVALID_ID", "the user id is missing"));
    }
    hyphenated_uuid(raw).map(TargetId).ok_or_else(|| {
        Problem::bad_request("INVALID_ID", format!("the user id {raw:?} is not a UUID"))
    })
}

/// A UUID in its 36-character hyphenated form (as `openapi.yaml` declares
/// ids), not the braced, URN or bare forms `Uuid` would also take.
fn hyphenated_uuid(raw: &str) -> Option<Uuid> {
    Uuid::try_parse(raw).ok().filter(|_| raw.len() == 36)
}

/// The body as JSON (`{}` when empty), within the size cap.
pub fn json(body: &[u8]) -> Result<serde_json::Value, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request("INVALID_BODY", format!("the body is not JSON: {e}")))
}

pub fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the body is over {MAX_BODY_BYTES} bytes"),
    )
}

fn typed<T: DeserializeOwned>(body: &serde_json::Value) -> Result<T, Problem> {
    T::deserialize(body).map_err(|e| Problem::bad_request("INVALID_BODY", e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
}

/// `{reason?}`: an optional reason (a soft delete, a hold's lifting). A
/// blank one is no reason: stored as NULL, like an absent one.
pub fn optional_reason(body: &serde_json::Value) -> Result<Option<String>, Problem> {
    let ReasonBody { reason } = typed(body)?;
    let reason = reason.map(|r| reason_text(&r, 0)).transpose()?;
    Ok(reason.filter(|r| !r.is_empty()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    confirmed: Option<bool>,
    reason: Option<String>,
}

/// `{confirmed: true, reason}`: a permanent deletion is confirmed and explained.
pub fn purge_reason(body: &serde_json::Value) -> Result<String, Problem> {
    let PurgeBody { confirmed, reason } = typed(body)?;
    if confirmed != Some(true) {
        return Err(Problem::bad_request(
            "CONFIRMATION_REQUIRED",
            "a permanent deletion needs \"confirmed\": true",
        ));
    }
    reason_text(reason.as_deref().unwrap_or(""), MIN_PURGE_REASON_CHARS)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegalHoldBody {
    reason: Option<String>,
    expires_at: Option<String>,
}

/// `{reason, expiresAt?}`: a hold is explained like a purge (at least 10
/// characters that show), and lasts until lifted or until `expiresAt`, an
/// RFC 3339 time at least a minute after `now` (an expiry the hold reaches
/// before anyone reads it protects nothing, and the clocks of the function
/// and the database may differ by a little).
pub fn legal_hold(
    body: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(String, Option<DateTime<Utc>>), Problem> {
    let LegalHoldBody { reason, expires_at } = typed(body)?;
    let reason = reason_text(reason.as_deref().unwrap_or(""), MIN_PURGE_REASON_CHARS)?;
    let expires_at = expires_at
        .map(|raw| {
            let at = DateTime::parse_from_rfc3339(&raw)
                .map_err(|e| {
                    Problem::bad_request(
                        "INVALID_EXPIRY",
                        format!("expiresAt {raw:?} is not an RFC 3339 time: {e}"),
                    )
                })?
                .with_timezone(&Utc);
            if at < now + chrono::Duration::minutes(1) {
                return Err(Problem::bad_request(
                    "INVALID_EXPIRY",
                    "expiresAt must be at least a minute from now",
                ));
            }
            Ok(at)
        })
        .transpose()?;
    Ok((reason, expires_at))
}

/// Restore takes no fields; an empty body or `{}`.
pub fn no_fields(body: &serde_json::Value) -> Result<(), Problem> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    typed::<Empty>(body).map(|_| ())
}

/// `raw` as `text::clean` leaves it, or a 400 with `code` saying which
/// character of `what` is refused.
fn checked_text<'a>(
    raw: &'a str,
    lines: Lines,
    code: &'static str,
    what: &str,
) -> Result<&'a str, Problem> {
    text::clean(raw, lines).map_err(|f| Problem::bad_request(code, format!("{what} holds {f}")))
}

/// A reason may span lines; its minimum counts the characters that show,
/// its maximum every character sent.
fn reason_text(raw: &str, min_chars: usize) -> Result<String, Problem> {
    let reason = checked_text(raw, Lines::Many, "INVALID_REASON", "the reason")?;
    if text::visible_chars(reason) < min_chars {
        return Err(Problem::bad_request(
            "INVALID_REASON",
            format!("the reason needs at least {min_chars} characters that show"),
        ));
    }
    if raw.chars().count() > MAX_REASON_CHARS {
        return Err(Problem::bad_request(
            "INVALID_REASON",
            format!("the reason is over {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason.to_owned())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    #[serde(rename = "type")]
    user_type: Option<String>,
    deleted_by: Option<String>,
    deleted_after: Option<String>,
    deleted_before: Option<String>,
    search: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

impl ListQuery {
    /// An empty parameter is no filter: an HTML form sends every field,
    /// `?deletedAfter=&search=`, the empty ones too.
    fn without_empty(self) -> ListQuery {
        let given = |v: Option<String>| v.filter(|v| !v.is_empty());
        ListQuery {
            user_type: given(self.user_type),
            deleted_by: given(self.deleted_by),
            deleted_after: given(self.deleted_after),
            deleted_before: given(self.deleted_before),
            search: given(self.search),
            page: given(self.page),
            limit: given(self.limit),
        }
    }
}

/// The trash listing's query: `type`, `deletedBy`, `deletedAfter`,
/// `deletedBefore` (RFC 3339 or a date), `search`, `page` (from 1) and
/// `limit` (1 to 100, 20 by default); an empty one is as if absent.
pub fn list_query(raw: Option<&str>) -> Result<(DeletedFilter, Page), Problem> {
    let invalid = |detail: String| Problem::bad_request("INVALID_QUERY", detail);
    let q = serde_urlencoded::from_str::<ListQuery>(raw.unwrap_or(""))
        .map_err(|e| invalid(format!("the query is not valid: {e}")))?
        .without_empty();
    let number = |name: &str, value: Option<String>, default: u32| -> Result<u32, Problem> {
        value.map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| invalid(format!("{name}={v:?} is not a whole number")))
        })
    };
    let page = Page::new(number("page", q.page, 1)?, number("limit", q.limit, 20)?)
        .map_err(|e| invalid(e.to_owned()))?;
    let filter = DeletedFilter {
        user_type: q
            .user_type
            .map(|t| {
                t.parse::<UserType>()
                    .map_err(|_| invalid(format!("type={t:?} is not a user type")))
            })
            .transpose()?,
        deleted_by: q
            .deleted_by
            .map(|id| {
                hyphenated_uuid(&id)
                    .ok_or_else(|| invalid(format!("deletedBy={id:?} is not a UUID")))
            })
            .transpose()?,
        deleted_after: q
            .deleted_after
            .map(|t| instant("deletedAfter", &t))
            .transpose()?,
        deleted_before: q
            .deleted_before
            .map(|t| instant("deletedBefore", &t))
            .transpose()?,
        search: q.search.map(|s| search_text(&s)).transpose()?.flatten(),
    };
    Ok((filter, page))
}

/// The search term: one line; a blank one is no filter.
fn search_text(raw: &str) -> Result<Option<String>, Problem> {
    let term = checked_text(raw, Lines::One, "INVALID_SEARCH", "search")?;
    Ok((!term.is_empty()).then(|| term.to_owned()))
}

fn instant(name: &str, raw: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            // A full-date (RFC 3339 §5.6) is exactly YYYY-MM-DD; chrono would
            // also take unpadded months and days.
            let full_date = raw.len() == 10;
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .filter(|_| full_date)
                .map(|d| d.and_time(Default::default()).and_utc())
                .ok_or(())
        })
        .map_err(|_| {
            Problem::bad_request(
                "INVALID_QUERY",
                format!("{name}={raw:?} is not an RFC 3339 time or a YYYY-MM-DD date"),
            )
        })
}

/// Longest user agent the audit log keeps (the rest is cut off).
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// Where the request came from, for the audit log: API Gateway's view of the
/// source IP and its request id (the caller cannot forge either), and the
/// user agent, which is one line of text (UTF-8; a NUL or a control
/// character in it is a 400, as in every text the service records).
pub fn origin(headers: &HeaderMap, context: Option<&RequestContext>) -> Result<Origin, Problem> {
    let (source_ip, request_id) = match context {
        Some(RequestContext::ApiGatewayV2(c)) => (
            c.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            c.request_id.as_deref(),
        ),
        _ => (None, None),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| {
            let ua = std::str::from_utf8(v.as_bytes()).map_err(|_| {
                Problem::bad_request("INVALID_USER_AGENT", "the User-Agent is not UTF-8")
            })?;
            let ua = checked_text(ua, Lines::One, "INVALID_USER_AGENT", "the User-Agent")?;
            Ok::<_, Problem>(ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
        })
        .transpose()?
        .filter(|ua| !ua.is_empty());
    let request_id = request_id
        .map(|id| {
            checked_text(id, Lines::One, "INVALID_REQUEST_CONTEXT", "the request id")
                .map(str::to_owned)
        })
        .transpose()?;
    Ok(Origin {
        source_ip,
        user_agent,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_hyphenated_uuids_in_any_case() {
        let lower = user_id("6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b").unwrap();
        assert_eq!(
            user_id("6F1C2A34-5B6D-4E7F-8A9B-0C1D2E3F4A5B").unwrap(),
            lower
        );
        for bad in [
            "",
            "42",
            "6f1c2a345b6d4e7f8a9b0c1d2e3f4a5b",
            "{6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b}",
            "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5g",
            "../profiles",
        ] {
            let p = user_id(bad).unwrap_err();
            assert_eq!(
                (p.status, p.code),
                (StatusCode::BAD_REQUEST, "INVALID_ID"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bodies_are_capped_json_objects_without_unknown_fields() {
        assert_eq!(json(b"  ").unwrap(), json!({}));
        assert_eq!(
            json(&vec![b' '; MAX_BODY_BYTES + 1]).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(json(b"{reason").unwrap_err().code, "INVALID_BODY");
        assert_eq!(optional_reason(&json!({})).unwrap(), None);
        assert_eq!(
            optional_reason(&json!({"reason": " spam "}))
                .unwrap()
                .as_deref(),
            Some("spam")
        );
        assert_eq!(
            optional_reason(&json!({"reasn": "typo"})).unwrap_err().code,
            "INVALID_BODY"
        );
        assert_eq!(
            optional_reason(&json!({"reason": 5})).unwrap_err().code,
            "INVALID_BODY"
        );
        assert_eq!(
            optional_reason(&json!([])).unwrap_err().code,
            "INVALID_BODY"
        );
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(
            optional_reason(&json!({"reason": long})).unwrap_err().code,
            "INVALID_REASON"
        );
        assert!(no_fields(&json!({})).is_ok());
        assert_eq!(
            no_fields(&json!({"force": true})).unwrap_err().code,
            "INVALID_BODY"
        );
    }

    #[test]
    fn a_purge_is_confirmed_and_explained() {
        let ok = purge_reason(&json!({"confirmed": true, "reason": "GDPR erasure request #123"}));
        assert_eq!(ok.unwrap(), "GDPR erasure request #123");
        for (body, code) in [
            (
                json!({"reason": "GDPR erasure request"}),
                "CONFIRMATION_REQUIRED",
            ),
            (
                json!({"confirmed": false, "reason": "GDPR erasure request"}),
                "CONFIRMATION_REQUIRED",
            ),
            (json!({"confirmed": true}), "INVALID_REASON"),
            (
                json!({"confirmed": true, "reason": "   too short   "}),
                "INVALID_REASON",
            ),
            (
                json!({"confirmed": "yes", "reason": "GDPR erasure request"}),
                "INVALID_BODY",
            ),
        ] {
            assert_eq!(purge_reason(&body).unwrap_err().code, code, "{body}");
        }
    }

    #[test]
    fn list_queries_parse_every_filter_or_say_which_is_wrong() {
        let (filter, page) = list_query(Some(
            "type=CLIENT&deletedBy=6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b&deletedAfter=2026-11-01&deletedBefore=2026-11-20T12:00:00Z&search=%20ann%20&page=2&limit=5",
        ))
        .unwrap();
        assert_eq!(page, Page::new(2, 5).unwrap());
        assert_eq!(filter.user_type, Some(UserType::Client));
        assert_eq!(filter.search.as_deref(), Some("ann"));
        assert_eq!(
            filter.deleted_after.unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            filter.deleted_before.unwrap().to_rfc3339(),
            "2026-11-20T12:00:00+00:00"
        );
        let unfiltered = (DeletedFilter::default(), Page::new(1, 20).unwrap());
        assert_eq!(list_query(None).unwrap(), unfiltered);
        let empty_form = "type=&deletedBy=&deletedAfter=&deletedBefore=&search=&page=&limit=";
        assert_eq!(list_query(Some(empty_form)).unwrap(), unfiltered);
        for (query, names) in [
            ("type=WIZARD", "type"),
            ("deletedBy=me", "deletedBy"),
            ("deletedAfter=yesterday", "deletedAfter"),
            ("page=0", "page"),
            ("limit=101", "limit"),
            ("page=two", "page"),
            ("sort=name", "sort"),
        ] {
            let p = list_query(Some(query)).unwrap_err();
            assert_eq!(p.code, "INVALID_QUERY");
            assert!(p.detail.contains(names), "{query}: {}", p.detail);
        }
    }
}
