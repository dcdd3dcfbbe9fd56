mod alarm_responder;
mod cleanup;
mod integrity_audit;
mod pre_traffic;
mod relay;
mod snapshot;
