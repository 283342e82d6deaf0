//! Facts about the running system that decide what vmscan can hook and how
//! to read it: kernel release, BTF, tracefs, NUMA nodes, cgroups, MGLRU, swap,
//! privileges. Parsers are pure functions over file text, tested on fixtures.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::input::Host;
pub use crate::model::input::Zone;

pub const TRACEFS: &str = "/sys/kernel/tracing";
pub const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";
pub const BTF_VMLINUX: &str = "/sys/kernel/btf/vmlinux";

pub fn kernel_release() -> String {
    std::fs::read_to_string(crate::probe::paths::host("/proc/sys/kernel/osrelease"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Where tracefs is mounted, mounting it at /sys/kernel/tracing if needed.
pub fn ensure_tracefs() -> Result<PathBuf, String> {
    for dir in [TRACEFS, DEBUGFS_TRACING] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(PathBuf::from(dir));
        }
    }
    let target = std::ffi::CString::new(TRACEFS).map_err(|e| e.to_string())?;
    let fstype = c"tracefs";
    let source = c"nodev";
    // SAFETY: all pointers are valid NUL-terminated strings for the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!(
            "tracefs is not mounted and mounting it at {TRACEFS} failed: {err} \
             (run as root, or: mount -t tracefs nodev {TRACEFS})"
        ));
    }
    if Path::new(TRACEFS).join("events").is_dir() {
        Ok(PathBuf::from(TRACEFS))
    } else {
        Err(format!(
            "mounted tracefs at {TRACEFS} but it has no events/ directory"
        ))
    }
}

/// Node -> memory tier id, from /sys/devices/virtual/memory_tiering/
/// memory_tierN/nodelist (empty where the kernel has no memory tiers).
pub fn memory_tiers(root: &std::path::Path) -> std::collections::BTreeMap<u32, u32> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(root) else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(tier) = name
            .strip_prefix("memory_tier")
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let nodes = std::fs::read_to_string(e.path().join("nodelist")).unwrap_or_default();
        for n in parse_range_list(&nodes) {
            out.insert(n, tier);
        }
    }
    out
}

/// Parses a kernel cpu/node list such as "0-3,8,10-11".
pub fn parse_range_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>())
                    && b >= a
                    && b - a < 4096
                {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(v) = part.parse() {
                    out.push(v);
                }
            }
        }
    }
    out
}

pub fn online_nodes() -> Vec<u32> {
    std::fs::read_to_string(crate::probe::paths::host("/sys/devices/system/node/online"))
        .map(|s| parse_range_list(&s))
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec![0])
}

/// Parses /proc/zoneinfo (the per-zone blocks; per-node vmstat lines are skipped).
pub fn parse_zoneinfo(text: &str) -> Vec<Zone> {
    let mut zones: Vec<Zone> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Node ") {
            // "Node 0, zone   Normal"
            if let Some((node, zone)) = rest.split_once(", zone") {
                zones.push(Zone {
                    node: node.trim().parse().unwrap_or(0),
                    zone: zone.trim().to_owned(),
                    ..Zone::default()
                });
            }
            continue;
        }
        let Some(z) = zones.last_mut() else { continue };
        if let Some(free) = t.strip_prefix("pages free") {
            z.free = free.trim().parse().unwrap_or(0);
            continue;
        }
        if let Some(th) = t.strip_prefix("vm stats threshold:") {
            z.stat_threshold = z.stat_threshold.max(th.trim().parse().unwrap_or(0));
            continue;
        }
        if t.starts_with("cpu:") {
            z.cpus += 1;
            continue;
        }
        let mut it = t.split_whitespace();
        let (Some(key), Some(val)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(v) = val.parse::<u64>() else { continue };
        match key {
            "min" => z.min = v,
            "low" => z.low = v,
            "high" => z.high = v,
            "spanned" => z.spanned = v,
            "present" => z.present = v,
            "managed" => z.managed = v,
            "start_pfn:" => z.start_pfn = v,
            _ => {}
        }
    }
    zones
}

/// First pfn of every node with memory, ascending by pfn: (start_pfn, node).
pub fn node_start_pfns(zones: &[Zone]) -> Vec<(u64, u32)> {
    let mut starts: Vec<(u64, u32)> = Vec::new();
    for z in zones.iter().filter(|z| z.spanned > 0) {
        match starts.iter_mut().find(|(_, n)| *n == z.node) {
            Some(s) => s.0 = s.0.min(z.start_pfn),
            None => starts.push((z.start_pfn, z.node)),
        }
    }
    starts.sort();
    starts
}

