//! Pure computation: aggregates and events in, figures out. Nothing here
//! touches the kernel, /proc or the terminal, so every number vmscan prints
//! can be tested from synthetic input.
pub mod counters;
pub mod episodes;
pub mod event;
pub mod findings;
pub mod flows;
pub mod hist;
pub mod input;
pub mod kswapd;
pub mod kube;
pub mod lruvec;
pub mod named;
pub mod refaults;
pub mod selfcheck;
pub mod snapshot;
pub mod totals;
