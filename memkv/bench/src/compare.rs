//! `memkv-bench compare`: the side-by-side harness. In one run it measures the machine's
//! limits (memcpy, iperf3, the raw pump with and without the integrity modes' work, fio),
//! starts Redis, memcached and memkv (both integrity modes), runs the same sweep against each,
//! interleaved repeat by repeat, and reports memkv as ratios to the limits and the peers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use memkv_client::{AsyncClient, AuthKey, ClientConfig, Integrity, SendBuffer};
use serde::Serialize;

use crate::disk_goals::storage_goals;
use crate::diskstats::BlockDevice;
use crate::fio_jobs::{FIO_BLOCK, FioMedia, FioRun, cell_for};
use crate::limits::{FioResult, IperfResult, iperf3, memcpy_gib_per_s};
use crate::pattern::ValueSet;
use crate::plot::{Panel, Series};
use crate::pump::{PumpCheck, PumpSpec, pump};
use crate::results::{Machine, command_line, now_rfc3339, size_name};
use crate::servers::{
    MemkvStorage, ServerError, ServerProc, require_tools, start_memcached, start_memkv, start_redis,
};
use crate::summary::{
    ACKED_PUMP, CACHED_PUMP, GoalResult, PIPELINED_TASKS, PumpRun, Run, SummaryRow, evaluate,
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
    /// Concurrencies of the put/get sweep (tasks; one connection per task, but for the
    /// `pipelined` cells).
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
    /// Whether, where the sweep has one-client cells, memkv also runs puts with two tasks
    /// sharing one connection (`PIPELINED_TASKS`), so that a value is on its way while the
    /// previous one's answer comes back: the connection's bandwidth, against the same
    /// one-stream pumps. (Not gets: two gets into their callers' buffers over one connection
    /// wait for each other's checks, see `docs/benchmarks.md`.)
    pub pipelined: bool,
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
    /// Per memkv target, the connections its client for the `pipelined` cells opened over the
    /// run: 1 once those cells ran (it connects at the first), more only if a connection failed
    /// and was replaced.
    pub pipelined_connections: Vec<(String, u64)>,
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
    /// memkv through a client of one connection, for the cells whose tasks share one.
    one_connection: Option<Target>,
    /// Whether `one_connection` has connected: at its first cell, so that its client's count of
    /// connections opened says whether those cells ran through it.
    one_connection_warm: bool,
}

