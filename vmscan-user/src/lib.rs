//! vmscan: eBPF observability for Linux page reclaim.
//!
//! Data flows one way: the kernel -> `probe` (loads, reads and parses the
//! kernel side into `model::input`) -> `model` (pure computation) -> the
//! views (`tui`, `export`, `cmd`). `live` ties probe and model together for
//! the live commands, `replay` a recording and the model; `text` holds the formatting every view shares.
pub mod cmd;
pub mod export;
pub mod live;
pub mod model;
pub mod out;
pub mod probe;
pub mod replay;
pub mod stop;
pub mod text;
pub mod tui;

/// The eBPF object built by build.rs (vmscan-ebpf for bpfel-unknown-none).
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vmscan"));

/// Process exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    /// A runtime failure (loading, reading, I/O).
    pub const FAILURE: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// Not enough privilege to load tracing programs.
    pub const PRIVILEGE: i32 = 3;
    /// `probes --strict`: a hook did not attach.
    pub const HOOKS_UNAVAILABLE: i32 = 4;
}

/// The error a missing privilege becomes, so main can pick its exit code.
#[derive(Debug)]
pub struct PrivilegeError(pub String);

impl std::fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PrivilegeError {}
