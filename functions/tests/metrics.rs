//! The HTTP functions' CloudWatch metrics, as the embedded metric format
//! lines a request leaves in the function's log, and the template's rollback
//! alarms evaluated on them for scripted canaries. (Its own test binary: the
//! metrics recorder is once per process, as it is per Lambda container; the
//! tests take turns with it.)

// The suite's helpers; this binary uses only the HTTP ones.
#[allow(dead_code)]
#[path = "suite/common/mod.rs"]
mod common;

use std::sync::OnceLock;

use common::{hold_profile, http_app, send_event};
use erasure::http::telemetry;
use erasure::store::migrations::MIGRATOR;
use erasure_fixtures::cast;
use erasure_fixtures::cloudwatch::{Alarm, Datapoint, from_emf};
use metrics_cloudwatch_embedded::Collector;
use serde_json::Value;
use sqlx::PgPool;

/// The EMF documents of one flush, by the metric names each carries.
fn documents(collector: &metrics_cloudwatch_embedded::Collector) -> Vec<Value> {
    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The value of `metric` in the document whose dimensions are `dims`.
fn value<'a>(docs: &'a [Value], metric: &str, dims: &[(&str, &str)]) -> Option<&'a Value> {
    docs.iter()
        .find(|d| {
            let declared = &d["_aws"]["CloudWatchMetrics"][0];
            let names: Vec<&str> = declared["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            names.len() == dims.len()
                && dims.iter().all(|(k, v)| names.contains(k) && d[*k] == *v)
                && d.get(metric).is_some()
        })
        .map(|d| &d[metric])
}

/// A soft delete of Alice while another transaction holds her row: the lock
/// wait runs out (LOCK_TIMEOUT_MS) and the request is answered 408.
async fn timed_out(db: &PgPool) -> common::Answer {
    let holder = hold_profile(db, cast::ALICE).await;
    let app = http_app(
        db.clone(),
        &[
            ("LOCK_TIMEOUT_MS", "50"),
            ("RATE_LIMIT_PER_MINUTE", "100000"),
        ],
    )
    .await;
    let answer = send_event(&app, "soft_delete_user", "admin-deletes-client").await;
    holder.rollback().await.unwrap();
    answer
}

/// The process's recorder (a Lambda container's, for `soft_delete_user`),
/// and the turn of the test that may use it: a flush takes every test's
/// metrics.
static RECORDER: OnceLock<&'static Collector> = OnceLock::new();
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn recorder() -> &'static Collector {
    RECORDER.get_or_init(|| telemetry::install("soft_delete_user").unwrap())
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_request_is_counted_by_code_with_its_latency(db: PgPool) {
    let _turn = TURN.lock().await;
    let collector = recorder();
    documents(collector);
    cast::load(&db).await.unwrap();
    let app = http_app(db.clone(), &[]).await;
    for name in [
        "admin-deletes-client",
        "helpdesk-denied",
        "already-deleted",
        "unauthenticated",
    ] {
        send_event(&app, "soft_delete_user", name).await;
    }
    let docs = documents(collector);
    let function = ("Function", "soft_delete_user");
    for doc in &docs {
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Erasure");
    }
    assert_eq!(
        value(&docs, telemetry::REQUESTS, &[function]),
        Some(&4.into())
    );
    // Again by the version that answered (outside Lambda, `$LATEST`).
    let version = (telemetry::VERSION, "$LATEST");
    assert_eq!(
        value(&docs, telemetry::REQUESTS, &[function, version]),
        Some(&4.into())
    );
    assert_eq!(
        value(&docs, telemetry::LATENCY, &[function, version])
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(4)
    );
    assert_eq!(
        value(&docs, telemetry::SERVER_ERRORS, &[function]),
        None,
        "no 5xx"
    );
    let latencies = value(&docs, telemetry::LATENCY, &[function]).unwrap();
    assert_eq!(latencies.as_array().unwrap().len(), 4);
    for (code, n) in [
        ("OK", 1),
        ("FORBIDDEN", 1),
        ("ALREADY_DELETED", 1),
        ("UNAUTHORIZED", 1),
    ] {
        let found = value(&docs, telemetry::RESPONSES, &[function, ("Code", code)]);
        assert_eq!(found, Some(&n.into()), "{code}");
    }
    // The policy refused two of them (the role, and deleting twice).
    for code in ["FORBIDDEN", "ALREADY_DELETED"] {
        let found = value(
            &docs,
            telemetry::POLICY_DENIALS,
            &[function, ("Code", code)],
        );
        assert_eq!(found, Some(&1.into()), "{code}");
    }
    assert_eq!(
        value(
            &docs,
            telemetry::POLICY_DENIALS,
            &[function, ("Code", "UNAUTHORIZED")]
        ),
        None
    );
    let units = &docs
        .iter()
        .find(|d| d.get(telemetry::LATENCY).is_some())
        .unwrap()["_aws"]["CloudWatchMetrics"][0]["Metrics"];
    assert!(
        units
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Name"] == "Latency" && m["Unit"] == "Milliseconds")
    );

    // A database that is gone: the 503 is a server error.
    send_event(
        &http_app(common::unreachable_pool(), &[]).await,
        "soft_delete_user",
        "admin-deletes-client",
    )
    .await;
    let docs = documents(collector);
    assert_eq!(
        value(&docs, telemetry::SERVER_ERRORS, &[function]),
        Some(&1.into())
    );
    assert_eq!(
        value(
            &docs,
            telemetry::RESPONSES,
            &[function, ("Code", "CONNECTION_FAILED")]
        ),
        Some(&1.into())
    );

    // A wait for a row lock out of time: a 408, counted apart from server errors.
    let answer = timed_out(&db).await;
    assert_eq!(answer.status, 408);
    let docs = documents(collector);
    assert_eq!(
        value(&docs, telemetry::TIMEOUTS, &[function]),
        Some(&1.into())
    );
    assert_eq!(
        value(&docs, telemetry::TIMEOUTS, &[function, version]),
        Some(&1.into())
    );
    assert_eq!(value(&docs, telemetry::SERVER_ERRORS, &[function]), None);
}

