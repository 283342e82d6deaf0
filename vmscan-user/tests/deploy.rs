//! The deployment files against what vmscan needs: the Kubernetes manifest
//! (not privileged, exactly the capabilities, the host mounts and the path
//! flags pointing into them, Service and ServiceMonitor wired to the port)
//! and the systemd unit (the same capabilities, hardened, restarted).

use std::collections::BTreeSet;

use serde_yaml::Value;

/// Capabilities vmscan needs: BPF (programs, maps), PERFMON (attach),
/// SYS_RESOURCE (RLIMIT_MEMLOCK before 5.11), SYSLOG (kallsyms addresses).
const CAPS: [&str; 4] = ["BPF", "PERFMON", "SYS_RESOURCE", "SYSLOG"];

fn repo(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn manifests() -> Vec<Value> {
    let text = repo("deploy/kubernetes/vmscan.yaml");
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn strs(v: &Value) -> BTreeSet<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_daemonset_has_what_vmscan_needs_and_is_not_privileged() {
    let docs = manifests();
    let ds = kind(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], Value::Bool(false));
    assert_eq!(sc["allowPrivilegeEscalation"], Value::Bool(false));
    assert_eq!(
        strs(&sc["capabilities"]["drop"]),
        BTreeSet::from(["ALL".to_owned()])
    );
    assert_eq!(
        strs(&sc["capabilities"]["add"]),
        CAPS.iter().map(|c| c.to_string()).collect()
    );
    assert!(pod.get("hostPID").is_none(), "no host PID namespace needed");

    // Every host path vmscan reads is mounted read-only where its flags say.
    let volumes: Vec<(String, String)> = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["hostPath"]["path"].as_str().expect("hostPath").to_owned(),
            )
        })
        .collect();
    let mounts: Vec<(String, String)> = c["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .inspect(|m| assert_eq!(m["readOnly"], Value::Bool(true), "{m:?}"))
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["mountPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let host_to_container = |host: &str| {
        let name = &volumes
            .iter()
            .find(|(_, p)| p == host)
            .unwrap_or_else(|| panic!("no hostPath {host}"))
            .0;
        mounts
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not mounted"))
            .1
            .clone()
    };
    let env = |name: &str| {
        c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        host_to_container("/sys/kernel/tracing"),
        "/sys/kernel/tracing",
        "vmscan looks for tracefs there"
    );
    assert_eq!(
        host_to_container("/sys/kernel/btf"),
        "/sys/kernel/btf",
        "aya reads BTF there"
    );
    assert_eq!(Some(host_to_container("/proc")), env("VMSCAN_PROCFS"));
    assert_eq!(Some(host_to_container("/sys")), env("VMSCAN_SYSFS"));
    assert_eq!(
        Some(host_to_container("/sys/fs/cgroup")),
        env("VMSCAN_CGROUPFS")
    );

    // The exporter listens beyond loopback on the port the Service names.
    let port = c["ports"][0]["containerPort"].as_u64().expect("port");
    assert_eq!(env("VMSCAN_LISTEN"), Some(format!("0.0.0.0:{port}")));
    assert_eq!(env("VMSCAN_ALLOW_REMOTE").as_deref(), Some("true"));
    assert_eq!(c["args"][0], "export");
}

#[test]
fn service_and_servicemonitor_select_the_daemonset() {
    let docs = manifests();
    let labels = &kind(&docs, "DaemonSet")["spec"]["template"]["metadata"]["labels"];
    let svc = kind(&docs, "Service");
    assert_eq!(&svc["spec"]["selector"], labels);
    let port_name = kind(&docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["ports"]
        [0]["name"]
        .clone();
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], port_name);
    let sm = kind(&docs, "ServiceMonitor");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        &sm["spec"]["selector"]["matchLabels"],
        &svc["metadata"]["labels"]
    );
    assert_eq!(
        sm["spec"]["endpoints"][0]["port"],
        svc["spec"]["ports"][0]["name"]
    );
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
}

#[test]
fn the_systemd_unit_is_hardened_with_the_same_capabilities() {
    let unit = repo("dist/vmscan-exporter.service");
    let get = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
            .collect()
    };
    let caps: BTreeSet<String> = CAPS.iter().map(|c| format!("CAP_{c}")).collect();
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let have: BTreeSet<String> = get(key)
            .join(" ")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(have, caps, "{key}");
    }
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("Restart", "on-failure"),
        ("EnvironmentFile", "-/etc/default/vmscan-exporter"),
        ("ExecStart", "/usr/bin/vmscan export"),
    ] {
        assert_eq!(get(key), vec![want.to_owned()], "{key}");
    }
    // The settings file sets only variables the exporter reads.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_vmscan"))
        .args(["export", "--help"])
        .output()
        .expect("vmscan");
    let help = String::from_utf8_lossy(&cli.stdout);
    for l in repo("dist/vmscan-exporter.default")
        .lines()
        .map(|l| l.trim_start_matches('#'))
        .filter(|l| l.starts_with("VMSCAN_"))
    {
        let var = l.split('=').next().unwrap();
        assert!(
            help.contains(&format!("[env: {var}=")),
            "{var} is not an environment variable of vmscan export:\n{help}"
        );
    }
}
