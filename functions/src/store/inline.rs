//! Values written into a statement's text, for the simple-protocol queries
//! of `batched` (which take no parameters). Every form is built from
//! characters that cannot end a literal or start SQL: a UUID's hex and
//! hyphens, an integer's digits, an address as `IpAddr` prints it, and text
//! as the hex of its UTF-8 bytes, decoded by the server. No quoting or
//! escaping rule is involved, so none can be got wrong, whatever
//! `standard_conforming_strings` says.

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

pub fn uuid(id: Uuid) -> String {
    format!("'{}'::uuid", id.hyphenated())
}

pub fn optional_uuid(id: Option<Uuid>) -> String {
    id.map_or_else(|| "NULL::uuid".to_owned(), uuid)
}

pub fn uuids(ids: &[Uuid]) -> String {
    let items: Vec<String> = ids.iter().copied().map(uuid).collect();
    format!("ARRAY[{}]::uuid[]", items.join(", "))
}

pub fn text(value: &str) -> String {
    format!(
        "convert_from(decode('{}', 'hex'), 'UTF8')",
        hex::encode(value)
    )
}

pub fn optional_text(value: Option<&str>) -> String {
    value.map_or_else(|| "NULL::text".to_owned(), text)
}

pub fn texts(values: &[&str]) -> String {
    let items: Vec<String> = values.iter().map(|v| text(v)).collect();
    format!("ARRAY[{}]::text[]", items.join(", "))
}

pub fn optional_int(value: Option<i32>) -> String {
    value.map_or_else(|| "NULL::integer".to_owned(), |v| format!("{v}::integer"))
}

pub fn optional_inet(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "NULL::inet".to_owned(), |ip| format!("'{ip}'::inet"))
}

/// A time as RFC 3339 with microseconds: digits, `-`, `:`, `T`, `.`, `Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    format!(
        "'{}'::timestamptz",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

pub fn optional_timestamp(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "NULL::timestamptz".to_owned(), timestamp)
}
