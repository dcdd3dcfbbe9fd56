//! The scheduled and on-demand jobs.

pub mod audit_run;
pub mod cleanup;
pub mod deadline;
pub mod event;
pub mod integrity;
pub mod snapshot;
