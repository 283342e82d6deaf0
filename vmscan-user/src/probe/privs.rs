//! Least privilege: once the programs are loaded and attached and the files
//! vmscan writes are open, it needs no capability at all (reading maps and
//! the ring buffer works on the descriptors it holds).

/// Drops every capability (effective, permitted, inheritable, and the
/// ambient set) and sets no_new_privs. The process keeps its uid.
pub fn drop_all() -> std::io::Result<()> {
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
    let mut hdr = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [Data::default(); 2];
    // SAFETY: prctl with these constant arguments only changes this process.
    unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
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
            let ok = super::drop_all().is_ok() && crate::probe::system::effective_caps() == 0;
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child could not drop capabilities");
    }
}
