//! Measures how long the disk engine takes to reopen a store holding many keys: it writes N
//! small values (default 1,000,000; `restart_time N`) to two data files, closes the store, and
//! times `DiskStore::open`, which rebuilds the index from segment summaries.
//!
//! `cargo run --release -p memkv-store --example restart_time -- 1000000`

use std::time::Instant;

use bytes::Bytes;
use memkv_store::{DiskMode, DiskStore, DiskStoreConfig, Store, SyncPolicy, Value};

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("a key count"));
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = DiskStoreConfig {
        mode: DiskMode::File,
        drives: (0..2)
            .map(|i| dir.path().join(format!("d{i}.dat")))
            .collect(),
        extent_size: 4 << 20,
        file_size: 1 << 30,
        sync: SyncPolicy::None,
        queue_depth: 32,
        cache_size: 64 << 20,
        trim_files: false,
        discard_idle: memkv_store::DEFAULT_DISCARD_IDLE,
        engine: None,
    };
    let store = DiskStore::open(cfg.clone()).await.expect("open");
    let started = Instant::now();
    for i in 0..n {
        let key = format!("key-{i:012}");
        let value = Value::checksummed(Bytes::from(i.to_le_bytes().repeat(8)));
        store.put(key.as_bytes(), value).await.expect("put");
    }
    store.close().await;
    let engine = store.stats().io_engine;
    drop(store);
    println!(
        "wrote {n} keys (64-byte values) in {:.2} s with the {engine} engine",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let store = DiskStore::open(cfg).await.expect("reopen");
    let elapsed = started.elapsed();
    let keys = store.stats().keys;
    assert_eq!(keys, n, "every key is back");
    println!(
        "restart: index of {keys} keys rebuilt in {:.3} s",
        elapsed.as_secs_f64()
    );
    let probe = store.get(b"key-000000000007").await.expect("get");
    assert_eq!(
        probe.map(|v| v.data),
        Some(Bytes::from(7u64.to_le_bytes().repeat(8)))
    );
    store.close().await;
}
