mod audit_log;
mod batched;
mod deletion;
mod inline;
mod pool;
mod purge;
mod request_rate;
mod trash;
