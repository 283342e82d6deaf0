//! Everything that touches the kernel: system facts, offset resolution,
//! loading and attaching, reading maps and the ring buffer.
pub mod batch;
pub mod btf;
pub mod files;
pub mod format;
pub mod irq;
pub mod kretprobe;
pub mod loader;
pub mod logger;
pub mod memcgs;
pub mod misses;
pub mod paths;
pub mod privs;
pub mod read;
pub mod resolve;
pub mod sample;
pub mod symbols;
pub mod system;
