use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

/// Builds vmscan-ebpf for bpfel-unknown-none with the nightly toolchain and
/// bpf-linker, and leaves the object in OUT_DIR for include_bytes_aligned!.
///
/// With AYA_BUILD_SKIP=1 (fuzzing and other builds that never load
/// programs) an empty object is left instead; loading then fails with a
/// message saying so.
fn main() -> anyhow::Result<()> {
    git_revision();
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    if std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("vmscan");
        std::fs::write(&out, b"").context("writing the empty eBPF placeholder")?;
        return Ok(());
    }
    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    // The eBPF object is built from vmscan-common's records and offsets too:
    // aya-build watches only vmscan-ebpf, so a change to vmscan-common alone
    // would otherwise leave a stale object beside new userspace layouts.
    if let Some(common) = packages.iter().find(|p| p.name.as_str() == "vmscan-common")
        && let Some(dir) = common.manifest_path.parent()
    {
        println!("cargo:rerun-if-changed={dir}");
    }
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "vmscan-ebpf")
        .ok_or_else(|| anyhow!("vmscan-ebpf package not found"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    aya_build::build_ebpf(
        [Package {
            name: ebpf.name.as_str(),
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        Toolchain::default(),
    )
}

/// The git revision `vmscan --version` shows (VMSCAN_GIT_REVISION): the
/// commit, "-dirty" when the tree has changes, "unknown" outside a checkout
/// (a source tarball). VMSCAN_GIT_REVISION in the environment wins.
fn git_revision() {
    println!("cargo:rerun-if-env-changed=VMSCAN_GIT_REVISION");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    for p in ["HEAD", "logs/HEAD", "index"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let rev = std::env::var("VMSCAN_GIT_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(r) if !r.is_empty() => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                if dirty { format!("{r}-dirty") } else { r }
            }
            _ => "unknown".to_owned(),
        });
    println!("cargo:rustc-env=VMSCAN_GIT_REVISION={rev}");
}
