//! `memkv-bench run`: a block-size sweep of one or more workloads against memkv servers,
//! through the real client engine.

use std::sync::Arc;
use std::time::Duration;

use memkv_client::{
    AsyncClient, AuthKey, ClientConfig, ClientError, Integrity, SendBuffer, Transport,
};
use serde::Serialize;

use crate::pattern::ValueSet;
use crate::plot::{Panel, Series};
use crate::results::{CellResult, Machine, command_line, now_rfc3339, size_name};
use crate::target::{GetApi, Target};
use crate::workload::{CellSpec, Op, Stop, run_cell};

/// The sweep sizes of the original's benchmarks page.
pub const DEFAULT_SIZES: [usize; 7] = [
    4 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    2 << 20,
    4 << 20,
    16 << 20,
];

/// The kind of store `memkv-bench run` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// memkv servers, through the client engine.
    Memkv,
    /// One Redis server, through the harness's native RESP client.
    Redis,
    /// One memcached server, through the harness's native text-protocol client.
    Memcached,
}

impl std::str::FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memkv" => Ok(StoreKind::Memkv),
            "redis" => Ok(StoreKind::Redis),
            "memcached" => Ok(StoreKind::Memcached),
            _ => Err(format!(
                "unknown store `{s}`: use memkv, redis or memcached"
            )),
        }
    }
}

/// What `memkv-bench run` does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What the servers are (memkv unless comparing by hand).
    pub store: StoreKind,
    /// Servers, `host:port`.
    pub servers: Vec<String>,
    /// Shared key (`None`: the loopback development key).
    pub auth_key: Option<AuthKey>,
    /// Frame integrity mode (must match the servers).
    pub integrity: Integrity,
    /// Transport.
    pub transport: Transport,
    /// Client connections per server.
    pub connections: usize,
    /// Concurrent tasks.
    pub tasks: usize,
    /// Keys per call of batched workloads.
    pub batch: usize,
    /// Keys per value size (`None`: `max_data / size`, at least `tasks * batch`).
    pub keys: Option<usize>,
    /// Bytes of distinct values per size when `keys` is not given.
    pub max_data: usize,
    /// When each cell stops.
    pub stop: Stop,
    /// Value sizes.
    pub sizes: Vec<usize>,
    /// Workloads, run in this order at each size.
    pub workloads: Vec<Op>,
    /// Fraction of gets in `mixed`.
    pub read_ratio: f64,
    /// Seed of the values written.
    pub seed: u64,
    /// Seed reads are checked against (equal to `seed` unless testing the checker).
    pub verify_seed: u64,
    /// How gets are issued.
    pub get_api: GetApi,
    /// Whether misses after a prefill are tolerated (a server that evicts).
    pub allow_misses: bool,
    /// How the client's connections size their send buffers.
    pub send_buffer: SendBuffer,
}

/// The options as recorded in the JSON result.
#[derive(Debug, Clone, Serialize)]
pub struct RunOptionsRecord {
    /// The store.
    pub store: StoreKind,
    /// Servers.
    pub servers: Vec<String>,
    /// Integrity mode name.
    pub integrity: String,
    /// Transport name.
    pub transport: String,
    /// Connections per server.
    pub connections: usize,
    /// Tasks.
    pub tasks: usize,
    /// Batch size.
    pub batch: usize,
    /// Sizes in bytes.
    pub sizes: Vec<usize>,
    /// Workloads.
    pub workloads: Vec<Op>,
    /// Stop rule (`3s` or `1000 calls`).
    pub stop: String,
    /// Read ratio of `mixed`.
    pub read_ratio: f64,
    /// Write seed.
    pub seed: u64,
    /// Verify seed.
    pub verify_seed: u64,
    /// Get API.
    pub get_api: GetApi,
    /// The client's send-buffer setting (`auto`, `kernel` or bytes).
    pub send_buffer: String,
}

/// The result of `memkv-bench run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `memkv-bench run`.
    pub tool: String,
    /// Version of memkv-bench.
    pub version: String,
    /// When the run started (RFC 3339, UTC).
    pub date: String,
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// The options.
    pub options: RunOptionsRecord,
    /// One entry per cell.
    pub results: Vec<CellResult>,
    /// Values received whose CRC32C did not match (the client engine's counter).
    pub client_checksum_failures: u64,
    /// Whether every cell ran cleanly (no error, no wrong byte, no unexpected miss).
    pub ok: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The client could not be built or could not reach a server.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A peer store was given more than one server.
    #[error("--store redis and --store memcached take exactly one server")]
    OnePeer,
}

/// How many keys a cell of `size`-byte values uses.
pub fn keys_for(size: usize, explicit: Option<usize>, max_data: usize, min: usize) -> usize {
    explicit
        .unwrap_or_else(|| (max_data / size.max(1)).min(65_536))
        .max(min)
        .max(1)
}

