//! The rules of the domain, free of I/O: user types, who acts on whom, the
//! deletion plan.

pub mod ids;
pub mod plan;
pub mod user_type;

pub use ids::{ActorId, TargetId};
pub use user_type::UserType;
