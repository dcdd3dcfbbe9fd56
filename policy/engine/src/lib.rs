//! The wasmtime host of the policy module.
//!
//! Loaded once per container, precompiled: the build script compiles the
//! module from `policy/rules` to wasm, then to machine code for the target
//! the functions are built for, and pins both digests. At start the
//! precompiled module's SHA-256 is checked against the pin (or, for a
//! policy-only deploy, against the digest configured with the override file)
//! before wasmtime may load it (`Module::deserialize`, which trusts its input:
//! the check is what makes trusting it sound). The functions' wasmtime has no
//! compiler. The module must import nothing, and it is pre-linked into an
//! `InstancePre`. Every decision then gets a fresh instance from the pooling
//! allocator, bounded by fuel and a memory cap.
//!
//! It fails closed: a module that is missing, altered, malformed, imports
//! anything, traps, runs out of fuel or memory, or answers nonsense denies
//! everything with POLICY_UNAVAILABLE, and says why in the log.

use std::path::Path;

use erasure_policy_rules::wire::{self, Words};
pub use erasure_policy_rules::{
    Action, Actor, Code, Decision, Input, Role, Rule, Target, TargetState,
};
use sha2::{Digest, Sha256};
use wasmtime::{Engine, InstancePre, Linker, Module, Store, Trap};

mod engine_config;

/// The module compiled from `policy/rules` by this crate's build script.
pub const EMBEDDED_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/policy.wasm"));
/// Its SHA-256, pinned at build time: the policy's identity in the audit log.
pub const EMBEDDED_SHA256: &str = env!("ERASURE_POLICY_SHA256");
/// The same module precompiled for this build's target: what runs.
pub const EMBEDDED_PRECOMPILED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/policy.cwasm"));
/// Its SHA-256, pinned at build time.
pub const EMBEDDED_PRECOMPILED_SHA256: &str = env!("ERASURE_POLICY_PRECOMPILED_SHA256");

/// The code every denial for an unavailable policy carries.
pub const POLICY_UNAVAILABLE: &str = "POLICY_UNAVAILABLE";

/// Fuel for one decision. The policy needs a few hundred units; the margin
/// is wide, and a loop still ends in microseconds.
const FUEL_PER_DECISION: u64 = 100_000;

/// Why the policy cannot decide; every variant denies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("policy module {path} cannot be read: {reason}")]
    Missing { path: String, reason: String },
    #[error("policy module digest {actual} does not match the pinned {expected}")]
    DigestMismatch { expected: String, actual: String },
    #[error("policy module is not valid wasm: {0}")]
    Invalid(String),
    #[error("policy module imports {0}; the policy may import nothing")]
    HasImports(String),
    #[error("policy module lacks the export {0}")]
    MissingExport(&'static str),
    #[error("policy module cannot be instantiated: {0}")]
    Instantiate(String),
    #[error("policy module ran out of fuel")]
    OutOfFuel,
    #[error("policy module trapped: {0}")]
    Trapped(String),
    #[error("policy module answered {0:#x}, which is not a decision")]
    BadAnswer(u32),
}

/// A decision, or the reason there is none, with the digest of the module
/// that was asked (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'p> {
    pub outcome: Result<Decision, Unavailable>,
    pub policy_sha256: &'p str,
}

impl Verdict<'_> {
    pub fn allowed(&self) -> bool {
        matches!(self.outcome, Ok(Decision { allow: true, .. }))
    }

    /// The stable code: the decision's, or POLICY_UNAVAILABLE.
    pub fn code(&self) -> &'static str {
        match &self.outcome {
            Ok(d) => d.code.as_str(),
            Err(_) => POLICY_UNAVAILABLE,
        }
    }

    /// The deciding rule's id, when a rule decided.
    pub fn rule(&self) -> Option<&'static str> {
        self.outcome.as_ref().ok().map(|d| d.rule.as_str())
    }
}

type Args = (u64, u64, u64, u64, u64, u64, u64, u64);

struct Loaded {
    engine: Engine,
    pre: InstancePre<()>,
}

pub struct Policy {
    loaded: Result<Loaded, Unavailable>,
    sha256: String,
}

impl Policy {
    /// The module built into this binary: the normal case.
    pub fn embedded() -> Policy {
        Policy::pinned(
            EMBEDDED_PRECOMPILED,
            EMBEDDED_PRECOMPILED_SHA256,
            EMBEDDED_SHA256,
        )
    }

    /// A precompiled module shipped separately (a policy-only deploy),
    /// accepted only when its SHA-256 is the configured one.
    pub fn from_file(path: &Path, expected_sha256: &str) -> Policy {
        match std::fs::read(path) {
            Ok(bytes) => Policy::from_precompiled(&bytes, expected_sha256),
            Err(e) => Policy::failed(
                expected_sha256,
                Unavailable::Missing {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                },
            ),
        }
    }

    /// A module precompiled by `Engine::precompile_module` under `engine()`,
    /// accepted only when its SHA-256 is `expected_sha256`, which is also
    /// its identity in the audit log.
    pub fn from_precompiled(bytes: &[u8], expected_sha256: &str) -> Policy {
        Policy::pinned(bytes, expected_sha256, expected_sha256)
    }

