//! Server metrics: lock-free counters and latency histograms updated on the request path, and
//! their Prometheus text exposition (format 0.0.4) for `/v1/metrics`.
//!
//! Recording is a handful of relaxed atomic adds into arrays sized at construction: no locks
//! and no allocation. Rendering reads the atomics and the storage engine's [`CapacityReport`].
//! Every family is described once in [`METRICS`], which also generates `docs/metrics.md`.

mod reference;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub use reference::{METRICS, MetricDoc, MetricType, reference_markdown};

use crate::status::{CapacityReport, ConnectionsReport, DeviceReport, DriveState, OpReport};
use reference::*;

/// Why a request was refused by authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// The request's MAC did not verify.
    BadMac,
    /// The request's timestamp is outside `network.max_clock_skew`.
    ClockDrift,
    /// The request repeats one already seen.
    Replay,
    /// The frame's protocol version is newer than this server's.
    UnsupportedVersion,
    /// The frame's integrity mode differs from `network.integrity`.
    IntegrityMismatch,
}

impl AuthFailure {
    /// Every reason, in exposition order.
    pub const ALL: [Self; 5] = [
        Self::BadMac,
        Self::ClockDrift,
        Self::Replay,
        Self::UnsupportedVersion,
        Self::IntegrityMismatch,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadMac => "bad_mac",
            Self::ClockDrift => "clock_drift",
            Self::Replay => "replay",
            Self::UnsupportedVersion => "unsupported_version",
            Self::IntegrityMismatch => "integrity_mismatch",
        }
    }
}

/// Why a frame was refused before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameReject {
    /// The frame does not start with the protocol magic.
    BadMagic,
    /// The frame is larger than `network.max_frame_size`.
    TooLarge,
    /// The frame header is inconsistent.
    Malformed,
}

impl FrameReject {
    /// Every reason, in exposition order.
    pub const ALL: [Self; 3] = [Self::BadMagic, Self::TooLarge, Self::Malformed];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadMagic => "bad_magic",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
        }
    }
}

/// Where a payload checksum mismatch was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumStage {
    /// A request payload did not match its checksum.
    Put,
    /// A stored value did not match its checksum when read.
    Get,
}

impl ChecksumStage {
    /// Every stage, in exposition order.
    pub const ALL: [Self; 2] = [Self::Put, Self::Get];

    /// The `stage` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
        }
    }
}

const BUCKETS: usize = DURATION_BUCKETS.len() + 1;

/// Per-operation histogram and byte counters.
#[derive(Debug)]
struct OpCounters {
    /// Non-cumulative bucket counts; the last is the `+Inf` overflow bucket.
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl OpCounters {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }
}

/// All server metrics. Share it behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    ops: &'static [&'static str],
    statuses: &'static [&'static str],
    /// `ops.len() × statuses.len()`, indexed `op * statuses.len() + status`.
    requests: Box<[AtomicU64]>,
    per_op: Box<[OpCounters]>,
    connections_active: AtomicU64,
    connections_total: AtomicU64,
    connections_rejected: AtomicU64,
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    frames_rejected: [AtomicU64; FrameReject::ALL.len()],
    checksum_failures: [AtomicU64; ChecksumStage::ALL.len()],
    reads_deferred: AtomicU64,
    started: Instant,
    version: String,
}

