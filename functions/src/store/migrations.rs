//! The schema's migrations (`migrations/` at the repository root), embedded at
//! build time so every binary and test carries the schema it was built with.

use sqlx::migrate::Migrator;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The version the code expects the database to be at.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}
