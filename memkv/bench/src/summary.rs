//! The side-by-side verdict: medians of each target's figures, medians of per-repeat ratios
//! (memkv against the pump limits and against each peer, both measured in the same repeat),
//! the issue's targets evaluated on them, and the tables that print it all.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::diskstats::DeviceLoad;
use crate::limits::FioResult;
use crate::pump::{PumpCheck, PumpResult};
use crate::results::{CellResult, median, size_name};
use crate::workload::Op;

/// One measured cell of a harness run, tagged with its repeat.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Repeat number (0-based).
    pub repeat: usize,
    /// The measurement.
    pub result: CellResult,
    /// The load on the server's drive meanwhile (disk servers; see [`crate::diskstats`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceLoad>,
}

/// One pump run of a harness run, tagged with its repeat.
#[derive(Debug, Clone, Serialize)]
pub struct PumpRun {
    /// Repeat number (0-based).
    pub repeat: usize,
    /// Whether the pump re-sent one message that stays in the CPU's cache ([`CACHED_PUMP`]),
    /// instead of as many distinct messages as the benchmark has values.
    pub cached: bool,
    /// The measurement.
    pub result: PumpResult,
}

/// The reference name of the raw pump that re-sends one message from the CPU's cache
/// (informative: the limits that ratios are taken against move the benchmark's own amount of
/// distinct data).
pub const CACHED_PUMP: &str = "pump-raw-cached";

/// The reference name of the raw pump, one stream, whose every message is answered before the
/// next is sent (`PumpResult::acked`; informative: the ceiling of one outstanding request).
pub const ACKED_PUMP: &str = "pump-raw-acked";

/// Identifies a cell across targets and repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CellKey {
    /// Operation.
    pub op: Op,
    /// Value size.
    pub size: usize,
    /// Concurrency.
    pub tasks: usize,
    /// The connections the tasks shared, when fewer than one each.
    pub connections: Option<usize>,
    /// Keys per call.
    pub batch: usize,
}

impl CellKey {
    pub(crate) fn of(r: &CellResult) -> CellKey {
        CellKey {
            op: r.op,
            size: r.size,
            tasks: r.tasks,
            connections: r.connections,
            batch: r.batch,
        }
    }

    /// The pump streams that serve as the cell's limit: one per connection.
    pub fn streams(&self) -> usize {
        pump_streams(self.connections.unwrap_or(self.tasks))
    }

    /// `put 4M x8`, `batch-get 4K x8 b16`, `put 4M x2 on 1 conn`.
    pub fn label(&self) -> String {
        let mut s = format!("{} {} x{}", self.op, size_name(self.size), self.tasks);
        if let Some(n) = self.connections {
            let _ = write!(s, " on {n} conn");
        }
        if self.batch > 1 {
            let _ = write!(s, " b{}", self.batch);
        }
        s
    }
}

/// The pump streams that serve as the limit of a cell with `tasks` concurrent clients, each
/// with a connection of its own (a cell whose tasks share fewer connections: one stream per
/// connection, [`CellKey::streams`]).
pub fn pump_streams(tasks: usize) -> usize {
    tasks.clamp(1, 4)
}

/// The requests in flight on the one connection of the harness's pipelined cells: two tasks
/// share it, so one value is on its way while the other's answer comes back.
pub const PIPELINED_TASKS: usize = 2;

/// The pump reference name for a check (`pump-raw`, `pump-crc32c`, `pump-mac`).
pub fn pump_ref(check: PumpCheck) -> String {
    format!("pump-{}", check.name())
}

/// The name of the "better of the peers" reference.
pub const BEST_PEER: &str = "best-peer";

/// A median figure of one target in one cell.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figure {
    /// Median GiB/s.
    pub gib_per_s: f64,
    /// Median keys per second.
    pub ops_per_s: f64,
    /// Median p50 latency, microseconds.
    pub p50_us: f64,
    /// Median p99 latency, microseconds.
    pub p99_us: f64,
    /// Median client + server CPU milliseconds per GiB, where measured.
    pub cpu_ms_per_gib: Option<f64>,
    /// Median client + server CPU microseconds per key, where measured.
    pub cpu_us_per_key: Option<f64>,
    /// Repeats measured.
    pub repeats: usize,
}

