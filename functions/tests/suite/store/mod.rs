mod audit_log;
mod deletion;
mod pool;
mod purge;
mod request_rate;
mod trash;
