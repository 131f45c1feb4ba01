//! Tests of the disk engine on data files: restart, group commit, eviction, corruption,
//! failed drives, version refusal and the committed format fixtures.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use memkv_ioengine::FaultPlan;

use super::format::{FORMAT_VERSION, META_BLOCK};
use super::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn config(
    dir: &Path,
    drives: usize,
    file_size: u64,
    extent: u64,
    sync: SyncPolicy,
) -> DiskStoreConfig {
    DiskStoreConfig {
        mode: DiskMode::File,
        drives: (0..drives)
            .map(|i| dir.join(format!("drive{i}.dat")))
            .collect(),
        extent_size: extent,
        file_size,
        sync,
        queue_depth: 32,
        cache_size: MIB,
        engine: None,
    }
}

fn value_for(i: u64, len: usize) -> Value {
    let mut data = Vec::with_capacity(len);
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    Value::checksummed(Bytes::from(data))
}

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

#[tokio::test]
async fn values_survive_a_restart_in_both_sync_modes() {
    for sync in [SyncPolicy::Always, SyncPolicy::None] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 2, 32 * MIB, MIB, sync);
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        for i in 0..300 {
            store
                .put(&key(i), value_for(i, (i as usize * 37) % 20_000))
                .await
                .unwrap();
        }
        // Overwrites and deletes must survive too.
        store.put(&key(5), value_for(1005, 100)).await.unwrap();
        assert!(store.delete(&key(7)).await.unwrap());
        assert!(!store.delete(&key(7)).await.unwrap());
        store.close().await;
        drop(store);

        let store = DiskStore::open(cfg).await.unwrap();
        let stats = store.stats();
        assert_eq!(stats.keys, 299, "{sync:?}");
        assert_eq!(stats.engine, "file");
        assert!(["io_uring", "std"].contains(&stats.io_engine));
        for i in 0..300 {
            let got = store.get(&key(i)).await.unwrap();
            let want = match i {
                5 => Some(value_for(1005, 100)),
                7 => None,
                _ => Some(value_for(i, (i as usize * 37) % 20_000)),
            };
            assert_eq!(got, want, "key {i} with {sync:?}");
        }
        assert!(store.stats().cache_misses > 0);
        store.get(&key(1)).await.unwrap();
        store.get(&key(1)).await.unwrap();
        assert!(
            store.stats().cache_hits > 0,
            "a value read once is served from RAM"
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 32 * MIB, MIB, SyncPolicy::Always);
    let store = Arc::new(DiskStore::open(cfg.clone()).await.unwrap());
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..20 {
                    let k = t * 1000 + i;
                    store.put(&key(k), value_for(k, 512)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let syncs = store.inner.engine.metrics().syncs.completed;
    assert!(
        syncs < 64 * 20,
        "1280 acknowledged puts took {syncs} fdatasyncs: group commit must share them"
    );
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.stats().keys, 64 * 20);
    store.close().await;
}

#[tokio::test]
async fn a_full_drive_evicts_the_oldest_segments_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    // 16 extents of 64 KiB: 15 usable.
    let cfg = config(dir.path(), 1, MIB, 64 * KIB, SyncPolicy::None);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let n = 400u64; // 400 x 8 KiB = 3.2 MiB through a 0.94 MiB drive
    for i in 0..n {
        store.put(&key(i), value_for(i, 8 * 1024)).await.unwrap();
    }
    let stats = store.stats();
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.used_bytes <= stats.usable_bytes);
    assert_eq!(stats.devices.len(), 1);
    assert_eq!(stats.keys + stats.evictions, n);
    // The newest values are there; the oldest went first.
    assert_eq!(
        store.get(&key(n - 1)).await.unwrap(),
        Some(value_for(n - 1, 8 * 1024))
    );
    assert_eq!(store.get(&key(0)).await.unwrap(), None);
    let too_big = store.max_value_len(8) + 1;
    let err = store
        .put(
            &key(0),
            Value::checksummed(Bytes::from(vec![0; too_big as usize])),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSpace { .. }), "{err}");
    let keys = stats.keys;
    store.close().await;

    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.stats().keys, keys);
    let mut served = 0;
    for i in 0..n {
        if let Some(v) = store.get(&key(i)).await.unwrap() {
            assert_eq!(v, value_for(i, 8 * 1024), "key {i}");
            served += 1;
        }
    }
    assert_eq!(served, keys);
    store.close().await;
}

/// Finds `needle` in the file and flips a byte in the middle of it.
fn flip_in_file(path: &Path, needle: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("value bytes are on disk");
    bytes[at + needle.len() / 2] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_value_damaged_on_disk_is_a_counted_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 8 * MIB, MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let v = value_for(42, 3000);
    store.put(b"victim", v.clone()).await.unwrap();
    store.put(b"bystander", value_for(43, 3000)).await.unwrap();
    store.close().await;
    drop(store);
    flip_in_file(&cfg.drives[0], &v.data[..64]);

    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.get(b"victim").await.unwrap(), None);
    assert_eq!(store.stats().corrupt_reads, 1);
    assert_eq!(
        store.get(b"victim").await.unwrap(),
        None,
        "dropped, not re-read"
    );
    assert_eq!(store.stats().corrupt_reads, 1);
    assert_eq!(
        store.get(b"bystander").await.unwrap(),
        Some(value_for(43, 3000))
    );
    store.close().await;
}

