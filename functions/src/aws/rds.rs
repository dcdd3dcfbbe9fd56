//! RDS manual snapshots, of a DB instance or of an Aurora cluster: the few
//! calls the pre-deploy hook makes, the same for both kinds.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_rds::Client;
use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_rds::types::{DbClusterSnapshot, DbSnapshot};

/// The database to snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Instance(String),
    /// Aurora: snapshots are of the cluster.
    Cluster(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    /// RDS's status: `creating`, `available`, `failed`, …
    pub status: String,
    pub created: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct Rds {
    client: Client,
}

/// An RDS call failed; the message names the call and RDS's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RDS {call}: {detail}")]
pub struct RdsError {
    pub call: &'static str,
    /// RDS's error code (`InvalidDBInstanceState`, …), when it answered.
    pub code: Option<String>,
    pub detail: String,
}

impl RdsError {
    fn is(&self, fragment: &str) -> bool {
        self.code.as_deref().is_some_and(|c| c.contains(fragment))
    }

    /// The snapshot is gone or on its way (`…NotFound`, or
    /// `InvalidDBSnapshotState` while it is being deleted).
    pub fn already_gone(&self) -> bool {
        self.is("NotFound") || self.is("SnapshotState")
    }

    /// The database is not `available` (a snapshot is being made, an
    /// automated backup or a modification is in progress): worth waiting for.
    pub fn database_busy(&self) -> bool {
        self.is("InvalidDBInstanceState") || self.is("InvalidDBClusterState")
    }
}

fn failed<E: std::error::Error + ProvideErrorMetadata + 'static>(
    call: &'static str,
) -> impl FnOnce(aws_sdk_rds::error::SdkError<E>) -> RdsError {
    move |e| RdsError {
        call,
        code: e.code().map(str::to_owned),
        detail: DisplayErrorContext(e).to_string(),
    }
}

