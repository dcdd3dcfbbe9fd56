//! Demo and test data: users with realistic related rows, heavy users with
//! hundreds and thousands of them, shared addresses, active and finished
//! orders, and users in the trash (within and past the grace period).
//!
//! Rows are generated in memory and written set-based, one statement per table
//! and chunk (`jsonb_populate_recordset`), so 100,000 users take seconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::UserType;
use crate::domain::plan::ACTIVE_ORDER_STATUSES;

/// How much to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedSpec {
    /// Ordinary vendors, clients and drivers, about 10 related rows each.
    pub users: usize,
    /// Users with 100+ related rows.
    pub heavy_users: usize,
    /// Users with 1,000+ related rows.
    pub very_heavy_users: usize,
    /// Ordinary users soft-deleted within the grace period.
    pub soft_deleted: usize,
    /// Ordinary users soft-deleted longer ago than the grace period.
    pub expired: usize,
    pub grace_period_days: i64,
    /// Addresses several users and orders point at.
    pub shared_addresses: usize,
    /// Share of live users' orders in an active status (0.0 to 1.0).
    pub active_order_share: f64,
    /// Orders of an ordinary user, at least and at most (about 2.5 related
    /// rows each, with dispatches and uploads).
    pub ordinary_orders: (usize, usize),
    /// Users written per transaction.
    pub chunk_size: usize,
    /// The same seed and spec give the same data (ids and emails included).
    pub rng_seed: u64,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec {
            users: 50,
            heavy_users: 2,
            very_heavy_users: 1,
            soft_deleted: 5,
            expired: 3,
            grace_period_days: 30,
            shared_addresses: 10,
            active_order_share: 0.2,
            ordinary_orders: (1, 4),
            chunk_size: 2_000,
            rng_seed: 42,
        }
    }
}

