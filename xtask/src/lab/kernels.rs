//! The guest kernels: stock Debian packages found with apt (the system's
//! sources, else a private list of the suites the lab boots: bullseye,
//! bookworm-backports, sid), downloaded once into target/lab, their vmlinux
//! extracted and the modules the guest loads.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

use super::lab_dir;
use crate::sh::run_ok;

pub(super) struct Kernel {
    pub(super) label: &'static str,
    /// apt-cache search pattern for the package with the kernel image (the
    /// newest match is taken).
    pub(super) pattern: &'static str,
    /// Packages of the same version unpacked beside it, named by replacing
    /// the image package's prefix (sid splits 7.x into linux-binary-<ver>,
    /// the image, and linux-modules-<ver>, xz-compressed modules).
    pub(super) companions: &'static [(&'static str, &'static str)],
}

pub(super) const KERNELS: [Kernel; 4] = [
    // bullseye: /boot/vmlinuz and plain .ko files.
    Kernel {
        label: "5.10",
        pattern: r"^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$",
        companions: &[],
    },
    Kernel {
        label: "6.1",
        pattern: r"^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$",
        companions: &[],
    },
    Kernel {
        label: "6.12",
        pattern: r"^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$",
        companions: &[],
    },
    // sid: no -unsigned package; /usr/lib/modules/<ver>/vmlinuz, no /boot/config.
    Kernel {
        label: "7.2",
        pattern: r"^linux-binary-7\.2\.[0-9]+\+deb14-amd64$",
        companions: &[("linux-binary-", "linux-modules-")],
    },
];

/// Suites of the private apt list (added to the machine's own archive URI).
const PRIVATE_SUITES: [&str; 3] = ["bullseye", "bookworm-backports", "sid"];

/// apt options for a private configuration (backports, when the system's
/// sources lack the kernel); empty for the system's own.
fn private_apt() -> anyhow::Result<Vec<String>> {
    let dir = lab_dir().join("apt");
    let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .unwrap_or_default()
        + &std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    // The first archive URI the machine is configured with (never a literal).
    let uri = sources
        .lines()
        .find_map(|l| {
            l.strip_prefix("URIs:")
                .map(str::trim)
                .map(str::to_owned)
                .or_else(|| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.first() == Some(&"deb") && f.len() >= 3).then(|| f[1].to_owned())
                })
        })
        .context("no Debian archive URI in /etc/apt sources")?;
    std::fs::create_dir_all(dir.join("lists/partial"))?;
    std::fs::create_dir_all(dir.join("cache/archives/partial"))?;
    let list: String = PRIVATE_SUITES
        .iter()
        .map(|s| {
            format!(
                "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {uri} {s} main\n"
            )
        })
        .collect();
    std::fs::write(dir.join("sources.list"), list)?;
    let opts = vec![
        format!(
            "-o=Dir::Etc::SourceList={}",
            dir.join("sources.list").display()
        ),
        "-o=Dir::Etc::SourceParts=/dev/null".to_owned(),
        format!("-o=Dir::State::Lists={}", dir.join("lists").display()),
        format!("-o=Dir::Cache={}", dir.join("cache").display()),
    ];
    crate::sh::say(&format!(
        "kernel lab: refreshing a private apt list for {}",
        PRIVATE_SUITES.join(", ")
    ));
    run_ok(Command::new("apt-get").args(&opts).args(["update", "-qq"]))?;
    Ok(opts)
}

fn find_package(pattern: &str, apt_opts: &[String]) -> anyhow::Result<Option<String>> {
    let out =
        run_ok(
            Command::new("apt-cache")
                .args(apt_opts)
                .args(["search", "--names-only", pattern]),
        )?;
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    // Highest version last: compare the dotted/dashed numbers.
    names.sort_by_key(|n| {
        n.split(|c: char| !c.is_ascii_digit())
            .filter_map(|x| x.parse::<u64>().ok())
            .collect::<Vec<_>>()
    });
    Ok(names.pop())
}

/// Downloads and unpacks a kernel; returns (vmlinux, unpacked root).
pub(super) fn fetch_kernel(k: &Kernel) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = lab_dir().join(k.label);
    let vmlinux = dir.join("vmlinux");
    if vmlinux.exists() {
        return Ok((vmlinux, dir.join("root")));
    }
    std::fs::create_dir_all(lab_dir().join("cache"))?;
    let mut opts = vec![];
    let mut pkg = find_package(k.pattern, &opts)?;
    if pkg.is_none() {
        opts = private_apt()?;
        pkg = find_package(k.pattern, &opts)?;
    }
    let pkg = pkg.with_context(|| {
        format!(
            "no package matching {} in the configured Debian archives",
            k.pattern
        )
    })?;
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    let mut pkgs = vec![pkg.clone()];
    pkgs.extend(
        k.companions
            .iter()
            .map(|(from, to)| pkg.replacen(from, to, 1)),
    );
    for p in &pkgs {
        crate::sh::say(&format!(
            "kernel lab: downloading {p} (cached under target/lab/cache)"
        ));
        run_ok(
            Command::new("apt-get")
                .args(&opts)
                .args(["download", "-qq", p])
                .current_dir(lab_dir().join("cache")),
        )?;
        let deb = named(&lab_dir().join("cache"), &format!("{p}_"))?
            .context("downloaded package not found")?;
        run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    }
    extract_vmlinux(&vmlinuz_of(&root)?, &vmlinux)?;
    Ok((vmlinux, root))
}

