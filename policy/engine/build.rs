//! Builds the policy module from the source in the tree, the way substrate's
//! wasm builder does: a nested cargo builds `policy/module` for
//! wasm32-unknown-unknown into this build's OUT_DIR, Cranelift (here, and
//! only here) precompiles it for the target this crate is built for under the
//! engine's own configuration, and both SHA-256 digests are pinned into the
//! engine. `cargo build`, `cargo test` and `sam build` therefore always embed
//! the policy compiled from the current rules, ready to run.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "src/engine_config.rs"]
mod engine_config;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let policy_dir = manifest_dir.parent().expect("policy/").to_path_buf();
    let module_manifest = policy_dir.join("module/Cargo.toml");
    println!("cargo:rerun-if-changed=src/engine_config.rs");
    for watched in [
        "rules/src",
        "rules/Cargo.toml",
        "module/src",
        "module/Cargo.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            policy_dir.join(watched).display()
        );
    }

    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target_dir = out_dir.join("policy-target");
    let status = Command::new(env("CARGO"))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .arg("--manifest-path")
        .arg(&module_manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and target are for the host (or for Lambda's
        // arm64 under `cargo lambda build`), never for the module. A small
        // stack keeps the module's linear memory at a few pages.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        // Under `cargo clippy` the outer build lints through this wrapper; the
        // module is linted as a workspace member in its own right.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env("CARGO_ENCODED_RUSTFLAGS", "-Clink-arg=-zstack-size=16384")
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the policy module: {e}"));
    assert!(
        status.success(),
        "building the policy module failed; is the target installed? \
         (rustup target add wasm32-unknown-unknown)"
    );

    let built = target_dir.join("wasm32-unknown-unknown/release/erasure_policy_module.wasm");
    let bytes = std::fs::read(&built).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
    copy(&bytes, &out_dir.join("policy.wasm"));
    println!("cargo:rustc-env=ERASURE_POLICY_SHA256={}", sha256(&bytes));

    let precompiled = precompile(&bytes, &env("TARGET"));
    copy(&precompiled, &out_dir.join("policy.cwasm"));
    println!(
        "cargo:rustc-env=ERASURE_POLICY_PRECOMPILED_SHA256={}",
        sha256(&precompiled)
    );
}

/// Machine code for `target` (the Lambda's arm64 under `cargo lambda build`,
/// the host otherwise), with that target's baseline features: never the
/// build machine's own.
fn precompile(wasm: &[u8], target: &str) -> Vec<u8> {
    let mut config = engine_config::config();
    config
        .target(target)
        .unwrap_or_else(|e| panic!("wasmtime cannot compile for {target}: {e:#}"));
    let engine = wasmtime::Engine::new(&config)
        .unwrap_or_else(|e| panic!("the engine's configuration is refused: {e:#}"));
    engine
        .precompile_module(wasm)
        .unwrap_or_else(|e| panic!("precompiling the policy module for {target} failed: {e:#}"))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

fn copy(bytes: &[u8], to: &Path) {
    std::fs::write(to, bytes).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
}
