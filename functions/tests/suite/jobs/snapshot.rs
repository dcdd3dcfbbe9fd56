//! The deploy's snapshot: against a stand-in for RDS that behaves as RDS
//! does where moto does not (one snapshot of a database at a time, the
//! instance `backing-up` meanwhile, snapshots `creating` for a while), and
//! against moto's RDS for the SDK's calls and pruning.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erasure::aws::rds::{Database, Rds, snapshot_name};
use erasure::config::snapshot::SnapshotConfig;
use erasure::jobs::snapshot::{self, SnapshotError, Taken};
use erasure_fixtures::rds::RdsStandIn;

/// Settings with a prefix of this test only (snapshot names are per account).
pub fn settings(database: Database, keep: usize) -> SnapshotConfig {
    SnapshotConfig {
        database,
        prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        keep,
        share_window: Duration::from_secs(600),
        poll: Duration::from_millis(10),
    }
}

/// A DB instance in moto, of this test only.
pub async fn moto_instance(sdk: &aws_config::SdkConfig) -> String {
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

/// A deadline that allows three more checks, then says stop.
fn three_more_checks() -> impl Fn() -> bool + Sync {
    let checks = AtomicUsize::new(0);
    move || checks.fetch_add(1, Ordering::SeqCst) < 3
}

async fn stand_in() -> (RdsStandIn, Rds) {
    let rds = RdsStandIn::start(Duration::from_millis(300)).await;
    let client = Rds::with_endpoint(&crate::common::moto().await, &rds.url);
    (rds, client)
}

/// Four hooks of one deploy (four functions, four deployment ids) at once.
async fn four_at_once(rds: &Rds, s: &SnapshotConfig) -> Vec<Result<Taken, SnapshotError>> {
    let take = |i: usize| async move {
        snapshot::take_for_deploy(rds, s, &format!("d-FUNCTION{i}"), &|| true).await
    };
    let (a, b, c, d) = tokio::join!(take(0), take(1), take(2), take(3));
    vec![a, b, c, d]
}

async fn one_snapshot_for_four_deployments(database: Database) {
    let (stand_in, rds) = stand_in().await;
    let s = settings(database, 5);
    let taken: Vec<Taken> = four_at_once(&rds, &s)
        .await
        .into_iter()
        .map(|t| t.expect("every hook gets the deploy's snapshot"))
        .collect();
    assert_eq!(taken.iter().filter(|t| t.created).count(), 1, "{taken:?}");
    assert!(
        taken.iter().all(|t| t.snapshot == taken[0].snapshot),
        "{taken:?}"
    );
    assert_eq!(stand_in.creates(), 1);
    assert_eq!(
        stand_in.snapshots(),
        [(taken[0].snapshot.clone(), "available")]
    );
}

#[tokio::test]
async fn four_deployments_of_one_deploy_share_one_snapshot_of_an_instance() {
    one_snapshot_for_four_deployments(Database::Instance("erasure-db".into())).await;
}

#[tokio::test]
async fn four_deployments_of_one_deploy_share_one_snapshot_of_an_aurora_cluster() {
    one_snapshot_for_four_deployments(Database::Cluster("erasure-aurora".into())).await;
}

#[tokio::test]
async fn a_later_deploy_takes_a_snapshot_of_its_own_and_retention_counts_deploys() {
    let (stand_in, rds) = stand_in().await;
    // Deploys further apart than the share window.
    let s = SnapshotConfig {
        share_window: Duration::from_millis(350),
        ..settings(Database::Instance("erasure-db".into()), 2)
    };
    let mut pruned = Vec::new();
    for deploy in 1..=3 {
        let taken = four_at_once(&rds, &s).await;
        for t in &taken {
            assert!(t.is_ok(), "deploy {deploy}: {t:?}");
        }
        pruned.extend(taken.into_iter().flat_map(|t| t.unwrap().pruned));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(stand_in.creates(), 3, "one snapshot per deploy");
    assert_eq!(pruned.len(), 1, "the first deploy's, once: {pruned:?}");
    let kept: Vec<String> = stand_in.snapshots().into_iter().map(|(id, _)| id).collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(!kept.contains(&pruned[0]), "{kept:?}");
}

#[tokio::test]
async fn a_busy_database_is_waited_for_within_the_deadline() {
    let (stand_in, rds) = stand_in().await;
    let s = settings(Database::Instance("erasure-db".into()), 5);
    // A modification in progress: CreateDBSnapshot is refused meanwhile.
    stand_in.busy_for("erasure-db", Duration::from_millis(200));
    let taken = snapshot::take_for_deploy(&rds, &s, "d-BUSY0001", &|| true)
        .await
        .unwrap();
    assert!(taken.created);

    // Busy past the deadline: the hook gives up, saying why.
    stand_in.busy_for("erasure-other", Duration::from_secs(60));
    let s = settings(Database::Instance("erasure-other".into()), 5);
    let err = snapshot::take_for_deploy(&rds, &s, "d-BUSY0002", &three_more_checks())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Busy(e) if e.database_busy()),
        "{err}"
    );
}

#[tokio::test]
async fn a_snapshot_still_creating_at_the_deadline_fails_the_hook() {
    let rds_stand_in = RdsStandIn::start(Duration::from_secs(60)).await;
    let rds = Rds::with_endpoint(&crate::common::moto().await, &rds_stand_in.url);
    let s = settings(Database::Instance("erasure-db".into()), 5);
    let err = snapshot::take_for_deploy(&rds, &s, "d-SLOW0001", &three_more_checks())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SnapshotError::OutOfTime { status, .. } if status == "creating"),
        "{err}"
    );
}

#[tokio::test]
async fn through_motos_rds_snapshots_are_made_found_and_pruned_oldest_first() {
    let sdk = crate::common::moto().await;
    let rds = Rds::new(&sdk);
    // moto's snapshots are available at once: a zero share window makes
    // each call a deploy of its own.
    let s = SnapshotConfig {
        share_window: Duration::ZERO,
        ..settings(Database::Instance(moto_instance(&sdk).await), 2)
    };
    let mut pruned = Vec::new();
    for d in ["d-1", "d-2", "d-3", "d-4"] {
        let taken = snapshot::take_for_deploy(&rds, &s, d, &|| true)
            .await
            .unwrap();
        assert!(taken.created);
        pruned.extend(taken.pruned);
    }
    assert_eq!(
        pruned,
        [
            snapshot_name(&s.prefix, "d-1"),
            snapshot_name(&s.prefix, "d-2")
        ]
    );
    let mut left: Vec<String> = rds
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
async fn through_motos_rds_an_aurora_cluster_is_snapshotted_as_a_cluster() {
    let sdk = crate::common::moto().await;
    let cluster = format!("aurora{}", uuid::Uuid::new_v4().simple());
    aws_sdk_rds::Client::new(&sdk)
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("erasure")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .expect("moto creates the cluster");
    let rds = Rds::new(&sdk);
    let s = settings(Database::Cluster(cluster), 3);
    let taken = snapshot::take_for_deploy(&rds, &s, "d-AURORA01", &|| true)
        .await
        .unwrap();
    let found = rds
        .find(&s.database, &taken.snapshot)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, "available");
}
