//! `template.yaml` against the code: every function is a binary and every
//! binary a function; the routes are the route table's and the OpenAPI
//! document's; every alarm watches a metric the code emits, with the
//! dimensions it emits, and names a runbook that exists; every event in
//! `events/` is valid for its function and used by a test. Then cfn-lint
//! (with the serverless rules) and `sam validate --lint`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use erasure::aws::metrics::NAMESPACE;
use erasure::domain::pauses::{self, Decision};
use erasure::http::routes::Route;
use erasure::http::telemetry;
use erasure::jobs::alarm_responder::ResponderEvent;
use erasure::jobs::cleanup::{self, CleanupEvent, CleanupReport};
use erasure::jobs::integrity_audit::checks::Check;
use erasure::jobs::integrity_audit::invocation::{self, IntegrityAuditEvent};
use erasure::jobs::pre_traffic::{self, HookEvent};
use erasure::jobs::relay::{self, RelayEvent, RelayReport};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn template() -> Value {
    yaml("template.yaml")
}

/// (logical id, properties) of every resource of `kind`.
fn resources<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

fn binaries() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions/src/bin"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The binary a function of the template is built from, as
/// infra/build-function.sh names it: the logical id in snake case, without
/// "Function".
fn binary_of(id: &str) -> String {
    let name = id.strip_suffix("Function").unwrap();
    let mut binary = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            binary.push('_');
        }
        binary.push(c.to_ascii_lowercase());
    }
    binary
}

/// The binary each function of the template is built from (BuildMethod:
/// makefile, through the Makefile's build-%Function target).
fn function_binaries(t: &Value) -> Vec<(&str, String)> {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    assert!(
        makefile.contains("build-%Function:\n\tinfra/build-function.sh $* \"$(ARTIFACTS_DIR)\""),
        "the Makefile has no build-%Function target for sam build"
    );
    resources(t, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, f)| {
            assert_eq!(f["Metadata"]["BuildMethod"], "makefile", "{id}");
            (id, binary_of(id))
        })
        .collect()
}

#[test]
fn every_function_is_a_binary_and_every_binary_a_function() {
    let t = template();
    let built: BTreeSet<String> = function_binaries(&t).into_iter().map(|(_, b)| b).collect();
    assert_eq!(built, binaries());
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], serde_json::json!(["arm64"]));
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    for (id, f) in resources(&t, "AWS::Serverless::Function") {
        let p = &f["Properties"];
        assert!(
            p["MemorySize"].is_u64() && p["Timeout"].is_u64(),
            "{id} chooses its memory and timeout"
        );
    }
}

