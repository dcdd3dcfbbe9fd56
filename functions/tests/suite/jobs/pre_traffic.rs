//! The PreTraffic hook whole: the deploy's snapshot, the smoke test of the
//! version CodeDeploy names, and the answer. CodeDeploy and Lambda's Invoke
//! API are stand-ins on loopback (moto serves neither); the invoked version
//! is the real HTTP function's invocation handler over a real PostgreSQL,
//! configured as the version under test is.

use std::time::Duration;

use erasure::aws::codedeploy::{CodeDeploy, HookStatus};
use erasure::aws::lambda::Lambda;
use erasure::aws::metrics::Metrics;
use erasure::aws::rds::{Database, Rds};
use erasure::config::snapshot::SnapshotConfig;
use erasure::http::invocation::{self, Invocation};
use erasure::http::routes::Route;
use erasure::jobs::pre_traffic::{self, HookClients, HookEvent, HookReport};
use erasure::store::migrations::{MIGRATOR, latest_version};
use erasure_fixtures::codedeploy::{self as codedeploy_stand_in, CodeDeployStandIn};
use erasure_fixtures::lambda::{Answer, LambdaStandIn};
use erasure_fixtures::rds::RdsStandIn;
use serde_json::Value;
use sqlx::PgPool;

use super::snapshot::{moto_instance, settings};
use crate::common::try_http_app;

const PRE_TRAFFIC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/snapshot_hook/pre-traffic.json"
));

/// A new version of `soft_delete_user` over `db`, configured by `vars`, as
/// Lambda runs it: its cold start, then the invocation it is sent. A cold
/// start that fails is Lambda's `Runtime.InitError`.
async fn version_of(db: PgPool, vars: Vec<(String, String)>) -> LambdaStandIn {
    LambdaStandIn::start(move |call| {
        let (db, vars) = (db.clone(), vars.clone());
        async move {
            let vars: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let app = match try_http_app(db, &vars).await {
                Ok(app) => app,
                Err(e) => {
                    return Answer::Failed {
                        error_type: "Runtime.InitError".into(),
                        message: e.to_string(),
                    };
                }
            };
            // The dispatch itself is tested with the HTTP functions.
            match serde_json::from_slice::<Invocation>(&call.payload) {
                Ok(Invocation::SmokeTest(_)) => {
                    let health = invocation::smoke_test(&app).await;
                    Answer::Payload(serde_json::to_vec(&health).unwrap())
                }
                Ok(Invocation::Request(_)) => Answer::Failed {
                    error_type: "Test".into(),
                    message: "the hook sent a request, not the smoke test".into(),
                },
                Err(e) => Answer::Failed {
                    error_type: "Runtime.UnmarshalError".into(),
                    message: e.to_string(),
                },
            }
        }
    })
    .await
}

struct Hook {
    clients: HookClients,
    codedeploy: CodeDeployStandIn,
    lambda: LambdaStandIn,
}

async fn hook(rds: Rds, lambda: LambdaStandIn) -> Hook {
    let sdk = crate::common::moto().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let codedeploy = codedeploy_stand_in::serve(listener);
    Hook {
        clients: HookClients {
            rds,
            codedeploy: CodeDeploy::with_endpoint(&sdk, &url),
            lambda: Lambda::with_endpoint(&sdk, &lambda.url),
            metrics: Metrics::new(&sdk),
        },
        codedeploy,
        lambda,
    }
}

/// The hook on a stand-in for RDS whose snapshots take `creating_for`, and
/// a new version configured by `vars`.
async fn on_rds_stand_in(
    db: PgPool,
    vars: Vec<(String, String)>,
    creating_for: Duration,
) -> (RdsStandIn, Hook) {
    let rds = RdsStandIn::start(creating_for).await;
    let sdk = crate::common::moto().await;
    let h = hook(
        Rds::with_endpoint(&sdk, &rds.url),
        version_of(db, vars).await,
    )
    .await;
    (rds, h)
}

