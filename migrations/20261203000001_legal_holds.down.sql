-- Refuses to run while the audit log records a hold: a CHECK that no longer
-- admits its rows would fail here rather than leave them unreadable.
ALTER TABLE deletion_audit DROP CONSTRAINT deletion_audit_action_check;
ALTER TABLE deletion_audit ADD CONSTRAINT deletion_audit_action_check
    CHECK (action IN ('SOFT_DELETE', 'PURGE', 'RESTORE', 'LIST_DELETED', 'SCHEDULED_PURGE',
                      'PAUSE_DELETIONS', 'RESUME_DELETIONS'));
REVOKE ALL ON legal_holds FROM erasure_app;
DROP TABLE legal_holds;