/// Memory cgroup hierarchy in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cgroups {
    V1 { memory: String },
    V2 { root: String },
    Hybrid { memory: String, unified: String },
    None,
}

/// The cgroup layout under a cgroup filesystem root given on the command
/// line (--cgroupfs): in a container the mount table also lists the
/// container's own cgroup mount, so the root is looked at instead.
pub fn cgroups_at(root: &Path) -> Cgroups {
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let (memory, unified) = (root.join("memory"), root.join("unified"));
    if root.join("cgroup.controllers").exists() {
        Cgroups::V2 {
            root: path(root.to_path_buf()),
        }
    } else if memory.join("memory.limit_in_bytes").exists() {
        if unified.join("cgroup.controllers").exists() {
            Cgroups::Hybrid {
                memory: path(memory),
                unified: path(unified),
            }
        } else {
            Cgroups::V1 {
                memory: path(memory),
            }
        }
    } else {
        Cgroups::None
    }
}

/// Decides the cgroup layout from /proc/mounts text.
pub fn parse_cgroups(mounts: &str) -> Cgroups {
    let mut v1_memory = None;
    let mut v2 = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        match f[2] {
            "cgroup2" => v2 = Some(f[1].to_owned()),
            "cgroup" if f[3].split(',').any(|o| o == "memory") => v1_memory = Some(f[1].to_owned()),
            _ => {}
        }
    }
    match (v1_memory, v2) {
        (Some(memory), Some(unified)) => Cgroups::Hybrid { memory, unified },
        (Some(memory), None) => Cgroups::V1 { memory },
        (None, Some(root)) => Cgroups::V2 { root },
        (None, None) => Cgroups::None,
    }
}

/// MGLRU state from /sys/kernel/mm/lru_gen/enabled: None when compiled out.
pub fn mglru_enabled() -> Option<bool> {
    let s = std::fs::read_to_string(crate::probe::paths::host("/sys/kernel/mm/lru_gen/enabled"))
        .ok()?;
    let v = u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()?;
    Some(v & 1 != 0)
}

/// Total swap in KiB and the number of swap devices (/proc/swaps).
pub fn swap_devices() -> (u64, usize) {
    let text =
        std::fs::read_to_string(crate::probe::paths::host("/proc/swaps")).unwrap_or_default();
    let mut total = 0;
    let mut n = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 {
            total += f[2].parse::<u64>().unwrap_or(0);
            n += 1;
        }
    }
    (total, n)
}

/// /proc/vmstat as name -> value (empty when unreadable).
pub fn read_vmstat() -> std::collections::BTreeMap<String, u64> {
    let text =
        std::fs::read_to_string(crate::probe::paths::host("/proc/vmstat")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The values of symbols of the kernel proper in /proc/kallsyms, in one
/// pass over the file (several megabytes, which the kernel formats on each
/// read), read line by line; 0 for one absent or hidden (kptr_restrict
/// prints zeros to unprivileged readers). Every line of the kernel proper
/// also goes to `each` (address, type, name), for what needs more than a
/// few values from the same pass.
pub fn kallsyms_lookup<const N: usize>(
    names: [&str; N],
    each: impl FnMut(u64, &str, &str),
) -> [u64; N] {
    match std::fs::File::open(crate::probe::paths::host("/proc/kallsyms")) {
        Ok(f) => kallsyms_symbols(std::io::BufReader::with_capacity(64 * 1024, f), names, each),
        Err(_) => [0; N],
    }
}

pub fn parse_kallsyms_symbol(text: &str, name: &str) -> Option<u64> {
    let [addr] = kallsyms_symbols(text.as_bytes(), [name], |_, _, _| ());
    (addr != 0).then_some(addr)
}

/// The first non-zero address of each name, and every line to `each`, up
/// to the first module symbol (a fourth column): the kernel's own come
/// first, and every name looked up is the kernel's.
pub(crate) fn kallsyms_symbols<const N: usize>(
    r: impl std::io::BufRead,
    names: [&str; N],
    mut each: impl FnMut(u64, &str, &str),
) -> [u64; N] {
    let mut out = [0; N];
    for l in r.lines().map_while(Result::ok) {
        let mut f = l.split_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if f.next().is_some() {
            break;
        }
        let addr = u64::from_str_radix(addr, 16).unwrap_or(0);
        if let Some(i) = names.iter().position(|n| *n == name)
            && out[i] == 0
        {
            out[i] = addr;
        }
        each(addr, kind, name);
    }
    out
}

/// Effective capabilities of this process (CapEff of /proc/self/status).
pub fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// What is missing to load and attach tracing programs, in words a user can
/// act on; None when the process has enough.
pub fn missing_privilege(caps: u64) -> Option<String> {
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return None;
    }
    let mut missing = Vec::new();
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        missing.push("CAP_PERFMON");
    }
    Some(format!(
        "vmscan needs root, or CAP_BPF and CAP_PERFMON (missing: {}); run it with sudo",
        missing.join(", ")
    ))
}

