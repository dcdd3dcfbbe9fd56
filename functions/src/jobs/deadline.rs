//! The Lambda deadline, as the batch jobs use it: they stop starting work
//! while there is still time to report and save where they were.

use std::time::{Duration, SystemTime};

/// The invocation's deadline from the runtime's `Lambda-Runtime-Deadline-Ms`.
/// Lambda sends Unix milliseconds; `cargo lambda watch` sends its invoke
/// timeout (600000) instead. No real deadline lies before 2001, so a value
/// that small is read as a duration from now.
pub fn deadline(header_ms: u64) -> SystemTime {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    if header_ms < YEAR_2001_MS {
        SystemTime::now() + Duration::from_millis(header_ms)
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_millis(header_ms)
    }
}

/// True while a batch may still start before `deadline` (the Lambda's): a
/// quarter of the invocation's time is kept in hand, at least 1 s and at
/// most 30 s, so a 3 s timeout still runs and a 15 min one keeps 30 s.
pub fn before(deadline: SystemTime) -> impl Fn() -> bool + Sync {
    let left = move |now: SystemTime| deadline.duration_since(now).unwrap_or_default();
    let margin =
        (left(SystemTime::now()) / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    move || left(SystemTime::now()) > margin
}

/// What a job's invocation checks before each batch: `before` the deadline
/// the runtime sent (`LambdaEvent::context.deadline`). Logs the time it has.
pub fn keep_going(header_ms: u64) -> impl Fn() -> bool + Sync {
    let deadline = deadline(header_ms);
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tracing::info!(remaining_ms = remaining.as_millis() as u64, "invoked");
    before(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_an_epoch_time_or_an_emulators_duration() {
        let epoch = deadline(1_800_000_000_000);
        assert_eq!(
            epoch,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
        );
        let emulated = deadline(600_000).duration_since(SystemTime::now()).unwrap();
        assert!(emulated > Duration::from_secs(590) && emulated <= Duration::from_secs(600));
    }

    #[test]
    fn batches_start_only_with_time_in_hand() {
        let now = SystemTime::now();
        assert!(
            before(now + Duration::from_secs(3))(),
            "a 3 s invocation runs"
        );
        assert!(before(now + Duration::from_secs(900))());
        assert!(
            !before(now + Duration::from_millis(900))(),
            "under the 1 s floor"
        );
        assert!(!before(now - Duration::from_secs(1))(), "past the deadline");
    }
}
