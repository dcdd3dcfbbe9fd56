DROP INDEX deletion_audit_occurred_at_idx;
REVOKE ALL ON integrity_runs FROM erasure_app;
DROP TABLE integrity_runs;
