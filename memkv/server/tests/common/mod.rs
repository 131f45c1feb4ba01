//! A data plane served in-process on a real loopback socket, for the tests that need a store
//! they can reach into (a fault hook, a gate); everything else tests the real binary.
// Each test crate uses its own part of this module.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use memkv_proto::{AuthKey, Integrity, Limits};
use memkv_server::dataplane::{DataPlane, DataPlaneSettings};
use memkv_server::metrics::Metrics;
use memkv_server::run::{OP_NAMES, STATUS_NAMES};
use memkv_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A data plane running on a tokio task.
pub struct Served {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    /// Sending `true` starts a graceful shutdown; dropping it does too.
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Serves `store` on a fresh loopback port with `key` in `integrity` mode and test settings.
pub async fn serve<S: Store>(
    store: Arc<S>,
    key: &AuthKey,
    integrity: Integrity,
    storage_mode: &str,
) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = DataPlaneSettings {
        auth_key: key.clone(),
        integrity,
        limits: Limits::default(),
        max_clock_skew: Duration::from_secs(60),
        max_connections: 16,
        idle_timeout: None,
        max_inflight_bytes: 64 << 20,
        send_buffer: memkv_frameio::SendBuffer::Auto,
        handshake_timeout: Duration::from_secs(10),
        threads: 2,
        release: "TEST".into(),
        storage_mode: storage_mode.into(),
    };
    let metrics = Arc::new(Metrics::new(&OP_NAMES, &STATUS_NAMES));
    let plane = DataPlane::new(listener, store, settings, Arc::clone(&metrics)).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(plane.run(stop_rx));
    Served {
        addr,
        metrics,
        stop,
        task,
    }
}