impl Hook {
    async fn run(&self, settings: &SnapshotConfig, deployment: &str) -> HookReport {
        let event = HookEvent {
            deployment_id: deployment.to_owned(),
            hook_execution_id: format!("exec-{deployment}"),
        };
        pre_traffic::handle(&self.clients, settings, &event, &|| true)
            .await
            .unwrap()
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_hook_snapshots_smoke_tests_the_target_version_and_answers_succeeded(db: PgPool) {
    let sdk = crate::common::moto().await;
    let h = hook(Rds::new(&sdk), version_of(db, vec![]).await).await;
    let s = settings(Database::Instance(moto_instance(&sdk).await), 5);
    let event: HookEvent = serde_json::from_str(PRE_TRAFFIC).unwrap();
    h.codedeploy.deploy(
        &event.deployment_id,
        "erasure-test-soft-delete-user",
        "7",
        "8",
    );
    let report = pre_traffic::handle(&h.clients, &s, &event, &|| true)
        .await
        .unwrap();
    assert_eq!(report.status, HookStatus::Succeeded, "{report:?}");
    assert_eq!(report.snapshot, Some(format!("{}-d-ab12cd34e", s.prefix)));
    assert_eq!(
        report.smoke_tested.as_deref(),
        Some("erasure-test-soft-delete-user:8")
    );
    // The version CodeDeploy named, invoked directly with the smoke test.
    let invoked = h.lambda.invocations();
    assert_eq!(invoked.len(), 1);
    assert_eq!(invoked[0].function, "erasure-test-soft-delete-user");
    assert_eq!(invoked[0].qualifier.as_deref(), Some("8"));
    let sent: Value = serde_json::from_slice(&invoked[0].payload).unwrap();
    assert_eq!(sent, serde_json::json!({"erasureSmokeTest": true}));
    assert_eq!(
        h.codedeploy.answers(),
        [(
            event.deployment_id.clone(),
            event.hook_execution_id.clone(),
            "Succeeded".to_owned()
        )]
    );
    let published = crate::common::metric_names(&sdk, pre_traffic::FUNCTION).await;
    for metric in [pre_traffic::SNAPSHOT_FAILED, pre_traffic::SMOKE_TEST_FAILED] {
        assert!(
            published.iter().any(|m| m == metric),
            "{metric}: {published:?}"
        );
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_http_function_deployed_at_once_succeeds_on_one_snapshot(db: PgPool) {
    let (rds, h) = on_rds_stand_in(db, vec![], Duration::from_millis(300)).await;
    let s = settings(Database::Instance("erasure-db".into()), 5);
    // One deployment per function (the legal hold's two routes are one).
    let mut functions: Vec<&str> = Route::ALL.iter().map(|r| r.function()).collect();
    functions.dedup();
    assert_eq!(functions.len(), 5, "{functions:?}");
    let ids: Vec<String> = functions
        .iter()
        .map(|f| format!("d-{}", f.to_uppercase()))
        .collect();
    for (id, function) in ids.iter().zip(&functions) {
        h.codedeploy.deploy(id, function, "7", "8");
    }
    let (a, b, c, d, e) = tokio::join!(
        h.run(&s, &ids[0]),
        h.run(&s, &ids[1]),
        h.run(&s, &ids[2]),
        h.run(&s, &ids[3]),
        h.run(&s, &ids[4])
    );
    let reports = [a, b, c, d, e];
    assert!(
        reports.iter().all(|r| r.status == HookStatus::Succeeded),
        "{reports:?}"
    );
    assert_eq!(rds.creates(), 1, "exactly one snapshot for the deploy");
    assert_eq!(rds.snapshots().len(), 1);
    assert!(reports.iter().all(|r| r.snapshot == reports[0].snapshot));
    let answered: Vec<String> = h
        .codedeploy
        .answers()
        .into_iter()
        .map(|(_, _, s)| s)
        .collect();
    assert_eq!(answered, ["Succeeded"; 5]);
    assert_eq!(h.lambda.invocations().len(), 5);
}

/// A broken new version fails the hook for its stated reason; the deploy's
/// snapshot is still taken, once.
async fn broken_version_fails(db: PgPool, vars: Vec<(String, String)>, reason: &str) {
    let (rds, h) = on_rds_stand_in(db, vars, Duration::from_millis(50)).await;
    let s = settings(Database::Instance("erasure-db".into()), 5);
    h.codedeploy
        .deploy("d-BROKEN01", "erasure-test-purge-user", "3", "4");
    let report = h.run(&s, "d-BROKEN01").await;
    assert_eq!(report.status, HookStatus::Failed, "{report:?}");
    let error = report.error.as_deref().unwrap();
    assert!(
        error.starts_with("smoke test: version 4 of erasure-test-purge-user"),
        "{error}"
    );
    assert!(error.contains(reason), "{error}");
    assert_eq!(rds.creates(), 1, "the snapshot was taken all the same");
    assert!(report.snapshot.is_some());
    assert_eq!(h.codedeploy.answers()[0].2, "Failed");
    let failed = crate::common::metric_max(
        &crate::common::moto().await,
        pre_traffic::FUNCTION,
        pre_traffic::SMOKE_TEST_FAILED,
    )
    .await;
    assert!(failed >= 1.0, "SmokeTestFailed in CloudWatch: {failed}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_version_that_cannot_read_its_secret_fails_the_hook(db: PgPool) {
    let vars = vec![(
        "JWT_HS256_SECRET_ARN".to_owned(),
        "erasure/test/no-such-secret".to_owned(),
    )];
    broken_version_fails(db, vars, "Runtime.InitError").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_version_whose_migration_is_missing_fails_the_hook(db: PgPool) {
    // The database is a migration behind the code.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(latest_version())
        .execute(&db)
        .await
        .unwrap();
    broken_version_fails(db, vec![], "the code expects").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_version_with_an_altered_policy_module_fails_the_hook(db: PgPool) {
    let mut altered = erasure_policy::EMBEDDED_MODULE.to_vec();
    let last = altered.len() - 1;
    altered[last] ^= 0xff;
    let path = std::env::temp_dir().join(format!("policy-{}.wasm", uuid::Uuid::new_v4()));
    std::fs::write(&path, &altered).unwrap();
    let vars = vec![
        ("POLICY_MODULE_PATH".to_owned(), path.display().to_string()),
        (
            "POLICY_MODULE_SHA256".to_owned(),
            erasure_policy::EMBEDDED_SHA256.to_owned(),
        ),
    ];
    broken_version_fails(db, vars, "policy unavailable").await;
    std::fs::remove_file(path).unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deployment_codedeploy_does_not_know_fails_the_hook(db: PgPool) {
    let (_rds, h) = on_rds_stand_in(db, vec![], Duration::from_millis(50)).await;
    let s = settings(Database::Instance("erasure-db".into()), 5);
    let report = h.run(&s, "d-UNKNOWN1").await;
    assert_eq!(report.status, HookStatus::Failed);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("DeploymentDoesNotExist"),
        "{report:?}"
    );
    assert!(h.lambda.invocations().is_empty(), "nothing is smoke-tested");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_snapshot_failure_answers_failed_and_publishes_it(db: PgPool) {
    let sdk = crate::common::moto().await;
    let h = hook(Rds::new(&sdk), version_of(db.clone(), vec![]).await).await;
    h.codedeploy.deploy("d-FAIL0001", "f", "1", "2");
    let s = settings(Database::Instance("no-such-instance".into()), 3);
    let report = h.run(&s, "d-FAIL0001").await;
    assert_eq!(report.status, HookStatus::Failed);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("CreateDBSnapshot"),
        "{report:?}"
    );
    assert!(
        h.lambda.invocations().is_empty(),
        "no smoke test without a snapshot"
    );
    let failed =
        crate::common::metric_max(&sdk, pre_traffic::FUNCTION, pre_traffic::SNAPSHOT_FAILED).await;
    assert!(failed >= 1.0, "SnapshotFailed in CloudWatch: {failed}");

    // RDS unreachable: Failed as well, and CodeDeploy is still told.
    let down = HookClients {
        rds: Rds::new(&crate::common::aws_down()),
        ..hook(Rds::new(&sdk), version_of(db, vec![]).await)
            .await
            .clients
    };
    let event = HookEvent {
        deployment_id: "d-DOWN0001".into(),
        hook_execution_id: "exec-down".into(),
    };
    let report = pre_traffic::handle(&down, &s, &event, &|| true)
        .await
        .unwrap();
    assert_eq!(report.status, HookStatus::Failed, "{report:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn when_codedeploy_cannot_be_told_the_invocation_fails(db: PgPool) {
    let sdk = crate::common::moto().await;
    let lambda = version_of(db, vec![]).await;
    let clients = HookClients {
        rds: Rds::new(&sdk),
        codedeploy: CodeDeploy::with_endpoint(&sdk, "http://127.0.0.1:9"),
        lambda: Lambda::with_endpoint(&sdk, &lambda.url),
        metrics: Metrics::new(&sdk),
    };
    let s = settings(Database::Instance(moto_instance(&sdk).await), 3);
    let event = HookEvent {
        deployment_id: "d-NOCD0001".into(),
        hook_execution_id: "exec".into(),
    };
    assert!(
        pre_traffic::handle(&clients, &s, &event, &|| true)
            .await
            .is_err()
    );
}
