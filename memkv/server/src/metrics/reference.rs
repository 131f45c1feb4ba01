//! The one table of every metric the server exports (name, type, labels, help). It drives the
//! `# HELP`/`# TYPE` lines of the exposition and the generated reference in `docs/metrics.md`.

use std::fmt::Write as _;

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only goes up (resets on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Bucketed observations with `_bucket`, `_sum` and `_count` series.
    Histogram,
}

impl MetricType {
    /// The `# TYPE` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One exported metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDoc {
    /// Family name, e.g. `memkv_requests_total`.
    pub name: &'static str,
    /// Type.
    pub kind: MetricType,
    /// Label names (histograms also carry `le`, not listed).
    pub labels: &'static [&'static str],
    /// One-line help text.
    pub help: &'static str,
}

macro_rules! metric {
    ($ident:ident, $name:literal, $kind:ident, [$($label:literal),*], $help:literal) => {
        pub(crate) const $ident: MetricDoc = MetricDoc {
            name: $name,
            kind: MetricType::$kind,
            labels: &[$($label),*],
            help: $help,
        };
    };
}

metric!(
    REQUESTS_TOTAL,
    "memkv_requests_total",
    Counter,
    ["op", "status"],
    "Data-plane requests handled, by operation and result status."
);
metric!(
    REQUEST_DURATION,
    "memkv_request_duration_seconds",
    Histogram,
    ["op"],
    "Time from a request's arrival to its response being queued, by operation."
);
metric!(
    RECEIVED_BYTES,
    "memkv_received_bytes_total",
    Counter,
    [],
    "Request bytes received on the data plane."
);
metric!(
    SENT_BYTES,
    "memkv_sent_bytes_total",
    Counter,
    [],
    "Response bytes sent on the data plane."
);
metric!(
    CONNECTIONS_ACTIVE,
    "memkv_connections_active",
    Gauge,
    [],
    "Data-plane connections open now."
);
metric!(
    CONNECTIONS_TOTAL,
    "memkv_connections_total",
    Counter,
    [],
    "Data-plane connections accepted."
);
metric!(
    CONNECTIONS_REJECTED,
    "memkv_connections_rejected_total",
    Counter,
    [],
    "Data-plane connections refused because network.max_connections were open."
);
metric!(
    AUTH_FAILURES,
    "memkv_auth_failures_total",
    Counter,
    ["reason"],
    "Requests refused by authentication: bad_mac, clock_drift, replay, unsupported_version, integrity_mismatch."
);
metric!(
    FRAMES_REJECTED,
    "memkv_frames_rejected_total",
    Counter,
    ["reason"],
    "Frames refused before authentication: bad_magic, too_large, malformed."
);
metric!(
    CHECKSUM_FAILURES,
    "memkv_checksum_failures_total",
    Counter,
    ["stage"],
    "Payload checksum mismatches: put (request payload) or get (stored value on read)."
);
metric!(
    READS_DEFERRED,
    "memkv_reads_deferred_total",
    Counter,
    [],
    "Gets and batch gets that waited for a drive while their connection went on reading requests (at most 32 at once per connection)."
);
metric!(
    EVICTIONS,
    "memkv_evictions_total",
    Counter,
    [],
    "Values evicted to make room for new ones."
);
metric!(
    EVICTED_BYTES,
    "memkv_evicted_bytes_total",
    Counter,
    [],
    "Bytes of values evicted to make room for new ones."
);
metric!(
    CORRUPT_READS,
    "memkv_corrupt_reads_total",
    Counter,
    [],
    "Stored values found corrupt, and dropped: by a read (a miss), or at start in the segments left open (a put in flight when the server stopped counts here)."
);
metric!(
    CACHE_HITS,
    "memkv_cache_hits_total",
    Counter,
    [],
    "Reads served from the RAM cache in front of the drives (file and direct modes)."
);
metric!(
    CACHE_MISSES,
    "memkv_cache_misses_total",
    Counter,
    [],
    "Reads that went to the drives (file and direct modes)."
);
metric!(
    TRIMMED_EXTENTS,
    "memkv_trimmed_extents_total",
    Counter,
    [],
    "Extents freed after all their records died."
);
metric!(
    DISCARDED_EXTENTS,
    "memkv_discarded_extents_total",
    Counter,
    [],
    "Freed extents discarded (BLKDISCARD on block devices; punched holes in data files only with storage.trim_files), in batches once a drive is idle and on a clean stop."
);
metric!(
    IO_ENGINE,
    "memkv_io_engine_info",
    Gauge,
    ["engine"],
    "Always 1; the label names the I/O engine driving the drives (io_uring or std). Absent in memory mode."
);
metric!(KEYS, "memkv_keys", Gauge, [], "Keys stored.");
metric!(
    CAPACITY_RAW,
    "memkv_capacity_raw_bytes",
    Gauge,
    [],
    "Raw capacity in bytes (memory budget or drive sizes)."
);
metric!(
    CAPACITY_USABLE,
    "memkv_capacity_usable_bytes",
    Gauge,
    [],
    "Capacity usable for values, in bytes."
);
metric!(
    CAPACITY_USED,
    "memkv_capacity_used_bytes",
    Gauge,
    [],
    "Bytes used by stored values."
);
metric!(
    DRIVES,
    "memkv_drives",
    Gauge,
    ["state"],
    "Configured drives by state: online or offline."
);
metric!(
    DRIVE_ONLINE,
    "memkv_drive_online",
    Gauge,
    ["media"],
    "1 while the drive serves, 0 once it was taken offline after I/O errors (persistent engines)."
);
metric!(
    DRIVE_RAW,
    "memkv_drive_raw_bytes",
    Gauge,
    ["media"],
    "Raw capacity of one drive in bytes (persistent engines)."
);
metric!(
    DRIVE_USABLE,
    "memkv_drive_usable_bytes",
    Gauge,
    ["media"],
    "Bytes of one drive usable for values: its extents, less the superblock (persistent engines)."
);
metric!(
    DRIVE_USED,
    "memkv_drive_used_bytes",
    Gauge,
    ["media"],
    "Bytes of live records on one drive (persistent engines)."
);
metric!(
    DRIVE_WRITTEN,
    "memkv_drive_written_bytes_total",
    Counter,
    ["media"],
    "Bytes written to one drive since the server started: records, values, segment headers (persistent engines)."
);
metric!(
    DRIVE_SYNCS,
    "memkv_drive_syncs_total",
    Counter,
    ["media"],
    "fdatasync calls completed on one drive since the server started; each commits every write queued before it (persistent engines)."
);
metric!(
    UPTIME,
    "memkv_uptime_seconds",
    Gauge,
    [],
    "Seconds since the server started."
);
metric!(
    BUILD_INFO,
    "memkv_build_info",
    Gauge,
    ["version", "engine"],
    "Always 1; the labels carry the server version and the storage engine."
);

