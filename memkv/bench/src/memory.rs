//! `memkv-bench memory`: resident bytes per key. Starts each store in turn, stores N small
//! values, checks a sample of them, and reads the server's `VmRSS` before and after.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memkv_client::{AsyncClient, AuthKey, ClientConfig, Integrity};
use serde::Serialize;

use crate::pattern::{generate, key_name, matches};
use crate::results::{Machine, command_line, now_rfc3339};
use crate::servers::{ServerError, ServerProc, start_memcached, start_memkv, start_redis};
use crate::target::{GetApi, OpError, Target};

/// What `memkv-bench memory` does.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryOptions {
    /// The `memkv` binary.
    pub memkv_bin: PathBuf,
    /// Keys to store.
    pub keys: usize,
    /// Value size in bytes.
    pub value_size: usize,
    /// Stores to measure: `memkv`, `redis`, `memcached`.
    pub targets: Vec<String>,
    /// Keys per batch call.
    pub batch: usize,
    /// Concurrent tasks.
    pub tasks: usize,
    /// Where memkv's config goes.
    pub work_dir: PathBuf,
    /// `memory.max_size` of memkv.
    pub memkv_max_size: String,
    /// `-m` of memcached, MiB.
    pub memcached_mib: u64,
}

/// One store's figure.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    /// The store.
    pub target: String,
    /// Keys stored.
    pub keys: usize,
    /// Key length in bytes.
    pub key_len: usize,
    /// Value length in bytes.
    pub value_size: usize,
    /// Server RSS after start-up.
    pub rss_before: u64,
    /// Server RSS after storing every key.
    pub rss_after: u64,
    /// `(rss_after - rss_before) / keys`.
    pub bytes_per_key: f64,
    /// `bytes_per_key` less the key and value bytes: the store's own overhead.
    pub overhead_per_key: f64,
    /// Keys read back and checked.
    pub checked: usize,
    /// Of those, wrong or missing.
    pub bad: usize,
    /// Seconds to store every key.
    pub load_secs: f64,
}

/// The result of `memkv-bench memory`.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    /// `memkv-bench memory`.
    pub tool: String,
    /// Start of the run.
    pub date: String,
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// The options.
    pub options: MemoryOptions,
    /// One entry per store.
    pub results: Vec<MemoryResult>,
}

/// Why the measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// A server could not be started.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Storing or reading failed.
    #[error("{target}: {source}")]
    Op {
        /// The store.
        target: String,
        /// Why.
        source: OpError,
    },
    /// Unknown target name.
    #[error("unknown store `{0}`: use memkv, redis or memcached")]
    UnknownTarget(String),
}

const SEED: u64 = 0x6d656d;

async fn load(target: &Target, opts: &MemoryOptions) -> Result<(f64, usize, usize), OpError> {
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..opts.tasks.max(1) {
        let target = target.clone();
        let next = Arc::clone(&next);
        let (keys, batch, size) = (opts.keys, opts.batch.max(1), opts.value_size);
        handles.push(tokio::spawn(async move {
            let mut s = target.session().await?;
            loop {
                let first = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                if first >= keys {
                    return Ok::<(), OpError>(());
                }
                let idx = first..(first + batch).min(keys);
                let ks: Vec<Vec<u8>> = idx.clone().map(key_name).collect();
                let vs: Vec<Vec<u8>> = ks.iter().map(|k| generate(SEED, k, size)).collect();
                let items: Vec<(&[u8], &[u8])> =
                    ks.iter().zip(&vs).map(|(k, v)| (&k[..], &v[..])).collect();
                s.batch_put(&items).await?;
            }
        }));
    }
    for h in handles {
        h.await
            .map_err(|e| OpError::Peer(std::io::Error::other(e.to_string())))??;
    }
    let secs = start.elapsed().as_secs_f64();
    // Check an evenly spread sample.
    let mut s = target.session().await?;
    let sample = opts.keys.min(1000);
    let mut bad = 0;
    let mut buf = vec![0u8; opts.value_size];
    for j in 0..sample {
        let i = j * (opts.keys / sample.max(1));
        let k = key_name(i);
        let got = s.get(&k, &mut buf).await?;
        if !got
            .bytes(&buf)
            .is_some_and(|b| matches(SEED, &k, opts.value_size, b))
        {
            bad += 1;
        }
    }
    Ok((secs, sample, bad))
}

