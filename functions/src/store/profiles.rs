//! The `profiles` table: every statement on it but the purge's, which the
//! deletion plan generates (`store::purge`). Live users have
//! `deleted_at IS NULL`; soft-deleted ones carry who deleted them, when and
//! why until they are restored or purged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, PgConnection, PgPool, Postgres, Type};
use uuid::Uuid;

use super::inline;
use super::legal_holds::hold_in_force;
use crate::domain::UserType;

// The `type` column is text under a CHECK constraint: it is read and
// written as the enum, and a spelling the enum does not know is a decode error.
impl Type<Postgres> for UserType {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for UserType {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
    }
}

impl Encode<'_, Postgres> for UserType {
    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
    }
}

/// How a profile is locked when read: the actor is only kept from changing
/// (SHARE), the target is about to be written (UPDATE).
pub enum Lock {
    Share,
    Update,
}

/// A profile as a request's flow reads it, under lock.
#[derive(sqlx::FromRow)]
pub struct Profile {
    pub email: String,
    #[sqlx(rename = "type")]
    pub user_type: UserType,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub async fn read(
    tx: &mut PgConnection,
    id: Uuid,
    lock: Lock,
) -> Result<Option<Profile>, sqlx::Error> {
    sqlx::query_as(&read_sql("$1", lock))
        .bind(id)
        .fetch_optional(tx)
        .await
}

/// `read`'s statement with the id written in, for a batch (`store::batched`).
pub fn read_inline(id: Uuid, lock: Lock) -> String {
    read_sql(&inline::uuid(id), lock)
}

fn read_sql(id: &str, lock: Lock) -> String {
    let lock = match lock {
        Lock::Share => "SHARE",
        Lock::Update => "UPDATE",
    };
    format!("SELECT email, type, deleted_at FROM profiles WHERE id = {id} FOR {lock}")
}

// The writes of a deletion's last batch: each returns a row per profile written.

/// Marks `target` deleted by `actor` now, with the reason.
pub fn soft_delete(actor: Uuid, target: Uuid, reason: Option<&str>) -> String {
    format!(
        "UPDATE profiles SET deleted_at = now(), deleted_by = {}, deletion_reason = {}, updated_at = now()
          WHERE id = {} RETURNING id",
        inline::uuid(actor),
        inline::optional_text(reason),
        inline::uuid(target)
    )
}

/// Brings `target` back. A live user holding the email makes this fail with
/// 23505: a conflict, never an overwrite.
pub fn restore(target: Uuid) -> String {
    format!(
        "UPDATE profiles SET deleted_at = NULL, deleted_by = NULL, deletion_reason = NULL, updated_at = now()
          WHERE id = {} RETURNING id",
        inline::uuid(target)
    )
}

/// A soft-deleted profile past the grace period, as the cleanup takes it.
#[derive(Debug, sqlx::FromRow)]
pub struct Expired {
    pub id: Uuid,
    #[sqlx(rename = "type")]
    pub user_type: UserType,
    pub deleted_at: DateTime<Utc>,
}

/// Up to $3 users past the grace period ($1, seconds), the oldest first,
/// except those this run passed over ($2) and those under a legal hold,
/// locked unless another holds them. Only the known types ($4): a type the
/// code cannot name is never purged (the integrity audit reports it). The
/// hold is read again after the lock (`legal_holds::held_among`): one placed
/// after this statement's snapshot was taken is not seen here.
pub const EXPIRED_BATCH: &str = concat!(
    "SELECT id, type, deleted_at FROM profiles
  WHERE deleted_at < now() - make_interval(secs => $1)
    AND NOT (id = ANY($2))
    AND type = ANY($4)
    AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.user_id = profiles.id AND ",
    hold_in_force!("h"),
    ")
  ORDER BY deleted_at, id
  LIMIT $3
  FOR UPDATE SKIP LOCKED"
);

pub async fn take_expired(
    tx: &mut PgConnection,
    grace_period: Duration,
    passed_over: &[Uuid],
    limit: i64,
) -> Result<Vec<Expired>, sqlx::Error> {
    sqlx::query_as(EXPIRED_BATCH)
        .bind(grace_period.as_secs_f64())
        .bind(passed_over)
        .bind(limit)
        .bind(known_user_types())
        .fetch_all(tx)
        .await
}

/// Soft-deleted users past the grace period ($1, seconds) and not under a
/// legal hold (which keeps them on purpose).
pub const OVERDUE: &str = concat!(
    "SELECT count(*) FROM profiles
  WHERE deleted_at < now() - make_interval(secs => $1)
    AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.user_id = profiles.id AND ",
    hold_in_force!("h"),
    ")"
);

/// Soft-deleted users past the grace period that are still present and not
/// held: a compliance problem if it stays above zero.
pub async fn overdue(db: &PgPool, grace_period: Duration) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(OVERDUE)
        .bind(grace_period.as_secs_f64())
        .fetch_one(db)
        .await
}