#[test]
fn the_routes_are_the_route_tables_and_the_documents() {
    let t = template();
    let openapi = yaml("openapi.yaml");
    let mut routed = Vec::new();
    for (id, f) in resources(&t, "AWS::Serverless::Function") {
        for event in f["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
        {
            if event["Type"] == "HttpApi" {
                let binary = binary_of(id);
                let method = event["Properties"]["Method"].as_str().unwrap().to_owned();
                let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
                assert!(
                    openapi["paths"][&path][method.to_lowercase()].is_object(),
                    "{id}: {method} {path} is not in openapi.yaml"
                );
                routed.push((method, path, binary));
            }
        }
    }
    routed.sort();
    let mut table: Vec<_> = Route::ALL
        .iter()
        .map(|r| {
            (
                r.method().to_string(),
                r.path().to_owned(),
                r.function().to_owned(),
            )
        })
        .collect();
    table.sort();
    assert_eq!(routed, table);
    // Each HTTP function ships by canary, with the snapshot before traffic.
    for (id, f) in resources(&t, "AWS::Serverless::Function") {
        if f["Properties"]["Events"].to_string().contains("HttpApi") {
            let p = &f["Properties"];
            assert_eq!(p["AutoPublishAlias"], "live", "{id}");
            let hook = &p["DeploymentPreference"]["Hooks"]["PreTraffic"]["Ref"];
            assert_eq!(hook, "SnapshotHookFunction", "{id}");
            assert!(
                p["DeploymentPreference"]["Alarms"]
                    .as_array()
                    .is_some_and(|a| a.len() >= 2),
                "{id}"
            );
        }
    }
    let hook_name =
        &t["Resources"]["SnapshotHookFunction"]["Properties"]["FunctionName"]["Fn::Sub"];
    assert!(hook_name.as_str().unwrap().starts_with("CodeDeployHook_"));
}

/// Every metric the code publishes, by name.
fn emitted() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        telemetry::REQUESTS,
        telemetry::SERVER_ERRORS,
        telemetry::TIMEOUTS,
        telemetry::LATENCY,
        telemetry::RESPONSES,
        telemetry::POLICY_DENIALS,
        telemetry::COLD_START,
        invocation::DURATION,
        pre_traffic::SNAPSHOT_FAILED,
        pre_traffic::SMOKE_TEST_FAILED,
    ]
    .map(str::to_owned)
    .into();
    names.extend(
        cleanup::metrics(&CleanupReport::default())
            .into_iter()
            .map(|m| m.name.to_owned()),
    );
    names.extend(Check::ALL.iter().map(|c| c.metric().to_owned()));
    names.extend(
        relay::metrics(&RelayReport::default())
            .into_iter()
            .map(|m| m.name.to_owned()),
    );
    names
}

/// The `Function` dimension values the code publishes under.
fn functions() -> BTreeSet<&'static str> {
    let mut f: BTreeSet<&str> = Route::ALL.iter().map(|r| r.function()).collect();
    f.extend([
        cleanup::FUNCTION,
        invocation::FUNCTION,
        pre_traffic::FUNCTION,
        relay::FUNCTION,
    ]);
    f
}

/// Every metric an alarm reads: (namespace, name, dimensions).
fn watched(alarm: &Value) -> Vec<(String, String, Value)> {
    let p = &alarm["Properties"];
    let mut out = Vec::new();
    if p["MetricName"].is_string() {
        out.push((
            p["Namespace"].as_str().unwrap().to_owned(),
            p["MetricName"].as_str().unwrap().to_owned(),
            p["Dimensions"].clone(),
        ));
    }
    for m in p["Metrics"].as_array().into_iter().flatten() {
        let metric = &m["MetricStat"]["Metric"];
        if metric.is_object() {
            out.push((
                metric["Namespace"].as_str().unwrap().to_owned(),
                metric["MetricName"].as_str().unwrap().to_owned(),
                metric["Dimensions"].clone(),
            ));
        }
    }
    out
}