// --- the rollback alarms on scripted canaries ------------------------------

/// The template, as CloudFormation reads it.
fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const FUNCTION_NAME: &str = "erasure-test-soft-delete-user";
const OLD: &str = "7";
const NEW: &str = "8";
/// A minute boundary: the canary starts here.
const T0: i64 = 1_800_000_000;

/// An alarm of the template as deployed: the function's name and the
/// version being deployed filled in for the intrinsic functions.
fn deployed(t: &Value, id: &str) -> Alarm {
    let resolve = |v: &Value| -> String {
        if let Some(s) = v.as_str() {
            return s.to_owned();
        }
        if v["Ref"] == "SoftDeleteUserFunction" {
            return FUNCTION_NAME.to_owned();
        }
        if v["Fn::Sub"] == "${SoftDeleteUserFunction}:live" {
            return format!("{FUNCTION_NAME}:live");
        }
        if v["Fn::GetAtt"] == serde_json::json!(["SoftDeleteUserFunction.Version", "Version"]) {
            return NEW.to_owned();
        }
        panic!("{id}: cannot resolve {v}");
    };
    Alarm::from_properties(&t["Resources"][id]["Properties"], &resolve)
        .unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// How one invocation went.
#[derive(Clone, Copy)]
enum Outcome {
    Answered,
    ServerError,
    Timeout,
    /// The version could not start: Lambda reports an error, the code writes nothing.
    InitFailure,
}

/// The metric documents the code writes for each kind of answer, taken
/// once from real requests, and what Lambda itself publishes per invocation.
struct Canary {
    documents: Vec<(Outcome, Vec<Value>)>,
    points: Vec<Datapoint>,
}

impl Canary {
    /// One invocation of `version` at `at`.
    fn invoke(&mut self, version: &str, at: i64, outcome: Outcome) {
        if let Some((_, docs)) = self
            .documents
            .iter()
            .find(|(o, _)| std::mem::discriminant(o) == std::mem::discriminant(&outcome))
        {
            for doc in docs {
                let mut doc = doc.clone();
                if doc.get(telemetry::VERSION).is_some() {
                    doc[telemetry::VERSION] = version.into();
                }
                self.points.extend(from_emf(&doc, at));
            }
        }
        let lambda = [
            ("FunctionName", FUNCTION_NAME),
            ("Resource", &format!("{FUNCTION_NAME}:live")),
            ("ExecutedVersion", version),
        ];
        let failed = matches!(outcome, Outcome::InitFailure);
        for (name, value) in [
            ("Invocations", 1.0),
            ("Errors", f64::from(u8::from(failed))),
            ("Duration", 40.0),
        ] {
            self.points
                .push(Datapoint::new("AWS/Lambda", name, &lambda, at, value));
        }
    }

    /// Ten minutes of traffic: each minute `old` invocations of the old
    /// version and `new` of the new one, the outcome of each chosen by `script`.
    fn run(&mut self, old: usize, new: usize, script: impl Fn(&str, usize, usize) -> Outcome) {
        for minute in 0..10 {
            for (version, n) in [(OLD, old), (NEW, new)] {
                for i in 0..n {
                    let at = T0 + minute as i64 * 60 + (i % 60) as i64;
                    self.invoke(version, at, script(version, minute, i));
                }
            }
        }
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_rollback_alarms_fire_on_the_new_versions_failures_and_only_on_them(db: PgPool) {
    let _turn = TURN.lock().await;
    let collector = recorder();
    documents(collector);
    cast::load(&db).await.unwrap();
    let unlimited = [
        ("RATE_LIMIT_LIST_PER_MINUTE", "100000"),
        ("RATE_LIMIT_PER_MINUTE", "100000"),
    ];
    // The timed-out soft delete waits on Alice's row: a transaction in two
    // round trips on loopback can otherwise commit before a zero timeout's
    // timer fires (tokio's timer turns every millisecond).
    let holder = hold_profile(&db, cast::ALICE).await;
    let mut kinds = Vec::new();
    for (outcome, app, function, event, status) in [
        (
            Outcome::Answered,
            http_app(db.clone(), &unlimited).await,
            "list_deleted_users",
            "filtered",
            200,
        ),
        (
            Outcome::ServerError,
            http_app(common::unreachable_pool(), &unlimited).await,
            "soft_delete_user",
            "admin-deletes-client",
            503,
        ),
        (
            Outcome::Timeout,
            http_app(
                db.clone(),
                &[unlimited[0], unlimited[1], ("TRANSACTION_TIMEOUT_MS", "0")],
            )
            .await,
            "soft_delete_user",
            "admin-deletes-client",
            408,
        ),
    ] {
        assert_eq!(send_event(&app, function, event).await.status, status);
        kinds.push((outcome, documents(collector)));
    }
    holder.rollback().await.unwrap();
    let t = template();
    let rollback: Vec<String> =
        t["Resources"]["SoftDeleteUserFunction"]["Properties"]["DeploymentPreference"]["Alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["Ref"].as_str().unwrap().to_owned())
            .collect();
    let errors = [
        "SoftDeleteUserCanaryErrors",
        "SoftDeleteUserCanaryErrorsCritical",
    ];
    for id in errors {
        assert!(rollback.iter().any(|r| r == id), "{id} rolls back");
    }
    let canary = |old: usize, new: usize, script: &dyn Fn(&str, usize, usize) -> Outcome| {
        let mut c = Canary {
            documents: kinds.clone(),
            points: Vec::new(),
        };
        c.run(old, new, script);
        c.points
    };
    let fires =
        |points: &[Datapoint], id: &str| deployed(&t, id).fires_between(points, T0, T0 + 600);
    let fired = |points: &[Datapoint]| -> Vec<String> {
        rollback
            .iter()
            .filter(|id| fires(points, id))
            .cloned()
            .collect()
    };

    // 5% of the traffic on the new version, one of its ten requests failing.
    let one_in_ten = canary(38, 2, &|v, minute, i| {
        if v == NEW && i == 0 && minute % 5 == 2 {
            Outcome::ServerError
        } else {
            Outcome::Answered
        }
    });
    for id in errors {
        assert!(fires(&one_in_ten, id), "{id}: a new version failing 10%");
    }
    // The paging alarm over all versions sees 1 of 80 in two minutes (1.25%): quiet.
    assert!(!fires(&one_in_ten, "SoftDeleteUserErrorRateCritical"));

    // The new version cannot start: Lambda's own errors, no metric of the code's.
    let init = canary(38, 2, &|v, _, _| {
        if v == NEW {
            Outcome::InitFailure
        } else {
            Outcome::Answered
        }
    });
    for id in errors {
        assert!(fires(&init, id), "{id}: a new version failing at init");
    }

    // The old version failing while the new one is clean: no rollback.
    let old_failing = canary(38, 2, &|v, _, i| {
        if v == OLD && i % 2 == 0 {
            Outcome::ServerError
        } else {
            Outcome::Answered
        }
    });
    assert_eq!(fired(&old_failing), Vec::<String>::new());
    assert!(
        fires(&old_failing, "SoftDeleteUserErrorRateCritical"),
        "the paging alarm sees it"
    );

    // Every request of the new version a 408 (a lock wait): no rollback.
    let timeouts = canary(38, 2, &|v, _, _| {
        if v == NEW {
            Outcome::Timeout
        } else {
            Outcome::Answered
        }
    });
    assert_eq!(fired(&timeouts), Vec::<String>::new());

    // A canary with almost no traffic, failing all of it: one request in ten minutes.
    let quiet = canary(38, 0, &|_, _, _| Outcome::Answered);
    let mut quiet_failing = quiet.clone();
    let mut one = Canary {
        documents: kinds.clone(),
        points: Vec::new(),
    };
    one.invoke(NEW, T0 + 250, Outcome::ServerError);
    quiet_failing.extend(one.points);
    assert!(
        fires(&quiet_failing, "SoftDeleteUserCanaryErrors"),
        "all of a small canary failing"
    );
    assert_eq!(fired(&quiet), Vec::<String>::new());

    // A clean canary rolls nothing back.
    let clean = canary(38, 2, &|_, _, _| Outcome::Answered);
    assert_eq!(fired(&clean), Vec::<String>::new());
}
