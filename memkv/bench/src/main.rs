//! The `memkv-bench` binary: command-line parsing, the tokio runtime, and writing the tables,
//! JSON results and plots of the library's subcommands.
//!
//! Exit codes: 0 success, 1 failure (including any wrong byte read, error or unexpected miss),
//! 2 usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use memkv_bench::compare::{CompareOptions, compare, compare_panels};
use memkv_bench::memory::{MemoryOptions, memory, render_memory};
use memkv_bench::plot::write_svg;
use memkv_bench::pump::{PumpCheck, PumpSpec, pump};
use memkv_bench::results::{Machine, median, parse_size, render_table, size_name};
use memkv_bench::servers::{MemkvStorage, locate_memkv};
use memkv_bench::summary::{render_cpu, render_drive_load, render_goals, render_summary};
use memkv_bench::sweep::{DEFAULT_SIZES, RunOptions, StoreKind, run, run_panels};
use memkv_bench::target::GetApi;
use memkv_bench::workload::{Op, Stop};
use memkv_client::{AuthKey, Integrity, SendBuffer, Transport};
use serde::Serialize;

// musl builds take the server's allocator (memkv/cli/src/main.rs); glibc builds measure the
// client engine on glibc's malloc, as the integrations run it.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// memkv-bench: block-size sweeps through the memkv client engine, and a side-by-side harness
/// against the machine's limits, Redis and memcached.
#[derive(Debug, Parser)]
#[command(name = "memkv-bench", version = env!("MEMKV_BUILD_TAG"), about, max_term_width = 100)]
struct Cli {
    /// Worker threads of the benchmark's tokio runtime (default: one per core).
    #[arg(long, global = true)]
    client_threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sweep workloads and value sizes against running memkv servers.
    Run(RunArgs),
    /// Side by side: machine limits, Redis, memcached and memkv (both integrity modes).
    Compare(CompareArgs),
    /// Resident server memory per key, for memkv, Redis and memcached.
    Memory(MemoryArgs),
    /// The raw loopback socket pump alone.
    Pump(PumpArgs),
}

fn sizes_arg(s: &str) -> Result<usize, String> {
    parse_size(s)
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (e.g. 500ms, 3s)"))
}

