-- Refuses to run while events wait to be published (they would be lost):
-- drain the outbox first (the relay, or `SELECT count(*) FROM erasure_outbox`).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM erasure_outbox) THEN
        RAISE EXCEPTION 'erasure_outbox still holds unpublished events';
    END IF;
END $$;
REVOKE ALL ON erasure_outbox FROM erasure_app;
DROP TABLE erasure_outbox;
