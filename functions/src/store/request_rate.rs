//! Requests per actor per minute, kept in PostgreSQL so that the limit holds
//! across every Lambda container (the generic cell rate algorithm: one row
//! per actor and bucket, updated atomically, never swept).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

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
    /// Over the limit; the next request is allowed after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Counts one request of `actor` against `per_minute` in `bucket`.
///
/// Each request pushes the actor's theoretical arrival time one interval
/// (a minute / `per_minute`) further; the request is allowed while that stays
/// within a minute of now. A full burst is allowed, then one request per
/// interval. A refused request does not move the time, so hammering does not
/// lengthen the wait.
pub async fn check(
    db: &PgPool,
    actor: Uuid,
    bucket: Bucket,
    per_minute: u32,
) -> Result<Verdict, sqlx::Error> {
    // Whole microseconds, rounded down: a full burst always fits the minute.
    let interval_us = 60_000_000 / i64::from(per_minute.max(1));
    let row: Option<(f64,)> = sqlx::query_as(
        "INSERT INTO request_rate AS r (actor_id, bucket, tat)
         VALUES ($1, $2, now() + $3 * interval '1 microsecond')
         ON CONFLICT (actor_id, bucket) DO UPDATE
            SET tat = greatest(r.tat, now()) + $3 * interval '1 microsecond'
          WHERE greatest(r.tat, now()) + $3 * interval '1 microsecond' <= now() + interval '1 minute'
         RETURNING 0::float8",
    )
    .bind(actor)
    .bind(bucket.as_str())
    .bind(interval_us)
    .fetch_optional(db)
    .await?;
    if row.is_some() {
        return Ok(Verdict::Allowed);
    }
    let (wait_secs,): (f64,) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM greatest(tat, now()) + $3 * interval '1 microsecond'
                                   - now() - interval '1 minute')::float8
           FROM request_rate WHERE actor_id = $1 AND bucket = $2",
    )
    .bind(actor)
    .bind(bucket.as_str())
    .bind(interval_us)
    .fetch_one(db)
    .await?;
    Ok(Verdict::Limited {
        retry_after: Duration::from_secs_f64(wait_secs.max(0.0)),
    })
}
