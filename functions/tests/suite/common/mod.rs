//! Helpers shared by the integration tests: moto, and the deletion flow's dependencies.

use std::sync::LazyLock;
use std::time::Duration;

use aws_config::SdkConfig;
use erasure::aws::sdk;
use erasure::config::{PoolSettings, RequestConfig};
use erasure::store::audited::Deps;
use erasure_policy::Policy;
use sqlx::PgPool;

/// The real policy module, loaded once per test binary as a container does.
pub static POLICY: LazyLock<Policy> = LazyLock::new(Policy::embedded);

/// What the deletion flow needs, with the production bounds.
pub fn deps(db: &PgPool) -> Deps<'_> {
    Deps {
        db,
        policy: &POLICY,
        settings: RequestConfig {
            lock_timeout: Duration::from_secs(2),
            ..RequestConfig::default()
        },
        pauses: pauses(db),
    }
}

/// The kill switch over `db`, read afresh each time (no cache: a test sees
/// its own trip at once).
pub fn pauses(db: &PgPool) -> erasure::store::pauses::PauseGate {
    erasure::store::pauses::PauseGate::new(db.clone(), Duration::ZERO)
}

/// The SDK configuration pointed at moto, as the local stack exports it.
pub async fn moto() -> SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|url| url.starts_with("http://127.0.0.1")),
        "AWS_ENDPOINT_URL must point at moto on loopback: run the tests with `make test`"
    );
    sdk::load().await
}

/// An SDK configuration whose every API is down (nothing listens on port 9).
pub fn aws_down() -> SdkConfig {
    aws_at("http://127.0.0.1:9")
}

/// An SDK configuration whose every API is at `endpoint`. Built from
/// scratch: one loaded from the environment would let AWS_ENDPOINT_URL win
/// over an endpoint set here.
pub fn aws_at(endpoint: &str) -> SdkConfig {
    use aws_sdk_ssm::config::{Credentials, Region, SharedCredentialsProvider};
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .endpoint_url(endpoint)
        .build()
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn put_secret(sdk: &SdkConfig, name: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
}

/// The local stack's HS256 key: the events in `events/` are signed with it.
pub const LOCAL_JWT_SECRET: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../infra/local/jwt-hs256.secret"
));

/// An HTTP function's state over `db`, its HS256 key read from moto's
/// Secrets Manager as in production; `vars` override the configuration.
pub async fn http_app(
    db: PgPool,
    vars: &[(&str, &str)],
) -> std::sync::Arc<erasure::http::app::App> {
    try_http_app(db, vars).await.unwrap()
}

/// An HTTP function's container and app over `db`, as its cold start builds
/// them, with its JWT secret in moto. `vars` set or override its
/// configuration (TRANSACTION_TIMEOUT_MS, JWT_HS256_SECRET_ARN, POLICY_MODULE_PATH, …).
pub async fn try_http_app(
    db: PgPool,
    vars: &[(&str, &str)],
) -> Result<std::sync::Arc<erasure::http::app::App>, erasure::http::app::AppInitError> {
    use erasure::{config::http::HttpConfig, http::app::App};
    let sdk = moto().await;
    let secret = unique("jwt-hs256");
    put_secret(&sdk, &secret, LOCAL_JWT_SECRET).await;
    let config = erasure::config::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some("postgres://unused".into()),
        _ => vars
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string()),
    })
    .unwrap();
    let container = erasure::container::Container {
        policy: erasure::container::load_policy(&config.policy),
        pauses: pauses(&db),
        events: config
            .event_bus_name
            .clone()
            .map(|name| erasure::aws::event_bus::EventBus::new(&sdk, name)),
        config,
        secrets: erasure::aws::secrets::Secrets::new(&sdk),
        sdk,
        db,
    };
    let mut settings: std::collections::HashMap<&str, String> = [
        ("JWT_ISSUER", "http://127.0.0.1:54321/auth/v1"),
        ("JWT_AUDIENCE", "authenticated"),
        ("CORS_ALLOWED_ORIGINS", "https://admin.erasure.local"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    settings.insert("JWT_HS256_SECRET_ARN", secret);
    settings.extend(vars.iter().map(|(k, v)| (*k, v.to_string())));
    let http = HttpConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    Ok(std::sync::Arc::new(App::init(container, http).await?))
}

/// An event of `events/<function>/<name>.json`, as JSON to adjust.
pub fn event(function: &str, name: &str) -> serde_json::Value {
    erasure_fixtures::events::read(function, name)
}

/// `event` with the header `name` set to `value`.
pub fn with_header(mut event: serde_json::Value, name: &str, value: &str) -> serde_json::Value {
    event["headers"][name] = serde_json::json!(value);
    event
}

/// The event `events/<function>/<name>.json` with `body` as its JSON body.
pub fn with_body(function: &str, name: &str, body: serde_json::Value) -> serde_json::Value {
    let mut e = event(function, name);
    e["body"] = serde_json::json!(body.to_string());
    e
}

/// A response, taken apart.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: serde_json::Value,
}

impl Answer {
    /// The problem's `code`, or "OK" for a success.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("OK")
    }
}