/// Which deleted users to list. Every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletedFilter {
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

    pub fn number(self) -> u32 {
        self.page
    }

    pub fn limit(self) -> u32 {
        self.limit
    }
}

/// A soft-deleted profile, as the trash lists it.
#[derive(Debug, sqlx::FromRow)]
pub struct Deleted {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    #[sqlx(rename = "type")]
    pub user_type: UserType,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: Option<Uuid>,
    pub deletion_reason: Option<String>,
    /// The legal hold in force on them, if any (all four or none).
    pub hold_reason: Option<String>,
    pub hold_placed_by: Option<Uuid>,
    pub hold_placed_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
}

/// The WHERE clause shared by the count and the page; $1–$5 are the filters.
const MATCHING: &str = "FROM profiles
    WHERE deleted_at IS NOT NULL
      AND ($1::text IS NULL OR type = $1)
      AND ($2::uuid IS NULL OR deleted_by = $2)
      AND ($3::timestamptz IS NULL OR deleted_at >= $3)
      AND ($4::timestamptz IS NULL OR deleted_at < $4)
      AND ($5::text IS NULL OR name ILIKE $5 ESCAPE '\\' OR email ILIKE $5 ESCAPE '\\')";

/// How many deleted users match `filter`, and the page of them, the most
/// recently deleted first.
pub async fn deleted(
    tx: &mut PgConnection,
    filter: &DeletedFilter,
    page: Page,
) -> Result<(i64, Vec<Deleted>), sqlx::Error> {
    // The search text is matched literally: its own % and _ are escaped.
    let pattern = filter.search.as_deref().map(|s| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) {MATCHING}"))
        .bind(filter.user_type)
        .bind(filter.deleted_by)
        .bind(filter.deleted_after)
        .bind(filter.deleted_before)
        .bind(&pattern)
        .fetch_one(&mut *tx)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT p.id, p.email, p.name, p.type, p.deleted_at, p.deleted_by, p.deletion_reason,
                h.reason AS hold_reason, h.placed_by AS hold_placed_by,
                h.placed_at AS hold_placed_at, h.expires_at AS hold_expires_at
           FROM (SELECT * {MATCHING} ORDER BY deleted_at DESC, id DESC LIMIT $6 OFFSET $7) p
           LEFT JOIN legal_holds h ON h.user_id = p.id AND {}
          ORDER BY p.deleted_at DESC, p.id DESC",
        hold_in_force!("h")
    ))
    .bind(filter.user_type)
    .bind(filter.deleted_by)
    .bind(filter.deleted_after)
    .bind(filter.deleted_before)
    .bind(&pattern)
    .bind(i64::from(page.limit))
    .bind(i64::from(page.page - 1) * i64::from(page.limit))
    .fetch_all(&mut *tx)
    .await?;
    Ok((total, rows))
}

/// Emails shared by live users: reads the live-email index in order, never
/// the table. (Only possible if the partial unique index was dropped.)
pub const DUPLICATE_LIVE_EMAILS: &str = "SELECT count(*) FROM (
    SELECT lower(email) FROM profiles WHERE deleted_at IS NULL
     GROUP BY 1 HAVING count(*) > 1) d";

pub async fn duplicate_live_emails(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(DUPLICATE_LIVE_EMAILS)
        .fetch_one(db)
        .await
}

/// Profiles of a type not among $1. A whole-table scan: a type can only be
/// unknown if the CHECK constraint was dropped, and no index could find it.
pub const UNKNOWN_USER_TYPES: &str = "SELECT count(*) FROM profiles WHERE NOT (type = ANY($1))";

pub async fn unknown_user_types(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(UNKNOWN_USER_TYPES)
        .bind(known_user_types())
        .fetch_one(db)
        .await
}

/// The spellings of every `UserType`, the argument of the queries above.
pub fn known_user_types() -> Vec<&'static str> {
    UserType::ALL.iter().map(|t| t.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded() {
        assert!(Page::new(1, 20).is_ok());
        assert!(Page::new(0, 20).is_err());
        assert!(Page::new(1, 0).is_err());
        assert!(Page::new(1, 101).is_err());
    }
}
