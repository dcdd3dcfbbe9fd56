//! Requests refused before the store's flow began, by an actor whose token
//! was verified: counted per actor, route, code and minute (the table's
//! comment says why not one audit row each).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::audited::Origin;
use crate::domain::ActorId;

/// One refusal, as the HTTP layer knows it.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    pub actor: ActorId,
    /// The function that refused (the route's name).
    pub route: &'a str,
    pub status: u16,
    pub code: &'a str,
    pub origin: &'a Origin,
}

/// Counts `refusal` at `now`: a new row for its minute, or one more on it.
pub async fn count(
    db: &PgPool,
    refusal: &Refusal<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refused_requests AS r
                (actor_id, route, status, code, minute, count, first_at, last_at,
                 last_request_id, last_source_ip)
         VALUES ($1, $2, $3, $4, date_trunc('minute', $5::timestamptz), 1, $5, $5, $6, $7::inet)
         ON CONFLICT (actor_id, route, code, minute) DO UPDATE
            SET count = r.count + 1,
                last_at = greatest(r.last_at, excluded.last_at),
                first_at = least(r.first_at, excluded.first_at),
                last_request_id = excluded.last_request_id,
                last_source_ip = excluded.last_source_ip",
    )
    .bind(refusal.actor.0)
    .bind(refusal.route)
    .bind(i16::try_from(refusal.status).unwrap_or(i16::MAX))
    .bind(refusal.code)
    .bind(now)
    .bind(refusal.origin.request_id.as_deref())
    .bind(refusal.origin.source_ip.map(|ip| ip.to_string()))
    .execute(db)
    .await?;
    Ok(())
}
