//! Tests of recording and of the exposition: the rendered text is parsed line by line and
//! checked against the Prometheus text format 0.0.4 rules, then against the recorded values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::*;

const OPS: &[&str] = &["tcp_put", "tcp_get", "exists"];
const STATUSES: &[&str] = &["ok", "not_found", "server_error"];

/// One parsed sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: HELP/TYPE per family, and the samples in order.
#[derive(Debug, Default)]
struct Exposition {
    help: BTreeMap<String, String>,
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => text
            .parse()
            .unwrap_or_else(|_| panic!("bad sample value {text:?}")),
    }
}

/// Parses `{a="x",b="y"}` (without the braces); panics on any syntax error.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("label without =\"");
        assert!(valid_label_name(name), "bad label name {name:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("unterminated label value");
            match c {
                '\\' => match chars.next().expect("dangling escape").1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => panic!("bad escape \\{other}"),
                },
                '"' => break i,
                '\n' => panic!("raw newline in label value"),
                c => value.push(c),
            }
        };
        assert!(
            labels.insert(name.to_owned(), value).is_none(),
            "duplicate label {name}"
        );
        rest = &after[end + 1..];
        if let Some(next) = rest.strip_prefix(',') {
            rest = next;
        } else {
            assert!(rest.is_empty(), "junk after label: {rest:?}");
        }
    }
    labels
}

/// The family a sample belongs to: histogram samples carry a suffix.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).map(String::as_str) == Some("histogram")
        {
            return base;
        }
    }
    name
}

fn parse_exposition(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    let mut exposition = Exposition::default();
    let mut seen_families: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP without text");
            assert!(valid_metric_name(name), "bad name {name:?}");
            assert!(!help.is_empty());
            assert!(
                exposition
                    .help
                    .insert(name.to_owned(), help.to_owned())
                    .is_none(),
                "second HELP for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE without type");
            assert!(valid_metric_name(name), "bad name {name:?}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind}"
            );
            assert!(
                exposition.help.contains_key(name),
                "TYPE before HELP for {name}"
            );
            assert!(
                exposition
                    .types
                    .insert(name.to_owned(), kind.to_owned())
                    .is_none(),
                "second TYPE for {name}"
            );
            seen_families.push(name.to_owned());
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            assert!(!line.is_empty(), "empty line");
            let (series, value) = line.rsplit_once(' ').expect("sample without value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (
                    name,
                    parse_labels(labels.strip_suffix('}').expect("labels without }")),
                ),
                None => (series, BTreeMap::new()),
            };
            assert!(valid_metric_name(name), "bad name {name:?}");
            let family = family_of(name, &exposition.types);
            // Samples of a family follow its TYPE line, before any other family's.
            assert_eq!(
                seen_families.last().map(String::as_str),
                Some(family),
                "sample {name} outside its family block"
            );
            exposition.samples.push(Sample {
                name: name.to_owned(),
                labels,
                value: parse_value(value),
            });
        }
    }
    check_histograms(&exposition);
    exposition
}

/// Buckets are cumulative and ordered by `le`, end with `+Inf`, and `+Inf` equals `_count`.
fn check_histograms(exposition: &Exposition) {
    for (family, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in exposition
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let mut labels = sample.labels.clone();
            let le = parse_value(&labels.remove("le").expect("bucket without le"));
            series.entry(labels).or_default().push((le, sample.value));
        }
        for (labels, buckets) in &series {
            for pair in buckets.windows(2) {
                assert!(
                    pair[0].0 < pair[1].0,
                    "le not increasing in {family}{labels:?}"
                );
                assert!(
                    pair[0].1 <= pair[1].1,
                    "buckets not cumulative in {family}{labels:?}"
                );
            }
            let (last_le, inf_count) = *buckets.last().unwrap();
            assert_eq!(
                last_le,
                f64::INFINITY,
                "no +Inf bucket in {family}{labels:?}"
            );
            let label_pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count = exposition
                .value(&format!("{family}_count"), &label_pairs)
                .expect("histogram without _count");
            assert_eq!(inf_count, count, "+Inf != count in {family}{labels:?}");
            assert!(
                exposition
                    .value(&format!("{family}_sum"), &label_pairs)
                    .is_some(),
                "histogram without _sum"
            );
        }
    }
}

fn capacity() -> CapacityReport {
    CapacityReport {
        engine: "memory".into(),
        raw_bytes: 1 << 30,
        usable_bytes: 1 << 29,
        used_bytes: 4096,
        keys: 3,
        evictions: 5,
        evicted_bytes: 5000,
        corrupt_reads: 1,
        drives_online: 2,
        drives_offline: 1,
        drives_total: 3,
        io_engine: "io_uring".into(),
        cache_hits: 7,
        cache_misses: 2,
        trimmed_extents: 4,
        discarded_extents: 3,
        devices: vec![
            DeviceReport {
                media: "/dev/nvme0n1".into(),
                state: DriveState::Online,
                raw_bytes: 1 << 29,
                usable_bytes: (1 << 28) + 7,
                used_bytes: 4096,
                written_bytes: 123 << 20,
                syncs: 45,
            },
            DeviceReport {
                media: "/var/lib/memkv/drive \"1\".dat".into(),
                state: DriveState::Offline,
                raw_bytes: 1 << 29,
                usable_bytes: 1 << 28,
                used_bytes: 0,
                written_bytes: 0,
                syncs: 0,
            },
        ],
    }
}

