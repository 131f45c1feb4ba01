//! `memkv-bench compare`: the side-by-side harness. In one run it measures the machine's
//! limits (memcpy, iperf3, the raw pump with and without the integrity modes' work, fio),
//! starts Redis, memcached and memkv (both integrity modes), runs the same sweep against each,
//! interleaved repeat by repeat, and reports memkv as ratios to the limits and the peers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use memkv_client::{AsyncClient, AuthKey, ClientConfig, Integrity, SendBuffer};
use serde::Serialize;

use crate::diskstats::BlockDevice;
use crate::fio_jobs::{FIO_BLOCK, FIO_DURABLE_EVERY, FIO_QD, FioMedia, FioRun, cell_for};
use crate::limits::{FioResult, IperfResult, fdatasync_label, iperf3, memcpy_gib_per_s};
use crate::pattern::ValueSet;
use crate::plot::{Panel, Series};
use crate::pump::{PumpCheck, PumpSpec, pump};
use crate::results::{Machine, command_line, median, now_rfc3339, size_name};
use crate::servers::{
    DiskEngine, MemkvStorage, ServerError, ServerProc, require_tools, start_memcached, start_memkv,
    start_redis,
};
use crate::summary::{
    ACKED_PUMP, CACHED_PUMP, CellKey, Goal, GoalResult, PumpRun, Run, SummaryRow, evaluate,
    issue_goals, pump_ref, pump_streams, summarize,
};
use crate::sweep::{keys_for, progress};
use crate::target::{GetApi, Target};
use crate::workload::{CellSpec, Op, Stop, run_cell};

/// What `memkv-bench compare` does.
#[derive(Debug, Clone, Serialize)]
pub struct CompareOptions {
    /// The `memkv` binary.
    pub memkv_bin: PathBuf,
    /// Value sizes of the put/get sweep.
    pub sizes: Vec<usize>,
    /// Concurrencies of the put/get sweep (tasks; one connection per task everywhere).
    pub concurrency: Vec<usize>,
    /// Keys per call of the batch cells.
    pub batch: usize,
    /// Value sizes of the batch cells.
    pub batch_sizes: Vec<usize>,
    /// Concurrency of the batch cells.
    pub batch_tasks: usize,
    /// Repeats (each target and limit is measured once per repeat, interleaved).
    pub repeats: usize,
    /// Time per cell.
    pub duration: Duration,
    /// Time per pump run.
    pub pump_duration: Duration,
    /// Bytes of distinct values per size.
    pub max_data: usize,
    /// memkv integrity modes to start.
    pub modes: Vec<String>,
    /// memkv storage engines to start (each in every integrity mode).
    pub storage: Vec<MemkvStorage>,
    /// Whether to start and measure Redis and memcached.
    pub peers: bool,
    /// Whether to run iperf3.
    pub iperf: bool,
    /// Whether to run fio.
    pub fio: bool,
    /// Time per fio job.
    pub fio_duration: Duration,
    /// Where config files and the fio file go.
    pub work_dir: PathBuf,
    /// memkv gets API.
    pub get_api: GetApi,
    /// `memory.max_size` of the memkv servers.
    pub memkv_max_size: String,
    /// `-m` of memcached, MiB.
    pub memcached_mib: u64,
    /// `--io-threads` of Redis.
    pub redis_io_threads: usize,
}

/// The limits measured in a harness run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Limits {
    /// Single-thread memcpy GiB/s (256 MiB buffers).
    pub memcpy_gib_per_s: f64,
    /// iperf3 over loopback.
    pub iperf3: Vec<IperfResult>,
    /// fio sequential O_DIRECT, 4 MiB blocks.
    pub fio: Vec<FioResult>,
    /// Why fio gave no figure, if it did not.
    pub fio_error: Option<String>,
}

/// The result of `memkv-bench compare`.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// `memkv-bench compare`.
    pub tool: String,
    /// Version of memkv-bench.
    pub version: String,
    /// Start of the run.
    pub date: String,
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// Versions of the peers, as they report them.
    pub peer_versions: Vec<(String, String)>,
    /// The options.
    pub options: CompareOptions,
    /// Limits.
    pub limits: Limits,
    /// Every pump run.
    pub pumps: Vec<PumpRun>,
    /// Every cell run.
    pub runs: Vec<Run>,
    /// Medians and ratios per cell.
    pub summary: Vec<SummaryRow>,
    /// The issue's targets.
    pub goals: Vec<GoalResult>,
    /// memkv targets in the run.
    pub memkv_targets: Vec<String>,
    /// Peers in the run.
    pub peers: Vec<String>,
    /// Whether every cell ran cleanly (no error, no wrong byte, no miss).
    pub ok: bool,
}

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A tool or server is missing or failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The memkv client failed to connect.
    #[error("connecting to {label}: {source}")]
    Client {
        /// Which memkv.
        label: String,
        /// Why.
        source: memkv_client::ClientError,
    },
    /// A pump run failed.
    #[error("raw pump: {0}")]
    Pump(std::io::Error),
}

