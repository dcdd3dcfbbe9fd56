REVOKE ALL ON _sqlx_migrations FROM erasure_app;
REVOKE ALL ON SEQUENCE deletion_audit_seq FROM erasure_app;
REVOKE ALL ON
    profiles, accounts, sessions, addresses, user_addresses, catering_requests,
    on_demand_orders, dispatches, file_uploads, job_applications, deletion_audit
    FROM erasure_app;
REVOKE ALL ON SCHEMA public FROM erasure_app;
-- Drop the role only when no other database of the cluster still grants it
-- anything (pg_shdepend is cluster-wide); otherwise leave it to them.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
        WHERE r.rolname = 'erasure_app'
    ) THEN
        DROP ROLE erasure_app;
    END IF;
EXCEPTION WHEN dependent_objects_still_exist OR undefined_object THEN
    NULL;
END
$$;
