//! Secrets Manager: the database credentials and the JWT signing key.

use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Secrets {
    client: Client,
    prefetched: Prefetched,
}

/// What `Secrets::prefetch` read ahead, each handed out once: a later read
/// of the same secret asks Secrets Manager again (a rotated password).
#[derive(Clone, Default)]
struct Prefetched(Arc<Mutex<Vec<Held>>>);

/// A secret's value, or why Secrets Manager could not be reached for it,
/// and the ids it may be asked for by (its name and ARN, or the id asked).
struct Held {
    ids: Vec<String>,
    read: Result<String, String>,
}

impl Prefetched {
    fn take(&self, id: &str) -> Option<Result<String, String>> {
        let mut held = self.0.lock().expect("not poisoned");
        let at = held
            .iter()
            .position(|h| h.ids.iter().any(|known| known == id))?;
        Some(held.swap_remove(at).read)
    }
}

// Hand-written so that no value reaches a log line: only which are held.
impl std::fmt::Debug for Prefetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().expect("not poisoned");
        f.debug_list().entries(held.iter().map(|h| &h.ids)).finish()
    }
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
            prefetched: Prefetched::default(),
        }
    }

    /// Reads `ids` in one call (BatchGetSecretValue), so that a cold start
    /// needing several secrets waits for one round trip and one connection;
    /// `string` then hands each out without a call of its own. Anything the
    /// batch does not bring (an error for one secret, or the call refused)
    /// is left to `string`, which reads it alone and says what is wrong.
    /// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html>
    pub async fn prefetch(&self, ids: &[&str]) {
        if ids.len() < 2 {
            return;
        }
        let asked: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        let read = self
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(asked.clone()))
            .send()
            .await;
        let mut held = self.prefetched.0.lock().expect("not poisoned");
        match read {
            Ok(out) => {
                for entry in out.secret_values.unwrap_or_default() {
                    if let Some(value) = entry.secret_string {
                        // Asked for by name or by ARN: either finds it.
                        let ids = [entry.name, entry.arn].into_iter().flatten().collect();
                        held.push(Held {
                            ids,
                            read: Ok(value),
                        });
                    }
                }
            }
            // Refused (no permission for the batch, say): each is read alone.
            Err(SdkError::ServiceError(e)) => {
                let e = DisplayErrorContext(e.err());
                tracing::warn!(error = %e, "secrets could not be read in one call; reading them one by one");
            }
            // Not reached after the SDK's retries and time bounds: reading
            // each alone would wait as long again, so each fails with this.
            Err(e) => {
                let detail = DisplayErrorContext(&e).to_string();
                held.extend(asked.into_iter().map(|id| Held {
                    ids: vec![id],
                    read: Err(detail.clone()),
                }));
            }
        }
    }

    /// The secret's string value, e.g. the HS256 key for session tokens.
    pub async fn string(&self, id: &str) -> Result<String, SecretError> {
        if let Some(read) = self.prefetched.take(id) {
            return read.map_err(|detail| SecretError::Unavailable {
                id: id.to_owned(),
                detail,
            });
        }
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
