//! The connection pool, made once per container.

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgPool, Postgres};

use super::errors::connection_lost;
use crate::aws::secrets::{SecretError, Secrets};
use crate::config::{DatabaseSource, PoolSettings, SecretSource, SslMode};

const DEFAULT_PORT: u16 = 5432;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseConfigError {
    // The URL is not echoed: it carries the password.
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    InvalidUrl,
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("database secret {secret_id} has no {field}: add it to the secret or set {variable}")]
    Incomplete {
        secret_id: String,
        field: &'static str,
        variable: &'static str,
    },
}

/// Resolves where and as whom to connect; reads the secret when there is one.
pub async fn connect_options(
    source: &DatabaseSource,
    secrets: &Secrets,
) -> Result<PgConnectOptions, DatabaseConfigError> {
    let options = match source {
        // sqlx parses any scheme as PostgreSQL; a mysql:// URL is a mistake to report.
        DatabaseSource::Url(url)
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            PgConnectOptions::from_str(url).map_err(|_| DatabaseConfigError::InvalidUrl)?
        }
        DatabaseSource::Url(_) => return Err(DatabaseConfigError::InvalidUrl),
        DatabaseSource::Secret(source) => from_secret(source, secrets).await?,
    };
    Ok(options.application_name("erasure"))
}

async fn from_secret(
    source: &SecretSource,
    secrets: &Secrets,
) -> Result<PgConnectOptions, DatabaseConfigError> {
    let creds = secrets.database_credentials(&source.secret_id).await?;
    let incomplete = |field, variable| DatabaseConfigError::Incomplete {
        secret_id: source.secret_id.clone(),
        field,
        variable,
    };
    let host = source
        .host
        .clone()
        .or(creds.host)
        .ok_or_else(|| incomplete("host", "DATABASE_HOST"))?;
    let dbname = source
        .dbname
        .clone()
        .or(creds.dbname)
        .ok_or_else(|| incomplete("dbname", "DATABASE_NAME"))?;
    Ok(PgConnectOptions::new()
        .host(&host)
        .port(source.port.or(creds.port).unwrap_or(DEFAULT_PORT))
        .username(&creds.username)
        .password(&creds.password)
        .database(&dbname)
        .ssl_mode(pg_ssl_mode(source.ssl_mode)))
}

fn pg_ssl_mode(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

/// A pool that connects on first use, so a container whose database is
/// briefly unreachable still starts and answers 503 instead of failing init.
/// Every session gets the statement bound, and a transaction left idle (a
/// frozen container holding one) is ended by the server.
pub fn lazy_pool(options: PgConnectOptions, settings: &PoolSettings) -> PgPool {
    let statement_ms = settings.statement_timeout.as_millis().to_string();
    let idle_in_tx_ms = (settings.statement_timeout * 3).as_millis().to_string();
    let options = options.options([
        ("statement_timeout", statement_ms.as_str()),
        (
            "idle_in_transaction_session_timeout",
            idle_in_tx_ms.as_str(),
        ),
    ]);
    let ping_after_idle = settings.ping_after_idle;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        // A container may sit frozen for minutes; the server, a proxy or a NAT
        // may have closed its connections meanwhile, so a connection idle for
        // a while is pinged before it is handed out (and replaced if dead).
        // One used seconds ago is not: sqlx already pinged it when it came
        // back, and a ping is a round trip on every request of a busy
        // container. If such a connection died since (a failover), a
        // request's first statement (the rate limit), the kill switch's read
        // and a deletion's first round trip run again on another
        // (`on_live_connection`), and the dead ones are closed on the way.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= ping_after_idle {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .idle_timeout(std::time::Duration::from_secs(60))
        .max_lifetime(std::time::Duration::from_secs(15 * 60))
        .connect_lazy_with(options)
}

/// Runs `attempt`, which must be safe to run twice (it writes nothing, or
/// a repeat of what it writes is harmless), on a connection from `db`; if
/// that connection turns out to be gone (`connection_lost`: the server
/// closed it while it sat in the pool), again on another. Each failure
/// closes a dead connection, so after as many as the pool holds a new one
/// is opened. A failure to connect is not retried: the pool has waited its
/// acquire timeout already.
pub async fn on_live_connection<T, F, Fut>(db: &PgPool, mut attempt: F) -> Result<T, sqlx::Error>
where
    F: FnMut(PoolConnection<Postgres>) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut retries = db.options().get_max_connections();
    loop {
        let conn = db.acquire().await?;
        match attempt(conn).await {
            Err(e) if retries > 0 && connection_lost(&e) => {
                tracing::info!(error = %e, "a pooled connection was gone; running again on another");
                retries -= 1;
            }
            done => return done,
        }
    }
}

/// The statement that begins a transaction whose statements are bounded by
/// `statement` and whose lock waits by `lock`, for `begin_with`: sqlx sends a
/// custom BEGIN as one simple query, so the bounds cost no round trip of
/// their own.
pub fn bounded_begin(statement: Duration, lock: Option<Duration>) -> String {
    bounded_begin_statements(statement, lock).join("; ")
}

/// The statements of `bounded_begin`, one by one.
pub fn bounded_begin_statements(statement: Duration, lock: Option<Duration>) -> Vec<String> {
    let mut sql = vec![
        "BEGIN".to_owned(),
        format!("SET LOCAL statement_timeout = {}", statement.as_millis()),
    ];
    if let Some(lock) = lock {
        sql.push(format!("SET LOCAL lock_timeout = {}", lock.as_millis()));
    }
    sql
}
