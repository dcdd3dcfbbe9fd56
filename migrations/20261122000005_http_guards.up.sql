-- State the HTTP functions share across Lambda containers: the per-actor rate
-- limit and the Idempotency-Key records. Neither references profiles (a purge
-- must not be blocked by them, nor delete them), and both stay small: one
-- rate row per actor and bucket, and idempotency rows that expire.

-- Generic cell rate algorithm: `tat` is the theoretical arrival time of the
-- next request. A request is allowed when pushing `tat` one interval further
-- keeps it within one period of now; one row per actor and bucket, no sweeping.
CREATE TABLE request_rate (
    actor_id uuid NOT NULL,
    bucket   text NOT NULL CHECK (bucket <> ''),
    tat      timestamptz NOT NULL,
    PRIMARY KEY (actor_id, bucket)
);

-- A mutating request's response, kept so that a retry with the same key gets
-- it again. `status` is NULL while the first request is still running.
CREATE TABLE idempotency_keys (
    actor_id    uuid NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, path and canonical JSON body.
    fingerprint text NOT NULL,
    status      smallint CHECK (status BETWEEN 100 AND 599),
    body        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, key),
    CONSTRAINT idempotency_keys_body_with_status CHECK ((status IS NULL) = (body IS NULL))
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON request_rate, idempotency_keys TO erasure_app;
