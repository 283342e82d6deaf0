//! One file per hook family. Each tracepoint is one `tracepoint!` line
//! (program name, hook id, body); function hooks are fentry/fexit programs
//! with kprobe fallbacks that share one body.
pub mod access;
pub mod add_lru;
pub mod compact;
pub mod context;
pub mod deactivate;
pub mod demote;
pub mod evict;
pub mod isolate;
pub mod kswapd;
pub mod lazyfree;
pub mod lruvec;
pub mod mlock;
pub mod pagemap;
pub mod reclaim;
pub mod refault;
pub mod shrink;
pub mod shrink_node;
pub mod storm;
pub mod teardown;

/// 1 for a file-LRU pass by its reclaim_flags, 0 for anon.
#[inline(always)]
pub fn file_of(flags: i32) -> u32 {
    (flags as u32 & vmscan_common::RECLAIM_WB_FILE != 0) as u32
}
