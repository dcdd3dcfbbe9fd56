-- Requests refused after the token was verified but before the store's flow
-- began (a bad body, 413, an Idempotency-Key reused on another request, the
-- rate limit): counted per actor, route, code and minute. A flood of refused
-- requests is then one row updated in place, not a row each serialized on
-- the audit chain's lock. What reached the flow is in deletion_audit.
CREATE TABLE refused_requests (
    actor_id  uuid NOT NULL,
    route     text NOT NULL CHECK (route <> ''),
    status    smallint NOT NULL CHECK (status BETWEEN 400 AND 499),
    code      text NOT NULL CHECK (code <> ''),
    minute    timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
    count     integer NOT NULL CHECK (count > 0),
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL,
    -- The latest refusal's origin, to find it in API Gateway's access log.
    last_request_id text,
    last_source_ip  inet,
    PRIMARY KEY (actor_id, route, code, minute),
    CONSTRAINT refused_requests_order CHECK (first_at <= last_at)
);
CREATE INDEX refused_requests_minute_idx ON refused_requests (minute);

GRANT SELECT, INSERT, UPDATE ON refused_requests TO erasure_app;