/// Everything `vmscan probes` reports about the system.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SystemInfo {
    pub kernel: String,
    pub btf: bool,
    pub tracefs: Result<String, String>,
    pub numa_nodes: Vec<u32>,
    pub cgroups: Cgroups,
    /// None: CONFIG_LRU_GEN compiled out.
    pub mglru: Option<bool>,
    pub swap_kib: u64,
    pub swap_devices: usize,
    pub page_size: u64,
    pub kprobes: bool,
}

impl From<&SystemInfo> for Host {
    fn from(s: &SystemInfo) -> Self {
        Self {
            kernel: s.kernel.clone(),
            numa_nodes: s.numa_nodes.clone(),
            btf: s.btf,
            kprobes: s.kprobes,
        }
    }
}

impl SystemInfo {
    pub fn gather(tracefs: &Result<PathBuf, String>) -> Self {
        let (swap_kib, swap_devices) = swap_devices();
        Self {
            kernel: kernel_release(),
            btf: Path::new(BTF_VMLINUX).exists(),
            tracefs: tracefs
                .as_ref()
                .map(|p| p.display().to_string())
                .map_err(Clone::clone),
            numa_nodes: online_nodes(),
            cgroups: match crate::probe::paths::cgroupfs_given() {
                Some(root) => cgroups_at(root),
                None => parse_cgroups(
                    &std::fs::read_to_string(crate::probe::paths::host("/proc/mounts"))
                        .unwrap_or_default(),
                ),
            },
            mglru: mglru_enabled(),
            swap_kib,
            swap_devices,
            // SAFETY: sysconf has no preconditions.
            page_size: unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64,
            kprobes: kprobes_available(tracefs.as_ref().ok()),
        }
    }
}

/// CONFIG_KPROBES leaves kprobe_events in tracefs and the kprobe PMU in sysfs.
pub fn kprobes_available(tracefs: Option<&PathBuf>) -> bool {
    crate::probe::paths::host("/sys/bus/event_source/devices/kprobe").exists()
        || tracefs.is_some_and(|t| t.join("kprobe_events").exists())
}

/// CONFIG_NODES_SHIFT from kernel `release`'s config in /boot (None when
/// that file is missing or does not say).
pub fn config_nodes_shift(release: &str) -> Option<u32> {
    let text = std::fs::read_to_string(crate::probe::paths::host(&format!(
        "/boot/config-{release}"
    )))
    .ok()?;
    parse_config_int(&text, "CONFIG_NODES_SHIFT").map(|v| v as u32)
}

/// CONFIG_NUMA off means NODES_SHIFT 0; otherwise the value of `name`.
pub fn parse_config_int(text: &str, name: &str) -> Option<u64> {
    if name == "CONFIG_NODES_SHIFT" && text.contains("# CONFIG_NUMA is not set") {
        return Some(0);
    }
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('=')?.trim().parse().ok())
}

