//! The scheduled and on-demand jobs, and what they share: the event that
//! invokes them (`event`) and the Lambda deadline (`deadline`).

pub mod cleanup;
pub mod deadline;
pub mod event;
pub mod integrity_audit;
pub mod snapshot;