/// A ratio of a memkv target to a reference, as the median of per-repeat ratios.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The memkv target.
    pub target: String,
    /// The reference: a pump, a peer, or `best-peer`.
    pub reference: String,
    /// Median of the per-repeat ratios.
    pub median: f64,
    /// The per-repeat ratios.
    pub per_repeat: Vec<f64>,
}

/// Everything measured for one cell.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// The cell.
    pub cell: CellKey,
    /// Median figure per target.
    pub figures: BTreeMap<String, Figure>,
    /// Median pump GiB/s per reference name, at the message size and the cell's streams.
    pub pumps: BTreeMap<String, f64>,
    /// Median pump CPU milliseconds per GiB (both ends) per reference name.
    pub pump_cpu_ms_per_gib: BTreeMap<String, f64>,
    /// Ratios of each memkv target.
    pub ratios: Vec<Ratio>,
}

impl SummaryRow {
    /// The ratio of `target` to `reference`, if measured.
    pub fn ratio(&self, target: &str, reference: &str) -> Option<f64> {
        self.ratios
            .iter()
            .find(|r| r.target == target && r.reference == reference)
            .map(|r| r.median)
    }
}

/// Builds the summary: one row per cell, in cell order.
pub fn summarize(
    runs: &[Run],
    pumps: &[PumpRun],
    memkv_targets: &[String],
    peers: &[String],
) -> Vec<SummaryRow> {
    let mut cells: BTreeMap<CellKey, Vec<&Run>> = BTreeMap::new();
    for r in runs {
        cells.entry(CellKey::of(&r.result)).or_default().push(r);
    }
    // `(cached, acked)`: which pump of a size, stream count and check.
    let pump_at = |size: usize, streams: usize, check: PumpCheck, kind: (bool, bool), repeat| {
        pumps
            .iter()
            .find(|p| {
                p.repeat == repeat
                    && (p.cached, p.result.acked) == kind
                    && p.result.size == size
                    && p.result.streams == streams
                    && p.result.check == check
            })
            .map(|p| p.result.gib_per_s)
    };
    let mut rows = Vec::new();
    for (cell, rs) in cells {
        let mut by_target: BTreeMap<&str, BTreeMap<usize, &CellResult>> = BTreeMap::new();
        for r in &rs {
            by_target
                .entry(r.result.target.as_str())
                .or_default()
                .insert(r.repeat, &r.result);
        }
        let figures = by_target
            .iter()
            .map(|(t, reps)| {
                let col = |f: fn(&CellResult) -> f64| -> f64 {
                    median(&reps.values().map(|r| f(r)).collect::<Vec<_>>()).unwrap_or(0.0)
                };
                let cpu = |f: fn(&crate::results::CpuUse) -> f64| -> Option<f64> {
                    median(
                        &reps
                            .values()
                            .filter_map(|r| r.cpu.as_ref().map(f))
                            .collect::<Vec<_>>(),
                    )
                };
                (
                    (*t).to_owned(),
                    Figure {
                        gib_per_s: col(|r| r.gib_per_s),
                        ops_per_s: col(|r| r.ops_per_s),
                        p50_us: col(|r| r.latency_us.p50),
                        p99_us: col(|r| r.latency_us.p99),
                        cpu_ms_per_gib: cpu(|c| c.ms_per_gib),
                        cpu_us_per_key: cpu(|c| c.us_per_key),
                        repeats: reps.len(),
                    },
                )
            })
            .collect();
        let streams = cell.streams();
        let mut pump_medians = BTreeMap::new();
        let mut pump_cpu = BTreeMap::new();
        let references = PumpCheck::ALL
            .map(|check| (check, (false, false), pump_ref(check)))
            .into_iter()
            .chain([
                (PumpCheck::Raw, (true, false), CACHED_PUMP.to_owned()),
                (PumpCheck::Raw, (false, true), ACKED_PUMP.to_owned()),
            ]);
        for (check, kind, name) in references {
            let matching: Vec<&PumpResult> = pumps
                .iter()
                .filter(|p| (p.cached, p.result.acked) == kind)
                .map(|p| &p.result)
                .filter(|p| p.size == cell.size && p.streams == streams && p.check == check)
                .collect();
            let xs: Vec<f64> = matching.iter().map(|p| p.gib_per_s).collect();
            if let Some(m) = median(&xs) {
                pump_medians.insert(name.clone(), m);
            }
            let cs: Vec<f64> = matching.iter().filter_map(|p| p.cpu_ms_per_gib).collect();
            if let Some(m) = median(&cs) {
                pump_cpu.insert(name, m);
            }
        }
        // A peer's ops/s in `repeat`, and the better peer's.
        let peer_at = |p: &str, repeat: usize| by_target.get(p)?.get(&repeat).map(|r| r.ops_per_s);
        let best_peer_at = |repeat: usize| {
            peers
                .iter()
                .filter_map(|p| peer_at(p, repeat))
                .reduce(f64::max)
        };
        let mut ratios = Vec::new();
        for t in memkv_targets {
            let Some(mine) = by_target.get(t.as_str()) else {
                continue;
            };
            let mut refs: Vec<(String, Vec<f64>)> = Vec::new();
            let mut push = |name: String, value: Option<f64>, own: f64| {
                if let Some(v) = value.filter(|v| *v > 0.0) {
                    let entry = match refs.iter_mut().position(|(n, _)| *n == name) {
                        Some(i) => &mut refs[i].1,
                        None => {
                            refs.push((name, Vec::new()));
                            &mut refs.last_mut().unwrap_or_else(|| unreachable!()).1
                        }
                    };
                    entry.push(own / v);
                }
            };
            for (&repeat, r) in mine {
                let own = r.gib_per_s;
                if cell.op != Op::Exists && !cell.op.is_batched() {
                    for check in PumpCheck::ALL {
                        push(
                            pump_ref(check),
                            pump_at(cell.size, streams, check, (false, false), repeat),
                            own,
                        );
                    }
                    push(
                        CACHED_PUMP.to_owned(),
                        pump_at(cell.size, streams, PumpCheck::Raw, (true, false), repeat),
                        own,
                    );
                    push(
                        ACKED_PUMP.to_owned(),
                        pump_at(cell.size, streams, PumpCheck::Raw, (false, true), repeat),
                        own,
                    );
                }
                let own_ops = r.ops_per_s;
                for p in peers {
                    push(p.clone(), peer_at(p, repeat), own_ops);
                }
                push(BEST_PEER.to_owned(), best_peer_at(repeat), own_ops);
            }
            for (reference, per_repeat) in refs {
                ratios.push(Ratio {
                    target: t.clone(),
                    reference,
                    median: median(&per_repeat).unwrap_or(0.0),
                    per_repeat,
                });
            }
        }
        // What a store that computes the frame MAC on both ends can reach at best,
        // against the better peer (which computes nothing): the ceiling of the `mac` rows'
        // peer targets.
        if cell.op != Op::Exists && !cell.op.is_batched() {
            let per_repeat: Vec<f64> = by_target
                .values()
                .flat_map(|reps| reps.keys().copied())
                .collect::<std::collections::BTreeSet<usize>>()
                .into_iter()
                .filter_map(|repeat| {
                    let pump = pump_at(cell.size, streams, PumpCheck::Mac, (false, false), repeat)?;
                    let pump_ops = pump * (1u64 << 30) as f64 / cell.size as f64;
                    let best = best_peer_at(repeat).filter(|b| *b > 0.0)?;
                    Some(pump_ops / best)
                })
                .collect();
            if let Some(m) = median(&per_repeat) {
                ratios.push(Ratio {
                    target: pump_ref(PumpCheck::Mac),
                    reference: BEST_PEER.to_owned(),
                    median: m,
                    per_repeat,
                });
            }
        }
        rows.push(SummaryRow {
            cell,
            figures,
            pumps: pump_medians,
            pump_cpu_ms_per_gib: pump_cpu,
            ratios,
        });
    }
    rows
}

