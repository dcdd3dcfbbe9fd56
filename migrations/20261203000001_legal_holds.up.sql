-- Legal holds: while a hold is in force on a user (placed, and not past its
-- expiry), no purge may remove them, by a person or by the schedule; the
-- policy refuses it (LEGAL_HOLD), reading this table under the user's lock.
-- One row per held user: placing again replaces the reason and the expiry,
-- lifting deletes the row; both are on the audit chain, which keeps the
-- history. No foreign key to profiles on purpose: a hold outlives a purge that
-- should never have happened, and the integrity audit reports it
-- (held-but-purged). Nothing here is personal data but the reason's text.
CREATE TABLE legal_holds (
    user_id    uuid PRIMARY KEY,
    reason     text NOT NULL CHECK (reason <> ''),
    placed_by  uuid NOT NULL,
    placed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at > placed_at)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON legal_holds TO erasure_app;

ALTER TABLE deletion_audit DROP CONSTRAINT deletion_audit_action_check;
ALTER TABLE deletion_audit ADD CONSTRAINT deletion_audit_action_check
    CHECK (action IN ('SOFT_DELETE', 'PURGE', 'RESTORE', 'LIST_DELETED', 'SCHEDULED_PURGE',
                      'PAUSE_DELETIONS', 'RESUME_DELETIONS',
                      'PLACE_LEGAL_HOLD', 'LIFT_LEGAL_HOLD'));