#[derive(Debug, Args)]
struct Output {
    /// Write every number, the machine's facts and the command line as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Plot throughput against value size (SVG).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// What the servers are: memkv, or (to compare by hand) one redis or memcached server.
    #[arg(long, default_value = "memkv")]
    store: StoreKind,
    /// Servers, `host:port`, comma separated.
    #[arg(long, env = "MEMKV_SERVERS", value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// Shared key, 64 hex characters (default: the loopback development key).
    #[arg(long, env = "MEMKV_AUTH_KEY", hide_env_values = true)]
    auth_key: Option<String>,
    /// Frame integrity mode: mac, hmac-sha256 or checksum (must match the servers).
    #[arg(long, env = "MEMKV_INTEGRITY", default_value = "mac")]
    integrity: Integrity,
    /// Transport (this build: tcp).
    #[arg(long, default_value = "tcp")]
    transport: Transport,
    /// Client connections per server.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent tasks issuing requests.
    #[arg(long, alias = "threads", default_value_t = 8)]
    tasks: usize,
    /// Keys per call of batch-put, batch-get and exists.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Keys per value size (default: --max-data / size, at least tasks x batch).
    #[arg(long)]
    keys: Option<usize>,
    /// Distinct value bytes per size when --keys is not given.
    #[arg(long, default_value = "256M", value_parser = sizes_arg)]
    max_data: usize,
    /// Time per cell (workload x size).
    #[arg(long, default_value = "3s", value_parser = duration_arg, conflicts_with = "ops")]
    duration: Duration,
    /// Calls per cell instead of a duration.
    #[arg(long)]
    ops: Option<u64>,
    /// Value sizes.
    #[arg(long, value_delimiter = ',', value_parser = sizes_arg,
          default_value = "4K,64K,256K,1M,2M,4M,16M")]
    sizes: Vec<usize>,
    /// Workloads, in order: put, get, mixed, batch-put, batch-get, exists.
    #[arg(long, value_delimiter = ',', default_value = "put,get")]
    workloads: Vec<Op>,
    /// Fraction of gets in the mixed workload.
    #[arg(long, default_value_t = 0.5)]
    read_ratio: f64,
    /// Seed of the value patterns.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed reads are checked against (default: --seed; a different one must fail the run).
    #[arg(long)]
    verify_seed: Option<u64>,
    /// memkv read API: `into` (get_into, as the plugins do) or `bytes` (get).
    #[arg(long, default_value = "into")]
    get_api: GetApi,
    /// Tolerate misses (servers that evict); wrong bytes always fail the run.
    #[arg(long)]
    allow_misses: bool,
    /// memkv connections' socket send buffer: `auto`, `kernel` or bytes (the client's
    /// `send_buffer` setting).
    #[arg(long, env = "MEMKV_SEND_BUFFER", default_value = "auto")]
    send_buffer: SendBuffer,
    #[command(flatten)]
    out: Output,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The memkv binary (default: next to memkv-bench, else on PATH).
    #[arg(long)]
    memkv_bin: Option<PathBuf>,
    /// Value sizes of the put/get sweep.
    #[arg(long, value_delimiter = ',', value_parser = sizes_arg,
          default_value = "4K,64K,256K,1M,2M,4M,16M")]
    sizes: Vec<usize>,
    /// Concurrencies (clients, one connection each) of the put/get sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    concurrency: Vec<usize>,
    /// Keys per call of the batch cells.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Value sizes of the batch cells.
    #[arg(long, value_delimiter = ',', value_parser = sizes_arg, default_value = "4K")]
    batch_sizes: Vec<usize>,
    /// Clients of the batch cells.
    #[arg(long, default_value_t = 8)]
    batch_tasks: usize,
    /// Repeats; every target and limit is measured once per repeat, interleaved.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Time per cell.
    #[arg(long, default_value = "1500ms", value_parser = duration_arg)]
    duration: Duration,
    /// Time per pump run.
    #[arg(long, default_value = "1s", value_parser = duration_arg)]
    pump_duration: Duration,
    /// Distinct value bytes per size (at least clients x batch keys).
    #[arg(long, default_value = "64M", value_parser = sizes_arg)]
    max_data: usize,
    /// memkv integrity modes.
    #[arg(long, value_delimiter = ',', default_value = "mac,checksum")]
    modes: Vec<String>,
    /// memkv storage engines, each run in every integrity mode: memory, file, direct (on a loop
    /// device; needs root), and file-cold, direct-cold (a 1 MiB read cache, so that gets read
    /// the drive).
    #[arg(long, value_delimiter = ',', default_value = "memory")]
    storage: Vec<String>,
    /// Size of each memkv drive in file and direct mode: a data file, or a loop device's
    /// preallocated backing file (in --work-dir).
    #[arg(long, default_value = "8 GiB")]
    file_size: String,
    /// storage.block_size in file and direct mode. Values larger than one extent (minus its 4 KiB part
    /// header) are striped over several; the default keeps the sweep's values in one extent.
    #[arg(long, default_value = "32 MiB")]
    block_size: String,
    /// Skip Redis and memcached.
    #[arg(long)]
    no_peers: bool,
    /// Skip iperf3.
    #[arg(long)]
    no_iperf: bool,
    /// Skip memkv's cells of one connection with two requests in flight (run next to the
    /// one-client cells, against the same pumps).
    #[arg(long)]
    no_pipelined: bool,
    /// Skip fio.
    #[arg(long)]
    no_fio: bool,
    /// Time per fio job (write and read at QD1 and QD32, and a write at QD32 with an fdatasync
    /// per 32 MiB, per medium).
    #[arg(long, default_value = "4s", value_parser = duration_arg)]
    fio_duration: Duration,
    /// Directory for server configs and the fio file.
    #[arg(long, default_value = "target/memkv-bench")]
    work_dir: PathBuf,
    /// memkv read API: `into` or `bytes`.
    #[arg(long, default_value = "into")]
    get_api: GetApi,
    /// memory.max_size of the memkv servers.
    #[arg(long, default_value = "4 GiB")]
    memkv_max_size: String,
    /// memcached -m (MiB).
    #[arg(long, default_value_t = 4096)]
    memcached_mb: u64,
    /// Redis --io-threads (default: 3/4 of the cores, at least 1: Redis's I/O threads
    /// busy-wait, and one per core starves everything else on a small machine).
    #[arg(long)]
    redis_io_threads: Option<usize>,
    /// Also write the printed tables to this file.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    #[command(flatten)]
    out: Output,
}

