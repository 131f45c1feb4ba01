//! Result types shared by every subcommand (one measured cell, latency percentiles, the
//! machine's facts), the readable table of a sweep, and human-readable sizes.

use std::fmt::Write as _;
use std::time::SystemTime;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::workload::Op;

/// Latency percentiles of one cell, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest call.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Percentiles of a histogram recorded in nanoseconds.
    pub fn from_hist(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            p50: us(h.value_at_quantile(0.50)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// One measured cell: an operation at one value size and concurrency against one target.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// The target's label (`memkv`, `memkv-mac`, `redis`, ...).
    pub target: String,
    /// The operation.
    pub op: Op,
    /// Value size in bytes.
    pub size: usize,
    /// Concurrent tasks.
    pub tasks: usize,
    /// The connections the tasks shared, when fewer than one each (`CellSpec::connections`).
    pub connections: Option<usize>,
    /// Keys per call (1 for single-value operations).
    pub batch: usize,
    /// Calls completed.
    pub calls: u64,
    /// Keys handled (calls times batch).
    pub items: u64,
    /// Value bytes moved (hits only for reads).
    pub bytes: u64,
    /// Wall-clock seconds from the first task's start to the last task's end.
    pub secs: f64,
    /// Keys per second.
    pub ops_per_s: f64,
    /// Value bytes per second, in GiB/s.
    pub gib_per_s: f64,
    /// Per-call latency.
    pub latency_us: Latency,
    /// Calls that failed (each task stops at its first failure).
    pub errors: u64,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Reads whose bytes differ from the key's pattern.
    pub mismatches: u64,
    /// Reads that found no value.
    pub misses: u64,
    /// CPU time the cell cost (set by the harness, which knows the server process).
    pub cpu: Option<CpuUse>,
}

/// CPU time spent on one measurement, client and server together: on a shared machine this
/// is steadier than throughput, since it does not count time spent waiting for other work.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUse {
    /// CPU seconds of the benchmark process (client engine, peer clients, pattern checks).
    pub client_s: f64,
    /// CPU seconds of the server process.
    pub server_s: f64,
    /// Client plus server CPU milliseconds per GiB of value bytes moved.
    pub ms_per_gib: f64,
    /// Client plus server CPU microseconds per key.
    pub us_per_key: f64,
}

impl CpuUse {
    /// CPU use of `client_s + server_s` seconds for `bytes` value bytes and `keys` keys.
    pub fn new(client_s: f64, server_s: f64, bytes: u64, keys: u64) -> CpuUse {
        let total = client_s + server_s;
        let gib = bytes as f64 / (1u64 << 30) as f64;
        CpuUse {
            client_s,
            server_s,
            ms_per_gib: if gib > 0.0 { total * 1000.0 / gib } else { 0.0 },
            us_per_key: if keys > 0 {
                total * 1e6 / keys as f64
            } else {
                0.0
            },
        }
    }
}

/// CPU seconds (user + system, all threads) process `pid` has used, from `/proc/<pid>/stat`;
/// `None` if it cannot be read. Resolution: one clock tick (10 ms).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture the harness runs on.
    Some((utime + stime) as f64 / 100.0)
}

impl CellResult {
    /// Whether the cell ran cleanly: no errors, no wrong bytes, and (unless allowed) no misses.
    pub fn is_clean(&self, allow_misses: bool) -> bool {
        self.errors == 0 && self.mismatches == 0 && (allow_misses || self.misses == 0)
    }
}

/// Facts about the machine a result was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// CPU model from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Total memory in bytes, from `/proc/meminfo`.
    pub mem_total: u64,
    /// Host name.
    pub hostname: String,
    /// The CRC32C kernel memkv uses on this CPU (`memkv_proto::CrcKernel`): the benchmark
    /// client, the servers it starts and the CRC pump all compute with it.
    pub crc32c: &'static str,
}

impl Machine {
    /// Reads the facts from `/proc` (fields that cannot be read are `unknown`).
    pub fn detect() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let mem_total = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let trimmed = |p: &str| {
            let s = read(p).trim().to_owned();
            if s.is_empty() { "unknown".into() } else { s }
        };
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            kernel: trimmed("/proc/sys/kernel/osrelease"),
            mem_total,
            hostname: trimmed("/proc/sys/kernel/hostname"),
            crc32c: memkv_proto::CrcKernel::detected().name(),
        }
    }
}

/// The command line of this process, shell-quoted where needed.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// `4K`, `64K`, `1M`, `16M`: the sweep's size names (powers of two; other sizes in bytes).
pub fn size_name(bytes: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

/// Parses `4K`, `64KiB`, `1M`, `2 MiB`, `4096` (binary units).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size: use e.g. 4K, 64K, 1M, 16M"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}`: use K, M or G"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("size `{text}` is out of range"))
}

/// Formats microseconds readably (`850us`, `1.25ms`, `2.10s`).
pub fn fmt_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// The readable table of a sweep: one row per cell.
pub fn render_table(results: &[CellResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<9} {:>5} {:>5} {:>5} {:>9} {:>11} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6}",
        "target",
        "op",
        "size",
        "tasks",
        "batch",
        "GiB/s",
        "ops/s",
        "p50",
        "p99",
        "p999",
        "errors",
        "wrong",
        "misses"
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<16} {:<9} {:>5} {:>5} {:>5} {:>9.3} {:>11.0} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6}",
            r.target,
            r.op.name(),
            size_name(r.size),
            r.tasks,
            r.batch,
            r.gib_per_s,
            r.ops_per_s,
            fmt_us(r.latency_us.p50),
            fmt_us(r.latency_us.p99),
            fmt_us(r.latency_us.p999),
            r.errors,
            r.mismatches,
            r.misses
        );
    }
    out
}

/// The median of `xs` (`None` when empty); NaNs sort last.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip_through_names() {
        for s in ["4K", "64K", "256K", "1M", "2M", "4M", "16M"] {
            assert_eq!(size_name(parse_size(s).unwrap()), s);
        }
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("2 MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(size_name(100), "100B");
        assert!(parse_size("4X").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn cpu_time_of_this_process_grows_with_work() {
        let before = cpu_seconds(None).unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(cpu_seconds(None).unwrap() > before);
        assert!(cpu_seconds(Some(std::process::id())).is_some());
        let c = CpuUse::new(0.5, 0.5, 1 << 30, 1000);
        assert_eq!(c.ms_per_gib, 1000.0);
        assert_eq!(c.us_per_key, 1000.0);
    }

    #[test]
    fn machine_facts_are_read() {
        let m = Machine::detect();
        assert!(m.cores >= 1);
        assert!(!m.kernel.is_empty());
    }
}
