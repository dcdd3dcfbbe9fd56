//! What one Lambda container builds once, at cold start, and reuses for every
//! invocation: configuration, AWS clients and the database pool.

use std::time::Instant;

use aws_config::SdkConfig;
use erasure_policy::Policy;
use sqlx::PgPool;

use crate::aws::event_bus::EventBus;
use crate::aws::{sdk, secrets::Secrets};
use crate::config::{Config, ConfigError, PolicySource};
use crate::store::pauses::{self, PauseGate};
use crate::store::pool::{self, DatabaseConfigError};

pub struct Container {
    pub config: Config,
    pub sdk: SdkConfig,
    pub secrets: Secrets,
    pub db: PgPool,
    /// Loaded once; when it cannot load, it denies every decision.
    pub policy: Policy,
    /// The kill switch, read with a short cache.
    pub pauses: PauseGate,
    /// Where the erasure events go, when EVENT_BUS_NAME names a bus.
    pub events: Option<EventBus>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DatabaseConfigError),
}

impl Container {
    /// Reads the environment, loads the AWS configuration, resolves the
    /// database credentials (from Secrets Manager when configured so) and
    /// makes the pool, which connects on first use, and loads the policy.
    pub async fn init() -> Result<Container, InitError> {
        Ok(Container::init_with(&[], async |_| ()).await?.0)
    }

    /// `init`, with `also` (which reads the secrets `also_reads`) run once
    /// the secrets are read: a cold start waits for one Secrets Manager round
    /// trip, not one per secret (`Secrets::prefetch`; should that call fail,
    /// the reads go on concurrently). What needs no secret (the policy, the
    /// event bus's client) is built on another thread meanwhile. Logs how
    /// long each step took, once per container (`INIT_LOGGED`).
    pub async fn init_with<T>(
        also_reads: &[&str],
        also: impl AsyncFnOnce(&Secrets) -> T,
    ) -> Result<(Container, T), InitError> {
        let mut watch = Stopwatch::start();
        let config = Config::from_env()?;
        let sdk = sdk::load().await;
        let sdk_ms = watch.lap();
        let meanwhile = {
            let (policy, bus, sdk) = (
                config.policy.clone(),
                config.event_bus_name.clone(),
                sdk.clone(),
            );
            tokio::task::spawn_blocking(move || {
                (
                    load_policy(&policy),
                    bus.map(|name| EventBus::new(&sdk, name)),
                )
            })
        };
        let secrets = Secrets::new(&sdk);
        let secrets_client_ms = watch.lap();
        let database_secret = config.database.secret_id();
        let reads: Vec<&str> = database_secret
            .into_iter()
            .chain(also_reads.iter().copied())
            .collect();
        secrets.prefetch(&reads).await;
        let (options, also) = tokio::join!(
            pool::connect_options(&config.database, &secrets),
            also(&secrets)
        );
        let secrets_ms = watch.lap();
        let db = pool::lazy_pool(options?, &config.pool);
        let (policy, events) = meanwhile
            .await
            .expect("building the policy and the bus client does not panic");
        tracing::info!(
            sdk_ms,
            secrets_client_ms,
            secrets_ms,
            rest_ms = watch.lap(),
            "{INIT_LOGGED}"
        );
        let container = Container {
            config,
            sdk,
            secrets,
            pauses: PauseGate::new(db.clone(), pauses::CACHE_FOR),
            db,
            policy,
            events,
        };
        Ok((container, also))
    }
}

/// The message of the line a container's init logs, whose fields say how
/// long its steps took in milliseconds: the configuration and the SDK's
/// (`sdk_ms`), the Secrets Manager client (`secrets_client_ms`), reading the
/// secrets and building what needs them (`secrets_ms`: the pool's options,
/// the token verifier), and the rest (`rest_ms`: the pool, waiting for the
/// policy and the bus client). `make bench-coldstart` reads it.
pub const INIT_LOGGED: &str = "container initialised";

/// Milliseconds between one step's end and the next's.
struct Stopwatch(Instant);

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let ms = (now - self.0).as_secs_f64() * 1e3;
        self.0 = now;
        ms
    }
}

/// The policy module `source` names; one that cannot load denies everything.
pub fn load_policy(source: &PolicySource) -> Policy {
    match source {
        PolicySource::Embedded => Policy::embedded(),
        PolicySource::File { path, sha256 } => Policy::from_file(path.as_ref(), sha256),
    }
}
