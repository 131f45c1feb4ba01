//! Start-up and shutdown: builds the store, binds the listeners, serves the data plane and the
//! admin API, and drains on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use memkv_proto::{AuthKey, Integrity, Limits, Opcode, Status};
use memkv_store::{
    AnyStore, DiskMode, DiskStoreConfig, MemoryStoreConfig, Store, StoreConfig, SyncPolicy,
};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{self, AdminSource};
use crate::config::{IntegrityMode, ServerConfig, StorageMode};
use crate::dataplane::{DataPlane, DataPlaneSettings};
use crate::metrics::Metrics;
use crate::status::{
    CapacityReport, DeviceReport, DriveState, HealthReport, MemoryReport, StatusReport,
    StorageReport,
};

/// Metric label index of requests whose opcode is unknown.
pub(crate) const UNKNOWN_OP_INDEX: usize = Opcode::ALL.len();

/// Operation label values, in [`Opcode::index`] order, then `unknown`.
pub static OP_NAMES: LazyLock<&'static [&'static str]> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = Opcode::ALL.iter().map(|op| op.name()).collect();
    names.push("unknown");
    Vec::leak(names)
});

/// Status label values, in [`Status::index`] order.
pub static STATUS_NAMES: LazyLock<&'static [&'static str]> =
    LazyLock::new(|| Vec::leak(Status::ALL.iter().map(|s| s.name()).collect()));

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A listener could not be bound.
    #[error(
        "cannot listen on {address} ({what}): {source}; is another memkv running there? Change network.address"
    )]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The admin TLS certificate or key could not be loaded.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    /// The storage engine could not be opened.
    #[error("cannot open the storage engine: {0}")]
    Store(#[from] memkv_store::StoreError),
    /// The data plane's connection threads could not be started.
    #[error(
        "cannot start the data plane's threads: {0}; lower network.threads or raise the process's limits"
    )]
    Threads(std::io::Error),
    /// A configured storage mode this build cannot serve.
    #[error("storage.mode `{0}` is not served by this build; use `storage.mode: memory`")]
    StorageMode(&'static str),
}

/// What to start.
#[derive(Debug)]
pub struct StartOptions {
    /// The validated configuration.
    pub config: ServerConfig,
    /// Where it came from, for the start-up line (a path or "embedded default").
    pub config_source: String,
    /// Release tag of this build.
    pub release: String,
}

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Data-plane address.
    pub data: SocketAddr,
    /// Admin API address.
    pub admin: SocketAddr,
}

