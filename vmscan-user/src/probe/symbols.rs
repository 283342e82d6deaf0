//! Kernel symbols from /proc/kallsyms, for naming the frames of kernel
//! stacks (read once, while vmscan still has the privilege to see
//! addresses).

use std::io::BufRead;

/// Text symbols sorted by address, their names packed in one string: a
/// distribution kernel has 100,000-200,000 of them (5-10 MB of
/// /proc/kallsyms), which one string per name and the whole file read at
/// once made the largest part of the terminal UI's peak memory.
#[derive(Default)]
pub struct Kallsyms {
    /// (address, start of the name in `names`, its length).
    syms: Vec<(u64, u32, u32)>,
    names: String,
}

impl Kallsyms {
    /// Reads /proc/kallsyms line by line (empty when it cannot be read).
    pub fn load() -> Self {
        match std::fs::File::open(crate::probe::paths::host("/proc/kallsyms")) {
            Ok(f) => Self::read(std::io::BufReader::with_capacity(64 * 1024, f)),
            Err(_) => Self::default(),
        }
    }

    pub fn parse(text: &str) -> Self {
        Self::read(text.as_bytes())
    }

    fn read(mut r: impl BufRead) -> Self {
        let mut k = Self::default();
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            k.push_line(&line);
            line.clear();
        }
        k.syms.sort_unstable_by_key(|s| s.0);
        k.syms.shrink_to_fit();
        k.names.shrink_to_fit();
        k
    }

    fn push_line(&mut self, l: &str) {
        let mut f = l.split_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
            return;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            return;
        };
        if addr == 0 || !matches!(kind, "t" | "T" | "w" | "W") {
            return;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.names.len()), u32::try_from(name.len()))
        else {
            return;
        };
        self.names.push_str(name);
        self.syms.push((addr, start, len));
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The function containing `ip` (the last symbol at or below it).
    pub fn name(&self, ip: u64) -> Option<&str> {
        let i = self.syms.partition_point(|s| s.0 <= ip);
        let (_, start, len) = *self.syms.get(i.checked_sub(1)?)?;
        self.names.get(start as usize..(start + len) as usize)
    }

    /// Names a stack (innermost first); unknown frames as hex addresses.
    /// vmscan's own frames (the BPF program and its fentry trampoline) are
    /// left out: the stack starts at the hooked function.
    pub fn frames(&self, ips: &[u64]) -> Vec<String> {
        ips.iter()
            .map(|ip| {
                self.name(*ip)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{ip:#x}"))
            })
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
        assert_eq!(
            k.frames(&[0xffffffff81200004, 0x10]),
            vec!["unmap_page_range".to_owned(), "0x10".to_owned()]
        );
        let k = Kallsyms::parse(
            "ffffffffa0000000 t bpf_prog_efa5_fentry_folio_mark_accessed\nffffffffa0001000 t bpf_trampoline_644\nffffffff81200000 T folio_mark_accessed\n",
        );
        assert_eq!(
            k.frames(&[0xffffffffa0000010, 0xffffffffa0001010, 0xffffffff81200010]),
            vec!["folio_mark_accessed".to_owned()]
        );
    }
}
