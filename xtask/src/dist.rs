//! `cargo xtask dist`: what people who only want the binary install. A
//! static (musl) vmscan with its shell completions, man pages, the exporter's
//! systemd unit and settings, the Grafana dashboard, the JSON schemas and the
//! Kubernetes manifest, as a tarball and a .deb under target/dist; with
//! `--image` an OCI image of the binary alone (tar, gzip, checked by skopeo);
//! with `--verify` the .deb installed into a fresh Debian chroot and tried.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::sh::{apt_install, cargo, root, run_ok, say, status};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const TARGET: &str = "x86_64-unknown-linux-musl";
const UNIT: &str = "vmscan-exporter.service";

pub struct DistOptions {
    pub image: bool,
    pub verify: bool,
}

pub fn run(o: &DistOptions) -> anyhow::Result<()> {
    apt_install(&["dpkg-dev", "tar", "gzip"])?;
    let bin = build_static()?;
    let out = root().join("target/dist");
    std::fs::create_dir_all(&out)?;
    let stage = out.join("deb-root");
    stage_deb(&bin, &stage)?;
    let deb = out.join(format!("vmscan_{VERSION}_amd64.deb"));
    status(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    say(&format!("built {}", deb.display()));
    let tarball = tarball(&stage, &out)?;
    say(&format!("built {}", tarball.display()));
    if o.image {
        image(&bin, &out)?;
    }
    if o.verify {
        verify(&deb, &out.join("chroot"))?;
    }
    Ok(())
}

/// The static vmscan (as the kernel lab builds it), stripped.
fn build_static() -> anyhow::Result<PathBuf> {
    let targets = run_ok(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets.lines().any(|l| l.trim() == TARGET) {
        say(&format!(
            "installing the {TARGET} target (rustup) for a static binary"
        ));
        status(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    status(cargo().args([
        "build",
        "--release",
        "--target",
        TARGET,
        "-p",
        "vmscan-user",
    ]))?;
    let bin = root().join("target").join(TARGET).join("release/vmscan");
    let out = root().join("target/dist/vmscan");
    std::fs::create_dir_all(root().join("target/dist"))?;
    std::fs::copy(&bin, &out).with_context(|| format!("copying {}", bin.display()))?;
    status(Command::new("strip").arg(&out))?;
    let file = run_ok(Command::new("file").arg(&out)).unwrap_or_default();
    if file.contains("dynamically linked") {
        bail!("{} is not static: {file}", out.display());
    }
    Ok(out)
}

/// Copies `from` to `root/rel` with `mode`, creating directories.
fn put(root: &Path, rel: &str, from: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let to = root.join(rel);
    std::fs::create_dir_all(to.parent().expect("a file under a directory"))?;
    std::fs::copy(from, &to).with_context(|| format!("{} -> {}", from.display(), to.display()))?;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Writes `text` to `root/rel` with `mode`.
fn put_text(root: &Path, rel: &str, text: &str, mode: u32) -> anyhow::Result<()> {
    let tmp = root.join(".tmp-put");
    std::fs::create_dir_all(root)?;
    std::fs::write(&tmp, text)?;
    put(root, rel, &tmp, mode)?;
    std::fs::remove_file(&tmp)?;
    Ok(())
}

/// The installed tree in the usual places, with DEBIAN/ control files.
fn stage_deb(bin: &Path, stage: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(stage);
    let src = root();
    put(stage, "usr/bin/vmscan", bin, 0o755)?;
    for (shell, rel) in [
        ("bash", "usr/share/bash-completion/completions/vmscan"),
        ("zsh", "usr/share/zsh/vendor-completions/_vmscan"),
        ("fish", "usr/share/fish/vendor_completions.d/vmscan.fish"),
    ] {
        put_text(
            stage,
            rel,
            &run_ok(Command::new(bin).args(["completions", shell]))?,
            0o644,
        )?;
    }
    let man = stage.join("usr/share/man/man1");
    std::fs::create_dir_all(&man)?;
    status(Command::new(bin).arg("man").arg(&man))?;
    status(
        Command::new("sh")
            .arg("-c")
            .arg("gzip -9n -- *.1")
            .current_dir(&man),
    )?;
    put(
        stage,
        &format!("usr/lib/systemd/system/{UNIT}"),
        &src.join("dist").join(UNIT),
        0o644,
    )?;
    put(
        stage,
        "etc/default/vmscan-exporter",
        &src.join("dist/vmscan-exporter.default"),
        0o644,
    )?;
    put(
        stage,
        "usr/share/vmscan/dashboards/vmscan-grafana.json",
        &src.join("dashboards/vmscan-grafana.json"),
        0o644,
    )?;
    put(
        stage,
        "usr/share/vmscan/kubernetes/vmscan.yaml",
        &src.join("deploy/kubernetes/vmscan.yaml"),
        0o644,
    )?;
    for e in std::fs::read_dir(src.join("schema"))? {
        let p = e?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        put(stage, &format!("usr/share/vmscan/schema/{name}"), &p, 0o644)?;
    }
    put(
        stage,
        "usr/share/doc/vmscan/README.md",
        &src.join("README.md"),
        0o644,
    )?;
    put_text(stage, "usr/share/doc/vmscan/copyright", COPYRIGHT, 0o644)?;
    control(stage)
}

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: vmscan\n\nFiles: *\nCopyright: the vmscan developers\nLicense: MIT or Apache-2.0\n";

fn control(stage: &Path) -> anyhow::Result<()> {
    let size_kib = run_ok(
        Command::new("du")
            .args(["-sk", "--exclude=DEBIAN"])
            .arg(stage),
    )?
    .split_whitespace()
    .next()
    .unwrap_or("0")
    .to_owned();
    let control = format!(
        "Package: vmscan\nVersion: {VERSION}\nArchitecture: amd64\nMaintainer: vmscan developers <vmscan@example.invalid>\n\
Installed-Size: {size_kib}\nSection: admin\nPriority: optional\nHomepage: https://example.invalid/vmscan\n\
Description: eBPF observability for Linux page reclaim\n \
vmscan hooks the kernel's reclaim tracepoints and rebuilds what every lruvec\n \
(NUMA node x memory cgroup) is doing: a live terminal UI, counters that match\n \
/proc/vmstat, a Prometheus exporter (vmscan-exporter.service), recordings.\n \
Static binary; needs a kernel with BTF and root or CAP_BPF + CAP_PERFMON.\n"
    );
    put_text(stage, "DEBIAN/control", &control, 0o644)?;
    put_text(
        stage,
        "DEBIAN/conffiles",
        "/etc/default/vmscan-exporter\n",
        0o644,
    )?;
    let reload = "#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi\n";
    put_text(stage, "DEBIAN/postinst", reload, 0o755)?;
    put_text(stage, "DEBIAN/postrm", reload, 0o755)?;
    put_text(
        stage,
        "DEBIAN/prerm",
        &format!(
            "#!/bin/sh\nset -e\nif [ -d /run/systemd/system ] && [ \"$1\" = remove ]; then systemctl stop {UNIT} >/dev/null 2>&1 || true; fi\n"
        ),
        0o755,
    )
}

/// The release tarball: the same files, laid out for unpacking anywhere.
fn tarball(stage: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let name = format!("vmscan-{VERSION}-x86_64-linux-musl");
    let dir = out.join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    let s = |rel: &str| stage.join(rel);
    put(&dir, "vmscan", &s("usr/bin/vmscan"), 0o755)?;
    put(
        &dir,
        "completions/vmscan.bash",
        &s("usr/share/bash-completion/completions/vmscan"),
        0o644,
    )?;
    put(
        &dir,
        "completions/_vmscan",
        &s("usr/share/zsh/vendor-completions/_vmscan"),
        0o644,
    )?;
    put(
        &dir,
        "completions/vmscan.fish",
        &s("usr/share/fish/vendor_completions.d/vmscan.fish"),
        0o644,
    )?;
    put(
        &dir,
        &format!("systemd/{UNIT}"),
        &s(&format!("usr/lib/systemd/system/{UNIT}")),
        0o644,
    )?;
    put(
        &dir,
        "systemd/vmscan-exporter.default",
        &s("etc/default/vmscan-exporter"),
        0o644,
    )?;
    put(
        &dir,
        "README.md",
        &s("usr/share/doc/vmscan/README.md"),
        0o644,
    )?;
    for sub in ["man/man1", "dashboards", "schema", "kubernetes"] {
        let from = if sub == "man/man1" {
            s("usr/share/man/man1")
        } else {
            s(&format!("usr/share/vmscan/{sub}"))
        };
        for e in std::fs::read_dir(&from)? {
            let p = e?.path();
            let file = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            put(&dir, &format!("{sub}/{file}"), &p, 0o644)?;
        }
    }
    let tgz = out.join(format!("{name}.tar.gz"));
    status(
        Command::new("tar")
            .args([
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--sort=name",
                "-czf",
            ])
            .arg(&tgz)
            .arg("-C")
            .arg(out)
            .arg(&name),
    )?;
    Ok(tgz)
}

/// An OCI image holding the static binary alone, written as an OCI layout
/// with GNU tar, gzip and sha256sum (umoci 0.4.7 in bookworm writes layers
/// without tar padding and end blocks, which tar and runtimes refuse),
/// checked with skopeo and also saved as a docker-archive tarball
/// (`docker load` / `podman load`).
fn image(bin: &Path, out: &Path) -> anyhow::Result<()> {
    apt_install(&["skopeo"])?;
    let layout = out.join("vmscan-oci");
    let _ = std::fs::remove_dir_all(&layout);
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let rootfs = out.join("image-root");
    let _ = std::fs::remove_dir_all(&rootfs);
    put(&rootfs, "usr/bin/vmscan", bin, 0o755)?;
    let tar = out.join("layer.tar");
    status(
        Command::new("tar")
            .args([
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--sort=name",
                "--mtime=@0",
                "-cf",
            ])
            .arg(&tar)
            .arg("-C")
            .arg(&rootfs)
            .arg("usr"),
    )?;
    let diff_id = sha256(&tar)?;
    status(Command::new("gzip").args(["-9nf"]).arg(&tar))?;
    let layer = blob(&blobs, &tar.with_extension("tar.gz"))?;
    let config = blob_json(&blobs, &image_config(&diff_id))?;
    let manifest = blob_json(
        &blobs,
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1 },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.0, "size": layer.1 }],
        }),
    )?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest.0, "size": manifest.1,
            "annotations": { "org.opencontainers.image.ref.name": VERSION },
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_string_pretty(&index)?,
    )?;
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    check_image(&layout, out)
}

