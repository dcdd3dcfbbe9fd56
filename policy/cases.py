#!/usr/bin/env python3
"""Writes policy/cases.json: the policy's full decision table.

The table is the specification both builds of the policy (native and wasm) must
satisfy. It is written here, a second time and in another language, straight
from the source app's rules, so that it checks the Rust rules rather than
repeats them. Run `python3 policy/cases.py > policy/cases.json` after changing
a rule here; then change policy/rules until the tests pass.

Rows are every action x actor (each role, live or soft-deleted, or the system)
x target role x self or not x target state x held or not (a legal hold in
force). Impossible combinations are left out: "self" needs a user actor whose
role is the target's, and whose soft-deleted state is the target's.
LIST_DELETED has no target.
"""

import json
import sys

ACTIONS = ["SOFT_DELETE", "PURGE", "RESTORE", "LIST_DELETED", "SCHEDULED_PURGE",
           "PLACE_LEGAL_HOLD", "LIFT_LEGAL_HOLD"]
ROLES = ["VENDOR", "CLIENT", "DRIVER", "ADMIN", "HELPDESK", "SUPER_ADMIN"]
# Target states, relative to the 30-day grace period of the table's clock.
STATES = ["ACTIVE", "DELETED_WITHIN_GRACE", "DELETED_AT_GRACE_END", "DELETED_PAST_GRACE"]
STAFF = {"ADMIN", "SUPER_ADMIN"}
DELETING = {"SOFT_DELETE", "PURGE", "SCHEDULED_PURGE"}
PURGING = {"PURGE", "SCHEDULED_PURGE"}
HOLDING = {"PLACE_LEGAL_HOLD", "LIFT_LEGAL_HOLD"}


def deny(code, rule):
    return {"allow": False, "code": code, "rule": rule}


def allow(rule):
    return {"allow": True, "code": "ALLOWED", "rule": rule}


def actor_step(action, actor):
    """May this actor attempt this action at all (nothing known of the target)?"""
    if actor["kind"] == "system":
        if action == "SCHEDULED_PURGE":
            return allow("actor-may-attempt")
        return deny("FORBIDDEN", "system-only-purges-on-schedule")
    if actor["softDeleted"]:
        return deny("FORBIDDEN", "actor-soft-deleted")
    role = actor["role"]
    if action == "SCHEDULED_PURGE":
        return deny("FORBIDDEN", "scheduled-purge-is-the-systems")
    if action == "LIST_DELETED":
        if role in STAFF or role == "HELPDESK":
            return allow("actor-may-attempt")
        return deny("FORBIDDEN", "staff-only-may-list")
    if action in HOLDING:
        if role in STAFF:
            return allow("actor-may-attempt")
        return deny("FORBIDDEN", "staff-only-may-hold")
    if role in STAFF:
        return allow("actor-may-attempt")
    return deny("FORBIDDEN", "staff-only-may-delete")


def expected(action, actor, target):
    first = actor_step(action, actor)
    if not first["allow"] or action == "LIST_DELETED":
        return first
    # A hold may be placed on anyone, whatever their state (a hold on a
    # soft-deleted user is what stops their purge), and placed again to change
    # its reason or expiry; it is lifted only if there is one, and never by
    # the user it protects.
    if action == "PLACE_LEGAL_HOLD":
        return allow("target-may-be-acted-on")
    if action == "LIFT_LEGAL_HOLD":
        if target["self"]:
            return deny("SELF_HOLD_LIFT", "hold-not-lifted-by-its-subject")
        if not target["held"]:
            return deny("NOT_ON_HOLD", "lift-needs-hold")
        return allow("target-may-be-acted-on")
    # Source app order: a SUPER_ADMIN target is protected, even from itself;
    # then nobody deletes themselves; then a legal hold stops any purge
    # (soft delete and restore go on); then the state.
    if action in DELETING and target["role"] == "SUPER_ADMIN":
        return deny("SUPER_ADMIN_PROTECTED", "super-admin-protected")
    if action in DELETING and target["self"]:
        return deny("SELF_DELETION", "no-self-deletion")
    if action in PURGING and target["held"]:
        return deny("LEGAL_HOLD", "legal-hold-blocks-purge")
    state = target["state"]
    deleted = state != "ACTIVE"
    grace_over = state in ("DELETED_AT_GRACE_END", "DELETED_PAST_GRACE")
    if action == "SOFT_DELETE" and deleted:
        return deny("ALREADY_DELETED", "not-twice")
    if action == "RESTORE" and not deleted:
        return deny("NOT_SOFT_DELETED", "restore-needs-deleted")
    if action == "RESTORE" and grace_over:
        return deny("GRACE_PERIOD_EXPIRED", "restore-within-grace")
    if action == "SCHEDULED_PURGE" and not deleted:
        return deny("NOT_SOFT_DELETED", "scheduled-purge-needs-deleted")
    if action == "SCHEDULED_PURGE" and not grace_over:
        return deny("GRACE_PERIOD_NOT_OVER", "scheduled-purge-after-grace")
    return allow("target-may-be-acted-on")


def actors():
    yield {"kind": "system"}
    for role in ROLES:
        for soft_deleted in (False, True):
            yield {"kind": "user", "role": role, "softDeleted": soft_deleted}


def targets(actor):
    for role in ROLES:
        for state in STATES:
            for held in (False, True):
                yield {"role": role, "self": False, "state": state, "held": held}
                same_person = (
                    actor["kind"] == "user"
                    and actor["role"] == role
                    and actor["softDeleted"] == (state != "ACTIVE")
                )
                if same_person:
                    yield {"role": role, "self": True, "state": state, "held": held}


def rows():
    for action in ACTIONS:
        for actor in actors():
            if action == "LIST_DELETED":
                yield {"action": action, "actor": actor, "target": None,
                       "expect": expected(action, actor, None)}
                continue
            for target in targets(actor):
                yield {"action": action, "actor": actor, "target": target,
                       "expect": expected(action, actor, target)}


if __name__ == "__main__":
    table = {
        "gracePeriodDays": 30,
        "states": {
            "DELETED_WITHIN_GRACE": "deleted 1 day before now",
            "DELETED_AT_GRACE_END": "deleted exactly 30 days before now",
            "DELETED_PAST_GRACE": "deleted 31 days before now",
        },
        "cases": list(rows()),
    }
    # One case per line, so a rule change shows as a readable diff.
    head = json.dumps({k: v for k, v in table.items() if k != "cases"}, indent=1)[:-2]
    lines = ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in table["cases"])
    sys.stdout.write(head + ',\n "cases": [\n' + lines + "\n ]\n}\n")
