//! erasure's authorization policy: a pure function from facts to a decision.
//!
//! Compiled twice: natively (the tests, the benchmark's baseline) and to
//! `wasm32-unknown-unknown` (the module the functions run under wasmtime).
//! `no_std`, no allocation, no I/O, so the module imports nothing.
//!
//! The decision comes in two steps, because the order is part of the contract:
//! [`may_attempt`] looks at the actor and the action only, so the host can
//! refuse before it loads (and so reveals anything about) the target;
//! [`decide`] then judges the locked target.

#![no_std]

pub mod wire;

/// What the actor wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Action {
    SoftDelete = 0,
    Purge = 1,
    Restore = 2,
    ListDeleted = 3,
    /// The daily cleanup's purge of an expired account; the system's only action.
    ScheduledPurge = 4,
    /// Place (or replace) a legal hold, which stops any purge of the target.
    PlaceLegalHold = 5,
    LiftLegalHold = 6,
}

/// A user's type in the served app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    Vendor = 0,
    Client = 1,
    Driver = 2,
    Admin = 3,
    Helpdesk = 4,
    SuperAdmin = 5,
}

/// Who acts: a user (with the role the database says, never a token) or the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User {
        id: [u8; 16],
        role: Role,
        soft_deleted: bool,
    },
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Active,
    /// Soft-deleted at this time (Unix seconds).
    SoftDeleted {
        deleted_at: i64,
    },
}

/// The user acted on, as read under lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub id: [u8; 16],
    pub role: Role,
    pub state: TargetState,
    /// A legal hold is in force on the target (placed, and not past its
    /// expiry), as read under the target's lock.
    pub held: bool,
}

/// The facts of one decision about a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    pub action: Action,
    pub actor: Actor,
    /// `None` for [`Action::ListDeleted`], which has no target.
    pub target: Option<Target>,
    /// Unix seconds.
    pub now: i64,
    pub grace_period_secs: i64,
}

/// The answer's stable code; the HTTP layer maps it to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    Allowed = 0,
    Forbidden = 1,
    SuperAdminProtected = 2,
    SelfDeletion = 3,
    AlreadyDeleted = 4,
    NotSoftDeleted = 5,
    GracePeriodExpired = 6,
    GracePeriodNotOver = 7,
    /// The facts were malformed (an undecodable input): never allowed.
    InvalidInput = 8,
    /// The target is under a legal hold: no purge, scheduled or not.
    LegalHold = 9,
    NotOnHold = 10,
    /// A user asked to lift the hold that protects them.
    SelfHoldLift = 11,
}

/// Which rule decided, recorded in the audit log with the policy digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Rule {
    ActorSoftDeleted = 0,
    SystemOnlyPurgesOnSchedule = 1,
    ScheduledPurgeIsTheSystems = 2,
    StaffOnlyMayDelete = 3,
    StaffOnlyMayList = 4,
    ActorMayAttempt = 5,
    SuperAdminProtected = 6,
    NoSelfDeletion = 7,
    NotTwice = 8,
    RestoreNeedsDeleted = 9,
    RestoreWithinGrace = 10,
    ScheduledPurgeNeedsDeleted = 11,
    ScheduledPurgeAfterGrace = 12,
    TargetMayBeActedOn = 13,
    MissingTarget = 14,
    Malformed = 15,
    StaffOnlyMayHold = 16,
    LegalHoldBlocksPurge = 17,
    LiftNeedsHold = 18,
    HoldNotLiftedByItsSubject = 19,
}

impl Code {
    /// The stable code the HTTP contract and the audit log use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Allowed => "ALLOWED",
            Code::Forbidden => "FORBIDDEN",
            Code::SuperAdminProtected => "SUPER_ADMIN_PROTECTED",
            Code::SelfDeletion => "SELF_DELETION",
            Code::AlreadyDeleted => "ALREADY_DELETED",
            Code::NotSoftDeleted => "NOT_SOFT_DELETED",
            Code::GracePeriodExpired => "GRACE_PERIOD_EXPIRED",
            Code::GracePeriodNotOver => "GRACE_PERIOD_NOT_OVER",
            Code::InvalidInput => "INVALID_INPUT",
            Code::LegalHold => "LEGAL_HOLD",
            Code::NotOnHold => "NOT_ON_HOLD",
            Code::SelfHoldLift => "SELF_HOLD_LIFT",
        }
    }
}