/// What the image runs: `vmscan export` on all addresses (a pod's network).
fn image_config(diff_id: &str) -> serde_json::Value {
    serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "author": "vmscan developers",
        "config": {
            "Entrypoint": ["/usr/bin/vmscan"],
            "Cmd": ["export"],
            "Env": ["VMSCAN_LISTEN=0.0.0.0:9436", "VMSCAN_ALLOW_REMOTE=true"],
            "ExposedPorts": { "9436/tcp": {} },
            "Labels": { "org.opencontainers.image.title": "vmscan", "org.opencontainers.image.version": VERSION },
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created_by": "cargo xtask dist --image: /usr/bin/vmscan (static)" }],
    })
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let out = run_ok(Command::new("sha256sum").arg(path))?;
    Ok(format!(
        "sha256:{}",
        out.split_whitespace().next().context("sha256sum")?
    ))
}

/// Moves `file` into the blobs as its digest; returns (digest, size).
fn blob(blobs: &Path, file: &Path) -> anyhow::Result<(String, u64)> {
    let digest = sha256(file)?;
    let size = std::fs::metadata(file)?.len();
    std::fs::rename(file, blobs.join(digest.trim_start_matches("sha256:")))?;
    Ok((digest, size))
}

fn blob_json(blobs: &Path, v: &serde_json::Value) -> anyhow::Result<(String, u64)> {
    let tmp = blobs.join("tmp.json");
    std::fs::write(&tmp, serde_json::to_vec(v)?)?;
    blob(blobs, &tmp)
}

