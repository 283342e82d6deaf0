//! Kubernetes pods from memory-cgroup paths. The kubelet puts every pod in a
//! cgroup named after its UID under a QoS-class parent, and the container
//! runtime every container below it, in one of two layouts:
//!
//! - cgroupfs driver: `/kubepods/burstable/pod<uid>/<container id>`
//!   (Guaranteed pods sit directly under `/kubepods`);
//! - systemd driver: `/kubepods.slice/kubepods-besteffort.slice/
//!   kubepods-besteffort-pod<uid with _ for ->.slice/cri-containerd-<id>.scope`
//!   (`docker-<id>.scope`, `crio-<id>.scope`).
//!
//! Paths are the same under cgroup v1 (relative to the memory hierarchy) and
//! v2; a kubelet nested in another cgroup (kind, k3s) only adds a prefix.

use schemars::JsonSchema;
use serde::Serialize;

/// What a kubepods cgroup path says about its pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KubePod {
    /// The pod's UID (with dashes, as the API shows it).
    pub pod_uid: String,
    /// The container's runtime id; None for the pod's own cgroup.
    pub container_id: Option<String>,
    /// "guaranteed", "burstable" or "besteffort".
    pub qos_class: &'static str,
}

impl KubePod {
    /// A short name for narrow columns: "pod 8d3b7a36/4f8c2d1e0b9a burstable".
    pub fn short(&self) -> String {
        let uid: String = self.pod_uid.chars().take(8).collect();
        match &self.container_id {
            Some(c) => format!("pod {uid}/{} {}", &c[..c.len().min(12)], self.qos_class),
            None => format!("pod {uid} {}", self.qos_class),
        }
    }
}

/// Parses a memory cgroup's path; None when it is not under kubepods.
pub fn parse(path: &str) -> Option<KubePod> {
    // Most paths on most hosts: no allocation for them (snapshots parse
    // every memcg's path).
    if !path.contains("kubepods") {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let top = parts
        .iter()
        .position(|p| *p == "kubepods" || *p == "kubepods.slice")?;
    let mut rest = parts[top + 1..].iter().copied();
    let mut next = rest.next()?;
    let qos = match qos_of(next) {
        Some(q) => {
            next = rest.next()?;
            q
        }
        None => "guaranteed",
    };
    let pod_uid = pod_uid(next)?;
    let container_id = rest.next().and_then(container_id);
    Some(KubePod {
        pod_uid,
        container_id,
        qos_class: qos,
    })
}

/// `burstable`, `kubepods-burstable.slice`: the QoS level, if this is one.
fn qos_of(part: &str) -> Option<&'static str> {
    let name = part
        .strip_prefix("kubepods-")
        .and_then(|p| p.strip_suffix(".slice"))
        .unwrap_or(part);
    match name {
        "burstable" => Some("burstable"),
        "besteffort" => Some("besteffort"),
        _ => None,
    }
}

/// `pod<uid>` or `kubepods[-<qos>]-pod<uid_with_underscores>.slice`.
fn pod_uid(part: &str) -> Option<String> {
    let uid = match part.strip_suffix(".slice") {
        Some(slice) => slice.rsplit_once("-pod")?.1.replace('_', "-"),
        None => part.strip_prefix("pod")?.to_owned(),
    };
    let ok = !uid.is_empty() && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then_some(uid)
}

/// `<id>` (cgroupfs) or `<runtime>-<id>.scope` (systemd); the runtime's
/// prefix and `.scope` are dropped.
fn container_id(part: &str) -> Option<String> {
    let id = match part.strip_suffix(".scope") {
        Some(scope) => scope.rsplit_once('-')?.1,
        None => part.rsplit_once('-').map_or(part, |(_, id)| id),
    };
    let ok = id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit());
    ok.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "8d3b7a36-6e0f-4a8c-b7c0-1f2e3d4c5b6a";
    const CID: &str = "4f8c2d1e0b9a87654321fedcba0987654321fedcba0987654321fedcba098765";

    fn pod(qos: &'static str, container: bool) -> Option<KubePod> {
        Some(KubePod {
            pod_uid: UID.into(),
            container_id: container.then(|| CID.into()),
            qos_class: qos,
        })
    }

    #[test]
    fn cgroupfs_driver_v1_and_v2() {
        // v2: relative to the unified root; v1: relative to the memory hierarchy (same shape).
        assert_eq!(
            parse(&format!("/kubepods/burstable/pod{UID}/{CID}")),
            pod("burstable", true)
        );
        assert_eq!(
            parse(&format!("/kubepods/besteffort/pod{UID}")),
            pod("besteffort", false)
        );
        assert_eq!(
            parse(&format!("/kubepods/pod{UID}/{CID}")),
            pod("guaranteed", true)
        );
        // A kubelet nested in another cgroup (kind, k3s) only adds a prefix.
        assert_eq!(
            parse(&format!("/kubelet/kubepods/burstable/pod{UID}/{CID}")),
            pod("burstable", true)
        );
    }

    #[test]
    fn systemd_driver_v1_and_v2() {
        let u = UID.replace('-', "_");
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{CID}.scope"
            )),
            pod("burstable", true)
        );
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/docker-{CID}.scope"
            )),
            pod("besteffort", true)
        );
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-pod{u}.slice/crio-{CID}.scope"
            )),
            pod("guaranteed", true)
        );
        assert_eq!(
            parse(&format!("/kubepods.slice/kubepods-pod{u}.slice")),
            pod("guaranteed", false)
        );
        assert_eq!(
            parse(&format!(
                "/kubelet.slice/kubelet-kubepods.slice/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{CID}.scope"
            )),
            pod("burstable", true)
        );
    }

    #[test]
    fn short_names_fit_a_column() {
        assert_eq!(
            pod("burstable", true).unwrap().short(),
            "pod 8d3b7a36/4f8c2d1e0b9a burstable"
        );
        assert_eq!(
            pod("guaranteed", false).unwrap().short(),
            "pod 8d3b7a36 guaranteed"
        );
    }

    #[test]
    fn everything_else_is_not_a_pod() {
        for p in [
            "/",
            "/system.slice/kubelet.service",
            "/kubepods",
            "/kubepods/burstable",
            "/kubepods.slice/kubepods-burstable.slice",
            "/user.slice/pod1234",
        ] {
            assert_eq!(parse(p), None, "{p}");
        }
        // A container directory that is not an id (the pause container's sandbox names vary) is left out.
        assert_eq!(
            parse(&format!("/kubepods/pod{UID}/not-an-id")),
            pod("guaranteed", false)
        );
    }
}