#[test]
fn every_alarm_watches_what_the_code_emits_and_names_its_runbook() {
    let t = template();
    let (emitted, functions) = (emitted(), functions());
    let alarms = resources(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 4 * 3 + 5, "{} alarms", alarms.len());
    for (id, alarm) in &alarms {
        let metrics = watched(alarm);
        assert!(!metrics.is_empty(), "{id} watches nothing");
        for (namespace, name, dims) in metrics {
            let dims = dims.as_array().unwrap();
            match namespace.as_str() {
                NAMESPACE => {
                    assert!(emitted.contains(&name), "{id}: the code never emits {name}");
                    assert_eq!(dims[0]["Name"], "Function", "{id}");
                    let function = dims[0]["Value"].as_str().unwrap();
                    assert!(
                        functions.contains(function),
                        "{id}: no function {function} emits {name}"
                    );
                    // By function alone, or by function and the version
                    // that answered (the code's `Version` dimension).
                    match dims.len() {
                        1 => {}
                        2 => assert_eq!(dims[1]["Name"], telemetry::VERSION, "{id}"),
                        n => panic!("{id}: {name} has {n} dimensions"),
                    }
                }
                // Lambda's own metrics, of one of this template's functions:
                // by function, or by alias and the version that ran.
                "AWS/Lambda" => {
                    assert_eq!(dims[0]["Name"], "FunctionName", "{id}");
                    let target = dims[0]["Value"]["Ref"].as_str().unwrap();
                    assert_eq!(
                        t["Resources"][target]["Type"], "AWS::Serverless::Function",
                        "{id}"
                    );
                    let names: Vec<&str> =
                        dims.iter().map(|d| d["Name"].as_str().unwrap()).collect();
                    assert!(
                        names == ["FunctionName"]
                            || names == ["FunctionName", "Resource", "ExecutedVersion"],
                        "{id}: {name} by {names:?}"
                    );
                }
                // A queue's own metrics, of one of this template's queues.
                "AWS/SQS" => {
                    assert_eq!(dims[0]["Name"], "QueueName", "{id}");
                    let queue = dims[0]["Value"]["Fn::GetAtt"][0].as_str().unwrap();
                    assert_eq!(t["Resources"][queue]["Type"], "AWS::SQS::Queue", "{id}");
                    assert_eq!(dims.len(), 1, "{id}");
                }
                other => panic!("{id}: namespace {other}"),
            }
        }
        let description = alarm["Properties"]["AlarmDescription"].as_str().unwrap();
        let runbook = description
            .split("Runbook: ")
            .nth(1)
            .unwrap_or_else(|| panic!("{id} names no runbook"))
            .trim();
        assert!(
            root().join(runbook).is_file(),
            "{id}: {runbook} does not exist"
        );
        assert!(
            alarm["Properties"]["AlarmActions"]
                .to_string()
                .contains("AlarmTopic"),
            "{id}"
        );
    }
    // The dashboard shows only metrics the code emits.
    let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    let dashboard: Value =
        serde_json::from_str(&body.replace("${AWS::Region}", "us-east-1")).unwrap();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"].as_array().unwrap() {
            if let Some(expression) = metric[0]["expression"].as_str() {
                // A SEARCH over one of our metrics, in our namespace.
                assert!(
                    expression.contains(&format!("{{{NAMESPACE},")),
                    "dashboard: {expression}"
                );
                let name = expression
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next());
                assert!(
                    name.is_some_and(|n| emitted.contains(n)),
                    "dashboard: {expression}"
                );
                continue;
            }
            assert_eq!(metric[0], NAMESPACE);
            assert!(
                emitted.contains(metric[1].as_str().unwrap()),
                "dashboard: {metric}"
            );
        }
    }
}

/// The version a deploy publishes, as an alarm names it.
fn deploying_version(function: &str) -> Value {
    serde_json::json!({"Fn::GetAtt": [format!("{function}.Version"), "Version"]})
}

#[test]
fn every_rollback_alarm_watches_only_the_deploying_version_and_lambdas_own_errors() {
    let t = template();
    let mut deployed = 0;
    for (function, f) in resources(&t, "AWS::Serverless::Function") {
        let Some(alarms) = f["Properties"]["DeploymentPreference"]["Alarms"].as_array() else {
            continue;
        };
        deployed += 1;
        let version = deploying_version(function);
        let mut kinds = BTreeSet::new();
        for alarm in alarms {
            let id = alarm["Ref"].as_str().unwrap();
            let watched = watched(&t["Resources"][id]);
            for (namespace, name, dims) in &watched {
                let scope: Vec<&Value> = dims
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["Name"] == telemetry::VERSION || d["Name"] == "ExecutedVersion")
                    .map(|d| &d["Value"])
                    .collect();
                assert_eq!(
                    scope,
                    [&version],
                    "{id}: {namespace} {name} is not the deploying version's"
                );
                assert_ne!(name, telemetry::TIMEOUTS, "{id}: a 408 must not roll back");
            }
            let reads =
                |ns: &str, metric: &str| watched.iter().any(|(n, m, _)| n == ns && m == metric);
            if reads(NAMESPACE, telemetry::SERVER_ERRORS) {
                // A version that crashes or times out writes no metric of its own.
                assert!(
                    reads("AWS/Lambda", "Errors") && reads("AWS/Lambda", "Invocations"),
                    "{id}"
                );
                kinds.insert("errors");
            }
            if reads(NAMESPACE, telemetry::LATENCY) {
                assert!(reads("AWS/Lambda", "Duration"), "{id}");
                kinds.insert("latency");
            }
        }
        assert_eq!(kinds, BTreeSet::from(["errors", "latency"]), "{function}");
    }
    let http_functions: BTreeSet<&str> = Route::ALL.iter().map(|r| r.function()).collect();
    assert_eq!(
        deployed,
        http_functions.len(),
        "every HTTP function deploys behind a canary"
    );
}

