-- The erasure events' outbox: one row per committed soft delete, restore or
-- purge (by a person or by the schedule), written in the deletion's own
-- transaction, so an event exists exactly when its deletion committed. The
-- relay (`jobs::relay`) publishes the rows to EventBridge and deletes them;
-- a row it could not publish waits for its next attempt, with backoff. A row
-- may be published twice (the relay dies between the put and the delete);
-- its event_id, in the event's detail, lets consumers tell.
--
-- What a row holds is what the event says: the user's id and type, never an
-- email, a name or a reason's text. The audit row it announces is referenced
-- by position; the audit log keeps the history once the row is gone.
CREATE TABLE erasure_outbox (
    event_id        uuid PRIMARY KEY,
    detail_type     text NOT NULL
                    CHECK (detail_type IN ('User Soft Deleted', 'User Restored', 'User Purged')),
    -- By value, not a foreign key: the audit log's own rules (append-only,
    -- its retention) stay the audit log's alone.
    audit_seq       bigint NOT NULL UNIQUE,
    detail          jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When the relay may next take the row: now for a new row; after a
    -- failure, later by the backoff; while a relay holds it, its lease's end.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE INDEX erasure_outbox_due_idx ON erasure_outbox (next_attempt_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON erasure_outbox TO erasure_app;
