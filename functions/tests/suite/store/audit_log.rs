//! The audit log's hash chain on a real PostgreSQL: appends chain, concurrent
//! writers never fork it, and an edited, removed or reordered row is found at
//! its position.

use std::collections::BTreeMap;

use chrono::Utc;
use erasure::domain::{TargetId, UserType};
use erasure::store::audit_log::{self, AuditAction, AuditEntry, ChainBreak, ChainReport, Outcome};
use erasure::store::migrations::MIGRATOR;
use erasure::store::outbox::{Announcement, Erasure, EventActor, EventUser};
use sqlx::PgPool;
use uuid::Uuid;

fn entry(n: u64) -> AuditEntry {
    AuditEntry {
        actor_id: Some(Uuid::new_v4()),
        actor_role: Some("ADMIN".into()),
        target_id: Some(Uuid::new_v4()),
        target_role: Some("CLIENT".into()),
        reason: Some(format!("request {n}")),
        source_ip: Some("2001:db8::7".parse().unwrap()),
        user_agent: Some("admin-ui/1.0".into()),
        request_id: Some(format!("req-{n}")),
        duration_ms: Some(12),
        rows_affected: BTreeMap::from([
            ("sessions.deleted".into(), n),
            ("accounts.deleted".into(), 1),
        ]),
        policy_digest: Some("ab".repeat(32)),
        policy_rule: Some("target-may-be-acted-on".into()),
        ..AuditEntry::new(AuditAction::SoftDelete, Outcome::Success)
    }
}

async fn append_committed(db: &PgPool, n: u64) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let appended = audit_log::append(&mut tx, &entry(n)).await.unwrap();
    tx.commit().await.unwrap();
    appended.seq
}

