//! [`Client`]: the blocking API, for the C ABI, the Python bindings and plain threads.
//!
//! A `Client` owns a small multi-thread tokio runtime that runs the connections' reader tasks.
//! Each call runs its operation with `Runtime::block_on` on the calling thread, so many threads
//! can call one `Client` at once and values are still written straight from the callers'
//! slices.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use crate::client::AsyncClient;
use crate::config::{ClientConfig, ValidatedConfig};
use crate::error::ClientError;
use crate::stats::ClientStats;
use crate::types::{GetInto, NodeInfo, ValueMeta};

/// Most runtime worker threads a client starts.
const MAX_WORKERS: usize = 4;

/// Owns the runtime and shuts it down without blocking when the last client handle drops
/// (dropping a runtime normally blocks, and panics inside async code).
#[derive(Debug)]
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The blocking client. Every method may be called from any thread that is not running async
/// code (from inside a tokio runtime they fail with [`ClientError::BlockingInAsync`]). Cheap to
/// clone; clones share connections and the runtime.
#[derive(Debug, Clone)]
pub struct Client {
    inner: AsyncClient,
    rt: Arc<OwnedRuntime>,
}

impl Client {
    /// Validates `config`, starts the client's runtime and builds a client. No connection is
    /// opened yet (see [`Client::warmup`]).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let inner = AsyncClient::new(config)?;
        let workers = std::thread::available_parallelism()
            .map_or(2, std::num::NonZeroUsize::get)
            .clamp(1, MAX_WORKERS);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("memkv-client")
            .enable_all()
            .build()
            .map_err(|e| ClientError::Runtime(Arc::new(e)))?;
        Ok(Client {
            inner,
            rt: Arc::new(OwnedRuntime(Some(rt))),
        })
    }

    /// Builds a client from `MEMKV_CONFIG` and the `MEMKV_*` environment variables.
    pub fn from_env() -> Result<Self, ClientError> {
        Self::new(ClientConfig::from_env()?)
    }

    fn block_on<F: Future>(&self, fut: F) -> Result<F::Output, ClientError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ClientError::BlockingInAsync);
        }
        let rt = self
            .rt
            .0
            .as_ref()
            .expect("the runtime lives as long as the client");
        Ok(rt.block_on(fut))
    }

    /// The validated configuration.
    pub fn config(&self) -> &ValidatedConfig {
        self.inner.config()
    }

    /// The servers as configured (`host:port`); server indexes refer to this order.
    pub fn servers(&self) -> &[String] {
        self.inner.servers()
    }

    /// Index of the server that owns `key`.
    pub fn server_for(&self, key: &[u8]) -> usize {
        self.inner.server_for(key)
    }

    /// A snapshot of this client's counters.
    pub fn stats(&self) -> ClientStats {
        self.inner.stats()
    }

    /// Opens `num_connections` connections to every server; one result per server.
    pub fn warmup(&self) -> Vec<Result<(), ClientError>> {
        match self.block_on(self.inner.warmup()) {
            Ok(v) => v,
            Err(e) => self.servers().iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Asks server `server_index` for its [`NodeInfo`].
    pub fn node_info(&self, server_index: usize) -> Result<NodeInfo, ClientError> {
        self.block_on(self.inner.node_info(server_index))?
    }

    /// See [`AsyncClient::put`].
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        self.block_on(self.inner.put(key, value))?
    }

    /// See [`AsyncClient::get`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, ClientError> {
        self.block_on(self.inner.get(key))?
    }

    /// See [`AsyncClient::get_into`].
    pub fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Result<GetInto, ClientError> {
        self.block_on(self.inner.get_into(key, buf))?
    }

    /// See [`AsyncClient::delete`].
    pub fn delete(&self, key: &[u8]) -> Result<bool, ClientError> {
        self.block_on(self.inner.delete(key))?
    }

    /// See [`AsyncClient::stat`].
    pub fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, ClientError> {
        self.block_on(self.inner.stat(key))?
    }

    /// See [`AsyncClient::size`].
    pub fn size(&self, key: &[u8]) -> Result<Option<u64>, ClientError> {
        self.block_on(self.inner.size(key))?
    }

    /// See [`AsyncClient::exists`].
    pub fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, ClientError> {
        self.block_on(self.inner.exists(keys))?
    }

    /// See [`AsyncClient::exists_on`].
    pub fn exists_on(&self, server_index: usize, keys: &[&[u8]]) -> Result<Vec<bool>, ClientError> {
        self.block_on(self.inner.exists_on(server_index, keys))?
    }

    /// See [`AsyncClient::batch_put`].
    pub fn batch_put(&self, items: &[(&[u8], &[u8])]) -> Vec<Result<(), ClientError>> {
        match self.block_on(self.inner.batch_put(items)) {
            Ok(v) => v,
            Err(e) => items.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// See [`AsyncClient::batch_get`].
    pub fn batch_get(&self, keys: &[&[u8]]) -> Result<Vec<Option<Bytes>>, ClientError> {
        self.block_on(self.inner.batch_get(keys))?
    }

    /// See [`AsyncClient::batch_get_into`].
    pub fn batch_get_into(
        &self,
        items: &mut [(&[u8], &mut [u8])],
    ) -> Result<Vec<GetInto>, ClientError> {
        self.block_on(self.inner.batch_get_into(items))?
    }
}
