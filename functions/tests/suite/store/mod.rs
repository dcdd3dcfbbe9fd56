mod audit_log;
mod deletion;
mod pool;
mod purge;
mod trash;
