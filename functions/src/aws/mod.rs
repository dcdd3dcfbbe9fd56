//! AWS clients. Every client honours the standard `AWS_ENDPOINT_URL` (and the
//! per-service `AWS_ENDPOINT_URL_<SERVICE>`), which is how the local stack
//! points them at moto on loopback.

pub mod anchor;
pub mod codedeploy;
pub mod event_bus;
pub mod lambda;
pub mod metrics;
pub mod notify;
pub mod rds;
pub mod sdk;
pub mod secrets;