/// The actions and resources a function's inline policies allow.
fn allowed(function: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            let actions = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                list => list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
            };
            for action in actions {
                out.push((action, statement["Resource"].clone()));
            }
        }
    }
    out
}

/// A function that reads two secrets at a cold start reads them in one
/// BatchGetSecretValue (`Secrets::prefetch`), which needs its own action;
/// which secrets it returns is still GetSecretValue's to decide.
#[test]
fn the_functions_reading_two_secrets_may_read_them_in_one_call() {
    let t = template();
    for (id, function) in resources(&t, "AWS::Serverless::Function") {
        let allowed = allowed(function);
        let secrets = allowed
            .iter()
            .filter(|(a, _)| a == "secretsmanager:GetSecretValue")
            .map(|(_, r)| r.as_array().map_or(1, Vec::len))
            .sum::<usize>();
        let batch: Vec<&Value> = allowed
            .iter()
            .filter(|(a, _)| a == "secretsmanager:BatchGetSecretValue")
            .map(|(_, r)| r)
            .collect();
        if secrets > 1 {
            assert_eq!(batch, [&Value::from("*")], "{id}");
        } else {
            assert!(batch.is_empty(), "{id} reads one secret: no batch");
        }
    }
}

#[test]
fn the_hook_may_make_exactly_the_calls_it_makes() {
    let t = template();
    let hook = &t["Resources"]["SnapshotHookFunction"];
    let actions: BTreeSet<String> = allowed(hook).into_iter().map(|(a, _)| a).collect();
    // aws::rds (create, describe, delete; tags copied from the instance),
    // aws::codedeploy (the deployment, its revision, the answer), aws::lambda
    // (the smoke test), aws::metrics.
    let made = [
        "rds:CreateDBSnapshot",
        "rds:CreateDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "codedeploy:GetDeployment",
        "codedeploy:GetApplicationRevision",
        "codedeploy:PutLifecycleEventHookExecutionStatus",
        "lambda:InvokeFunction",
        "cloudwatch:PutMetricData",
    ];
    assert_eq!(actions, made.map(str::to_owned).into());
    // It invokes the versions of the functions it is the hook of, and no other.
    let invokable: Vec<String> = allowed(hook)
        .into_iter()
        .filter(|(a, _)| a == "lambda:InvokeFunction")
        .flat_map(|(_, r)| r.as_array().unwrap().clone())
        .map(|r| r["Fn::Sub"].as_str().unwrap().to_owned())
        .collect();
    let mut hooked: Vec<String> = resources(&t, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| f["Properties"]["DeploymentPreference"]["Hooks"]["PreTraffic"]["Ref"] == "SnapshotHookFunction")
        .map(|(_, f)| {
            let name = f["Properties"]["FunctionName"]["Fn::Sub"].as_str().unwrap();
            format!("arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}:*")
        })
        .collect();
    hooked.sort();
    let mut invokable = invokable;
    invokable.sort();
    assert_eq!(invokable, hooked);
}

