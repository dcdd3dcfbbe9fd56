//! erasure: the library every Lambda function of the user-deletion service
//! shares. `domain` is pure; `store` and `aws` do the I/O; the binaries in
//! `src/bin/` only wire a handler to the Lambda runtime.

pub mod auth;
pub mod aws;
pub mod config;
pub mod container;
pub mod domain;
pub mod health;
pub mod http;
pub mod jobs;
pub mod store;
