//! `make bench-policy`: the policy's costs side by side, with ratios.
//!
//! - a decision: the native rules against the wasm module with a fresh
//!   instance per decision (what every request pays);
//! - the input encoding: the eight-word binary form against JSON;
//! - engine start: compiling the module with Cranelift (what every cold
//!   start paid before build.rs precompiled it) against `Policy::embedded`.
//!
//! Medians of batches, so one noisy batch does not move the figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use erasure_policy::{
    Action, Actor, EMBEDDED_MODULE, EMBEDDED_PRECOMPILED, Input, Policy, Role, Target, TargetState,
    engine,
};
use erasure_policy_rules::wire;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Median time per call of `f`, over `batches` batches of `per_batch` calls.
fn median_per_call(batches: usize, per_batch: u32, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            Duration::from_secs_f64(start.elapsed().as_secs_f64() / f64::from(per_batch))
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn request() -> Input {
    Input {
        action: Action::SoftDelete,
        actor: Actor::User {
            id: [1; 16],
            role: Role::Admin,
            soft_deleted: false,
        },
        target: Some(Target {
            id: [2; 16],
            role: Role::Client,
            state: TargetState::SoftDeleted {
                deleted_at: 1_799_000_000,
            },
            held: false,
        }),
        now: 1_800_000_000,
        grace_period_secs: 30 * 86_400,
    }
}

/// The same facts as JSON would carry them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonInput {
    action: String,
    actor_id: String,
    actor_role: String,
    actor_soft_deleted: bool,
    target_id: Option<String>,
    target_role: Option<String>,
    target_deleted_at: Option<i64>,
    now: i64,
    grace_period_secs: i64,
}

fn json_request() -> JsonInput {
    JsonInput {
        action: "SOFT_DELETE".into(),
        actor_id: "01010101-0101-0101-0101-010101010101".into(),
        actor_role: "ADMIN".into(),
        actor_soft_deleted: false,
        target_id: Some("02020202-0202-0202-0202-020202020202".into()),
        target_role: Some("CLIENT".into()),
        target_deleted_at: Some(1_799_000_000),
        now: 1_800_000_000,
        grace_period_secs: 30 * 86_400,
    }
}

fn row(name: &str, value: Duration, baseline: Option<Duration>) {
    let ratio = baseline
        .map(|b| {
            let r = value.as_secs_f64() / b.as_secs_f64();
            if r >= 1.0 {
                format!("{r:>9.1}x the first")
            } else {
                format!("{:>9.1}x faster than the first", 1.0 / r)
            }
        })
        .unwrap_or_default();
    println!("  {name:<44} {:>12.3?} {ratio}", value);
}

fn verdict(goal: &str, met: bool) {
    println!("  goal: {goal}: {}", if met { "met" } else { "MISSED" });
}

fn main() {
    let input = request();
    let policy = Policy::embedded();
    assert!(policy.decide(&input).allowed() == erasure_policy_rules::decide(&input).allow);

    println!("decision, per call (median of 51 batches)");
    let native = median_per_call(51, 20_000, || {
        black_box(erasure_policy_rules::decide(black_box(&input)));
    });
    let wasm = median_per_call(51, 2_000, || {
        black_box(policy.decide(black_box(&input)).allowed());
    });
    row("native rules", native, None);
    row("wasm, fresh instance per decision", wasm, Some(native));
    verdict("wasm median at most 2 us", wasm <= Duration::from_micros(2));

    println!("input encoding, encode + decode (median of 51 batches)");
    let binary = median_per_call(51, 20_000, || {
        black_box(wire::decode(&wire::encode(black_box(&input))).ok());
    });
    let json_input = json_request();
    let json = median_per_call(51, 20_000, || {
        let text = serde_json::to_string(black_box(&json_input)).unwrap();
        black_box(serde_json::from_str::<JsonInput>(&text).unwrap());
    });
    row("binary, eight words", binary, None);
    row("JSON (serde_json, natively)", json, Some(binary));

    println!("engine start (median of 15)");
    // What a cold start cost when the functions compiled the module, against
    // what `Policy::embedded` does now: check the pinned digest of the
    // artifact build.rs precompiled, and deserialize it.
    let compile = median_per_call(15, 1, || {
        let precompiled = engine()
            .expect("engine")
            .precompile_module(EMBEDDED_MODULE)
            .expect("precompile");
        let sha256 = hex::encode(Sha256::digest(&precompiled));
        black_box(Policy::from_precompiled(&precompiled, &sha256));
    });
    let deserialize = median_per_call(15, 1, || {
        black_box(Policy::embedded());
    });
    row("compile with Cranelift, then load", compile, None);
    row(
        "Policy::embedded (digest check, deserialize)",
        deserialize,
        Some(compile),
    );
    verdict(
        "precompiled start at most 1 ms",
        deserialize <= Duration::from_millis(1),
    );
    println!(
        "module size: wasm {} bytes, precompiled {} bytes",
        EMBEDDED_MODULE.len(),
        EMBEDDED_PRECOMPILED.len()
    );
}
