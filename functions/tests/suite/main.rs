//! The library's integration tests, one binary: each module mirrors the
//! source module it covers (`http/app.rs` tests `src/http/app.rs`), on a real
//! PostgreSQL (`sqlx::test`, a fresh database per test), moto on loopback,
//! real tokens and the real policy module. `common` holds what they share.
//! (The metrics recorder is once per process, so `tests/metrics.rs` is a
//! binary of its own.)

mod auth;
mod aws;
mod common;
mod health;
mod http;
mod jobs;
mod parsers;
mod schema;
mod store;
