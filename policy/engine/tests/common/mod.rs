//! What the engine's test binaries share.

use erasure_policy::{Action, Actor, Input, Role, Target, TargetState};

/// A request the real policy allows: an admin soft-deletes a client.
pub fn allowed_request() -> Input {
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
            state: TargetState::Active,
            held: false,
        }),
        now: 1_800_000_000,
        grace_period_secs: 30 * 86_400,
    }
}