impl Rule {
    /// Every rule, indexed by its discriminant.
    pub const ALL: [Rule; 20] = [
        Rule::ActorSoftDeleted,
        Rule::SystemOnlyPurgesOnSchedule,
        Rule::ScheduledPurgeIsTheSystems,
        Rule::StaffOnlyMayDelete,
        Rule::StaffOnlyMayList,
        Rule::ActorMayAttempt,
        Rule::SuperAdminProtected,
        Rule::NoSelfDeletion,
        Rule::NotTwice,
        Rule::RestoreNeedsDeleted,
        Rule::RestoreWithinGrace,
        Rule::ScheduledPurgeNeedsDeleted,
        Rule::ScheduledPurgeAfterGrace,
        Rule::TargetMayBeActedOn,
        Rule::MissingTarget,
        Rule::Malformed,
        Rule::StaffOnlyMayHold,
        Rule::LegalHoldBlocksPurge,
        Rule::LiftNeedsHold,
        Rule::HoldNotLiftedByItsSubject,
    ];

    /// The rule's id in the audit log.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::ActorSoftDeleted => "actor-soft-deleted",
            Rule::SystemOnlyPurgesOnSchedule => "system-only-purges-on-schedule",
            Rule::ScheduledPurgeIsTheSystems => "scheduled-purge-is-the-systems",
            Rule::StaffOnlyMayDelete => "staff-only-may-delete",
            Rule::StaffOnlyMayList => "staff-only-may-list",
            Rule::ActorMayAttempt => "actor-may-attempt",
            Rule::SuperAdminProtected => "super-admin-protected",
            Rule::NoSelfDeletion => "no-self-deletion",
            Rule::NotTwice => "not-twice",
            Rule::RestoreNeedsDeleted => "restore-needs-deleted",
            Rule::RestoreWithinGrace => "restore-within-grace",
            Rule::ScheduledPurgeNeedsDeleted => "scheduled-purge-needs-deleted",
            Rule::ScheduledPurgeAfterGrace => "scheduled-purge-after-grace",
            Rule::TargetMayBeActedOn => "target-may-be-acted-on",
            Rule::MissingTarget => "missing-target",
            Rule::Malformed => "malformed-input",
            Rule::StaffOnlyMayHold => "staff-only-may-hold",
            Rule::LegalHoldBlocksPurge => "legal-hold-blocks-purge",
            Rule::LiftNeedsHold => "lift-needs-hold",
            Rule::HoldNotLiftedByItsSubject => "hold-not-lifted-by-its-subject",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub code: Code,
    pub rule: Rule,
}

impl Decision {
    const fn allow(rule: Rule) -> Decision {
        Decision {
            allow: true,
            code: Code::Allowed,
            rule,
        }
    }

    pub const fn deny(code: Code, rule: Rule) -> Decision {
        Decision {
            allow: false,
            code,
            rule,
        }
    }
}

