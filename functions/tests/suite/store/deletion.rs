//! Soft delete, restore and purge of one user, through the real policy module
//! on a real PostgreSQL: the source app's scenarios, the order of its checks,
//! the audit row of every attempt, and what concurrency and failures do.

use std::time::Duration;

use crate::common::{
    deps, functions_pool, hold_profile, pooled_backend, profile_exists, terminate,
};
use erasure::config::RequestConfig;
use erasure::domain::{ActorId, TargetId};
use erasure::store::audit_log::{self, ChainReport};
use erasure::store::audited::{Deps, Origin};
use erasure::store::deletion;
use erasure::store::errors::RequestError;
use erasure::store::migrations::MIGRATOR;
use erasure_policy::{EMBEDDED_PRECOMPILED_SHA256, EMBEDDED_SHA256, Policy};
use sqlx::PgPool;
use uuid::Uuid;

fn origin() -> Origin {
    Origin {
        source_ip: Some("203.0.113.9".parse().unwrap()),
        user_agent: Some("admin-ui/2.3".into()),
        request_id: Some("req-1".into()),
    }
}

async fn user(db: &PgPool, email: &str, user_type: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO profiles (email, type) VALUES ($1, $2) RETURNING id")
        .bind(email)
        .bind(user_type)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn with_sessions(db: &PgPool, id: Uuid, n: usize) {
    for i in 0..n {
        sqlx::query("INSERT INTO sessions (user_id, session_token, expires_at) VALUES ($1, $2, now() + interval '1 day')")
            .bind(id)
            .bind(format!("{id}-{i}"))
            .execute(db)
            .await
            .unwrap();
    }
}

/// (outcome, error code, rule, actor role, target role, policy digest) of the last audit row.
async fn last_audit(
    db: &PgPool,
) -> (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    sqlx::query_as(
        "SELECT outcome, error_code, policy_rule, actor_role, target_role, policy_digest
           FROM deletion_audit ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

async fn chain_is_intact(db: &PgPool) -> u64 {
    let mut conn = db.acquire().await.unwrap();
    let report = audit_log::verify_batch(&mut conn, &ChainReport::default(), 10_000)
        .await
        .unwrap();
    assert_eq!(report.breaks, vec![]);
    report.rows_checked
}

fn denied(result: Result<deletion::Summary, RequestError>) -> (&'static str, &'static str) {
    match result {
        Err(RequestError::Denied { code, rule }) => (code.as_str(), rule.as_str()),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_admin_soft_deletes_a_client(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    with_sessions(&db, client, 2).await;

    let summary = deletion::soft_delete(
        &deps(&db),
        ActorId(admin),
        TargetId(client),
        Some("asked by email".into()),
        &origin(),
    )
    .await
    .unwrap();
    assert_eq!(summary.user.id, TargetId(client));
    assert_eq!(summary.user.email, "client@example.com");
    assert_eq!(summary.by, ActorId(admin));
    assert_eq!(summary.rows_affected["profiles.soft_deleted"], 1);
    assert_eq!(summary.rows_affected["sessions.deleted"], 2);

    let (deleted_by, reason): (Option<Uuid>, Option<String>) = sqlx::query_as(
        "SELECT deleted_by, deletion_reason FROM profiles WHERE id = $1 AND deleted_at IS NOT NULL",
    )
    .bind(client)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (deleted_by, reason.as_deref()),
        (Some(admin), Some("asked by email"))
    );
    assert_eq!(
        last_audit(&db).await,
        (
            "SUCCESS".into(),
            None,
            Some("target-may-be-acted-on".into()),
            Some("ADMIN".into()),
            Some("CLIENT".into()),
            Some(EMBEDDED_SHA256.into())
        )
    );
    assert_eq!(chain_is_intact(&db).await, 1);
}

/// A failover ends every session; the container's pool hands out its
/// connection unpinged when it was used seconds ago (`store::pool`).
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deletion_whose_pooled_connection_was_closed_runs_on_another(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    let app = functions_pool(&db, Duration::from_secs(3600));
    terminate(&db, pooled_backend(&app).await.unwrap()).await;

    let summary = deletion::soft_delete(
        &deps(&app),
        ActorId(admin),
        TargetId(client),
        None,
        &origin(),
    )
    .await
    .expect("the deletion begins again on a new connection");
    assert_eq!(summary.rows_affected["profiles.soft_deleted"], 1);
    assert_eq!(last_audit(&db).await.0, "SUCCESS");
    assert_eq!(chain_is_intact(&db).await, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_super_admin_may_delete_too(db: PgPool) {
    let root = user(&db, "root@example.com", "SUPER_ADMIN").await;
    let vendor = user(&db, "vendor@example.com", "VENDOR").await;
    assert!(
        deletion::soft_delete(&deps(&db), ActorId(root), TargetId(vendor), None, &origin())
            .await
            .is_ok()
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn non_staff_are_refused_before_the_target_counts(db: PgPool) {
    let client = user(&db, "target@example.com", "CLIENT").await;
    for role in ["HELPDESK", "VENDOR", "CLIENT", "DRIVER"] {
        let actor = user(&db, &format!("{role}@example.com"), role).await;
        // A real target and a missing one get the same answer: nothing leaks.
        for target in [client, Uuid::new_v4()] {
            let result = deletion::soft_delete(
                &deps(&db),
                ActorId(actor),
                TargetId(target),
                None,
                &origin(),
            )
            .await;
            assert_eq!(
                denied(result),
                ("FORBIDDEN", "staff-only-may-delete"),
                "{role}"
            );
            // The target was read with the actor, in the same round trip,
            // but the refusal records nothing of it.
            let (outcome, code, _, _, target_role, _) = last_audit(&db).await;
            assert_eq!(
                (outcome.as_str(), code.as_deref(), target_role),
                ("DENIED", Some("FORBIDDEN"), None)
            );
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unknown_actor_or_target_is_refused_and_audited(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let result = deletion::soft_delete(
        &deps(&db),
        ActorId(Uuid::new_v4()),
        TargetId(admin),
        None,
        &origin(),
    )
    .await;
    assert!(
        matches!(result, Err(RequestError::UnknownActor)),
        "{result:?}"
    );

    let result = deletion::soft_delete(
        &deps(&db),
        ActorId(admin),
        TargetId(Uuid::new_v4()),
        None,
        &origin(),
    )
    .await;
    assert!(matches!(result, Err(RequestError::NotFound)), "{result:?}");
    let (outcome, code, ..) = last_audit(&db).await;
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("FAILED", Some("USER_NOT_FOUND"))
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_super_admin_is_protected_and_nobody_deletes_themselves(db: PgPool) {
    let root = user(&db, "root@example.com", "SUPER_ADMIN").await;
    let other_root = user(&db, "root2@example.com", "SUPER_ADMIN").await;
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let d = deps(&db);
    for (actor, target) in [(admin, root), (other_root, root), (root, root)] {
        let result =
            deletion::soft_delete(&d, ActorId(actor), TargetId(target), None, &origin()).await;
        assert_eq!(denied(result).0, "SUPER_ADMIN_PROTECTED");
    }
    assert_eq!(
        denied(deletion::soft_delete(&d, ActorId(admin), TargetId(admin), None, &origin()).await).0,
        "SELF_DELETION"
    );
    assert_eq!(
        denied(
            deletion::purge(
                &d,
                ActorId(admin),
                TargetId(admin),
                "cleaning up myself".into(),
                &origin()
            )
            .await
        )
        .0,
        "SELF_DELETION"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deleted_user_is_not_deleted_twice(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    let d = deps(&db);
    deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin())
        .await
        .unwrap();
    let again = deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin()).await;
    assert_eq!(denied(again), ("ALREADY_DELETED", "not-twice"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn active_orders_block_with_their_counts(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let vendor = user(&db, "vendor@example.com", "VENDOR").await;
    sqlx::raw_sql(&format!(
        "INSERT INTO addresses (id, street1, city, state, zip) VALUES
           ('00000000-0000-4000-8000-00000000000a', '1 Main St', 'Austin', 'TX', '78701');
         INSERT INTO catering_requests (order_number, user_id, status, pickup_address_id, delivery_address_id) VALUES
           ('CV-1', '{vendor}', 'ACTIVE', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a'),
           ('CV-2', '{vendor}', 'CONFIRMED', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a'),
           ('CV-3', '{vendor}', 'COMPLETED', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a');
         INSERT INTO on_demand_orders (order_number, user_id, status, pickup_address_id, delivery_address_id) VALUES
           ('OD-1', '{vendor}', 'IN_PROGRESS', '00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000a');"
    ))
    .execute(&db)
    .await
    .unwrap();
    for result in [
        deletion::soft_delete(
            &deps(&db),
            ActorId(admin),
            TargetId(vendor),
            None,
            &origin(),
        )
        .await,
        deletion::purge(
            &deps(&db),
            ActorId(admin),
            TargetId(vendor),
            "contract ended".into(),
            &origin(),
        )
        .await,
    ] {
        match result {
            Err(
                e @ RequestError::ActiveOrders {
                    catering: 2,
                    on_demand: 1,
                },
            ) => {
                assert_eq!(e.code(), "ACTIVE_ORDERS_EXIST")
            }
            other => panic!("{other:?}"),
        }
    }
    let live: bool = sqlx::query_scalar("SELECT deleted_at IS NULL FROM profiles WHERE id = $1")
        .bind(vendor)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(live);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn restore_within_the_grace_period_and_its_refusals(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    let d = deps(&db);
    assert_eq!(
        denied(deletion::restore(&d, ActorId(admin), TargetId(client), &origin()).await).0,
        "NOT_SOFT_DELETED"
    );

    deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin())
        .await
        .unwrap();
    let summary = deletion::restore(&d, ActorId(admin), TargetId(client), &origin())
        .await
        .unwrap();
    assert_eq!(summary.rows_affected["profiles.restored"], 1);

    // The email taken by a new live user meanwhile: a conflict, not an overwrite.
    deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin())
        .await
        .unwrap();
    let newcomer = user(&db, "CLIENT@example.com", "CLIENT").await;
    let result = deletion::restore(&d, ActorId(admin), TargetId(client), &origin()).await;
    assert!(
        matches!(&result, Err(e @ RequestError::Conflict) if e.code() == "CONFLICT"),
        "{result:?}"
    );
    sqlx::query("DELETE FROM profiles WHERE id = $1")
        .bind(newcomer)
        .execute(&db)
        .await
        .unwrap();

    sqlx::query("UPDATE profiles SET deleted_at = now() - interval '31 days' WHERE id = $1")
        .bind(client)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        denied(deletion::restore(&d, ActorId(admin), TargetId(client), &origin()).await).0,
        "GRACE_PERIOD_EXPIRED"
    );
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_purge_removes_the_user_and_keeps_its_audit_trail(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    with_sessions(&db, client, 3).await;
    let d = deps(&db);
    deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin())
        .await
        .unwrap();
    let summary = deletion::purge(
        &d,
        ActorId(admin),
        TargetId(client),
        "GDPR erasure request #4411".into(),
        &origin(),
    )
    .await
    .unwrap();
    assert_eq!(summary.rows_affected["profiles.deleted"], 1);
    assert!(!profile_exists(&db, client).await);
    let trail: Vec<String> =
        sqlx::query_scalar("SELECT action FROM deletion_audit WHERE target_id = $1 ORDER BY seq")
            .bind(client)
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(trail, ["SOFT_DELETE", "PURGE"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn ten_concurrent_deletes_of_one_user_have_exactly_one_winner(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                deletion::soft_delete(
                    &deps(&db),
                    ActorId(admin),
                    TargetId(client),
                    None,
                    &origin(),
                )
                .await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.code(), "ALREADY_DELETED", "{e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(chain_is_intact(&db).await, 10);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn twenty_concurrent_deletes_of_different_users_all_succeed(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let target = user(&db, &format!("c{i}@example.com"), "CLIENT").await;
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            deletion::soft_delete(
                &deps(&db),
                ActorId(admin),
                TargetId(target),
                None,
                &origin(),
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(chain_is_intact(&db).await, 20);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_admins_deleting_each_other_leave_one_standing(db: PgPool) {
    // Each locks itself (FOR SHARE) then the other (FOR UPDATE): a deadlock
    // when they meet, retried; the loser then finds itself deleted.
    let a = user(&db, "a@example.com", "ADMIN").await;
    let b = user(&db, "b@example.com", "ADMIN").await;
    let (db1, db2) = (db.clone(), db.clone());
    let t1 = tokio::spawn(async move {
        deletion::soft_delete(&deps(&db1), ActorId(a), TargetId(b), None, &origin()).await
    });
    let t2 = tokio::spawn(async move {
        deletion::soft_delete(&deps(&db2), ActorId(b), TargetId(a), None, &origin()).await
    });
    let results = [t1.await.unwrap(), t2.await.unwrap()];
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(loser.code(), "FORBIDDEN", "{loser}");
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles WHERE deleted_at IS NULL")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(live, 1);
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_soft_delete_racing_a_restore_leaves_a_consistent_row(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    for _ in 0..5 {
        let (d1, d2) = (db.clone(), db.clone());
        let del = tokio::spawn(async move {
            deletion::soft_delete(
                &deps(&d1),
                ActorId(admin),
                TargetId(client),
                None,
                &origin(),
            )
            .await
        });
        let res = tokio::spawn(async move {
            deletion::restore(&deps(&d2), ActorId(admin), TargetId(client), &origin()).await
        });
        let (del, res) = (del.await.unwrap(), res.await.unwrap());
        let (deleted_at, deleted_by): (Option<chrono::DateTime<chrono::Utc>>, Option<Uuid>) =
            sqlx::query_as("SELECT deleted_at, deleted_by FROM profiles WHERE id = $1")
                .bind(client)
                .fetch_one(&db)
                .await
                .unwrap();
        // Whichever order they ran in, the row is whole: deleted with its
        // deleter, or live with neither.
        assert_eq!(deleted_at.is_some(), deleted_by.is_some());
        assert!(del.is_ok() || res.is_ok(), "{del:?} {res:?}");
    }
    chain_is_intact(&db).await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_held_lock_times_out_as_408_and_is_audited(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    let blocker = hold_profile(&db, client).await;

    let d = Deps {
        settings: RequestConfig {
            lock_timeout: Duration::from_millis(200),
            ..deps(&db).settings
        },
        ..deps(&db)
    };
    let result = deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin()).await;
    assert!(
        matches!(&result, Err(e @ RequestError::Timeout) if e.code() == "TRANSACTION_TIMEOUT"),
        "{result:?}"
    );
    blocker.rollback().await.unwrap();
    let (outcome, code, ..) = last_audit(&db).await;
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("FAILED", Some("TRANSACTION_TIMEOUT"))
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unreachable_database_is_connection_failed(db: PgPool) {
    drop(db);
    let unreachable = crate::common::unreachable_pool();
    let result = deletion::soft_delete(
        &deps(&unreachable),
        ActorId(Uuid::new_v4()),
        TargetId(Uuid::new_v4()),
        None,
        &origin(),
    )
    .await;
    assert!(
        matches!(&result, Err(e @ RequestError::Unavailable(_)) if e.code() == "CONNECTION_FAILED"),
        "{result:?}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_policy_that_cannot_decide_denies_and_is_audited(db: PgPool) {
    let admin = user(&db, "admin@example.com", "ADMIN").await;
    let client = user(&db, "client@example.com", "CLIENT").await;
    let broken = Policy::from_precompiled(b"\0asm-but-not-really", EMBEDDED_PRECOMPILED_SHA256);
    let d = Deps {
        policy: &broken,
        ..deps(&db)
    };
    let result = deletion::soft_delete(&d, ActorId(admin), TargetId(client), None, &origin()).await;
    assert!(
        matches!(&result, Err(e @ RequestError::PolicyUnavailable(_)) if e.code() == "POLICY_UNAVAILABLE"),
        "{result:?}"
    );
    let (outcome, code, ..) = last_audit(&db).await;
    assert_eq!(
        (outcome.as_str(), code.as_deref()),
        ("FAILED", Some("POLICY_UNAVAILABLE"))
    );
}
