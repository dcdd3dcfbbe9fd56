//! PostgreSQL, production SQL only. One module per table for its statements
//! (`profiles`, `sessions`, `audit_log`, `integrity_runs`, `request_rate`,
//! `idempotency_keys`, `pauses`, `refused_requests`, `legal_holds`, `outbox`); the statements
//! the deletion plan generates across tables (`purge`); the flows of one
//! request (`deletion`, `trash`) on the skeleton they share (`audited`) and
//! their error type (`errors`); the pool, the migrations and schema
//! introspection.

pub mod audit_log;
pub mod audited;
pub mod batched;
pub mod deletion;
pub mod errors;
pub mod idempotency_keys;
pub mod inline;
pub mod integrity_runs;
pub mod legal_holds;
pub mod migrations;
pub mod outbox;
pub mod pauses;
pub mod pool;
pub mod profiles;
pub mod purge;
pub mod refused_requests;
pub mod request_rate;
pub mod schema;
pub mod sessions;
pub mod trash;
