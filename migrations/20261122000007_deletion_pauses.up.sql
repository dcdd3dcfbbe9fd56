-- The kill switch: deletions paused by an alarm until a person (or, for a
-- function's error rate, the alarm returning to OK) resumes them. One row per
-- scope: 'irreversible' (the purge endpoint and the scheduled cleanup) or
-- 'function:<name>' (that function's mutations). Every function reads it;
-- only the alarm responder (and the person resuming, through it) writes it.
CREATE TABLE deletion_pauses (
    scope          text PRIMARY KEY
                   CHECK (scope = 'irreversible' OR scope LIKE 'function:%'),
    paused         boolean NOT NULL,
    alarm_name     text NOT NULL,
    alarm_arn      text NOT NULL,
    reason         text NOT NULL,
    -- The alarm state change that paused it (CloudWatch's timestamp).
    alarm_changed_at timestamptz NOT NULL,
    paused_at      timestamptz NOT NULL DEFAULT now(),
    -- When the pausing alarm went back to OK (recorded, not a resume).
    alarm_ok_at    timestamptz,
    resumed_at     timestamptz,
    resumed_by     text,
    resume_reason  text
);

-- The newest state change seen per alarm: a change delivered twice, or one
-- older than what is recorded (delivered out of order), changes nothing.
CREATE TABLE alarm_states (
    alarm_arn   text PRIMARY KEY,
    alarm_name  text NOT NULL,
    state       text NOT NULL CHECK (state IN ('OK', 'ALARM', 'INSUFFICIENT_DATA')),
    changed_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON deletion_pauses, alarm_states TO erasure_app;

-- Pausing and resuming are audited, by an actor who is not a user: the
-- alarm's ARN, or the person who resumed. `actor_name` holds it; the row
-- hash covers it when it is set, and rows without it hash as before.
ALTER TABLE deletion_audit ADD COLUMN actor_name text;
ALTER TABLE deletion_audit DROP CONSTRAINT deletion_audit_action_check;
ALTER TABLE deletion_audit ADD CONSTRAINT deletion_audit_action_check
    CHECK (action IN ('SOFT_DELETE', 'PURGE', 'RESTORE', 'LIST_DELETED', 'SCHEDULED_PURGE',
                      'PAUSE_DELETIONS', 'RESUME_DELETIONS'));

CREATE OR REPLACE FUNCTION deletion_audit_row_hash(r deletion_audit) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(coalesce(r.prev_hash, ''::bytea) || convert_to((jsonb_build_array(
        r.seq, r.id, (extract(epoch FROM r.occurred_at) * 1000000)::bigint,
        r.action, r.outcome, r.actor_id, r.actor_role, r.target_id, r.target_role,
        r.reason, r.error_code, host(r.source_ip), r.user_agent, r.request_id,
        r.duration_ms, r.rows_affected, r.policy_digest, r.policy_rule)
        || CASE WHEN r.actor_name IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(r.actor_name) END
    )::text, 'UTF8'))
$$;