/// What was written: the staff to act as, the users by kind, and row counts.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seeded {
    pub super_admin: Uuid,
    pub admins: Vec<Uuid>,
    pub helpdesk: Uuid,
    /// Live ordinary users (not heavy, not deleted).
    pub users: Vec<Uuid>,
    pub heavy_users: Vec<Uuid>,
    pub very_heavy_users: Vec<Uuid>,
    pub soft_deleted: Vec<Uuid>,
    pub expired: Vec<Uuid>,
    /// Rows written per table.
    pub rows: BTreeMap<&'static str, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the seed spec is impossible: {0}")]
    Spec(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Generates `spec` and writes it; each chunk of users is one transaction.
pub async fn seed(db: &PgPool, spec: &SeedSpec) -> Result<Seeded, SeedError> {
    if spec.soft_deleted + spec.expired > spec.users {
        return Err(SeedError::Spec("soft_deleted + expired exceeds users"));
    }
    if spec.ordinary_orders.0 > spec.ordinary_orders.1 {
        return Err(SeedError::Spec(
            "ordinary_orders must be (least, most) with least <= most",
        ));
    }
    if spec.grace_period_days < 2 {
        // Users are deleted at least a day inside, and a day past, the period.
        return Err(SeedError::Spec("grace_period_days must be at least 2"));
    }
    if !(0.0..=1.0).contains(&spec.active_order_share) {
        return Err(SeedError::Spec(
            "active_order_share must be within 0.0 and 1.0",
        ));
    }
    let mut generator = Generator::new(spec);
    let people = generator.people();
    let mut seeded = people.summary();

    // Profiles first (the staff, every user, and the shared addresses their
    // creators own), then each chunk's related rows.
    let mut tx = db.begin().await?;
    let first = Batch {
        profiles: people.profiles(),
        addresses: generator.shared_addresses(&people),
        ..Batch::default()
    };
    first.write(&mut tx, &mut seeded.rows).await?;
    tx.commit().await?;

    for chunk in people.ordinary.chunks(spec.chunk_size.max(1)) {
        let mut batch = Batch::default();
        for person in chunk {
            generator.related_rows(person, &people, &mut batch);
        }
        let mut tx = db.begin().await?;
        batch.write(&mut tx, &mut seeded.rows).await?;
        tx.commit().await?;
    }
    Ok(seeded)
}

// --- rows, one struct per table, fields named as the columns --------------

#[derive(Debug, Clone, Serialize)]
struct Profile {
    id: Uuid,
    email: String,
    name: String,
    r#type: UserType,
    status: &'static str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    deleted_by: Option<Uuid>,
    deletion_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Account {
    id: Uuid,
    user_id: Uuid,
    provider: &'static str,
    provider_account_id: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Session {
    id: Uuid,
    user_id: Uuid,
    session_token: String,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Address {
    id: Uuid,
    street1: String,
    street2: Option<String>,
    city: &'static str,
    state: &'static str,
    zip: &'static str,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct UserAddress {
    user_id: Uuid,
    address_id: Uuid,
    is_default: bool,
    created_at: DateTime<Utc>,
}

/// A catering request or an on-demand order: the columns they share.
#[derive(Serialize)]
struct Order {
    id: Uuid,
    order_number: String,
    user_id: Uuid,
    status: &'static str,
    pickup_address_id: Uuid,
    delivery_address_id: Uuid,
    order_total: f64,
    pickup_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Dispatch {
    id: Uuid,
    catering_request_id: Option<Uuid>,
    on_demand_order_id: Option<Uuid>,
    driver_id: Uuid,
    user_id: Uuid,
    status: &'static str,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct FileUpload {
    id: Uuid,
    user_id: Uuid,
    catering_request_id: Option<Uuid>,
    file_name: String,
    file_url: String,
    file_type: &'static str,
    file_size: i64,
    category: &'static str,
    uploaded_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct JobApplication {
    id: Uuid,
    profile_id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    position: &'static str,
    status: &'static str,
    created_at: DateTime<Utc>,
}

/// One chunk's rows, written in foreign-key order.
#[derive(Default)]
struct Batch {
    profiles: Vec<Profile>,
    addresses: Vec<Address>,
    accounts: Vec<Account>,
    sessions: Vec<Session>,
    user_addresses: Vec<UserAddress>,
    catering_requests: Vec<Order>,
    on_demand_orders: Vec<Order>,
    dispatches: Vec<Dispatch>,
    file_uploads: Vec<FileUpload>,
    job_applications: Vec<JobApplication>,
}

impl Batch {
    async fn write(
        &self,
        db: &mut PgConnection,
        counts: &mut BTreeMap<&'static str, usize>,
    ) -> Result<(), sqlx::Error> {
        insert(db, counts, "profiles", &self.profiles).await?;
        insert(db, counts, "addresses", &self.addresses).await?;
        insert(db, counts, "accounts", &self.accounts).await?;
        insert(db, counts, "sessions", &self.sessions).await?;
        insert(db, counts, "user_addresses", &self.user_addresses).await?;
        insert(db, counts, "catering_requests", &self.catering_requests).await?;
        insert(db, counts, "on_demand_orders", &self.on_demand_orders).await?;
        insert(db, counts, "dispatches", &self.dispatches).await?;
        insert(db, counts, "file_uploads", &self.file_uploads).await?;
        insert(db, counts, "job_applications", &self.job_applications).await
    }
}

/// Inserts `rows` into `table` in one statement. Every column must be present
/// in the JSON: `jsonb_populate_recordset` fills a missing key with NULL, not
/// with the column's default.
async fn insert<T: Serialize>(
    db: &mut PgConnection,
    counts: &mut BTreeMap<&'static str, usize>,
    table: &'static str,
    rows: &[T],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // `table` is one of the constants above, never input.
    let sql =
        format!("INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, $1)");
    let inserted = sqlx::query(&sql)
        .bind(sqlx::types::Json(rows))
        .execute(db)
        .await?
        .rows_affected();
    *counts.entry(table).or_default() += inserted as usize;
    Ok(())
}

// --- the generator ---------------------------------------------------------

/// How many orders a user gets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Load {
    Ordinary,
    Heavy,
    VeryHeavy,
}

/// Where a user stands with respect to the trash.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Standing {
    Live,
    SoftDeleted,
    Expired,
}

#[derive(Debug, Clone)]
struct Person {
    row: Profile,
    load: Load,
    standing: Standing,
}

impl Person {
    fn id(&self) -> Uuid {
        self.row.id
    }

    fn is_deleted(&self) -> bool {
        self.standing != Standing::Live
    }
}

struct People {
    /// The super admin, the admins and the helpdesk user: no related rows.
    staff: Vec<Person>,
    /// Everyone else, in the order their related rows are written.
    ordinary: Vec<Person>,
    drivers: Vec<Uuid>,
    /// (address id, id of the user who created it)
    shared_addresses: Vec<(Uuid, Uuid)>,
}

impl People {
    fn summary(&self) -> Seeded {
        let staff = |t: UserType| -> Vec<Uuid> {
            self.staff
                .iter()
                .filter(|p| p.row.r#type == t)
                .map(Person::id)
                .collect()
        };
        let users = |f: &dyn Fn(&Person) -> bool| -> Vec<Uuid> {
            self.ordinary
                .iter()
                .filter(|p| f(p))
                .map(Person::id)
                .collect()
        };
        Seeded {
            super_admin: staff(UserType::SuperAdmin)[0],
            admins: staff(UserType::Admin),
            helpdesk: staff(UserType::Helpdesk)[0],
            users: users(&|p| p.load == Load::Ordinary && p.standing == Standing::Live),
            heavy_users: users(&|p| p.load == Load::Heavy),
            very_heavy_users: users(&|p| p.load == Load::VeryHeavy),
            soft_deleted: users(&|p| p.standing == Standing::SoftDeleted),
            expired: users(&|p| p.standing == Standing::Expired),
            rows: BTreeMap::new(),
        }
    }

    fn profiles(&self) -> Vec<Profile> {
        self.staff
            .iter()
            .chain(&self.ordinary)
            .map(|p| p.row.clone())
            .collect()
    }
}

const REASON_RECENT: &str = "Requested account closure by email";
const REASON_EXPIRED: &str = "Duplicate account, merged into another profile";

struct Generator<'a> {
    spec: &'a SeedSpec,
    rng: StdRng,
    now: DateTime<Utc>,
    order_counter: u64,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a SeedSpec) -> Self {
        Generator {
            spec,
            rng: StdRng::seed_from_u64(spec.rng_seed),
            now: Utc::now(),
            order_counter: 0,
        }
    }

    /// A v4 UUID from the seeded generator, so a seed reproduces its ids.
    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    fn days_ago(&mut self, from: i64, to: i64) -> DateTime<Utc> {
        let minutes = self.rng.random_range(from * 1440..to * 1440);
        self.now - Duration::minutes(minutes)
    }

    fn profile(&mut self, r#type: UserType, created_days_ago: i64) -> Profile {
        let first = *FIRST_NAMES.choose(&mut self.rng).expect("names");
        let last = *LAST_NAMES.choose(&mut self.rng).expect("names");
        let id = self.uuid();
        let created_at = self.days_ago(created_days_ago, created_days_ago + 365);
        Profile {
            id,
            // The id's first block keeps emails unique across runs and seeds.
            email: format!(
                "{}.{}.{}@example.com",
                first.to_lowercase(),
                last.to_lowercase(),
                &id.simple().to_string()[..8]
            ),
            name: format!("{first} {last}"),
            r#type,
            status: "ACTIVE",
            created_at,
            updated_at: created_at,
            deleted_at: None,
            deleted_by: None,
            deletion_reason: None,
        }
    }

    fn people(&mut self) -> People {
        let spec = self.spec;
        let staff: Vec<Person> = [
            UserType::SuperAdmin,
            UserType::Admin,
            UserType::Admin,
            UserType::Helpdesk,
        ]
        .into_iter()
        .map(|t| Person {
            row: self.profile(t, 400),
            load: Load::Ordinary,
            standing: Standing::Live,
        })
        .collect();
        let admin = staff[1].id();
        let ordinary_types = [
            UserType::Client,
            UserType::Client,
            UserType::Vendor,
            UserType::Driver,
        ];
        let heavy_types = [UserType::Client, UserType::Vendor];
        let loads = std::iter::repeat_n(Load::VeryHeavy, spec.very_heavy_users)
            .chain(std::iter::repeat_n(Load::Heavy, spec.heavy_users))
            .chain(std::iter::repeat_n(Load::Ordinary, spec.users));
        let mut ordinary = Vec::new();
        for (i, load) in loads.enumerate() {
            let r#type = if load == Load::Ordinary {
                ordinary_types[i % ordinary_types.len()]
            } else {
                heavy_types[i % heavy_types.len()]
            };
            let mut row = self.profile(r#type, 30);
            // The last ordinary users go to the trash, the very last past the grace period.
            let from_end = spec.very_heavy_users + spec.heavy_users + spec.users - i;
            let standing = if from_end <= spec.expired {
                Standing::Expired
            } else if from_end <= spec.expired + spec.soft_deleted {
                Standing::SoftDeleted
            } else {
                Standing::Live
            };
            let grace = spec.grace_period_days;
            let deleted = match standing {
                Standing::Live => None,
                Standing::SoftDeleted => Some((self.days_ago(0, grace - 1), REASON_RECENT)),
                Standing::Expired => Some((self.days_ago(grace + 1, grace + 60), REASON_EXPIRED)),
            };
            if let Some((at, reason)) = deleted {
                row.deleted_at = Some(at);
                row.deleted_by = Some(admin);
                row.deletion_reason = Some(reason);
                row.updated_at = at;
            }
            ordinary.push(Person {
                row,
                load,
                standing,
            });
        }
        let drivers: Vec<Uuid> = ordinary
            .iter()
            .filter(|p| p.row.r#type == UserType::Driver && !p.is_deleted())
            .map(Person::id)
            .collect();
        let live_creators: Vec<Uuid> = ordinary
            .iter()
            .filter(|p| p.load == Load::Ordinary && !p.is_deleted())
            .map(Person::id)
            .collect();
        let shared_addresses = (0..spec.shared_addresses)
            .filter_map(|i| live_creators.get(i % live_creators.len().max(1)).copied())
            .map(|creator| (self.uuid(), creator))
            .collect();
        People {
            staff,
            ordinary,
            drivers,
            shared_addresses,
        }
    }

    fn address(&mut self, id: Uuid, created_by: Uuid) -> Address {
        let (city, state, zip) = *CITIES.choose(&mut self.rng).expect("cities");
        let street = *STREETS.choose(&mut self.rng).expect("streets");
        Address {
            id,
            street1: format!("{} {street}", self.rng.random_range(1..9999)),
            street2: self
                .rng
                .random_bool(0.2)
                .then(|| format!("Suite {}", self.rng.random_range(100..999))),
            city,
            state,
            zip,
            created_by: Some(created_by),
            created_at: self.days_ago(1, 300),
        }
    }

    fn shared_addresses(&mut self, people: &People) -> Vec<Address> {
        people
            .shared_addresses
            .iter()
            .map(|&(id, creator)| self.address(id, creator))
            .collect()
    }

    fn orders_for(&mut self, load: Load) -> usize {
        match load {
            Load::Ordinary => {
                let (least, most) = self.spec.ordinary_orders;
                self.rng.random_range(least..=most)
            }
            Load::Heavy => self.rng.random_range(50..=70),
            Load::VeryHeavy => self.rng.random_range(500..=600),
        }
    }

    fn order_status(&mut self, deleted: bool) -> &'static str {
        // A user in the trash passed the active-orders check when deleted.
        if !deleted && self.rng.random_bool(self.spec.active_order_share) {
            ACTIVE_ORDER_STATUSES
                .choose(&mut self.rng)
                .expect("statuses")
        } else if self.rng.random_bool(0.85) {
            "COMPLETED"
        } else {
            "CANCELLED"
        }
    }

    /// The user's accounts, sessions, addresses, orders with their dispatches,
    /// uploads and (for drivers) a job application.
    fn related_rows(&mut self, person: &Person, people: &People, batch: &mut Batch) {
        let user = person.id();
        let since = person.row.created_at;
        batch.accounts.push(Account {
            id: self.uuid(),
            user_id: user,
            provider: ["credentials", "google"]
                .choose(&mut self.rng)
                .expect("providers"),
            provider_account_id: self.uuid().simple().to_string(),
            created_at: since,
        });
        if !person.is_deleted() {
            for _ in 0..self.rng.random_range(1..=3) {
                batch.sessions.push(Session {
                    id: self.uuid(),
                    user_id: user,
                    session_token: self.uuid().simple().to_string(),
                    expires_at: self.now + Duration::days(30),
                    created_at: self.days_ago(0, 29),
                });
            }
        }

        let orders = self.orders_for(person.load);
        let own_count = 1 + orders / 20;
        let mut own = Vec::with_capacity(own_count);
        for i in 0..own_count {
            let id = self.uuid();
            batch.addresses.push(self.address(id, user));
            batch.user_addresses.push(UserAddress {
                user_id: user,
                address_id: id,
                is_default: i == 0,
                created_at: since,
            });
            own.push(id);
        }
        // Some users also keep a shared address (another user's) in their book.
        let shared = people.shared_addresses.choose(&mut self.rng).copied();
        if let Some((address, _)) = shared.filter(|&(_, creator)| creator != user)
            && self.rng.random_bool(0.3)
        {
            batch.user_addresses.push(UserAddress {
                user_id: user,
                address_id: address,
                is_default: false,
                created_at: since,
            });
        }

        for n in 0..orders {
            let pickup = match people.shared_addresses.choose(&mut self.rng) {
                Some(&(address, _)) if self.rng.random_bool(0.5) => address,
                _ => *own.choose(&mut self.rng).expect("own address"),
            };
            let delivery = *own.choose(&mut self.rng).expect("own address");
            let status = self.order_status(person.is_deleted());
            self.order_counter += 1;
            let catering = n % 2 == 0;
            let order = Order {
                id: self.uuid(),
                order_number: format!(
                    "{}-{}-{:06}",
                    if catering { "CV" } else { "OD" },
                    &user.simple().to_string()[..8],
                    self.order_counter
                ),
                user_id: user,
                status,
                pickup_address_id: pickup,
                delivery_address_id: delivery,
                order_total: f64::from(self.rng.random_range(1_500..250_000)) / 100.0,
                pickup_at: self.days_ago(0, 180),
                created_at: self.days_ago(0, 200),
            };
            let dispatched = !matches!(status, "PENDING" | "CANCELLED" | "ACTIVE");
            if let Some(&driver) = people.drivers.choose(&mut self.rng).filter(|_| dispatched) {
                batch.dispatches.push(Dispatch {
                    id: self.uuid(),
                    catering_request_id: catering.then_some(order.id),
                    on_demand_order_id: (!catering).then_some(order.id),
                    driver_id: driver,
                    user_id: user,
                    status: if status == "COMPLETED" {
                        "DELIVERED"
                    } else {
                        "ASSIGNED"
                    },
                    created_at: order.created_at,
                });
            }
            if n % 4 == 0 {
                batch.file_uploads.push(FileUpload {
                    id: self.uuid(),
                    user_id: user,
                    catering_request_id: catering.then_some(order.id),
                    file_name: format!("order-{}.pdf", order.order_number),
                    file_url: format!("https://files.example.com/{}.pdf", order.id),
                    file_type: "application/pdf",
                    file_size: self.rng.random_range(10_000..5_000_000),
                    category: "catering-order",
                    uploaded_at: order.created_at,
                });
            }
            if catering {
                batch.catering_requests.push(order);
            } else {
                batch.on_demand_orders.push(order);
            }
        }

        if person.row.r#type == UserType::Driver {
            let (first, last) = person.row.name.split_once(' ').unwrap_or_default();
            batch.job_applications.push(JobApplication {
                id: self.uuid(),
                profile_id: user,
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                email: person.row.email.clone(),
                position: "Driver",
                status: "APPROVED",
                created_at: since,
            });
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jamal", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor",
    "Wen", "Yara", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Alvarez", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito",
    "Johnson", "Kowalski", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel", "Rossi", "Silva",
    "Tanaka", "Walker",
];
const STREETS: &[&str] = &[
    "Market St",
    "Mission St",
    "Valencia St",
    "Broadway",
    "Main St",
    "Oak Ave",
    "Pine St",
    "Sunset Blvd",
    "Lake Shore Dr",
    "Elm St",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("San Francisco", "CA", "94103"),
    ("Oakland", "CA", "94607"),
    ("Austin", "TX", "78701"),
    ("Chicago", "IL", "60601"),
    ("Seattle", "WA", "98101"),
    ("Denver", "CO", "80202"),
];
