//! When deletions stop on their own: what each alarm of `template.yaml`
//! pauses, and how it resumes. Deletion is the one operation that cannot be
//! undone, so evidence that it is going wrong (the integrity audit's critical
//! findings, a failing cleanup) pauses the irreversible work (the purge
//! endpoint and the scheduled cleanup) until a person resumes it; a
//! function's critical error rate pauses that function's mutations until the
//! alarm returns to OK (a circuit breaker: the fault is in the path, not in
//! the data). Soft delete and restore are reversible and go on unless their
//! own function is paused. `tests/tests/template.rs` holds this table to the
//! alarms the template defines.

/// What a pause stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The purge endpoint and the scheduled cleanup.
    Irreversible,
    /// The mutations of one HTTP function (its binary's name).
    Function(&'static str),
}

impl Scope {
    /// The scope stored as `key`, if a decision of the table pauses it.
    pub fn parse(key: &str) -> Option<Scope> {
        ALARMS.iter().find_map(|(_, decision)| match decision {
            Decision::Pause { scope, .. } if scope.key() == key => Some(*scope),
            _ => None,
        })
    }

    /// The spelling stored in `deletion_pauses.scope`.
    pub fn key(self) -> String {
        match self {
            Scope::Irreversible => "irreversible".to_owned(),
            Scope::Function(name) => format!("function:{name}"),
        }
    }
}

/// How a pause ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// A person resumes, with a reason; the alarm returning to OK is only recorded.
    ByPerson,
    /// The alarm returning to OK resumes (a person may resume earlier).
    WhenAlarmOk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Pause {
        scope: Scope,
        resume: Resume,
    },
    /// The alarm pages (or rolls a deployment back); deletions go on.
    PageOnly {
        why: &'static str,
    },
}

const PAGE_WARNING: Decision = Decision::PageOnly {
    why: "a warning: a person looks",
};
const PAGE_SLOW: Decision = Decision::PageOnly {
    why: "slow is not wrong",
};
const PAGE_ROLLBACK: Decision = Decision::PageOnly {
    why: "CodeDeploy rolls the deployment back",
};
const PAGE_DEPLOY: Decision = Decision::PageOnly {
    why: "the deployment already stopped before any traffic",
};

