//! The cast: a few named users with fixed ids, each set up for one scenario
//! of the HTTP contract. The request events in `events/` name them, the HTTP
//! tests drive those events against them, and `make run` loads them so that
//! `cargo lambda invoke` with any event works against the local stack.

use sqlx::PgPool;
use uuid::{Uuid, uuid};

// Actors, one per user type.
pub const SUPER_ADMIN: Uuid = uuid!("00000000-0000-4000-8000-000000000001");
pub const ADMIN: Uuid = uuid!("00000000-0000-4000-8000-000000000002");
pub const HELPDESK: Uuid = uuid!("00000000-0000-4000-8000-000000000003");
pub const VENDOR: Uuid = uuid!("00000000-0000-4000-8000-000000000004");
pub const CLIENT: Uuid = uuid!("00000000-0000-4000-8000-000000000005");
pub const DRIVER: Uuid = uuid!("00000000-0000-4000-8000-000000000006");

/// A client with two sessions and nothing blocking: soft-deletable.
pub const ALICE: Uuid = uuid!("00000000-0000-4000-8000-000000000101");
/// A client with two active catering requests.
pub const BOB: Uuid = uuid!("00000000-0000-4000-8000-000000000102");
/// A vendor with one active on-demand order.
pub const CAROL: Uuid = uuid!("00000000-0000-4000-8000-000000000103");
/// A client with a history touching every table of the plan (the purge).
pub const DAVE: Uuid = uuid!("00000000-0000-4000-8000-000000000104");
/// A client who shares an address with Dave and ordered from another of his.
pub const ERIN: Uuid = uuid!("00000000-0000-4000-8000-000000000105");
/// Soft-deleted by the admin 3 days ago: restorable.
pub const FRANK: Uuid = uuid!("00000000-0000-4000-8000-000000000106");
/// Soft-deleted 45 days ago: past the grace period.
pub const GRACE: Uuid = uuid!("00000000-0000-4000-8000-000000000107");
/// Soft-deleted 5 days ago; a live user has taken her email since.
pub const HEIDI: Uuid = uuid!("00000000-0000-4000-8000-000000000108");
/// The live user who now has Heidi's email.
pub const IVAN: Uuid = uuid!("00000000-0000-4000-8000-000000000109");
/// No such user.
pub const NOBODY: Uuid = uuid!("00000000-0000-4000-8000-000000000999");

/// What purging Dave touches, `table.verb` as the summary reports it.
pub const DAVE_PURGE_ROWS: [(&str, u64); 11] = [
    ("accounts.deleted", 1),
    ("addresses.deleted", 1),
    ("addresses.unlinked", 2),
    ("catering_requests.deleted", 1),
    ("dispatches.deleted", 2),
    ("file_uploads.nullified", 1),
    ("job_applications.nullified", 1),
    ("on_demand_orders.deleted", 0),
    ("profiles.deleted", 1),
    ("sessions.deleted", 2),
    ("user_addresses.deleted", 2),
];

const SCRIPT: &str = "
INSERT INTO profiles (id, email, name, type, deleted_at, deleted_by, deletion_reason) VALUES
  ('00000000-0000-4000-8000-000000000001', 'super@erasure.local', 'Sam Super', 'SUPER_ADMIN', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000002', 'admin@erasure.local', 'Ada Admin', 'ADMIN', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000003', 'helpdesk@erasure.local', 'Hal Helpdesk', 'HELPDESK', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000004', 'vendor@erasure.local', 'Vic Vendor', 'VENDOR', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000005', 'client@erasure.local', 'Cy Client', 'CLIENT', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000006', 'driver@erasure.local', 'Dee Driver', 'DRIVER', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000101', 'alice@example.com', 'Alice Archer', 'CLIENT', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000102', 'bob@example.com', 'Bob Baker', 'CLIENT', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000103', 'carol@example.com', 'Carol Cook', 'VENDOR', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000104', 'dave@example.com', 'Dave Dunn', 'CLIENT', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000105', 'erin@example.com', 'Erin Ellis', 'CLIENT', NULL, NULL, NULL),
  ('00000000-0000-4000-8000-000000000106', 'frank@example.com', 'Frank Fox', 'CLIENT',
   now() - interval '3 days', '00000000-0000-4000-8000-000000000002', 'duplicate account'),
  ('00000000-0000-4000-8000-000000000107', 'grace@example.com', 'Grace Gray', 'VENDOR',
   now() - interval '45 days', '00000000-0000-4000-8000-000000000001', 'closed the business'),
  ('00000000-0000-4000-8000-000000000108', 'heidi@example.com', 'Heidi Hart', 'CLIENT',
   now() - interval '5 days', '00000000-0000-4000-8000-000000000002', 'asked to leave'),
  ('00000000-0000-4000-8000-000000000109', 'heidi@example.com', 'Ivan Iles', 'CLIENT', NULL, NULL, NULL);

