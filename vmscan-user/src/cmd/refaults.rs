//! `vmscan refaults`: which memory cgroups, files and tasks refault, what
//! the kernel decided for each refault, and per cgroup how much more memory
//! would have avoided them (model/refaults.rs).

use std::{os::unix::fs::MetadataExt as _, path::PathBuf, time::Duration};

use anyhow::Context as _;
use vmscan_common::hook;

use crate::{
    live::Session,
    model::refaults::{self, RefaultInput, RefaultReport, RefaultView},
    probe::{files::FileNames, loader::LoadOptions, sample},
};

pub struct RefaultsOptions {
    pub duration: Duration,
    pub memcg: Option<String>,
    pub top: usize,
    pub json: bool,
    pub load: LoadOptions,
}

/// The kernfs id of a memory cgroup given as a path below the memory
/// hierarchy's root ("/", "/system.slice", or a full /sys/fs/cgroup path).
fn memcg_id(root: &std::path::Path, given: &str) -> anyhow::Result<(u64, String)> {
    let p = PathBuf::from(given);
    let full = if p.starts_with(root) {
        p
    } else {
        root.join(given.trim_start_matches('/'))
    };
    let md = std::fs::metadata(&full)
        .with_context(|| format!("memory cgroup {given}: {} not found", full.display()))?;
    if !md.is_dir() {
        anyhow::bail!(
            "memory cgroup {given}: {} is not a cgroup directory",
            full.display()
        );
    }
    let rel = full
        .strip_prefix(root)
        .map(|r| format!("/{}", r.display()))
        .unwrap_or_else(|_| given.to_owned());
    Ok((md.ino(), rel))
}

pub async fn run(o: RefaultsOptions) -> anyhow::Result<()> {
    let mut s = Session::start(o.load)?;
    let only = match &o.memcg {
        None => None,
        Some(given) => {
            let (root, _) = sample::memcg_root(&s.loaded.system.cgroups)
                .context("no memory cgroup hierarchy is mounted")?;
            Some(memcg_id(&root, given)?)
        }
    };
    if let Some(h) = s
        .loaded
        .hooks
        .iter()
        .find(|h| h.id == hook::REFAULT && !h.attached())
    {
        anyhow::bail!(
            "workingset_refault is not attached on this kernel: {} (vmscan refaults needs fentry or kprobes; \
             per-cgroup refault counters without attribution are in memory.stat: workingset_refault_*)",
            h.error.as_deref().unwrap_or("unknown reason")
        );
    }

    // No s.drop_privileges() here: naming a refaulting file means reading
    // /proc/PID/fd of other (root) processes, which a process with fewer
    // capabilities than its target may not do (ptrace access mode).
    crate::note!("vmscan: counting for {:.1} s", o.duration.as_secs_f64());
    let start = std::time::Instant::now();
    // Files are named while the processes that read them still run.
    let mut names = FileNames::default();
    s.run_for_each(o.duration, |d| {
        names.resolve(d.refault_files.keys().map(|k| (k.dev, k.ino)));
    })
    .await?;
    let t = s.model.totals();
    let input = RefaultInput {
        refault: &t.refault,
        dist: &t.refault_dist,
        files: &t.refault_files,
        tasks: &t.refault_tasks,
    };
    let model = &s.model;
    let memcg_path = |id: u64| model.memcg_path(id).map(str::to_owned);
    let file_path = |dev: u32, ino: u64| names.get(dev, ino);
    let view = RefaultView {
        window_secs: start.elapsed().as_secs_f64(),
        mglru: s.loaded.system.mglru == Some(true),
        page_size: s.loaded.system.page_size,
        no_distance: s.loaded.refault.no_distance.clone(),
        memcg_path: &memcg_path,
        file_path: &file_path,
        only: only.as_ref().map(|(id, _)| *id),
    };
    let rep: RefaultReport = refaults::build(&input, &view);
    if o.json {
        super::json::Envelope::new("refaults", rep).print_pretty()
    } else {
        crate::out::print(&refaults::render(&rep, o.top))
    }
}
