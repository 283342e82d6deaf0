//! What a guest boots from: the static binaries, the initramfs with /init
//! and the kernel's modules, the scratch disk and the bench's tools disk.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

use super::{kernels::module_closure, lab_dir};
use crate::sh::run_ok;

/// The guest's /init: runs the scenarios named on the kernel command line
/// (vmscan.scenarios=) and prints their raw output between @@BEGIN/@@END
/// markers on the serial console.
const INIT: &str = include_str!("init.sh");
/// The guest's scratch disk (ext4): room for the scenarios' and the bench's
/// files.
const DISK_MIB: u64 = 1400;
/// Free room on the tools disk beyond its files (ext4's own structures).
const TOOLS_SLACK_MIB: u64 = 64;

pub(super) fn initramfs(
    vmscan: &Path,
    xtask: Option<&Path>,
    label: &str,
    kroot: &Path,
) -> anyhow::Result<PathBuf> {
    let dir = lab_dir().join(format!("initramfs-{label}"));
    let _ = std::fs::remove_dir_all(&dir);
    for d in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "mnt",
        "modules",
        "modules/dax",
    ] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    for (i, (name, ko)) in module_closure(kroot, &super::kernels::MODULES)?
        .into_iter()
        .enumerate()
    {
        std::fs::write(dir.join(format!("modules/{i:02}-{name}.ko")), ko)?;
    }
    for (i, (name, ko)) in module_closure(kroot, &super::kernels::DAX_MODULES)?
        .into_iter()
        .enumerate()
    {
        std::fs::write(dir.join(format!("modules/dax/{i:02}-{name}.ko")), ko)?;
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox"))
        .context("busybox (apt install busybox-static)")?;
    std::fs::copy(vmscan, dir.join("bin/vmscan"))?;
    if let Some(x) = xtask {
        std::fs::copy(x, dir.join("bin/xtask"))?;
    }
    std::fs::write(dir.join("init"), INIT)?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.join("init"), std::fs::Permissions::from_mode(0o755))?;
    let out = lab_dir().join(format!("initramfs-{label}.cpio"));
    let list = run_ok(Command::new("find").arg(".").current_dir(&dir))?;
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out)?)
        .spawn()
        .context("cpio")?;
    cpio.stdin
        .take()
        .expect("stdin")
        .write_all(list.as_bytes())?;
    if !cpio.wait()?.success() {
        bail!("cpio failed");
    }
    Ok(out)
}

pub(super) fn disk() -> anyhow::Result<PathBuf> {
    let img = lab_dir().join("disk.img");
    let f = std::fs::File::create(&img)?;
    f.set_len(DISK_MIB << 20)?;
    run_ok(Command::new("mkfs.ext4").args(["-F", "-q"]).arg(&img))?;
    Ok(img)
}

/// Installs what the lab needs and builds static (musl) binaries of the
/// given packages; returns their paths.
pub(super) fn prepare(packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    crate::sh::apt_install(&[
        "qemu-system-x86",
        "busybox-static",
        "e2fsprogs",
        "cpio",
        "xz-utils",
        "zstd",
    ])?;
    let targets = run_ok(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets
        .lines()
        .any(|l| l.trim() == "x86_64-unknown-linux-musl")
    {
        crate::sh::say(
            "installing the x86_64-unknown-linux-musl target (rustup) for static guest binaries",
        );
        run_ok(Command::new("rustup").args(["target", "add", "x86_64-unknown-linux-musl"]))?;
    }
    let mut c = crate::sh::cargo();
    c.args([
        "build",
        "--release",
        "--target",
        "x86_64-unknown-linux-musl",
    ]);
    for p in packages {
        c.args(["-p", p]);
    }
    crate::sh::status(&mut c)?;
    std::fs::create_dir_all(lab_dir())?;
    Ok(packages
        .iter()
        .map(|p| {
            crate::sh::root()
                .join("target/x86_64-unknown-linux-musl/release")
                .join(if *p == "vmscan-user" { "vmscan" } else { p })
        })
        .collect())
}

/// The shared libraries a dynamically linked binary loads, as ldd names them
/// (the loader included).
fn shared_libs(bin: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = run_ok(Command::new("ldd").arg(bin))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let p = match l.split_once("=>") {
                Some((_, r)) => r.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect())
}

/// A disk image holding the host's bpftrace, perf and bpftool with every
/// library they load, at their own paths (the guest chroots into it), and
/// the bpftrace script for the guest's hooks.
pub(super) fn tools_image() -> anyhow::Result<PathBuf> {
    crate::sh::apt_install(&["bpftrace", "bpftool", "linux-perf"])?;
    let dir = lab_dir().join("tools-root");
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["proc", "sys", "dev", "mnt", "tmp", "bench"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let mut n = 0;
    for bin in ["/usr/bin/bpftrace", "/usr/bin/perf", "/usr/sbin/bpftool"] {
        let bin = Path::new(bin);
        for f in std::iter::once(bin.to_owned()).chain(shared_libs(bin)?) {
            let to = dir.join(f.strip_prefix("/")?);
            std::fs::create_dir_all(to.parent().expect("parent"))?;
            if !to.exists() {
                std::fs::copy(&f, &to).with_context(|| f.display().to_string())?;
                n += 1;
            }
        }
    }
    // bpftrace runs `sh -c "clang-14 -Wp,-v ..."` for include paths and
    // crashes when there is no shell at all.
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy("/bin/busybox", dir.join("bin/sh"))
        .context("busybox (apt install busybox-static)")?;
    let bench = crate::sh::root().join("bench");
    let script = std::fs::read_to_string(bench.join("vmscan.bt"))?
        + "\n"
        + &std::fs::read_to_string(bench.join("vmscan-fentry.bt"))?;
    std::fs::write(dir.join("bench/vmscan-lab.bt"), script)?;
    for f in ["access.bt", "fentry-floor.bt"] {
        std::fs::copy(bench.join(f), dir.join("bench").join(f))?;
    }
    let bytes: u64 = run_ok(Command::new("du").args(["-sb"]).arg(&dir))?
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .parse()?;
    let img = lab_dir().join("tools.img");
    let _ = std::fs::remove_file(&img);
    run_ok(
        Command::new("mkfs.ext4")
            .args(["-F", "-q", "-d"])
            .arg(&dir)
            .arg(&img)
            .arg(format!("{}M", bytes / (1 << 20) + TOOLS_SLACK_MIB)),
    )?;
    crate::sh::say(&format!(
        "kernel lab: tools disk with bpftrace, perf, bpftool and {} files ({} MiB)",
        n,
        bytes >> 20
    ));
    Ok(img)
}
