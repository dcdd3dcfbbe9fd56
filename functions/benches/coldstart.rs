//! `make bench-coldstart`: each function's real binary started the way Lambda
//! starts it, against a loopback stand-in of the Runtime API
//! (`erasure_fixtures::runtime_api`), side by side with the floor (a bare
//! `lambda_runtime` function, `examples/floor_function.rs`) built with the
//! same profile. Per function it measures:
//!
//! - init: process start to its first `/invocation/next` (what Lambda
//!   reports as Init Duration), and the steps it took as the function logs
//!   them (`erasure::container::INIT_LOGGED`);
//! - the first answer (the pool connects, the first queries run) and warm
//!   answers, for the functions the benchmark can give real work: the four
//!   HTTP functions (each on its own user, with a real token) and the
//!   cleanup;
//! - resident memory after 1, 100 and 1,000 invocations, and after the
//!   cleanup of 10,000 expired users.
//!
//! Next to them, in the same run, the parts a first answer is made of,
//! measured from the benchmark: one Secrets Manager read from moto (on a new
//! connection, as a cold start reads, and on an open one), one PostgreSQL
//! connect, one first query. The functions read their secrets from moto and
//! connect to the local PostgreSQL on loopback (no TLS); their trust store is
//! one bundle, as in Lambda's image.
//!
//! BENCH_STARTS starts per function (default 5), interleaved across the
//! functions so that a slow spell of the machine shows as spread.
//! BENCH_INVOCATIONS per long-running container (default 1,000).
//! Needs the local stack (`source .local/stack.env`).

#[allow(dead_code, reason = "each benchmark uses part of the shared module")]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client as SecretsClient;
use erasure::container::INIT_LOGGED;
use erasure_fixtures::runtime_api::{Outcome, RuntimeApi};
use erasure_fixtures::seed::{SeedSpec, Seeded};
use erasure_fixtures::{events, tokens};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use support::{
    admin, drop_database, env_number, median, percentiles, resident_mib, seeded_template, spread,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use uuid::Uuid;

const REQUESTS_DB: &str = "erasure_bench_coldstart";
const CLEANUP_DB: &str = "erasure_bench_coldstart_cleanup";
const CLEANUP_USERS: usize = 10_000;

/// What each function is given to do; `None`: init only (its events need
/// AWS stand-ins this benchmark does not start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Echo,
    SoftDelete,
    Restore,
    Purge,
    List,
    Cleanup,
    None,
}

/// In the order a round runs them: a round's user is soft-deleted, restored,
/// then purged.
const FUNCTIONS: [(&str, Work); 10] = [
    ("floor_function", Work::Echo),
    ("soft_delete_user", Work::SoftDelete),
    ("restore_user", Work::Restore),
    ("purge_user", Work::Purge),
    ("list_deleted_users", Work::List),
    ("cleanup", Work::Cleanup),
    ("integrity_audit", Work::None),
    ("snapshot_hook", Work::None),
    ("alarm_responder", Work::None),
    ("health_check", Work::None),
];

fn binary(name: &str) -> PathBuf {
    // Cargo names the functions' binaries for a benchmark; the floor is an
    // example of the same package and profile, in the examples directory.
    let functions = Path::new(env!("CARGO_BIN_EXE_soft_delete_user"))
        .parent()
        .expect("a directory");
    let path = match name {
        "floor_function" => functions.join("examples").join(name),
        _ => functions.join(name),
    };
    assert!(
        path.exists(),
        "{} is not built: run `make bench-coldstart`, which builds the floor first",
        path.display()
    );
    path
}

/// Each function's environment as the local stack gives it
/// (`.local/functions.env`), with its database secret and limits a
/// thousand requests a minute do not hit.
fn environment(secret: &str) -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/functions.env");
    let text = std::fs::read_to_string(path).expect(".local/functions.env: run infra/local/up.sh");
    let mut env: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.insert("DATABASE_SECRET_ARN".into(), secret.into());
    env.insert("RATE_LIMIT_PER_MINUTE".into(), "1000000".into());
    env.insert("RATE_LIMIT_LIST_PER_MINUTE".into(), "1000000".into());
    env.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into());
    env.insert("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into());
    env.insert(
        "AWS_LAMBDA_LOG_GROUP_NAME".into(),
        "/aws/lambda/bench".into(),
    );
    env.insert("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into());
    // The trust store as Lambda's image lays it out: one bundle
    // (/etc/pki/tls/certs/ca-bundle.crt on Amazon Linux 2023), not a
    // directory of one file per root as on Debian, whose 290 files cost the
    // SDK's configuration 4 ms more to read at every start.
    env.insert("SSL_CERT_FILE".into(), trust_bundle().into());
    env
}

/// This machine's roots in one file, whichever distribution it runs.
fn trust_bundle() -> &'static str {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .find(|path| Path::new(path).is_file())
    .expect("a CA bundle (the ca-certificates package)")
}

