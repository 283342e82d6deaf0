//! vmscan: eBPF observability for Linux page reclaim.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vmscan"));