/// Runs the server until `shutdown` resolves (use [`shutdown_signal`] for SIGTERM/SIGINT).
/// `on_bound` is called once both listeners are bound, before serving.
pub async fn run(
    opts: StartOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound),
) -> Result<(), RunError> {
    let StartOptions {
        config,
        config_source,
        release,
    } = opts;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    if let Some(path) = &config.network.generated_auth_key {
        tracing::warn!(
            "no auth key was configured: generated a new one in {} (network.auth_key_generate); give clients that key (MEMKV_AUTH_KEY), it stays the same across restarts",
            path.display()
        );
    }
    let (auth_key, key_note) = match config.network.auth_key {
        Some(bytes) => {
            let key = AuthKey::from_bytes(bytes);
            let note = format!("key {}", key.fingerprint());
            (key, note)
        }
        // Validation refuses a missing key on any non-loopback address.
        None => (AuthKey::loopback_dev_key(), "loopback dev key".to_owned()),
    };
    let store_config = match config.storage.mode {
        StorageMode::Memory => StoreConfig::Memory(MemoryStoreConfig {
            max_size: config.memory.max_size,
        }),
        StorageMode::File | StorageMode::Direct => StoreConfig::Disk(disk_config(&config)),
    };
    let store = Arc::new(AnyStore::open(store_config).await?);
    let tls = match &config.network.tls {
        Some(t) => Some(admin::load_tls(&t.cert, &t.key)?),
        None => None,
    };

    let (data_listener, data_addr, admin_listener, admin_addr) =
        bind_pair(config.network.address).await?;

    let metrics = Arc::new(Metrics::new(&OP_NAMES, &STATUS_NAMES).with_version(release.clone()));
    let settings = DataPlaneSettings {
        auth_key,
        integrity: match config.network.integrity {
            IntegrityMode::Mac => Integrity::Mac,
            IntegrityMode::HmacSha256 => Integrity::HmacSha256,
            IntegrityMode::Checksum => Integrity::Checksum,
        },
        limits: Limits {
            max_body: u32::try_from(config.network.max_frame_size).unwrap_or(u32::MAX),
        },
        max_clock_skew: config.network.max_clock_skew,
        max_connections: config.network.max_connections as usize,
        idle_timeout: config.network.idle_timeout,
        max_inflight_bytes: config.network.max_inflight_bytes,
        send_buffer: config.network.send_buffer,
        handshake_timeout: Duration::from_secs(10),
        threads: match config.network.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n as usize,
        },
        release: release.clone(),
        storage_mode: config.storage.mode.as_str().to_owned(),
    };
    let view = Arc::new(ServerView {
        store: Arc::clone(&store),
        metrics: Arc::clone(&metrics),
        started: Instant::now(),
        ready: AtomicBool::new(true),
        data: data_addr,
        admin: admin_addr,
        release: release.clone(),
        config: config.clone(),
    });

    let scheme = if tls.is_some() { "https" } else { "http" };
    on_bound(Bound {
        data: data_addr,
        admin: admin_addr,
    });
    eprintln!(
        "memkv: listening on data={data_addr} admin={scheme}://{admin_addr} storage={} ({}) integrity={} auth={key_note} config={config_source}; try: MEMKV_SERVERS={data_addr} memkv kv put hello world && MEMKV_SERVERS={data_addr} memkv kv get hello",
        config.storage.mode.as_str(),
        human_bytes(config.memory.max_size),
        config.network.integrity.as_str(),
    );
    tracing::info!(
        release = %release,
        %data_addr,
        %admin_addr,
        crc32c = memkv_proto::CrcKernel::detected().name(),
        "memkv started"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    let signal_view = Arc::clone(&view);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested: no new connections, finishing in-flight requests");
        signal_view.ready.store(false, Ordering::Release);
        let _ = stop_tx.send(true);
    });
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        tls,
        Arc::clone(&view) as Arc<dyn AdminSource>,
        async move {
            let mut rx = admin_stop_rx;
            let _ = rx.wait_for(|s| *s).await;
        },
    ));
    DataPlane::new(data_listener, store, settings, metrics)
        .map_err(RunError::Threads)?
        .run(stop_rx)
        .await;
    let _ = admin_stop_tx.send(true);
    match admin_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("admin API stopped with an error: {e}"),
        Err(e) => tracing::warn!("admin API task failed: {e}"),
    }
    // Persistent engines write and sync what is still queued (`storage.sync: none`).
    view.store.close().await;
    tracing::info!("memkv stopped");
    Ok(())
}

/// Binds the data plane on `address` and the admin API on the same IP at port + 1. With port 0
/// (an ephemeral port, as tests use) the pair is chosen so that the admin API still sits at
/// data port + 1: if that port is taken, both are given back and another pair is tried.
async fn bind_pair(
    address: SocketAddr,
) -> Result<(TcpListener, SocketAddr, TcpListener, SocketAddr), RunError> {
    const ATTEMPTS: usize = 64;
    let local = |what, l: &TcpListener| {
        l.local_addr().map_err(|source| RunError::Bind {
            what,
            address,
            source,
        })
    };
    for attempt in 1..=ATTEMPTS {
        let data = bind("data plane", address).await?;
        let data_addr = local("data plane", &data)?;
        let admin_at = crate::config::admin_address_for(data_addr);
        match TcpListener::bind(admin_at).await {
            Ok(admin) => {
                let admin_addr = local("admin API", &admin)?;
                return Ok((data, data_addr, admin, admin_addr));
            }
            Err(e)
                if address.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < ATTEMPTS => {}
            Err(source) => {
                return Err(RunError::Bind {
                    what: "admin API",
                    address: admin_at,
                    source,
                });
            }
        }
    }
    unreachable!("the last attempt returns")
}