/// The whole log verified in batches of `batch`.
async fn verify(db: &PgPool, batch: i64) -> ChainReport {
    let mut conn = db.acquire().await.unwrap();
    let mut report = ChainReport::default();
    loop {
        let next = audit_log::verify_batch(&mut conn, &report, batch)
            .await
            .unwrap();
        if next.rows_checked == report.rows_checked {
            return next;
        }
        report = next;
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn appended_rows_form_a_chain_that_verifies(db: PgPool) {
    let mut seqs = Vec::new();
    for n in 0..7 {
        seqs.push(append_committed(&db, n).await);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let first_prev: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT prev_hash FROM deletion_audit ORDER BY seq LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(first_prev, None);
    for batch in [1, 3, 100] {
        let report = verify(&db, batch).await;
        assert_eq!(report.rows_checked, 7);
        assert_eq!(report.breaks, vec![]);
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_writers_hashes_are_replaced_by_the_chain(db: PgPool) {
    append_committed(&db, 0).await;
    // A writer that supplies its own seq and hashes gets the chain's instead.
    sqlx::query(
        "INSERT INTO deletion_audit (seq, action, outcome, prev_hash, row_hash)
         VALUES (999, 'PURGE', 'FAILED', sha256('forged'::bytea), sha256('forged'::bytea))",
    )
    .execute(&db)
    .await
    .unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT max(seq) FROM deletion_audit")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_ne!(seq, 999);
    assert_eq!(verify(&db, 10).await.breaks, vec![]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_edited_row_is_found_at_its_position(db: PgPool) {
    for n in 0..5 {
        append_committed(&db, n).await;
    }
    let third: i64 =
        sqlx::query_scalar("SELECT seq FROM deletion_audit ORDER BY seq OFFSET 2 LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    sqlx::query("UPDATE deletion_audit SET reason = 'nothing to see' WHERE seq = $1")
        .bind(third)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        verify(&db, 2).await.breaks,
        vec![ChainBreak::Altered { seq: third }]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_removed_row_breaks_the_link_of_the_next(db: PgPool) {
    let mut seqs = Vec::new();
    for n in 0..5 {
        seqs.push(append_committed(&db, n).await);
    }
    sqlx::query("DELETE FROM deletion_audit WHERE seq = $1")
        .bind(seqs[1])
        .execute(&db)
        .await
        .unwrap();
    let report = verify(&db, 100).await;
    assert_eq!(report.rows_checked, 4);
    assert_eq!(report.breaks, vec![ChainBreak::Unlinked { seq: seqs[2] }]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn reordered_rows_are_found(db: PgPool) {
    let mut seqs = Vec::new();
    for n in 0..4 {
        seqs.push(append_committed(&db, n).await);
    }
    // Swap the positions of the second and third rows.
    sqlx::raw_sql(&format!(
        "UPDATE deletion_audit SET seq = -1 WHERE seq = {a};
         UPDATE deletion_audit SET seq = {a} WHERE seq = {b};
         UPDATE deletion_audit SET seq = {b} WHERE seq = -1;",
        a = seqs[1],
        b = seqs[2]
    ))
    .execute(&db)
    .await
    .unwrap();
    let breaks = verify(&db, 100).await.breaks;
    assert!(
        breaks.contains(&ChainBreak::Altered { seq: seqs[1] }),
        "{breaks:?}"
    );
    assert!(
        breaks.contains(&ChainBreak::Altered { seq: seqs[2] }),
        "{breaks:?}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_writers_never_fork_the_chain(db: PgPool) {
    let writers: Vec<_> = (0..20)
        .map(|n| {
            let db = db.clone();
            tokio::spawn(async move { append_committed(&db, n).await })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let report = verify(&db, 7).await;
    assert_eq!(report.rows_checked, 20);
    assert_eq!(report.breaks, vec![]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rolled_back_append_leaves_no_trace_in_the_chain(db: PgPool) {
    append_committed(&db, 0).await;
    let mut tx = db.begin().await.unwrap();
    audit_log::append(&mut tx, &entry(1)).await.unwrap();
    tx.rollback().await.unwrap();
    append_committed(&db, 2).await;
    let report = verify(&db, 10).await;
    assert_eq!(report.rows_checked, 2);
    assert_eq!(report.breaks, vec![]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn appending_under_repeatable_read_is_refused(db: PgPool) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = audit_log::append(&mut tx, &entry(0)).await.unwrap_err();
    assert!(
        err.to_string().contains("only under READ COMMITTED"),
        "{err}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_app_role_can_append(db: PgPool) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE erasure_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    audit_log::append(&mut tx, &entry(0)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(verify(&db, 10).await.rows_checked, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_appended_in_one_statement_chains_in_order(db: PgPool) {
    append_committed(&db, 0).await;
    let batch: Vec<AuditEntry> = (1..=50).map(entry).collect();
    let mut tx = db.begin().await.unwrap();
    assert_eq!(
        audit_log::append_many(&mut tx, &batch, &[]).await.unwrap(),
        50
    );
    assert_eq!(audit_log::append_many(&mut tx, &[], &[]).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let report = verify(&db, 16).await;
    assert_eq!(report.rows_checked, 51);
    assert_eq!(report.breaks, vec![]);
    let reasons: Vec<String> = sqlx::query_scalar("SELECT reason FROM deletion_audit ORDER BY seq")
        .fetch_all(&db)
        .await
        .unwrap();
    let expected: Vec<String> = (0..=50).map(|n| format!("request {n}")).collect();
    assert_eq!(reasons, expected);
    let ip: String =
        sqlx::query_scalar("SELECT host(source_ip) FROM deletion_audit ORDER BY seq DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(ip, "2001:db8::7");
}

/// Every column a writer sets, as text, of the row at `seq`.
async fn written(db: &PgPool, seq: i64) -> Vec<Option<String>> {
    let row: (Vec<Option<String>>,) = sqlx::query_as(
        "SELECT ARRAY[action, outcome, actor_id::text, actor_role, target_id::text, target_role,
                      reason, error_code, host(source_ip), user_agent, request_id,
                      duration_ms::text, rows_affected::text, policy_digest, policy_rule, actor_name]
           FROM deletion_audit WHERE seq = $1",
    )
    .bind(seq)
    .fetch_one(db)
    .await
    .unwrap();
    row.0
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_inline_append_records_what_a_bound_append_records(db: PgPool) {
    let mut hostile = entry(3);
    hostile.reason = Some("it's a \\ 'quoted' $$ reason\nover two lines".into());
    hostile.user_agent = Some("ua'); DROP TABLE deletion_audit; --".into());
    hostile.actor_name = Some("arn:aws:cloudwatch:eu-west-1:1:alarm:x".into());
    hostile.error_code = Some("NONE".into());
    let bound = {
        let mut tx = db.begin().await.unwrap();
        let appended = audit_log::append(&mut tx, &hostile).await.unwrap();
        tx.commit().await.unwrap();
        appended.seq
    };
    // Counted by the statement it is part of, merged with what the entry knew.
    let mut counted = hostile.clone();
    let sessions = counted.rows_affected.remove("sessions.deleted").unwrap();
    let sql = audit_log::insert_inline(
        &counted,
        &format!("jsonb_build_object('sessions.deleted', {sessions})"),
        "",
    );
    let inline: i64 = sqlx::raw_sql(&sql)
        .fetch_one(&db)
        .await
        .map(|row| sqlx::Row::get(&row, 0))
        .unwrap();
    assert_eq!(inline, bound + 1);
    assert_eq!(written(&db, inline).await, written(&db, bound).await);
    assert!(verify(&db, 10).await.breaks.is_empty());
}

/// sqlx keeps a prepared statement per SQL text on each connection: the
/// batch append's text must not vary with what it appends, or a cleanup's
/// connection would pile up one (of a batch's size) per batch.
#[sqlx::test(migrator = "MIGRATOR")]
async fn batches_with_their_events_reuse_one_prepared_statement(db: PgPool) {
    let mut conn = db.acquire().await.unwrap();
    for round in 0..3 {
        let batch: Vec<AuditEntry> = (0..5).map(|n| entry(round * 10 + n)).collect();
        let events: Vec<Announcement> = batch
            .iter()
            .map(|e| {
                let user = EventUser {
                    id: TargetId(e.target_id.unwrap()),
                    user_type: UserType::Client,
                };
                Announcement::new(
                    Erasure::Purged,
                    user,
                    Utc::now(),
                    EventActor::Schedule,
                    true,
                )
            })
            .collect();
        audit_log::append_many(&mut conn, &batch, &events)
            .await
            .unwrap();
    }
    let outboxes: i64 = sqlx::query_scalar("SELECT count(*) FROM erasure_outbox")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(outboxes, 15);
    let prepared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO erasure_outbox%'
           AND statement NOT LIKE '%pg_prepared_statements%'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(prepared, 1);
}
