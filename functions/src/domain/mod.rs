//! The rules of the domain, free of I/O: user types, who acts on whom, the
//! deletion plan, and which alarm pauses deletions.

pub mod functions;
pub mod ids;
pub mod pauses;
pub mod plan;
pub mod user_type;

pub use ids::{ActorId, TargetId};
pub use user_type::UserType;