/// The kernel image: /boot/vmlinuz-<ver> (up to 6.x) or
/// /usr/lib/modules/<ver>/vmlinuz (sid's 7.x).
fn vmlinuz_of(root: &Path) -> anyhow::Result<PathBuf> {
    if root.join("boot").is_dir()
        && let Some(p) = named(&root.join("boot"), "vmlinuz-")?
    {
        return Ok(p);
    }
    let base = modules_dir(root)?;
    let p = base.join("vmlinuz");
    if p.exists() {
        Ok(p)
    } else {
        bail!("no vmlinuz in the package (/boot or {})", base.display())
    }
}

/// /lib/modules/<ver> or /usr/lib/modules/<ver> of an unpacked kernel.
fn modules_dir(root: &Path) -> anyhow::Result<PathBuf> {
    ["lib/modules", "usr/lib/modules"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flat_map(|rd| rd.filter_map(Result::ok).map(|e| e.path()))
        .find(|p| p.is_dir())
        .context("no lib/modules or usr/lib/modules in the kernel package")
}

/// The first file in `dir` whose name starts with `prefix`.
fn named(dir: &Path, prefix: &str) -> anyhow::Result<Option<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        }))
}

/// Finds the compressed kernel inside a bzImage and decompresses it with xz
/// or zstd; the uncompressed ELF boots through its PVH note, skipping the
/// slow in-guest decompression under TCG.
fn extract_vmlinux(vmlinuz: &Path, out: &Path) -> anyhow::Result<()> {
    let data = std::fs::read(vmlinuz)?;
    let candidates: [(&[u8], &str, &[&str]); 3] = [
        (b"\xfd7zXZ\x00", "xz", &["-dc"]),
        (b"\x28\xb5\x2f\xfd", "zstd", &["-dcq"]),
        (b"\x1f\x8b\x08", "gzip", &["-dc"]),
    ];
    for (magic, tool, args) in candidates {
        let mut at = 0;
        while let Some(i) = data[at..].windows(magic.len()).position(|w| w == magic) {
            let start = at + i;
            let mut child = Command::new(tool)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("{tool} (apt install xz-utils zstd)"))?;
            let mut stdin = child.stdin.take().expect("stdin");
            let payload = data[start..].to_vec();
            let writer = std::thread::spawn(move || {
                let _ = stdin.write_all(&payload);
            });
            let outp = child.wait_with_output()?;
            let _ = writer.join();
            if outp.stdout.starts_with(b"\x7fELF") {
                std::fs::write(out, &outp.stdout)?;
                return Ok(());
            }
            at = start + 1;
        }
    }
    bail!("no compressed ELF kernel found in {}", vmlinuz.display())
}

/// Modules the guest needs (Debian builds them as modules), loaded in
/// dependency order by /init. Missing optional ones are skipped.
pub(super) const MODULES: [(&str, bool); 5] = [
    ("virtio_pci", false),
    ("virtio_blk", true),
    ("crc32c_generic", false),
    ("ext4", true),
    ("zram", false),
];

/// Modules the demote scenario loads (device DAX onlined as system RAM: a
/// memory node in a lower tier), none of them at boot.
pub(super) const DAX_MODULES: [(&str, bool); 3] =
    [("dax_hmem", false), ("device_dax", false), ("kmem", false)];

/// The `depends=` of a module's .modinfo (no depmod needed).
fn module_depends(ko: &[u8]) -> Vec<String> {
    let pat = b"depends=";
    ko.windows(pat.len())
        .position(|w| w == pat)
        .map(|i| {
            let rest = &ko[i + pat.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(0);
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "xz") {
        let out = Command::new("xz")
            .arg("-dc")
            .arg(path)
            .output()
            .context("xz (apt install xz-utils)")?;
        if !out.status.success() {
            bail!("xz -dc {} failed", path.display());
        }
        Ok(out.stdout)
    } else {
        Ok(std::fs::read(path)?)
    }
}

/// The wanted modules and their dependencies, dependencies first, as
/// (name, uncompressed .ko).
pub(super) fn module_closure(
    root: &Path,
    modules: &[(&str, bool)],
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let base = modules_dir(root)?;
    let mut index: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut stack = vec![base.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(n) = p.file_name().map(|n| n.to_string_lossy().into_owned())
                && let Some(stem) = n.strip_suffix(".ko").or_else(|| n.strip_suffix(".ko.xz"))
            {
                index.insert(stem.replace('-', "_"), p.clone());
            }
        }
    }
    fn visit(
        name: &str,
        index: &BTreeMap<String, PathBuf>,
        done: &mut Vec<(String, Vec<u8>)>,
        seen: &mut std::collections::BTreeSet<String>,
    ) -> anyhow::Result<bool> {
        let name = name.replace('-', "_");
        if !seen.insert(name.clone()) {
            return Ok(true);
        }
        let Some(path) = index.get(&name) else {
            return Ok(false);
        };
        let ko = read_module(path)?;
        for dep in module_depends(&ko) {
            visit(&dep, index, done, seen)?;
        }
        done.push((name, ko));
        Ok(true)
    }
    let mut done = vec![];
    let mut seen = Default::default();
    for &(m, required) in modules {
        // Built into the kernel when it is not a module: fine.
        let found = visit(m, &index, &mut done, &mut seen)?;
        if !found && required {
            let cfg = named(&root.join("boot"), "config-")
                .ok()
                .flatten()
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .unwrap_or_default();
            if !cfg
                .lines()
                .any(|l| l.ends_with("=y") && l.to_lowercase().contains(&m.to_lowercase()))
            {
                crate::sh::say(&format!(
                    "kernel lab: module {m} not found (assuming it is built in)"
                ));
            }
        }
    }
    Ok(done)
}