/// Sends an API Gateway event through the router of the function that
/// serves it, as the Lambda runtime would.
pub async fn send(
    app: &std::sync::Arc<erasure::http::app::App>,
    event: &serde_json::Value,
) -> Answer {
    use erasure::http::{router::router, routes::Route};
    use tower::ServiceExt;
    let route_key = event["routeKey"].as_str().unwrap();
    let route = Route::ALL
        .into_iter()
        .find(|r| format!("{} {}", r.method(), r.path()) == route_key)
        .unwrap_or_else(|| panic!("no route for {route_key}"));
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
    let response = router(app.clone(), &[route])
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends the event `events/<function>/<name>.json` as it is.
pub async fn send_event(
    app: &std::sync::Arc<erasure::http::app::App>,
    function: &str,
    name: &str,
) -> Answer {
    send(app, &event(function, name)).await
}

/// A Lambda container over the test's pool, its AWS clients on moto, an
/// audit anchor parameter of its own, the rest of the configuration the
/// defaults.
pub async fn container(db: PgPool) -> erasure::container::Container {
    let sdk = moto().await;
    let anchor = unique("/erasure/test/audit-chain-anchor");
    let config = erasure::config::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some("postgres://unused".into()),
        "AUDIT_ANCHOR_PARAMETER" => Some(anchor.clone()),
        _ => None,
    })
    .unwrap();
    erasure::container::Container {
        config,
        secrets: erasure::aws::secrets::Secrets::new(&sdk),
        sdk,
        pauses: pauses(&db),
        db,
        policy: Policy::embedded(),
        events: None,
    }
}

/// The metric names moto's CloudWatch holds for `function`.
pub async fn metric_names(sdk: &SdkConfig, function: &str) -> Vec<String> {
    use aws_sdk_cloudwatch::types::DimensionFilter;
    let listed = aws_sdk_cloudwatch::Client::new(sdk)
        .list_metrics()
        .namespace(erasure::aws::metrics::NAMESPACE)
        .dimensions(
            DimensionFilter::builder()
                .name("Function")
                .value(function)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The largest value of `metric` for `function` within the last hour.
pub async fn metric_max(sdk: &SdkConfig, function: &str, metric: &str) -> f64 {
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let now = std::time::SystemTime::now();
    let stats = aws_sdk_cloudwatch::Client::new(sdk)
        .get_metric_statistics()
        .namespace(erasure::aws::metrics::NAMESPACE)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name("Function")
                .value(function)
                .build(),
        )
        .start_time((now - Duration::from_secs(3600)).into())
        .end_time((now + Duration::from_secs(60)).into())
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    stats
        .datapoints()
        .iter()
        .filter_map(|d| d.maximum())
        .fold(0.0, f64::max)
}

/// Whether the profile `id` is soft-deleted.
pub async fn is_deleted(db: &PgPool, id: uuid::Uuid) -> bool {
    sqlx::query_scalar("SELECT deleted_at IS NOT NULL FROM profiles WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Whether the profile `id` is still there (not purged).
pub async fn profile_exists(db: &PgPool, id: uuid::Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM profiles WHERE id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Another transaction holding the profile `id`'s row FOR UPDATE, as a
/// concurrent request would, until it is dropped or ended.
pub async fn hold_profile(
    db: &PgPool,
    id: uuid::Uuid,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM profiles WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

/// The latest audit row: action, outcome, error code, actor, target.
pub async fn last_audit(
    db: &PgPool,
) -> (
    String,
    String,
    Option<String>,
    Option<uuid::Uuid>,
    Option<uuid::Uuid>,
) {
    sqlx::query_as(
        "SELECT action, outcome, error_code, actor_id, target_id FROM deletion_audit ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

/// Asserts the answer's status and code; a refusal is problem+json with a detail.
pub fn problem(answer: &Answer, status: u16, code: &str) {
    assert_eq!((answer.status, answer.code()), (status, code), "{answer:?}");
    if status >= 400 {
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert_eq!(answer.body["status"], status);
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
}

/// How many rows the audit log holds.
pub async fn audit_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM deletion_audit")
        .fetch_one(db)
        .await
        .unwrap()
}

/// A pool whose database is unreachable: a port nothing listens on.
pub fn unreachable_pool() -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://nobody:nothing@127.0.0.1:9/none")
        .unwrap()
}

/// Runs `sql` (with a fresh id as $1) with the foreign keys bypassed: the
/// only way an orphan can come to exist, which the integrity audit watches for.
pub async fn insert_orphan(db: &PgPool, sql: &str) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql)
        .bind(uuid::Uuid::new_v4())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Rows that still reference any of `users`, per plan column.
pub async fn references(
    db: &mut sqlx::PgConnection,
    users: &[uuid::Uuid],
) -> std::collections::BTreeMap<String, i64> {
    let mut found = std::collections::BTreeMap::new();
    for entry in erasure::domain::plan::PLAN {
        let r = entry.reference;
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = ANY($1)",
            r.table, r.column
        );
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(users)
            .fetch_one(&mut *db)
            .await
            .unwrap();
        found.insert(r.to_string(), n);
    }
    found
}

/// The functions' pool on the test database, of one connection.
pub fn functions_pool(db: &PgPool, ping_after_idle: Duration) -> PgPool {
    let settings = PoolSettings {
        max_connections: 1,
        ping_after_idle,
        ..PoolSettings::default()
    };
    erasure::store::pool::lazy_pool((*db.connect_options()).clone(), &settings)
}

/// The server process behind the pool's connection, once the connection is
/// back in the pool (its release is asynchronous).
pub async fn pooled_backend(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await?;
    while pool.num_idle() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(pid)
}

/// Ends the session of `pid` from the server's side, as a failover or an
/// administrator does, and waits until it is gone.
pub async fn terminate(db: &PgPool, pid: i32) {
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(db)
        .await
        .unwrap();
    assert!(ended);
}
