//! The trash: soft-deleted users, filtered and paginated, with the days left
//! before the scheduled purge. Staff and helpdesk only (the policy's step
//! one); every listing is audited, for it reads deleted users' details.

use std::time::Duration;

use chrono::{DateTime, Utc};
use erasure_policy::Action;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{self, AuditAction, Outcome};
use super::deletion::{
    Attempt, DeletionError, Deps, Origin, ask, begin, load_actor, record_refusal,
};
use crate::domain::UserType;

/// Which deleted users to list. Every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub user_type: Option<UserType>,
    pub deleted_by: Option<Uuid>,
    /// Deleted at or after this time.
    pub deleted_after: Option<DateTime<Utc>>,
    /// Deleted before this time.
    pub deleted_before: Option<DateTime<Utc>>,
    /// Found in the name or the email, case-insensitively.
    pub search: Option<String>,
}

/// A page of at most `limit` users (1 to 100), counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    page: u32,
    limit: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 100;

    pub fn new(page: u32, limit: u32) -> Result<Page, &'static str> {
        if page == 0 {
            return Err("page counts from 1");
        }
        if limit == 0 || limit > Page::MAX_LIMIT {
            return Err("limit is 1 to 100");
        }
        Ok(Page { page, limit })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedUser {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub user_type: String,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: Option<Uuid>,
    pub deletion_reason: Option<String>,
    /// Whole days until the scheduled purge may take the user; 0 when due.
    pub days_until_purge: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    pub users: Vec<DeletedUser>,
    pub page: u32,
    pub limit: u32,
    pub total: i64,
    pub total_pages: i64,
}

pub async fn list(
    deps: &Deps<'_>,
    actor: Uuid,
    filter: &Filter,
    page: Page,
    origin: &Origin,
) -> Result<Listing, DeletionError> {
    let mut attempt = Attempt::new(
        AuditAction::ListDeleted,
        actor,
        None,
        None,
        origin,
        deps.policy,
    );
    let result = async {
        let mut tx = begin(deps).await?;
        let actor = load_actor(&mut tx, actor, &mut attempt).await?;
        ask(
            deps.policy.may_attempt(Action::ListDeleted, actor),
            &mut attempt,
        )?;
        let listing = query(&mut tx, filter, page, deps.grace_period).await?;
        audit::append(&mut tx, &attempt.record(Outcome::Success, None)).await?;
        tx.commit().await?;
        Ok(listing)
    }
    .await;
    if let Err(e) = &result {
        record_refusal(deps.db, &attempt, e).await;
    }
    result
}

/// The WHERE clause shared by the count and the page; $1–$5 are the filters.
const MATCHING: &str = "FROM profiles
    WHERE deleted_at IS NOT NULL
      AND ($1::text IS NULL OR type = $1)
      AND ($2::uuid IS NULL OR deleted_by = $2)
      AND ($3::timestamptz IS NULL OR deleted_at >= $3)
      AND ($4::timestamptz IS NULL OR deleted_at < $4)
      AND ($5::text IS NULL OR name ILIKE $5 ESCAPE '\\' OR email ILIKE $5 ESCAPE '\\')";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    email: String,
    name: Option<String>,
    #[sqlx(rename = "type")]
    user_type: String,
    deleted_at: DateTime<Utc>,
    deleted_by: Option<Uuid>,
    deletion_reason: Option<String>,
}

async fn query(
    tx: &mut PgConnection,
    filter: &Filter,
    page: Page,
    grace: Duration,
) -> Result<Listing, sqlx::Error> {
    // The search text is matched literally: its own % and _ are escaped.
    let pattern = filter.search.as_deref().map(|s| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let user_type = filter.user_type.map(UserType::as_str);
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) {MATCHING}"))
        .bind(user_type)
        .bind(filter.deleted_by)
        .bind(filter.deleted_after)
        .bind(filter.deleted_before)
        .bind(&pattern)
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT id, email, name, type, deleted_at, deleted_by, deletion_reason {MATCHING}
          ORDER BY deleted_at DESC, id DESC LIMIT $6 OFFSET $7"
    ))
    .bind(user_type)
    .bind(filter.deleted_by)
    .bind(filter.deleted_after)
    .bind(filter.deleted_before)
    .bind(&pattern)
    .bind(i64::from(page.limit))
    .bind(i64::from(page.page - 1) * i64::from(page.limit))
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let grace_secs = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
    let users = rows
        .into_iter()
        .map(|r| DeletedUser {
            days_until_purge: days_left(grace_secs, (now - r.deleted_at).num_seconds()),
            id: r.id,
            email: r.email,
            name: r.name,
            user_type: r.user_type,
            deleted_at: r.deleted_at,
            deleted_by: r.deleted_by,
            deletion_reason: r.deletion_reason,
        })
        .collect();
    Ok(Listing {
        users,
        page: page.page,
        limit: page.limit,
        total,
        total_pages: (total + i64::from(page.limit) - 1) / i64::from(page.limit),
    })
}

/// Whole days left of the grace period, rounded up (3.2 days left is 4); 0 when due.
fn days_left(grace_secs: i64, deleted_for_secs: i64) -> i64 {
    let left = grace_secs.saturating_sub(deleted_for_secs).max(0);
    left / 86_400 + i64::from(left % 86_400 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn days_left_round_up_and_stop_at_zero() {
        assert_eq!(days_left(30 * DAY, 0), 30);
        assert_eq!(days_left(30 * DAY, DAY / 2), 30);
        assert_eq!(days_left(30 * DAY, 29 * DAY + 1), 1);
        assert_eq!(days_left(30 * DAY, 30 * DAY), 0);
        assert_eq!(days_left(30 * DAY, 400 * DAY), 0);
        assert_eq!(days_left(i64::MAX, -5), i64::MAX / DAY + 1);
    }

    #[test]
    fn pages_are_bounded() {
        assert!(Page::new(1, 20).is_ok());
        assert!(Page::new(0, 20).is_err());
        assert!(Page::new(1, 0).is_err());
        assert!(Page::new(1, 101).is_err());
    }
}
