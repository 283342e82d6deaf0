//! Least privilege: once the programs are loaded and attached and the files
//! vmscan writes are open, it needs no capability at all (reading maps and
//! the ring buffer works on the descriptors it holds) -- except on kernels
//! that check CAP_BPF on every bpf() command while
//! kernel.unprivileged_bpf_disabled is set (5.10 does, in __sys_bpf; later
//! kernels check only the commands that create things): there it keeps
//! CAP_BPF alone, found by asking the kernel, not by its version.

/// Drops every capability (effective, permitted, inheritable, and the
/// ambient set) and sets no_new_privs; keeps CAP_BPF where the kernel
/// refuses map reads without it. The process keeps its uid.
pub fn drop_all() -> std::io::Result<()> {
    let bpf = 1u32 << (super::system::CAP_BPF - 32);
    // First keep CAP_BPF permitted but not effective, and ask the kernel.
    set_caps([0, 0], [0, bpf])?;
    if !bpf_needs_capability() {
        return set_caps([0, 0], [0, 0]);
    }
    log::info!(
        "this kernel checks CAP_BPF on every bpf() call (kernel.unprivileged_bpf_disabled): keeping CAP_BPF alone"
    );
    set_caps([0, bpf], [0, bpf])
}

/// Whether a bpf() command on a descriptor is refused without a capability:
/// BPF_OBJ_GET_INFO_BY_FD on fd -1 fails with EBADF where the kernel looks
/// at the descriptor first, EPERM where it checks capabilities first.
fn bpf_needs_capability() -> bool {
    const BPF_OBJ_GET_INFO_BY_FD: i64 = 15;
    let attr = [u32::MAX, 0, 0, 0];
    // SAFETY: bpf(2) reads 16 bytes of attr; fd -1 refers to nothing.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, attr.as_ptr(), 16u32) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sets this process's capabilities: (effective, permitted) as the two
/// 32-bit words each, inheritable empty; clears the ambient set and sets
/// no_new_privs.
fn set_caps(effective: [u32; 2], permitted: [u32; 2]) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    for ((d, e), p) in data.iter_mut().zip(effective).zip(permitted) {
        (d.effective, d.permitted) = (e, p);
    }
    // SAFETY: prctl with these constant arguments only changes this process.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
    // SAFETY: capset reads a valid header and two data structs (version 3).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dropping_in_a_child_leaves_no_capability() {
        // Done in a forked child so the test process keeps its own.
        // SAFETY: fork in a test; the child only calls async-signal-safe-ish
        // code before _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // Only CAP_BPF may stay, and only where the kernel demands it.
            let bpf = 1u64 << crate::probe::system::CAP_BPF;
            let ok = super::drop_all().is_ok() && {
                let left = crate::probe::system::effective_caps();
                left == 0 || left == bpf
            };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child could not drop capabilities"
        );
    }
}
