//! erasure-dev: the developer's and deployer's commands that are not Lambdas.
//! Every command takes the owner's DATABASE_URL (never the functions' role).

mod events;

use std::path::PathBuf;
use std::process::ExitCode;

use aws_sdk_secretsmanager::Client as SecretsClient;
use clap::{Parser, Subcommand};
use erasure::aws::sdk;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::{cast, seed};
use sqlx::PgPool;

#[derive(Parser)]
#[command(
    name = "erasure-dev",
    about = "Migrate, seed and set up the local stack"
)]
struct Cli {
    /// The database as its owner (migrations create tables and roles).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply every pending migration, or with --down-to undo down to a version (0: all).
    Migrate {
        #[arg(long)]
        down_to: Option<i64>,
    },
    /// Generate demo data and print a JSON summary (the ids to act as included).
    Seed {
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value_t = 2)]
        heavy: usize,
        #[arg(long, default_value_t = 1)]
        very_heavy: usize,
        #[arg(long, default_value_t = 5)]
        soft_deleted: usize,
        #[arg(long, default_value_t = 3)]
        expired: usize,
        #[arg(long, default_value_t = 10)]
        shared_addresses: usize,
        #[arg(long, default_value_t = 0.2)]
        active_order_share: f64,
        /// Reproduce a previous run's data (default: a fresh random seed).
        #[arg(long)]
        rng_seed: Option<u64>,
        /// Do nothing when profiles already has rows (so `make run` can seed once).
        #[arg(long)]
        if_empty: bool,
    },
    /// Load the named users the events in events/ act as and on (once).
    Cast,
    /// Write the HTTP request events of events/, signed with the local key.
    Events {
        #[arg(long, default_value = "events")]
        dir: PathBuf,
        #[arg(long, default_value = "infra/local/jwt-hs256.secret")]
        secret_file: PathBuf,
    },
    /// Serve a stand-in for CodeDeploy's hook API on loopback (moto has none),
    /// logging each call, until stopped.
    CodedeployStandIn {
        #[arg(long)]
        port: u16,
        /// A deployment it answers GetDeployment for, as
        /// DEPLOYMENT_ID=FUNCTION:TARGET_VERSION (repeatable).
        #[arg(long = "deployment", value_parser = deployment)]
        deployments: Vec<(String, String, String)>,
    },
    /// Create an RDS instance (in moto) for the snapshot hook, unless it exists.
    RdsInstance {
        #[arg(long)]
        id: String,
    },
    /// Create the EventBridge bus (in moto) the erasure events go to, unless it exists.
    EventBus {
        #[arg(long)]
        name: String,
    },
    /// Create (or reset the password of) a login role in the erasure_app group.
    AppLogin {
        #[arg(long)]
        user: String,
        #[arg(long, env = "APP_DB_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Write a Secrets Manager secret (created, or given a new value), e.g. in moto.
    PutSecret {
        #[arg(long)]
        name: String,
        #[arg(long, env = "SECRET_VALUE", hide_env_values = true)]
        value: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("erasure-dev: {e}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error>;

/// `d-AB12CD34E=soft_delete_user:$LATEST`, as the stand-in's `--deployment` takes it.
fn deployment(text: &str) -> Result<(String, String, String), String> {
    let (id, rest) = text.split_once('=').ok_or("expected ID=FUNCTION:VERSION")?;
    let (function, version) = rest.split_once(':').ok_or("expected ID=FUNCTION:VERSION")?;
    Ok((id.to_owned(), function.to_owned(), version.to_owned()))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let connect = || async {
        let url = cli
            .database_url
            .as_deref()
            .ok_or("set DATABASE_URL or pass --database-url")?;
        Ok::<_, Failure>(PgPool::connect(url).await?)
    };
    match cli.command {
        Command::PutSecret { name, value } => put_secret(&name, &value).await?,
        Command::CodedeployStandIn { port, deployments } => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            let stand_in = erasure_fixtures::codedeploy::serve(listener);
            for (id, function, version) in &deployments {
                stand_in.deploy(id, function, "1", version);
            }
            println!("CodeDeploy stand-in on 127.0.0.1:{port}");
            std::future::pending::<()>().await;
        }
        Command::RdsInstance { id } => rds_instance(&id).await?,
        Command::EventBus { name } => event_bus(&name).await?,
        Command::Cast => {
            let db = connect().await?;
            if cast::is_loaded(&db).await? {
                println!("the cast is already loaded");
            } else {
                cast::load(&db).await?;
                println!("loaded the cast");
            }
        }
        Command::Events { dir, secret_file } => {
            let secret = std::fs::read(&secret_file)?;
            let n = events::write(&dir, &secret)?;
            println!("wrote {n} events under {}", dir.display());
        }
        Command::Migrate { down_to: None } => {
            MIGRATOR.run(&connect().await?).await?;
            println!(
                "migrated to {}",
                erasure::store::migrations::latest_version()
            );
        }
        Command::Migrate {
            down_to: Some(target),
        } => {
            MIGRATOR.undo(&connect().await?, target).await?;
            println!("migrated down to {target}");
        }
        Command::Seed {
            users,
            heavy,
            very_heavy,
            soft_deleted,
            expired,
            shared_addresses,
            active_order_share,
            rng_seed,
            if_empty,
        } => {
            let db = connect().await?;
            let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM profiles")
                .fetch_one(&db)
                .await?;
            if if_empty && existing > 0 {
                println!("{{\"skipped\":\"profiles already has {existing} rows\"}}");
                return Ok(());
            }
            let spec = seed::SeedSpec {
                users,
                heavy_users: heavy,
                very_heavy_users: very_heavy,
                soft_deleted,
                expired,
                shared_addresses,
                active_order_share,
                rng_seed: rng_seed.unwrap_or_else(rand::random),
                ..seed::SeedSpec::default()
            };
            let seeded = seed::seed(&db, &spec).await?;
            println!("{}", serde_json::to_string_pretty(&seeded)?);
        }
        Command::AppLogin { user, password } => {
            app_login(&connect().await?, &user, &password).await?;
            println!("login role {user} is a member of erasure_app");
        }
    }
    Ok(())
}

async fn app_login(db: &PgPool, user: &str, password: &str) -> Result<(), Failure> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(user)
            .fetch_one(db)
            .await?;
    let template = if exists {
        "ALTER ROLE %I LOGIN PASSWORD %L"
    } else {
        "CREATE ROLE %I LOGIN PASSWORD %L"
    };
    // format() quotes the name and the password; DDL takes no bind parameters.
    for statement in [template, "GRANT erasure_app TO %I"] {
        let sql: String = sqlx::query_scalar("SELECT format($1, $2, $3)")
            .bind(statement)
            .bind(user)
            .bind(password)
            .fetch_one(db)
            .await?;
        sqlx::query(&sql).execute(db).await?;
    }
    Ok(())
}

async fn put_secret(name: &str, value: &str) -> Result<(), Failure> {
    let client = SecretsClient::new(&sdk::load().await);
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => println!("created secret {name}"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await?;
            println!("updated secret {name}");
        }
        Err(e) => {
            return Err(aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                .to_string()
                .into());
        }
    }
    Ok(())
}

async fn event_bus(name: &str) -> Result<(), Failure> {
    let events = aws_sdk_eventbridge::Client::new(&sdk::load().await);
    if events.describe_event_bus().name(name).send().await.is_ok() {
        println!("event bus {name} exists");
        return Ok(());
    }
    events
        .create_event_bus()
        .name(name)
        .send()
        .await
        .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())?;
    println!("created event bus {name}");
    Ok(())
}

async fn rds_instance(id: &str) -> Result<(), Failure> {
    let rds = aws_sdk_rds::Client::new(&sdk::load().await);
    let exists = rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .is_ok();
    if exists {
        println!("RDS instance {id} exists");
        return Ok(());
    }
    rds.create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("erasure")
        .master_user_password("local-only-not-a-secret")
        .send()
        .await
        .map_err(|e| aws_sdk_rds::error::DisplayErrorContext(e).to_string())?;
    println!("created RDS instance {id}");
    Ok(())
}
