//! The storage targets of a `compare` run: disk puts against fio's sequential
//! O_DIRECT write and cold disk gets against fio's read, each with its ceilings.

use crate::compare::Limits;
use crate::fio_jobs::{FIO_BLOCK, FIO_DURABLE_EVERY, FIO_QD};
use crate::limits::fdatasync_label;
use crate::pump::PumpCheck;
use crate::results::median;
use crate::servers::{DiskEngine, MemkvStorage};
use crate::summary::{CellKey, Goal, GoalResult, PumpRun, Run, pump_ref, pump_streams};
use crate::workload::Op;

/// The storage targets, per disk engine that ran: sustained 4 MiB puts to its warm
/// server (default durability) against fio's sequential O_DIRECT write at memkv's queue depth
/// (32) on the same kind of medium, and 4 MiB gets from its cold server (1 MiB read cache,
/// O_DIRECT drive: every get reads the drive) against fio's read at the same depth. The cells
/// are those with 32 clients (as many requests in flight as fio's queue depth) when the run has
/// them, else those with the most clients. Ratios are medians of per-repeat ratios when fio ran
/// in every repeat. A target whose server was not run is `n/a`.
///
/// Each target also gets its ceiling (informative): the raw pump, with as many streams as the
/// cells, against the same fio figure. Where the drive is faster than loopback TCP carries
/// bytes at all, no server behind it reaches the target.
pub(crate) fn storage_goals(
    storage: &[MemkvStorage],
    concurrency: &[usize],
    modes: &[String],
    runs: &[Run],
    pumps: &[PumpRun],
    limits: &Limits,
) -> Vec<GoalResult> {
    let ran = |engine: DiskEngine| {
        storage
            .iter()
            .any(|s| matches!(s, MemkvStorage::Disk { engine: e, .. } if *e == engine))
    };
    let tasks = if concurrency.contains(&FIO_QD) {
        FIO_QD
    } else {
        concurrency.iter().copied().max().unwrap_or(1)
    };
    let mut out = Vec::new();
    for (engine, warm, medium) in [
        (DiskEngine::File, "file", "file"),
        (DiskEngine::Direct, "direct", "loop"),
    ] {
        if !ran(engine) {
            continue;
        }
        for mode in modes {
            for (op, rw, name, what) in [
                (Op::Put, "write", warm.to_owned(), "put 4M"),
                (Op::Get, "read", format!("{warm}-cold"), "get 4M cold"),
            ] {
                let target = format!("memkv-{name}-{mode}");
                let cell = CellKey {
                    op,
                    size: FIO_BLOCK,
                    tasks,
                    connections: None,
                    batch: 1,
                };
                // The target compares with fio's plain write; puts are also compared
                // with fio's durable write (an fdatasync per 32 MiB), which is what a put
                // with the default `storage.sync: always` waits for (informative).
                let flushes: &[usize] = if op == Op::Put {
                    &[0, FIO_DURABLE_EVERY]
                } else {
                    &[0]
                };
                // fio's write or read on this medium in `repeat`, with an `fdatasync` every
                // `every` writes.
                let fio_at = |every: usize, repeat: usize| {
                    limits
                        .fio
                        .iter()
                        .filter(|f| {
                            f.medium == medium
                                && f.rw == rw
                                && f.iodepth == FIO_QD
                                && f.fdatasync_every == every
                        })
                        .find(|f| f.repeat.is_none_or(|r| r == repeat))
                        .map(|f| f.gib_per_s)
                        .filter(|g| *g > 0.0)
                };
                // The median over repeats of the cell's figure over `reference` in that repeat.
                let median_vs = |reference: &dyn Fn(usize) -> Option<f64>| {
                    let ratios: Vec<f64> = runs
                        .iter()
                        .filter(|r| r.result.target == target && CellKey::of(&r.result) == cell)
                        .filter_map(|r| reference(r.repeat).map(|x| r.result.gib_per_s / x))
                        .collect();
                    median(&ratios)
                };
                let mut push = |what_vs: String, reference: String, measured: Option<f64>| {
                    out.push(GoalResult {
                        goal: Goal {
                            name: format!("{name} {mode} {what} x{tasks} vs {what_vs}"),
                            target: target.clone(),
                            cell,
                            reference,
                            min: 0.90,
                        },
                        pass: measured.map(|m| m >= 0.90),
                        measured,
                    });
                };
                for &every in flushes {
                    let measured = median_vs(&|repeat| fio_at(every, repeat));
                    let (flush, note, reference) = if every == 0 {
                        (String::new(), "", format!("fio-{medium}-{rw}-qd{FIO_QD}"))
                    } else {
                        (
                            fdatasync_label(every),
                            " (informative)",
                            format!("fio-{medium}-{rw}-qd{FIO_QD}-fdatasync{every}"),
                        )
                    };
                    push(
                        format!("fio {rw} QD{FIO_QD}{flush} on a {medium}{note}"),
                        reference,
                        measured,
                    );
                }
                // A put crosses loopback TCP before it reaches the drive, and a cold get after
                // it left the drive: where fio moves bytes faster than memkv's memory mode
                // moves the same values in the same repeat, that is the ceiling (informative:
                // what the drive path adds to the network's).
                let memory = format!("memkv-{mode}");
                let network_at = |repeat: usize| {
                    runs.iter()
                        .find(|r| {
                            r.repeat == repeat
                                && r.result.target == memory
                                && CellKey::of(&r.result) == cell
                        })
                        .map(|r| r.result.gib_per_s)
                };
                let measured = median_vs(&|repeat| {
                    Some(fio_at(0, repeat)?.min(network_at(repeat)?)).filter(|g| *g > 0.0)
                });
                push(
                    format!(
                        "the lower of fio {rw} QD{FIO_QD} on a {medium} and memory-mode {} (informative)",
                        op.name()
                    ),
                    format!("min(fio-{medium}-{rw}-qd{FIO_QD},{memory})"),
                    measured,
                );
                // The ceiling: the raw pump (an upper bound whatever the mode checks; a cold
                // get's server does not check), as many streams as the cells, over fio in the
                // same repeat.
                let pump_over_fio: Vec<f64> = pumps
                    .iter()
                    .filter(|p| {
                        !p.cached
                            && p.result.size == FIO_BLOCK
                            && p.result.streams == pump_streams(tasks)
                            && p.result.check == PumpCheck::Raw
                    })
                    .filter_map(|p| Some(p.result.gib_per_s / fio_at(0, p.repeat)?))
                    .collect();
                let measured = median(&pump_over_fio);
                out.push(GoalResult {
                    goal: Goal {
                        name: format!(
                            "ceiling of {name} {mode} {what} x{tasks}: raw pump vs fio {rw} QD{FIO_QD} on a {medium} (informative)"
                        ),
                        target: pump_ref(PumpCheck::Raw),
                        cell,
                        reference: format!("fio-{medium}-{rw}-qd{FIO_QD}"),
                        min: 0.90,
                    },
                    pass: measured.map(|m| m >= 0.90),
                    measured,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::FioResult;
    use crate::summary::tests::{cell, pump};

    fn put(target: &str, repeat: usize, gib: f64) -> Run {
        Run {
            repeat,
            result: cell(target, Op::Put, FIO_BLOCK, FIO_QD, 1, gib),
            device: None,
        }
    }

    fn fio_write(repeat: usize, gib: f64) -> FioResult {
        FioResult {
            medium: "file".into(),
            rw: "write".into(),
            iodepth: FIO_QD,
            block_size: FIO_BLOCK,
            fdatasync_every: 0,
            gib_per_s: gib,
            repeat: Some(repeat),
            device: None,
        }
    }

    /// Limits with these fio results and nothing else measured.
    fn limits_with(fio: Vec<FioResult>) -> Limits {
        Limits {
            memcpy_gib_per_s: 10.0,
            iperf3: Vec::new(),
            fio,
            fio_error: None,
        }
    }

    /// One `file` server, with a cold cache or not.
    fn file_server(cold: bool) -> [MemkvStorage; 1] {
        [MemkvStorage::Disk {
            engine: DiskEngine::File,
            size: 1 << 30,
            block_size: 4 << 20,
            cold,
        }]
    }

    /// The measured figure of the goal named `name`.
    fn measured_in(goals: &[GoalResult], name: &str) -> Option<f64> {
        goals
            .iter()
            .find(|g| g.goal.name == name)
            .unwrap_or_else(|| panic!("no `{name}` in {goals:#?}"))
            .measured
    }

    #[test]
    fn disk_puts_are_compared_with_fio_the_lower_of_fio_and_memory_mode_and_the_pump() {
        // Repeat 0: fio 5.0 is faster than memory mode's 3.0, which is then the ceiling: file
        // put 2.4 is 0.48 of fio and 0.8 of the ceiling. Repeat 1: fio 2.0 is the slower:
        // file put 1.9 is 0.95 of both. Medians of the two repeats: 0.715 and 0.875.
        let runs = vec![
            put("memkv-checksum", 0, 3.0),
            put("memkv-file-checksum", 0, 2.4),
            put("memkv-checksum", 1, 3.0),
            put("memkv-file-checksum", 1, 1.9),
        ];
        let limits = limits_with(vec![fio_write(0, 5.0), fio_write(1, 2.0)]);
        let storage = file_server(false);
        // The raw pump with 4 streams (the x32 cells'): 4.0 over fio 5.0 (0.8), 1.8 over fio
        // 2.0 (0.9): median 0.85. A checking pump, the cached one and one stream do not count.
        let pumps: Vec<PumpRun> = [
            (0, false, 4, PumpCheck::Raw, 4.0),
            (1, false, 4, PumpCheck::Raw, 1.8),
            (0, false, 4, PumpCheck::Crc32c, 9.0),
            (1, true, 4, PumpCheck::Raw, 9.0),
            (1, false, 1, PumpCheck::Raw, 9.0),
        ]
        .into_iter()
        .map(|(repeat, cached, streams, check, gib)| PumpRun {
            repeat,
            cached,
            result: pump(FIO_BLOCK, streams, check, gib),
        })
        .collect();
        let goals = storage_goals(
            &storage,
            &[1, FIO_QD],
            &["checksum".to_owned()],
            &runs,
            &pumps,
            &limits,
        );
        let measured = |name: &str| measured_in(&goals, name);
        let vs_fio = measured("file checksum put 4M x32 vs fio write QD32 on a file").unwrap();
        assert!((vs_fio - 0.715).abs() < 1e-9, "{vs_fio}");
        let vs_ceiling = measured(
            "file checksum put 4M x32 vs the lower of fio write QD32 on a file and memory-mode put (informative)",
        )
        .unwrap();
        assert!((vs_ceiling - 0.875).abs() < 1e-9, "{vs_ceiling}");
        let pump_vs_fio = measured(
            "ceiling of file checksum put 4M x32: raw pump vs fio write QD32 on a file (informative)",
        )
        .unwrap();
        assert!((pump_vs_fio - 0.85).abs() < 1e-9, "{pump_vs_fio}");
        // No cold server ran and fio read nothing: the get target is not measured.
        assert_eq!(
            measured("file-cold checksum get 4M cold x32 vs fio read QD32 on a file"),
            None
        );
    }

    #[test]
    fn cold_gets_are_compared_with_fio_read_and_the_lower_of_it_and_memory_mode_gets() {
        // Repeat 0: fio reads 3.0, memory-mode gets 2.0 (the ceiling): a cold get of 1.8 is
        // 0.6 of fio and 0.9 of the ceiling. Repeat 1: fio 2.0, memory mode 4.0: a cold get of
        // 1.6 is 0.8 of both. Medians: 0.7 and 0.85.
        let get = |target: &str, repeat, gib| Run {
            repeat,
            result: cell(target, Op::Get, FIO_BLOCK, FIO_QD, 1, gib),
            device: None,
        };
        let runs = vec![
            get("memkv-checksum", 0, 2.0),
            get("memkv-file-cold-checksum", 0, 1.8),
            get("memkv-checksum", 1, 4.0),
            get("memkv-file-cold-checksum", 1, 1.6),
        ];
        let fio_read = |repeat, gib| FioResult {
            rw: "read".into(),
            ..fio_write(repeat, gib)
        };
        let limits = limits_with(vec![fio_read(0, 3.0), fio_read(1, 2.0)]);
        let storage = file_server(true);
        let goals = storage_goals(
            &storage,
            &[FIO_QD],
            &["checksum".to_owned()],
            &runs,
            &[],
            &limits,
        );
        let measured = |name: &str| measured_in(&goals, name).unwrap();
        let vs_fio = measured("file-cold checksum get 4M cold x32 vs fio read QD32 on a file");
        assert!((vs_fio - 0.7).abs() < 1e-9, "{vs_fio}");
        let vs_ceiling = measured(
            "file-cold checksum get 4M cold x32 vs the lower of fio read QD32 on a file and memory-mode get (informative)",
        );
        assert!((vs_ceiling - 0.85).abs() < 1e-9, "{vs_ceiling}");
    }
}
