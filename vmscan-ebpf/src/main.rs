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

/// Entry points of tracepoint hook `$hook`, all sharing `$body`
/// (`fn(&Tp) -> Result<(), i64>`): a BTF-enabled raw tracepoint (tp_btf,
/// section `tp_btf`, exported as `btf_$name`), a raw tracepoint (`raw_$name`)
/// and a classic perf-event tracepoint (`$name`). The first two get the
/// tracepoint's own arguments and skip the kernel's filling of the trace
/// record; their fields come from `ARG_OFFSETS`. The loader attaches one of
/// the three. Each counts the hit; the classic one returns [`PASS_ON`]:
/// aya-ebpf's #[tracepoint] macro discards the function's result and
/// returns 0, which would filter the event out for every perf listener.
macro_rules! tracepoint {
    ($name:ident, $hook:expr, $body:ident) => {
        tracepoint!($name, $hook, $body, fast = never_fast);
    };
    // `$fast(ctx)` runs first under tp_btf only, where the context's
    // pointer arguments are the kernel's typed pointers: a load through one
    // at a constant offset needs no helper call. It returns whether it
    // handled the event; when not, `$body` runs as under raw_tp.
    ($name:ident, $hook:expr, $body:ident, fast = $fast:ident) => {
        // One module per hook and one per mechanism: the three functions
        // share the hook's name, which BTF and `bpftool prog show` give the
        // program whichever way it attached; the ELF symbols differ.
        #[allow(non_snake_case)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::never_fast;
            const HOOK: vmscan_common::HookId = $hook;

            tracepoint_entry!(
                classic,
                $name,
                stringify!($name),
                "tracepoint",
                record,
                $crate::PASS_ON,
                $body
            );
            pub mod btf {
                #[unsafe(export_name = concat!("btf_", stringify!($name)))]
                #[unsafe(link_section = "tp_btf")]
                fn $name(ctx: *mut core::ffi::c_void) -> u32 {
                    $crate::maps::hit(super::HOOK);
                    if !super::$fast(ctx) {
                        let _ = super::super::$body(&$crate::kernel::Tp::args(ctx));
                    }
                    0
                }
            }
            tracepoint_entry!(
                raw,
                $name,
                concat!("raw_", stringify!($name)),
                "raw_tp",
                args,
                0,
                $body
            );
        }
    };
}

/// The `fast` of a [`tracepoint!`] without one.
#[inline(always)]
pub fn never_fast(_ctx: *mut core::ffi::c_void) -> bool {
    false
}

/// One entry point of [`tracepoint!`]: module `$m`, ELF symbol `$symbol` in
/// section `$section`, its context made by `Tp::$ctx`, returning `$ret`.
macro_rules! tracepoint_entry {
    ($m:ident, $name:ident, $symbol:expr, $section:literal, $ctx:ident, $ret:expr, $body:ident) => {
        pub mod $m {
            #[unsafe(export_name = $symbol)]
            #[unsafe(link_section = $section)]
            fn $name(ctx: *mut core::ffi::c_void) -> u32 {
                $crate::maps::hit(super::HOOK);
                let _ = super::super::$body(&$crate::kernel::Tp::$ctx(ctx));
                $ret
            }
        }
    };
}

/// Where tracepoint field `$f` is for the mechanism `$ctx` runs under: in
/// `ARG_OFFSETS` (tp_btf / raw_tp arguments) or `OFFSETS` (the record).
macro_rules! place {
    ($ctx:expr, $f:ident) => {
        if $ctx.is_args() {
            arg_place!($f)
        } else {
            off!($f)
        }
    };
}

/// Where tracepoint field `$f` is among a tp_btf / raw_tp program's
/// arguments (`ARG_OFFSETS`).
macro_rules! arg_place {
    ($f:ident) => {
        // SAFETY: as for off!.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::globals::ARG_OFFSETS.$f)) }
    };
}

/// A tracepoint field: `field!(ctx, name)` or `field!(ctx, name: T)` reads
/// it from the record or the arguments, as the program attached.
macro_rules! field {
    ($ctx:expr, $f:ident : u64) => {
        $ctx.count(place!($ctx, $f))
    };
    ($ctx:expr, $f:ident) => {
        $ctx.field(place!($ctx, $f))
    };
    ($ctx:expr, $f:ident : $t:ty) => {
        $ctx.field::<$t>(place!($ctx, $f))
    };
}

/// Whether a tracepoint field is derived from the hook's folio (see
/// vmscan_common::DERIVED) for the mechanism `$ctx` runs under.
macro_rules! derived {
    ($ctx:expr, $f:ident) => {
        $ctx.is_args() && place!($ctx, $f) == vmscan_common::DERIVED
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
