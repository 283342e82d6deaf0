//! Ways out of vmscan besides the terminal: the Prometheus exporter,
//! recordings, reports.
pub mod http;
pub mod metrics;
pub mod process;
pub mod record;
