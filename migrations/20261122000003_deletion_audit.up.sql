-- The deletion audit log: append-only for the application role (see the
-- app_role migration), kept 7 years, and hash-chained: row_hash covers the
-- row's content and the previous row's row_hash, so an edited, removed or
-- reordered row breaks the chain from that position on.
--
-- No foreign key to profiles, on purpose: the source app's audit table cascaded
-- from the user, so a purge deleted the record of its own purge.
CREATE TABLE deletion_audit (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    action        text NOT NULL
                  CHECK (action IN ('SOFT_DELETE', 'PURGE', 'RESTORE', 'LIST_DELETED', 'SCHEDULED_PURGE')),
    outcome       text NOT NULL CHECK (outcome IN ('SUCCESS', 'DENIED', 'FAILED')),
    -- NULL actor_id means the system (the scheduled cleanup).
    actor_id      uuid,
    actor_role    text,
    target_id     uuid,
    target_role   text,
    reason        text,
    error_code    text,
    source_ip     inet,
    user_agent    text,
    request_id    text,
    duration_ms   integer CHECK (duration_ms >= 0),
    rows_affected jsonb NOT NULL DEFAULT '{}'::jsonb,
    policy_digest text,
    policy_rule   text,
    prev_hash     bytea,
    row_hash      bytea NOT NULL,
    CONSTRAINT deletion_audit_hash_is_sha256 CHECK (octet_length(row_hash) = 32),
    CONSTRAINT deletion_audit_prev_hash_is_sha256 CHECK (prev_hash IS NULL OR octet_length(prev_hash) = 32)
);
CREATE INDEX deletion_audit_target_id_idx ON deletion_audit (target_id, occurred_at);
CREATE INDEX deletion_audit_actor_id_idx ON deletion_audit (actor_id, occurred_at);
CREATE INDEX deletion_audit_action_idx ON deletion_audit (action, occurred_at);
