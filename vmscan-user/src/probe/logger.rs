//! The eBPF side's own log (aya-log records) forwarded to `log`.

/// Starts draining aya-log records from the eBPF side into `log`.
pub fn start_ebpf_logger(ebpf: &mut aya::Ebpf) {
    match aya_log::EbpfLogger::init(ebpf) {
        // SAFETY: the logger owns its ring-buffer fd for its whole life.
        Ok(logger) => match unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE)
        } {
            Ok(mut fd) => {
                tokio::spawn(async move {
                    loop {
                        let Ok(mut guard) = fd.readable_mut().await else {
                            break;
                        };
                        guard.get_inner_mut().flush();
                        guard.clear_ready();
                    }
                });
            }
            Err(e) => log::debug!("polling the eBPF logger: {}", e),
        },
        Err(e) => log::debug!("no eBPF logger: {e}"),
    }
}
