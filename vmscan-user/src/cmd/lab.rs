//! Hidden helpers for the kernel lab's workloads (busybox has no numactl
//! and no mmap tool): read a file with memory bound to one node, map a file
//! and touch it.

use std::{io::Read as _, os::fd::AsRawFd as _, path::Path};

use anyhow::{Context as _, bail};

/// set_mempolicy(MPOL_BIND, {node}) for this task, then read `file` so its
/// page cache is allocated on `node`.
pub fn read_bound(node: u32, file: &Path) -> anyhow::Result<()> {
    bind_memory(Some(node))?;
    // Run on the node's CPUs too: the kernel's own allocations for the file
    // (page cache xarray nodes, which hold the shadow entries refaults
    // need) come from the CPU's slabs, which may sit on another node.
    pin_to_node_cpus(node)?;
    let mut f = std::fs::File::open(file).with_context(|| file.display().to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// set_mempolicy(MPOL_BIND, {node}) for this task, or back to the default
/// policy (None).
fn bind_memory(node: Option<u32>) -> anyhow::Result<()> {
    const MPOL_DEFAULT: i32 = 0;
    const MPOL_BIND: i32 = 2;
    let (mode, mask) = match node {
        Some(n) if n >= 64 => bail!("node {n}: at most 63"),
        Some(n) => (MPOL_BIND, 1u64 << n),
        None => (MPOL_DEFAULT, 0),
    };
    // SAFETY: set_mempolicy reads a one-word node mask of 64 bits (none
    // for MPOL_DEFAULT).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode,
            if node.is_some() {
                &mask as *const u64
            } else {
                std::ptr::null()
            },
            if node.is_some() { 64u64 } else { 0 },
        )
    };
    if rc != 0 {
        bail!(
            "set_mempolicy({}): {}",
            node.map_or("MPOL_DEFAULT".to_owned(), |n| format!(
                "MPOL_BIND, node {n}"
            )),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Pages per node of the `len` bytes mapped at `p`, every page present
/// (move_pages(2) with no target nodes only reports where each page is).
fn pages_by_node(p: *const u8, len: usize) -> anyhow::Result<std::collections::BTreeMap<i32, u64>> {
    // SAFETY: addresses inside the caller's mapping; move_pages only reads them.
    let pages: Vec<*const libc::c_void> = (0..len)
        .step_by(4096)
        .map(|o| unsafe { p.add(o) }.cast())
        .collect();
    let mut status = vec![0i32; pages.len()];
    // SAFETY: move_pages reads `pages` and writes one status per page.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0,
            pages.len() as libc::c_ulong,
            pages.as_ptr(),
            std::ptr::null::<i32>(),
            status.as_mut_ptr(),
            0,
        )
    };
    if rc != 0 {
        bail!("move_pages (query): {}", std::io::Error::last_os_error());
    }
    let mut by = std::collections::BTreeMap::new();
    for s in status {
        if s < 0 {
            bail!(
                "move_pages (query): a page not present: {}",
                std::io::Error::from_raw_os_error(-s)
            );
        }
        *by.entry(s).or_insert(0) += 1;
    }
    Ok(by)
}

/// "0=N 1=M": pages per node, summed over `maps`.
fn by_node_text(maps: &[std::collections::BTreeMap<i32, u64>]) -> String {
    let mut all = std::collections::BTreeMap::new();
    for m in maps {
        for (n, p) in m {
            *all.entry(*n).or_insert(0u64) += p;
        }
    }
    all.iter()
        .map(|(n, p)| format!("{n}={p}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// sched_setaffinity to the CPUs /sys/devices/system/node/nodeN/cpulist
/// names (none listed: left as is).
fn pin_to_node_cpus(node: u32) -> anyhow::Result<()> {
    let list = std::fs::read_to_string(format!("/sys/devices/system/node/node{node}/cpulist"))
        .unwrap_or_default();
    let mut cpus = vec![];
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
        cpus.extend(a..=b);
    }
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for c in cpus {
        // SAFETY: as above; CPU_SET ignores CPUs beyond the set's size.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: sched_setaffinity reads the set we pass for this thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        bail!(
            "sched_setaffinity to node {node}'s CPUs ({}): {}",
            list.trim(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Maps `file`, reads one byte per page (setting the young bits), and
/// returns; with `advice` = "random" or "sequential" the mapping gets that
/// madvise first (which clears VM recency: no exit-time marks).
pub fn map_touch(
    file: &Path,
    advice: Option<&str>,
    exec: Option<(&Path, &[String])>,
) -> anyhow::Result<()> {
    let f = std::fs::File::open(file).with_context(|| file.display().to_string())?;
    let len = f.metadata()?.len() as usize;
    let p = map_shared(&f, len)
        .map_err(|e| anyhow::anyhow!("mmap {}: {e}", file.display()))?
        .cast::<libc::c_void>();
    let adv = match advice {
        None => None,
        Some("random") => Some(libc::MADV_RANDOM),
        Some("sequential") => Some(libc::MADV_SEQUENTIAL),
        Some(other) => bail!("advice `{other}`: expected random or sequential"),
    };
    if let Some(a) = adv {
        // SAFETY: advising our own mapping.
        if unsafe { libc::madvise(p, len, a) } != 0 {
            bail!("madvise: {}", std::io::Error::last_os_error());
        }
    }
    let mut sum = 0u64;
    for off in (0..len).step_by(4096) {
        // SAFETY: off < len, inside the mapping.
        sum =
            sum.wrapping_add(unsafe { std::ptr::read_volatile((p as *const u8).add(off)) } as u64);
    }
    std::hint::black_box(sum);
    if let Some((program, args)) = exec {
        // execve drops this address space (exec_mmap -> mmput -> exit_mmap)
        // in this task, which is not exiting.
        use std::os::unix::process::CommandExt as _;
        let e = std::process::Command::new(program).args(args).exec();
        bail!("exec {}: {e}", program.display());
    }
    // Exit without munmap: the exit path (exit_mmap -> zap_pte_range) tears
    // the mapping down, which is what the lab observes.
    Ok(())
}

/// Writes `mib` MiB of private anonymous memory, then asks MADV_PAGEOUT for
/// all of it: reclaim_pages() (no reclaim pass around it). Without swap it
/// cannot page anything out and activates every page (pgactivate).
pub fn pageout_anon(mib: usize) -> anyhow::Result<()> {
    let len = mib << 20;
    let p = map_anon(len)?;
    for off in (0..len).step_by(4096) {
        // SAFETY: off < len, inside the writable mapping.
        unsafe { std::ptr::write_volatile((p as *mut u8).add(off), 1) };
    }
    // SAFETY: advising and then unmapping our own mapping.
    let r = unsafe { libc::madvise(p, len, libc::MADV_PAGEOUT) };
    let e = std::io::Error::last_os_error();
    unsafe { libc::munmap(p, len) };
    if r != 0 {
        bail!("madvise(MADV_PAGEOUT): {e}");
    }
    Ok(())
}

/// A huge page (PMD size on x86-64).
const HUGE: usize = 2 << 20;

/// MADV_FREE of `mib` MiB of anonymous memory in small pages
/// (MADV_NOHUGEPAGE) and `mib` MiB asked for in transparent huge pages
/// (MADV_HUGEPAGE), each written first: the kernel's lazyfree batch moves
/// every folio to the inactive file list and counts pglazyfree. Pinned to
/// CPU 0, so the munmaps at the end (lru_add_drain) leave no folio waiting
/// in another CPU's batch. Prints the huge pages the second range got, and
/// the pages per node (`lazyfree by node: 0=N`, from move_pages(2)).
pub fn lazyfree_anon(mib: usize) -> anyhow::Result<()> {
    let len = mib << 20;
    if len == 0 || !len.is_multiple_of(HUGE) {
        bail!("{mib} MiB: a positive multiple of 2 MiB");
    }
    pin_to_cpu0()?;
    let mut huge_kib = 0;
    let mut maps = vec![];
    let mut nodes = vec![];
    for (advice, name) in [
        (libc::MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE"),
        (libc::MADV_HUGEPAGE, "MADV_HUGEPAGE"),
    ] {
        let (raw, p) = map_aligned(len)?;
        maps.push(raw);
        let advise = |advice: i32, name: &str| -> anyhow::Result<()> {
            // SAFETY: advising a range inside our mapping.
            if unsafe { libc::madvise(p.cast(), len, advice) } != 0 {
                bail!("madvise({name}): {}", std::io::Error::last_os_error());
            }
            Ok(())
        };
        advise(advice, name)?;
        for off in (0..len).step_by(4096) {
            // SAFETY: off < len, inside the aligned part of the mapping.
            unsafe { std::ptr::write_volatile(p.add(off), 1) };
        }
        if advice == libc::MADV_HUGEPAGE {
            huge_kib = std::fs::read_to_string("/proc/self/smaps_rollup")
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("AnonHugePages:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
        nodes.push(pages_by_node(p, len)?);
        advise(libc::MADV_FREE, "MADV_FREE")?;
    }
    for raw in maps {
        // SAFETY: unmapping our own mappings (map_aligned's length).
        unsafe { libc::munmap(raw, len + HUGE) };
    }
    println!("{} KiB in huge pages", huge_kib);
    println!("lazyfree by node: {}", by_node_text(&nodes));
    Ok(())
}

/// Pins this thread to CPU 0: the per-CPU LRU batches it fills are then all
/// CPU 0's, and its own munmaps (lru_add_drain) drain them.
fn pin_to_cpu0() -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t with CPU 0 set, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!("pinning to CPU 0: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The deactivation batches, pinned to CPU 0, in `dir` (a disk file
/// system: tmpfs ignores POSIX_FADV_DONTNEED):
/// - `cold`: a `mib` MiB file written, synced and read three times (the
///   second read activates each folio on the classic LRU), mapped shared,
///   every page touched, then MADV_COLD (lru_deactivate: every active
///   folio, every folio under MGLRU);
/// - `inval`: a `mib` MiB file written, synced and read three times
///   (active, clean), its first half mapped and touched, its second half
///   spliced into pipes (which hold a reference to each folio), then
///   POSIX_FADV_DONTNEED: invalidation cannot drop a mapped or referenced
///   folio, so lru_deactivate_file gets both halves and counts the second
///   (the mapped half returns early). Synced first because 6.x's
///   invalidation passes over folios under writeback.
///
/// Where a node 1 takes memory (the lab's two nodes), `cold`'s page cache
/// is bound to node 1 and `inval`'s to node 0, so that vmscan's per-node
/// figures are tested. The munmaps at the end drain CPU 0's batches. Prints
/// the pages of each, and the pages the kernel should count as deactivated
/// per node (`deactivated by node: 0=N 1=M`, from move_pages(2)).
pub fn deactivate(mib: usize, dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let len = mib << 20;
    if len == 0 {
        bail!("{mib} MiB: a positive size");
    }
    pin_to_cpu0()?;
    let chunk = vec![0x5a_u8; 1 << 20];
    let fill = |f: &std::fs::File| -> anyhow::Result<()> {
        for off in (0..len).step_by(chunk.len()) {
            f.write_all_at(&chunk, off as u64)?;
        }
        Ok(())
    };
    let read3 = |f: &std::fs::File| -> anyhow::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..3 {
            for off in (0..len).step_by(buf.len()) {
                f.read_exact_at(&mut buf, off as u64)?;
            }
        }
        Ok(())
    };
    let open = |name: &str| -> anyhow::Result<std::fs::File> {
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .with_context(|| format!("creating {}", p.display()))
    };
    // A shared read-only mapping of the first `bytes` of `f`, every page
    // touched (mapped); unmapped by the caller.
    let map = |f: &std::fs::File, bytes: usize| -> anyhow::Result<*mut u8> {
        let p = map_shared(f, bytes).map_err(|e| anyhow::anyhow!("mmap: {e}"))?;
        for off in (0..bytes).step_by(4096) {
            // SAFETY: off < bytes, inside the mapping.
            unsafe { std::ptr::read_volatile(p.add(off)) };
        }
        Ok(p)
    };

    // A failed bind (one node, or node 1 without memory) leaves the policy
    // as it was.
    let two_nodes = bind_memory(Some(1)).is_ok();
    let cold = open("cold")?;
    fill(&cold)?;
    cold.sync_all()?;
    read3(&cold)?;
    bind_memory(two_nodes.then_some(0))?;
    let p = map(&cold, len)?;
    let cold_nodes = pages_by_node(p, len)?;
    // SAFETY: advising our own mapping.
    if unsafe { libc::madvise(p.cast(), len, libc::MADV_COLD) } != 0 {
        bail!("madvise(MADV_COLD): {}", std::io::Error::last_os_error());
    }
    // SAFETY: unmapping our own mapping.
    unsafe { libc::munmap(p.cast(), len) };

    let inval = open("inval")?;
    fill(&inval)?;
    inval.sync_all()?;
    read3(&inval)?;
    bind_memory(None)?;
    let half = len / 2;
    // Mapped whole to find the nodes of the half the pipes will hold, which
    // is then unmapped (its folios stay active).
    let p = map(&inval, len)?;
    // SAFETY: half < len, inside the mapping.
    let tail = unsafe { p.add(half) };
    let pinned_nodes = pages_by_node(tail, len - half)?;
    // SAFETY: unmapping the second half of our own mapping.
    unsafe { libc::munmap(tail.cast(), len - half) };
    let pipes = pin_in_pipes(&inval, half as u64, (len - half) as u64)?;
    // SAFETY: a plain advice call on our own descriptor.
    let rc = unsafe { libc::posix_fadvise(inval.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        bail!(
            "posix_fadvise(DONTNEED): {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
    // SAFETY: unmapping our own mapping.
    unsafe { libc::munmap(p.cast(), half) };
    drop(pipes);
    println!(
        "cold {} pages, inval {} pages ({} mapped, {} in pipes)",
        len / 4096,
        len / 4096,
        half / 4096,
        (len - half) / 4096
    );
    println!(
        "deactivated by node: {}",
        by_node_text(&[cold_nodes, pinned_nodes])
    );
    Ok(())
}

/// The mlock batch (mlock_folio_batch), pinned to CPU 0: a `mib` MiB file
/// in `dir` written, synced and read (page cache on an LRU list), mapped
/// shared and touched, then mlocked: each folio moves from its file list
/// to the unevictable list (LRU_FOLIO). Then `mib`/2 MiB of anonymous
/// memory (no huge pages) mlocked before it is touched: mlock faults each
/// page in, a new folio of a locked VMA that goes straight to the
/// unevictable list (NEW_FOLIO, no mm_lru_insertion). Then both are
/// munlocked: back to the inactive lists. mlock and munlock drain CPU 0's
/// batch at their end (lru_add_drain). Prints the pages and the growth of
/// /proc/vmstat's unevictable_pgs_* over the calls (read in this process,
/// which writes nothing else meanwhile).
pub fn mlock(mib: usize, dir: &Path) -> anyhow::Result<()> {
    let len = mib << 20;
    if len == 0 {
        bail!("{mib} MiB: a positive size");
    }
    let anon_len = len / 2;
    pin_to_cpu0()?;
    let p = dir.join("mlock");
    let f = cached_file(&p, len)?;
    let file = map_shared(&f, len).map_err(|e| anyhow::anyhow!("mmap: {e}"))?;
    for off in (0..len).step_by(4096) {
        // SAFETY: off < len, inside the mapping.
        unsafe { std::ptr::read_volatile(file.add(off)) };
    }
    let anon = map_anon(anon_len)?;
    // Small folios only, so the pages are the folios mlock faults in. A
    // kernel without THP refuses the advice, and has none anyway.
    // SAFETY: advising our own mapping.
    unsafe { libc::madvise(anon, anon_len, libc::MADV_NOHUGEPAGE) };
    let counters = || vmstat_of(&["unevictable_pgs_"]);
    let before = counters()?;
    let call = |what: &str, rc: i32| -> anyhow::Result<()> {
        if rc != 0 {
            bail!("{what}: {}", std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: locking and unlocking our own mappings.
    unsafe {
        call("mlock (file)", libc::mlock(file.cast(), len))?;
        call("mlock (anon)", libc::mlock(anon, anon_len))?;
        call("munlock (file)", libc::munlock(file.cast(), len))?;
        call("munlock (anon)", libc::munlock(anon, anon_len))?;
    }
    let after = counters()?;
    // SAFETY: unmapping our own mappings.
    unsafe {
        libc::munmap(file.cast(), len);
        libc::munmap(anon, anon_len);
    }
    drop(f);
    let _ = std::fs::remove_file(&p);
    println!("file {} pages, anon {} pages", len / 4096, anon_len / 4096);
    let delta: Vec<String> = after
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                v.saturating_sub(before.get(k).copied().unwrap_or(0))
            )
        })
        .collect();
    println!("vmstat: {}", delta.join(", "));
    Ok(())
}

/// Compaction's migrate scanner: a `mib` MiB file in `dir` written, synced
/// and read (clean page cache), every other page of it dropped
/// (POSIX_FADV_DONTNEED, one page at a time) so that free pages and page
/// cache interleave, then all memory compacted (/proc/sys/vm/compact_memory,
/// which isolates the movable pages it finds and migrates them); repeated
/// with a fresh file, up to 4 rounds, until 1,024 pages were migrated.
/// Prints the growth of /proc/vmstat's migration and compaction counters
/// over the compactions (read in this process).
pub fn compact(mib: usize, dir: &Path) -> anyhow::Result<()> {
    // How much one compaction migrates depends on where the two scanners
    // meet: rounds (a fresh file each) until it has migrated this much.
    const ENOUGH: u64 = 1024;
    const ROUNDS: usize = 4;
    let len = mib << 20;
    if len == 0 {
        bail!("{mib} MiB: a positive size");
    }
    let counters = || vmstat_of(&["pgmigrate_", "compact_"]);
    let p = dir.join("compact");
    let mut delta = std::collections::BTreeMap::<String, u64>::new();
    let mut rounds = 0;
    while rounds < ROUNDS && delta.get("pgmigrate_success").copied().unwrap_or(0) < ENOUGH {
        rounds += 1;
        let f = cached_file(&p, len)?;
        for off in (0..len).step_by(2 * 4096) {
            // SAFETY: a plain advice call on our own descriptor.
            let rc = unsafe {
                libc::posix_fadvise(f.as_raw_fd(), off as i64, 4096, libc::POSIX_FADV_DONTNEED)
            };
            if rc != 0 {
                bail!(
                    "posix_fadvise(DONTNEED): {}",
                    std::io::Error::from_raw_os_error(rc)
                );
            }
        }
        let before = counters()?;
        std::fs::write("/proc/sys/vm/compact_memory", "1")
            .context("writing /proc/sys/vm/compact_memory")?;
        for (k, v) in counters()? {
            *delta.entry(k.clone()).or_default() +=
                v.saturating_sub(before.get(&k).copied().unwrap_or(0));
        }
        drop(f);
        let _ = std::fs::remove_file(&p);
    }
    println!(
        "file {} pages, every other one dropped; {rounds} compaction round(s)",
        len / 4096
    );
    let delta: Vec<String> = delta.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("vmstat: {}", delta.join(", "));
    Ok(())
}

/// A new `len`-byte file at `p` (any old one removed), written, synced
/// and read once: clean page cache on an LRU list.
fn cached_file(p: &Path, len: usize) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::FileExt as _;
    let _ = std::fs::remove_file(p);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(p)
        .with_context(|| format!("creating {}", p.display()))?;
    let chunk = vec![0x6b_u8; 1 << 20];
    for off in (0..len).step_by(chunk.len()) {
        f.write_all_at(&chunk[..chunk.len().min(len - off)], off as u64)?;
    }
    f.sync_all()?;
    let mut buf = vec![0u8; 1 << 20];
    for off in (0..len).step_by(buf.len()) {
        let n = buf.len().min(len - off);
        f.read_exact_at(&mut buf[..n], off as u64)?;
    }
    Ok(f)
}

/// /proc/vmstat's counters whose names start with one of `prefixes`.
fn vmstat_of(prefixes: &[&str]) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/vmstat").context("reading /proc/vmstat")?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
        .collect())
}

/// A shared read-only mapping of the first `len` bytes of `f`; the caller
/// unmaps it.
fn map_shared(f: &std::fs::File, len: usize) -> std::io::Result<*mut u8> {
    // SAFETY: a fresh shared read-only mapping of a file the caller holds
    // open; the caller unmaps it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// Splices `len` bytes of `f` from `off` into pipes of 1 MiB, which then
/// hold a reference to each page-cache folio until they are dropped.
fn pin_in_pipes(f: &std::fs::File, off: u64, len: u64) -> anyhow::Result<Vec<[std::fs::File; 2]>> {
    use std::os::fd::FromRawFd as _;
    const PIPE: u64 = 1 << 20;
    let mut pipes = vec![];
    let mut at = off;
    while at < off + len {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            bail!("pipe2: {}", std::io::Error::last_os_error());
        }
        // SAFETY: two fresh descriptors we own from here on.
        let pair = unsafe {
            [
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            ]
        };
        // SAFETY: a plain fcntl on our own pipe.
        if unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE as libc::c_int) } < 0 {
            bail!("F_SETPIPE_SZ 1 MiB: {}", std::io::Error::last_os_error());
        }
        let end = (at + PIPE).min(off + len);
        while at < end {
            let mut from = at as libc::loff_t;
            // SAFETY: splicing from our file into our pipe.
            let n = unsafe {
                libc::splice(
                    f.as_raw_fd(),
                    &mut from,
                    fds[1],
                    std::ptr::null_mut(),
                    (end - at) as usize,
                    libc::SPLICE_F_NONBLOCK,
                )
            };
            if n <= 0 {
                bail!(
                    "splice at {at}: {}",
                    if n == 0 {
                        "end of file".to_owned()
                    } else {
                        std::io::Error::last_os_error().to_string()
                    }
                );
            }
            at += n as u64;
        }
        pipes.push(pair);
    }
    Ok(pipes)
}

/// A fresh private anonymous read-write mapping of `len` bytes, nothing
/// touched yet; the caller unmaps it.
fn map_anon(len: usize) -> anyhow::Result<*mut libc::c_void> {
    // SAFETY: a fresh private anonymous mapping; the callers unmap it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!(
            "mmap {} KiB: {}",
            len >> 10,
            std::io::Error::last_os_error()
        );
    }
    Ok(p)
}

/// A private anonymous mapping of `len` bytes plus 2 MiB: (the mapping, for
/// munmap of `len` + 2 MiB, and its first 2 MiB-aligned address, with `len`
/// bytes behind it).
fn map_aligned(len: usize) -> anyhow::Result<(*mut libc::c_void, *mut u8)> {
    // Room to align; the callers unmap it.
    let raw = map_anon(len + HUGE)?;
    Ok((raw, ((raw as usize + HUGE - 1) & !(HUGE - 1)) as *mut u8))
}

/// Maps `mib` MiB of anonymous memory aligned to 2 MiB, asks for huge pages
/// (MADV_HUGEPAGE) and writes every page twice over: in a cgroup smaller
/// than that, reclaim meets large folios (swapped whole or split).
pub fn touch_thp(mib: usize) -> anyhow::Result<()> {
    let len = mib << 20;
    let (raw, p) = map_aligned(len)?;
    // SAFETY: advising a range inside our mapping.
    if unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) } != 0 {
        bail!(
            "madvise(MADV_HUGEPAGE): {}",
            std::io::Error::last_os_error()
        );
    }
    for round in 1..=2u8 {
        for off in (0..len).step_by(4096) {
            // SAFETY: off < len, inside the aligned part of the mapping.
            unsafe { std::ptr::write_volatile(p.add(off), round) };
        }
    }
    // SAFETY: unmapping our own mapping.
    unsafe { libc::munmap(raw, len + HUGE) };
    Ok(())
}

/// khugepaged collapsing into a full memory cgroup: `mib` MiB of anonymous
/// memory faulted in small pages (MADV_NOHUGEPAGE), then `fill` read whole
/// (the cgroup's limit is then full of page cache), then MADV_HUGEPAGE, which
/// hands the range to khugepaged. Each huge page it makes is charged to the
/// cgroup first, so khugepaged reclaims there itself. Waits up to `secs` for
/// the range to be collapsed and prints how much was.
pub fn collapse(mib: usize, fill: &Path, secs: u64) -> anyhow::Result<()> {
    let len = mib << 20;
    if len == 0 || !len.is_multiple_of(HUGE) {
        bail!("{mib} MiB: a positive multiple of 2 MiB");
    }
    let (raw, p) = map_aligned(len)?;
    let advise = |advice: i32, name: &str| -> anyhow::Result<()> {
        // SAFETY: advising a range inside our mapping.
        if unsafe { libc::madvise(p.cast(), len, advice) } != 0 {
            bail!("madvise({name}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    };
    advise(libc::MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE")?;
    for off in (0..len).step_by(4096) {
        // SAFETY: off < len, inside the aligned part of the mapping.
        unsafe { std::ptr::write_volatile(p.add(off), 1) };
    }
    let mut f = std::fs::File::open(fill).with_context(|| fill.display().to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    advise(libc::MADV_HUGEPAGE, "MADV_HUGEPAGE")?;
    let huge_kib = || -> u64 {
        std::fs::read_to_string("/proc/self/smaps_rollup")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("AnonHugePages:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while huge_kib() < (len >> 10) as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!("collapsed {} of {} KiB", huge_kib(), len >> 10);
    // SAFETY: unmapping our own mapping.
    unsafe { libc::munmap(raw, len + HUGE) };
    Ok(())
}

/// The least extra memory (bytes) that vmscan's what-if curve says avoids
/// `percent` of cgroup `memcg`'s refaults, from a `vmscan refaults --json`
/// file; an error when the curve has no such point.
pub fn extra_for(file: &Path, memcg: &str, percent: f64) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let start = text.find('{').context("no JSON object")?;
    let v: serde_json::Value = serde_json::from_str(&text[start..])?;
    let m = v["memcgs"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["path"] == memcg))
        .with_context(|| format!("no refaults of {memcg}"))?;
    let curve = m["what_if"].as_array().context("no what-if curve")?;
    let x = curve
        .iter()
        .find(|p| p["percent"].as_f64().unwrap_or(0.0) + 1e-9 >= percent)
        .and_then(|p| p["extra_bytes"].as_u64())
        .with_context(|| format!("no point of {memcg}'s curve reaches {percent}%"))?;
    crate::out::line(&x.to_string())?;
    Ok(())
}

/// (bench) The storm generator: getppid() in a loop, `rate` records per
/// second at most (each call emits STORM_BATCH records once vmscan
/// attaches its storm program to this process), until killed.
pub fn storm_generate(rate: Option<f64>) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let mut calls = 0u64;
    loop {
        for _ in 0..256 {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
        calls += 256;
        if let Some(r) = rate {
            let due = calls as f64 * vmscan_common::STORM_BATCH as f64 / r;
            let now = start.elapsed().as_secs_f64();
            if due > now {
                std::thread::sleep(std::time::Duration::from_secs_f64(due - now));
            }
        }
    }
}

/// What `vmscan bench-ingest` measured.
#[derive(Debug, serde::Serialize)]
pub struct IngestReport {
    pub seconds: f64,
    /// Records the kernel submitted to the ring buffer (all of the run).
    pub sent: u64,
    /// Reserves that failed because the ring was full.
    pub lost: u64,
    /// Storm records drained and applied to the model (all of the run:
    /// equal to `sent` when nothing is lost).
    pub drained: u64,
    /// Storm records that did not read back as the shrink pass the storm
    /// program writes (kind SHRINK_INACTIVE, 32 pages scanned): 0 unless the
    /// two sides disagree on the record.
    pub misread: u64,
    /// Drained per second within the timed window.
    pub drained_per_sec: f64,
    /// vmscan's own CPU time (the drain; the generator is another process)
    /// over the window, as a fraction of one core.
    pub cpu: f64,
}

/// A record the storm program wrote, decoded by the model as the shrink
/// pass it stands for.
fn is_storm_pass(e: &vmscan_common::Event) -> bool {
    use crate::model::event::Episode;
    matches!(
        Episode::try_from(e),
        Ok(Episode::ShrinkInactive {
            scanned: 32,
            reclaimer: vmscan_common::reclaimer::OTHER,
            ..
        })
    )
}

fn storm_counts(ebpf: &aya::Ebpf) -> anyhow::Result<(u64, u64)> {
    let m: aya::maps::PerCpuArray<_, u64> =
        aya::maps::PerCpuArray::try_from(ebpf.map("STORM").context("STORM map")?)?;
    let sum = |i: u32| -> anyhow::Result<u64> { Ok(m.get(&i, 0)?.iter().sum()) };
    Ok((sum(0)?, sum(1)?))
}

fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// (bench) Ingest under a synthetic kernel-side storm: a generator process
/// makes the storm program emit records; vmscan drains them through its
/// usual path (ring buffer -> model) for `seconds`, then the generator stops
/// and the ring is drained dry: drained must equal sent.
pub async fn bench_ingest(
    seconds: f64,
    rate: Option<f64>,
    mut load: crate::probe::loader::LoadOptions,
) -> anyhow::Result<()> {
    let mut generator = std::process::Command::new(std::env::current_exe()?);
    generator.arg("storm-generator");
    if let Some(r) = rate {
        generator.arg("--rate").arg(r.to_string());
    }
    let mut child = generator.spawn().context("starting the storm generator")?;
    let gen_pid = child.id();
    load.storm_tgid = gen_pid;
    let misread = std::cell::Cell::new(0u64);
    let storm = |evs: Vec<vmscan_common::Event>| {
        let ours = evs.iter().filter(|e| e.pid == gen_pid);
        let bad = ours.clone().filter(|e| !is_storm_pass(e)).count() as u64;
        misread.set(misread.get() + bad);
        ours.count() as u64
    };
    let res = async {
        let mut s = crate::live::Session::start(load)?;
        // Everything the storm program ever sent is counted, from attach on.
        let early = storm(s.pump_events_now().events);
        let (t0, c0) = (std::time::Instant::now(), cpu_secs());
        let mut drained = 0u64;
        let deadline = tokio::time::sleep(std::time::Duration::from_secs_f64(seconds));
        tokio::pin!(deadline);
        let mut stop = crate::stop::Signals::new()?;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = stop.recv() => break,
                r = s.pump_events() => drained += storm(r?.events),
            }
        }
        let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - c0);
        let _ = child.kill();
        let _ = child.wait();
        let late = storm(s.pump_events_now().events);
        let (sent, lost) = storm_counts(&s.loaded.ebpf)?;
        anyhow::Ok(IngestReport {
            seconds: secs,
            sent,
            lost,
            drained: early + drained + late,
            misread: misread.get(),
            drained_per_sec: drained as f64 / secs,
            cpu: cpu / secs,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    crate::out::line(&serde_json::to_string(&res?)?)?;
    Ok(())
}

/// This thread's CPU time in ns (CLOCK_THREAD_CPUTIME_ID).
fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime fills the timespec we pass.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What `bench-read` measured.
#[derive(serde::Serialize)]
pub struct ReadReport {
    pub possible_cpus: usize,
    pub rounds: u32,
    pub reads_per_round: u32,
    /// CPU time of one reading of every aggregate map (the part of an
    /// interval that grows with possible CPUs), median over the rounds.
    pub batched_us: f64,
    pub element_us: f64,
    /// batched / element, median of the rounds' ratios.
    pub ratio: f64,
    /// Whether the kernel took a batch on every map (else `batched_us`
    /// measured the element-by-element fallback too).
    pub maps_batched: bool,
    /// The maps the kernel refused a batch on, with its error.
    pub unbatched: std::collections::BTreeMap<String, String>,
    /// Value bytes (every possible CPU's) one reading copies out, in all
    /// and per map, largest first.
    pub bytes_per_read: u64,
    pub bytes_by_map: Vec<(String, u64)>,
}

/// (bench) The CPU time of one reading of the aggregate maps, in batches
/// and element by element, interleaved round by round on one load.
pub fn bench_read(
    rounds: u32,
    reads: u32,
    load: crate::probe::loader::LoadOptions,
) -> anyhow::Result<()> {
    crate::probe::loader::check_privileges()?;
    crate::probe::loader::raise_memlock();
    let mut loaded = crate::probe::loader::load(load)?;
    let reader = crate::probe::read::Reader::new(&mut loaded.ebpf)?;
    let time = |on: bool| -> anyhow::Result<f64> {
        reader.enable_batches(on);
        let t0 = thread_cpu_ns();
        for _ in 0..reads {
            std::hint::black_box(reader.read_maps()?);
        }
        Ok((thread_cpu_ns() - t0) as f64 / 1e3 / f64::from(reads))
    };
    // Warm both paths (buffers, page faults) before measuring.
    time(true)?;
    time(false)?;
    let (mut b, mut e, mut r) = (Vec::new(), Vec::new(), Vec::new());
    let mut stop = false;
    for i in 0..rounds {
        if crate::stop::requested() {
            stop = true;
            break;
        }
        // Alternate which goes first, so drift favours neither.
        let (x, y) = if i % 2 == 0 {
            let x = time(true)?;
            (x, time(false)?)
        } else {
            let y = time(false)?;
            (time(true)?, y)
        };
        b.push(x);
        e.push(y);
        r.push(x / y);
    }
    if stop || b.is_empty() {
        anyhow::bail!("stopped before a round was measured");
    }
    reader.enable_batches(true);
    let before = reader.copied();
    reader.read_maps()?;
    let mut by_map: Vec<(String, u64)> = reader
        .copied()
        .iter()
        .zip(&before)
        .map(|((m, after), (_, b))| ((*m).to_owned(), after - b))
        .filter(|(_, n)| *n > 0)
        .collect();
    by_map.sort_by_key(|b| std::cmp::Reverse(b.1));
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let report = ReadReport {
        possible_cpus: aya::util::nr_cpus().map_err(|(w, e)| anyhow::anyhow!("{w}: {e}"))?,
        rounds: b.len() as u32,
        reads_per_round: reads,
        batched_us: median(&mut b),
        element_us: median(&mut e),
        ratio: median(&mut r),
        maps_batched: reader.all_batched(),
        unbatched: reader
            .unbatched()
            .into_iter()
            .filter_map(|(m, why)| Some((m.to_owned(), why?)))
            .collect(),
        bytes_per_read: by_map.iter().map(|(_, n)| n).sum(),
        bytes_by_map: by_map,
    };
    crate::out::line(&serde_json::to_string(&report)?)?;
    Ok(())
}

/// What `lab-irq-context` saw: per probe, how many runs read each context.
#[derive(serde::Serialize)]
pub struct IrqContextReport {
    /// How the programs tell the context here, or why they cannot.
    pub source: String,
    /// Whether they can tell it at all.
    pub readable: bool,
    pub getppid_calls: u64,
    /// probe -> context name -> runs; a probe not attached is absent.
    pub seen: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    /// What disagrees with the context each probe always runs in (empty
    /// when all agree, or when the count is not readable).
    pub wrong: Vec<String>,
}

/// (kernel lab) The wake-up hook's interrupt-context reader, run where the
/// answer is known (hooks::context) while this process calls getppid() in
/// a busy loop for `seconds`, which keeps the local timer ticking.
pub fn irq_context(
    seconds: f64,
    by_stack: bool,
    mut load: crate::probe::loader::LoadOptions,
) -> anyhow::Result<()> {
    use crate::model::kswapd::WakeContext;
    use vmscan_common::{context_check, irq_context as ctx};
    crate::probe::loader::check_privileges()?;
    crate::probe::loader::raise_memlock();
    load.context_check = true;
    load.irq_context_by_stack = by_stack;
    let loaded = crate::probe::loader::load(load)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let mut calls = 0u64;
    while std::time::Instant::now() < deadline && !crate::stop::requested() {
        for _ in 0..1000 {
            // SAFETY: getppid takes no arguments and cannot fail.
            std::hint::black_box(unsafe { libc::getppid() });
        }
        calls += 1000;
    }
    let m: aya::maps::PerCpuArray<_, u64> = aya::maps::PerCpuArray::try_from(
        loaded
            .ebpf
            .map("CONTEXT_SEEN")
            .context("CONTEXT_SEEN map")?,
    )?;
    let probes = [
        ("softirq_entry", context_check::SOFTIRQ_ENTRY, ctx::SOFTIRQ),
        (
            "softirq_entry_tracepoint",
            context_check::SOFTIRQ_ENTRY_TP,
            ctx::SOFTIRQ,
        ),
        (
            "local_timer_entry",
            context_check::LOCAL_TIMER_ENTRY,
            ctx::HARDIRQ,
        ),
        ("getppid", context_check::SYS_ENTER, ctx::TASK),
    ];
    let readable = loaded.wake_context.source != ctx::SOURCE_NONE;
    let mut report = IrqContextReport {
        source: loaded.wake_context.how.clone(),
        readable,
        getppid_calls: calls,
        seen: Default::default(),
        wrong: vec![],
    };
    for (name, probe, want) in probes {
        let mut by = std::collections::BTreeMap::new();
        for c in 0..ctx::COUNT {
            let n: u64 = m.get(&(probe * ctx::COUNT + c), 0)?.iter().sum();
            if n > 0 {
                by.insert(WakeContext::of(c).name().to_owned(), n);
            }
        }
        let total: u64 = by.values().sum();
        let want_name = WakeContext::of(want).name();
        if readable {
            if total == 0 && name != "local_timer_entry" {
                report.wrong.push(format!("{name}: never ran"));
            }
            let other = total - by.get(want_name).copied().unwrap_or(0);
            if other > 0 {
                report.wrong.push(format!(
                    "{name}: {other} of {total} runs not read as {want_name}"
                ));
            }
            if name == "getppid" && total != calls {
                report
                    .wrong
                    .push(format!("getppid: {total} runs counted for {calls} calls"));
            }
        }
        if total > 0 {
            report.seen.insert(name.to_owned(), by);
        }
    }
    crate::out::line(&serde_json::to_string(&report)?)?;
    if !report.wrong.is_empty() {
        anyhow::bail!(
            "the interrupt-context reader disagrees: {}",
            report.wrong.join("; ")
        );
    }
    Ok(())
}