/// One of the issue's targets.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is compared, in words.
    pub name: String,
    /// The memkv target.
    pub target: String,
    /// The cell.
    pub cell: CellKey,
    /// The reference.
    pub reference: String,
    /// The least ratio that passes.
    pub min: f64,
}

/// A target evaluated on a run.
#[derive(Debug, Clone, Serialize)]
pub struct GoalResult {
    /// The target.
    pub goal: Goal,
    /// The measured ratio (median of per-repeat ratios), if the cell was measured.
    pub measured: Option<f64>,
    /// Whether it passes (`None`: not measured).
    pub pass: Option<bool>,
}

/// The issue's targets for a run whose batch cells use `batch` keys per call and whose
/// concurrent cells use `clients` tasks.
pub fn issue_goals(batch: usize, clients: usize) -> Vec<Goal> {
    let mut goals = Vec::new();
    let cell = |op, size, tasks, batch| CellKey {
        op,
        size,
        tasks,
        connections: None,
        batch,
    };
    let m4 = 4 << 20;
    for op in [Op::Put, Op::Get] {
        goals.push(Goal {
            name: format!("checksum {op} 4M x1 vs raw pump"),
            target: "memkv-checksum".into(),
            cell: cell(op, m4, 1, 1),
            reference: pump_ref(PumpCheck::Raw),
            min: 0.85,
        });
        goals.push(Goal {
            name: format!("checksum {op} 4M x1 costs <=10% vs raw pump"),
            target: "memkv-checksum".into(),
            cell: cell(op, m4, 1, 1),
            reference: pump_ref(PumpCheck::Raw),
            min: 0.90,
        });
        goals.push(Goal {
            name: format!("mac {op} 4M x1 vs pump with the frame MAC"),
            target: "memkv-mac".into(),
            cell: cell(op, m4, 1, 1),
            reference: pump_ref(PumpCheck::Mac),
            min: 0.90,
        });
        goals.push(Goal {
            name: format!("checksum {op} 4M x1 vs raw pump of one cached message (informative)"),
            target: "memkv-checksum".into(),
            cell: cell(op, m4, 1, 1),
            reference: CACHED_PUMP.into(),
            min: 0.85,
        });
        goals.push(Goal {
            name: format!("checksum {op} 4M x1 vs raw pump answering each message (informative)"),
            target: "memkv-checksum".into(),
            cell: cell(op, m4, 1, 1),
            reference: ACKED_PUMP.into(),
            min: 0.85,
        });
    }
    // One connection with two puts in flight: the connection's bandwidth without a round trip
    // per value, as the pump's stream has none (`compare`'s pipelined cells).
    let pipelined = CellKey {
        connections: Some(1),
        ..cell(Op::Put, m4, PIPELINED_TASKS, 1)
    };
    goals.push(Goal {
        name: "checksum put 4M, 1 conn, 2 in flight, vs raw pump (informative)".into(),
        target: "memkv-checksum".into(),
        cell: pipelined,
        reference: pump_ref(PumpCheck::Raw),
        min: 0.85,
    });
    goals.push(Goal {
        name: "mac put 4M, 1 conn, 2 in flight, vs pump with the frame MAC (informative)".into(),
        target: "memkv-mac".into(),
        cell: pipelined,
        reference: pump_ref(PumpCheck::Mac),
        min: 0.90,
    });
    for size in [1 << 20, m4] {
        for op in [Op::Put, Op::Get] {
            for mode in ["mac", "checksum"] {
                goals.push(Goal {
                    name: format!("{mode} {op} {} x{clients} vs better peer", size_name(size)),
                    target: format!("memkv-{mode}"),
                    cell: cell(op, size, clients, 1),
                    reference: BEST_PEER.into(),
                    min: 1.0,
                });
            }
        }
    }
    for size in [1 << 20, m4] {
        for op in [Op::Put, Op::Get] {
            goals.push(Goal {
                name: format!(
                    "ceiling of mac {op} {} x{clients}: pump with the frame MAC vs better peer (informative)",
                    size_name(size)
                ),
                target: pump_ref(PumpCheck::Mac),
                cell: cell(op, size, clients, 1),
                reference: BEST_PEER.into(),
                min: 1.0,
            });
        }
    }
    for op in [Op::BatchPut, Op::BatchGet] {
        for mode in ["mac", "checksum"] {
            goals.push(Goal {
                name: format!("{mode} {op} 4K x{clients} b{batch} ops/s vs better peer"),
                target: format!("memkv-{mode}"),
                cell: cell(op, 4 << 10, clients, batch),
                reference: BEST_PEER.into(),
                min: 1.0,
            });
        }
    }
    goals
}

