//! The scheduled and on-demand jobs.

pub mod cleanup;
pub mod integrity;
