CREATE OR REPLACE FUNCTION deletion_audit_row_hash(r deletion_audit) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(coalesce(r.prev_hash, ''::bytea) || convert_to(jsonb_build_array(
        r.seq, r.id, (extract(epoch FROM r.occurred_at) * 1000000)::bigint,
        r.action, r.outcome, r.actor_id, r.actor_role, r.target_id, r.target_role,
        r.reason, r.error_code, host(r.source_ip), r.user_agent, r.request_id,
        r.duration_ms, r.rows_affected, r.policy_digest, r.policy_rule)::text, 'UTF8'))
$$;
DELETE FROM deletion_audit WHERE action IN ('PAUSE_DELETIONS', 'RESUME_DELETIONS');
ALTER TABLE deletion_audit DROP CONSTRAINT deletion_audit_action_check;
ALTER TABLE deletion_audit ADD CONSTRAINT deletion_audit_action_check
    CHECK (action IN ('SOFT_DELETE', 'PURGE', 'RESTORE', 'LIST_DELETED', 'SCHEDULED_PURGE'));
ALTER TABLE deletion_audit DROP COLUMN actor_name;
REVOKE ALL ON deletion_pauses, alarm_states FROM erasure_app;
DROP TABLE alarm_states;
DROP TABLE deletion_pauses;
