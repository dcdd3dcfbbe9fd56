-- erasure_app: the least-privilege group role the functions run as. It owns
-- nothing and cannot change the schema; the audit log is INSERT and SELECT only.
-- Deployments grant it to the login user in the functions' database secret:
--     CREATE ROLE erasure_fn LOGIN PASSWORD '…' IN ROLE erasure_app;
-- Roles are cluster-wide, so creating it tolerates one that already exists
-- (another database of the cluster, or a concurrent migration, made it).
DO $$
BEGIN
    CREATE ROLE erasure_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO erasure_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    profiles, accounts, sessions, addresses, user_addresses, catering_requests,
    on_demand_orders, dispatches, file_uploads, job_applications
    TO erasure_app;
GRANT SELECT, INSERT ON deletion_audit TO erasure_app;
GRANT USAGE ON SEQUENCE deletion_audit_seq TO erasure_app;
-- Read-only, so the health check can compare the schema with the code.
GRANT SELECT ON _sqlx_migrations TO erasure_app;