#[derive(Debug, Args)]
struct MemoryArgs {
    /// The memkv binary (default: next to memkv-bench, else on PATH).
    #[arg(long)]
    memkv_bin: Option<PathBuf>,
    /// Keys to store.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Value size.
    #[arg(long, default_value = "64", value_parser = sizes_arg)]
    value_size: usize,
    /// Stores to measure.
    #[arg(long, value_delimiter = ',', default_value = "memkv,redis,memcached")]
    targets: Vec<String>,
    /// Keys per batch call while loading.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Concurrent loading tasks.
    #[arg(long, default_value_t = 4)]
    tasks: usize,
    /// Directory for memkv's config.
    #[arg(long, default_value = "target/memkv-bench")]
    work_dir: PathBuf,
    /// memory.max_size of memkv.
    #[arg(long, default_value = "12 GiB")]
    memkv_max_size: String,
    /// memcached -m (MiB).
    #[arg(long, default_value_t = 8192)]
    memcached_mb: u64,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PumpArgs {
    /// Message sizes.
    #[arg(long, value_delimiter = ',', value_parser = sizes_arg,
          default_value = "4K,64K,256K,1M,2M,4M,16M")]
    sizes: Vec<usize>,
    /// Parallel connections.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    streams: Vec<usize>,
    /// Work on both ends: raw, crc32c, mac (memkv's frame MAC).
    #[arg(long, value_delimiter = ',', default_value = "raw,crc32c,mac")]
    check: Vec<PumpCheck>,
    /// Distinct message bytes per size, as `compare --max-data` gives its cells: the senders
    /// cycle through that many different messages and the receivers through as many buffers
    /// (no more than one message: one message, which stays in the CPU's cache).
    #[arg(long, default_value = "64M", value_parser = sizes_arg)]
    working_set: usize,
    /// Time per run.
    #[arg(long, default_value = "1s", value_parser = duration_arg)]
    duration: Duration,
    /// Both ends' socket send buffers: `auto` (memkv's default: 1 MiB over loopback),
    /// `kernel` or bytes.
    #[arg(long, default_value = "auto")]
    send_buffer: SendBuffer,
    /// Answer each message with one byte before the next is sent (a request and its answer at
    /// a time, as a client with one outstanding request), instead of streaming.
    #[arg(long)]
    acked: bool,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory of {}", path.display()))?;
    }
    let text = serde_json::to_string_pretty(value).context("encoding the results as JSON")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn write_plot(path: &Path, title: &str, panels: &[memkv_bench::plot::Panel]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory of {}", path.display()))?;
    }
    write_svg(path, title, panels)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

async fn cmd_run(a: RunArgs) -> Result<bool> {
    if !matches!(a.transport, Transport::Tcp | Transport::Auto) {
        bail!(
            "transport `{}` is not offered by this build: use `tcp`",
            a.transport
        );
    }
    if !(0.0..=1.0).contains(&a.read_ratio) {
        bail!("--read-ratio must be between 0 and 1");
    }
    let auth_key = a
        .auth_key
        .as_deref()
        .map(AuthKey::from_hex)
        .transpose()
        .context("--auth-key must be 64 hex characters (openssl rand -hex 32)")?;
    let opts = RunOptions {
        store: a.store,
        servers: a.servers,
        auth_key,
        integrity: a.integrity,
        transport: a.transport,
        connections: a.connections.max(1),
        tasks: a.tasks.max(1),
        batch: a.batch.max(1),
        keys: a.keys,
        max_data: a.max_data,
        stop: a.ops.map_or(Stop::Duration(a.duration), Stop::Calls),
        sizes: if a.sizes.is_empty() {
            DEFAULT_SIZES.to_vec()
        } else {
            a.sizes
        },
        workloads: a.workloads,
        read_ratio: a.read_ratio,
        seed: a.seed,
        verify_seed: a.verify_seed.unwrap_or(a.seed),
        get_api: a.get_api,
        allow_misses: a.allow_misses,
        send_buffer: a.send_buffer,
    };
    let report = run(&opts).await.context("memkv-bench run")?;
    println!("{}", render_table(&report.results));
    if let Some(p) = &a.out.json {
        write_json(p, &report)?;
    }
    if let Some(p) = &a.out.plot {
        write_plot(
            p,
            "memkv-bench: throughput by value size",
            &run_panels(&report),
        )?;
    }
    let wrong: u64 = report.results.iter().map(|r| r.mismatches).sum();
    if wrong > 0 {
        eprintln!(
            "error: {wrong} reads returned bytes that differ from the key's pattern: the figures above are not valid"
        );
    }
    if !report.ok {
        eprintln!(
            "error: the run was not clean (see the errors, wrong and misses columns); misses after the prefill mean the servers evicted: use a smaller --max-data or --keys, or --allow-misses"
        );
    }
    Ok(report.ok)
}

