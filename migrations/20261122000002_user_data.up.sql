-- Everything that references a profile. Which of these cascade and which the
-- service handles itself is mirrored, table by table, in the deletion plan
-- (functions/src/domain/plan.rs); a test fails when the two disagree.

-- Cascading from a profile ---------------------------------------------------

CREATE TABLE accounts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    provider_account_id text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, provider_account_id)
);
CREATE INDEX accounts_user_id_idx ON accounts (user_id);

CREATE TABLE sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    session_token text NOT NULL UNIQUE,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Not cascading: the service deletes an address its creator leaves behind
-- unless another user or an order still uses it, in which case only
-- created_by is cleared.
CREATE TABLE addresses (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    street1    text NOT NULL,
    street2    text,
    city       text NOT NULL,
    state      text NOT NULL,
    zip        text NOT NULL,
    created_by uuid REFERENCES profiles (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_created_by_idx ON addresses (created_by);

CREATE TABLE user_addresses (
    user_id    uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    address_id uuid NOT NULL REFERENCES addresses (id) ON DELETE CASCADE,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, address_id)
);
CREATE INDEX user_addresses_address_id_idx ON user_addresses (address_id);

CREATE TABLE catering_requests (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_number        text NOT NULL UNIQUE,
    user_id             uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    status              text NOT NULL DEFAULT 'PENDING'
                        CHECK (status IN ('ACTIVE', 'ASSIGNED', 'PENDING', 'CONFIRMED',
                                          'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    pickup_address_id   uuid NOT NULL REFERENCES addresses (id),
    delivery_address_id uuid NOT NULL REFERENCES addresses (id),
    headcount           integer,
    order_total         numeric(10, 2) NOT NULL DEFAULT 0,
    pickup_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catering_requests_user_id_idx ON catering_requests (user_id, status);
CREATE INDEX catering_requests_pickup_address_id_idx ON catering_requests (pickup_address_id);
CREATE INDEX catering_requests_delivery_address_id_idx ON catering_requests (delivery_address_id);

CREATE TABLE on_demand_orders (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_number        text NOT NULL UNIQUE,
    user_id             uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    status              text NOT NULL DEFAULT 'PENDING'
                        CHECK (status IN ('ACTIVE', 'ASSIGNED', 'PENDING', 'CONFIRMED',
                                          'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    pickup_address_id   uuid NOT NULL REFERENCES addresses (id),
    delivery_address_id uuid NOT NULL REFERENCES addresses (id),
    item_delivered      text,
    vehicle_type        text,
    order_total         numeric(10, 2) NOT NULL DEFAULT 0,
    pickup_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX on_demand_orders_user_id_idx ON on_demand_orders (user_id, status);
CREATE INDEX on_demand_orders_pickup_address_id_idx ON on_demand_orders (pickup_address_id);
CREATE INDEX on_demand_orders_delivery_address_id_idx ON on_demand_orders (delivery_address_id);

-- Not cascading: handled by the service ----------------------------------------
-- These foreign keys are NO ACTION on purpose: if the service ever forgets one,
-- the database refuses the purge instead of silently losing or orphaning rows.

CREATE TABLE dispatches (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    catering_request_id uuid REFERENCES catering_requests (id) ON DELETE CASCADE,
    on_demand_order_id  uuid REFERENCES on_demand_orders (id) ON DELETE CASCADE,
    driver_id           uuid REFERENCES profiles (id),
    user_id             uuid REFERENCES profiles (id),
    status              text NOT NULL DEFAULT 'ASSIGNED',
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatches_catering_request_id_idx ON dispatches (catering_request_id);
CREATE INDEX dispatches_on_demand_order_id_idx ON dispatches (on_demand_order_id);
CREATE INDEX dispatches_driver_id_idx ON dispatches (driver_id);
CREATE INDEX dispatches_user_id_idx ON dispatches (user_id);

CREATE TABLE file_uploads (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid REFERENCES profiles (id),
    catering_request_id uuid REFERENCES catering_requests (id) ON DELETE SET NULL,
    file_name           text NOT NULL,
    file_url            text NOT NULL,
    file_type           text NOT NULL,
    file_size           bigint NOT NULL,
    category            text,
    uploaded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_uploads_user_id_idx ON file_uploads (user_id);
CREATE INDEX file_uploads_catering_request_id_idx ON file_uploads (catering_request_id);

-- The reference the source app forgot: its purge failed with a foreign-key error.
CREATE TABLE job_applications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    profile_id uuid REFERENCES profiles (id),
    first_name text NOT NULL,
    last_name  text NOT NULL,
    email      text NOT NULL,
    position   text NOT NULL,
    status     text NOT NULL DEFAULT 'PENDING',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_applications_profile_id_idx ON job_applications (profile_id);
