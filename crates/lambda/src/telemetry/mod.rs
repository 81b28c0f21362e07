//! Telemetry: the process-start clock, log lines and Embedded Metric Format metrics on
//! stdout, where Lambda collects them into CloudWatch.

pub(crate) mod clock;
pub(crate) mod log;
pub(crate) mod metrics;