/// Evaluates `goals` on the summary rows.
pub fn evaluate(goals: Vec<Goal>, rows: &[SummaryRow]) -> Vec<GoalResult> {
    goals
        .into_iter()
        .map(|goal| {
            let measured = rows
                .iter()
                .find(|r| r.cell == goal.cell)
                .and_then(|r| r.ratio(&goal.target, &goal.reference));
            let pass = measured.map(|m| m >= goal.min);
            GoalResult {
                goal,
                measured,
                pass,
            }
        })
        .collect()
}

fn cell_or_dash(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

/// The side-by-side table: each cell's medians and memkv's ratios.
pub fn render_summary(rows: &[SummaryRow], memkv_targets: &[String], peers: &[String]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<22}", "cell");
    for t in memkv_targets {
        let short = t.trim_start_matches("memkv-");
        let _ = write!(
            out,
            " {:>10} {:>7} {:>7} {:>7}",
            format!("{short}"),
            "xpump",
            "x=chk",
            "xpeer"
        );
    }
    for p in peers {
        let _ = write!(out, " {:>10}", p);
    }
    let _ = writeln!(out, " {:>9} {:>9} {:>9}", "pump-raw", "cached", "unit");
    for row in rows {
        let batched = row.cell.op.is_batched();
        let value = |f: &Figure| if batched { f.ops_per_s } else { f.gib_per_s };
        let prec = if batched { 0 } else { 3 };
        let _ = write!(out, "{:<22}", row.cell.label());
        for t in memkv_targets {
            let fig = row.figures.get(t).map(value);
            let same = if t.ends_with("checksum") {
                pump_ref(PumpCheck::Crc32c)
            } else {
                pump_ref(PumpCheck::Mac)
            };
            let _ = write!(
                out,
                " {:>10} {:>7} {:>7} {:>7}",
                cell_or_dash(fig, prec),
                cell_or_dash(row.ratio(t, &pump_ref(PumpCheck::Raw)), 2),
                cell_or_dash(row.ratio(t, &same), 2),
                cell_or_dash(row.ratio(t, BEST_PEER), 2)
            );
        }
        for p in peers {
            let _ = write!(
                out,
                " {:>10}",
                cell_or_dash(row.figures.get(p).map(value), prec)
            );
        }
        let pump = |name: &str| (!batched).then(|| row.pumps.get(name).copied()).flatten();
        let _ = writeln!(
            out,
            " {:>9} {:>9} {:>9}",
            cell_or_dash(pump(&pump_ref(PumpCheck::Raw)), 3),
            cell_or_dash(pump(CACHED_PUMP), 3),
            if batched { "keys/s" } else { "GiB/s" }
        );
    }
    out.push_str(
        "xpump: memkv / raw pump; x=chk: memkv / pump computing the same check (CRC32C for checksum, memkv's frame MAC for mac);\nthe pumps move as many distinct messages as the benchmark has values; cached: the raw pump re-sending one message\nthat stays in the CPU's cache (informative);\nxpeer: memkv / the better of the peers (ops/s). Ratios are medians of per-repeat ratios.\n",
    );
    out
}

