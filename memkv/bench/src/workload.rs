//! The sweep engine: runs one cell (an operation at one value size and concurrency against one
//! target) with N concurrent tasks, checks every byte read, and summarises throughput and
//! latency.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Barrier;

use crate::pattern::ValueSet;
use crate::results::{CellResult, CpuUse, Latency, cpu_seconds};
use crate::target::{Got, OpError, Session, Target};

/// A workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Single-value puts.
    Put,
    /// Single-value gets of prefilled keys.
    Get,
    /// Gets and puts mixed at `read_ratio`.
    Mixed,
    /// Batched puts (`batch` values per call).
    BatchPut,
    /// Batched gets (`batch` keys per call) of prefilled keys.
    BatchGet,
    /// `exists` over `batch` prefilled keys per call.
    Exists,
}

impl Op {
    /// Every workload, in table order.
    pub const ALL: [Op; 6] = [
        Op::Put,
        Op::Get,
        Op::Mixed,
        Op::BatchPut,
        Op::BatchGet,
        Op::Exists,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Mixed => "mixed",
            Op::BatchPut => "batch-put",
            Op::BatchGet => "batch-get",
            Op::Exists => "exists",
        }
    }

    /// Whether the workload only reads, so that a disk server's drive is judged by its reads
    /// (the drive load table); a put or a mix is judged by its writes.
    pub fn only_reads(self) -> bool {
        matches!(self, Op::Get | Op::BatchGet | Op::Exists)
    }

    /// Whether the keys must hold values before the cell is timed.
    pub fn needs_prefill(self) -> bool {
        matches!(self, Op::Get | Op::Mixed | Op::BatchGet | Op::Exists)
    }

    /// Whether a call carries `batch` keys.
    pub fn is_batched(self) -> bool {
        matches!(self, Op::BatchPut | Op::BatchGet | Op::Exists)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL
            .into_iter()
            .find(|o| o.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown workload `{s}`: use put, get, mixed, batch-put, batch-get or exists"
                )
            })
    }
}

/// When a cell stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long (timed from when every task is connected and prefilled).
    Duration(Duration),
    /// After this many calls in total, spread over the tasks.
    Calls(u64),
}

/// One cell of a sweep.
#[derive(Debug, Clone)]
pub struct CellSpec {
    /// The operation.
    pub op: Op,
    /// Concurrent tasks, each with its own session.
    pub tasks: usize,
    /// `Some(n)`: the tasks share `n` connections, their requests pipelined on them (the
    /// harness's cells of one connection with two requests in flight; `compare`, which makes
    /// them, runs them through a client of one connection); `None`: the target's client as it
    /// is (in `compare`, a connection per task). A label for the result: `run_cell` uses the
    /// target it is given.
    pub connections: Option<usize>,
    /// Keys per call for batched operations.
    pub batch: usize,
    /// Fraction of gets in the mixed workload.
    pub read_ratio: f64,
    /// When to stop.
    pub stop: Stop,
}

/// What one task measured.
struct TaskOut {
    hist: Histogram<u64>,
    start: Instant,
    end: Instant,
    calls: u64,
    items: u64,
    bytes: u64,
    mismatches: u64,
    misses: u64,
    error: Option<String>,
}

/// A small per-task PRNG for the mixed workload.
struct XorShift(u64);

