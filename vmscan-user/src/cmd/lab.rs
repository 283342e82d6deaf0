//! Hidden helpers for the kernel lab's workloads (busybox has no numactl
//! and no mmap tool): read a file with memory bound to one node, map a file
//! and touch it.

use std::{io::Read as _, os::fd::AsRawFd as _, path::Path};

use anyhow::{Context as _, bail};

/// set_mempolicy(MPOL_BIND, {node}) for this task, then read `file` so its
/// page cache is allocated on `node`.
pub fn read_bound(node: u32, file: &Path) -> anyhow::Result<()> {
    const MPOL_BIND: i32 = 2;
    if node >= 64 {
        bail!("node {node}: at most 63");
    }
    let mask: u64 = 1 << node;
    // SAFETY: set_mempolicy reads a one-word node mask of 64 bits.
    let rc = unsafe { libc::syscall(libc::SYS_set_mempolicy, MPOL_BIND, &mask as *const u64, 64u64) };
    if rc != 0 {
        bail!("set_mempolicy(MPOL_BIND, node {node}): {}", std::io::Error::last_os_error());
    }
    let mut f = std::fs::File::open(file).with_context(|| file.display().to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// Maps `file`, reads one byte per page (setting the young bits), and
/// returns; with `advice` = "random" or "sequential" the mapping gets that
/// madvise first (which clears VM recency: no exit-time marks).
pub fn map_touch(file: &Path, advice: Option<&str>) -> anyhow::Result<()> {
    let f = std::fs::File::open(file).with_context(|| file.display().to_string())?;
    let len = f.metadata()?.len() as usize;
    // SAFETY: a private read-only mapping of a file we hold open.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        bail!("mmap {}: {}", file.display(), std::io::Error::last_os_error());
    }
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
        sum = sum.wrapping_add(unsafe { std::ptr::read_volatile((p as *const u8).add(off)) } as u64);
    }
    std::hint::black_box(sum);
    // Exit without munmap: the exit path (exit_mmap -> zap_pte_range) tears
    // the mapping down, which is what the lab observes.
    Ok(())
}
