//! The machine-output contract. Every JSON document vmscan writes is an
//! [`Envelope`]: `schema_version`, `type`, `timestamp`, `host`, then the
//! body's own fields. The shapes are described by the JSON Schema files in
//! `schema/` (generated from these types by [`schemas`]; the tests check the
//! files are current and validate real outputs against them).

use schemars::{JsonSchema, Schema};
use serde::Serialize;

/// Bumped when a field changes meaning or goes away; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// One JSON document (or one JSON Lines object) of vmscan's output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Envelope<T> {
    /// The version of this shape ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// What this object is: "interval" or "total" (stat), "snapshot",
    /// "probes", "access", "replay", "report".
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was written, RFC 3339 in UTC.
    pub timestamp: String,
    /// The host it describes (the recorded host for replay and report).
    pub host: String,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Envelope<T> {
    /// An envelope for this host, now.
    pub fn new(kind: &str, body: T) -> Self {
        Self::for_host(kind, hostname(), body)
    }

    pub fn for_host(kind: &str, host: String, body: T) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            kind: kind.to_owned(),
            timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            host,
            body,
        }
    }
}

impl<T: Serialize> Envelope<T> {
    /// Writes it as one indented document.
    pub fn print_pretty(&self) -> anyhow::Result<()> {
        crate::out::line(&serde_json::to_string_pretty(self)?)
    }

    /// Writes it as one line (JSON Lines).
    pub fn print_line(&self) -> anyhow::Result<()> {
        crate::out::line(&serde_json::to_string(self)?)
    }
}

