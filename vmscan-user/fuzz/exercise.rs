//! What each fuzz target does with its input, shared by the targets
//! (fuzz_targets/*.rs) and by the replay of every corpus and regression
//! file in `cargo test` (tests/fuzz_regressions.rs), so both run the same
//! code. Each function must return (no panic, no hang) for any input.

use vmscan::probe::{
    btf::Btf,
    format::Format,
    sample::{parse_lru_gen, parse_memory_stat_lists, parse_node_meminfo, parse_numa_stat},
    symbols::Kallsyms,
    system::{node_start_pfns, parse_kallsyms_symbol, parse_zoneinfo},
};

const STRUCTS: [&str; 6] = [
    "folio",
    "page",
    "task_struct",
    "mem_cgroup",
    "scan_control",
    "kernfs_node",
];
const MEMBERS: [&str; 8] = [
    "flags",
    "lru",
    "memcg_data",
    "mapping",
    "id",
    "proactive",
    "memory_cgrp_id",
    "mm",
];

/// The BTF parser, then every kind of query vmscan makes of it.
pub fn btf(data: &[u8]) {
    let Ok(btf) = Btf::parse(data) else { return };
    for s in STRUCTS {
        let _ = btf.struct_size(s);
        for m in MEMBERS {
            let _ = btf.member_offset(s, m);
            let _ = btf.member_bit_offset(s, m);
            let _ = btf.member(s, m);
        }
    }
    for id in 0..(btf.type_count() as u32 + 2).min(256) {
        let _ = btf.size_of(id);
    }
    for e in [
        "PG_active",
        "PGSCAN_PROACTIVE",
        "__NR_MEMCG_DATA_FLAGS",
        "memory_cgrp_id",
    ] {
        let _ = btf.enum_value(e);
    }
    let _ = btf.has_func("shrink_node");
}

/// A tracefs format file, then field lookups.
pub fn tracefs_format(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = Format::parse(text) else { return };
    for name in ["nr_scanned", "nid", "order", "pfn", "comm"] {
        let _ = f.offset(name, &[4, 8]);
    }
}

/// The /proc, sysfs and cgroup text parsers see files lossily decoded, as
/// the reader would see a damaged one; page sizes of 0 included.
pub fn meminfo(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_node_meminfo(&text, 4);
    let _ = parse_node_meminfo(&text, 0);
}

pub fn memory_stat(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_memory_stat_lists(&text, 4096);
    let _ = parse_memory_stat_lists(&text, 0);
}

pub fn numa_stat(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_numa_stat(&text, 4096);
    let _ = parse_numa_stat(&text, 0);
}

pub fn lru_gen(data: &[u8]) {
    let _ = parse_lru_gen(&String::from_utf8_lossy(data));
}

pub fn zoneinfo(data: &[u8]) {
    let zones = parse_zoneinfo(&String::from_utf8_lossy(data));
    let _ = node_start_pfns(&zones);
}

/// /proc/kallsyms: the table that names stack frames, and the
/// single-symbol lookup.
pub fn kallsyms(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let k = Kallsyms::parse(&text);
    let _ = k.frames(&[0, 1, 0xffff_ffff_8100_0000, u64::MAX]);
    let _ = parse_kallsyms_symbol(&text, "shrink_node");
}

/// What a target runs on one input.
pub type Exercise = fn(&[u8]);

/// Every target by name, for the replay.
pub const TARGETS: [(&str, Exercise); 8] = [
    ("btf", btf),
    ("tracefs_format", tracefs_format),
    ("meminfo", meminfo),
    ("memory_stat", memory_stat),
    ("numa_stat", numa_stat),
    ("lru_gen", lru_gen),
    ("zoneinfo", zoneinfo),
    ("kallsyms", kallsyms),
];
