//! Property tests: on random facts, and on random raw words, the wasm module
//! decides exactly as the native rules do.

use erasure_policy::{Action, Actor, Input, Policy, Role, Target, TargetState};
use erasure_policy_rules::wire;
use proptest::prelude::*;
use std::sync::LazyLock;

/// One engine for all cases, as a container has.
static POLICY: LazyLock<Policy> = LazyLock::new(Policy::embedded);

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::SoftDelete),
        Just(Action::Purge),
        Just(Action::Restore),
        Just(Action::ListDeleted),
        Just(Action::ScheduledPurge),
        Just(Action::PlaceLegalHold),
        Just(Action::LiftLegalHold),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Vendor),
        Just(Role::Client),
        Just(Role::Driver),
        Just(Role::Admin),
        Just(Role::Helpdesk),
        Just(Role::SuperAdmin),
    ]
}

/// Ids from a small set, so that "self" happens often.
fn id() -> impl Strategy<Value = [u8; 16]> {
    (0u8..3).prop_map(|n| [n; 16])
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        1 => Just(Actor::System),
        6 => (id(), role(), any::<bool>()).prop_map(|(id, role, soft_deleted)| Actor::User { id, role, soft_deleted }),
    ]
}

fn target() -> impl Strategy<Value = Option<Target>> {
    let state = prop_oneof![
        Just(TargetState::Active),
        any::<i64>().prop_map(|deleted_at| TargetState::SoftDeleted { deleted_at }),
        (1_700_000_000i64..1_900_000_000)
            .prop_map(|deleted_at| TargetState::SoftDeleted { deleted_at }),
    ];
    proptest::option::weighted(
        0.9,
        (id(), role(), state, any::<bool>()).prop_map(|(id, role, state, held)| Target {
            id,
            role,
            state,
            held,
        }),
    )
}

fn input() -> impl Strategy<Value = Input> {
    (
        action(),
        actor(),
        target(),
        prop_oneof![any::<i64>(), 1_700_000_000i64..1_900_000_000],
        prop_oneof![any::<i64>(), 0i64..10_000_000],
    )
        .prop_map(|(action, actor, target, now, grace_period_secs)| Input {
            action,
            actor,
            target,
            now,
            grace_period_secs,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn wasm_and_native_agree_on_random_facts(input in input()) {
        let policy = &*POLICY;
        prop_assert_eq!(policy.decide(&input).outcome, Ok(erasure_policy_rules::decide(&input)));
        prop_assert_eq!(
            policy.may_attempt(input.action, input.actor).outcome,
            Ok(erasure_policy_rules::may_attempt(input.action, input.actor))
        );
        prop_assert_eq!(wire::decode(&wire::encode(&input)), Ok(input));
    }

    #[test]
    fn wasm_and_native_agree_on_random_words(words in any::<[u64; 8]>(), head in any::<[u8; 8]>()) {
        // Random words rarely decode; a random small head often does.
        let mut plausible = words;
        plausible[0] = u64::from_le_bytes([head[0] % 8, head[1] % 3, head[2] % 7, head[3] % 3, head[4] % 3, head[5] % 7, head[6] % 3, head[7] % 3]);
        let policy = &*POLICY;
        for w in [words, plausible] {
            prop_assert_eq!(policy.decide_words(w).outcome, Ok(wire::decide_words(&w)));
        }
    }
}
