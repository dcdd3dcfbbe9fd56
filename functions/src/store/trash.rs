//! The trash: soft-deleted users, filtered and paginated, with the days left
//! before the scheduled purge. Staff and helpdesk only (the policy's step
//! one); every listing is audited, for it reads deleted users' details.

use std::time::Duration;

use chrono::{DateTime, Utc};
use erasure_policy::Action;
use serde::Serialize;
use uuid::Uuid;

use super::audit_log::{self, AuditAction, Outcome};
use super::audited::{Attempt, Deps, Origin, ask, begin, load_actor, record_refusal};
use super::errors::RequestError;
use super::legal_holds::LegalHold;
use super::profiles::{self, DeletedFilter, Page};
use crate::domain::{ActorId, UserType};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedUser {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: Option<Uuid>,
    pub deletion_reason: Option<String>,
    /// Whole days until the scheduled purge may take the user; 0 when due
    /// (a legal hold keeps them past it).
    pub days_until_purge: i64,
    /// The legal hold in force on the user; null when none.
    pub legal_hold: Option<LegalHold>,
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
    actor: ActorId,
    filter: &DeletedFilter,
    page: Page,
    origin: &Origin,
) -> Result<Listing, RequestError> {
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
        let (total, rows) = profiles::deleted(&mut tx, filter, page).await?;
        audit_log::append(&mut tx, &attempt.record(Outcome::Success, None)).await?;
        tx.commit().await?;
        Ok(listing(total, rows, page, deps.settings.grace_period))
    }
    .await
    .map_err(RequestError::on_read);
    if let Err(e) = &result {
        record_refusal(deps.db, &attempt, e).await;
    }
    result
}

fn listing(total: i64, rows: Vec<profiles::Deleted>, page: Page, grace: Duration) -> Listing {
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
            legal_hold: match (r.hold_reason, r.hold_placed_by, r.hold_placed_at) {
                (Some(reason), Some(placed_by), Some(placed_at)) => Some(LegalHold {
                    reason,
                    placed_by,
                    placed_at,
                    expires_at: r.hold_expires_at,
                }),
                _ => None,
            },
        })
        .collect();
    let limit = i64::from(page.limit());
    Listing {
        users,
        page: page.number(),
        limit: page.limit(),
        total,
        total_pages: (total + limit - 1) / limit,
    }
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
}
