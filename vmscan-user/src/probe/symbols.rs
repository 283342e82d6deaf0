//! Kernel symbols from /proc/kallsyms, for naming the frames of kernel
//! stacks (read once, while vmscan still has the privilege to see
//! addresses).

/// Text symbols sorted by address.
#[derive(Default)]
pub struct Kallsyms {
    syms: Vec<(u64, String)>,
}

impl Kallsyms {
    pub fn load() -> Self {
        Self::parse(&std::fs::read_to_string(crate::probe::paths::host("/proc/kallsyms")).unwrap_or_default())
    }

    pub fn parse(text: &str) -> Self {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                (addr != 0 && matches!(kind, "t" | "T" | "w" | "W")).then(|| (addr, name.to_owned()))
            })
            .collect();
        syms.sort_unstable();
        Self { syms }
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The function containing `ip` (the last symbol at or below it).
    pub fn name(&self, ip: u64) -> Option<&str> {
        let i = self.syms.partition_point(|(a, _)| *a <= ip);
        (i > 0).then(|| self.syms[i - 1].1.as_str())
    }

    /// Names a stack (innermost first); unknown frames as hex addresses.
    /// vmscan's own frames (the BPF program and its fentry trampoline) are
    /// left out: the stack starts at the hooked function.
    pub fn frames(&self, ips: &[u64]) -> Vec<String> {
        ips.iter()
            .map(|ip| self.name(*ip).map(str::to_owned).unwrap_or_else(|| format!("{ip:#x}")))
            .filter(|n| !n.starts_with("bpf_prog_") && !n.starts_with("bpf_trampoline_"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_containing_function() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffff81200000 t unmap_page_range\nffffffff81200800 T exit_mmap\n0000000000000000 T hidden\nffffffff81300000 D some_data\n",
        );
        assert_eq!(k.name(0xffffffff81200010), Some("unmap_page_range"));
        assert_eq!(k.name(0xffffffff81200800), Some("exit_mmap"));
        assert_eq!(k.name(0xffffffff80000000), None);
        assert_eq!(k.frames(&[0xffffffff81200004, 0x10]), vec!["unmap_page_range".to_owned(), "0x10".to_owned()]);
        let k = Kallsyms::parse("ffffffffa0000000 t bpf_prog_efa5_fentry_folio_mark_accessed\nffffffffa0001000 t bpf_trampoline_644\nffffffff81200000 T folio_mark_accessed\n");
        assert_eq!(k.frames(&[0xffffffffa0000010, 0xffffffffa0001010, 0xffffffff81200010]), vec!["folio_mark_accessed".to_owned()]);
    }
}
