//! The engine fails closed: with real bad modules built here, every decision
//! is a denial with POLICY_UNAVAILABLE and a reason that says what is wrong.

use std::path::PathBuf;

use erasure_policy::{
    EMBEDDED_MODULE, EMBEDDED_PRECOMPILED, EMBEDDED_PRECOMPILED_SHA256, EMBEDDED_SHA256,
    POLICY_UNAVAILABLE, Policy, Unavailable, engine,
};
use sha2::{Digest, Sha256};

mod common;
use common::allowed_request;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A policy from `wat`, precompiled and accepted by digest (as a policy-only
/// deploy would be).
fn policy_from_wat(wat: &str) -> Policy {
    let wasm = wat::parse_str(wat).expect("the test module is valid text");
    let bytes = engine().unwrap().precompile_module(&wasm).unwrap();
    Policy::from_precompiled(&bytes, &sha256(&bytes))
}

/// Asserts both steps deny with POLICY_UNAVAILABLE for `reason`.
fn assert_denies(policy: &Policy, reason: impl Fn(&Unavailable) -> bool) {
    let request = allowed_request();
    let step_one = policy.may_attempt(request.action, request.actor);
    let whole = policy.decide(&request);
    for verdict in [step_one, whole] {
        assert!(!verdict.allowed());
        assert_eq!(verdict.code(), POLICY_UNAVAILABLE);
        assert_eq!(verdict.rule(), None);
        let err = verdict.outcome.as_ref().unwrap_err();
        assert!(reason(err), "unexpected reason: {err}");
    }
}

/// The export signature the engine calls: eight i64 in, one i32 out.
const SIG: &str = "(param i64 i64 i64 i64 i64 i64 i64 i64) (result i32)";

fn module_with_body(body: &str) -> String {
    format!(
        r#"(module
             (memory (export "memory") 1)
             (func (export "decide") {SIG} {body})
             (func (export "may_attempt") {SIG} {body}))"#
    )
}

#[test]
fn the_real_module_allows_the_control_request() {
    let policy = Policy::embedded();
    assert!(policy.decide(&allowed_request()).allowed());
    assert_eq!(policy.sha256(), EMBEDDED_SHA256);
}

#[test]
fn a_corrupted_module_is_refused_by_its_digest() {
    let mut bytes = EMBEDDED_PRECOMPILED.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let policy = Policy::from_precompiled(&bytes, EMBEDDED_PRECOMPILED_SHA256);
    assert_denies(
        &policy,
        |e| matches!(e, Unavailable::DigestMismatch { expected, .. } if expected == EMBEDDED_PRECOMPILED_SHA256),
    );
}

#[test]
fn a_wasm_module_where_a_precompiled_one_belongs_is_refused_as_invalid() {
    let policy = Policy::from_precompiled(EMBEDDED_MODULE, &sha256(EMBEDDED_MODULE));
    assert_denies(&policy, |e| matches!(e, Unavailable::Invalid(_)));
}

#[test]
fn a_module_precompiled_for_another_architecture_is_refused_as_invalid() {
    let other = if cfg!(target_arch = "aarch64") {
        "x86_64-unknown-linux-gnu"
    } else {
        "aarch64-unknown-linux-gnu"
    };
    let mut config = wasmtime::Config::new();
    config.target(other).unwrap();
    let bytes = wasmtime::Engine::new(&config)
        .unwrap()
        .precompile_module(EMBEDDED_MODULE)
        .unwrap();
    let policy = Policy::from_precompiled(&bytes, &sha256(&bytes));
    assert_denies(
        &policy,
        |e| matches!(e, Unavailable::Invalid(m) if m.contains("architecture")),
    );
}

#[test]
fn an_override_file_is_accepted_only_with_the_configured_digest() {
    let path = std::env::temp_dir().join(format!("erasure-policy-{}.cwasm", std::process::id()));
    std::fs::write(&path, EMBEDDED_PRECOMPILED).unwrap();
    let policy = Policy::from_file(&path, EMBEDDED_PRECOMPILED_SHA256);
    assert!(policy.decide(&allowed_request()).allowed());
    assert_eq!(policy.sha256(), EMBEDDED_PRECOMPILED_SHA256);
    let wrong = "0".repeat(64);
    assert_denies(&Policy::from_file(&path, &wrong), |e| {
        matches!(e, Unavailable::DigestMismatch { .. })
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_missing_module_file_denies_everything() {
    let path = PathBuf::from("/nonexistent/erasure/policy.wasm");
    assert_denies(
        &Policy::from_file(&path, EMBEDDED_SHA256),
        |e| matches!(e, Unavailable::Missing { path, .. } if path.contains("/nonexistent/")),
    );
}

#[test]
fn a_module_that_imports_anything_is_refused() {
    let policy = policy_from_wat(&format!(
        r#"(module
             (import "env" "clock" (func $clock (result i64)))
             (func (export "decide") {SIG} (drop (call $clock)) (i32.const 1))
             (func (export "may_attempt") {SIG} (i32.const 1)))"#
    ));
    assert_denies(
        &policy,
        |e| matches!(e, Unavailable::HasImports(names) if names == "env::clock"),
    );
}

#[test]
fn a_module_that_loops_forever_runs_out_of_fuel() {
    let policy = policy_from_wat(&module_with_body("(loop (br 0)) (i32.const 1)"));
    assert_denies(&policy, |e| *e == Unavailable::OutOfFuel);
}

#[test]
fn a_module_that_grows_memory_without_bound_is_stopped_at_the_cap() {
    // Grows a page at a time; the cap makes memory.grow fail (-1), and the
    // module traps then, as an allocator's out-of-memory would.
    let policy = policy_from_wat(&module_with_body(
        "(loop
           (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
           (br 0))
         (i32.const 1)",
    ));
    assert_denies(
        &policy,
        |e| matches!(e, Unavailable::Trapped(m) if m.contains("unreachable")),
    );
}

#[test]
fn a_module_asking_for_more_memory_than_the_cap_is_refused_at_load() {
    let policy = policy_from_wat(&format!(
        r#"(module
             (memory (export "memory") 64)
             (func (export "decide") {SIG} (i32.const 1))
             (func (export "may_attempt") {SIG} (i32.const 1)))"#
    ));
    assert_denies(
        &policy,
        |e| matches!(e, Unavailable::Invalid(m) if m.contains("exceeds the limit")),
    );
}

#[test]
fn a_module_that_traps_denies() {
    let policy = policy_from_wat(&module_with_body("unreachable"));
    assert_denies(
        &policy,
        |e| matches!(e, Unavailable::Trapped(m) if m.contains("unreachable")),
    );
}

#[test]
fn a_module_that_answers_nonsense_denies() {
    // 0x0101: "allow" with the FORBIDDEN code, which no real policy answers.
    let policy = policy_from_wat(&module_with_body("(i32.const 0x0101)"));
    assert_denies(&policy, |e| *e == Unavailable::BadAnswer(0x0101));
}

#[test]
fn a_module_without_the_expected_exports_is_refused() {
    let policy = policy_from_wat(&format!(
        r#"(module (func (export "decide") {SIG} (i32.const 1)))"#
    ));
    assert_denies(&policy, |e| *e == Unavailable::MissingExport("may_attempt"));
}

#[test]
fn malformed_words_are_denied_inside_the_module() {
    let policy = Policy::embedded();
    let verdict = policy.decide_words([u64::MAX; 8]);
    let decision = verdict.outcome.unwrap();
    assert!(!decision.allow);
    assert_eq!(decision.code.as_str(), "INVALID_INPUT");
}