/// The CPU table: client + server CPU per GiB (per key for batches) of every target, and of
/// the pumps, as medians. Lower is cheaper; on a shared machine this is the steadier figure.
pub fn render_cpu(rows: &[SummaryRow], memkv_targets: &[String], peers: &[String]) -> String {
    let mut out = String::new();
    let names: Vec<&String> = memkv_targets.iter().chain(peers).collect();
    let _ = write!(out, "{:<22}", "CPU (client+server)");
    for n in &names {
        let _ = write!(out, " {:>14}", n);
    }
    let _ = writeln!(
        out,
        " {:>10} {:>10} {:>10} {:>9}",
        "pump-raw", "pump-crc", "pump-mac", "unit"
    );
    for row in rows {
        let batched = row.cell.op.is_batched();
        let _ = write!(out, "{:<22}", row.cell.label());
        for n in &names {
            let v = row.figures.get(*n).and_then(|f| {
                if batched {
                    f.cpu_us_per_key
                } else {
                    f.cpu_ms_per_gib
                }
            });
            let _ = write!(out, " {:>14}", cell_or_dash(v, if batched { 1 } else { 0 }));
        }
        for check in PumpCheck::ALL {
            let v = (!batched)
                .then(|| row.pump_cpu_ms_per_gib.get(&pump_ref(check)).copied())
                .flatten();
            let _ = write!(out, " {:>10}", cell_or_dash(v, 0));
        }
        let _ = writeln!(out, " {:>9}", if batched { "us/key" } else { "ms/GiB" });
    }
    out
}

