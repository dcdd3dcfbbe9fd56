//! The compact binary form of an [`Input`] and a [`Decision`] that crosses
//! the wasm boundary: eight 64-bit words in, one 32-bit word out. Passed as
//! plain function arguments, so the module needs no allocator, no shared
//! memory protocol and no imports (see BENCHMARKS.md for the measurement
//! against JSON that chose it).
//!
//! Word 0 packs the small fields a byte each: action, actor kind, actor role,
//! actor flags, has-target, target role, target state, target flags (bit 0:
//! held). Words 1–2 are the actor id, 3–4 the target id, then deleted_at, now
//! and the grace period.

use crate::{Action, Actor, Code, Decision, Input, Role, Rule, Target, TargetState};

pub type Words = [u64; 8];

const ACTOR_USER: u8 = 0;
const ACTOR_SYSTEM: u8 = 1;
const FLAG_SOFT_DELETED: u8 = 1;
const STATE_ACTIVE: u8 = 0;
const STATE_SOFT_DELETED: u8 = 1;
const FLAG_HELD: u8 = 1;

/// Input that does not decode; the policy denies it (Code::InvalidInput).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

fn byte(word: u64, index: u32) -> u8 {
    (word >> (index * 8)) as u8
}

fn split_id(id: [u8; 16]) -> (u64, u64) {
    let n = u128::from_le_bytes(id);
    (n as u64, (n >> 64) as u64)
}

fn join_id(lo: u64, hi: u64) -> [u8; 16] {
    (u128::from(lo) | (u128::from(hi) << 64)).to_le_bytes()
}

pub fn encode(input: &Input) -> Words {
    let (actor_kind, actor_role, actor_flags, actor_id) = match input.actor {
        Actor::User {
            id,
            role,
            soft_deleted,
        } => {
            let flags = if soft_deleted { FLAG_SOFT_DELETED } else { 0 };
            (ACTOR_USER, role as u8, flags, id)
        }
        Actor::System => (ACTOR_SYSTEM, 0, 0, [0; 16]),
    };
    let (has_target, target_role, target_state, target_flags, target_id, deleted_at) =
        match input.target {
            None => (0, 0, 0, 0, [0; 16], 0),
            Some(t) => {
                let flags = if t.held { FLAG_HELD } else { 0 };
                match t.state {
                    TargetState::Active => (1, t.role as u8, STATE_ACTIVE, flags, t.id, 0),
                    TargetState::SoftDeleted { deleted_at } => {
                        (1, t.role as u8, STATE_SOFT_DELETED, flags, t.id, deleted_at)
                    }
                }
            }
        };
    let head = [
        input.action as u8,
        actor_kind,
        actor_role,
        actor_flags,
        has_target,
        target_role,
        target_state,
        target_flags,
    ];
    let (actor_lo, actor_hi) = split_id(actor_id);
    let (target_lo, target_hi) = split_id(target_id);
    [
        u64::from_le_bytes(head),
        actor_lo,
        actor_hi,
        target_lo,
        target_hi,
        deleted_at as u64,
        input.now as u64,
        input.grace_period_secs as u64,
    ]
}

pub fn decode(words: &Words) -> Result<Input, Malformed> {
    let head = words[0];
    let actor = match byte(head, 1) {
        ACTOR_USER => Actor::User {
            id: join_id(words[1], words[2]),
            role: role(byte(head, 2))?,
            soft_deleted: match byte(head, 3) {
                0 => false,
                FLAG_SOFT_DELETED => true,
                _ => return Err(Malformed),
            },
        },
        ACTOR_SYSTEM => Actor::System,
        _ => return Err(Malformed),
    };
    let target = match byte(head, 4) {
        // No target, no target flags: one spelling per input.
        0 if byte(head, 7) != 0 => return Err(Malformed),
        0 => None,
        1 => Some(Target {
            id: join_id(words[3], words[4]),
            role: role(byte(head, 5))?,
            state: match byte(head, 6) {
                STATE_ACTIVE => TargetState::Active,
                STATE_SOFT_DELETED => TargetState::SoftDeleted {
                    deleted_at: words[5] as i64,
                },
                _ => return Err(Malformed),
            },
            held: match byte(head, 7) {
                0 => false,
                FLAG_HELD => true,
                _ => return Err(Malformed),
            },
        }),
        _ => return Err(Malformed),
    };
    Ok(Input {
        action: action(byte(head, 0))?,
        actor,
        target,
        now: words[6] as i64,
        grace_period_secs: words[7] as i64,
    })
}

fn action(b: u8) -> Result<Action, Malformed> {
    Ok(match b {
        0 => Action::SoftDelete,
        1 => Action::Purge,
        2 => Action::Restore,
        3 => Action::ListDeleted,
        4 => Action::ScheduledPurge,
        5 => Action::PlaceLegalHold,
        6 => Action::LiftLegalHold,
        _ => return Err(Malformed),
    })
}

