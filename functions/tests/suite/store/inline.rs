//! Values written into a statement's text arrive as they were sent, however
//! hostile, whatever the session's string settings.

use erasure::store::inline;
use erasure::store::migrations::MIGRATOR;
use sqlx::{PgPool, Row};
use uuid::Uuid;

const HOSTILE: &[&str] = &[
    "",
    "plain",
    "it's",
    "''",
    "back\\slash\\",
    "'); DROP TABLE profiles; --",
    "$$ dollar $1 $tag$",
    "E'\\x41'",
    "tab\tline\nbreak\r",
    "naïve, 日本語, 🦀",
];

#[sqlx::test(migrator = "MIGRATOR")]
async fn hostile_text_arrives_as_sent(db: PgPool) {
    let mut conn = db.acquire().await.unwrap();
    for conforming in ["on", "off"] {
        sqlx::raw_sql(&format!("SET standard_conforming_strings = {conforming}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        for &value in HOSTILE {
            let sql = format!(
                "SELECT {}, {}",
                inline::text(value),
                inline::texts(&[value, "x"])
            );
            let row = sqlx::raw_sql(&sql).fetch_one(&mut *conn).await.unwrap();
            assert_eq!(row.get::<String, _>(0), value, "{conforming}");
            assert_eq!(row.get::<Vec<String>, _>(1), [value, "x"], "{conforming}");
        }
    }
    // Nothing was dropped on the way.
    let profiles: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(profiles, 0);
    conn.close().await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn ids_addresses_numbers_and_nulls_arrive_typed(db: PgPool) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let sql = format!(
        "SELECT {}, {}, {}, host({}), host({}), {} IS NULL, {}, {}, {}",
        inline::uuid(a),
        inline::uuids(&[a, b]),
        inline::optional_uuid(None),
        inline::optional_inet(Some("203.0.113.9".parse().unwrap())),
        inline::optional_inet(Some("2001:db8::1".parse().unwrap())),
        inline::optional_inet(None),
        inline::optional_int(Some(1234)),
        inline::optional_int(None),
        inline::optional_text(None),
    );
    let row = sqlx::raw_sql(&sql).fetch_one(&db).await.unwrap();
    assert_eq!(row.get::<Uuid, _>(0), a);
    assert_eq!(row.get::<Vec<Uuid>, _>(1), [a, b]);
    assert_eq!(row.get::<Option<Uuid>, _>(2), None);
    assert_eq!(row.get::<String, _>(3), "203.0.113.9");
    assert_eq!(row.get::<String, _>(4), "2001:db8::1");
    assert!(row.get::<bool, _>(5));
    assert_eq!(row.get::<Option<i32>, _>(6), Some(1234));
    assert_eq!(row.get::<Option<i32>, _>(7), None);
    assert_eq!(row.get::<Option<String>, _>(8), None);
}