async fn cmd_compare(a: CompareArgs) -> Result<bool> {
    let drive_size = parse_size(&a.file_size).map_err(|e| anyhow!("--file-size: {e}"))? as u64;
    let block_size = parse_size(&a.block_size).map_err(|e| anyhow!("--block-size: {e}"))? as u64;
    let storage = a
        .storage
        .iter()
        .map(|s| {
            MemkvStorage::parse(s, drive_size, block_size).ok_or_else(|| {
                anyhow!(
                    "unknown --storage `{s}`: use memory, file, file-cold, direct or direct-cold"
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = CompareOptions {
        storage,
        memkv_bin: locate_memkv(a.memkv_bin.as_deref()),
        sizes: a.sizes,
        concurrency: a.concurrency.into_iter().map(|c| c.max(1)).collect(),
        batch: a.batch.max(1),
        batch_sizes: a.batch_sizes,
        batch_tasks: a.batch_tasks.max(1),
        repeats: a.repeats.max(1),
        duration: a.duration,
        pump_duration: a.pump_duration,
        max_data: a.max_data,
        modes: a.modes,
        peers: !a.no_peers,
        iperf: !a.no_iperf,
        pipelined: !a.no_pipelined,
        fio: !a.no_fio,
        fio_duration: a.fio_duration,
        work_dir: a.work_dir,
        get_api: a.get_api,
        memkv_max_size: a.memkv_max_size,
        memcached_mib: a.memcached_mb,
        redis_io_threads: a.redis_io_threads.unwrap_or_else(|| {
            (std::thread::available_parallelism().map_or(1, |n| n.get()) * 3 / 4).max(1)
        }),
    };
    let report = compare(opts).await?;
    let mut text = String::new();
    text.push_str(&format!(
        "memkv-bench compare, {} ({} cores, {}, kernel {}, CRC32C {})\n\nlimits: memcpy {:.2} GiB/s",
        report.date,
        report.machine.cores,
        report.machine.cpu_model,
        report.machine.kernel,
        report.machine.crc32c,
        report.limits.memcpy_gib_per_s
    ));
    for i in &report.limits.iperf3 {
        text.push_str(&format!(
            "; iperf3 -P{} {:.2} GiB/s",
            i.streams, i.gib_per_s
        ));
    }
    // One figure per fio job: the median when fio ran in every repeat.
    let mut jobs: Vec<(&str, &str, usize, usize, usize)> = Vec::new();
    for f in &report.limits.fio {
        let job = (
            f.medium.as_str(),
            f.rw.as_str(),
            f.iodepth,
            f.fdatasync_every,
            f.block_size,
        );
        if !jobs.contains(&job) {
            jobs.push(job);
        }
    }
    for (medium, rw, qd, every, bs) in jobs {
        let runs: Vec<f64> = report
            .limits
            .fio
            .iter()
            .filter(|f| {
                (
                    f.medium.as_str(),
                    f.rw.as_str(),
                    f.iodepth,
                    f.fdatasync_every,
                ) == (medium, rw, qd, every)
            })
            .map(|f| f.gib_per_s)
            .collect();
        text.push_str(&format!(
            "; fio {medium} {rw} {} QD{qd}{} {:.2} GiB/s",
            size_name(bs),
            memkv_bench::limits::fdatasync_label(every),
            median(&runs).unwrap_or(0.0)
        ));
        if runs.len() > 1 {
            text.push_str(&format!(" (median of {})", runs.len()));
        }
    }
    if let Some(e) = &report.limits.fio_error {
        text.push_str(&format!("; fio unavailable: {e}"));
    }
    text.push_str("\n\n");
    text.push_str(&render_summary(
        &report.summary,
        &report.memkv_targets,
        &report.peers,
    ));
    text.push('\n');
    text.push_str(&render_cpu(
        &report.summary,
        &report.memkv_targets,
        &report.peers,
    ));
    text.push('\n');
    let load = render_drive_load(&report.runs, &report.limits.fio);
    if !load.is_empty() {
        text.push_str(&load);
        text.push('\n');
    }
    text.push_str(&render_goals(&report.goals));
    println!("{text}");
    if let Some(p) = &a.summary {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.out.json {
        write_json(p, &report)?;
    }
    if let Some(p) = &a.out.plot {
        write_plot(
            p,
            "memkv vs the loopback limit, Redis and memcached (medians)",
            &compare_panels(&report),
        )?;
    }
    if !report.ok {
        eprintln!("error: some cells were not clean (errors, wrong bytes or misses): see the JSON");
    }
    Ok(report.ok)
}

async fn cmd_memory(a: MemoryArgs) -> Result<bool> {
    let opts = MemoryOptions {
        memkv_bin: locate_memkv(a.memkv_bin.as_deref()),
        keys: a.keys.max(1),
        value_size: a.value_size,
        targets: a.targets,
        batch: a.batch.max(1),
        tasks: a.tasks.max(1),
        work_dir: a.work_dir,
        memkv_max_size: a.memkv_max_size,
        memcached_mib: a.memcached_mb,
    };
    let report = memory(opts).await?;
    println!("{}", render_memory(&report));
    if let Some(p) = &a.json {
        write_json(p, &report)?;
    }
    Ok(report.results.iter().all(|r| r.bad == 0))
}

async fn cmd_pump(a: PumpArgs) -> Result<bool> {
    #[derive(Serialize)]
    struct PumpReport {
        machine: Machine,
        command: String,
        results: Vec<memkv_bench::pump::PumpResult>,
    }
    let mut results = Vec::new();
    println!(
        "{:>6} {:>7} {:>8} {:>7} {:>9} {:>8}",
        "size", "streams", "distinct", "check", "GiB/s", "failures"
    );
    for &size in &a.sizes {
        for &streams in &a.streams {
            for &check in &a.check {
                let distinct = (a.working_set / size).max(1);
                let r = pump(PumpSpec {
                    size,
                    streams,
                    distinct,
                    check,
                    duration: a.duration,
                    send_buffer: a.send_buffer,
                    acked: a.acked,
                })
                .await?;
                println!(
                    "{:>6} {:>7} {:>8} {:>7} {:>9.3} {:>8}",
                    size_name(size),
                    streams,
                    r.distinct,
                    check.name(),
                    r.gib_per_s,
                    r.failures
                );
                results.push(r);
            }
        }
    }
    let ok = results.iter().all(|r| r.failures == 0);
    if let Some(p) = &a.json {
        write_json(
            p,
            &PumpReport {
                machine: Machine::detect(),
                command: memkv_bench::results::command_line(),
                results,
            },
        )?;
    }
    Ok(ok)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM; a signal that cannot be listened for never
/// resolves it (the command then runs on, as it did before the handler).
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = term => {}
        () = int => {}
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let threads = cli
        .client_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        let command = async {
            match cli.command {
                Command::Run(a) => cmd_run(a).await,
                Command::Compare(a) => cmd_compare(a).await,
                Command::Memory(a) => cmd_memory(a).await,
                Command::Pump(a) => cmd_pump(a).await,
            }
        };
        // Ctrl-C or SIGTERM drops the command where it is: its servers are stopped and its
        // loop devices detached (their `Drop`s), instead of left running by the default action.
        tokio::select! {
            result = command => Some(result),
            () = interrupted() => None,
        }
    });
    match outcome {
        None => {
            eprintln!("interrupted: servers stopped, loop devices detached");
            ExitCode::from(130)
        }
        Some(Ok(true)) => ExitCode::SUCCESS,
        Some(Ok(false)) => ExitCode::from(1),
        Some(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
