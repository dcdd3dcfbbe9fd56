mod cleanup;
mod integrity_audit;
mod snapshot;