/// A store the harness measures: a memkv server or a peer.
struct Runner {
    /// Its name in the tables (`memkv-checksum`, `redis`, ...).
    label: String,
    target: Target,
    /// The server's process, whose CPU time each cell reads.
    pid: u32,
    /// The block device under a disk server's drive, whose load each cell reads.
    device: Option<BlockDevice>,
}

fn program_version(program: &str, arg: &str) -> String {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The cells of a size, in run order.
fn cells_for(opts: &CompareOptions, size: usize) -> Vec<CellSpec> {
    let stop = Stop::Duration(opts.duration);
    let mut cells = Vec::new();
    // Sizes only named by --batch-sizes get batch cells only.
    let singles = if opts.sizes.contains(&size) {
        &opts.concurrency[..]
    } else {
        &[]
    };
    for &tasks in singles {
        for op in [Op::Put, Op::Get] {
            cells.push(CellSpec {
                op,
                tasks,
                batch: 1,
                read_ratio: 0.0,
                stop,
            });
        }
    }
    if opts.batch_sizes.contains(&size) {
        for op in [Op::BatchPut, Op::BatchGet] {
            cells.push(CellSpec {
                op,
                tasks: opts.batch_tasks,
                batch: opts.batch,
                read_ratio: 0.0,
                stop,
            });
        }
    }
    cells
}

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Measures the limits that are not per message size: memcpy, iperf3, fio.
async fn measure_limits(opts: &CompareOptions) -> Limits {
    let mut limits = Limits {
        memcpy_gib_per_s: blocking(|| memcpy_gib_per_s(256 << 20, Duration::from_secs(1))).await,
        ..Limits::default()
    };
    eprintln!("memcpy: {:.2} GiB/s", limits.memcpy_gib_per_s);
    if opts.iperf {
        for streams in [1, 4] {
            match blocking(move || iperf3(streams, 3)).await {
                Ok(r) => {
                    eprintln!("iperf3 -P {streams}: {:.2} GiB/s", r.gib_per_s);
                    limits.iperf3.push(r);
                }
                Err(e) => eprintln!("iperf3 -P {streams}: {e}"),
            }
        }
    }
    if opts.fio
        && !fio_each_repeat(opts)
        && let Err(e) = measure_fio(opts, None, &mut limits).await
    {
        eprintln!("fio: {e}");
        limits.fio_error = Some(e.to_string());
    }
    limits
}

/// Whether fio runs in every repeat of the 4 MiB cells, next to the disk servers it is the limit
/// of (the disk's speed drifts like everything else on a shared machine), rather than once.
fn fio_each_repeat(opts: &CompareOptions) -> bool {
    opts.sizes.contains(&FIO_BLOCK)
        && opts
            .storage
            .iter()
            .any(|s| matches!(s, MemkvStorage::Disk { .. }))
}

/// Every fio job once, tagged with `repeat`.
async fn measure_fio(
    opts: &CompareOptions,
    repeat: Option<usize>,
    limits: &mut Limits,
) -> Result<(), ServerError> {
    let media = FioMedia::new(opts)?;
    for run in &media.runs {
        limits.fio.push(media.run(run, repeat).await?);
    }
    Ok(())
}

/// Runs the harness.
pub async fn compare(opts: CompareOptions) -> Result<CompareReport, CompareError> {
    let date = now_rfc3339();
    let mut tools = Vec::new();
    if opts.peers {
        tools.extend(["redis-server", "memcached"]);
    }
    if opts.iperf {
        tools.push("iperf3");
    }
    if opts.fio {
        tools.push("fio");
    }
    for s in &opts.storage {
        tools.extend(s.tools());
    }
    require_tools(&tools)?;
    let machine = Machine::detect();
    let cores = machine.cores;

    // Servers first, so that a start-up failure costs nothing.
    let mut servers: Vec<ServerProc> = Vec::new();
    let mut memkv_targets = Vec::new();
    let mut targets: Vec<Runner> = Vec::new();
    let combos: Vec<(&MemkvStorage, &String)> = opts
        .storage
        .iter()
        .flat_map(|st| opts.modes.iter().map(move |m| (st, m)))
        .collect();
    for (storage, mode) in combos {
        let integrity = mode
            .parse::<Integrity>()
            .map_err(|e| ServerError::Failed(e.to_string()))?;
        let s = start_memkv(
            &opts.memkv_bin,
            &opts.work_dir,
            integrity,
            &opts.memkv_max_size,
            storage,
        )?;
        eprintln!("started {} on {}", s.label, s.addr);
        let key = AuthKey::from_hex(s.key_hex.as_deref().unwrap_or_default())
            .map_err(|e| ServerError::Failed(e.to_string()))?;
        let max_tasks = opts
            .concurrency
            .iter()
            .copied()
            .chain([opts.batch_tasks])
            .max()
            .unwrap_or(1);
        let client = AsyncClient::new(
            ClientConfig::new([s.addr.clone()])
                .with_auth_key(key)
                .with_integrity(integrity)
                .with_num_connections(max_tasks)
                .with_op_timeout(Duration::from_secs(120)),
        )
        .map_err(|source| CompareError::Client {
            label: s.label.clone(),
            source,
        })?;
        for r in client.warmup().await {
            r.map_err(|source| CompareError::Client {
                label: s.label.clone(),
                source,
            })?;
        }
        memkv_targets.push(s.label.clone());
        targets.push(Runner {
            label: s.label.clone(),
            target: Target::Memkv {
                client,
                api: opts.get_api,
            },
            pid: s.pid(),
            device: s.block_device(),
        });
        servers.push(s);
    }
    let mut peers = Vec::new();
    let mut peer_versions = Vec::new();
    if opts.peers {
        let r = start_redis(opts.redis_io_threads)?;
        eprintln!("started redis on {}", r.addr);
        targets.push(Runner {
            label: "redis".into(),
            target: Target::Redis(r.addr.clone()),
            pid: r.pid(),
            device: None,
        });
        peers.push("redis".to_owned());
        peer_versions.push((
            "redis".to_owned(),
            program_version("redis-server", "--version"),
        ));
        servers.push(r);
        let m = start_memcached(cores, opts.memcached_mib)?;
        eprintln!("started memcached on {}", m.addr);
        targets.push(Runner {
            label: "memcached".into(),
            target: Target::Memcached(m.addr.clone()),
            pid: m.pid(),
            device: None,
        });
        peers.push("memcached".to_owned());
        peer_versions.push(("memcached".to_owned(), program_version("memcached", "-V")));
        servers.push(m);
    }

    let mut limits = measure_limits(&opts).await;
    // fio's media stay for the whole run; its jobs run among the 4 MiB cells.
    let fio_media = if opts.fio && fio_each_repeat(&opts) {
        match FioMedia::new(&opts) {
            Ok(media) => Some(media),
            Err(e) => {
                eprintln!("fio: {e}");
                limits.fio_error = Some(e.to_string());
                None
            }
        }
    } else {
        None
    };

    let mut pumps = Vec::new();
    let mut runs = Vec::new();
    let mut stream_counts: Vec<usize> = opts.concurrency.iter().map(|&t| pump_streams(t)).collect();
    stream_counts.sort_unstable();
    stream_counts.dedup();
    let sizes: Vec<usize> = {
        let mut s = opts.sizes.clone();
        s.extend(opts.batch_sizes.iter().copied());
        s.sort_unstable();
        s.dedup();
        s
    };
    for &size in &sizes {
        let cells = cells_for(&opts, size);
        let min_keys = cells.iter().map(|c| c.tasks * c.batch).max().unwrap_or(1);
        let keys = keys_for(size, None, opts.max_data, min_keys);
        let data: Arc<ValueSet> = ValueSet::new(size, keys, 0x6d656d6b76, 0x6d656d6b76);
        let single = opts.sizes.contains(&size);
        for repeat in 0..opts.repeats {
            eprintln!(
                "== {} ({keys} keys), repeat {}/{}",
                size_name(size),
                repeat + 1,
                opts.repeats
            );
            if single {
                for &streams in &stream_counts {
                    // The limits move as many distinct messages as the cells have values; the
                    // raw pump also re-sends one message from the cache, and with one stream
                    // answers each message before the next (both informative).
                    let runs = PumpCheck::ALL
                        .map(|check| (check, false, false))
                        .into_iter()
                        .chain([(PumpCheck::Raw, true, false)])
                        .chain((streams == 1).then_some((PumpCheck::Raw, false, true)));
                    for (check, cached, acked) in runs {
                        let distinct = if cached { 1 } else { keys };
                        // memkv's default send buffer, which the servers and clients run with.
                        let r = pump(PumpSpec {
                            size,
                            streams,
                            distinct,
                            check,
                            duration: opts.pump_duration,
                            send_buffer: SendBuffer::Auto,
                            acked,
                        })
                        .await
                        .map_err(CompareError::Pump)?;
                        eprintln!(
                            "  {:<15} {:<9} {:>4} x{:<3} {:>8.3} GiB/s{}",
                            if cached {
                                CACHED_PUMP.to_owned()
                            } else if acked {
                                ACKED_PUMP.to_owned()
                            } else {
                                format!("pump-{}", check.name())
                            },
                            "stream",
                            size_name(size),
                            streams,
                            r.gib_per_s,
                            if r.failures > 0 {
                                "  CHECK FAILURES"
                            } else {
                                ""
                            }
                        );
                        pumps.push(PumpRun {
                            repeat,
                            cached,
                            result: r,
                        });
                    }
                }
            }
            for (c, cell) in cells.iter().enumerate() {
                // fio's jobs run among the cells they are the limit of (see `fio_jobs`).
                let fio_runs: Vec<&FioRun> = match &fio_media {
                    Some(media) if size == FIO_BLOCK => media
                        .runs
                        .iter()
                        .filter(|r| cell_for(&r.job, &cells) == Some(c))
                        .collect(),
                    _ => Vec::new(),
                };
                // Rotate the order per repeat, so no runner always runs first (A B, B A, ...)
                // or always after the same one.
                let n = targets.len() + fio_runs.len();
                for k in 0..n {
                    let i = (k + repeat) % n;
                    if let Some(t) = targets.get(i) {
                        let before = t.device.as_ref().and_then(BlockDevice::snapshot);
                        let r = run_cell(&t.label, &t.target, cell, &data, Some(t.pid)).await;
                        progress(&r);
                        let device = before.and_then(|b| b.load());
                        if let Some(load) = &device {
                            eprintln!("    {}", load.line(cell.op.only_reads()));
                        }
                        runs.push(Run {
                            repeat,
                            result: r,
                            device,
                        });
                    } else if let Some(media) = &fio_media
                        && limits.fio_error.is_none()
                    {
                        match media.run(fio_runs[i - targets.len()], Some(repeat)).await {
                            Ok(r) => limits.fio.push(r),
                            Err(e) => {
                                eprintln!("fio: {e}");
                                limits.fio_error = Some(e.to_string());
                            }
                        }
                    }
                }
            }
        }
    }
    let summary = summarize(&runs, &pumps, &memkv_targets, &peers);
    let clients = opts.concurrency.iter().copied().max().unwrap_or(1);
    let mut goals = evaluate(issue_goals(opts.batch, clients), &summary);
    goals.extend(storage_goals(
        &opts.storage,
        &opts.concurrency,
        &opts.modes,
        &runs,
        &pumps,
        &limits,
    ));
    let ok = runs.iter().all(|r| r.result.is_clean(false))
        && pumps.iter().all(|p| p.result.failures == 0);
    drop(servers);
    Ok(CompareReport {
        tool: "memkv-bench compare".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        date,
        command: command_line(),
        machine,
        peer_versions,
        options: opts,
        limits,
        pumps,
        runs,
        summary,
        goals,
        memkv_targets,
        peers,
        ok,
    })
}

/// The issue's storage targets, per disk engine that ran: sustained 4 MiB puts to its warm
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
fn storage_goals(
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
                    batch: 1,
                };
                // The issue's target compares with fio's plain write; puts are also compared
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

/// The plot of a harness run: one panel per concurrency; a line per target and operation, and
/// the raw pump.
pub fn compare_panels(report: &CompareReport) -> Vec<Panel> {
    let mut panels = Vec::new();
    for &tasks in &report.options.concurrency {
        let mut series = Vec::new();
        let mut names: Vec<&String> = report.memkv_targets.iter().collect();
        names.extend(report.peers.iter());
        for name in names {
            for op in [Op::Put, Op::Get] {
                let points: Vec<(usize, f64)> = report
                    .summary
                    .iter()
                    .filter(|r| r.cell.op == op && r.cell.tasks == tasks && r.cell.batch == 1)
                    .filter_map(|r| r.figures.get(name).map(|f| (r.cell.size, f.gib_per_s)))
                    .collect();
                if !points.is_empty() {
                    series.push(Series {
                        name: format!("{name} {op}"),
                        points,
                    });
                }
            }
        }
        let raw: Vec<(usize, f64)> = report
            .summary
            .iter()
            .filter(|r| r.cell.op == Op::Put && r.cell.tasks == tasks && r.cell.batch == 1)
            .filter_map(|r| {
                r.pumps
                    .get(&pump_ref(PumpCheck::Raw))
                    .map(|g| (r.cell.size, *g))
            })
            .collect();
        if !raw.is_empty() {
            series.push(Series {
                name: format!("raw pump ({} stream(s))", pump_streams(tasks)),
                points: raw,
            });
        }
        panels.push(Panel {
            title: format!("{tasks} client(s), one connection each"),
            series,
        });
    }
    panels
}

#[cfg(test)]
mod tests {
    use super::*;
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
