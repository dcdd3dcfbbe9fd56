-- Users of the served app. A soft-deleted profile keeps its row (deleted_at set)
-- until the grace period ends; live rows are the ones with deleted_at IS NULL.
CREATE TABLE profiles (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email           text NOT NULL CHECK (email <> ''),
    name            text,
    type            text NOT NULL DEFAULT 'CLIENT'
                    CHECK (type IN ('VENDOR', 'CLIENT', 'DRIVER', 'ADMIN', 'HELPDESK', 'SUPER_ADMIN')),
    status          text NOT NULL DEFAULT 'ACTIVE'
                    CHECK (status IN ('ACTIVE', 'PENDING', 'DELETED')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    -- Who soft-deleted the profile. Deliberately no foreign key: like the audit
    -- log, it must survive the purge of the admin it names.
    deleted_by      uuid,
    deletion_reason text,
    CONSTRAINT profiles_deletion_fields_only_when_deleted
        CHECK (deleted_at IS NOT NULL OR (deleted_by IS NULL AND deletion_reason IS NULL))
);

-- An email is unique among live users only, so it can be reused once its owner is
-- soft-deleted. A plain UNIQUE (email, deleted_at) would not do: NULLs are distinct.
CREATE UNIQUE INDEX profiles_live_email_key ON profiles (lower(email)) WHERE deleted_at IS NULL;
-- The trash: listing, the grace-period cleanup and the overdue check scan deleted rows only.
CREATE INDEX profiles_deleted_at_idx ON profiles (deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX profiles_deleted_by_idx ON profiles (deleted_by) WHERE deleted_at IS NOT NULL;
CREATE INDEX profiles_live_type_idx ON profiles (type) WHERE deleted_at IS NULL;
