//! The log of a policy that cannot load: in a test binary of its own.
//! tracing caches each callsite's interest process-wide; a test of another
//! file hitting the same callsites at the same moment with no subscriber
//! could cache "never" and leave this test's subscriber nothing to capture
//! (it did, once in a CI run).

use std::sync::{Arc, Mutex};

use erasure_policy::{EMBEDDED_PRECOMPILED, Policy};

mod common;
use common::allowed_request;

/// Collects what the engine logs, for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_log_says_why_the_policy_is_unavailable() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let policy = Policy::from_precompiled(EMBEDDED_PRECOMPILED, &"0".repeat(64));
        assert!(!policy.decide(&allowed_request()).allowed());
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("ERROR") && lines[0].contains("every decision will be denied"),
        "{log}"
    );
    assert!(
        lines[1].contains("policy unavailable: denied") && lines[1].contains("export=\"decide\""),
        "{log}"
    );
    for line in lines {
        assert!(line.contains("does not match the pinned 0000"), "{line}");
    }
}
