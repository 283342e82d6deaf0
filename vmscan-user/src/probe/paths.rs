//! Where procfs, sysfs and the cgroup filesystem are. On a host they are
//! /proc, /sys and /sys/fs/cgroup; in a container the host's are often
//! mounted elsewhere (`--procfs /host/proc`). Set once at start-up by main,
//! read by everything that opens a kernel file.

use std::{path::PathBuf, sync::OnceLock};

/// The roots in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub cgroupfs: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Self {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            cgroupfs: "/sys/fs/cgroup".into(),
        }
    }
}

static ROOTS: OnceLock<Roots> = OnceLock::new();

/// Sets the roots; only the first call counts (main makes it before any
/// kernel file is read). Returns false if they were already set.
pub fn set(r: Roots) -> bool {
    ROOTS.set(r).is_ok()
}

/// The roots in use (the defaults unless [`set`]).
pub fn roots() -> &'static Roots {
    ROOTS.get_or_init(Roots::default)
}

/// The cgroup filesystem root when one other than /sys/fs/cgroup was given.
pub fn cgroupfs_given() -> Option<&'static std::path::Path> {
    let r = roots();
    (r.cgroupfs != Roots::default().cgroupfs).then_some(r.cgroupfs.as_path())
}

/// `rel` under procfs ("vmstat" -> /proc/vmstat).
pub fn proc(rel: &str) -> PathBuf {
    roots().procfs.join(rel.trim_start_matches('/'))
}

/// `rel` under sysfs ("kernel/btf/vmlinux" -> /sys/kernel/btf/vmlinux).
pub fn sys(rel: &str) -> PathBuf {
    roots().sysfs.join(rel.trim_start_matches('/'))
}

/// `rel` under the cgroup filesystem.
pub fn cgroup(rel: &str) -> PathBuf {
    roots().cgroupfs.join(rel.trim_start_matches('/'))
}

/// An absolute kernel path as written in vmscan ("/proc/..", "/sys/fs/cgroup/..",
/// "/sys/..") moved under the roots in use; other paths are left alone.
pub fn host(path: &str) -> PathBuf {
    if let Some(r) = path.strip_prefix("/proc/") {
        proc(r)
    } else if let Some(r) = path.strip_prefix("/sys/fs/cgroup") {
        cgroup(r)
    } else if let Some(r) = path.strip_prefix("/sys/") {
        sys(r)
    } else {
        PathBuf::from(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_host_paths() {
        let r = Roots::default();
        assert_eq!(r.procfs.join("vmstat"), PathBuf::from("/proc/vmstat"));
        assert_eq!(proc("/vmstat"), PathBuf::from("/proc/vmstat"));
        assert_eq!(
            host("/sys/fs/cgroup/memory.stat"),
            PathBuf::from("/sys/fs/cgroup/memory.stat")
        );
        assert_eq!(
            host("/sys/kernel/btf/vmlinux"),
            PathBuf::from("/sys/kernel/btf/vmlinux")
        );
        assert_eq!(host("/dev/null"), PathBuf::from("/dev/null"));
    }
}
