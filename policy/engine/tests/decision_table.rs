//! policy/cases.json, the full decision table, against both builds of the
//! policy: the native rules and the wasm module under the engine.

use std::collections::HashSet;

use erasure_policy::{Action, Actor, Decision, Input, Policy, Role, Target, TargetState};
use serde::Deserialize;
use sha2::Digest;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const ACTOR_ID: [u8; 16] = [0xa1; 16];
const OTHER_ID: [u8; 16] = [0xb2; 16];

#[derive(Deserialize)]
struct Table {
    #[serde(rename = "gracePeriodDays")]
    grace_period_days: i64,
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone)]
struct Case {
    action: String,
    actor: CaseActor,
    target: Option<CaseTarget>,
    expect: Expect,
}

#[derive(Deserialize, Clone, PartialEq, Eq, Hash)]
struct CaseActor {
    kind: String,
    role: Option<String>,
    #[serde(rename = "softDeleted")]
    soft_deleted: Option<bool>,
}

#[derive(Deserialize, Clone, PartialEq, Eq, Hash)]
struct CaseTarget {
    role: String,
    #[serde(rename = "self")]
    is_self: bool,
    state: String,
    held: bool,
}

#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
struct Expect {
    allow: bool,
    code: String,
    rule: String,
}

const ACTIONS: [(&str, Action); 7] = [
    ("SOFT_DELETE", Action::SoftDelete),
    ("PURGE", Action::Purge),
    ("RESTORE", Action::Restore),
    ("LIST_DELETED", Action::ListDeleted),
    ("SCHEDULED_PURGE", Action::ScheduledPurge),
    ("PLACE_LEGAL_HOLD", Action::PlaceLegalHold),
    ("LIFT_LEGAL_HOLD", Action::LiftLegalHold),
];
const ROLES: [(&str, Role); 6] = [
    ("VENDOR", Role::Vendor),
    ("CLIENT", Role::Client),
    ("DRIVER", Role::Driver),
    ("ADMIN", Role::Admin),
    ("HELPDESK", Role::Helpdesk),
    ("SUPER_ADMIN", Role::SuperAdmin),
];
/// State name and how many days before NOW the target was deleted.
const STATES: [(&str, Option<i64>); 4] = [
    ("ACTIVE", None),
    ("DELETED_WITHIN_GRACE", Some(1)),
    ("DELETED_AT_GRACE_END", Some(30)),
    ("DELETED_PAST_GRACE", Some(31)),
];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> T {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("unknown {name}"))
        .1
}

fn table() -> Table {
    serde_json::from_str(include_str!("../../cases.json")).expect("cases.json parses")
}

fn input(case: &Case, grace_days: i64) -> Input {
    let actor = match case.actor.kind.as_str() {
        "system" => Actor::System,
        _ => Actor::User {
            id: ACTOR_ID,
            role: lookup(&ROLES, case.actor.role.as_deref().unwrap()),
            soft_deleted: case.actor.soft_deleted.unwrap(),
        },
    };
    let target = case.target.as_ref().map(|t| Target {
        id: if t.is_self { ACTOR_ID } else { OTHER_ID },
        role: lookup(&ROLES, &t.role),
        state: match lookup(&STATES, &t.state) {
            None => TargetState::Active,
            Some(days) => TargetState::SoftDeleted {
                deleted_at: NOW - days * DAY,
            },
        },
        held: t.held,
    });
    Input {
        action: lookup(&ACTIONS, &case.action),
        actor,
        target,
        now: NOW,
        grace_period_secs: grace_days * DAY,
    }
}

fn as_expect(d: Decision) -> Expect {
    Expect {
        allow: d.allow,
        code: d.code.as_str().into(),
        rule: d.rule.as_str().into(),
    }
}