/// Measures every store in `opts.targets`, one at a time.
pub async fn memory(opts: MemoryOptions) -> Result<MemoryReport, MemoryError> {
    let date = now_rfc3339();
    let machine = Machine::detect();
    let mut results = Vec::new();
    for name in &opts.targets {
        let (server, target): (ServerProc, Target) = match name.as_str() {
            "memkv" => {
                let s = start_memkv(
                    &opts.memkv_bin,
                    &opts.work_dir,
                    Integrity::Mac,
                    &opts.memkv_max_size,
                    &crate::servers::MemkvStorage::Memory,
                )?;
                let key = AuthKey::from_hex(s.key_hex.as_deref().unwrap_or_default())
                    .map_err(|e| ServerError::Failed(e.to_string()))?;
                let client = AsyncClient::new(
                    ClientConfig::new([s.addr.clone()])
                        .with_auth_key(key)
                        .with_num_connections(opts.tasks.max(1))
                        .with_op_timeout(Duration::from_secs(120)),
                )
                .map_err(|e| MemoryError::Op {
                    target: name.clone(),
                    source: e.into(),
                })?;
                (
                    s,
                    Target::Memkv {
                        client,
                        api: GetApi::Into,
                    },
                )
            }
            "redis" => {
                let s = start_redis(machine.cores)?;
                let t = Target::Redis(s.addr.clone());
                (s, t)
            }
            "memcached" => {
                let s = start_memcached(machine.cores, opts.memcached_mib)?;
                let t = Target::Memcached(s.addr.clone());
                (s, t)
            }
            other => return Err(MemoryError::UnknownTarget(other.to_owned())),
        };
        // One connection round trip first, so connection buffers count in the baseline.
        let mut probe = target.session().await.map_err(|source| MemoryError::Op {
            target: name.clone(),
            source,
        })?;
        let mut scratch = Vec::new();
        probe
            .get(b"memkv-bench/probe", &mut scratch)
            .await
            .map_err(|source| MemoryError::Op {
                target: name.clone(),
                source,
            })?;
        let rss_before = server.rss_bytes().map_err(ServerError::from)?;
        eprintln!(
            "{name}: storing {} keys of {} bytes (RSS before: {} MiB)",
            opts.keys,
            opts.value_size,
            rss_before >> 20
        );
        let (load_secs, checked, bad) =
            load(&target, &opts)
                .await
                .map_err(|source| MemoryError::Op {
                    target: name.clone(),
                    source,
                })?;
        let rss_after = server.rss_bytes().map_err(ServerError::from)?;
        let key_len = key_name(0).len();
        let bytes_per_key = rss_after.saturating_sub(rss_before) as f64 / opts.keys.max(1) as f64;
        let r = MemoryResult {
            target: name.clone(),
            keys: opts.keys,
            key_len,
            value_size: opts.value_size,
            rss_before,
            rss_after,
            bytes_per_key,
            overhead_per_key: bytes_per_key - (key_len + opts.value_size) as f64,
            checked,
            bad,
            load_secs,
        };
        eprintln!(
            "{name}: RSS after {} MiB: {:.1} bytes/key ({:.1} over key+value), loaded in {:.1}s, {bad}/{checked} sampled keys wrong",
            rss_after >> 20,
            r.bytes_per_key,
            r.overhead_per_key,
            load_secs
        );
        results.push(r);
        drop(probe);
        drop(server);
    }
    Ok(MemoryReport {
        tool: "memkv-bench memory".into(),
        date,
        command: command_line(),
        machine,
        options: opts,
        results,
    })
}

/// The readable table of a memory run.
pub fn render_memory(report: &MemoryReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>7} {:>7} {:>11} {:>11} {:>10} {:>10} {:>8}",
        "store", "keys", "key B", "value B", "RSS before", "RSS after", "B/key", "overhead", "bad"
    );
    for r in &report.results {
        let _ = writeln!(
            out,
            "{:<10} {:>10} {:>7} {:>7} {:>10}M {:>10}M {:>10.1} {:>10.1} {:>8}",
            r.target,
            r.keys,
            r.key_len,
            r.value_size,
            r.rss_before >> 20,
            r.rss_after >> 20,
            r.bytes_per_key,
            r.overhead_per_key,
            format!("{}/{}", r.bad, r.checked)
        );
    }
    out
}
