//! The deletion plan against the live, migrated schema: every foreign key to
//! profiles is planned, every planned reference exists, and the check really
//! fails when a reference is added without a plan entry.

use erasure::domain::plan::{self, Action, Column, Entry, Gap, PLAN};
use erasure::store::migrations::MIGRATOR;
use erasure::store::schema;
use sqlx::PgPool;

async fn gaps(db: &PgPool, plan: &[Entry]) -> Vec<Gap> {
    let foreign_keys = schema::foreign_keys(db).await.unwrap();
    plan::gaps(plan, &foreign_keys)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_plan_covers_every_reference_to_profiles(db: PgPool) {
    let found = gaps(&db, PLAN).await;
    assert!(
        found.is_empty(),
        "the plan and the schema disagree:\n{}",
        found
            .iter()
            .map(|g| format!("  - {g}\n"))
            .collect::<String>()
    );
    // And the schema really has the references the plan was written for.
    let to_profiles = schema::foreign_keys(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|fk| fk.referenced_table == "profiles")
        .count();
    assert_eq!(to_profiles, PLAN.len());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_new_reference_to_profiles_without_a_plan_entry_fails(db: PgPool) {
    sqlx::query(
        "CREATE TABLE loyalty_points (
             id uuid PRIMARY KEY,
             member_id uuid REFERENCES profiles (id))",
    )
    .execute(&db)
    .await
    .unwrap();
    let found = gaps(&db, PLAN).await;
    assert_eq!(
        found,
        vec![Gap::Unplanned {
            table: "loyalty_points".into(),
            column: "member_id".into()
        }]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_cascade_changed_in_the_schema_but_not_in_the_plan_fails(db: PgPool) {
    sqlx::query(
        "ALTER TABLE job_applications DROP CONSTRAINT job_applications_profile_id_fkey,
             ADD CONSTRAINT job_applications_profile_id_fkey
             FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE",
    )
    .execute(&db)
    .await
    .unwrap();
    let found = gaps(&db, PLAN).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        matches!(&found[0], Gap::WrongDeleteRule { reference, actual, .. }
            if reference.table == "job_applications" && actual == "CASCADE"),
        "{found:?}"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_plan_naming_a_missing_table_or_column_fails(db: PgPool) {
    let mut wrong: Vec<Entry> = PLAN.to_vec();
    wrong.push(Entry {
        reference: Column {
            table: "invoices",
            column: "user_id",
        },
        action: Action::Delete,
    });
    wrong.push(Entry {
        reference: Column {
            table: "sessions",
            column: "owner_id",
        },
        action: Action::Cascade,
    });
    assert_eq!(
        gaps(&db, &wrong).await,
        vec![
            Gap::NoSuchReference(Column {
                table: "invoices",
                column: "user_id"
            }),
            Gap::NoSuchReference(Column {
                table: "sessions",
                column: "owner_id"
            }),
        ]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_new_reference_to_a_shared_address_must_count_as_sharing_it(db: PgPool) {
    sqlx::query(
        "ALTER TABLE dispatches ADD COLUMN drop_off_address_id uuid REFERENCES addresses (id)",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(
        gaps(&db, PLAN).await,
        vec![Gap::UnlistedSharer {
            table: "addresses",
            sharer_table: "dispatches".into(),
            sharer_column: "drop_off_address_id".into(),
        }]
    );
}