fn time(t: Option<&aws_sdk_rds::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

impl From<&DbSnapshot> for Snapshot {
    fn from(s: &DbSnapshot) -> Snapshot {
        Snapshot {
            id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
            status: s.status().unwrap_or_default().to_owned(),
            created: time(s.snapshot_create_time()),
        }
    }
}

impl From<&DbClusterSnapshot> for Snapshot {
    fn from(s: &DbClusterSnapshot) -> Snapshot {
        Snapshot {
            id: s
                .db_cluster_snapshot_identifier()
                .unwrap_or_default()
                .to_owned(),
            status: s.status().unwrap_or_default().to_owned(),
            created: time(s.snapshot_create_time()),
        }
    }
}

/// A snapshot just asked for is being created, if the answer says nothing else.
fn started(mut snapshot: Snapshot) -> Snapshot {
    if snapshot.status.is_empty() {
        snapshot.status = "creating".to_owned();
    }
    snapshot
}

impl Rds {
    pub fn new(sdk: &SdkConfig) -> Rds {
        Rds {
            client: Client::new(sdk),
        }
    }

    /// A client for a given endpoint (a stand-in in tests).
    pub fn with_endpoint(sdk: &SdkConfig, endpoint: &str) -> Rds {
        let config = aws_sdk_rds::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Rds {
            client: Client::from_conf(config),
        }
    }

    /// The snapshot called `id`, if there is one.
    pub async fn find(&self, db: &Database, id: &str) -> Result<Option<Snapshot>, RdsError> {
        let all = self.snapshots(db, Some(id)).await;
        match all {
            Ok(mut found) => Ok(found.pop()),
            Err(e) if e.is("NotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Starts a manual snapshot called `id`; true when this call started it,
    /// false when another invocation had (that snapshot is the answer).
    pub async fn create(&self, db: &Database, id: &str) -> Result<(Snapshot, bool), RdsError> {
        let call = match db {
            Database::Instance(_) => "CreateDBSnapshot",
            Database::Cluster(_) => "CreateDBClusterSnapshot",
        };
        let created = match db {
            Database::Instance(instance) => self
                .client
                .create_db_snapshot()
                .db_instance_identifier(instance)
                .db_snapshot_identifier(id)
                .send()
                .await
                .map(|out| out.db_snapshot().map(|s| started(s.into())))
                .map_err(failed(call)),
            Database::Cluster(cluster) => self
                .client
                .create_db_cluster_snapshot()
                .db_cluster_identifier(cluster)
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map(|out| out.db_cluster_snapshot().map(|s| started(s.into())))
                .map_err(failed(call)),
        };
        match created {
            Ok(Some(snapshot)) => Ok((snapshot, true)),
            Ok(None) => {
                let found = self.find(db, id).await?.ok_or_else(|| RdsError {
                    call,
                    code: None,
                    detail: format!("{id} was not found after it was created"),
                })?;
                Ok((found, true))
            }
            Err(e) if e.is("AlreadyExists") => Ok((self.find(db, id).await?.ok_or(e)?, false)),
            Err(e) => Err(e),
        }
    }

    /// The manual snapshots of `db` (or the one called `id`).
    pub async fn snapshots(
        &self,
        db: &Database,
        id: Option<&str>,
    ) -> Result<Vec<Snapshot>, RdsError> {
        match db {
            Database::Instance(instance) => {
                let mut request = self.client.describe_db_snapshots().snapshot_type("manual");
                request = match id {
                    Some(id) => request.db_snapshot_identifier(id),
                    None => request.db_instance_identifier(instance),
                };
                let pages = request
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(failed("DescribeDBSnapshots"))?;
                Ok(pages
                    .iter()
                    .filter(|s| s.db_instance_identifier() == Some(instance.as_str()))
                    .map(Snapshot::from)
                    .collect())
            }
            Database::Cluster(cluster) => {
                let mut request = self
                    .client
                    .describe_db_cluster_snapshots()
                    .snapshot_type("manual");
                request = match id {
                    Some(id) => request.db_cluster_snapshot_identifier(id),
                    None => request.db_cluster_identifier(cluster),
                };
                let pages = request
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(failed("DescribeDBClusterSnapshots"))?;
                Ok(pages
                    .iter()
                    .filter(|s| s.db_cluster_identifier() == Some(cluster.as_str()))
                    .map(Snapshot::from)
                    .collect())
            }
        }
    }

    pub async fn delete(&self, db: &Database, id: &str) -> Result<(), RdsError> {
        match db {
            Database::Instance(_) => self
                .client
                .delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(failed("DeleteDBSnapshot")),
            Database::Cluster(_) => self
                .client
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(failed("DeleteDBClusterSnapshot")),
        }
    }
}

/// RDS limits a cluster snapshot's name to 63 characters (an instance's to 255).
const MAX_NAME: usize = 63;

/// The snapshot's name for a deployment: lowercase letters, digits and
/// single hyphens, starting with the prefix's letter, at most 63 characters,
/// never ending in a hyphen (RDS's rules).
pub fn snapshot_name(prefix: &str, deployment_id: &str) -> String {
    let mut name = String::new();
    for c in format!("{prefix}-{deployment_id}").chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    name.truncate(MAX_NAME);
    name.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rds_rules_and_the_deployment() {
        assert_eq!(
            snapshot_name("erasure-predeploy", "d-AB12CD34E"),
            "erasure-predeploy-d-ab12cd34e"
        );
        assert_eq!(snapshot_name("erasure", "d--X_y.z-"), "erasure-d-x-y-z");
        let long = snapshot_name("erasure-predeploy", &"d-".repeat(60));
        assert!(
            long.len() <= 63 && !long.ends_with('-') && !long.contains("--"),
            "{long}"
        );
        assert_ne!(
            snapshot_name("erasure", "d-1"),
            snapshot_name("erasure", "d-2")
        );
    }
}