INSERT INTO sessions (user_id, session_token, expires_at) VALUES
  ('00000000-0000-4000-8000-000000000101', 'cast-alice-1', now() + interval '1 day'),
  ('00000000-0000-4000-8000-000000000101', 'cast-alice-2', now() + interval '1 day'),
  ('00000000-0000-4000-8000-000000000104', 'cast-dave-1', now() + interval '1 day'),
  ('00000000-0000-4000-8000-000000000104', 'cast-dave-2', now() + interval '1 day');
INSERT INTO accounts (user_id, provider, provider_account_id) VALUES
  ('00000000-0000-4000-8000-000000000104', 'google', 'cast-dave');

-- Dave's addresses: X only he uses, Y he shares with Erin, Z Erin orders from.
INSERT INTO addresses (id, street1, city, state, zip, created_by) VALUES
  ('00000000-0000-4000-8000-00000000a001', '1 X Street', 'Austin', 'TX', '78701', '00000000-0000-4000-8000-000000000104'),
  ('00000000-0000-4000-8000-00000000a002', '2 Y Street', 'Austin', 'TX', '78701', '00000000-0000-4000-8000-000000000104'),
  ('00000000-0000-4000-8000-00000000a003', '3 Z Street', 'Austin', 'TX', '78701', '00000000-0000-4000-8000-000000000104'),
  ('00000000-0000-4000-8000-00000000a004', '4 Depot Road', 'Austin', 'TX', '78702', '00000000-0000-4000-8000-000000000002');
INSERT INTO user_addresses (user_id, address_id) VALUES
  ('00000000-0000-4000-8000-000000000104', '00000000-0000-4000-8000-00000000a001'),
  ('00000000-0000-4000-8000-000000000104', '00000000-0000-4000-8000-00000000a002'),
  ('00000000-0000-4000-8000-000000000105', '00000000-0000-4000-8000-00000000a002');

INSERT INTO catering_requests (id, order_number, user_id, status, pickup_address_id, delivery_address_id) VALUES
  ('00000000-0000-4000-8000-00000000c001', 'CAST-CV-1', '00000000-0000-4000-8000-000000000104', 'COMPLETED',
   '00000000-0000-4000-8000-00000000a004', '00000000-0000-4000-8000-00000000a001'),
  ('00000000-0000-4000-8000-00000000c002', 'CAST-CV-2', '00000000-0000-4000-8000-000000000102', 'CONFIRMED',
   '00000000-0000-4000-8000-00000000a004', '00000000-0000-4000-8000-00000000a004'),
  ('00000000-0000-4000-8000-00000000c003', 'CAST-CV-3', '00000000-0000-4000-8000-000000000102', 'IN_PROGRESS',
   '00000000-0000-4000-8000-00000000a004', '00000000-0000-4000-8000-00000000a004');
INSERT INTO on_demand_orders (id, order_number, user_id, status, pickup_address_id, delivery_address_id) VALUES
  ('00000000-0000-4000-8000-00000000d001', 'CAST-OD-1', '00000000-0000-4000-8000-000000000105', 'COMPLETED',
   '00000000-0000-4000-8000-00000000a003', '00000000-0000-4000-8000-00000000a002'),
  ('00000000-0000-4000-8000-00000000d002', 'CAST-OD-2', '00000000-0000-4000-8000-000000000103', 'ASSIGNED',
   '00000000-0000-4000-8000-00000000a004', '00000000-0000-4000-8000-00000000a004');
INSERT INTO dispatches (catering_request_id, on_demand_order_id, driver_id, user_id) VALUES
  ('00000000-0000-4000-8000-00000000c001', NULL,
   '00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-000000000104'),
  (NULL, '00000000-0000-4000-8000-00000000d001',
   '00000000-0000-4000-8000-000000000104', '00000000-0000-4000-8000-000000000105');
INSERT INTO file_uploads (user_id, catering_request_id, file_name, file_url, file_type, file_size) VALUES
  ('00000000-0000-4000-8000-000000000104', '00000000-0000-4000-8000-00000000c001',
   'menu.pdf', 'https://files.example/menu.pdf', 'application/pdf', 48213);
INSERT INTO job_applications (profile_id, first_name, last_name, email, position) VALUES
  ('00000000-0000-4000-8000-000000000104', 'Dave', 'Dunn', 'dave@example.com', 'Driver');
";

/// Loads the cast, in one transaction.
pub async fn load(db: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::raw_sql(SCRIPT).execute(&mut *tx).await?;
    tx.commit().await
}

/// Whether the cast is already there (its first actor exists).
pub async fn is_loaded(db: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM profiles WHERE id = $1)")
        .bind(SUPER_ADMIN)
        .fetch_one(db)
        .await
}
