//! schemathesis (PyPI) against `openapi.yaml`, through the running functions:
//! each operation on its function's URL under `cargo lambda watch`, with all
//! of schemathesis's checks, a fixed seed and a bounded number of examples
//! per operation, acting as ADMINs this run creates on users it creates
//! (`infra/schemathesis/`: the configuration and the hooks). It passes with
//! no 5xx, no undocumented status, header or content type, and no
//! schema-valid request refused. More examples: ERASURE_SCHEMATHESIS_EXAMPLES.

mod common;

use std::process::Command;

use common::{root, stack};
use erasure::http::routes::Route;
use erasure_fixtures::{cast, tokens};
use sqlx::PgPool;
use uuid::Uuid;

/// Actors per operation to rotate through: more than schemathesis sends
/// requests for one operation, so that none repeats an actor.
const ADMINS: usize = 400;
const SEED: &str = "20261202";

async fn admins(db: &PgPool) -> Vec<Uuid> {
    if !cast::is_loaded(db).await.unwrap() {
        cast::load(db).await.unwrap();
    }
    sqlx::query_scalar(
        "INSERT INTO profiles (email, type)
         SELECT 'schemathesis-' || gen_random_uuid() || '@example.com', 'ADMIN'
           FROM generate_series(1, $1) RETURNING id",
    )
    .bind(ADMINS as i32)
    .fetch_all(db)
    .await
    .unwrap()
}

/// Clients for `route` to act on: live ones, for a restore soft-deleted
/// yesterday (within the grace period) by `by`, for a hold's lifting held
/// (by `by`).
async fn targets(db: &PgPool, route: Route, by: Uuid) -> Vec<Uuid> {
    let deleted = route == Route::Restore;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO profiles (email, type, deleted_at, deleted_by, deletion_reason)
         SELECT 'schemathesis-' || gen_random_uuid() || '@example.com', 'CLIENT',
                CASE WHEN $1 THEN now() - interval '1 day' END,
                CASE WHEN $1 THEN $2::uuid END,
                CASE WHEN $1 THEN 'schemathesis' END
           FROM generate_series(1, 20) RETURNING id",
    )
    .bind(deleted)
    .bind(by)
    .fetch_all(db)
    .await
    .unwrap();
    if route == Route::LiftLegalHold {
        sqlx::query(
            "INSERT INTO legal_holds (user_id, reason, placed_by)
             SELECT id, 'schemathesis', $2 FROM unnest($1::uuid[]) id",
        )
        .bind(&ids)
        .bind(by)
        .execute(db)
        .await
        .unwrap();
    }
    ids
}

/// How many of `ids` a mutation's run changed: soft-deleted, purged,
/// restored, held or no longer held.
async fn acted_on(db: &PgPool, route: Route, ids: &[Uuid]) -> i64 {
    let sql = match route {
        Route::SoftDelete => {
            "SELECT count(*) FROM profiles WHERE id = ANY($1) AND deleted_at IS NOT NULL"
        }
        Route::Purge => {
            "SELECT cardinality($1::uuid[]) - count(*) FROM profiles WHERE id = ANY($1)"
        }
        Route::Restore => "SELECT count(*) FROM profiles WHERE id = ANY($1) AND deleted_at IS NULL",
        Route::PlaceLegalHold => "SELECT count(*) FROM legal_holds WHERE user_id = ANY($1)",
        Route::LiftLegalHold => {
            "SELECT cardinality($1::uuid[]) - count(*) FROM legal_holds WHERE user_id = ANY($1)"
        }
        Route::ListDeleted => unreachable!("a listing changes nobody"),
    };
    sqlx::query_scalar(sql)
        .bind(ids)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_any_operation() {
    let db = PgPool::connect(&stack("DATABASE_URL")).await.unwrap();
    let secret = std::fs::read(root().join("infra/local/jwt-hs256.secret")).unwrap();
    let expires = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
        + 3600;
    let dir = std::env::temp_dir().join(format!("erasure-schemathesis-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let examples =
        std::env::var("ERASURE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "20".to_owned());
    let config = root().join("infra/schemathesis");
    let mut failed = Vec::new();
    for route in Route::ALL {
        let (function, operation) = (route.function(), route.operation_id());
        // Admins of this operation's own, so that a key schemathesis sends
        // again on another operation is another actor's.
        let admins = admins(&db).await;
        let tokens: Vec<String> = admins
            .iter()
            .map(|&id| tokens::sign(&secret, id, expires))
            .collect();
        let run = dir.join(operation);
        std::fs::create_dir_all(&run).unwrap();
        let token_file = run.join("tokens");
        std::fs::write(&token_file, tokens.join("\n")).unwrap();
        let ids = targets(&db, route, admins[0]).await;
        let targets: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
        std::fs::write(run.join("targets"), targets.join("\n")).unwrap();
        // The configuration names `targets` relative to itself.
        std::fs::copy(
            config.join("schemathesis.toml"),
            run.join("schemathesis.toml"),
        )
        .unwrap();
        let output = Command::new(root().join(".venv/bin/schemathesis"))
            .current_dir(&run)
            .env("PYTHONPATH", &config)
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("ERASURE_SCHEMATHESIS_TOKENS", &token_file)
            .arg("--config-file")
            .arg(run.join("schemathesis.toml"))
            .arg("run")
            .arg(root().join("openapi.yaml"))
            .arg("--url")
            .arg(format!(
                "{}/lambda-url/{function}",
                stack("ERASURE_LAMBDA_URL")
            ))
            .args(["--include-operation-id", operation])
            .args(["--seed", SEED, "--max-examples", &examples])
            .args(["--workers", "1", "--request-timeout", "60"])
            .output()
            .expect("schemathesis runs (make test installs it into .venv)");
        let report = String::from_utf8_lossy(&output.stdout);
        println!("{operation}:\n{report}");
        if !output.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            failed.push(operation);
        }
        if route.mutates() {
            let acted = acted_on(&db, route, &ids).await;
            assert!(
                acted > 0,
                "{operation}: no request got past 404 to act on a target"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failed.is_empty(),
        "schemathesis found problems in {failed:?} (above)"
    );
}