/// The load on the drives' block devices (see [`crate::diskstats`]), medians over the
/// repeats: one row per disk cell and per fio job, reads for gets and fio's reads, writes
/// otherwise. Empty when no run measured one.
pub fn render_drive_load(runs: &[Run], fio: &[FioResult]) -> String {
    // (cell, runner) -> loads; the cell sorts first, so each runner's row sits by its peers'.
    let mut rows: BTreeMap<(String, String), (bool, Vec<&DeviceLoad>)> = BTreeMap::new();
    for run in runs {
        if let Some(load) = &run.device {
            let key = CellKey::of(&run.result);
            rows.entry((key.label(), run.result.target.clone()))
                .or_insert((key.op.only_reads(), Vec::new()))
                .1
                .push(load);
        }
    }
    for f in fio {
        if let Some(load) = &f.device {
            let cell = format!(
                "{} {} QD{}{}",
                f.rw,
                size_name(f.block_size),
                f.iodepth,
                crate::limits::fdatasync_label(f.fdatasync_every)
            );
            rows.entry((cell, format!("fio {}", f.medium)))
                .or_insert((f.rw == "read", Vec::new()))
                .1
                .push(load);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{:<56} {:>8} {:>12} {:>6} {:>11} {:>12}\n",
        "drive load (medians)", "device", "queue depth", "busy", "ms/request", "KiB/request"
    );
    for ((cell, runner), (reads, loads)) in &rows {
        let med = |f: &dyn Fn(&DeviceLoad) -> Option<f64>| {
            median(&loads.iter().filter_map(|l| f(l)).collect::<Vec<_>>())
        };
        let fmt = |v: Option<f64>, digits: usize| {
            v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
        };
        let _ = writeln!(
            out,
            "{:<56} {:>8} {:>12} {:>5}% {:>11} {:>12}",
            format!("{runner} {cell}"),
            loads[0].device,
            fmt(med(&|l| Some(l.avg_queue_depth)), 1),
            fmt(med(&|l| Some(l.busy * 100.0)), 0),
            fmt(med(&|l| l.requests(*reads).1), 1),
            fmt(med(&|l| l.requests(*reads).2), 0),
        );
    }
    out.push_str(
        "queue depth: requests queued or in service on the device, on average; ms/request includes queueing;\n\
         every request of the device counts, other processes' too (a data file's device is the filesystem's)\n",
    );
    out
}

/// The targets table.
pub fn render_goals(goals: &[GoalResult]) -> String {
    let mut out = String::new();
    let width = goals
        .iter()
        .map(|g| g.goal.name.len())
        .chain([52])
        .max()
        .unwrap_or(52);
    let _ = writeln!(
        out,
        "{:<width$} {:>8} {:>7} {:>6}",
        "target", "measured", "goal", "result"
    );
    for g in goals {
        let _ = writeln!(
            out,
            "{:<width$} {:>8} {:>7} {:>6}",
            g.goal.name,
            cell_or_dash(g.measured, 2),
            format!(">={:.2}", g.goal.min),
            match g.pass {
                Some(true) => "pass",
                Some(false) => "MISS",
                None => "n/a",
            }
        );
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::Latency;

    /// A cell's result with `gib` GiB/s (and the ops/s that makes).
    pub(crate) fn cell(
        target: &str,
        op: Op,
        size: usize,
        tasks: usize,
        batch: usize,
        gib: f64,
    ) -> CellResult {
        let ops = gib * (1u64 << 30) as f64 / size as f64;
        CellResult {
            target: target.into(),
            op,
            size,
            tasks,
            connections: None,
            batch,
            calls: 1,
            items: 1,
            bytes: 1,
            secs: 1.0,
            ops_per_s: ops,
            gib_per_s: gib,
            latency_us: Latency::default(),
            errors: 0,
            first_error: None,
            mismatches: 0,
            misses: 0,
            cpu: None,
        }
    }

    pub(crate) fn pump(size: usize, streams: usize, check: PumpCheck, gib: f64) -> PumpResult {
        PumpResult {
            size,
            streams,
            check,
            distinct: 16,
            messages: 1,
            bytes: 1,
            secs: 1.0,
            gib_per_s: gib,
            failures: 0,
            cpu_ms_per_gib: None,
            send_buffer: "auto".into(),
            acked: false,
        }
    }

    #[test]
    fn ratios_are_medians_of_same_repeat_ratios_and_goals_follow() {
        let m4 = 4 << 20;
        let mut runs = Vec::new();
        let mut pumps = Vec::new();
        // Repeat 0: memkv 4.0 vs raw pump 5.0 (0.8); repeat 1: 4.5 vs 5.0 (0.9);
        // repeat 2: 2.0 vs 2.0 (1.0: a noisy repeat where everything was slow).
        for (rep, (mk, raw)) in [(4.0, 5.0), (4.5, 5.0), (2.0, 2.0)].into_iter().enumerate() {
            runs.push(Run {
                repeat: rep,
                result: cell("memkv-checksum", Op::Put, m4, 1, 1, mk),
                device: None,
            });
            pumps.push(PumpRun {
                repeat: rep,
                cached: false,
                result: pump(m4, 1, PumpCheck::Raw, raw),
            });
            pumps.push(PumpRun {
                repeat: rep,
                cached: false,
                result: pump(m4, 1, PumpCheck::Crc32c, raw * 0.9),
            });
            // The cached pump, twice as fast: a reference of its own, not the raw pump's.
            pumps.push(PumpRun {
                repeat: rep,
                cached: true,
                result: pump(m4, 1, PumpCheck::Raw, raw * 2.0),
            });
            // The acknowledged pump at 0.8 of the stream: memkv's 4.0, 4.5, 2.0 over 4.0,
            // 4.0, 1.6 (1.0, 1.125, 1.25).
            let mut acked = pump(m4, 1, PumpCheck::Raw, raw * 0.8);
            acked.acked = true;
            pumps.push(PumpRun {
                repeat: rep,
                cached: false,
                result: acked,
            });
        }
        // 8 clients: memkv 3.0, redis 2.0, memcached 4.0 => 0.75 of the better peer.
        for rep in 0..3 {
            let mut mk = cell("memkv-checksum", Op::Put, m4, 8, 1, 3.0);
            mk.cpu = Some(crate::results::CpuUse::new(0.617, 0.617, 1 << 30, 256));
            runs.push(Run {
                repeat: rep,
                result: mk,
                device: None,
            });
            runs.push(Run {
                repeat: rep,
                result: cell("redis", Op::Put, m4, 8, 1, 2.0),
                device: None,
            });
            runs.push(Run {
                repeat: rep,
                result: cell("memcached", Op::Put, m4, 8, 1, 4.0),
                device: None,
            });
            // The MAC pump at 2.4 against the better peer's 4.0: the `mac` rows' ceiling.
            pumps.push(PumpRun {
                repeat: rep,
                cached: false,
                result: pump(m4, pump_streams(8), PumpCheck::Mac, 2.4),
            });
        }
        let targets = vec!["memkv-checksum".to_owned()];
        let peers = vec!["redis".to_owned(), "memcached".to_owned()];
        let rows = summarize(&runs, &pumps, &targets, &peers);
        assert_eq!(rows.len(), 2);
        let single = rows.iter().find(|r| r.cell.tasks == 1).unwrap();
        let raw = single
            .ratio("memkv-checksum", &pump_ref(PumpCheck::Raw))
            .unwrap();
        assert!((raw - 0.9).abs() < 1e-9, "{raw}");
        let cached = single.ratio("memkv-checksum", CACHED_PUMP).unwrap();
        assert!((cached - 0.45).abs() < 1e-9, "{cached}");
        assert_eq!(single.pumps[CACHED_PUMP], 10.0);
        let acked = single.ratio("memkv-checksum", ACKED_PUMP).unwrap();
        assert!((acked - 1.125).abs() < 1e-9, "{acked}");
        assert_eq!(single.pumps[ACKED_PUMP], 4.0);
        assert_eq!(single.figures["memkv-checksum"].gib_per_s, 4.0);
        let multi = rows.iter().find(|r| r.cell.tasks == 8).unwrap();
        assert!((multi.ratio("memkv-checksum", BEST_PEER).unwrap() - 0.75).abs() < 1e-9);
        assert!((multi.ratio("memkv-checksum", "redis").unwrap() - 1.5).abs() < 1e-9);

        let goals = evaluate(issue_goals(16, 8), &rows);
        let find = |name: &str| goals.iter().find(|g| g.goal.name == name).unwrap();
        assert_eq!(find("checksum put 4M x1 vs raw pump").pass, Some(true));
        assert_eq!(
            find("checksum put 4M x1 costs <=10% vs raw pump").pass,
            Some(true)
        );
        assert_eq!(find("checksum put 4M x8 vs better peer").pass, Some(false));
        let ceiling =
            find("ceiling of mac put 4M x8: pump with the frame MAC vs better peer (informative)");
        assert_eq!(ceiling.pass, Some(false));
        assert!((ceiling.measured.unwrap() - 0.6).abs() < 1e-9);
        assert_eq!(
            find("checksum put 4M x1 vs raw pump of one cached message (informative)").pass,
            Some(false)
        );
        assert_eq!(find("mac get 4M x1 vs pump with the frame MAC").pass, None);
        let acked = find("checksum put 4M x1 vs raw pump answering each message (informative)");
        assert_eq!(acked.pass, Some(true));
        assert!((acked.measured.unwrap() - 1.125).abs() < 1e-9);

        let table = render_summary(&rows, &targets, &peers);
        assert!(table.contains("put 4M x8"), "{table}");
        assert!(table.contains("0.75"), "{table}");
        let cpu_table = render_cpu(&rows, &targets, &peers);
        assert!(cpu_table.contains("ms/GiB"), "{cpu_table}");
        assert!(cpu_table.contains("1234"), "{cpu_table}");
        let goals_table = render_goals(&goals);
        assert!(goals_table.contains("MISS"), "{goals_table}");
        assert!(goals_table.contains("n/a"), "{goals_table}");
    }

    fn load(device: &str, queue: f64, reads: u64, writes: u64) -> DeviceLoad {
        DeviceLoad {
            device: device.into(),
            seconds: 1.0,
            reads,
            read_bytes: reads * 1024 * 1024,
            writes,
            write_bytes: writes * 512 * 1024,
            flushes: None,
            avg_queue_depth: queue,
            busy: 0.9,
            ms_per_read: (reads > 0).then_some(2.0),
            ms_per_write: (writes > 0).then_some(queue / 3.0),
        }
    }

    #[test]
    fn drive_load_rows_are_medians_per_cell_and_runner_reads_for_gets() {
        let m4 = 4 << 20;
        let run = |repeat, op, queue, reads, writes| Run {
            repeat,
            result: cell("memkv-direct-checksum", op, m4, 32, 1, 2.0),
            device: Some(load("loop0", queue, reads, writes)),
        };
        let runs = vec![
            run(0, Op::Put, 30.0, 0, 100),
            run(1, Op::Put, 40.0, 0, 100),
            run(0, Op::Get, 8.0, 50, 3),
            // A memory-mode run has no drive: no row.
            Run {
                repeat: 0,
                result: cell("memkv-checksum", Op::Put, m4, 32, 1, 4.0),
                device: None,
            },
        ];
        let fio = vec![FioResult {
            medium: "loop".into(),
            rw: "write".into(),
            iodepth: 32,
            block_size: m4,
            fdatasync_every: 0,
            gib_per_s: 2.5,
            repeat: Some(0),
            device: Some(load("loop1", 115.0, 0, 400)),
        }];
        let text = render_drive_load(&runs, &fio);
        let row = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no row {prefix:?} in\n{text}"))
                .split_whitespace()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
        };
        // Columns from the right: KiB/request, ms/request, busy, queue depth, device.
        assert_eq!(
            row("memkv-direct-checksum put 4M x32"),
            ["512", "11.7", "90%", "35.0", "loop0"]
        );
        assert_eq!(
            row("memkv-direct-checksum get 4M x32"),
            ["1024", "2.0", "90%", "8.0", "loop0"]
        );
        assert_eq!(
            row("fio loop write 4M QD32"),
            ["512", "38.3", "90%", "115.0", "loop1"]
        );
        assert!(!text.contains("memkv-checksum "), "{text}");
        assert_eq!(render_drive_load(&runs[3..], &[]), "");
    }
}
