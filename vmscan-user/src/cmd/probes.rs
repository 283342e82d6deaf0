//! `vmscan probes`: which hooks attach on this kernel, and how, and the
//! system facts that decide it.

use schemars::JsonSchema;
use serde::Serialize;

use crate::{
    model::input::HookStatus,
    probe::{
        loader::{self, LoadOptions},
        misses::MissCounting,
        system::{Cgroups, SystemInfo},
    },
};

/// `probes --json`.
#[derive(Serialize, JsonSchema)]
pub struct ProbesReport {
    pub system: SystemInfo,
    pub hooks: Vec<HookStatus>,
    /// Hooks that attached, of `hooks`.
    pub attached: usize,
    /// Which mechanisms' skipped program runs this kernel counts (stat's
    /// `missed`).
    pub skipped_runs: MissCounting,
}

/// Some hooks did not attach and `--strict` was given: exit code 4.
#[derive(Debug)]
pub struct HooksUnavailable(pub Vec<String>);

impl std::fmt::Display for HooksUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--strict: {} hook(s) unavailable: {}",
            self.0.len(),
            self.0.join(", ")
        )
    }
}

impl std::error::Error for HooksUnavailable {}

pub fn run(json: bool, strict: bool, opts: LoadOptions) -> anyhow::Result<()> {
    loader::check_privileges()?;
    loader::raise_memlock();
    let loaded = loader::load(opts)?;
    let missing: Vec<String> = loaded
        .hooks
        .iter()
        .filter(|h| !h.attached() && loader::not_needed_here_reason(h).is_none())
        .map(|h| h.name.clone())
        .collect();
    if json {
        let attached = loaded.hooks.len() - missing.len();
        let r = ProbesReport {
            system: loaded.system.clone(),
            hooks: loaded.hooks.clone(),
            attached,
            skipped_runs: loaded.misses,
        };
        super::json::Envelope::new("probes", r).print_pretty()?;
    } else {
        crate::out::print(&render(&loaded.system, &loaded.hooks, loaded.misses))?;
    }
    if strict && !missing.is_empty() {
        return Err(HooksUnavailable(missing).into());
    }
    Ok(())
}

/// The human-readable report (pure, for tests).
pub fn render(s: &SystemInfo, hooks: &[HookStatus], skips: MissCounting) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "kernel      {}", s.kernel);
    let _ = writeln!(
        out,
        "btf         {}",
        if s.btf {
            "yes (/sys/kernel/btf/vmlinux)"
        } else {
            "no"
        }
    );
    let _ = writeln!(
        out,
        "tracefs     {}",
        match &s.tracefs {
            Ok(p) => p.clone(),
            Err(e) => format!("unavailable: {e}"),
        }
    );
    let nodes: Vec<String> = s.numa_nodes.iter().map(u32::to_string).collect();
    let _ = writeln!(
        out,
        "numa nodes  {} ({})",
        s.numa_nodes.len(),
        nodes.join(",")
    );
    let cg = match &s.cgroups {
        Cgroups::V1 { memory } => format!("v1 (memory controller at {memory})"),
        Cgroups::V2 { root } => format!("v2 ({root})"),
        Cgroups::Hybrid { memory, unified } => {
            format!("hybrid (v1 memory at {memory}, v2 at {unified})")
        }
        Cgroups::None => "no memory cgroup hierarchy mounted".into(),
    };
    let _ = writeln!(out, "cgroups     {cg}");
    let mglru = match s.mglru {
        None => "compiled out (classic active/inactive LRU)",
        Some(true) => "enabled (lists are generations)",
        Some(false) => "built in, disabled (classic active/inactive LRU)",
    };
    let _ = writeln!(out, "mglru       {mglru}");
    let swap = if s.swap_devices == 0 {
        "none".to_owned()
    } else {
        format!("{} MiB on {} device(s)", s.swap_kib / 1024, s.swap_devices)
    };
    let _ = writeln!(out, "swap        {swap}");
    let _ = writeln!(
        out,
        "kprobes     {}",
        if s.kprobes {
            "available"
        } else {
            "not available (CONFIG_KPROBES off)"
        }
    );
    let yes = |b: bool| if b { "counted" } else { "not counted" };
    let _ = writeln!(
        out,
        "skipped runs {} for fentry, raw_tp and tp_btf (5.12+); {} for kprobes and classic tracepoints (6.7+)",
        yes(skips.prog_info),
        yes(skips.prog_info && skips.trace_call_bpf)
    );
    let _ = writeln!(out);
    let attached = hooks.iter().filter(|h| h.attached()).count();
    let _ = writeln!(out, "hooks: {attached} of {} attached", hooks.len());
    let width = hooks.iter().map(|h| h.name.len()).max().unwrap_or(10);
    for h in hooks {
        match (&h.mechanism, &h.error) {
            (Some(m), _) => {
                let _ = writeln!(out, "  {:<width$}  attached ({m})", h.name);
            }
            (None, _) if let Some(why) = loader::not_needed_here_reason(h) => {
                let _ = writeln!(out, "  {:<width$}  not needed: {why}", h.name);
            }
            (None, e) => {
                let _ = writeln!(
                    out,
                    "  {:<width$}  unavailable: {}",
                    h.name,
                    e.as_deref().unwrap_or("not attempted")
                );
            }
        }
        for n in &h.notes {
            let _ = writeln!(out, "  {:<width$}    note: {n}", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_this_kernel_has_no_use_for_is_not_needed_not_unavailable() {
        let status = |name: &str, error: Option<String>| HookStatus {
            id: vmscan_common::hook::EVICT_FOLIOS,
            name: name.into(),
            mechanism: None,
            error,
            notes: vec![],
        };
        let hooks = [
            status(
                "evict_folios",
                Some(format!(
                    "{}: this kernel has no MGLRU",
                    loader::NOT_NEEDED_HERE
                )),
            ),
            status("lru_lazyfree", Some("fentry refused with EPERM".into())),
        ];
        assert_eq!(
            loader::not_needed_here_reason(&hooks[0]),
            Some("this kernel has no MGLRU")
        );
        assert_eq!(loader::not_needed_here_reason(&hooks[1]), None);
        let system = SystemInfo {
            kernel: "6.18.0-test".into(),
            btf: true,
            tracefs: Ok("/sys/kernel/tracing".into()),
            numa_nodes: vec![0],
            cgroups: Cgroups::None,
            mglru: None,
            swap_kib: 0,
            swap_devices: 0,
            page_size: 4096,
            kprobes: false,
        };
        let six_one = MissCounting {
            prog_info: true,
            trace_call_bpf: false,
        };
        let text = render(&system, &hooks, six_one);
        assert!(
            text.contains("evict_folios  not needed: this kernel has no MGLRU")
                && text.contains("lru_lazyfree  unavailable: fentry refused")
                && text.contains("skipped runs counted for fentry, raw_tp and tp_btf (5.12+); not counted for kprobes"),
            "{text}"
        );
    }
}
