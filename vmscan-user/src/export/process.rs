//! Metrics about vmscan itself, so fleets can watch the watcher:
//! `vmscan_build_info{version,revision,kernel}` and the standard Prometheus
//! process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`),
//! read from /proc/self at scrape time.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use super::metrics::label;

/// What `vmscan_build_info` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    /// The git revision the build script found (VMSCAN_GIT_REVISION), or
    /// "unknown".
    pub revision: String,
    /// The running kernel's release.
    pub kernel: String,
}

impl BuildInfo {
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            revision: option_env!("VMSCAN_GIT_REVISION")
                .filter(|r| !r.is_empty())
                .unwrap_or("unknown")
                .to_owned(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// The fields of /proc/PID/stat the process metrics need, in the kernel's
/// units (clock ticks, bytes, pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub utime: u64,
    pub stime: u64,
    pub starttime: u64,
    pub vsize: u64,
    pub rss: u64,
}

/// Parses /proc/PID/stat. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last ')'.
pub fn parse_proc_stat(s: &str) -> Option<ProcStat> {
    let rest = &s[s.rfind(')')? + 1..];
    // rest[0] is field 3 (state): field n is at n - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        utime: n(14)?,
        stime: n(15)?,
        starttime: n(22)?,
        vsize: n(23)?,
        rss: n(24)?,
    })
}

/// The boot time (seconds since the epoch) from /proc/stat's btime line.
pub fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The process figures as exported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessFigures {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
}

impl ProcessFigures {
    /// Combines /proc/self/stat with the boot time and the system's clock
    /// tick and page size.
    pub fn from_stat(
        st: &ProcStat,
        btime: u64,
        ticks_per_s: u64,
        page: u64,
        open_fds: u64,
        max_fds: Option<u64>,
    ) -> Self {
        let hz = ticks_per_s.max(1) as f64;
        Self {
            cpu_seconds: (st.utime + st.stime) as f64 / hz,
            resident_bytes: st.rss.saturating_mul(page),
            virtual_bytes: st.vsize,
            open_fds,
            max_fds,
            start_time_seconds: btime as f64 + st.starttime as f64 / hz,
        }
    }

    /// This process, now; None when /proc cannot be read.
    pub fn current() -> Option<Self> {
        let st = parse_proc_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let btime = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
        // The directory handle read_dir holds is not counted.
        let fds = std::fs::read_dir("/proc/self/fd")
            .ok()?
            .count()
            .saturating_sub(1) as u64;
        // SAFETY: sysconf only reads a configuration value.
        let (hz, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the limit into `lim`, a valid rlimit.
        let max_fds = (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0
            && lim.rlim_cur != libc::RLIM_INFINITY)
            .then_some(lim.rlim_cur);
        Some(Self::from_stat(
            &st,
            btime,
            hz.max(1) as u64,
            page.max(1) as u64,
            fds,
            max_fds,
        ))
    }
}

fn one<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ty: MetricType,
    m: M,
) -> Result<(), std::fmt::Error> {
    m.encode(enc.encode_descriptor(name, help, None, ty)?)
}

/// Encodes the build info and, when known, the process figures.
pub fn encode_self(
    b: &BuildInfo,
    p: Option<&ProcessFigures>,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    {
        let mut d = enc.encode_descriptor(
            "vmscan_build_info",
            "The vmscan build (version, git revision) and the kernel it runs on; always 1.",
            None,
            MetricType::Gauge,
        )?;
        let labels = [
            ("version", label(&b.version)),
            ("revision", label(&b.revision)),
            ("kernel", label(&b.kernel)),
        ];
        ConstGauge::new(1i64).encode(d.encode_family(&labels)?)?;
    }
    let Some(p) = p else { return Ok(()) };
    one(
        enc,
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        MetricType::Counter,
        ConstCounter::new(p.cpu_seconds),
    )?;
    one(
        enc,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        MetricType::Gauge,
        ConstGauge::new(p.resident_bytes as i64),
    )?;
    one(
        enc,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        MetricType::Gauge,
        ConstGauge::new(p.virtual_bytes as i64),
    )?;
    one(
        enc,
        "process_open_fds",
        "Number of open file descriptors.",
        MetricType::Gauge,
        ConstGauge::new(p.open_fds as i64),
    )?;
    if let Some(max) = p.max_fds {
        one(
            enc,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            MetricType::Gauge,
            ConstGauge::new(max as i64),
        )?;
    }
    one(
        enc,
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        MetricType::Gauge,
        ConstGauge::new(p.start_time_seconds),
    )
}

