//! Engine selection at run time: [`StoreConfig`] names an engine and its settings, and
//! [`AnyStore`] is whichever engine was opened, behind the [`Store`] trait.
//!
//! The server can hold an `AnyStore` and stay unaware of which engines exist: adding the file
//! and direct engines adds variants here and nothing in the data plane.

use crate::{MemoryStore, MemoryStoreConfig, Store, StoreError, StoreStats, Value, ValueMeta};

/// Which engine to open, with its settings (`storage.mode` in the server config).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `storage.mode: memory`.
    Memory(MemoryStoreConfig),
}

/// An opened engine of any kind.
#[non_exhaustive]
#[derive(Debug)]
pub enum AnyStore {
    /// The in-memory engine.
    Memory(MemoryStore),
}

impl AnyStore {
    /// Opens the engine `config` names. The memory engine cannot fail to open; engines with
    /// drives report [`StoreError::Io`] for a drive they cannot use.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        match config {
            StoreConfig::Memory(cfg) => Ok(Self::Memory(MemoryStore::new(cfg))),
        }
    }
}

impl Store for AnyStore {
    async fn put(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => s.put(key, value).await,
        }
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        match self {
            Self::Memory(s) => s.get(key).await,
        }
    }

    async fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        match self {
            Self::Memory(s) => s.delete(key).await,
        }
    }

    async fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, StoreError> {
        match self {
            Self::Memory(s) => s.stat(key).await,
        }
    }

    async fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, StoreError> {
        match self {
            Self::Memory(s) => s.exists(keys).await,
        }
    }

    fn stats(&self) -> StoreStats {
        match self {
            Self::Memory(s) => s.stats(),
        }
    }
}