/// skopeo reads the layout back; the layers are listed; a docker-archive is made.
fn check_image(layout: &Path, out: &Path) -> anyhow::Result<()> {
    let image = format!("oci:{}:{VERSION}", layout.display());
    println!(
        "{}",
        run_ok(Command::new("skopeo").args(["inspect", &image]))?
    );
    println!(
        "{}",
        run_ok(Command::new("skopeo").args(["inspect", "--config", &image]))?
    );
    say("the image's files, layer by layer:");
    for layer in layers(layout)? {
        println!("{}", run_ok(Command::new("tar").arg("-tvzf").arg(&layer))?);
    }
    let archive = out.join(format!("vmscan-{VERSION}-image.tar"));
    let _ = std::fs::remove_file(&archive);
    status(Command::new("skopeo").args([
        "copy",
        &image,
        &format!("docker-archive:{}:vmscan:{VERSION}", archive.display()),
    ]))?;
    say(&format!(
        "built {} (OCI layout) and {}",
        layout.display(),
        archive.display()
    ));
    Ok(())
}

/// The layer blobs of the layout's only manifest.
fn layers(layout: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json"))?)?;
    let manifest = index["manifests"][0]["digest"]
        .as_str()
        .context("no manifest in index.json")?;
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(blob(manifest))?)?;
    Ok(manifest["layers"]
        .as_array()
        .context("no layers")?
        .iter()
        .filter_map(|l| l["digest"].as_str())
        .map(blob)
        .collect())
}