/// Encodes vmscan's own metrics at every scrape.
#[derive(Debug)]
pub struct SelfCollector(pub BuildInfo);

impl Collector for SelfCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_self(&self.0, ProcessFigures::current().as_ref(), &mut enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::metrics::to_prometheus_text;

    const STAT: &str = "4242 (vm scan) (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 3 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn proc_stat_fields_after_the_command_name() {
        let st = parse_proc_stat(STAT).unwrap();
        assert_eq!(
            st,
            ProcStat {
                utime: 150,
                stime: 50,
                starttime: 12345,
                vsize: 104_857_600,
                rss: 2560
            }
        );
        assert_eq!(parse_proc_stat("4242 (x) S 1 2"), None, "too short");
        assert_eq!(parse_proc_stat("no parenthesis"), None);
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        let p = ProcessFigures::from_stat(&st, 1_700_000_000, 100, 4096, 7, Some(1024));
        assert_eq!(
            (p.cpu_seconds, p.resident_bytes, p.start_time_seconds),
            (2.0, 2560 * 4096, 1_700_000_123.45)
        );
    }

    fn render(b: &BuildInfo, p: Option<&ProcessFigures>) -> String {
        let mut r = prometheus_client::registry::Registry::default();
        #[derive(Debug)]
        struct Fixed(BuildInfo, Option<ProcessFigures>);
        impl Collector for Fixed {
            fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                encode_self(&self.0, self.1.as_ref(), &mut enc)
            }
        }
        r.register_collector(Box::new(Fixed(b.clone(), p.copied())));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn build_info_and_process_metrics_in_both_formats() {
        let b = BuildInfo {
            version: "0.1.0".into(),
            revision: "abc123def456".into(),
            kernel: "6.18.0-\"x\"".into(),
        };
        let p = ProcessFigures::from_stat(
            &parse_proc_stat(STAT).unwrap(),
            1_700_000_000,
            100,
            4096,
            7,
            Some(1024),
        );
        let om = render(&b, Some(&p));
        for line in [
            "vmscan_build_info{version=\"0.1.0\",revision=\"abc123def456\",kernel=\"6.18.0-\\\"x\\\"\"} 1",
            "# TYPE process_cpu_seconds counter",
            "process_cpu_seconds_total 2.0",
            "process_resident_memory_bytes 10485760",
            "process_virtual_memory_bytes 104857600",
            "process_open_fds 7",
            "process_max_fds 1024",
            "process_start_time_seconds 1700000123.45",
        ] {
            assert!(om.lines().any(|l| l == line), "{line:?} missing from\n{om}");
        }
        let text = to_prometheus_text(&om);
        assert!(
            text.contains(
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 2.0\n"
            ),
            "{text}"
        );
        let bare = render(&b, None);
        assert!(
            bare.contains("vmscan_build_info{") && !bare.contains("process_"),
            "without /proc only the build info: {bare}"
        );
    }

    #[test]
    fn this_process_reads_sensibly() {
        let p = ProcessFigures::current().expect("/proc/self");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            p.start_time_seconds <= now + 1.0 && p.start_time_seconds > now - 86_400.0,
            "started {} s before now",
            now - p.start_time_seconds
        );
        assert!(
            p.resident_bytes > 1 << 20 && p.virtual_bytes >= p.resident_bytes,
            "{p:?}"
        );
        let files: Vec<std::fs::File> = (0..20)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let open = ProcessFigures::current().unwrap().open_fds;
        assert!(
            open >= 3 + files.len() as u64,
            "{open} open with {} files held",
            files.len()
        );
        assert!(p.cpu_seconds >= 0.0 && p.max_fds.is_none_or(|m| m >= p.open_fds));
        let b = BuildInfo::current();
        assert_eq!(b.version, env!("CARGO_PKG_VERSION"));
        assert!(
            !b.revision.is_empty() && !b.kernel.is_empty() && b.kernel != "unknown",
            "{b:?}"
        );
    }
}