/// This host's name (the kernel's nodename), "" if unreadable.
pub fn hostname() -> String {
    std::fs::read_to_string(crate::probe::paths::proc("sys/kernel/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// One output's schema file: its name under `schema/` and its schema.
pub struct SchemaFile {
    pub file: &'static str,
    pub schema: Schema,
}

/// Every output's schema, as the files under `schema/` hold them.
pub fn schemas() -> Vec<SchemaFile> {
    use super::{
        access::AccessReport, probes::ProbesReport, replay::ReplayJson, snapshot::SnapshotJson,
        stat::StatReport,
    };
    use crate::model::refaults::RefaultReport;
    let titled = |file, title: &str, what: &str, mut schema: Schema| {
        schema.insert("title".into(), title.into());
        schema.insert(
            "description".into(),
            format!("{what} Every object carries schema_version {SCHEMA_VERSION}.").into(),
        );
        SchemaFile { file, schema }
    };
    vec![
        titled(
            "stat.schema.json",
            "vmscan stat --json",
            "Counters over a window. With --interval: JSON Lines, one object of type \"interval\" per interval, then one of type \"total\"; without: one \"total\" document.",
            schemars::schema_for!(Envelope<StatReport>),
        ),
        titled(
            "snapshot.schema.json",
            "vmscan snapshot --json",
            "The model's snapshot: lruvecs, nodes, memory cgroups, histograms, findings (type \"snapshot\").",
            schemars::schema_for!(Envelope<SnapshotJson>),
        ),
        titled(
            "access.schema.json",
            "vmscan access --json",
            "folio_mark_accessed calls by kernel stack (type \"access\").",
            schemars::schema_for!(Envelope<AccessReport>),
        ),
        titled(
            "refaults.schema.json",
            "vmscan refaults --json",
            "Refaults by memory cgroup, file and task, the kernel's verdicts, refault distance histograms and what-if curves (type \"refaults\").",
            schemars::schema_for!(Envelope<RefaultReport>),
        ),
        titled(
            "probes.schema.json",
            "vmscan probes --json",
            "Which hooks attach on this kernel and the system facts that decide it (type \"probes\").",
            schemars::schema_for!(Envelope<ProbesReport>),
        ),
        titled(
            "replay.schema.json",
            "vmscan replay --json, vmscan report --format json",
            "A recording's facts and its final snapshot (type \"replay\" or \"report\").",
            schemars::schema_for!(Envelope<ReplayJson>),
        ),
    ]
}

/// The text of a schema file (pretty JSON, newline-terminated).
pub fn schema_text(s: &Schema) -> String {
    let mut t = serde_json::to_string_pretty(s).unwrap_or_default();
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cmd::{
            access::AccessReport,
            snapshot::SnapshotJson,
            stat::{self, StatReport},
        },
        model::{
            counters::Counting,
            episodes::Episodes,
            input::HookStatus,
            snapshot::{LruvecSnap, NodeSnap, Snapshot},
            totals::Totals,
        },
    };

    fn schema_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema")
    }

    /// Checks `v` against the checked-in schema `file`, listing every error.
    fn assert_valid(file: &str, v: &serde_json::Value) {
        let text = std::fs::read_to_string(schema_dir().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let errors: Vec<String> = validator
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:#?}");
    }

    /// An envelope with a fixed time and host, so snapshots are stable.
    fn fixed<T>(kind: &str, body: T) -> Envelope<T> {
        Envelope {
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            ..Envelope::for_host(kind, "node-a".into(), body)
        }
    }

    fn hooks() -> Vec<HookStatus> {
        let h = |id, name: &str, mechanism: Option<&str>, error: Option<&str>| HookStatus {
            id: vmscan_common::HookId(id),
            name: name.into(),
            mechanism: mechanism.map(Into::into),
            error: error.map(Into::into),
            notes: vec![],
        };
        vec![
            h(0, "vmscan:mm_vmscan_kswapd_wake", Some("tracepoint"), None),
            h(
                3,
                "folio_mark_accessed",
                None,
                Some("kernel built without CONFIG_KPROBES"),
            ),
        ]
    }

    fn stat_report() -> StatReport {
        stat::report(
            "6.18.0",
            2.0,
            &hooks(),
            &Totals::default(),
            Episodes::default(),
            &Counting::default(),
        )
    }

    fn snapshot() -> SnapshotJson {
        let snapshot = Snapshot {
            interval_secs: 1.0,
            nodes: vec![NodeSnap {
                node: 0,
                balance: vec![(3, 5)],
                priority: vec![0; 13],
                ..Default::default()
            }],
            lruvecs: vec![LruvecSnap {
                node: 0,
                memcg: "/".into(),
                memcg_id: 1,
                inserted: [1, 2, 3, 4, 5],
                ..Default::default()
            }],
            ..Default::default()
        };
        SnapshotJson {
            hooks: stat::hook_rows(&hooks(), &[7, 0, 0, 0], &[1, 0, 0, 0]),
            snapshot,
        }
    }

    #[test]
    fn the_checked_in_schema_files_are_current() {
        for f in schemas() {
            let path = schema_dir().join(f.file);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == schema_text(&f.schema),
                "{} is stale: regenerate with `cargo run -p vmscan-user -- schema schema` and commit it",
                path.display()
            );
        }
    }

    #[test]
    fn stat_json_has_its_envelope_and_matches_the_schema() {
        let v = serde_json::to_value(fixed("interval", stat_report())).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["type"], "interval");
        assert_valid("stat.schema.json", &v);
        insta::assert_json_snapshot!("stat_json", v);
    }

    #[test]
    fn snapshot_json_names_lists_and_hooks() {
        let v = serde_json::to_value(fixed("snapshot", snapshot())).unwrap();
        assert_eq!(v["lruvecs"][0]["inserted"]["active_file"], 4);
        assert_eq!(
            v["nodes"][0]["balance"][0],
            serde_json::json!({"anon": 3, "file": 5})
        );
        assert_eq!(v["hooks"][0]["events"], 7);
        assert!(v.get("hook_events").is_none());
        assert_valid("snapshot.schema.json", &v);
        insta::assert_json_snapshot!("snapshot_json", v);
    }

    #[test]
    fn access_json_matches_the_schema() {
        let v = serde_json::to_value(fixed(
            "access",
            AccessReport {
                lru: "classic",
                ..Default::default()
            },
        ))
        .unwrap();
        assert_valid("access.schema.json", &v);
        insta::assert_json_snapshot!("access_json", v);
    }
}