/// Connects a memkv target's client to every server before a cell is timed.
async fn warm_up(label: &str, target: &Target) -> Result<(), CompareError> {
    if let Target::Memkv { client, .. } = target {
        for r in client.warmup().await {
            r.map_err(|source| CompareError::Client {
                label: label.to_owned(),
                source,
            })?;
        }
    }
    Ok(())
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
                connections: None,
                batch: 1,
                read_ratio: 0.0,
                stop,
            });
        }
        if tasks == 1 && opts.pipelined {
            cells.push(CellSpec {
                op: Op::Put,
                tasks: PIPELINED_TASKS,
                connections: Some(1),
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
                connections: None,
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
        let connect = |connections: usize| {
            let config = ClientConfig::new([s.addr.clone()])
                .with_auth_key(key.clone())
                .with_integrity(integrity)
                .with_num_connections(connections)
                .with_op_timeout(Duration::from_secs(120));
            AsyncClient::new(config)
                .map(|client| Target::Memkv {
                    client,
                    api: opts.get_api,
                })
                .map_err(|source| CompareError::Client {
                    label: s.label.clone(),
                    source,
                })
        };
        let target = connect(max_tasks)?;
        warm_up(&s.label, &target).await?;
        let one_connection = if opts.pipelined && opts.concurrency.contains(&1) {
            Some(connect(1)?)
        } else {
            None
        };
        memkv_targets.push(s.label.clone());
        targets.push(Runner {
            label: s.label.clone(),
            target,
            pid: s.pid(),
            device: s.block_device(),
            one_connection,
            one_connection_warm: false,
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
            one_connection: None,
            one_connection_warm: false,
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
            one_connection: None,
            one_connection_warm: false,
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
                    if let Some(t) = targets.get_mut(i) {
                        // Cells whose tasks share a connection are memkv's alone (a peer's
                        // native client has a connection per task).
                        let target = match (cell.connections, &t.one_connection) {
                            (None, _) => &t.target,
                            (Some(_), Some(one)) => {
                                if !t.one_connection_warm {
                                    warm_up(&t.label, one).await?;
                                    t.one_connection_warm = true;
                                }
                                one
                            }
                            (Some(_), None) => continue,
                        };
                        let before = t.device.as_ref().and_then(BlockDevice::snapshot);
                        let r = run_cell(&t.label, target, cell, &data, Some(t.pid)).await;
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
    let pipelined_connections = targets
        .iter()
        .filter_map(|t| match &t.one_connection {
            Some(Target::Memkv { client, .. }) => {
                Some((t.label.clone(), client.stats().connections_opened))
            }
            _ => None,
        })
        .collect();
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
        pipelined_connections,
        ok,
    })
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
                    .filter(|r| {
                        r.cell.op == op
                            && r.cell.tasks == tasks
                            && r.cell.connections.is_none()
                            && r.cell.batch == 1
                    })
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
            .filter(|r| {
                r.cell.op == Op::Put
                    && r.cell.tasks == tasks
                    && r.cell.connections.is_none()
                    && r.cell.batch == 1
            })
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

    /// Harness options with these sweep sizes and concurrencies, the rest as the CLI's defaults.
    fn options(sizes: &[usize], concurrency: &[usize], pipelined: bool) -> CompareOptions {
        CompareOptions {
            memkv_bin: "memkv".into(),
            sizes: sizes.to_vec(),
            concurrency: concurrency.to_vec(),
            batch: 16,
            batch_sizes: vec![4 << 10],
            batch_tasks: 8,
            repeats: 3,
            duration: Duration::from_secs(3),
            pump_duration: Duration::from_secs(1),
            max_data: 64 << 20,
            modes: vec!["checksum".into()],
            storage: vec![MemkvStorage::Memory],
            peers: true,
            iperf: false,
            pipelined,
            fio: false,
            fio_duration: Duration::from_secs(1),
            work_dir: "/tmp".into(),
            get_api: GetApi::Into,
            memkv_max_size: "1 GiB".into(),
            memcached_mib: 1024,
            redis_io_threads: 1,
        }
    }

    #[test]
    fn one_client_puts_also_run_with_two_in_flight_on_one_connection() {
        let shape = |c: &CellSpec| (c.op, c.tasks, c.connections, c.batch);
        let m4 = 4 << 20;
        let cells: Vec<_> = cells_for(&options(&[m4], &[1, 8], true), m4)
            .iter()
            .map(shape)
            .collect();
        assert_eq!(
            cells,
            [
                (Op::Put, 1, None, 1),
                (Op::Get, 1, None, 1),
                (Op::Put, PIPELINED_TASKS, Some(1), 1),
                (Op::Put, 8, None, 1),
                (Op::Get, 8, None, 1),
            ]
        );
        // Not without one-client cells, nor when left out, nor for a size with batch cells only.
        for (concurrency, pipelined, size) in [(&[8][..], true, m4), (&[1, 8], false, m4)] {
            let opts = options(&[m4], concurrency, pipelined);
            assert!(
                cells_for(&opts, size)
                    .iter()
                    .all(|c| c.connections.is_none()),
                "{concurrency:?} {pipelined}"
            );
        }
        let batch_only = cells_for(&options(&[m4], &[1], true), 4 << 10);
        assert!(
            batch_only.iter().all(|c| c.op.is_batched()),
            "{batch_only:?}"
        );
    }
}
