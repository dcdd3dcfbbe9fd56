//! The scheduled and on-demand jobs, and what they share: the event that
//! invokes them (`event`), the Lambda deadline (`deadline`) and how a failed
//! invocation is reported (`failure`). The deploy's
//! PreTraffic hook (`pre_traffic`) is one too: the snapshot (`snapshot`),
//! then the new version's smoke test (`smoke_test`). The alarm responder
//! (`alarm_responder`) pauses deletions when a critical alarm fires; the
//! relay (`relay`) publishes the erasure events the outbox holds.

pub mod alarm_responder;
pub mod cleanup;
pub mod deadline;
pub mod event;
pub mod failure;
pub mod integrity_audit;
pub mod pre_traffic;
pub mod relay;
pub mod smoke_test;
pub mod snapshot;
