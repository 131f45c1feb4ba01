//! The TCP data plane: the listener, per-connection framing and authentication, and request
//! handling against a [`Store`].
//!
//! Each connection has a reader (this module's `conn`), which reads, authenticates and handles
//! one frame at a time, and a writer task, which seals and sends responses. Handling runs on the
//! reader, in order, so chunked streams need no locking; sealing (the MAC over response data)
//! runs on the writer, so a response is sealed while the reader goes on. Both run on the
//! connection's thread (`threads`): connections are spread over threads, not their halves.

mod conn;
mod handler;
mod streams;
mod threads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memkv_frameio::{BufPool, Landing, SendBuffer};
use memkv_proto::{AuthKey, Integrity, Limits};
use memkv_store::Store;

pub use conn::MAX_DEFERRED_READS;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use threads::ConnThreads;

/// Most bytes of idle receive buffers the process keeps for reuse.
const RECV_POOL_MAX_IDLE: usize = 256 << 20;

/// The process's receive buffers whose data lands as `landing` says (see
/// [`Shared::recv_pool`]).
fn recv_pool(landing: Landing) -> &'static BufPool {
    static STREAMED: std::sync::OnceLock<BufPool> = std::sync::OnceLock::new();
    static CACHED: std::sync::OnceLock<BufPool> = std::sync::OnceLock::new();
    let pool = match landing {
        Landing::Streamed => &STREAMED,
        Landing::Cached => &CACHED,
    };
    pool.get_or_init(|| BufPool::with_landing(RECV_POOL_MAX_IDLE, landing))
}

/// How a store's received values land in their buffers. A memory store keeps them and does
/// not read them soon: streamed with non-temporal stores, 8-client puts ran 5-9% faster. The
/// disk engines write them to a drive next, and 4 MiB file-mode puts ran about 9% slower
/// streamed (paired rounds, `bench/results/2026-12-07-2core-intel-session23`): their values
/// land with the socket's copy.
fn landing_for(store: &impl Store) -> Landing {
    if store.holds_values_only_in_ram() {
        Landing::Streamed
    } else {
        Landing::Cached
    }
}

/// The settings the data plane runs with, derived once from the validated server config.
#[derive(Debug, Clone)]
pub struct DataPlaneSettings {
    /// Shared key that authenticates every frame.
    pub auth_key: AuthKey,
    /// Integrity mode clients must use.
    pub integrity: Integrity,
    /// Frame size limit.
    pub limits: Limits,
    /// Allowed clock skew of frame timestamps.
    pub max_clock_skew: Duration,
    /// Most simultaneous connections; further ones are refused with `Busy`.
    pub max_connections: usize,
    /// Close connections idle this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Bytes of request and response bodies one connection may hold at once.
    pub max_inflight_bytes: u64,
    /// How each connection's send buffer is sized.
    pub send_buffer: SendBuffer,
    /// Time allowed for a new connection to complete its handshake.
    pub handshake_timeout: Duration,
    /// Threads that serve connections (at least one is started).
    pub threads: usize,
    /// Release tag reported in `NodeInfo`.
    pub release: String,
    /// Storage mode reported in `NodeInfo`.
    pub storage_mode: String,
}

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Shared<S> {
    pub(crate) store: Arc<S>,
    pub(crate) settings: DataPlaneSettings,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) server_id: [u8; 16],
    pub(crate) active: AtomicUsize,
    /// Receive buffers of values, reused (`memkv_frameio::BufPool`): one pool per landing for
    /// the process, shared by the servers it runs (tests run several), each server's chosen by
    /// its store's engine (`landing_for`).
    pub(crate) recv_pool: &'static BufPool,
}

/// A running data plane: call [`DataPlane::run`] to accept connections until shutdown.
#[derive(Debug)]
pub struct DataPlane<S> {
    listener: TcpListener,
    shared: Arc<Shared<S>>,
    threads: ConnThreads,
}

impl<S: Store> DataPlane<S> {
    /// Wraps a bound listener and starts the threads that will serve its connections.
    pub fn new(
        listener: TcpListener,
        store: Arc<S>,
        settings: DataPlaneSettings,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let threads = ConnThreads::start(settings.threads)?;
        let recv_pool = recv_pool(landing_for(&*store));
        let shared = Arc::new(Shared {
            store,
            settings,
            metrics,
            server_id: rand::random(),
            active: AtomicUsize::new(0),
            recv_pool,
        });
        Ok(DataPlane {
            listener,
            shared,
            threads,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `shutdown` turns true, then stops accepting, lets every
    /// connection finish the request it is handling and flush its responses, and returns.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut conns = JoinSet::new();
        let conn_shutdown = shutdown.clone();
        let stop = stopped(shutdown);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let shared = Arc::clone(&self.shared);
                        let active = shared.active.fetch_add(1, Ordering::AcqRel);
                        if active >= shared.settings.max_connections {
                            shared.active.fetch_sub(1, Ordering::AcqRel);
                            shared.metrics.connection_rejected();
                            tracing::warn!(%peer, limit = shared.settings.max_connections,
                                "refusing connection: network.max_connections reached");
                            conns.spawn(conn::refuse_busy(stream));
                            continue;
                        }
                        shared.metrics.connection_opened();
                        let rx = conn_shutdown.clone();
                        let open = Open(shared);
                        let handed = self.threads.spawn(&mut conns, stream, move |stream, load| async move {
                            conn::serve(stream, peer, Arc::clone(&open.0), rx, load).await;
                            drop(open);
                        });
                        if let Err(e) = handed {
                            // The socket is closed (and `open` counted out) with the closure.
                            tracing::warn!(%peer, "cannot hand a connection to its thread: {e}");
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(self.listener);
        tracing::info!(
            connections = conns.len(),
            "data plane stopped accepting; draining connections"
        );
        while conns.join_next().await.is_some() {}
    }
}

/// A connection counted in `Shared::active` and the metrics until this drops: after it was
/// served, or with the task or closure that would have served it.
struct Open<S>(Arc<Shared<S>>);

impl<S> Drop for Open<S> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.connection_closed();
    }
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Resolves once `rx` holds `true`. The `watch` guard is dropped inside, so the future stays
/// `Send` while it waits in a `select!`.
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
