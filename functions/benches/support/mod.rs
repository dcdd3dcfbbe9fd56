//! What the benchmarks share: the owner's connection, databases copied from a
//! template, the relay that puts a network between the contenders and
//! PostgreSQL, and one user's purge by hand.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::seed::{SeedSpec, Seeded, seed};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn admin() -> (PgConnectOptions, PgConnection) {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL: source .local/stack.env first");
    let options = PgConnectOptions::from_str(&url).unwrap();
    let conn = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .unwrap();
    (options, conn)
}

pub async fn recreate(admin: &mut PgConnection, name: &str, template: Option<&str>) {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut *admin)
        .await
        .unwrap();
    // A closed pool's sessions may linger a moment; a template must have none.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(template)
        .execute(&mut *admin)
        .await
        .unwrap();
    // FILE_COPY copies the files and checkpoints before and after, instead of
    // writing the whole copy into the WAL (PostgreSQL 15's default), whose
    // flushing would then land in the middle of the next contender's run.
    let from = template
        .map(|t| format!(" TEMPLATE {t} STRATEGY FILE_COPY"))
        .unwrap_or_default();
    sqlx::query(&format!("CREATE DATABASE {name}{from}"))
        .execute(&mut *admin)
        .await
        .unwrap();
}

pub async fn drop_database(admin: &mut PgConnection, name: &str) {
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(admin)
        .await
        .unwrap();
}

/// A pool on `name` of two connections: one container's, with room for the
/// pool's own check.
pub async fn pool(options: &PgConnectOptions, name: &str) -> PgPool {
    pool_of(options, name, 2).await
}

pub async fn pool_of(options: &PgConnectOptions, name: &str, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(options.clone().database(name))
        .await
        .unwrap()
}

/// A TCP relay to `upstream` that holds every chunk for `one_way` in each
/// direction: a network whose round trip is twice that. It is a pipe, not
/// stop-and-wait: chunks in flight overlap, as on a real link. OS threads
/// and blocking sockets, because the async timer's 1 ms tick is too coarse
/// for sub-millisecond delays. It counts round trips in `turns`: each time a
/// connection's client speaks after its server has (sqlx waits for each
/// answer before it sends more, so that is one round trip each).
fn latency_relay(upstream: SocketAddr, one_way: Duration, turns: Arc<AtomicU64>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let client = client.unwrap();
            let server = std::net::TcpStream::connect(upstream).unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let (client_out, server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let server_spoke = Arc::new(AtomicBool::new(true));
            let (spoke, turns) = (server_spoke.clone(), turns.clone());
            delayed(client, server_out, one_way, move || {
                if spoke.swap(false, Ordering::Relaxed) {
                    turns.fetch_add(1, Ordering::Relaxed);
                }
            });
            delayed(server, client_out, one_way, move || {
                server_spoke.store(true, Ordering::Relaxed)
            });
        }
    });
    addr
}

/// Copies `from` to `to`, each chunk written `delay` after it was read, and
/// tells `on_read` of each.
fn delayed(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    delay: Duration,
    on_read: impl Fn() + Send + 'static,
) {
    use std::io::{Read, Write};
    let (chunks, due) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        for (at, chunk) in due {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buffer) {
            on_read();
            if chunks
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
}

/// Median and 95th percentile.
pub fn percentiles(mut took: Vec<Duration>) -> (Duration, Duration) {
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// The median of `values` (the upper one of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// The lowest and the highest of `ratios`.
pub fn spread(ratios: &[f64]) -> (f64, f64) {
    ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)))
}

/// The resident memory of process `pid` now, in MiB (VmRSS of
/// /proc/<pid>/status).
pub fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("Linux");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// The mean round trip of `SELECT 1` on one of `db`'s connections.
pub async fn round_trip(db: &PgPool) -> Duration {
    let mut conn = db.acquire().await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
    let started = Instant::now();
    for _ in 0..50 {
        sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
    }
    started.elapsed() / 50
}

/// A fresh copy of `template` called `name`, and a pool on it.
pub async fn copy_of(
    admin: &mut PgConnection,
    options: &PgConnectOptions,
    template: &str,
    name: &str,
) -> PgPool {
    recreate(admin, name, Some(template)).await;
    pool(options, name).await
}

/// A template database, migrated, seeded as `spec` says and analyzed, for
/// the contenders to copy.
pub async fn seeded_template(
    admin: &mut PgConnection,
    options: &PgConnectOptions,
    name: &str,
    spec: &SeedSpec,
) -> Seeded {
    recreate(admin, name, None).await;
    let template = pool(options, name).await;
    MIGRATOR.run(&template).await.unwrap();
    let seeded = seed(&template, spec).await.unwrap();
    sqlx::query("VACUUM ANALYZE")
        .execute(&template)
        .await
        .unwrap();
    template.close().await;
    seeded
}

/// Where the contenders connect, and the round trips they made if counted.
pub struct Network {
    pub options: PgConnectOptions,
    turns: Option<Arc<AtomicU64>>,
}

impl Network {
    /// Round trips to PostgreSQL so far, over every connection; `None`
    /// straight to PostgreSQL, where nothing counts them.
    pub fn round_trips(&self) -> Option<u64> {
        self.turns.as_ref().map(|t| t.load(Ordering::Relaxed))
    }
}

/// Through a relay that delays each direction by half of BENCH_RTT_MS
/// (default 1 ms, a network within a region), or straight to PostgreSQL
/// with BENCH_RTT_MS=0.
pub async fn behind_the_network(options: PgConnectOptions) -> Network {
    let rtt_ms: f64 = std::env::var("BENCH_RTT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    if rtt_ms <= 0.0 {
        return Network {
            options,
            turns: None,
        };
    }
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let upstream = tokio::net::lookup_host(upstream)
        .await
        .unwrap()
        .next()
        .unwrap();
    let turns = Arc::new(AtomicU64::new(0));
    let relay = latency_relay(
        upstream,
        Duration::from_secs_f64(rtt_ms / 2000.0),
        turns.clone(),
    );
    Network {
        options: options.host("127.0.0.1").port(relay.port()),
        turns: Some(turns),
    }
}

/// One user's purge by hand, one index-friendly statement per table, in the
/// caller's transaction: no lock, no checks, no audit.
pub async fn purge_by_hand(tx: &mut PgConnection, user: Uuid) {
    let created: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM addresses WHERE created_by = $1")
        .bind(user)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    for sql in [
        "DELETE FROM dispatches WHERE driver_id = $1",
        "DELETE FROM dispatches WHERE user_id = $1",
        "UPDATE file_uploads SET user_id = NULL WHERE user_id = $1",
        "UPDATE job_applications SET profile_id = NULL WHERE profile_id = $1",
        "UPDATE addresses SET created_by = NULL WHERE created_by = $1",
        "DELETE FROM profiles WHERE id = $1",
    ] {
        sqlx::query(sql).bind(user).execute(&mut *tx).await.unwrap();
    }
    sqlx::query(
        "DELETE FROM addresses a WHERE a.id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM user_addresses x WHERE x.address_id = a.id)
           AND NOT EXISTS (SELECT 1 FROM catering_requests x WHERE x.pickup_address_id = a.id)
           AND NOT EXISTS (SELECT 1 FROM catering_requests x WHERE x.delivery_address_id = a.id)
           AND NOT EXISTS (SELECT 1 FROM on_demand_orders x WHERE x.pickup_address_id = a.id)
           AND NOT EXISTS (SELECT 1 FROM on_demand_orders x WHERE x.delivery_address_id = a.id)",
    )
    .bind(&created)
    .execute(&mut *tx)
    .await
    .unwrap();
}
