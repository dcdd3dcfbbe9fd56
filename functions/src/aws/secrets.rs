//! Secrets Manager: the database credentials and the JWT signing key.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Secrets {
    client: Client,
}

/// A database secret in the format RDS writes. Connection fields are optional:
/// an RDS-managed master secret holds only the username and password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct DatabaseCredentials {
    pub username: String,
    pub password: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
}

// Hand-written so that the password never reaches a log line.
impl std::fmt::Debug for DatabaseCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .finish()
    }
}

/// What went wrong, naming the secret but never its value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} could not be read: {detail}")]
    Unavailable { id: String, detail: String },
    #[error("secret {id} has no string value")]
    NotAString { id: String },
    #[error("secret {id} is not a database secret (JSON with username and password): {detail}")]
    Malformed { id: String, detail: String },
}

impl Secrets {
    pub fn new(sdk: &SdkConfig) -> Secrets {
        Secrets {
            client: Client::new(sdk),
        }
    }

    /// The secret's string value, e.g. the HS256 key for session tokens.
    pub async fn string(&self, id: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable {
                id: id.to_owned(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        out.secret_string
            .ok_or_else(|| SecretError::NotAString { id: id.to_owned() })
    }

    pub async fn database_credentials(&self, id: &str) -> Result<DatabaseCredentials, SecretError> {
        let raw = self.string(id).await?;
        serde_json::from_str(&raw).map_err(|e| SecretError::Malformed {
            id: id.to_owned(),
            detail: redacted_json_error(&e),
        })
    }
}

/// serde_json quotes the offending value in some messages ("invalid type:
/// string \"…\""); in a secret that value may be the password, so only the
/// messages that name a field are kept whole.
fn redacted_json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        format!(
            "{:?} error at line {}, column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    }
}
