//! A request right after the database ended the container's pooled
//! connection (a failover, an administrator), sooner than the pool's ping
//! interval: answered on a new connection, not 503.

use std::time::Duration;

use crate::common::{functions_pool, http_app, is_deleted, pooled_backend, send_event, terminate};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, ALICE};
use sqlx::PgPool;

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_request_after_its_connection_was_ended_is_answered_on_another(db: PgPool) {
    cast::load(&db).await.unwrap();
    // Never pinged: the request itself meets the dead connection.
    let pool = functions_pool(&db, Duration::from_secs(3600));
    let app = http_app(pool.clone(), &[]).await;
    for (function, event) in [
        ("list_deleted_users", "filtered"),
        ("soft_delete_user", "admin-deletes-client"),
    ] {
        terminate(&db, pooled_backend(&pool).await.unwrap()).await;
        let answer = send_event(&app, function, event).await;
        assert_eq!(answer.status, 200, "{function} {event}: {answer:?}");
    }
    assert!(is_deleted(&db, ALICE).await);
}