fn stop_text(stop: Stop) -> String {
    match stop {
        Stop::Duration(d) => humantime::format_duration(d).to_string(),
        Stop::Calls(n) => format!("{n} calls"),
    }
}

/// One progress line on stderr.
pub fn progress(r: &CellResult) {
    eprintln!(
        "  {:<15} {:<9} {:>4} x{:<3} {:>8.3} GiB/s {:>10.0} ops/s  p50 {:>8}  p99 {:>8}{}",
        r.target,
        r.op.name(),
        size_name(r.size),
        r.tasks,
        r.gib_per_s,
        r.ops_per_s,
        crate::results::fmt_us(r.latency_us.p50),
        crate::results::fmt_us(r.latency_us.p99),
        if r.mismatches > 0 {
            format!("  WRONG BYTES: {}", r.mismatches)
        } else if let Some(e) = &r.first_error {
            format!("  ERROR: {e}")
        } else if r.misses > 0 {
            format!("  misses: {}", r.misses)
        } else {
            String::new()
        }
    );
}

/// Runs the sweep. Progress goes to stderr.
pub async fn run(opts: &RunOptions) -> Result<RunReport, RunError> {
    let date = now_rfc3339();
    let mut config = ClientConfig::new(opts.servers.clone())
        .with_integrity(opts.integrity)
        .with_transport(opts.transport)
        .with_num_connections(opts.connections)
        .with_send_buffer(opts.send_buffer)
        .with_op_timeout(Duration::from_secs(120));
    if let Some(k) = &opts.auth_key {
        config = config.with_auth_key(k.clone());
    }
    let (label, target, client) = match opts.store {
        StoreKind::Memkv => {
            let client = AsyncClient::new(config)?;
            for r in client.warmup().await {
                r?;
            }
            let target = Target::Memkv {
                client: client.clone(),
                api: opts.get_api,
            };
            ("memkv", target, Some(client))
        }
        StoreKind::Redis | StoreKind::Memcached => {
            let [addr] = &opts.servers[..] else {
                return Err(RunError::OnePeer);
            };
            if opts.store == StoreKind::Redis {
                ("redis", Target::Redis(addr.clone()), None)
            } else {
                ("memcached", Target::Memcached(addr.clone()), None)
            }
        }
    };
    let mut results = Vec::new();
    let total = opts.sizes.len() * opts.workloads.len();
    let mut n = 0;
    for &size in &opts.sizes {
        let batched = opts.workloads.iter().any(|w| w.is_batched());
        let min_keys = opts.tasks * if batched { opts.batch.max(1) } else { 1 };
        let keys = keys_for(size, opts.keys, opts.max_data, min_keys);
        let data: Arc<ValueSet> = ValueSet::new(size, keys, opts.seed, opts.verify_seed);
        for &op in &opts.workloads {
            n += 1;
            eprintln!(
                "[{n}/{total}] {op} {} x{} ({keys} keys)",
                size_name(size),
                opts.tasks
            );
            let spec = CellSpec {
                op,
                tasks: opts.tasks,
                connections: None,
                batch: opts.batch,
                read_ratio: opts.read_ratio,
                stop: opts.stop,
            };
            let r = run_cell(label, &target, &spec, &data, None).await;
            progress(&r);
            results.push(r);
        }
    }
    let ok = results.iter().all(|r| r.is_clean(opts.allow_misses));
    Ok(RunReport {
        tool: "memkv-bench run".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        date,
        command: command_line(),
        machine: Machine::detect(),
        options: RunOptionsRecord {
            store: opts.store,
            servers: opts.servers.clone(),
            integrity: opts.integrity.name().into(),
            transport: opts.transport.name().into(),
            connections: opts.connections,
            tasks: opts.tasks,
            batch: opts.batch,
            sizes: opts.sizes.clone(),
            workloads: opts.workloads.clone(),
            stop: stop_text(opts.stop),
            read_ratio: opts.read_ratio,
            seed: opts.seed,
            verify_seed: opts.verify_seed,
            get_api: opts.get_api,
            send_buffer: opts.send_buffer.to_string(),
        },
        results,
        client_checksum_failures: client.map_or(0, |c| c.stats().checksum_failures),
        ok,
    })
}

/// The plot of a run: GiB/s against value size, one line per workload.
pub fn run_panels(report: &RunReport) -> Vec<Panel> {
    let mut series: Vec<Series> = Vec::new();
    for op in Op::ALL {
        if op == Op::Exists {
            continue;
        }
        let points: Vec<(usize, f64)> = report
            .results
            .iter()
            .filter(|r| r.op == op)
            .map(|r| (r.size, r.gib_per_s))
            .collect();
        if !points.is_empty() {
            series.push(Series {
                name: op.name().into(),
                points,
            });
        }
    }
    vec![Panel {
        title: format!(
            "{} tasks, {} connection(s)/server, integrity {}",
            report.options.tasks, report.options.connections, report.options.integrity
        ),
        series,
    }]
}
