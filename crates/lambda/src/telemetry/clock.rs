//! The process-start clock that cold-start metrics are measured from.

use std::sync::OnceLock;
use std::time::Instant;

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Records "now" as the process start, if nothing was recorded yet. Call it first thing in
/// `main`; [`crate::start`] does. What happens before `main` (exec, dynamic linking) is
/// measured from outside by the cold-start harness.
pub fn mark_process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}

/// The recorded process start (recorded now if it was not).
pub(crate) fn process_start() -> Instant {
    mark_process_start()
}