fn busy_metrics() -> Metrics {
    let metrics = Metrics::new(OPS, STATUSES).with_version("RELEASE.test \"quoted\"\\");
    metrics.record_op(0, 0, Duration::from_micros(30), 1000, 10);
    metrics.record_op(0, 0, Duration::from_millis(3), 2000, 10);
    metrics.record_op(0, 2, Duration::from_secs(20), 500, 0);
    metrics.record_op(1, 1, Duration::from_micros(50), 20, 0);
    metrics.connection_opened();
    metrics.connection_opened();
    metrics.connection_closed();
    metrics.connection_rejected();
    metrics.auth_failure(AuthFailure::ClockDrift);
    metrics.auth_failure(AuthFailure::ClockDrift);
    metrics.frame_rejected(FrameReject::TooLarge);
    metrics.checksum_failure(ChecksumStage::Get);
    metrics
}

#[test]
fn exposition_is_valid_and_carries_the_recorded_values() {
    let text = busy_metrics().render_to_string(&capacity());
    let exp = parse_exposition(&text);

    let requests =
        |op, status| exp.value("memkv_requests_total", &[("op", op), ("status", status)]);
    assert_eq!(requests("tcp_put", "ok"), Some(2.0));
    assert_eq!(requests("tcp_put", "server_error"), Some(1.0));
    assert_eq!(requests("tcp_get", "not_found"), Some(1.0));
    // Pairs without requests have no series.
    assert_eq!(requests("tcp_put", "not_found"), None);
    assert_eq!(requests("exists", "ok"), None);

    let bucket = |op, le| {
        exp.value(
            "memkv_request_duration_seconds_bucket",
            &[("op", op), ("le", le)],
        )
    };
    assert_eq!(bucket("tcp_put", "0.00005"), Some(1.0));
    assert_eq!(bucket("tcp_put", "0.005"), Some(2.0));
    assert_eq!(bucket("tcp_put", "10"), Some(2.0));
    assert_eq!(bucket("tcp_put", "+Inf"), Some(3.0));
    // 50µs lands in the 50µs bucket (upper bounds are inclusive).
    assert_eq!(bucket("tcp_get", "0.00005"), Some(1.0));
    assert_eq!(bucket("exists", "+Inf"), None);
    let sum = exp
        .value("memkv_request_duration_seconds_sum", &[("op", "tcp_put")])
        .unwrap();
    assert!((sum - 20.00303).abs() < 1e-9, "{sum}");

    assert_eq!(exp.value("memkv_received_bytes_total", &[]), Some(3520.0));
    assert_eq!(exp.value("memkv_sent_bytes_total", &[]), Some(20.0));
    assert_eq!(exp.value("memkv_connections_active", &[]), Some(1.0));
    assert_eq!(exp.value("memkv_connections_total", &[]), Some(2.0));
    assert_eq!(
        exp.value("memkv_connections_rejected_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        exp.value("memkv_auth_failures_total", &[("reason", "clock_drift")]),
        Some(2.0)
    );
    assert_eq!(
        exp.value("memkv_auth_failures_total", &[("reason", "bad_mac")]),
        Some(0.0)
    );
    assert_eq!(
        exp.value("memkv_frames_rejected_total", &[("reason", "too_large")]),
        Some(1.0)
    );
    assert_eq!(
        exp.value("memkv_checksum_failures_total", &[("stage", "get")]),
        Some(1.0)
    );
    assert_eq!(exp.value("memkv_evictions_total", &[]), Some(5.0));
    assert_eq!(exp.value("memkv_evicted_bytes_total", &[]), Some(5000.0));
    assert_eq!(exp.value("memkv_corrupt_reads_total", &[]), Some(1.0));
    assert_eq!(exp.value("memkv_cache_hits_total", &[]), Some(7.0));
    assert_eq!(exp.value("memkv_cache_misses_total", &[]), Some(2.0));
    assert_eq!(exp.value("memkv_trimmed_extents_total", &[]), Some(4.0));
    assert_eq!(exp.value("memkv_discarded_extents_total", &[]), Some(3.0));
    assert_eq!(
        exp.value("memkv_io_engine_info", &[("engine", "io_uring")]),
        Some(1.0)
    );
    assert_eq!(exp.value("memkv_keys", &[]), Some(3.0));
    assert_eq!(
        exp.value("memkv_capacity_raw_bytes", &[]),
        Some(1073741824.0)
    );
    assert_eq!(
        exp.value("memkv_capacity_usable_bytes", &[]),
        Some(536870912.0)
    );
    assert_eq!(exp.value("memkv_capacity_used_bytes", &[]), Some(4096.0));
    assert_eq!(exp.value("memkv_drives", &[("state", "online")]), Some(2.0));
    assert_eq!(
        exp.value("memkv_drives", &[("state", "offline")]),
        Some(1.0)
    );
    let drive = |name, media| exp.value(name, &[("media", media)]);
    let (nvme, file) = ("/dev/nvme0n1", "/var/lib/memkv/drive \"1\".dat");
    assert_eq!(drive("memkv_drive_online", nvme), Some(1.0));
    assert_eq!(drive("memkv_drive_online", file), Some(0.0));
    assert_eq!(drive("memkv_drive_raw_bytes", file), Some(536870912.0));
    assert_eq!(drive("memkv_drive_usable_bytes", nvme), Some(268435463.0));
    assert_eq!(drive("memkv_drive_used_bytes", nvme), Some(4096.0));
    assert_eq!(drive("memkv_drive_used_bytes", file), Some(0.0));
    assert_eq!(
        drive("memkv_drive_written_bytes_total", nvme),
        Some(128974848.0)
    );
    assert_eq!(drive("memkv_drive_syncs_total", nvme), Some(45.0));
    assert_eq!(drive("memkv_drive_syncs_total", file), Some(0.0));
    assert!(exp.value("memkv_uptime_seconds", &[]).unwrap() >= 0.0);
    assert_eq!(
        exp.value(
            "memkv_build_info",
            &[
                ("version", "RELEASE.test \"quoted\"\\"),
                ("engine", "memory")
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn every_documented_family_has_help_and_type_even_without_data() {
    let metrics = Metrics::new(OPS, STATUSES);
    let exp = parse_exposition(&metrics.render_to_string(&CapacityReport::default()));
    let documented: BTreeSet<&str> = METRICS.iter().map(|m| m.name).collect();
    let typed: BTreeSet<&str> = exp.types.keys().map(String::as_str).collect();
    assert_eq!(typed, documented);
    for doc in METRICS {
        assert_eq!(exp.types[doc.name], doc.kind.as_str());
        assert_eq!(exp.help[doc.name], doc.help);
    }
    assert!(!exp.samples.iter().any(|s| s.name == "memkv_requests_total"));
    assert!(
        !exp.samples
            .iter()
            .any(|s| s.name.starts_with("memkv_request_duration"))
    );
}

#[test]
fn sample_labels_match_the_documented_labels() {
    let exp = parse_exposition(&busy_metrics().render_to_string(&capacity()));
    for sample in &exp.samples {
        let family = family_of(&sample.name, &exp.types);
        let doc = METRICS.iter().find(|m| m.name == family).unwrap();
        let mut labels: BTreeSet<&str> = sample.labels.keys().map(String::as_str).collect();
        if sample.name.ends_with("_bucket") {
            assert!(labels.remove("le"));
        }
        let documented: BTreeSet<&str> = doc.labels.iter().copied().collect();
        assert_eq!(labels, documented, "labels of {}", sample.name);
    }
}

#[test]
fn accessors_report_what_was_recorded() {
    let metrics = busy_metrics();
    assert_eq!(metrics.requests(0, 0), 2);
    assert_eq!(metrics.requests(9, 0), 0);
    assert_eq!(
        metrics.connections(),
        crate::status::ConnectionsReport {
            active: 1,
            total: 2,
            rejected: 1
        }
    );
    assert_eq!(metrics.auth_failures(AuthFailure::ClockDrift), 2);
    assert_eq!(metrics.frames_rejected(FrameReject::TooLarge), 1);
    assert_eq!(metrics.checksum_failures(ChecksumStage::Put), 0);
    let reports = metrics.op_reports(|status| status != "ok" && status != "not_found");
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(
        reports["tcp_put"],
        OpReport {
            requests: 3,
            errors: 1,
            bytes_in: 3500,
            bytes_out: 20
        }
    );
    assert_eq!(reports["tcp_get"].errors, 0);
}

#[test]
fn closing_more_connections_than_opened_stays_at_zero() {
    let metrics = Metrics::new(OPS, STATUSES);
    metrics.connection_closed();
    assert_eq!(metrics.connections().active, 0);
}

#[test]
fn concurrent_recording_loses_nothing() {
    let metrics = Arc::new(Metrics::new(OPS, STATUSES));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    metrics.record_op(t % 2, 0, Duration::from_micros(i % 2000), 1, 2);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(metrics.requests(0, 0) + metrics.requests(1, 0), 40_000);
    let exp = parse_exposition(&metrics.render_to_string(&CapacityReport::default()));
    assert_eq!(exp.value("memkv_received_bytes_total", &[]), Some(40_000.0));
    assert_eq!(exp.value("memkv_sent_bytes_total", &[]), Some(80_000.0));
    assert_eq!(
        exp.value("memkv_request_duration_seconds_count", &[("op", "tcp_put")]),
        Some(20_000.0)
    );
}

#[test]
fn bucket_bounds_are_increasing_and_match_their_labels() {
    for pair in DURATION_BUCKETS.windows(2) {
        assert!(pair[0].1 < pair[1].1);
    }
    for (le, nanos) in DURATION_BUCKETS {
        let seconds: f64 = le.parse().unwrap();
        assert_eq!((seconds * 1e9).round() as u64, nanos, "{le}");
    }
}
