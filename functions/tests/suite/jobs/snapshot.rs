//! The pre-deploy snapshot hook against moto's RDS, answering a CodeDeploy
//! stand-in on loopback (moto has no lifecycle call): the recorded request
//! must carry the deployment, the hook execution and the status.

use std::time::Duration;

use erasure::aws::codedeploy::{CodeDeploy, HookStatus};
use erasure::aws::metrics::Metrics;
use erasure::aws::rds::snapshot_name;
use erasure::aws::rds::{Database, Rds};
use erasure::config::snapshot::SnapshotConfig;
use erasure::jobs::snapshot::{self, HookEvent};
use erasure_fixtures::codedeploy as stand_in;
use serde_json::json;

const PRE_TRAFFIC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/snapshot_hook/pre-traffic.json"
));

/// What the stand-in received: the X-Amz-Target header and the JSON body.
type Received = stand_in::Calls;

/// A loopback stand-in for CodeDeploy's PutLifecycleEventHookExecutionStatus.
async fn codedeploy_stand_in() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, stand_in::serve(listener))
}

/// A DB instance in moto, of this test only.
async fn instance(sdk: &aws_config::SdkConfig) -> String {
    let id = format!("db{}", uuid::Uuid::new_v4().simple());
    aws_sdk_rds::Client::new(sdk)
        .create_db_instance()
        .db_instance_identifier(&id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("erasure")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .expect("moto creates the instance");
    id
}

/// Settings with a prefix of this test only (snapshot names are per account).
fn settings(database: Database, keep: usize) -> SnapshotConfig {
    SnapshotConfig {
        database,
        prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        keep,
        poll: Duration::from_millis(10),
    }
}

fn hook(deployment: &str) -> HookEvent {
    HookEvent {
        deployment_id: deployment.to_owned(),
        hook_execution_id: format!("exec-{deployment}"),
    }
}

struct Clients {
    rds: Rds,
    codedeploy: CodeDeploy,
    metrics: Metrics,
    sdk: aws_config::SdkConfig,
}

async fn clients(codedeploy_url: &str) -> Clients {
    let sdk = crate::common::moto().await;
    Clients {
        rds: Rds::new(&sdk),
        codedeploy: CodeDeploy::with_endpoint(&sdk, codedeploy_url),
        metrics: Metrics::new(&sdk),
        sdk,
    }
}

#[tokio::test]
async fn the_hook_event_snapshots_and_reports_succeeded() {
    let (url, received) = codedeploy_stand_in().await;
    let c = clients(&url).await;
    let s = settings(Database::Instance(instance(&c.sdk).await), 5);
    let event: HookEvent = serde_json::from_str(PRE_TRAFFIC).unwrap();
    let report = snapshot::handle(&c.rds, &c.codedeploy, &c.metrics, &s, &event, &|| true)
        .await
        .unwrap();
    assert_eq!(report.status, HookStatus::Succeeded, "{report:?}");
    assert!(report.created);
    assert_eq!(report.snapshot, format!("{}-d-ab12cd34e", s.prefix));
    let found = c
        .rds
        .find(&s.database, &report.snapshot)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, "available");

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (target, body) = &received[0];
    assert_eq!(
        target,
        "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
    );
    assert_eq!(
        body,
        &json!({
            "deploymentId": "d-AB12CD34E",
            "lifecycleEventHookExecutionId": event.hook_execution_id,
            "status": "Succeeded",
        })
    );
}

