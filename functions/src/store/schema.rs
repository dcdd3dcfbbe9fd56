//! What the live schema says about itself, read from `information_schema`.

use sqlx::PgExecutor;

use crate::domain::plan::ForeignKey;

/// Every single-column foreign key in the current schema. (Constraint names
/// are matched within the schema; PostgreSQL's generated `<table>_<column>_fkey`
/// names keep them unique here.)
pub async fn foreign_keys(db: impl PgExecutor<'_>) -> Result<Vec<ForeignKey>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, bool)> = sqlx::query_as(
        "SELECT kcu.table_name::text, kcu.column_name::text, ccu.table_name::text,
                rc.delete_rule::text, c.is_nullable = 'YES'
           FROM information_schema.referential_constraints rc
           JOIN information_schema.key_column_usage kcu
             ON kcu.constraint_schema = rc.constraint_schema
            AND kcu.constraint_name = rc.constraint_name
           JOIN information_schema.constraint_column_usage ccu
             ON ccu.constraint_schema = rc.constraint_schema
            AND ccu.constraint_name = rc.constraint_name
           JOIN information_schema.columns c
             ON c.table_schema = kcu.table_schema
            AND c.table_name = kcu.table_name
            AND c.column_name = kcu.column_name
          WHERE rc.constraint_schema = current_schema()
          ORDER BY 1, 2",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(table, column, referenced_table, delete_rule, nullable)| ForeignKey {
                table,
                column,
                referenced_table,
                delete_rule,
                nullable,
            },
        )
        .collect())
}