/// One container: the function's process and its Runtime API.
struct Container {
    api: RuntimeApi,
    process: Child,
    init: Duration,
    steps: JoinHandle<Option<Value>>,
}

/// The fields of the line the function logs at the end of its init
/// (`erasure::container::INIT_LOGGED`: each step's milliseconds), read off
/// its log, which is drained to the end: a pipe nobody reads would stop the
/// function once full.
fn init_steps(log: ChildStdout) -> JoinHandle<Option<Value>> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(log).lines();
        let mut steps = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if steps.is_none() && line.contains(INIT_LOGGED) {
                let logged: Value = serde_json::from_str(&line).expect("a JSON log line");
                steps = Some(logged["fields"].clone());
            }
        }
        steps
    })
}

impl Container {
    async fn start(name: &str, env: &HashMap<String, String>) -> Container {
        let mut api = RuntimeApi::start().await;
        let started = Instant::now();
        let mut process = Command::new(binary(name))
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the function starts");
        let steps = init_steps(process.stdout.take().expect("piped"));
        let ready = api
            .ready()
            .await
            .unwrap_or_else(|outcome| panic!("{name} failed its init: {outcome:?}"));
        Container {
            api,
            process,
            init: ready - started,
            steps,
        }
    }

    async fn answer(&mut self, event: Value) -> Duration {
        let (outcome, took) = self.api.invoke(event).await;
        assert_succeeded(&outcome);
        took
    }

    /// Resident memory now, in MiB.
    fn resident_mib(&self) -> f64 {
        resident_mib(self.process.id().expect("running"))
    }

    /// Ends the process and waits until it is gone, so that its shutdown
    /// does not share the CPUs with the next function's start; then the
    /// steps its init logged, if it logs them.
    async fn stop(mut self) -> Option<Value> {
        self.process.kill().await.expect("the function stops");
        self.steps.await.expect("the log reader does not panic")
    }
}

/// A response, and for an HTTP function a 2xx one.
fn assert_succeeded(outcome: &Outcome) {
    match outcome {
        Outcome::Response(body) => {
            if let Some(status) = body.get("statusCode").and_then(Value::as_u64) {
                assert!(status < 300, "the function answered {status}: {body}");
            }
        }
        other => panic!("the function failed: {other:?}"),
    }
}

/// The event that gives `work` something real to do on `user`, as `actor`.
fn event(work: Work, token: &str, user: Uuid) -> Value {
    let with_token = |mut event: Value| {
        event["headers"]["authorization"] = json!(format!("Bearer {token}"));
        events::aimed_at(event, user)
    };
    match work {
        Work::Echo => json!({ "user": user }),
        Work::SoftDelete => with_token(events::read("soft_delete_user", "admin-deletes-client")),
        Work::Restore => with_token(events::read("restore_user", "admin-restores-user")),
        Work::Purge => with_token(events::read("purge_user", "admin-purges-user")),
        Work::List => with_token(events::read("list_deleted_users", "filtered")),
        Work::Cleanup => events::read("cleanup", "scheduled"),
        Work::None => unreachable!("init-only functions are not invoked"),
    }
}

/// A secret in moto naming `database` with the local stack's function login.
async fn database_secret(secrets: &SecretsClient, database: &str) -> String {
    let local = std::env::var("ERASURE_DB_SECRET").expect("source .local/stack.env first");
    let value = secrets
        .get_secret_value()
        .secret_id(&local)
        .send()
        .await
        .expect("the local stack's database secret");
    let mut creds: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    creds["dbname"] = json!(database);
    let id = format!("erasure/bench/{database}");
    let _ = secrets
        .delete_secret()
        .secret_id(&id)
        .force_delete_without_recovery(true)
        .send()
        .await;
    secrets
        .create_secret()
        .name(&id)
        .secret_string(creds.to_string())
        .send()
        .await
        .expect("moto creates the secret");
    id
}