/// MemTotal in pages (totalram_pages).
pub fn total_ram_pages(page_size: u64) -> u64 {
    let text =
        std::fs::read_to_string(crate::probe::paths::host("/proc/meminfo")).unwrap_or_default();
    let kib: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    kib * 1024 / page_size.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_layout_under_a_given_root() {
        let root = std::env::temp_dir().join(format!("vmscan-cgroups-at-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mk = |rel: &str, file: &str| {
            std::fs::create_dir_all(root.join(rel)).unwrap();
            std::fs::write(root.join(rel).join(file), "").unwrap();
        };
        assert_eq!(cgroups_at(&root), Cgroups::None);
        mk("memory", "memory.limit_in_bytes");
        assert_eq!(
            cgroups_at(&root),
            Cgroups::V1 {
                memory: format!("{}/memory", root.display())
            }
        );
        mk("unified", "cgroup.controllers");
        assert!(matches!(cgroups_at(&root), Cgroups::Hybrid { .. }));
        mk("", "cgroup.controllers");
        assert_eq!(
            cgroups_at(&root),
            Cgroups::V2 {
                root: root.display().to_string()
            }
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn range_lists() {
        assert_eq!(parse_range_list("0\n"), vec![0]);
        assert_eq!(parse_range_list("0-2,5,7-8"), vec![0, 1, 2, 5, 7, 8]);
        assert_eq!(parse_range_list(""), Vec::<u32>::new());
        assert_eq!(parse_range_list("3-1,x"), Vec::<u32>::new());
    }

    #[test]
    fn zoneinfo_watermarks_and_node_starts() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/zoneinfo-2node"
        ))
        .unwrap();
        let zones = parse_zoneinfo(&text);
        let normal1: Vec<_> = zones
            .iter()
            .filter(|z| z.node == 1 && z.zone == "Normal")
            .collect();
        assert_eq!(normal1.len(), 1);
        let z = normal1[0];
        assert_eq!(
            (z.free, z.min, z.low, z.high),
            (120_000, 2_000, 2_500, 3_000)
        );
        assert_eq!(z.start_pfn, 262_144);
        assert_eq!(node_start_pfns(&zones), vec![(1, 0), (262_144, 1)]);
        // Per-CPU slack of node counters: CPUs x the largest zone threshold.
        use crate::model::input::{global_stat_slack, node_stat_slack};
        let th: Vec<(u32, &str, u64, u64)> = zones
            .iter()
            .map(|z| (z.node, z.zone.as_str(), z.stat_threshold, z.cpus))
            .collect();
        assert!(
            th.contains(&(0, "DMA", 4, 2)) && th.contains(&(0, "DMA32", 24, 2)),
            "{th:?}"
        );
        assert_eq!(node_stat_slack(&zones, 0), Some(48));
        assert_eq!(
            global_stat_slack(&zones),
            node_stat_slack(&zones, 0)
                .zip(node_stat_slack(&zones, 1))
                .map(|(a, b)| a + b)
        );
        assert_eq!(node_stat_slack(&zones, 7), None);
    }

    #[test]
    fn cgroup_layouts() {
        let v1 = "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n";
        assert_eq!(
            parse_cgroups(v1),
            Cgroups::V1 {
                memory: "/sys/fs/cgroup/memory".into()
            }
        );
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(
            parse_cgroups(v2),
            Cgroups::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
        let both = format!("{v1}cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n");
        assert!(matches!(parse_cgroups(&both), Cgroups::Hybrid { .. }));
        assert_eq!(parse_cgroups("proc /proc proc rw 0 0\n"), Cgroups::None);
    }

    #[test]
    fn kallsyms_hidden_addresses_are_none() {
        let text = "ffffffff82a0b000 D vmemmap_base\n0000000000000000 D page_offset_base\n";
        assert_eq!(
            parse_kallsyms_symbol(text, "vmemmap_base"),
            Some(0xffffffff82a0b000)
        );
        assert_eq!(parse_kallsyms_symbol(text, "page_offset_base"), None);
        assert_eq!(parse_kallsyms_symbol(text, "nope"), None);
        // Several names in one pass; a hidden (zero) entry does not hide a
        // later real one.
        let text = "0000000000000000 D khugepaged_thread\nffffffff82a0b000 D vmemmap_base\nffffffff83000000 b khugepaged_thread\n";
        assert_eq!(
            kallsyms_symbols(
                text.as_bytes(),
                ["vmemmap_base", "khugepaged_thread", "nope"],
                |_, _, _| ()
            ),
            [0xffffffff82a0b000, 0xffffffff83000000, 0]
        );
        // Every line of the kernel proper is handed on; module symbols end
        // the pass (a module's vmemmap_base is not the kernel's).
        let text = "ffffffff81000000 T _stext\nffffffff82a0b000 D vmemmap_base\nffffffffc0000000 t init\t[m]\nffffffffc0001000 D vmemmap_base\t[m]\n";
        let mut seen = vec![];
        let [v] = kallsyms_symbols(text.as_bytes(), ["vmemmap_base"], |a, k, n| {
            seen.push((a, k.to_owned(), n.to_owned()))
        });
        assert_eq!(v, 0xffffffff82a0b000);
        assert_eq!(
            seen,
            [
                (0xffffffff81000000, "T".to_owned(), "_stext".to_owned()),
                (
                    0xffffffff82a0b000,
                    "D".to_owned(),
                    "vmemmap_base".to_owned()
                )
            ]
        );
    }

    #[test]
    fn privileges() {
        assert!(missing_privilege(1 << CAP_SYS_ADMIN).is_none());
        assert!(missing_privilege(1 << CAP_BPF | 1 << CAP_PERFMON).is_none());
        let m = missing_privilege(1 << CAP_BPF).unwrap();
        assert!(m.contains("CAP_PERFMON") && !m.contains("CAP_BPF,"), "{m}");
        assert!(
            missing_privilege(0)
                .unwrap()
                .contains("CAP_BPF, CAP_PERFMON")
        );
    }
}