/// Installs the .deb into a fresh Debian chroot (debootstrap, cached under
/// `chroot`) and tries what a new user would: --version, man, bash
/// completion of `vmscan st<TAB>`, systemd-analyze verify of the unit; then
/// removes it and checks nothing is left.
fn verify(deb: &Path, chroot: &Path) -> anyhow::Result<()> {
    apt_install(&["debootstrap"])?;
    if !chroot.join("usr/bin/systemd-analyze").exists() {
        say(
            "debootstrap: a minimal Debian bookworm with man-db, bash-completion and systemd (a few minutes, once)",
        );
        let _ = std::fs::remove_dir_all(chroot);
        status(
            Command::new("debootstrap")
                .args([
                    "--variant=minbase",
                    "--include=man-db,bash-completion,systemd",
                    "bookworm",
                ])
                .arg(chroot)
                .arg("http://deb.debian.org/debian"),
        )?;
    }
    std::fs::copy(deb, chroot.join("tmp/vmscan.deb"))?;
    let proc = chroot.join("proc");
    status(
        Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&proc),
    )?;
    let res = verify_in(chroot);
    let _ = status(Command::new("umount").arg(&proc));
    res
}

fn verify_in(chroot: &Path) -> anyhow::Result<()> {
    let sh = |script: &str| -> anyhow::Result<String> {
        say(&format!("chroot: {script}"));
        let out = run_ok(
            Command::new("chroot")
                .arg(chroot)
                .args(["/bin/bash", "-c", script]),
        )?;
        print!("{out}");
        Ok(out)
    };
    sh("dpkg -i /tmp/vmscan.deb && dpkg -L vmscan")?;
    let version = sh("vmscan --version")?;
    if !version.starts_with(&format!("vmscan {VERSION} (")) || version.contains("unknown") {
        bail!("vmscan --version: {version}");
    }
    let man = sh("MANWIDTH=80 man -P cat vmscan | head -12 && man -w vmscan-stat vmscan-export")?;
    if !man.contains("vmscan") || !man.contains("vmscan-export.1.gz") {
        bail!("man pages missing");
    }
    let comp = sh(
        "source /usr/share/bash-completion/bash_completion; _completion_loader vmscan; \
         COMP_WORDS=(vmscan st) COMP_CWORD=1 COMP_LINE='vmscan st' COMP_POINT=9 && _vmscan vmscan st vmscan && \
         echo \"completes: ${COMPREPLY[*]}\"",
    )?;
    if comp.trim() != "completes: stat" {
        bail!("bash completion of `vmscan st`: {comp}");
    }
    sh(&format!(
        "systemd-analyze verify /usr/lib/systemd/system/{UNIT} && echo 'systemd-analyze verify: ok'"
    ))?;
    sh(&format!(
        "systemd-analyze security --offline=true /usr/lib/systemd/system/{UNIT} | tail -1"
    ))?;
    sh(
        "dpkg -r vmscan && test ! -e /usr/bin/vmscan && test ! -e /usr/lib/systemd/system/vmscan-exporter.service && echo 'removed cleanly'",
    )?;
    say("the .deb installs, runs, documents, completes and verifies in a fresh Debian chroot");
    Ok(())
}
