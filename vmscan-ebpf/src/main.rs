//! vmscan's kernel side: one thin entry point per hook, each counting its hit
//! and calling a `try_*` function that returns `Result` and never panics.
//!
//! Hot paths (LRU insertion, isolation, shrink passes, folio_mark_accessed)
//! only add to per-CPU aggregates; episodes (kswapd wake/sleep, reclaim
//! begin/end, shrink passes) also go to the `EVENTS` ring buffer, and every
//! reservation that fails is counted per hook and per CPU in `LOST`.
//!
//! Rust eBPF cannot emit CO-RE relocations, so every field offset is read
//! from the `OFFSETS` global that userspace fills from tracefs format files
//! and BTF before loading.
//!
//! Rooms: [`globals`] (what the loader fills in), [`maps`], [`kernel`]
//! (reads of kernel memory), [`emit`] (the ring buffer), and one file per
//! hook family under [`hooks`].
#![no_std]
#![no_main]

/// What a tracepoint program returns. A perf-event tracepoint program's
/// return value filters the event for every other perf listener of that
/// tracepoint (kernel/trace/trace_event_perf.c: perf_trace_run_bpf_submit
/// drops it on 0), so vmscan returns 1 and never hides events from
/// `perf stat` or other tools running beside it.
const PASS_ON: u32 = 1;

/// Entry point of a classic tracepoint program for hook `$hook`: counts the
/// hit, runs `$body` (`fn(&TracePointContext) -> Result<(), i64>`) and
/// returns [`PASS_ON`]. aya-ebpf's #[tracepoint] macro discards the
/// function's result and returns 0, which would filter the event out for
/// every perf listener.
macro_rules! tracepoint {
    ($name:ident, $hook:expr, $body:path) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = "tracepoint")]
        pub fn $name(ctx: *mut core::ffi::c_void) -> u32 {
            $crate::maps::hit($hook);
            let _ = $body(&aya_ebpf::programs::TracePointContext::new(ctx));
            $crate::PASS_ON
        }
    };
}

/// Reads a field of the `OFFSETS` global.
macro_rules! off {
    ($field:ident) => {
        // SAFETY: OFFSETS is a plain static; the volatile read keeps the
        // compiler from folding the pre-load default into the code.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::globals::OFFSETS.$field)) }
    };
}

mod emit;
mod globals;
mod hooks;
mod kernel;
mod maps;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