#[tokio::test]
async fn every_function_of_one_deployment_shares_one_snapshot() {
    let (url, received) = codedeploy_stand_in().await;
    let c = clients(&url).await;
    let s = settings(Database::Instance(instance(&c.sdk).await), 5);
    // Four deployment groups, one deployment, hooks at once.
    let run = |i: usize| {
        let event = HookEvent {
            hook_execution_id: format!("exec-{i}"),
            ..hook("d-SAME0001")
        };
        let (c, s) = (&c, &s);
        async move {
            snapshot::handle(&c.rds, &c.codedeploy, &c.metrics, s, &event, &|| true)
                .await
                .unwrap()
        }
    };
    let (a, b, d, e) = tokio::join!(run(0), run(1), run(2), run(3));
    let reports = [a, b, d, e];
    assert!(
        reports.iter().all(|r| r.status == HookStatus::Succeeded),
        "{reports:?}"
    );
    assert_eq!(
        reports.iter().filter(|r| r.created).count(),
        1,
        "{reports:?}"
    );
    let ours = c.rds.snapshots(&s.database, None).await.unwrap();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let mut executions: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            b["lifecycleEventHookExecutionId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    executions.sort();
    assert_eq!(executions, ["exec-0", "exec-1", "exec-2", "exec-3"]);
}

#[tokio::test]
async fn old_snapshots_beyond_the_count_are_pruned_oldest_first() {
    let (url, _) = codedeploy_stand_in().await;
    let c = clients(&url).await;
    let s = settings(Database::Instance(instance(&c.sdk).await), 2);
    let mut pruned = Vec::new();
    for d in ["d-1", "d-2", "d-3", "d-4"] {
        let report = snapshot::handle(&c.rds, &c.codedeploy, &c.metrics, &s, &hook(d), &|| true)
            .await
            .unwrap();
        assert_eq!(report.status, HookStatus::Succeeded);
        pruned.extend(report.pruned);
    }
    assert_eq!(
        pruned,
        [
            snapshot_name(&s.prefix, "d-1"),
            snapshot_name(&s.prefix, "d-2")
        ]
    );
    let mut left: Vec<String> = c
        .rds
        .snapshots(&s.database, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            snapshot_name(&s.prefix, "d-3"),
            snapshot_name(&s.prefix, "d-4")
        ]
    );
}

#[tokio::test]
async fn an_aurora_cluster_is_snapshotted_as_a_cluster() {
    let (url, _) = codedeploy_stand_in().await;
    let c = clients(&url).await;
    let cluster = format!("aurora{}", uuid::Uuid::new_v4().simple());
    aws_sdk_rds::Client::new(&c.sdk)
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("erasure")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .expect("moto creates the cluster");
    let s = settings(Database::Cluster(cluster), 3);
    let report = snapshot::handle(
        &c.rds,
        &c.codedeploy,
        &c.metrics,
        &s,
        &hook("d-AURORA01"),
        &|| true,
    )
    .await
    .unwrap();
    assert_eq!(report.status, HookStatus::Succeeded, "{report:?}");
    let found = c
        .rds
        .find(&s.database, &report.snapshot)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, "available");
}

#[tokio::test]
async fn a_failure_reports_failed_and_publishes_it() {
    let (url, received) = codedeploy_stand_in().await;
    let c = clients(&url).await;
    let s = settings(Database::Instance("no-such-instance".into()), 3);
    let report = snapshot::handle(
        &c.rds,
        &c.codedeploy,
        &c.metrics,
        &s,
        &hook("d-FAIL0001"),
        &|| true,
    )
    .await
    .unwrap();
    assert_eq!(report.status, HookStatus::Failed);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("CreateDBSnapshot"),
        "{report:?}"
    );
    assert_eq!(received.lock().unwrap()[0].1["status"], "Failed");
    let failed = crate::common::metric_max(&c.sdk, snapshot::FUNCTION, "SnapshotFailed").await;
    assert!(failed >= 1.0, "SnapshotFailed in CloudWatch: {failed}");

    // RDS unreachable: Failed as well, and CodeDeploy is still told.
    let report = snapshot::handle(
        &Rds::new(&crate::common::aws_down()),
        &c.codedeploy,
        &c.metrics,
        &s,
        &hook("d-DOWN0001"),
        &|| true,
    )
    .await
    .unwrap();
    assert_eq!(report.status, HookStatus::Failed, "{report:?}");
    assert_eq!(received.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn when_codedeploy_cannot_be_told_the_invocation_fails() {
    let c = clients("http://127.0.0.1:9").await;
    let s = settings(Database::Instance(instance(&c.sdk).await), 3);
    let told = snapshot::handle(
        &c.rds,
        &c.codedeploy,
        &c.metrics,
        &s,
        &hook("d-NOCD0001"),
        &|| true,
    )
    .await;
    assert!(told.is_err());
}