impl XorShift {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn new_hist() -> Histogram<u64> {
    // Nanoseconds, 1 ns .. 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// Stores every key of `data` through `session`, for keys `t, t + stride, ...` (untimed).
async fn prefill(
    session: &mut Session,
    data: &ValueSet,
    t: usize,
    stride: usize,
) -> Result<(), OpError> {
    const BATCH: usize = 64;
    let mine: Vec<usize> = (t..data.len()).step_by(stride).collect();
    if data.size <= 64 * 1024 {
        for chunk in mine.chunks(BATCH) {
            let items: Vec<(&[u8], &[u8])> = chunk
                .iter()
                .map(|&i| (&data.keys[i][..], &data.values[i][..]))
                .collect();
            session.batch_put(&items).await?;
        }
    } else {
        for i in mine {
            session.put(&data.keys[i], &data.values[i]).await?;
        }
    }
    Ok(())
}

/// Counts one read of key `i`: its bytes, or a miss. Its content is checked by [`verify`].
fn count(got: &Got, buf: &[u8], out: &mut TaskOut) -> u64 {
    match got.bytes(buf) {
        None => {
            out.misses += 1;
            0
        }
        Some(b) => b.len() as u64,
    }
}

/// Checks one read of key `i` against the value it must hold (a miss is not checked).
fn verify(got: &Got, buf: &[u8], data: &ValueSet, i: usize, out: &mut TaskOut) {
    if let Some(b) = got.bytes(buf)
        && !data.is_expected(i, b)
    {
        out.mismatches += 1;
    }
}

/// Reads whose bytes are checked while the task's next call is in flight.
///
/// A task waits for each call before it makes the next, so checking a value right after its
/// get left the connection idle for the whole check (for 4 MiB values about a quarter of a
/// get's time on the reference machine, more than the store's own work on the value). The
/// reads are held in the task's second set of buffers and checked while the next call waits
/// for its answer (see [`overlapped`]); every read is still checked, before the task's timed
/// part ends.
#[derive(Default)]
struct Unchecked {
    got: Vec<Got>,
    keys: Vec<usize>,
}

impl Unchecked {
    /// Checks every held read (in `bufs`, the same index as its key) and lets them go.
    fn verify(&mut self, bufs: &[Vec<u8>], data: &ValueSet, out: &mut TaskOut) {
        for (j, (g, &i)) in self.got.iter().zip(&self.keys).enumerate() {
            verify(g, &bufs[j], data, i, out);
        }
        self.got.clear();
        self.keys.clear();
    }
}

/// Runs `call` while checking the previous call's reads, held in `pending` (their bytes in
/// `checking`). `call` is polled first, so its request is on its way before the check starts.
async fn overlapped<T>(
    call: impl Future<Output = T>,
    pending: &mut Unchecked,
    checking: &[Vec<u8>],
    data: &ValueSet,
    out: &mut TaskOut,
) -> T {
    let (r, ()) = tokio::join!(biased; call, async { pending.verify(checking, data, out) });
    r
}

/// Runs one task of a cell.
async fn task(
    t: usize,
    spec: Arc<CellSpec>,
    data: Arc<ValueSet>,
    target: Target,
    barrier: Arc<Barrier>,
) -> TaskOut {
    let mut out = TaskOut {
        hist: new_hist(),
        start: Instant::now(),
        end: Instant::now(),
        calls: 0,
        items: 0,
        bytes: 0,
        mismatches: 0,
        misses: 0,
        error: None,
    };
    let setup = async {
        let mut s = target.session().await?;
        if spec.op.needs_prefill() {
            prefill(&mut s, &data, t, spec.tasks).await?;
        }
        Ok::<Session, OpError>(s)
    }
    .await;
    // Every task reaches the barrier, even one whose setup failed, so the others never wait
    // forever.
    barrier.wait().await;
    let mut session = match setup {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("setup: {e}"));
            return out;
        }
    };
    let tasks = spec.tasks;
    let keys = data.len();
    let batch = if spec.op.is_batched() {
        spec.batch.max(1)
    } else {
        1
    };
    let quota = match spec.stop {
        Stop::Calls(n) => {
            let base = n / tasks as u64;
            Some(base + u64::from((t as u64) < n % tasks as u64))
        }
        Stop::Duration(_) => None,
    };
    let mut buf = vec![0u8; data.size];
    // Gets and batch gets read into one set of buffers while the previous call's reads,
    // in the other set, are checked (see `Unchecked`).
    let sets = match spec.op {
        Op::Get => 1,
        Op::BatchGet => batch,
        _ => 0,
    };
    let mut bufs: Vec<Vec<u8>> = (0..sets).map(|_| vec![0u8; data.size]).collect();
    let mut checking: Vec<Vec<u8>> = bufs.clone();
    let mut pending = Unchecked::default();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D ^ (t as u64 + 1));
    out.start = Instant::now();
    let deadline = match spec.stop {
        Stop::Duration(d) => Some(out.start + d),
        Stop::Calls(_) => None,
    };
    let mut n: u64 = 0;
    loop {
        if quota.is_some_and(|q| n >= q) {
            break;
        }
        let slot = (t as u64 + n * tasks as u64) as usize;
        let began = Instant::now();
        let r: Result<u64, OpError> = match spec.op {
            Op::Put => {
                let i = slot % keys;
                session
                    .put(&data.keys[i], &data.values[i])
                    .await
                    .map(|()| data.size as u64)
            }
            Op::Get => {
                let i = slot % keys;
                let call = session.get(&data.keys[i], &mut bufs[0]);
                match overlapped(call, &mut pending, &checking, &data, &mut out).await {
                    Ok(g) => {
                        let bytes = count(&g, &bufs[0], &mut out);
                        pending.got.push(g);
                        pending.keys.push(i);
                        std::mem::swap(&mut bufs, &mut checking);
                        Ok(bytes)
                    }
                    Err(e) => Err(e),
                }
            }
            Op::Mixed => {
                let i = slot % keys;
                if rng.next_f64() < spec.read_ratio {
                    match session.get(&data.keys[i], &mut buf).await {
                        Ok(g) => {
                            verify(&g, &buf, &data, i, &mut out);
                            Ok(count(&g, &buf, &mut out))
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    session
                        .put(&data.keys[i], &data.values[i])
                        .await
                        .map(|()| data.size as u64)
                }
            }
            Op::BatchPut | Op::BatchGet | Op::Exists => {
                let first = slot * batch;
                let idx: Vec<usize> = (0..batch).map(|j| (first + j) % keys).collect();
                let ks: Vec<&[u8]> = idx.iter().map(|&i| &data.keys[i][..]).collect();
                match spec.op {
                    Op::BatchPut => {
                        let items: Vec<(&[u8], &[u8])> = idx
                            .iter()
                            .zip(&ks)
                            .map(|(&i, k)| (*k, &data.values[i][..]))
                            .collect();
                        session
                            .batch_put(&items)
                            .await
                            .map(|()| (data.size * batch) as u64)
                    }
                    Op::BatchGet => {
                        let call = session.batch_get(&ks, &mut bufs);
                        match overlapped(call, &mut pending, &checking, &data, &mut out).await {
                            Ok(got) => {
                                let mut bytes = 0;
                                for (j, g) in got.iter().enumerate() {
                                    bytes += count(g, &bufs[j], &mut out);
                                }
                                pending = Unchecked { got, keys: idx };
                                std::mem::swap(&mut bufs, &mut checking);
                                Ok(bytes)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    _ => match session.exists(&ks).await {
                        Ok(found) => {
                            out.misses += (batch - found) as u64;
                            Ok(0)
                        }
                        Err(e) => Err(e),
                    },
                }
            }
        };
        let now = Instant::now();
        match r {
            Ok(bytes) => {
                out.bytes += bytes;
                out.calls += 1;
                out.items += batch as u64;
                // Values above the histogram's range are clamped to its top.
                let ns = (now - began).as_nanos().min(600_000_000_000) as u64;
                out.hist.saturating_record(ns.max(1));
            }
            Err(e) => {
                out.error = Some(e.to_string());
                out.end = now;
                return out;
            }
        }
        n += 1;
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
    }
    pending.verify(&checking, &data, &mut out);
    out.end = Instant::now();
    out
}

/// Runs one cell against `target` and summarises it. `label` names the target in the result.
/// With the server's process id, the result also carries the CPU time client and server
/// spent in the timed part (after every task connected and prefilled).
pub async fn run_cell(
    label: &str,
    target: &Target,
    spec: &CellSpec,
    data: &Arc<ValueSet>,
    server_pid: Option<u32>,
) -> CellResult {
    let spec_arc = Arc::new(spec.clone());
    // The tasks and this coordinator: CPU is sampled when the timed part starts.
    let barrier = Arc::new(Barrier::new(spec.tasks + 1));
    let handles: Vec<_> = (0..spec.tasks)
        .map(|t| {
            tokio::spawn(task(
                t,
                Arc::clone(&spec_arc),
                Arc::clone(data),
                target.clone(),
                Arc::clone(&barrier),
            ))
        })
        .collect();
    barrier.wait().await;
    let cpu_start = server_pid.map(|pid| (cpu_seconds(None), cpu_seconds(Some(pid))));
    let mut outs = Vec::with_capacity(handles.len());
    let mut errors = Vec::new();
    for h in handles {
        match h.await {
            Ok(o) => outs.push(o),
            Err(e) => errors.push(format!("task failed: {e}")),
        }
    }
    let mut hist = new_hist();
    let (mut calls, mut items, mut bytes, mut mismatches, mut misses) = (0, 0, 0, 0, 0);
    let mut start: Option<Instant> = None;
    let mut end: Option<Instant> = None;
    for o in &outs {
        // The histograms share bounds, so adding cannot fail.
        let _ = hist.add(&o.hist);
        calls += o.calls;
        items += o.items;
        bytes += o.bytes;
        mismatches += o.mismatches;
        misses += o.misses;
        start = Some(start.map_or(o.start, |s: Instant| s.min(o.start)));
        end = Some(end.map_or(o.end, |e: Instant| e.max(o.end)));
        if let Some(e) = &o.error {
            errors.push(e.clone());
        }
    }
    let secs = match (start, end) {
        (Some(s), Some(e)) => (e - s).as_secs_f64(),
        _ => 0.0,
    };
    let rate = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
    let cpu = match (cpu_start, server_pid) {
        (Some((Some(c0), Some(s0))), Some(pid)) => {
            match (cpu_seconds(None), cpu_seconds(Some(pid))) {
                (Some(c1), Some(s1)) => Some(CpuUse::new(c1 - c0, s1 - s0, bytes, items)),
                _ => None,
            }
        }
        _ => None,
    };
    CellResult {
        target: label.to_owned(),
        op: spec.op,
        size: data.size,
        tasks: spec.tasks,
        connections: spec.connections,
        batch: if spec.op.is_batched() { spec.batch } else { 1 },
        calls,
        items,
        bytes,
        secs,
        ops_per_s: rate(items),
        gib_per_s: rate(bytes) / (1u64 << 30) as f64,
        latency_us: Latency::from_hist(&hist),
        errors: errors.len() as u64,
        first_error: errors.into_iter().next(),
        mismatches,
        misses,
        cpu,
    }
}