/// Every metric family, in exposition order.
pub const METRICS: &[MetricDoc] = &[
    REQUESTS_TOTAL,
    REQUEST_DURATION,
    RECEIVED_BYTES,
    SENT_BYTES,
    CONNECTIONS_ACTIVE,
    CONNECTIONS_TOTAL,
    CONNECTIONS_REJECTED,
    AUTH_FAILURES,
    FRAMES_REJECTED,
    CHECKSUM_FAILURES,
    READS_DEFERRED,
    EVICTIONS,
    EVICTED_BYTES,
    CORRUPT_READS,
    CACHE_HITS,
    CACHE_MISSES,
    TRIMMED_EXTENTS,
    DISCARDED_EXTENTS,
    IO_ENGINE,
    KEYS,
    CAPACITY_RAW,
    CAPACITY_USABLE,
    CAPACITY_USED,
    DRIVES,
    DRIVE_ONLINE,
    DRIVE_RAW,
    DRIVE_USABLE,
    DRIVE_USED,
    DRIVE_WRITTEN,
    DRIVE_SYNCS,
    UPTIME,
    BUILD_INFO,
];

/// Upper bounds of the `memkv_request_duration_seconds` buckets: `le` label text and
/// nanoseconds. A `+Inf` bucket follows.
pub(crate) const DURATION_BUCKETS: [(&str, u64); 17] = [
    ("0.00005", 50_000),
    ("0.0001", 100_000),
    ("0.00025", 250_000),
    ("0.0005", 500_000),
    ("0.001", 1_000_000),
    ("0.0025", 2_500_000),
    ("0.005", 5_000_000),
    ("0.01", 10_000_000),
    ("0.025", 25_000_000),
    ("0.05", 50_000_000),
    ("0.1", 100_000_000),
    ("0.25", 250_000_000),
    ("0.5", 500_000_000),
    ("1", 1_000_000_000),
    ("2.5", 2_500_000_000),
    ("5", 5_000_000_000),
    ("10", 10_000_000_000),
];

/// The generated Markdown reference of every metric.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str("| Metric | Type | Labels | Help |\n");
    out.push_str("|---|---|---|---|\n");
    for doc in METRICS {
        let labels = if doc.labels.is_empty() {
            "-".to_owned()
        } else {
            doc.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            doc.name,
            doc.kind.as_str(),
            labels,
            doc.help
        );
    }
    let bounds: Vec<&str> = DURATION_BUCKETS.iter().map(|(le, _)| *le).collect();
    let _ = writeln!(
        out,
        "\nBucket upper bounds of `memkv_request_duration_seconds`, in seconds: {}, `+Inf`.",
        bounds
            .iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}
