//! The HTTP functions on a pool of one connection, as the template runs them
//! (`DATABASE_POOL_MAX=1`): every route, a refusal and a lock wait that runs
//! out finish on that one connection. A path that needed a second connection
//! while holding the first would wait for the pool's acquire timeout and
//! answer 503 instead.

use std::time::Duration;

use crate::common::{audit_rows, hold_profile, http_app, is_deleted, profile_exists, send_event};
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast::{self, ALICE, DAVE, FRANK};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_route_a_refusal_and_a_lock_timeout_run_on_one_connection(db: PgPool) {
    cast::load(&db).await.unwrap();
    let one = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with((*db.connect_options()).clone())
        .await
        .unwrap();

    // Alice's row held elsewhere: the lock wait runs out (408), and the
    // refusal is still recorded, on the connection the flow gave back.
    let holder = hold_profile(&db, ALICE).await;
    let waiting = http_app(one.clone(), &[("LOCK_TIMEOUT_MS", "50")]).await;
    let answer = send_event(&waiting, "soft_delete_user", "admin-deletes-client").await;
    holder.rollback().await.unwrap();
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(!is_deleted(&db, ALICE).await);

    let app = http_app(one.clone(), &[]).await;
    let before = audit_rows(&db).await;
    for (function, event, status) in [
        ("soft_delete_user", "admin-deletes-client", 200),
        ("soft_delete_user", "helpdesk-denied", 403),
        ("restore_user", "admin-restores-user", 200),
        ("purge_user", "admin-purges-user", 200),
        ("list_deleted_users", "filtered", 200),
    ] {
        let answer = send_event(&app, function, event).await;
        assert_eq!(answer.status, status, "{function} {event}: {answer:?}");
    }
    assert!(is_deleted(&db, ALICE).await);
    assert!(!is_deleted(&db, FRANK).await, "restored");
    assert!(!profile_exists(&db, DAVE).await, "purged");
    assert_eq!(
        audit_rows(&db).await,
        before + 5,
        "each request audited, the refusal and the listing included"
    );
}
