//! The schema against the code: the migrations, the deletion plan against
//! the foreign keys, and the plans of the queries at scale.

mod migrations;
mod plan_coverage;
mod query_plans;
