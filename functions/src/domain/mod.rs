//! The rules of the domain, free of I/O: user types, the deletion plan.

pub mod plan;
pub mod user_type;

pub use user_type::UserType;