async fn bind(what: &'static str, address: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| RunError::Bind {
            what,
            address,
            source,
        })
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install the SIGTERM handler: {e}; stop memkv with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
    }
}

/// Formats a byte count with a binary unit (`12.0 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What the admin API reads: the store, the metrics and the configuration.
struct ServerView<S> {
    store: Arc<S>,
    metrics: Arc<Metrics>,
    started: Instant,
    ready: AtomicBool,
    data: SocketAddr,
    admin: SocketAddr,
    release: String,
    config: ServerConfig,
}

impl<S: Store> ServerView<S> {
    fn capacity(&self) -> CapacityReport {
        let s = self.store.stats();
        CapacityReport {
            engine: s.engine.to_owned(),
            raw_bytes: s.raw_bytes,
            usable_bytes: s.usable_bytes,
            used_bytes: s.used_bytes,
            keys: s.keys,
            evictions: s.evictions,
            evicted_bytes: s.evicted_bytes,
            corrupt_reads: s.corrupt_reads,
            drives_online: s.drives_online,
            drives_offline: s.drives_offline,
            drives_total: s.drives_total,
            io_engine: s.io_engine.to_owned(),
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            trimmed_extents: s.trimmed_extents,
            discarded_extents: s.discarded_extents,
            devices: device_reports(&s),
        }
    }
}

impl<S: Store> AdminSource for ServerView<S> {
    fn health(&self) -> HealthReport {
        HealthReport::from_capacity(&self.capacity(), false)
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn status(&self) -> StatusReport {
        let capacity = self.capacity();
        StatusReport {
            version: self.release.clone(),
            uptime_seconds: self.started.elapsed().as_secs(),
            address: self.data,
            admin_address: self.admin,
            storage_mode: self.config.storage.mode,
            integrity: self.config.network.integrity,
            memory: MemoryReport {
                max_size: self.config.memory.max_size,
                block_size: self.config.memory.block_size,
            },
            storage: StorageReport::from_capacity(&capacity),
            connections: self.metrics.connections(),
            ops: self
                .metrics
                .op_reports(|status| status != Status::Ok.name()),
        }
    }

    fn metrics_text(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.metrics.render(&self.capacity(), &mut out);
        out
    }
}

/// Per-drive detail of the disk engine, for `/v1/status` and the per-drive metrics.
fn device_reports(stats: &memkv_store::StoreStats) -> Vec<DeviceReport> {
    stats
        .devices
        .iter()
        .map(|d| DeviceReport {
            media: d.path.display().to_string(),
            state: if d.online {
                DriveState::Online
            } else {
                DriveState::Offline
            },
            raw_bytes: d.raw_bytes,
            usable_bytes: d.usable_bytes,
            used_bytes: d.used_bytes,
            written_bytes: d.written_bytes,
            syncs: d.syncs,
        })
        .collect()
}

/// The disk engine's settings from `storage.*` and `memory.max_size` (the read cache).
fn disk_config(config: &ServerConfig) -> DiskStoreConfig {
    let storage = &config.storage;
    DiskStoreConfig {
        mode: match storage.mode {
            StorageMode::Direct => DiskMode::Direct,
            _ => DiskMode::File,
        },
        drives: storage.drives.iter().map(|d| d.media.clone()).collect(),
        extent_size: storage.block_size,
        file_size: storage.drives.first().map_or(0, |d| d.size),
        sync: match storage.sync {
            crate::config::SyncMode::Always => SyncPolicy::Always,
            crate::config::SyncMode::None => SyncPolicy::None,
        },
        queue_depth: storage.queue_depth,
        cache_size: config.memory.max_size,
        trim_files: storage.trim_files,
        discard_idle: memkv_store::DEFAULT_DISCARD_IDLE,
        engine: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn the_server_future_can_be_spawned() {
        // Embedders run the server with `tokio::spawn`, which needs a `Send` future.
        let opts = StartOptions {
            config: ServerConfig::embedded_default(),
            config_source: "test".into(),
            release: "test".into(),
        };
        let fut = run(opts, std::future::pending(), |_| {});
        assert_send(&fut);
    }

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(6 << 30), "6.0 GiB");
    }
}
