//! Subcommands.
pub mod access;
pub mod export;
pub mod json;
pub mod lab;
pub mod probes;
pub mod record;
pub mod refaults;
pub mod replay;
pub mod snapshot;
pub mod stat;