fn role(b: u8) -> Result<Role, Malformed> {
    Ok(match b {
        0 => Role::Vendor,
        1 => Role::Client,
        2 => Role::Driver,
        3 => Role::Admin,
        4 => Role::Helpdesk,
        5 => Role::SuperAdmin,
        _ => return Err(Malformed),
    })
}

/// Decodes and decides: the whole decision from the wire.
pub fn decide_words(words: &Words) -> Decision {
    match decode(words) {
        Ok(input) => crate::decide(&input),
        Err(Malformed) => Decision::deny(Code::InvalidInput, Rule::Malformed),
    }
}

/// Decodes and asks step one only (the target fields are ignored).
pub fn may_attempt_words(words: &Words) -> Decision {
    match decode(words) {
        Ok(input) => crate::may_attempt(input.action, input.actor),
        Err(Malformed) => Decision::deny(Code::InvalidInput, Rule::Malformed),
    }
}

/// allow in bit 0, the code in bits 8–15, the rule in bits 16–23.
pub fn pack(d: Decision) -> u32 {
    u32::from(d.allow) | (d.code as u32) << 8 | (d.rule as u32) << 16
}

pub fn unpack(packed: u32) -> Result<Decision, Malformed> {
    if packed >> 24 != 0 || packed & 0xfe != 0 {
        return Err(Malformed);
    }
    let code = match byte(u64::from(packed), 1) {
        0 => Code::Allowed,
        1 => Code::Forbidden,
        2 => Code::SuperAdminProtected,
        3 => Code::SelfDeletion,
        4 => Code::AlreadyDeleted,
        5 => Code::NotSoftDeleted,
        6 => Code::GracePeriodExpired,
        7 => Code::GracePeriodNotOver,
        8 => Code::InvalidInput,
        9 => Code::LegalHold,
        10 => Code::NotOnHold,
        11 => Code::SelfHoldLift,
        _ => return Err(Malformed),
    };
    let rule = Rule::ALL
        .get(usize::from(byte(u64::from(packed), 2)))
        .copied()
        .ok_or(Malformed)?;
    let allow = packed & 1 == 1;
    // An "allow" must carry the Allowed code and vice versa: anything else is
    // a module that is not this policy.
    if allow != (code == Code::Allowed) {
        return Err(Malformed);
    }
    Ok(Decision { allow, code, rule })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin_restores_a_client() -> Input {
        Input {
            action: Action::Restore,
            actor: Actor::User {
                id: [7; 16],
                role: Role::Admin,
                soft_deleted: false,
            },
            target: Some(Target {
                id: *b"0123456789abcdef",
                role: Role::Client,
                state: TargetState::SoftDeleted { deleted_at: -5 },
                held: true,
            }),
            now: i64::MAX,
            grace_period_secs: 2_592_000,
        }
    }

    #[test]
    fn inputs_round_trip_through_the_words() {
        let system = Input {
            actor: Actor::System,
            target: None,
            ..admin_restores_a_client()
        };
        for input in [admin_restores_a_client(), system] {
            assert_eq!(decode(&encode(&input)), Ok(input));
        }
    }

    #[test]
    fn unknown_tags_do_not_decode_and_are_denied() {
        let good = encode(&admin_restores_a_client());
        for (byte_index, bad) in [
            (0, 7),
            (1, 2),
            (2, 6),
            (3, 2),
            (4, 2),
            (5, 6),
            (6, 2),
            (7, 2),
        ] {
            let mut words = good;
            words[0] &= !(0xff << (byte_index * 8));
            words[0] |= (bad as u64) << (byte_index * 8);
            assert_eq!(decode(&words), Err(Malformed), "byte {byte_index} = {bad}");
            assert_eq!(
                decide_words(&words),
                Decision::deny(Code::InvalidInput, Rule::Malformed)
            );
        }
    }

    #[test]
    fn target_flags_without_a_target_do_not_decode() {
        let mut words = encode(&Input {
            target: None,
            ..admin_restores_a_client()
        });
        words[0] |= u64::from(FLAG_HELD) << 56;
        assert_eq!(decode(&words), Err(Malformed));
    }

    #[test]
    fn every_decision_packs_and_unpacks() {
        for rule in Rule::ALL {
            let allowed = Decision {
                allow: true,
                code: Code::Allowed,
                rule,
            };
            let denied = Decision {
                allow: false,
                code: Code::SelfDeletion,
                rule,
            };
            for d in [allowed, denied] {
                assert_eq!(unpack(pack(d)), Ok(d));
            }
        }
    }

    #[test]
    fn an_answer_no_policy_gives_is_refused() {
        // allow with a denial code, a denial with the Allowed code, unknown
        // codes and rules, and stray bits.
        for packed in [0x0101, 5 << 16, 0x0c00, 0x14_0100, 0x0100_0000, 0x02] {
            assert_eq!(unpack(packed), Err(Malformed), "{packed:#x}");
        }
    }
}