#[test]
fn the_native_rules_satisfy_every_row() {
    let t = table();
    let failures: Vec<String> = t
        .cases
        .iter()
        .filter_map(|case| {
            let got = as_expect(erasure_policy_rules::decide(&input(
                case,
                t.grace_period_days,
            )));
            (got != case.expect).then(|| {
                format!(
                    "{} {:?} {:?}: expected {:?}, got {got:?}",
                    case.action,
                    case.actor.role,
                    case.target
                        .as_ref()
                        .map(|t| (&t.role, t.is_self, &t.state, t.held)),
                    case.expect
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows fail:\n{}",
        failures.len(),
        t.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_wasm_module_satisfies_every_row() {
    let t = table();
    // What runs: the module the build script precompiled. And the wasm built
    // from policy/rules, compiled by Cranelift here and now: they agree.
    let embedded = Policy::embedded();
    let wasm = compiled_now(erasure_policy::EMBEDDED_MODULE);
    let mut agreed = 0;
    for case in &t.cases {
        let i = input(case, t.grace_period_days);
        let verdict = embedded.decide(&i);
        let got = as_expect(
            verdict
                .outcome
                .clone()
                .expect("the embedded policy decides"),
        );
        assert_eq!(got, case.expect, "{} {:?}", case.action, case.actor.role);
        assert_eq!(verdict.policy_sha256, erasure_policy::EMBEDDED_SHA256);
        assert_eq!(wasm.decide(&i).outcome, verdict.outcome);
        assert_eq!(
            wasm.may_attempt(i.action, i.actor).outcome,
            embedded.may_attempt(i.action, i.actor).outcome
        );
        agreed += 1;
    }
    assert_eq!(agreed, t.cases.len());
}

/// `wasm` compiled in this test, by the engine's own configuration.
fn compiled_now(wasm: &[u8]) -> Policy {
    let precompiled = erasure_policy::engine()
        .unwrap()
        .precompile_module(wasm)
        .unwrap();
    let digest = hex::encode(sha2::Sha256::digest(&precompiled));
    let policy = Policy::from_precompiled(&precompiled, &digest);
    assert!(policy.unavailable().is_none());
    policy
}

#[test]
fn step_one_refuses_what_the_actor_may_not_attempt_without_the_target() {
    // Every row denied by an actor rule is denied by may_attempt alone, with
    // the same code and rule, natively and in wasm; every other row passes it.
    let actor_rules = [
        "actor-soft-deleted",
        "system-only-purges-on-schedule",
        "scheduled-purge-is-the-systems",
        "staff-only-may-delete",
        "staff-only-may-list",
        "staff-only-may-hold",
    ];
    let t = table();
    let policy = Policy::embedded();
    for case in &t.cases {
        let i = input(case, t.grace_period_days);
        let native = erasure_policy_rules::may_attempt(i.action, i.actor);
        let wasm = policy.may_attempt(i.action, i.actor).outcome.unwrap();
        assert_eq!(native, wasm);
        if actor_rules.contains(&case.expect.rule.as_str()) {
            assert_eq!(as_expect(native), case.expect);
        } else {
            assert!(
                native.allow,
                "{} {:?}: step one denied {native:?}",
                case.action, case.actor.role
            );
        }
    }
}

#[test]
fn the_table_is_complete() {
    let t = table();
    let present: HashSet<(String, CaseActor, Option<CaseTarget>)> = t
        .cases
        .iter()
        .map(|c| (c.action.clone(), c.actor.clone(), c.target.clone()))
        .collect();
    assert_eq!(present.len(), t.cases.len(), "duplicate rows");
    let mut actors = vec![CaseActor {
        kind: "system".into(),
        role: None,
        soft_deleted: None,
    }];
    for (role, _) in ROLES {
        for deleted in [false, true] {
            actors.push(CaseActor {
                kind: "user".into(),
                role: Some(role.into()),
                soft_deleted: Some(deleted),
            });
        }
    }
    let mut expected = 0;
    for (action, _) in ACTIONS {
        for actor in &actors {
            if action == "LIST_DELETED" {
                expected += 1;
                assert!(
                    present.contains(&(action.into(), actor.clone(), None)),
                    "{action} {:?}",
                    actor.role
                );
                continue;
            }
            for (role, _) in ROLES {
                for (state, deleted) in STATES {
                    for (is_self, held) in
                        [(false, false), (false, true), (true, false), (true, true)]
                    {
                        let possible = !is_self
                            || (actor.role.as_deref() == Some(role)
                                && actor.soft_deleted == Some(deleted.is_some()));
                        if !possible {
                            continue;
                        }
                        expected += 1;
                        let target = CaseTarget {
                            role: role.into(),
                            is_self,
                            state: state.into(),
                            held,
                        };
                        assert!(
                            present.contains(&(action.into(), actor.clone(), Some(target))),
                            "missing: {action} {:?} -> {role} self={is_self} {state} held={held}",
                            actor.role
                        );
                    }
                }
            }
        }
    }
    assert_eq!(t.cases.len(), expected);
}