/// Every alarm, by its name after `erasure-<stage>-`.
pub const ALARMS: &[(&str, Decision)] = &[
    (
        "integrity-critical",
        Decision::Pause {
            scope: Scope::Irreversible,
            resume: Resume::ByPerson,
        },
    ),
    (
        "cleanup-failures",
        Decision::Pause {
            scope: Scope::Irreversible,
            resume: Resume::ByPerson,
        },
    ),
    (
        "soft_delete_user-error-rate-critical",
        Decision::Pause {
            scope: Scope::Function("soft_delete_user"),
            resume: Resume::WhenAlarmOk,
        },
    ),
    (
        "purge_user-error-rate-critical",
        Decision::Pause {
            scope: Scope::Function("purge_user"),
            resume: Resume::WhenAlarmOk,
        },
    ),
    (
        "restore_user-error-rate-critical",
        Decision::Pause {
            scope: Scope::Function("restore_user"),
            resume: Resume::WhenAlarmOk,
        },
    ),
    (
        "list_deleted_users-error-rate-critical",
        Decision::PageOnly {
            why: "the listing changes nothing",
        },
    ),
    (
        "legal_hold-error-rate-critical",
        Decision::PageOnly {
            why: "a hold only protects; pausing its function would leave users unheld",
        },
    ),
    (
        "integrity-findings",
        Decision::PageOnly {
            why: "every finding, warnings included; the critical ones pause through integrity-critical",
        },
    ),
    (
        "integrity-audit-missing",
        Decision::PageOnly {
            why: "no audit ran: no evidence either way",
        },
    ),
    (
        "overdue-users",
        Decision::PageOnly {
            why: "pausing the cleanup would only make it worse",
        },
    ),
    (
        "erasure-events-delayed",
        Decision::PageOnly {
            why: "the deletions committed; pausing them would not publish their events",
        },
    ),
    (
        "erasure-events-undelivered",
        Decision::PageOnly {
            why: "a consumer's failure: the deletions themselves are sound",
        },
    ),
    ("smoke-test-failures", PAGE_DEPLOY),
    ("snapshot-failures", PAGE_DEPLOY),
    (
        "alarm-responder-failures",
        Decision::PageOnly {
            why: "the responder itself failed: a person looks",
        },
    ),
    ("soft_delete_user-error-rate-warning", PAGE_WARNING),
    ("purge_user-error-rate-warning", PAGE_WARNING),
    ("restore_user-error-rate-warning", PAGE_WARNING),
    ("list_deleted_users-error-rate-warning", PAGE_WARNING),
    ("legal_hold-error-rate-warning", PAGE_WARNING),
    ("soft_delete_user-latency-p95", PAGE_SLOW),
    ("purge_user-latency-p95", PAGE_SLOW),
    ("restore_user-latency-p95", PAGE_SLOW),
    ("list_deleted_users-latency-p95", PAGE_SLOW),
    ("legal_hold-latency-p95", PAGE_SLOW),
    ("soft_delete_user-canary-errors", PAGE_ROLLBACK),
    ("purge_user-canary-errors", PAGE_ROLLBACK),
    ("restore_user-canary-errors", PAGE_ROLLBACK),
    ("list_deleted_users-canary-errors", PAGE_ROLLBACK),
    ("legal_hold-canary-errors", PAGE_ROLLBACK),
    ("soft_delete_user-canary-errors-critical", PAGE_ROLLBACK),
    ("purge_user-canary-errors-critical", PAGE_ROLLBACK),
    ("restore_user-canary-errors-critical", PAGE_ROLLBACK),
    ("list_deleted_users-canary-errors-critical", PAGE_ROLLBACK),
    ("legal_hold-canary-errors-critical", PAGE_ROLLBACK),
    ("soft_delete_user-canary-latency", PAGE_ROLLBACK),
    ("purge_user-canary-latency", PAGE_ROLLBACK),
    ("restore_user-canary-latency", PAGE_ROLLBACK),
    ("list_deleted_users-canary-latency", PAGE_ROLLBACK),
    ("legal_hold-canary-latency", PAGE_ROLLBACK),
];

/// The decision for an alarm named `erasure-<stage>-<name>`, if it is one of ours.
pub fn decide(alarm_name: &str) -> Option<Decision> {
    let (_stage, name) = alarm_name.strip_prefix("erasure-")?.split_once('-')?;
    ALARMS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, decision)| *decision)
}

/// The scopes an operation of `function` must find unpaused: its own, and
/// for irreversible work the irreversible one.
pub fn scopes(function: &'static str, irreversible: bool) -> Vec<Scope> {
    let mut scopes = vec![Scope::Function(function)];
    if irreversible {
        scopes.push(Scope::Irreversible);
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_are_known_by_their_name_after_the_stage() {
        assert_eq!(
            decide("erasure-prod-integrity-critical"),
            Some(Decision::Pause {
                scope: Scope::Irreversible,
                resume: Resume::ByPerson
            })
        );
        assert_eq!(
            decide("erasure-dev-purge_user-error-rate-critical"),
            Some(Decision::Pause {
                scope: Scope::Function("purge_user"),
                resume: Resume::WhenAlarmOk
            })
        );
        assert_eq!(decide("erasure-prod-something-else"), None);
        assert_eq!(decide("someone-elses-alarm"), None);
        assert_eq!(decide("erasure-"), None);
    }

    #[test]
    fn every_alarm_is_named_once() {
        let mut names: Vec<&str> = ALARMS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALARMS.len());
    }

    #[test]
    fn scopes_are_stored_by_key() {
        assert_eq!(Scope::Irreversible.key(), "irreversible");
        assert_eq!(Scope::Function("purge_user").key(), "function:purge_user");
        assert_eq!(
            Scope::parse("function:purge_user"),
            Some(Scope::Function("purge_user"))
        );
        assert_eq!(Scope::parse("irreversible"), Some(Scope::Irreversible));
        assert_eq!(
            Scope::parse("function:list_deleted_users"),
            None,
            "never paused"
        );
        assert_eq!(
            scopes("purge_user", true),
            [Scope::Function("purge_user"), Scope::Irreversible]
        );
    }
}
