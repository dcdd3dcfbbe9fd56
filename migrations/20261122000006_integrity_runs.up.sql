-- The integrity audit's runs. A run too long for one Lambda invocation saves
-- where it stopped (`progress`: the next step, the keyset cursor, the chain
-- verified so far and the report so far) and the next invocation resumes it.
-- At most one run is open; finished runs stay as the audit's own history.
CREATE TABLE integrity_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    invocations integer NOT NULL DEFAULT 1 CHECK (invocations > 0),
    progress    jsonb NOT NULL
);
CREATE UNIQUE INDEX integrity_runs_one_open ON integrity_runs ((true)) WHERE finished_at IS NULL;

GRANT SELECT, INSERT, UPDATE ON integrity_runs TO erasure_app;

-- The audit's windowed checks read the recent audit rows by time.
CREATE INDEX deletion_audit_occurred_at_idx ON deletion_audit (occurred_at);