    fn pinned(bytes: &[u8], pin: &str, identity: &str) -> Policy {
        let actual = hex::encode(Sha256::digest(bytes));
        if !actual.eq_ignore_ascii_case(pin) {
            let reason = Unavailable::DigestMismatch {
                expected: pin.to_owned(),
                actual,
            };
            return Policy::failed(identity, reason);
        }
        match load(Pinned(bytes)) {
            Ok(loaded) => Policy {
                loaded: Ok(loaded),
                sha256: identity.to_ascii_lowercase(),
            },
            Err(reason) => Policy::failed(identity, reason),
        }
    }

    fn failed(sha256: &str, reason: Unavailable) -> Policy {
        tracing::error!(%reason, "policy unavailable: every decision will be denied");
        Policy {
            loaded: Err(reason),
            sha256: sha256.to_owned(),
        }
    }

    /// The digest of the module this policy runs (or was to run).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Why the policy cannot decide, when it cannot.
    pub fn unavailable(&self) -> Option<&Unavailable> {
        self.loaded.as_ref().err()
    }

    /// Step one: may this actor attempt this action at all? Ask before the
    /// target is looked up. (The target fields of the wire are left empty.)
    pub fn may_attempt(&self, action: Action, actor: Actor) -> Verdict<'_> {
        let input = Input {
            action,
            actor,
            target: None,
            now: 0,
            grace_period_secs: 0,
        };
        self.verdict("may_attempt", wire::encode(&input))
    }

    /// The whole decision, on the locked target's facts.
    pub fn decide(&self, input: &Input) -> Verdict<'_> {
        self.verdict("decide", wire::encode(input))
    }

    /// Sends raw words, as a corrupted caller might: for the tests that prove
    /// malformed input is denied inside the module.
    pub fn decide_words(&self, words: Words) -> Verdict<'_> {
        self.verdict("decide", words)
    }

    fn verdict(&self, export: &'static str, words: Words) -> Verdict<'_> {
        let outcome = match &self.loaded {
            Ok(loaded) => call(loaded, export, words),
            Err(reason) => Err(reason.clone()),
        };
        if let Err(reason) = &outcome {
            tracing::error!(%reason, export, "policy unavailable: denied");
        }
        Verdict {
            outcome,
            policy_sha256: &self.sha256,
        }
    }
}

/// The wasmtime engine every policy runs under (`engine_config`). Public so
/// that tests and the benchmark can precompile modules for it.
pub fn engine() -> Result<Engine, Unavailable> {
    Engine::new(&engine_config::config()).map_err(|e| Unavailable::Instantiate(format!("{e:#}")))
}

/// Bytes whose SHA-256 matched a pinned or configured digest.
struct Pinned<'a>(&'a [u8]);

fn load(bytes: Pinned<'_>) -> Result<Loaded, Unavailable> {
    let engine = engine()?;
    let module = deserialize(&engine, bytes)?;
    let imports: Vec<String> = module
        .imports()
        .map(|i| format!("{}::{}", i.module(), i.name()))
        .collect();
    if !imports.is_empty() {
        return Err(Unavailable::HasImports(imports.join(", ")));
    }
    for export in ["decide", "may_attempt"] {
        module
            .get_export(export)
            .ok_or(Unavailable::MissingExport(export))?;
    }
    let pre = Linker::new(&engine)
        .instantiate_pre(&module)
        .map_err(|e| Unavailable::Instantiate(format!("{e:#}")))?;
    Ok(Loaded { engine, pre })
}

/// The crate's one unsafe call. wasmtime loads precompiled machine code
/// without validating it, so the caller must vouch for the bytes.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: Pinned<'_>) -> Result<Module, Unavailable> {
    // SAFETY: `Pinned` is made only in `Policy::pinned`, after the bytes'
    // SHA-256 matched a digest pinned at build time over this crate's own
    // `Engine::precompile_module` output (the embedded module), or
    // configured by the operator for a module they precompiled the same way
    // (a policy-only deploy). So they are what `precompile_module` wrote,
    // which is what `deserialize` requires. wasmtime itself still refuses,
    // with an error, bytes that are not a compiled module, or whose
    // wasmtime version, target or engine configuration differ from this one.
    unsafe { Module::deserialize(engine, bytes.0) }
        .map_err(|e| Unavailable::Invalid(format!("{e:#}")))
}

fn call(loaded: &Loaded, export: &'static str, w: Words) -> Result<Decision, Unavailable> {
    let mut store = Store::new(&loaded.engine, ());
    store
        .set_fuel(FUEL_PER_DECISION)
        .map_err(|e| Unavailable::Instantiate(format!("{e:#}")))?;
    let instance = loaded
        .pre
        .instantiate(&mut store)
        .map_err(|e| Unavailable::Instantiate(format!("{e:#}")))?;
    let func = instance
        .get_typed_func::<Args, u32>(&mut store, export)
        .map_err(|_| Unavailable::MissingExport(export))?;
    let packed = func
        .call(&mut store, (w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]))
        .map_err(|e| match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Unavailable::OutOfFuel,
            _ => Unavailable::Trapped(format!("{e:#}")),
        })?;
    wire::unpack(packed).map_err(|_| Unavailable::BadAnswer(packed))
}
