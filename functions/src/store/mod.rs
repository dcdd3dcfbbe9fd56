//! PostgreSQL: the pool, the migrations, schema introspection and demo data.

pub mod audit;
pub mod cast;
pub mod checkpoint;
pub mod deletion;
pub mod errors;
pub mod migrations;
pub mod pool;
pub mod purge;
pub mod schema;
pub mod seed;
pub mod trash;
