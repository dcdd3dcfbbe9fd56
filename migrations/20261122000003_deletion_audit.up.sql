-- The deletion audit log: append-only for the application role (see the
-- app_role migration), kept 7 years, and hash-chained: row_hash covers the
-- row's content and the previous row's row_hash, so an edited, removed or
-- reordered row breaks the chain from that position on.
--
-- No foreign key to profiles, on purpose: the source app's audit table cascaded
-- from the user, so a purge deleted the record of its own purge.
CREATE SEQUENCE deletion_audit_seq;

CREATE TABLE deletion_audit (
    -- Assigned by the chain trigger once it holds the chain lock, so the
    -- order of seq is the order of the chain (an identity default would be
    -- drawn before the lock, and concurrent writers could interleave).
    seq           bigint PRIMARY KEY,
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
    -- Both set by the chain trigger; whatever a writer supplies is replaced.
    prev_hash     bytea,
    row_hash      bytea NOT NULL,
    CONSTRAINT deletion_audit_hash_is_sha256 CHECK (octet_length(row_hash) = 32),
    CONSTRAINT deletion_audit_prev_hash_is_sha256 CHECK (prev_hash IS NULL OR octet_length(prev_hash) = 32)
);
CREATE INDEX deletion_audit_target_id_idx ON deletion_audit (target_id, occurred_at);
CREATE INDEX deletion_audit_actor_id_idx ON deletion_audit (actor_id, occurred_at);
CREATE INDEX deletion_audit_action_idx ON deletion_audit (action, occurred_at);

-- The row's hash: SHA-256 of the previous row's hash and the row's content,
-- seq included (so a reordered row is detected). The content is rendered as
-- a JSON array; the time as integer microseconds since the epoch, so the
-- session's TimeZone cannot change the text. Insert and verification both
-- use this one definition.
CREATE FUNCTION deletion_audit_row_hash(r deletion_audit) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(coalesce(r.prev_hash, ''::bytea) || convert_to(jsonb_build_array(
        r.seq, r.id, (extract(epoch FROM r.occurred_at) * 1000000)::bigint,
        r.action, r.outcome, r.actor_id, r.actor_role, r.target_id, r.target_role,
        r.reason, r.error_code, host(r.source_ip), r.user_agent, r.request_id,
        r.duration_ms, r.rows_affected, r.policy_digest, r.policy_rule)::text, 'UTF8'))
$$;

-- Chains every new row to the last one. Writers are serialized by a
-- transaction-scoped advisory lock held until commit, so each sees the row
-- committed before it and the chain never forks. Under REPEATABLE READ or
-- SERIALIZABLE a writer's snapshot could miss the last row, so those are refused.
CREATE FUNCTION deletion_audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'deletion_audit is appended only under READ COMMITTED'
            USING HINT = 'a snapshot older than the last audit row would fork the hash chain';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('erasure.deletion_audit.chain', 0));
    NEW.seq := nextval('deletion_audit_seq');
    NEW.prev_hash := (SELECT row_hash FROM deletion_audit ORDER BY seq DESC LIMIT 1);
    NEW.row_hash := deletion_audit_row_hash(NEW);
    RETURN NEW;
END
$$;

CREATE TRIGGER deletion_audit_chain BEFORE INSERT ON deletion_audit
    FOR EACH ROW EXECUTE FUNCTION deletion_audit_chain();