#[tokio::test]
async fn a_failed_drive_goes_offline_and_the_others_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2, 8 * MIB, MIB, SyncPolicy::Always);
    cfg.cache_size = 0; // every read goes to a drive
    let store = DiskStore::open(cfg).await.unwrap();
    for i in 0..100 {
        store.put(&key(i), value_for(i, 1000)).await.unwrap();
    }
    store.inject_faults(1, FaultPlan::DEAD);
    let mut hits = 0;
    for i in 0..100 {
        if let Some(v) = store.get(&key(i)).await.unwrap() {
            assert_eq!(v, value_for(i, 1000));
            hits += 1;
        }
    }
    let stats = store.stats();
    assert_eq!(
        (
            stats.drives_online,
            stats.drives_offline,
            stats.drives_total
        ),
        (1, 1, 2)
    );
    assert!(hits > 0 && hits < 100, "{hits} hits");
    assert!(!stats.devices[1].online);
    // New puts go to the drive that works, whatever their key.
    for i in 1000..1050 {
        store.put(&key(i), value_for(i, 1000)).await.unwrap();
        assert_eq!(store.get(&key(i)).await.unwrap(), Some(value_for(i, 1000)));
    }
    store.inject_faults(1, FaultPlan::NONE);
}

#[tokio::test]
async fn drives_from_other_sets_and_newer_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = config(&dir.path().join("a"), 1, 4 * MIB, MIB, SyncPolicy::Always);
    let b = config(&dir.path().join("b"), 1, 4 * MIB, MIB, SyncPolicy::Always);
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    DiskStore::open(a.clone()).await.unwrap().close().await;
    DiskStore::open(b.clone()).await.unwrap().close().await;

    let mut mixed = a.clone();
    mixed.drives.push(b.drives[0].clone());
    let err = DiskStore::open(mixed).await.unwrap_err();
    assert!(matches!(err, StoreError::Mismatch { .. }), "{err}");

    let mut wrong_size = a.clone();
    wrong_size.extent_size = 2 * MIB;
    let err = DiskStore::open(wrong_size).await.unwrap_err().to_string();
    assert!(err.contains("storage.block_size"), "{err}");

    // A superblock from a future format version.
    let mut bytes = std::fs::read(&a.drives[0]).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(&a.drives[0], bytes).unwrap();
    let err = DiskStore::open(a).await.unwrap_err().to_string();
    assert!(
        err.contains("format version 2") && err.contains("upgrade memkv"),
        "{err}"
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The fixture's content: keys 0..40 with values of 1000 + 97 * i bytes, then key 3
/// overwritten, key 4 deleted.
async fn fill_fixture(store: &DiskStore) {
    for i in 0..40 {
        store
            .put(&key(i), value_for(i, 1000 + 97 * i as usize))
            .await
            .unwrap();
    }
    store.put(&key(3), value_for(333, 77)).await.unwrap();
    store.delete(&key(4)).await.unwrap();
}

#[tokio::test]
async fn format_version_1_fixtures_still_load() {
    let dir = tempfile::tempdir().unwrap();
    // 64 KiB extents, 512 KiB files, two drives: both sealed and open segments on disk.
    let cfg = config(dir.path(), 2, 512 * KIB, 64 * KIB, SyncPolicy::Always);
    if std::env::var_os("MEMKV_UPDATE_FIXTURES").is_some() {
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        fill_fixture(&store).await;
        store.close().await;
        for (i, p) in cfg.drives.iter().enumerate() {
            std::fs::copy(p, fixture(&format!("v1-drive{i}.img"))).unwrap();
        }
    }
    for (i, p) in cfg.drives.iter().enumerate() {
        std::fs::copy(fixture(&format!("v1-drive{i}.img")), p).unwrap();
        let sb =
            format::Superblock::decode(&std::fs::read(p).unwrap()[..META_BLOCK as usize]).unwrap();
        assert_eq!(sb.version, 1);
    }
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.stats().keys, 39);
    for i in 0..40 {
        let want = match i {
            3 => Some(value_for(333, 77)),
            4 => None,
            _ => Some(value_for(i, 1000 + 97 * i as usize)),
        };
        assert_eq!(store.get(&key(i)).await.unwrap(), want, "key {i}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rebuilds_a_large_index_from_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 2, 64 * MIB, MIB, SyncPolicy::None);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let n = 50_000u64;
    for i in 0..n {
        store.put(&key(i), value_for(i, 64)).await.unwrap();
    }
    store.close().await;
    drop(store);
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.stats().keys, n);
    for i in (0..n).step_by(997) {
        assert_eq!(store.get(&key(i)).await.unwrap(), Some(value_for(i, 64)));
    }
    store.close().await;
}

#[tokio::test]
async fn extents_emptied_by_overwrites_are_trimmed_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 2 * MIB, 64 * KIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    // The same 4 keys overwritten many times: old segments hold only dead records.
    for round in 0..60u64 {
        for k in 0..4u64 {
            store
                .put(&key(k), value_for(round * 10 + k, 4000))
                .await
                .unwrap();
        }
    }
    let stats = store.stats();
    assert!(stats.trimmed_extents > 0, "{stats:?}");
    assert_eq!(
        stats.evictions, 0,
        "dead segments are reused before live ones are evicted"
    );
    // Trimmed extents read back as zeros in a file (hole punched) where discard is supported.
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    for k in 0..4u64 {
        assert_eq!(
            store.get(&key(k)).await.unwrap(),
            Some(value_for(590 + k, 4000))
        );
    }
    store.close().await;
}
