//! Engine selection at run time: [`StoreConfig`] names an engine and its settings, and
//! [`AnyStore`] is whichever engine was opened, behind the [`Store`] trait.
//!
//! The server can hold an `AnyStore` and stay unaware of which engines exist: adding the file
//! and direct engines adds variants here and nothing in the data plane.

use crate::{
    DiskStore, DiskStoreConfig, MemoryStore, MemoryStoreConfig, Staged, Store, StoreError,
    StoreStats, Value, ValueMeta,
};

/// Which engine to open, with its settings (`storage.mode` in the server config).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `storage.mode: memory`.
    Memory(MemoryStoreConfig),
    /// `storage.mode: file` or `storage.mode: direct`.
    Disk(DiskStoreConfig),
}

/// An opened engine of any kind.
#[non_exhaustive]
#[derive(Debug)]
pub enum AnyStore {
    /// The in-memory engine.
    Memory(MemoryStore),
    /// The file / raw-device engine.
    Disk(DiskStore),
}

impl AnyStore {
    /// Opens the engine `config` names. The memory engine cannot fail to open; the disk
    /// engine reports why a drive cannot be used. Must run inside a tokio runtime (the disk
    /// engine starts its flusher tasks).
    pub async fn open(config: StoreConfig) -> Result<Self, StoreError> {
        match config {
            StoreConfig::Memory(cfg) => Ok(Self::Memory(MemoryStore::new(cfg))),
            StoreConfig::Disk(cfg) => Ok(Self::Disk(DiskStore::open(cfg).await?)),
        }
    }

    /// Writes and syncs whatever is queued (the disk engine with `storage.sync: none`) and
    /// stops background work. Call once at shutdown, after the last request.
    pub async fn close(&self) {
        match self {
            Self::Memory(_) => {}
            Self::Disk(s) => s.close().await,
        }
    }
}

impl Store for AnyStore {
    async fn put(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => s.put(key, value).await,
            Self::Disk(s) => s.put(key, value).await,
        }
    }

    fn put_staged(&self, key: &[u8], value: Value) -> Staged {
        match self {
            Self::Memory(s) => s.put_staged(key, value),
            Self::Disk(s) => s.put_staged(key, value),
        }
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        match self {
            Self::Memory(s) => s.get(key).await,
            Self::Disk(s) => s.get(key).await,
        }
    }

    async fn get_unchecked(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        match self {
            Self::Memory(s) => s.get_unchecked(key).await,
            Self::Disk(s) => s.get_unchecked(key).await,
        }
    }

    fn get_unchecked_at_hand(&self, key: &[u8]) -> Option<Result<Option<Value>, StoreError>> {
        match self {
            Self::Memory(s) => s.get_unchecked_at_hand(key),
            Self::Disk(s) => s.get_unchecked_at_hand(key),
        }
    }

    async fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        match self {
            Self::Memory(s) => s.delete(key).await,
            Self::Disk(s) => s.delete(key).await,
        }
    }

    async fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, StoreError> {
        match self {
            Self::Memory(s) => s.stat(key).await,
            Self::Disk(s) => s.stat(key).await,
        }
    }

    async fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, StoreError> {
        match self {
            Self::Memory(s) => s.exists(keys).await,
            Self::Disk(s) => s.exists(keys).await,
        }
    }

    fn stats(&self) -> StoreStats {
        match self {
            Self::Memory(s) => s.stats(),
            Self::Disk(s) => s.stats(),
        }
    }

    fn holds_values_only_in_ram(&self) -> bool {
        match self {
            Self::Memory(s) => s.holds_values_only_in_ram(),
            Self::Disk(s) => s.holds_values_only_in_ram(),
        }
    }
}