#[derive(Default)]
struct Figures {
    init: Vec<Duration>,
    /// What each init logged of its steps (`init_steps`).
    steps: Vec<Value>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    resident: Vec<(usize, f64)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn range(values: &[Duration]) -> String {
    if values.is_empty() {
        return "-".to_owned();
    }
    let (median, _) = percentiles(values.to_vec());
    let (lo, hi) = (values.iter().min().unwrap(), values.iter().max().unwrap());
    format!("{:>6.1} ms ({:.1}..{:.1})", ms(median), ms(*lo), ms(*hi))
}

const PARTS: [&str; 4] = [
    "Secrets Manager read on a new connection",
    "on an open one",
    "PostgreSQL connect",
    "first query",
];

/// The parts of a first answer, from the benchmark's side: a Secrets
/// Manager read as a cold start makes it (a new client, so a new
/// connection) and again on the connection it opened, a PostgreSQL connect
/// (no TLS on loopback) and a first query.
async fn parts(
    sdk: &aws_config::SdkConfig,
    secret: &str,
    options: &PgConnectOptions,
) -> [Duration; PARTS.len()] {
    let secrets = SecretsClient::new(sdk);
    let mut reads = [Duration::ZERO; 2];
    for read in &mut reads {
        let started = Instant::now();
        secrets
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .unwrap();
        *read = started.elapsed();
    }
    let started = Instant::now();
    let mut conn = PgConnection::connect_with(&options.clone().database(REQUESTS_DB))
        .await
        .unwrap();
    let connect = started.elapsed();
    let started = Instant::now();
    sqlx::query("SELECT count(*) FROM profiles WHERE deleted_at IS NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    let query = started.elapsed();
    [reads[0], reads[1], connect, query]
}

#[tokio::main]
async fn main() {
    let starts = env_number("BENCH_STARTS", 5);
    let invocations = env_number("BENCH_INVOCATIONS", 1_000).max(100);
    let (options, mut owner) = admin().await;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = SecretsClient::new(&sdk);

    // One user per round and per long-running invocation: soft-deleted,
    // restored, then purged.
    let seeded: Seeded = seeded_template(
        &mut owner,
        &options,
        REQUESTS_DB,
        &SeedSpec::live_users(starts + invocations),
    )
    .await;
    let cleanup_spec = SeedSpec {
        expired: CLEANUP_USERS,
        ..SeedSpec::live_users(CLEANUP_USERS)
    };
    seeded_template(&mut owner, &options, CLEANUP_DB, &cleanup_spec).await;
    let requests_env = environment(&database_secret(&secrets, REQUESTS_DB).await);
    let cleanup_env = environment(&database_secret(&secrets, CLEANUP_DB).await);
    let key = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/local/jwt-hs256.secret"
    ))
    .unwrap();
    let token = tokens::sign(key.trim_ascii(), seeded.admins[0], 4_102_444_800);

    let mut figures: HashMap<&str, Figures> = HashMap::new();
    let mut parts_seen: Vec<Vec<Duration>> = vec![Vec::new(); PARTS.len()];
    for round in 0..starts {
        let user = seeded.users[round];
        for (name, work) in FUNCTIONS {
            let env = if work == Work::Cleanup {
                &cleanup_env
            } else {
                &requests_env
            };
            let mut container = Container::start(name, env).await;
            let f = figures.entry(name).or_default();
            f.init.push(container.init);
            // The cleanup's first answer here has nothing expired to purge
            // after round one; its 10,000 are measured below, once.
            if !matches!(work, Work::None | Work::Cleanup) {
                f.first
                    .push(container.answer(event(work, &token, user)).await);
            }
            match container.stop().await {
                Some(steps) => figures.get_mut(name).unwrap().steps.push(steps),
                // The floor and the snapshot hook build no `Container`.
                None => assert!(
                    matches!(name, "floor_function" | "snapshot_hook"),
                    "{name} logged no '{INIT_LOGGED}' line"
                ),
            }
        }
        let secret = &requests_env["DATABASE_SECRET_ARN"];
        for (seen, took) in parts_seen
            .iter_mut()
            .zip(parts(&sdk, secret, &options).await)
        {
            seen.push(took);
        }
    }

