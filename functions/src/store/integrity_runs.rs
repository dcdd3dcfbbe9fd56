//! The `integrity_runs` table: where a resumable run stands between
//! invocations, whatever its progress is (the integrity audit's `Progress`,
//! kept as JSON). One run is open at a time; an invocation holds an advisory
//! lock for as long as it works on it, so a second invocation (EventBridge
//! delivers at least once, or an operator calls it on demand) finds the run
//! busy instead of racing it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

/// The advisory lock key of the integrity audit ("erasure" + "integrity").
const LOCK: i64 = 0x0E7A_5E1A_7E61_7200;

/// An open run, held by this invocation until dropped (the lock is the
/// connection's, so it also ends if the invocation dies).
pub struct Held<P> {
    pub id: i64,
    pub progress: P,
    pub invocations: i32,
    /// Keeps the advisory lock: a connection of its own, outside the pool,
    /// so dropping it closes the session and the lock with it.
    lock: PgConnection,
}

/// Takes the open run (or starts one; `restart` abandons the open one first),
/// or `None` when another invocation is working on it now.
pub async fn take<P>(db: &PgPool, restart: bool) -> Result<Option<Held<P>>, sqlx::Error>
where
    P: Serialize + DeserializeOwned + Default + Send + Unpin + 'static,
{
    let mut lock = db.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        return Ok(None);
    }
    if restart {
        sqlx::query("UPDATE integrity_runs SET finished_at = now(), updated_at = now() WHERE finished_at IS NULL")
            .execute(db)
            .await?;
    }
    let open: Option<(i64, Json<P>, i32)> = sqlx::query_as(
        "UPDATE integrity_runs SET invocations = invocations + 1, updated_at = now()
          WHERE finished_at IS NULL RETURNING id, progress, invocations",
    )
    .fetch_optional(db)
    .await?;
    let (id, progress, invocations) = match open {
        Some((id, progress, invocations)) => (id, progress.0, invocations),
        None => {
            let progress = P::default();
            let id = sqlx::query_scalar(
                "INSERT INTO integrity_runs (progress) VALUES ($1) RETURNING id",
            )
            .bind(Json(&progress))
            .fetch_one(db)
            .await?;
            (id, progress, 1)
        }
    };
    Ok(Some(Held {
        id,
        progress,
        invocations,
        lock,
    }))
}

impl<P> Held<P> {
    /// Lets the next invocation take the run at once (dropping a `Held`
    /// also releases it, once the server sees the connection close).
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK)
            .execute(&mut self.lock)
            .await
            .map(|_| ())
    }
}

/// Saves where the run got to, and closes it when `finished`.
pub async fn save<P: Serialize>(
    db: &PgPool,
    held: &Held<P>,
    progress: &P,
    finished: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE integrity_runs
            SET progress = $2, updated_at = now(), finished_at = CASE WHEN $3 THEN now() END
          WHERE id = $1",
    )
    .bind(held.id)
    .bind(Json(progress))
    .bind(finished)
    .execute(db)
    .await
    .map(|_| ())
}
