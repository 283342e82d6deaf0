//! Kubernetes pods in the exporter's output and the JSON, from fixture
//! cgroup trees of both kubelet cgroup drivers (cgroupfs, systemd) under
//! both cgroup versions, walked by the same code that walks the host's.

use std::path::{Path, PathBuf};

use vmscan::{
    export::metrics::{ExportState, registry, render},
    model::{input::Sample, lruvec::Model},
    probe::memcgs::MemcgSampler,
};

const UID: &str = "8d3b7a36-6e0f-4a8c-b7c0-1f2e3d4c5b6a";
const CID: &str = "4f8c2d1e0b9a87654321fedcba0987654321fedcba0987654321fedcba098765";

/// Writes a memory cgroup and its parents, each with node 0 figures in the
/// version's format (every cgroup of a memory hierarchy has these files).
fn memcg(root: &Path, rel: &str, v1: bool) {
    let rel = rel.trim_start_matches('/');
    if let Some((parent, _)) = rel.rsplit_once('/') {
        memcg(root, parent, v1);
    }
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let (numa, stat) = if v1 {
        (
            "total=30 N0=30\nfile=20 N0=20\nanon=10 N0=10\nunevictable=0 N0=0\n",
            "inactive_anon 4096\nactive_anon 36864\ninactive_file 40960\nactive_file 40960\nunevictable 0\n",
        )
    } else {
        (
            "anon N0=40960\nfile N0=81920\ninactive_anon N0=4096\nactive_anon N0=36864\ninactive_file N0=40960\nactive_file N0=40960\nunevictable N0=0\n",
            "inactive_anon 4096\nactive_anon 36864\ninactive_file 40960\nactive_file 40960\nunevictable 0\n",
        )
    };
    std::fs::write(dir.join("memory.numa_stat"), numa).expect("numa_stat");
    std::fs::write(dir.join("memory.stat"), stat).expect("stat");
}

fn fixture(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("vmscan-kube-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("fixture root");
    root
}

/// The exporter's text and the snapshot's JSON for a fixture tree.
fn exported(root: &Path, v1: bool) -> (String, serde_json::Value) {
    let memcgs = MemcgSampler::new(root, v1, 4096, 100)
        .sample(&Default::default())
        .memcgs;
    let mut model = Model::new(10);
    model.apply_sample(&Sample {
        memcgs,
        ..Default::default()
    });
    let snap = model.snapshot();
    let json = serde_json::to_value(&snap).expect("JSON");
    let state = ExportState {
        snap,
        max_memcgs: 100,
        ..Default::default()
    };
    let text = render(&registry(std::sync::Arc::new(std::sync::RwLock::new(
        state,
    ))))
    .expect("render");
    (text, json)
}

fn check(name: &str, v1: bool, pod_dir: &str, container_dir: &str, qos: &str) {
    let root = fixture(name);
    memcg(&root, "/system.slice/kubelet.service", v1);
    memcg(&root, pod_dir, v1);
    memcg(&root, &format!("{pod_dir}/{container_dir}"), v1);
    let (text, json) = exported(&root, v1);
    let _ = std::fs::remove_dir_all(&root);
    let info: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("vmscan_memcg_kubernetes_info{"))
        .collect();
    let container = format!(
        "vmscan_memcg_kubernetes_info{{memcg=\"{pod_dir}/{container_dir}\",pod_uid=\"{UID}\",container_id=\"{CID}\",qos_class=\"{qos}\"}} 1"
    );
    let pod = format!(
        "vmscan_memcg_kubernetes_info{{memcg=\"{pod_dir}\",pod_uid=\"{UID}\",container_id=\"\",qos_class=\"{qos}\"}} 1"
    );
    assert!(info.contains(&container.as_str()), "{name}: {info:#?}");
    assert!(info.contains(&pod.as_str()), "{name}: {info:#?}");
    assert_eq!(
        info.len(),
        2,
        "{name}: only the pod and its container: {info:#?}"
    );
    let lv = json["lruvecs"].as_array().expect("lruvecs");
    let c = lv
        .iter()
        .find(|l| {
            l["memcg"]
                .as_str()
                .is_some_and(|m| m.ends_with(container_dir))
        })
        .expect("container lruvec");
    assert_eq!(
        c["kube"],
        serde_json::json!({"pod_uid": UID, "container_id": CID, "qos_class": qos}),
        "{name}"
    );
    let k = lv
        .iter()
        .find(|l| l["memcg"] == "/system.slice/kubelet.service")
        .expect("kubelet lruvec");
    assert!(k["kube"].is_null(), "{name}");
    println!("{name}:\n  {}", info.join("\n  "));
}

#[test]
fn cgroupfs_driver_on_cgroup_v1_and_v2() {
    for v1 in [true, false] {
        let name = if v1 { "cgroupfs-v1" } else { "cgroupfs-v2" };
        check(
            name,
            v1,
            &format!("/kubepods/burstable/pod{UID}"),
            CID,
            "burstable",
        );
        check(
            &format!("{name}-guaranteed"),
            v1,
            &format!("/kubepods/pod{UID}"),
            CID,
            "guaranteed",
        );
    }
}

#[test]
fn systemd_driver_on_cgroup_v1_and_v2() {
    let u = UID.replace('-', "_");
    for v1 in [true, false] {
        let name = if v1 { "systemd-v1" } else { "systemd-v2" };
        check(
            name,
            v1,
            &format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice"),
            &format!("cri-containerd-{CID}.scope"),
            "besteffort",
        );
    }
}