/// Step one: may this actor attempt this action at all? Decided from the actor
/// alone, before anything about a target is looked up.
pub fn may_attempt(action: Action, actor: Actor) -> Decision {
    let role = match actor {
        Actor::System if action == Action::ScheduledPurge => {
            return Decision::allow(Rule::ActorMayAttempt);
        }
        Actor::System => return Decision::deny(Code::Forbidden, Rule::SystemOnlyPurgesOnSchedule),
        Actor::User {
            soft_deleted: true, ..
        } => {
            return Decision::deny(Code::Forbidden, Rule::ActorSoftDeleted);
        }
        Actor::User { role, .. } => role,
    };
    let staff = matches!(role, Role::Admin | Role::SuperAdmin);
    match action {
        Action::ScheduledPurge => Decision::deny(Code::Forbidden, Rule::ScheduledPurgeIsTheSystems),
        Action::ListDeleted if staff || role == Role::Helpdesk => {
            Decision::allow(Rule::ActorMayAttempt)
        }
        Action::ListDeleted => Decision::deny(Code::Forbidden, Rule::StaffOnlyMayList),
        Action::PlaceLegalHold | Action::LiftLegalHold if staff => {
            Decision::allow(Rule::ActorMayAttempt)
        }
        Action::PlaceLegalHold | Action::LiftLegalHold => {
            Decision::deny(Code::Forbidden, Rule::StaffOnlyMayHold)
        }
        Action::SoftDelete | Action::Purge | Action::Restore if staff => {
            Decision::allow(Rule::ActorMayAttempt)
        }
        Action::SoftDelete | Action::Purge | Action::Restore => {
            Decision::deny(Code::Forbidden, Rule::StaffOnlyMayDelete)
        }
    }
}

/// Step two: the whole decision, on the locked target's facts.
pub fn decide(input: &Input) -> Decision {
    let first = may_attempt(input.action, input.actor);
    if !first.allow || input.action == Action::ListDeleted {
        return first;
    }
    let Some(target) = input.target else {
        return Decision::deny(Code::InvalidInput, Rule::MissingTarget);
    };
    let is_self = matches!(input.actor, Actor::User { id, .. } if id == target.id);
    // A hold may be placed on anyone in any state (on a soft-deleted user it
    // is what stops the purge), and placed again to change its reason or
    // expiry; it is lifted only if there is one, and never by its subject.
    match input.action {
        Action::PlaceLegalHold => return Decision::allow(Rule::TargetMayBeActedOn),
        Action::LiftLegalHold if is_self => {
            return Decision::deny(Code::SelfHoldLift, Rule::HoldNotLiftedByItsSubject);
        }
        Action::LiftLegalHold if !target.held => {
            return Decision::deny(Code::NotOnHold, Rule::LiftNeedsHold);
        }
        Action::LiftLegalHold => return Decision::allow(Rule::TargetMayBeActedOn),
        _ => {}
    }
    let deleting = matches!(
        input.action,
        Action::SoftDelete | Action::Purge | Action::ScheduledPurge
    );
    if deleting && target.role == Role::SuperAdmin {
        return Decision::deny(Code::SuperAdminProtected, Rule::SuperAdminProtected);
    }
    if deleting && is_self {
        return Decision::deny(Code::SelfDeletion, Rule::NoSelfDeletion);
    }
    let purging = matches!(input.action, Action::Purge | Action::ScheduledPurge);
    if purging && target.held {
        return Decision::deny(Code::LegalHold, Rule::LegalHoldBlocksPurge);
    }
    // Past this point the grace period's end is compared with now; an
    // overflowing sum (absurd inputs) counts as "never ends".
    let grace_ends = |deleted_at: i64| deleted_at.saturating_add(input.grace_period_secs);
    match (input.action, target.state) {
        (Action::SoftDelete, TargetState::SoftDeleted { .. }) => {
            Decision::deny(Code::AlreadyDeleted, Rule::NotTwice)
        }
        (Action::Restore | Action::ScheduledPurge, TargetState::Active) => {
            let rule = if input.action == Action::Restore {
                Rule::RestoreNeedsDeleted
            } else {
                Rule::ScheduledPurgeNeedsDeleted
            };
            Decision::deny(Code::NotSoftDeleted, rule)
        }
        (Action::Restore, TargetState::SoftDeleted { deleted_at })
            if input.now >= grace_ends(deleted_at) =>
        {
            Decision::deny(Code::GracePeriodExpired, Rule::RestoreWithinGrace)
        }
        (Action::ScheduledPurge, TargetState::SoftDeleted { deleted_at })
            if input.now < grace_ends(deleted_at) =>
        {
            Decision::deny(Code::GracePeriodNotOver, Rule::ScheduledPurgeAfterGrace)
        }
        _ => Decision::allow(Rule::TargetMayBeActedOn),
    }
}
