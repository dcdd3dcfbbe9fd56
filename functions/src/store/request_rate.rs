//! Requests per actor per minute, kept in PostgreSQL so that the limit holds
//! across every Lambda container: a sliding window, so that "10 a minute"
//! means at most 10 in any 60 seconds. One row per actor and bucket holds
//! the times of the requests it admitted in the last minute; the row is
//! updated under its lock, so concurrent requests are counted one by one.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::pool;

/// The window the limit counts in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What a limit is counted against: mutations and listings separately, so
/// that paging through the trash does not use up an admin's deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Mutations,
    Listings,
}

impl Bucket {
    fn as_str(self) -> &'static str {
        match self {
            Bucket::Mutations => "mutations",
            Bucket::Listings => "listings",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; the next request is admitted after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Counts one request of `actor`, arriving `now`, against `per_minute` in
/// `bucket`: admitted while fewer than `per_minute` requests were admitted
/// in the 60 seconds before (`(now - 60 s, now]`). A refused request is not
/// counted, so hammering does not lengthen the wait.
pub async fn check(
    db: &PgPool,
    actor: Uuid,
    bucket: Bucket,
    per_minute: u32,
    now: DateTime<Utc>,
) -> Result<Verdict, sqlx::Error> {
    let limit = per_minute.max(1);
    // The first statement of every request: should its pooled connection be
    // gone (a failover within the pool's ping interval), it runs again on
    // another, and the rest of the request finds the dead ones closed. A
    // repeat can count the request twice if the server applied the first
    // attempt and died before answering, which only tightens the limit for
    // a minute.
    pool::on_live_connection(db, |mut conn| async move {
        let admitted: Option<bool> = sqlx::query_scalar(
            "INSERT INTO request_rate AS r (actor_id, bucket, admitted)
             VALUES ($1, $2, ARRAY[$4::timestamptz])
             ON CONFLICT (actor_id, bucket) DO UPDATE
                SET admitted = ARRAY(SELECT t FROM unnest(r.admitted) t
                                      WHERE t > $4 - interval '1 minute' ORDER BY t) || $4
              WHERE (SELECT count(*) FROM unnest(r.admitted) t
                      WHERE t > $4 - interval '1 minute') < $3
             RETURNING true",
        )
        .bind(actor)
        .bind(bucket.as_str())
        .bind(i64::from(limit))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if admitted.is_some() {
            return Ok(Verdict::Allowed);
        }
        let window: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT ARRAY(SELECT t FROM unnest(admitted) t
                           WHERE t > $3 - interval '1 minute' ORDER BY t)
               FROM request_rate WHERE actor_id = $1 AND bucket = $2",
        )
        .bind(actor)
        .bind(bucket.as_str())
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        Ok(Verdict::Limited {
            retry_after: room_at(&window, limit as usize, now),
        })
    })
    .await
}

/// How long until the window holds fewer than `limit` requests: until the
/// request that makes it full is 60 seconds old.
fn room_at(window: &[DateTime<Utc>], limit: usize, now: DateTime<Utc>) -> Duration {
    window
        .get(window.len().saturating_sub(limit))
        .map_or(Duration::ZERO, |&t| {
            let free_at = t + TimeDelta::from_std(WINDOW).unwrap_or_default();
            (free_at - now).to_std().unwrap_or(Duration::ZERO)
        })
}
