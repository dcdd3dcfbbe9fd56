//! The audit chain's anchor, kept outside the database: the last row the
//! integrity audit verified (its seq and hash), in an SSM parameter that only
//! the audit function may write. The hash chain shows an edited row; only an
//! anchor outside the database shows a history rewritten with its hashes
//! recomputed, or a tail cut off, by someone who owns the database.

use aws_config::SdkConfig;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

/// A verified row of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainAnchor {
    pub seq: i64,
    /// The row's hash, in hex.
    pub row_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("the anchor parameter {name} could not be read: {detail}")]
    Unavailable { name: String, detail: String },
    #[error("the anchor parameter {name} could not be written: {detail}")]
    NotWritten { name: String, detail: String },
    #[error("the anchor parameter {name} does not hold an anchor: {detail}")]
    Malformed { name: String, detail: String },
}

#[derive(Debug, Clone)]
pub struct Anchors {
    client: Client,
    name: String,
}

impl Anchors {
    pub fn new(sdk: &SdkConfig, name: &str) -> Anchors {
        Anchors {
            client: Client::new(sdk),
            name: name.to_owned(),
        }
    }

    /// The anchor, or None before the first run has written one.
    pub async fn read(&self) -> Result<Option<ChainAnchor>, AnchorError> {
        let out = match self.client.get_parameter().name(&self.name).send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(AnchorError::Unavailable {
                    name: self.name.clone(),
                    detail: DisplayErrorContext(&e).to_string(),
                });
            }
        };
        let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
        serde_json::from_str(&value)
            .map(Some)
            .map_err(|e| AnchorError::Malformed {
                name: self.name.clone(),
                detail: e.to_string(),
            })
    }

    /// Replaces the anchor (SSM keeps the earlier ones as versions).
    pub async fn write(&self, anchor: &ChainAnchor) -> Result<(), AnchorError> {
        let value = serde_json::to_string(anchor).expect("an anchor serializes");
        self.client
            .put_parameter()
            .name(&self.name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AnchorError::NotWritten {
                name: self.name.clone(),
                detail: DisplayErrorContext(&e).to_string(),
            })
    }
}