#[test]
fn every_alarm_has_a_decision_and_the_pausing_ones_invoke_the_responder() {
    let t = template();
    let responder = serde_json::json!({"Fn::GetAtt": ["AlarmResponderFunction", "Arn"]});
    let mut named = BTreeSet::new();
    for (id, alarm) in resources(&t, "AWS::CloudWatch::Alarm") {
        let sub = alarm["Properties"]["AlarmName"]["Fn::Sub"]
            .as_str()
            .unwrap();
        let name = sub.strip_prefix("erasure-${Stage}-").unwrap_or(sub);
        named.insert(name.to_owned());
        let decision = pauses::decide(&format!("erasure-prod-{name}"))
            .unwrap_or_else(|| panic!("{id} ({name}) has no decision in domain::pauses::ALARMS"));
        let calls = |actions: &str| {
            alarm["Properties"][actions]
                .as_array()
                .is_some_and(|a| a.contains(&responder))
        };
        let pauses = matches!(decision, Decision::Pause { .. });
        assert_eq!(calls("AlarmActions"), pauses, "{id}: AlarmActions");
        assert_eq!(calls("OKActions"), pauses, "{id}: OKActions");
    }
    let decided: BTreeSet<String> = pauses::ALARMS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(
        decided, named,
        "the table decides exactly the template's alarms"
    );
    // The critical integrity alarm reads exactly the critical checks.
    let critical: BTreeSet<String> = Check::ALL
        .iter()
        .filter(|c| c.severity() == erasure::jobs::integrity_audit::checks::Severity::Critical)
        .map(|c| c.metric().to_owned())
        .collect();
    let read: BTreeSet<String> = watched(&t["Resources"]["IntegrityCritical"])
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    assert_eq!(read, critical);
    // CloudWatch may invoke the responder, for this stage's alarms only.
    let permission = &t["Resources"]["AlarmResponderPermission"]["Properties"];
    assert_eq!(
        permission["Principal"],
        "lambda.alarms.cloudwatch.amazonaws.com"
    );
    assert!(
        permission["SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with(":alarm:erasure-${Stage}-*")
    );
}

/// The test sources, to find which events they use.
fn test_sources() -> String {
    fn read(dir: &Path, all: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                read(&path, all);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("template.rs")
            {
                all.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut all = String::new();
    for dir in ["functions/tests", "tests/tests"] {
        read(&root().join(dir), &mut all);
    }
    all
}

#[test]
fn every_event_is_valid_for_its_function_and_used_by_a_test() {
    let (binaries, sources) = (binaries(), test_sources());
    // openapi.rs sends every file of every HTTP function's folder.
    let every_http_event =
        sources.contains("Route::of(function)") && sources.contains("read_dir(&dir)");
    for (function, folder) in erasure_fixtures::events::function_folders() {
        assert!(
            binaries.contains(&function),
            "events/{function} names no function"
        );
        let routes = Route::of(&function);
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&file).unwrap();
            let name = format!("events/{function}/{stem}.json");
            // An HTTP function's event is for one of its routes, by method.
            let route = (!routes.is_empty()).then(|| {
                let request =
                    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                *routes
                    .iter()
                    .find(|r| r.method() == request.method())
                    .unwrap_or_else(|| panic!("{name}: {function} has no such method"))
            });
            match (route, function.as_str()) {
                (Some(route), _) => {
                    let event: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(
                        event["routeKey"],
                        format!("{} {}", route.method(), route.path()),
                        "{name}"
                    );
                }
                (None, "cleanup") => parses::<CleanupEvent>(&text, &name),
                (None, "integrity_audit") => parses::<IntegrityAuditEvent>(&text, &name),
                (None, "snapshot_hook") => parses::<HookEvent>(&text, &name),
                (None, "alarm_responder") => parses::<ResponderEvent>(&text, &name),
                (None, "event_relay") => parses::<RelayEvent>(&text, &name),
                (None, _) => assert!(
                    serde_json::from_str::<Value>(&text).unwrap().is_object(),
                    "{name}"
                ),
            }
            let named = sources.contains(&name)
                || (sources.contains(&format!("\"{function}\""))
                    && sources.contains(&format!("\"{stem}\"")));
            assert!(
                named || (route.is_some() && every_http_event),
                "no test uses {name}"
            );
        }
    }
}

#[test]
fn every_schedule_sends_its_function_options_it_accepts() {
    let t = template();
    let mut scheduled = Vec::new();
    for (id, f) in resources(&t, "AWS::Serverless::Function") {
        let binary = binary_of(id);
        for event in f["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
            .filter(|e| e["Type"] == "ScheduleV2")
        {
            let input = event["Properties"]["Input"].as_str().unwrap_or_else(|| {
                panic!("{id}: a schedule without Input sends Scheduler's default notification")
            });
            let name = format!("{id}'s schedule");
            match binary.as_str() {
                "cleanup" => parses::<CleanupEvent>(input, &name),
                "integrity_audit" => parses::<IntegrityAuditEvent>(input, &name),
                "event_relay" => parses::<RelayEvent>(input, &name),
                other => panic!("{id}: no event type known for {other}"),
            }
            scheduled.push(binary.clone());
        }
    }
    scheduled.sort();
    assert_eq!(scheduled, ["cleanup", "event_relay", "integrity_audit"]);
}

#[test]
fn every_integrity_check_is_alarmed_and_on_the_dashboard() {
    let t = template();
    let alarmed: BTreeSet<String> = watched(&t["Resources"]["IntegrityFindings"])
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    let expression = t["Resources"]["IntegrityFindings"]["Properties"]["Metrics"][0]["Expression"]
        .as_str()
        .unwrap();
    let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    for (i, check) in Check::ALL.iter().enumerate() {
        assert!(
            alarmed.contains(check.metric()),
            "{} is not alarmed",
            check.metric()
        );
        assert!(
            expression.contains(&format!("FILL(c{i}, 0)")),
            "the findings expression does not add c{i}: {expression}"
        );
        assert!(
            body.contains(&format!("\"{}\"", check.metric())),
            "{} is not on the dashboard",
            check.metric()
        );
    }
    assert_eq!(alarmed.len(), Check::ALL.len());
}

/// Whether `text` is a `T`, the event type of its function.
fn parses<T: serde::de::DeserializeOwned>(text: &str, name: &str) {
    if let Err(e) = serde_json::from_str::<T>(text) {
        panic!("{name}: {e}");
    }
}

/// Runs one of the project's Python tools (installed in .venv by the stack).
fn tool(program: &str, args: &[&str]) {
    let path = root().join(".venv/bin").join(program);
    let out = Command::new(&path)
        .args(args)
        .current_dir(root())
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run the tests with `make test`)", path.display()));
    assert!(
        out.status.success(),
        "{program} {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cfn_lint_with_the_serverless_rules_passes() {
    tool(
        "cfn-lint",
        &["-a", "cfn_lint_serverless.rules", "--", "template.yaml"],
    );
}

#[test]
fn sam_validate_lint_passes() {
    tool(
        "sam",
        &[
            "validate",
            "--lint",
            "--region",
            "us-east-1",
            "--template-file",
            "template.yaml",
        ],
    );
}

#[test]
fn the_local_endpoint_variables_exist_only_under_sam_local() {
    let t = template();
    assert_eq!(t["Parameters"]["LocalEmulation"]["Default"], "false");
    let variables = &t["Globals"]["Function"]["Environment"]["Variables"];
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CODEDEPLOY",
        "AWS_ENDPOINT_URL_LAMBDA",
    ] {
        assert_eq!(
            variables[name],
            serde_json::json!({"Fn::If": ["IsLocalEmulation", "", {"Ref": "AWS::NoValue"}]}),
            "{name}"
        );
    }
    // Only sam local's sections of samconfig.toml turn it on, never a deploy.
    let samconfig = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    let mut section = "";
    for line in samconfig.lines() {
        if line.starts_with('[') {
            section = line;
        } else if line.contains("LocalEmulation=true") {
            assert!(section.contains(".local_"), "{section} sets LocalEmulation");
        }
    }
}