    // One long-running container per function with real work.
    let long_users = &seeded.users[starts..starts + invocations];
    for (name, work) in FUNCTIONS {
        if matches!(work, Work::None | Work::Cleanup) {
            continue;
        }
        let mut container = Container::start(name, &requests_env).await;
        let f = figures.get_mut(name).unwrap();
        for (i, &user) in long_users.iter().enumerate() {
            let took = container.answer(event(work, &token, user)).await;
            if i > 0 {
                f.warm.push(took);
            }
            if [1, 100, invocations].contains(&(i + 1)) {
                f.resident.push((i + 1, container.resident_mib()));
            }
        }
    }
    let mut cleanup = Container::start("cleanup", &cleanup_env).await;
    let before = cleanup.resident_mib();
    let took = cleanup
        .answer(event(Work::Cleanup, &token, Uuid::nil()))
        .await;
    let purged: i64 = {
        let mut db = PgConnection::connect_with(&options.clone().database(CLEANUP_DB))
            .await
            .unwrap();
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM profiles WHERE deleted_at IS NOT NULL")
                .fetch_one(&mut db)
                .await
                .unwrap();
        CLEANUP_USERS as i64 - left
    };
    let after = cleanup.resident_mib();
    drop(cleanup);
    drop_database(&mut owner, REQUESTS_DB).await;
    drop_database(&mut owner, CLEANUP_DB).await;

    report(&figures, &parts_seen, starts);
    println!(
        "  cleanup of {CLEANUP_USERS} expired users in one invocation: purged {purged} in {:.1} s; resident {before:.1} MiB before, {after:.1} MiB after",
        took.as_secs_f64()
    );
}

/// The fields of `INIT_LOGGED`, in the order the steps run.
const INIT_STEPS: [&str; 4] = ["sdk_ms", "secrets_client_ms", "secrets_ms", "rest_ms"];

fn report(figures: &HashMap<&str, Figures>, parts: &[Vec<Duration>], starts: usize) {
    println!(
        "cold start against a loopback Runtime API, {starts} starts per function, interleaved (median, range)"
    );
    println!(
        "  {:<20} {:>26} {:>26} {:>26}   resident MiB after 1 / 100 / N invocations",
        "function", "init", "first answer", "warm answer"
    );
    for (name, _) in FUNCTIONS {
        let f = &figures[name];
        let resident: Vec<String> = f
            .resident
            .iter()
            .map(|(n, mib)| format!("{mib:.1} ({n})"))
            .collect();
        println!(
            "  {name:<20} {:>26} {:>26} {:>26}   {}",
            range(&f.init),
            range(&f.first),
            range(&f.warm),
            resident.join(" / ")
        );
    }
    let floor = percentiles(figures["floor_function"].init.clone()).0;
    let (secret, _) = percentiles(parts[0].clone());
    println!(
        "  init goal, the floor plus one Secrets Manager read (on a new connection, as a cold start reads): {:.1} ms + {:.1} ms = {:.1} ms",
        ms(floor),
        ms(secret),
        ms(floor + secret)
    );
    for (name, _) in FUNCTIONS.iter().skip(1) {
        let median = percentiles(figures[name].init.clone()).0;
        let per_start: Vec<f64> = figures[name]
            .init
            .iter()
            .zip(&figures["floor_function"].init)
            .map(|(f, floor)| ms(*f) - ms(*floor))
            .collect();
        let (lo, hi) = spread(&per_start);
        println!(
            "    {name:<20} init {:>6.1} ms: the floor + {:.1} ms (per round {lo:.1}..{hi:.1})",
            ms(median),
            ms(median) - ms(floor),
        );
    }
    println!(
        "  init's steps as each container logged them, median ms: the configuration and the SDK's / the Secrets Manager client / the secrets read and what needs them / the rest"
    );
    for (name, _) in FUNCTIONS {
        let logged = &figures[name].steps;
        if logged.is_empty() {
            continue;
        }
        let medians: Vec<String> = INIT_STEPS
            .iter()
            .map(|step| {
                let took: Vec<f64> = logged
                    .iter()
                    .map(|l| l[step].as_f64().expect("milliseconds"))
                    .collect();
                format!("{:.2}", median(&took))
            })
            .collect();
        println!("    {name:<20} {}", medians.join(" / "));
    }
    let measured: Vec<String> = PARTS
        .iter()
        .zip(parts)
        .map(|(name, took)| format!("{name} {}", range(took).trim()))
        .collect();
    println!(
        "  a first answer's parts, measured from the benchmark: {}",
        measured.join("; ")
    );
}