impl Metrics {
    /// Metrics for the given operation and status names (the `op` and `status` label values);
    /// [`Metrics::record_op`] takes indexes into these lists. The version label defaults to
    /// this crate's version.
    pub fn new(ops: &'static [&'static str], statuses: &'static [&'static str]) -> Self {
        Self {
            ops,
            statuses,
            requests: (0..ops.len() * statuses.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            per_op: (0..ops.len()).map(|_| OpCounters::new()).collect(),
            connections_active: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            auth_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            frames_rejected: std::array::from_fn(|_| AtomicU64::new(0)),
            checksum_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            reads_deferred: AtomicU64::new(0),
            started: Instant::now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Sets the `version` label of `memkv_build_info` (e.g. the release tag).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Records one handled request: `op` and `status` index the lists given to
    /// [`Metrics::new`]; out-of-range indexes are ignored (and panic in debug builds).
    pub fn record_op(
        &self,
        op: usize,
        status: usize,
        elapsed: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        debug_assert!(
            op < self.ops.len() && status < self.statuses.len(),
            "record_op({op}, {status}) out of range"
        );
        let Some(counters) = self.per_op.get(op) else {
            return;
        };
        if status >= self.statuses.len() {
            return;
        }
        self.requests[op * self.statuses.len() + status].fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = DURATION_BUCKETS.partition_point(|&(_, bound)| bound < nanos);
        counters.buckets[bucket].fetch_add(1, Relaxed);
        counters.sum_nanos.fetch_add(nanos, Relaxed);
        if bytes_in > 0 {
            counters.bytes_in.fetch_add(bytes_in, Relaxed);
        }
        if bytes_out > 0 {
            counters.bytes_out.fetch_add(bytes_out, Relaxed);
        }
    }

    /// A data-plane connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_active.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    /// A data-plane connection closed (pairs with [`Metrics::connection_opened`]).
    pub fn connection_closed(&self) {
        // Never wraps below zero, even if a caller closes more than it opened.
        let _ = self
            .connections_active
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// A data-plane connection was refused (over `network.max_connections`).
    pub fn connection_rejected(&self) {
        self.connections_rejected.fetch_add(1, Relaxed);
    }

    /// A request was refused by authentication.
    pub fn auth_failure(&self, reason: AuthFailure) {
        self.auth_failures[reason as usize].fetch_add(1, Relaxed);
    }

    /// A frame was refused before authentication.
    pub fn frame_rejected(&self, reason: FrameReject) {
        self.frames_rejected[reason as usize].fetch_add(1, Relaxed);
    }

    /// A payload checksum did not match.
    pub fn checksum_failure(&self, stage: ChecksumStage) {
        self.checksum_failures[stage as usize].fetch_add(1, Relaxed);
    }

    /// A get or batch get went on waiting for a drive while its connection read on.
    pub fn read_deferred(&self) {
        self.reads_deferred.fetch_add(1, Relaxed);
    }

    /// The operation names given to [`Metrics::new`].
    pub fn ops(&self) -> &'static [&'static str] {
        self.ops
    }

    /// The status names given to [`Metrics::new`].
    pub fn statuses(&self) -> &'static [&'static str] {
        self.statuses
    }

    /// Requests recorded for one operation and status (0 for out-of-range indexes).
    pub fn requests(&self, op: usize, status: usize) -> u64 {
        if op >= self.ops.len() || status >= self.statuses.len() {
            return 0;
        }
        self.requests[op * self.statuses.len() + status].load(Relaxed)
    }

    /// Per-operation totals for `/v1/status`, keyed by operation name, for operations with at
    /// least one request. `is_error` says which status names count as errors.
    pub fn op_reports(&self, is_error: impl Fn(&str) -> bool) -> BTreeMap<String, OpReport> {
        let mut reports = BTreeMap::new();
        for (op, name) in self.ops.iter().enumerate() {
            let mut report = OpReport::default();
            for (status, status_name) in self.statuses.iter().enumerate() {
                let count = self.requests(op, status);
                report.requests += count;
                if is_error(status_name) {
                    report.errors += count;
                }
            }
            if report.requests == 0 {
                continue;
            }
            report.bytes_in = self.per_op[op].bytes_in.load(Relaxed);
            report.bytes_out = self.per_op[op].bytes_out.load(Relaxed);
            reports.insert((*name).to_owned(), report);
        }
        reports
    }

    /// Data-plane connection counts.
    pub fn connections(&self) -> ConnectionsReport {
        ConnectionsReport {
            active: self.connections_active.load(Relaxed),
            total: self.connections_total.load(Relaxed),
            rejected: self.connections_rejected.load(Relaxed),
        }
    }

    /// Authentication failures recorded for one reason.
    pub fn auth_failures(&self, reason: AuthFailure) -> u64 {
        self.auth_failures[reason as usize].load(Relaxed)
    }

    /// Frames rejected for one reason.
    pub fn frames_rejected(&self, reason: FrameReject) -> u64 {
        self.frames_rejected[reason as usize].load(Relaxed)
    }

    /// Checksum failures recorded at one stage.
    pub fn checksum_failures(&self, stage: ChecksumStage) -> u64 {
        self.checksum_failures[stage as usize].load(Relaxed)
    }

    /// Gets and batch gets that waited for a drive while their connection read on.
    pub fn reads_deferred(&self) -> u64 {
        self.reads_deferred.load(Relaxed)
    }

    /// Time since these metrics were created (server start).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Appends the Prometheus text exposition (format 0.0.4) of every metric to `out`.
    pub fn render(&self, capacity: &CapacityReport, out: &mut String) {
        self.render_requests(out);
        self.render_durations(out);

        let (bytes_in, bytes_out) = self.per_op.iter().fold((0u64, 0u64), |(i, o), c| {
            (
                i.wrapping_add(c.bytes_in.load(Relaxed)),
                o.wrapping_add(c.bytes_out.load(Relaxed)),
            )
        });
        single(out, &RECEIVED_BYTES, bytes_in);
        single(out, &SENT_BYTES, bytes_out);
        let connections = self.connections();
        single(out, &CONNECTIONS_ACTIVE, connections.active);
        single(out, &CONNECTIONS_TOTAL, connections.total);
        single(out, &CONNECTIONS_REJECTED, connections.rejected);

        header(out, &AUTH_FAILURES);
        for reason in AuthFailure::ALL {
            labelled(
                out,
                AUTH_FAILURES.name,
                &[("reason", reason.as_str())],
                self.auth_failures(reason),
            );
        }
        header(out, &FRAMES_REJECTED);
        for reason in FrameReject::ALL {
            labelled(
                out,
                FRAMES_REJECTED.name,
                &[("reason", reason.as_str())],
                self.frames_rejected(reason),
            );
        }
        header(out, &CHECKSUM_FAILURES);
        for stage in ChecksumStage::ALL {
            labelled(
                out,
                CHECKSUM_FAILURES.name,
                &[("stage", stage.as_str())],
                self.checksum_failures(stage),
            );
        }
        single(out, &READS_DEFERRED, self.reads_deferred());

        single(out, &EVICTIONS, capacity.evictions);
        single(out, &EVICTED_BYTES, capacity.evicted_bytes);
        single(out, &CORRUPT_READS, capacity.corrupt_reads);
        single(out, &CACHE_HITS, capacity.cache_hits);
        single(out, &CACHE_MISSES, capacity.cache_misses);
        single(out, &TRIMMED_EXTENTS, capacity.trimmed_extents);
        single(out, &DISCARDED_EXTENTS, capacity.discarded_extents);
        header(out, &IO_ENGINE);
        if !capacity.io_engine.is_empty() {
            labelled(out, IO_ENGINE.name, &[("engine", &capacity.io_engine)], 1);
        }
        single(out, &KEYS, capacity.keys);
        single(out, &CAPACITY_RAW, capacity.raw_bytes);
        single(out, &CAPACITY_USABLE, capacity.usable_bytes);
        single(out, &CAPACITY_USED, capacity.used_bytes);
        header(out, &DRIVES);
        labelled(
            out,
            DRIVES.name,
            &[("state", "online")],
            u64::from(capacity.drives_online),
        );
        labelled(
            out,
            DRIVES.name,
            &[("state", "offline")],
            u64::from(capacity.drives_offline),
        );
        type DriveValue = fn(&DeviceReport) -> u64;
        let per_drive: [(&MetricDoc, DriveValue); 6] = [
            (&DRIVE_ONLINE, |d| u64::from(d.state == DriveState::Online)),
            (&DRIVE_RAW, |d| d.raw_bytes),
            (&DRIVE_USABLE, |d| d.usable_bytes),
            (&DRIVE_USED, |d| d.used_bytes),
            (&DRIVE_WRITTEN, |d| d.written_bytes),
            (&DRIVE_SYNCS, |d| d.syncs),
        ];
        for (doc, value) in per_drive {
            header(out, doc);
            for d in &capacity.devices {
                labelled(out, doc.name, &[("media", &d.media)], value(d));
            }
        }

        header(out, &UPTIME);
        let _ = writeln!(out, "{} {}", UPTIME.name, self.uptime().as_secs_f64());
        header(out, &BUILD_INFO);
        labelled(
            out,
            BUILD_INFO.name,
            &[("version", &self.version), ("engine", &capacity.engine)],
            1,
        );
    }

    /// The exposition as a new string.
    pub fn render_to_string(&self, capacity: &CapacityReport) -> String {
        let mut out = String::with_capacity(4096);
        self.render(capacity, &mut out);
        out
    }

    fn render_requests(&self, out: &mut String) {
        header(out, &REQUESTS_TOTAL);
        for (op, op_name) in self.ops.iter().enumerate() {
            for (status, status_name) in self.statuses.iter().enumerate() {
                let count = self.requests(op, status);
                if count > 0 {
                    labelled(
                        out,
                        REQUESTS_TOTAL.name,
                        &[("op", op_name), ("status", status_name)],
                        count,
                    );
                }
            }
        }
    }

    fn render_durations(&self, out: &mut String) {
        header(out, &REQUEST_DURATION);
        let name = REQUEST_DURATION.name;
        for (op_name, counters) in self.ops.iter().zip(self.per_op.iter()) {
            // Read each bucket once; the count is their sum, so `+Inf` always equals `_count`.
            let counts: [u64; BUCKETS] = std::array::from_fn(|i| counters.buckets[i].load(Relaxed));
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0u64;
            for (i, count) in counts.iter().enumerate() {
                cumulative += count;
                let le = DURATION_BUCKETS.get(i).map_or("+Inf", |(le, _)| le);
                let _ = write!(out, "{name}_bucket{{op=\"");
                escape_label(out, op_name);
                let _ = writeln!(out, "\",le=\"{le}\"}} {cumulative}");
            }
            let sum_seconds = counters.sum_nanos.load(Relaxed) as f64 / 1e9;
            let _ = write!(out, "{name}_sum{{op=\"");
            escape_label(out, op_name);
            let _ = writeln!(out, "\"}} {sum_seconds}");
            let _ = write!(out, "{name}_count{{op=\"");
            escape_label(out, op_name);
            let _ = writeln!(out, "\"}} {total}");
        }
    }
}

/// `# HELP` and `# TYPE` lines of one family.
fn header(out: &mut String, doc: &MetricDoc) {
    let _ = write!(out, "# HELP {} ", doc.name);
    for c in doc.help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "\n# TYPE {} {}", doc.name, doc.kind.as_str());
}

/// A family with one unlabelled sample.
fn single(out: &mut String, doc: &MetricDoc, value: u64) {
    header(out, doc);
    let _ = writeln!(out, "{} {value}", doc.name);
}

/// One labelled sample.
fn labelled(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    out.push('{');
    for (i, (label, label_value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(label);
        out.push_str("=\"");
        escape_label(out, label_value);
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
