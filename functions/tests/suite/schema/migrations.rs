//! The schema: migrations apply, roll all the way down and apply again; the
//! constraints and privileges the data rules rely on hold.

use erasure::store::migrations::{MIGRATOR, latest_version};
use sqlx::{PgPool, Postgres, Transaction};

async fn public_tables(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'
          ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_roll_all_the_way_down_and_apply_again(db: PgPool) {
    MIGRATOR.run(&db).await.unwrap();
    let first = public_tables(&db).await;
    assert!(first.contains(&"profiles".to_owned()), "{first:?}");
    assert!(first.contains(&"deletion_audit".to_owned()), "{first:?}");

    MIGRATOR.undo(&db, 0).await.unwrap();
    assert_eq!(public_tables(&db).await, Vec::<String>::new());
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(applied, 0);

    MIGRATOR.run(&db).await.unwrap();
    assert_eq!(public_tables(&db).await, first);
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(version, latest_version());
}

#[sqlx::test(migrations = false)]
async fn every_migration_has_a_down_step(db: PgPool) {
    let ups = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    let downs = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_down_migration())
        .count();
    assert!(ups >= 4, "expected the schema's migrations, found {ups}");
    assert_eq!(ups, downs, "each up migration needs its down migration");
    // Rolling back one step at a time also works, not only all at once.
    MIGRATOR.run(&db).await.unwrap();
    let mut versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    versions.dedup();
    for target in versions.iter().rev().skip(1).chain([&0]) {
        MIGRATOR.undo(&db, *target).await.unwrap();
    }
    assert_eq!(public_tables(&db).await, Vec::<String>::new());
}

async fn insert_profile(db: &PgPool, email: &str) -> Result<uuid::Uuid, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO profiles (email, type) VALUES ($1, 'CLIENT') RETURNING id")
        .bind(email)
        .fetch_one(db)
        .await
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_live_email_is_unique_case_insensitively_and_reusable_after_soft_delete(db: PgPool) {
    let first = insert_profile(&db, "Ana@Example.com").await.unwrap();
    let duplicate = insert_profile(&db, "ana@example.com").await.unwrap_err();
    assert_eq!(sqlstate(&duplicate).as_deref(), Some("23505"));

    sqlx::query("UPDATE profiles SET deleted_at = now(), deleted_by = $1 WHERE id = $1")
        .bind(first)
        .execute(&db)
        .await
        .unwrap();
    let reused = insert_profile(&db, "ana@example.com").await.unwrap();
    assert_ne!(reused, first);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn deletion_fields_are_refused_on_a_live_profile(db: PgPool) {
    let id = insert_profile(&db, "ben@example.com").await.unwrap();
    let err = sqlx::query("UPDATE profiles SET deleted_by = $1 WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23514"));
    let err = sqlx::query("UPDATE profiles SET type = 'ROOT' WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23514"));
}

/// A transaction acting as the functions' role.
async fn as_app_role(db: &PgPool) -> Transaction<'static, Postgres> {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE erasure_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

// The chain trigger fills in seq and the hashes.
const AUDIT_ROW: &str =
    "INSERT INTO deletion_audit (action, outcome) VALUES ('SOFT_DELETE', 'SUCCESS')";

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_app_role_may_append_to_the_audit_log_but_never_change_it(db: PgPool) {
    let mut tx = as_app_role(&db).await;
    sqlx::query(AUDIT_ROW).execute(&mut *tx).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_audit")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    tx.commit().await.unwrap();

    for statement in [
        "UPDATE deletion_audit SET reason = 'edited'",
        "DELETE FROM deletion_audit",
        "TRUNCATE deletion_audit",
    ] {
        let mut tx = as_app_role(&db).await;
        let err = sqlx::query(statement).execute(&mut *tx).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{statement}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_app_role_works_on_user_data_but_cannot_change_the_schema(db: PgPool) {
    let mut tx = as_app_role(&db).await;
    sqlx::query("INSERT INTO profiles (email) VALUES ('cho@example.com')")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM profiles WHERE email = 'cho@example.com'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for statement in [
        "ALTER TABLE deletion_audit DISABLE TRIGGER ALL",
        "DROP TABLE deletion_audit",
        "CREATE TABLE sneaky (id int)",
    ] {
        let mut tx = as_app_role(&db).await;
        let err = sqlx::query(statement).execute(&mut *tx).await.unwrap_err();
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("42501"),
            "{statement}: {err}"
        );
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_audit_log_survives_the_purge_of_the_user_it_names(db: PgPool) {
    let id = insert_profile(&db, "dee@example.com").await.unwrap();
    sqlx::query(
        "INSERT INTO deletion_audit (action, outcome, target_id) VALUES ('PURGE', 'SUCCESS', $1)",
    )
    .bind(id)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("DELETE FROM profiles WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM deletion_audit WHERE target_id = $1")
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_foreign_key_column_is_indexed(db: PgPool) {
    // A foreign-key column is indexed when some index starts with it.
    let unindexed: Vec<String> = sqlx::query_scalar(
        "SELECT c.conrelid::regclass::text || '.' || a.attname
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'f'
            AND NOT EXISTS (
                SELECT 1 FROM pg_index i
                 WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
          ORDER BY 1",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(unindexed, Vec::<String>::new());
}
