//! Tests of the disk engine on data files: restart, group commit, eviction, corruption,
//! failed drives and version refusal; the committed format fixtures are in `fixtures`, large
//! values on block boundaries in `aligned`, gets that leave the checking to the client in
//! `unchecked`.

mod aligned;
mod fixtures;
mod unchecked;

use std::path::Path;

use bytes::Bytes;
use memkv_ioengine::FaultPlan;

use super::format::{FORMAT_VERSION, META_BLOCK, RecordHeader};
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
        trim_files: false,
        discard_idle: crate::disk::DEFAULT_DISCARD_IDLE,
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

#[tokio::test]
async fn a_value_larger_than_the_cache_replaces_the_cached_older_one() {
    // Found by memkv-bench compare against a server with a 1 MiB cache: a 4 KiB value read
    // into the cache, then overwritten by a 4 MiB one that the cache cannot hold, was still
    // served from the cache.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 64 * MIB, 8 * MIB, SyncPolicy::Always);
    assert_eq!(cfg.cache_size, MIB);
    let store = DiskStore::open(cfg).await.unwrap();
    let small = value_for(1, 4096);
    store.put(b"k", small.clone()).await.unwrap();
    assert_eq!(store.get(b"k").await.unwrap(), Some(small));
    let hits = store.stats().cache_hits;
    assert_eq!(
        store.get(b"k").await.unwrap().map(|v| v.data.len()),
        Some(4096)
    );
    assert_eq!(
        store.stats().cache_hits,
        hits + 1,
        "the small value is cached"
    );

    let large = value_for(2, 4 * MIB as usize);
    store.put(b"k", large.clone()).await.unwrap();
    for _ in 0..2 {
        assert_eq!(store.get(b"k").await.unwrap().as_ref(), Some(&large));
        assert_eq!(
            store.get_unchecked(b"k").await.unwrap().as_ref(),
            Some(&large)
        );
    }
    store.close().await;
}

/// The disk engines keep a value's digest only in their RAM cache: a get served from the cache
/// has the digest the put brought, one read from the drive has none (it is hashed as sent).
#[tokio::test]
async fn a_cached_value_keeps_its_digest_and_one_read_from_the_drive_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 64 * MIB, 8 * MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let value = Value {
        digest: Some([9; 16]),
        ..value_for(3, 128 * 1024)
    };
    store.put(b"k", value.clone()).await.unwrap();
    let got = store.get_unchecked(b"k").await.unwrap().unwrap();
    assert_eq!(got.digest, Some([9; 16]), "served from the cache");
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    let got = store.get_unchecked(b"k").await.unwrap().unwrap();
    assert_eq!(
        (got.data, got.digest),
        (value.data, None),
        "read from the drive"
    );
    store.close().await;
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
    let syncs = store.inner.drives[0].engine.metrics().syncs.completed;
    assert!(
        syncs < 64 * 20,
        "1280 acknowledged puts took {syncs} fdatasyncs: group commit must share them"
    );
    // The drive's statistics (the server's `memkv_drive_syncs_total` and
    // `memkv_drive_written_bytes_total`) count at least the records, and one more
    // acknowledged put moves both: its bytes and the sync that made it durable.
    let before = store.stats().devices[0].clone();
    assert!(
        before.written_bytes >= 64 * 20 * 512,
        "{} bytes written for 1280 values of 512 bytes",
        before.written_bytes
    );
    store
        .put(&key(999_999), value_for(999_999, 512))
        .await
        .unwrap();
    let after = store.stats().devices[0].clone();
    assert!(after.syncs > before.syncs, "{before:?} -> {after:?}");
    assert!(
        after.written_bytes >= before.written_bytes + 512,
        "{before:?} -> {after:?}"
    );
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.stats().keys, 64 * 20 + 1);
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

/// A one-drive store in `dir`, closed, holding `victim` (`value_for(42, 3000)`) with a byte
/// of its value flipped on the drive, and an intact `bystander` (`value_for(43, 3000)`).
async fn with_a_damaged_value(dir: &Path) -> DiskStoreConfig {
    let cfg = config(dir, 1, 8 * MIB, MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let v = value_for(42, 3000);
    store.put(b"victim", v.clone()).await.unwrap();
    store.put(b"bystander", value_for(43, 3000)).await.unwrap();
    // Sealed behind them: a start checks the values of the segment it finds open (a crash
    // may have cut them short), so damage there is dropped before any read.
    for i in 0..2 {
        store
            .put(&key(i), value_for(i, 600 * KIB as usize))
            .await
            .unwrap();
    }
    store.close().await;
    drop(store);
    flip_in_file(&cfg.drives[0], &v.data[..64]);
    cfg
}

/// Finds `needle` in the file and flips a byte in the middle of it.
fn flip_in_file(path: &Path, needle: &[u8]) {
    edit_in_file(path, needle, |found| found[needle.len() / 2] ^= 0x40);
}

/// Finds `needle` in the file and zeroes it: bytes a write cut short never put there.
fn zero_in_file(path: &Path, needle: &[u8]) {
    edit_in_file(path, needle, |found| found.fill(0));
}

/// Finds `needle` in the file and changes it there with `edit`.
fn edit_in_file(path: &Path, needle: &[u8], edit: impl FnOnce(&mut [u8])) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("value bytes are on disk");
    edit(&mut bytes[at..at + needle.len()]);
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_put_cut_short_in_the_segment_left_open_leaves_the_previous_value() {
    for striped in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 1, 4 * MIB, 64 * KIB, SyncPolicy::Always);
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        let old = value_for(1, 3000);
        // 100 KiB over 64 KiB extents: one part and a 40 KiB tail in the stripe record.
        let new = value_for(2, if striped { 100 * KIB as usize } else { 5000 });
        store.put(&key(1), old.clone()).await.unwrap();
        store.put(&key(1), new.clone()).await.unwrap();
        assert_eq!(parts_of(&store, &key(1)).is_some(), striped);
        store.close().await;
        drop(store);
        // As if the server had died while the new record was written: its header reached
        // the drive, the end of its value (inline, or the stripe's tail) did not.
        zero_in_file(&cfg.drives[0], &new.data[new.data.len() - 64..]);
        for restart in 0..2u64 {
            let store = DiskStore::open(cfg.clone()).await.unwrap();
            assert_eq!(
                store.get(&key(1)).await.unwrap(),
                Some(old.clone()),
                "striped: {striped}, restart {restart}"
            );
            // Found by the first start, which leaves it out of the summary it seals the
            // segment with: the second finds nothing.
            assert_eq!(store.stats().corrupt_reads, 1 - restart);
            store.close().await;
        }
    }
}

#[tokio::test]
async fn a_value_damaged_on_disk_is_a_counted_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = with_a_damaged_value(dir.path()).await;
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
        err.contains(&format!("format version {}", FORMAT_VERSION + 1))
            && err.contains("upgrade memkv"),
        "{err}"
    );
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

/// Bytes the filesystem has allocated to a file (holes excluded).
fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[tokio::test]
async fn extents_emptied_by_overwrites_are_trimmed_and_reused() {
    extents_emptied_by_overwrites(false).await;
}

#[tokio::test]
async fn with_trim_files_freed_extents_are_hole_punched() {
    extents_emptied_by_overwrites(true).await;
}

async fn extents_emptied_by_overwrites(trim_files: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, store) = overwritten(dir.path(), trim_files, DEFAULT_DISCARD_IDLE).await;
    let data_file = cfg.drives[0].clone();
    let stats = store.stats();
    assert!(stats.trimmed_extents > 0, "{stats:?}");
    assert_eq!(
        stats.evictions, 0,
        "dead segments are reused before live ones are evicted"
    );
    let before = allocated_bytes(&data_file);
    store.close().await;
    // By default data files stay preallocated; with trim_files the extents left freed at the
    // stop are holes.
    let allocated = allocated_bytes(&data_file);
    if trim_files {
        let discarded = store.stats().discarded_extents;
        assert!(discarded > 0, "{:?}", store.stats());
        assert!(
            gave_back(before, allocated, discarded),
            "{before} -> {allocated} bytes allocated after discarding {discarded} extents"
        );
    } else {
        assert!(
            allocated >= 2 * MIB,
            "{allocated} bytes allocated, want all 2 MiB"
        );
    }
    // Either way the values survive a restart.
    let store = DiskStore::open(cfg).await.unwrap();
    holds_the_last_round(&store).await;
    store.close().await;
}

#[tokio::test]
async fn a_segment_is_not_freed_before_the_record_that_replaced_its_last_value_is_written() {
    // The window this closes: a put replaces the last live value of a sealed segment, and the
    // flusher frees that segment before it has written the new record. A crash then loses
    // both versions of an acknowledged key. The test runtime runs one task at a time, so the
    // flusher cannot write the staged record before the trim below looks at the segments.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 2 * MIB, 64 * KIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let (old, other, new) = (
        value_for(1, 40 * KIB as usize),
        value_for(2, 40 * KIB as usize),
        value_for(3, 4 * KIB as usize),
    );
    // Key 1 alone in the first segment, sealed when key 2 does not fit next to it.
    store.put(&key(1), old.clone()).await.unwrap();
    store.put(&key(2), other.clone()).await.unwrap();
    let first = store
        .inner
        .shard(&key(1))
        .lock()
        .get(&key(1)[..])
        .unwrap()
        .extent;
    let Staged::Stored(durable) = store.put_staged(&key(1), new) else {
        panic!("a small value is staged")
    };
    // Its bytes still count as live: neither the trim, nor a new segment, nor a part of a
    // striped value takes a segment with live bytes.
    assert!(store.inner.drives[0].live[first as usize].load(Relaxed) > 0);
    flusher::trim_dead(&store.inner, 0).await;
    assert_eq!(
        store.stats().trimmed_extents,
        0,
        "the segment holding key 1's last written value was freed before its replacement \
         was written"
    );
    // The drive fails before the new record reaches it: the put is never acknowledged, and
    // the old value is what a restart finds.
    store.inject_faults(0, FaultPlan::DEAD);
    assert!(durable.unwrap().wait().await.is_err());
    store.inject_faults(0, FaultPlan::NONE);
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.get(&key(1)).await.unwrap(), Some(old));
    assert_eq!(store.get(&key(2)).await.unwrap(), Some(other));
    store.close().await;
}

/// Whether a data file whose allocation went from `before` to `after` bytes gave back the
/// 64 KiB extents of `discarded` punched holes (give or take a block of the filesystem's own
/// extent tree, which a hole can split).
fn gave_back(before: u64, after: u64, discarded: u64) -> bool {
    after + discarded * 64 * KIB <= before + 4 * KIB
}

/// A store on one data file of 32 extents of 64 KiB whose 4 keys were each overwritten 60
/// times: most extents filled with dead records and were freed, again and again.
async fn overwritten(
    dir: &Path,
    trim_files: bool,
    discard_idle: std::time::Duration,
) -> (DiskStoreConfig, DiskStore) {
    let cfg = DiskStoreConfig {
        trim_files,
        discard_idle,
        ..config(dir, 1, 2 * MIB, 64 * KIB, SyncPolicy::Always)
    };
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    for round in 0..60u64 {
        for k in 0..4u64 {
            store
                .put(&key(k), value_for(round * 10 + k, 4000))
                .await
                .unwrap();
        }
    }
    (cfg, store)
}

/// Whether `store` holds the last round of [`overwritten`].
async fn holds_the_last_round(store: &DiskStore) {
    for k in 0..4u64 {
        assert_eq!(
            store.get(&key(k)).await.unwrap(),
            Some(value_for(590 + k, 4000))
        );
    }
}

#[tokio::test]
async fn a_busy_drive_writes_freed_extents_again_without_discarding_them() {
    let dir = tempfile::tempdir().unwrap();
    // Never idle for an hour here: the only discards are those of the clean stop.
    let (cfg, store) = overwritten(dir.path(), true, std::time::Duration::from_secs(3600)).await;
    let data_file = cfg.drives[0].clone();
    let stats = store.stats();
    assert!(stats.trimmed_extents > 0, "{stats:?}");
    assert_eq!(stats.discarded_extents, 0, "{stats:?}");
    // Freed extents were written again where they were: no hole was punched.
    let before = allocated_bytes(&data_file);
    assert!(before >= 2 * MIB, "{before} bytes allocated");
    store.close().await;
    // A clean stop discards the extents freed and not written again since.
    let discarded = store.stats().discarded_extents;
    assert!(discarded > 0, "{:?}", store.stats());
    let allocated = allocated_bytes(&data_file);
    assert!(
        gave_back(before, allocated, discarded),
        "{before} -> {allocated} bytes allocated after discarding {discarded} extents at the stop"
    );
    let store = DiskStore::open(cfg).await.unwrap();
    holds_the_last_round(&store).await;
    store.close().await;
}

#[tokio::test]
async fn an_idle_drive_discards_its_freed_extents_and_goes_on_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, store) = overwritten(dir.path(), true, std::time::Duration::from_millis(20)).await;
    let data_file = cfg.drives[0].clone();
    // Nothing more to write: the flusher discards the freed extents while the store runs, and
    // the ones left free are holes in the data file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.stats().discarded_extents == 0 || allocated_bytes(&data_file) > 2 * MIB - 32 * KIB {
        assert!(
            std::time::Instant::now() < deadline,
            "no hole after a minute idle: {} bytes allocated, {:?}",
            allocated_bytes(&data_file),
            store.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Discarded extents are written again like any free one.
    for k in 0..4u64 {
        assert_eq!(
            store.get(&key(k)).await.unwrap(),
            Some(value_for(590 + k, 4000))
        );
        store.put(&key(k), value_for(1000 + k, 4000)).await.unwrap();
    }
    for k in 0..4u64 {
        assert_eq!(
            store.get(&key(k)).await.unwrap(),
            Some(value_for(1000 + k, 4000))
        );
    }
    store.close().await;
}

/// Where the parts of `k`'s value are, if it is striped.
fn parts_of(store: &DiskStore, k: &[u8]) -> Option<Vec<format::PartRef>> {
    let loc = store.inner.shard(k).lock().get(k).cloned()?;
    loc.parts.map(|p| p.to_vec())
}

#[tokio::test]
async fn reads_from_a_drive_recycle_their_buffers() {
    // A read of 256 KiB or more into a fresh buffer maps, faults in and zeroes new memory;
    // reads reuse pooled buffers, which return when the value is dropped.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, 64 * MIB, 8 * MIB, SyncPolicy::Always);
    cfg.cache_size = 0; // every read goes to the drive
    let store = DiskStore::open(cfg).await.unwrap();
    let values: Vec<Value> = (0..4).map(|i| value_for(i, 4 * MIB as usize)).collect();
    for (i, v) in values.iter().enumerate() {
        store.put(&key(i as u64), v.clone()).await.unwrap();
    }
    for round in 0..3 {
        for (i, v) in values.iter().enumerate() {
            assert_eq!(store.get(&key(i as u64)).await.unwrap().as_ref(), Some(v));
            assert_eq!(
                store.get_unchecked(&key(i as u64)).await.unwrap().as_ref(),
                Some(v)
            );
        }
        assert_eq!(store.inner.read_bufs.outstanding(), 0, "round {round}");
    }
    assert_eq!(
        store.inner.read_bufs.allocations(),
        1,
        "24 reads of 4 MiB, one at a time, share one buffer"
    );
    store.close().await;
}

#[tokio::test]
async fn values_larger_than_an_extent_stripe_and_survive_a_restart() {
    for drives in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        // 64 KiB extents (60 KiB per part), 4 MiB files.
        let mut cfg = config(dir.path(), drives, 4 * MIB, 64 * KIB, SyncPolicy::Always);
        cfg.cache_size = 0; // every read goes to the drives
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        // Full parts and a tail in the stripe record, except 120 KiB: exactly two parts.
        let sizes = [61 * KIB, 64 * KIB, 150 * KIB, 600 * KIB + 5, 120 * KIB];
        for (i, &len) in sizes.iter().enumerate() {
            let k = key(i as u64);
            store
                .put(&k, value_for(i as u64, len as usize))
                .await
                .unwrap();
            let parts = parts_of(&store, &k).expect("striped");
            assert_eq!(parts.len() as u64, len / (60 * KIB), "{len}");
            assert!(parts.iter().all(|p| p.len == 60 * KIB), "{len}: full parts");
            let loc = store.inner.shard(&k).lock().get(&k[..]).cloned().unwrap();
            assert_eq!(
                loc.tail_len(),
                len % (60 * KIB),
                "{len}: the rest is the tail"
            );
            let used: std::collections::BTreeSet<u32> = parts.iter().map(|p| p.drive).collect();
            assert_eq!(
                used.len(),
                drives.min(parts.len()),
                "round-robin over the drives"
            );
        }
        // Small values beside them, and an overwrite of a striped value by a small one.
        store.put(&key(100), value_for(100, 3000)).await.unwrap();
        store.put(&key(0), value_for(1000, 500)).await.unwrap();
        assert!(parts_of(&store, &key(0)).is_none());
        store.close().await;
        drop(store);

        let store = DiskStore::open(cfg).await.unwrap();
        assert_eq!(store.stats().keys, sizes.len() as u64 + 1);
        assert_eq!(
            store.get(&key(0)).await.unwrap(),
            Some(value_for(1000, 500))
        );
        for (i, &len) in sizes.iter().enumerate().skip(1) {
            assert_eq!(
                store.get(&key(i as u64)).await.unwrap(),
                Some(value_for(i as u64, len as usize)),
                "{drives} drive(s), {len} bytes"
            );
        }
        assert_eq!(store.stats().corrupt_reads, 0);
        store.close().await;
    }
}

#[tokio::test]
async fn a_value_larger_than_the_usable_capacity_is_refused_with_no_space() {
    let dir = tempfile::tempdir().unwrap();
    // 2 drives x 15 extents of 64 KiB: 2 x 14 parts of 60 KiB can be striped, plus a tail in
    // the stripe record: an empty 64 KiB segment minus its header block, the summary (entry
    // of 32 + 12 + 28 x 24 bytes, one block, and the footer), the record header, the key (12
    // bytes) and the part list.
    let cfg = config(dir.path(), 2, MIB, 64 * KIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg).await.unwrap();
    let max = store.max_value_len(key(1).len());
    let tail = 64 * KIB - 4 * KIB - 8 * KIB - 48 - 12 - 28 * 24;
    assert_eq!(max, 2 * 14 * 60 * KIB + tail);
    store
        .put(&key(1), value_for(1, max as usize))
        .await
        .unwrap();
    assert_eq!(
        store.get(&key(1)).await.unwrap(),
        Some(value_for(1, max as usize))
    );
    let err = store
        .put(&key(2), value_for(2, max as usize + 1))
        .await
        .unwrap_err();
    match &err {
        StoreError::NoSpace { len, usable } => assert_eq!((*len, *usable), (max + 1, max)),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("too large for this store"),
        "{err}"
    );
    store.close().await;
}

#[tokio::test]
async fn parts_that_no_stripe_record_names_are_freed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 2 * MIB, 64 * KIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    store.put(b"small", value_for(1, 100)).await.unwrap();
    // What a crash between writing the parts and appending the stripe record leaves.
    let v = value_for(2, 200 * 1024);
    let k: Arc<[u8]> = Arc::from(&b"orphan"[..]);
    let mut parts = Vec::new();
    for i in 0..4u64 {
        let (extent, seg_seq) = lane::reserve_part(&store.inner, 0, &k).unwrap();
        parts.push(format::PartRef {
            drive: 0,
            extent,
            seg_seq,
            len: (60 * KIB).min(200 * KIB - i * 60 * KIB),
        });
    }
    stripe::write_parts(&store.inner, &v, &parts, None)
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.get(b"orphan").await.unwrap(), None);
    assert_eq!(store.stats().keys, 1);
    assert_eq!(store.get(b"small").await.unwrap(), Some(value_for(1, 100)));
    // Their extents are reclaimed (trimmed) and reused.
    for i in 0..60 {
        store.put(&key(i), value_for(i, 20_000)).await.unwrap();
    }
    let stats = store.stats();
    assert!(stats.trimmed_extents >= 4, "{stats:?}");
    assert_eq!(stats.evictions, 0, "{stats:?}");
    store.close().await;
}

#[tokio::test]
async fn a_missing_or_damaged_part_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 2, 2 * MIB, 64 * KIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let (a, b) = (value_for(1, 300 * 1024), value_for(2, 300 * 1024));
    store.put(b"a", a.clone()).await.unwrap();
    store.put(b"b", b.clone()).await.unwrap();
    store.put(b"c", value_for(3, 300 * 1024)).await.unwrap();
    let pa = parts_of(&store, b"a").unwrap();
    let pb = parts_of(&store, b"b").unwrap();
    let sb: Vec<_> = store.inner.drives.iter().map(|d| d.sb.clone()).collect();
    store.close().await;
    drop(store);
    let file_of = |p: &format::PartRef| {
        cfg.drives
            .iter()
            .find(|path| {
                let bytes = std::fs::read(path).unwrap();
                format::Superblock::decode(&bytes[..META_BLOCK as usize])
                    .unwrap()
                    .drive_index
                    == p.drive
            })
            .unwrap()
            .clone()
    };
    // "a": the last part's header is gone (as if its write never reached the drive).
    let last = pa.last().unwrap();
    let path = file_of(last);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = sb[last.drive as usize].extent_offset(last.extent) as usize;
    bytes[at..at + META_BLOCK as usize].fill(0);
    std::fs::write(&path, bytes).unwrap();
    // "b": one byte of the second part's data flipped.
    let second = pb[1];
    let path = file_of(&second);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = sb[second.drive as usize].extent_offset(second.extent) as usize;
    bytes[at + META_BLOCK as usize + 1000] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();

    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(
        store.stats().keys,
        2,
        "an incomplete value is dropped on start"
    );
    assert_eq!(store.get(b"a").await.unwrap(), None);
    assert_eq!(store.get(b"b").await.unwrap(), None);
    assert_eq!(store.stats().corrupt_reads, 1);
    assert_eq!(store.get(b"b").await.unwrap(), None);
    assert_eq!(store.stats().corrupt_reads, 1, "dropped, not re-read");
    assert_eq!(
        store.get(b"c").await.unwrap(),
        Some(value_for(3, 300 * 1024))
    );
    store.close().await;
}

#[tokio::test]
async fn evicting_one_part_evicts_the_whole_striped_value() {
    let dir = tempfile::tempdir().unwrap();
    // One drive of 15 extents of 64 KiB.
    let mut cfg = config(dir.path(), 1, MIB, 64 * KIB, SyncPolicy::None);
    cfg.cache_size = 0;
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let big = value_for(7, 250 * 1024); // 5 parts
    store.put(b"big", big.clone()).await.unwrap();
    assert_eq!(store.get(b"big").await.unwrap(), Some(big.clone()));
    let mut i = 0u64;
    while store.inner.shard(b"big").lock().contains_key(&b"big"[..]) {
        store.put(&key(i), value_for(i, 8 * 1024)).await.unwrap();
        i += 1;
        assert!(i < 1000, "the oldest segments are evicted");
    }
    assert_eq!(store.get(b"big").await.unwrap(), None);
    let stats = store.stats();
    assert!(stats.evictions >= 1, "{stats:?}");
    assert!(stats.used_bytes <= stats.usable_bytes);
    assert_eq!(stats.corrupt_reads, 0);
    // Its other parts were released too: what is live is only the small values.
    let live_small: u64 = (0..i)
        .filter(|&j| store.inner.shard(&key(j)).lock().contains_key(&key(j)[..]))
        .map(|j| RecordHeader::record_len(key(j).len(), 8 * 1024))
        .sum();
    assert_eq!(stats.used_bytes, live_small);
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.get(b"big").await.unwrap(), None);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_striped_puts_on_a_small_drive_all_complete() {
    let dir = tempfile::tempdir().unwrap();
    // 31 extents of 64 KiB; eight puts of 8-part values at once need more than that.
    let cfg = config(dir.path(), 1, 2 * MIB, 64 * KIB, SyncPolicy::Always);
    let store = Arc::new(DiskStore::open(cfg).await.unwrap());
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for round in 0..3u64 {
                    let v = value_for(t * 10 + round, 450 * 1024);
                    store.put(&key(t), v.clone()).await.unwrap();
                    if let Some(got) = store.get(&key(t)).await.unwrap() {
                        assert_eq!(got, v);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.corrupt_reads, 0);
    assert!(stats.used_bytes <= stats.usable_bytes);
    store.close().await;
}

#[tokio::test]
async fn each_drive_has_its_own_queue_depth() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 2, 4 * MIB, 64 * KIB, SyncPolicy::Always);
    cfg.queue_depth = 4;
    let store = DiskStore::open(cfg).await.unwrap();
    // 16 parts, 8 per drive, handed to the drives in one batch each.
    store
        .put(b"wide", value_for(1, 16 * 60 * 1024))
        .await
        .unwrap();
    let engines: Vec<_> = store.inner.drives.iter().map(|d| &d.engine).collect();
    let mut peaks = Vec::new();
    for e in &engines {
        assert_eq!(e.queue_depth(), 4);
        let m = e.metrics();
        assert!(m.writes.submitted >= 8, "{m:?}");
        assert!(m.in_flight_max <= 4, "{m:?}");
        peaks.push(m.in_flight_max);
    }
    if engines[0].kind() == memkv_ioengine::EngineKind::IoUring {
        // The ring thread moves a whole batch into the ring up to the queue depth before it
        // reaps anything, so each drive reaches its own full budget: 8 in flight in all.
        assert_eq!(peaks, vec![4, 4]);
    }
    assert_eq!(
        store.get(b"wide").await.unwrap(),
        Some(value_for(1, 16 * 60 * 1024))
    );
    store.close().await;
}

#[tokio::test]
async fn hot_values_survive_the_eviction_of_their_segment() {
    let dir = tempfile::tempdir().unwrap();
    // One drive of 15 extents of 64 KiB; a RAM cache that holds most values, of which only
    // the one read often is marked referenced.
    let mut cfg = config(dir.path(), 1, MIB, 64 * KIB, SyncPolicy::Always);
    cfg.cache_size = 4 * MIB;
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let hot = value_for(999, 4000);
    store.put(b"hot", hot.clone()).await.unwrap();
    let n = 600u64; // 600 x 8 KiB through a 0.9 MiB drive
    for i in 0..n {
        store.put(&key(i), value_for(i, 8 * 1024)).await.unwrap();
        if i % 4 == 0 {
            // Read often: CLOCK keeps it in the RAM cache, which makes it hot.
            assert_eq!(store.get(b"hot").await.unwrap(), Some(hot.clone()), "{i}");
        }
    }
    let stats = store.stats();
    assert!(stats.evictions > 300, "{stats:?}");
    let rewrites = store.inner.counters.hot_rewrites.load(Relaxed);
    assert!(
        rewrites >= 5,
        "the hot value moved with every eviction: {rewrites}"
    );
    assert_eq!(store.get(&key(0)).await.unwrap(), None, "cold values go");
    store.close().await;
    drop(store);
    // The rewritten record is on the drive: it survives a restart.
    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.get(b"hot").await.unwrap(), Some(hot));
    store.close().await;
}

#[tokio::test]
async fn eviction_makes_progress_when_every_value_is_hot() {
    let dir = tempfile::tempdir().unwrap();
    // The RAM cache is larger than the drive and every value is read once after its put, so
    // every value is hot.
    let mut cfg = config(dir.path(), 1, MIB, 64 * KIB, SyncPolicy::None);
    cfg.cache_size = 64 * MIB;
    let store = DiskStore::open(cfg).await.unwrap();
    let n = 400u64;
    for i in 0..n {
        store.put(&key(i), value_for(i, 8 * 1024)).await.unwrap();
        assert!(store.get(&key(i)).await.unwrap().is_some());
    }
    let stats = store.stats();
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.used_bytes <= stats.usable_bytes, "{stats:?}");
    assert!(store.inner.counters.hot_rewrites.load(Relaxed) > 0);
    assert_eq!(stats.keys + stats.evictions, n);
    assert_eq!(
        store.get(&key(n - 1)).await.unwrap(),
        Some(value_for(n - 1, 8 * 1024))
    );
    store.close().await;
}

#[tokio::test]
async fn a_4_mib_value_with_4_mib_extents_takes_one_part_extent_and_an_inline_tail() {
    for sync in [SyncPolicy::Always, SyncPolicy::None] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 1, 64 * MIB, 4 * MIB, sync);
        cfg.cache_size = 0; // every read goes to the drive
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        let v = value_for(4, 4 * MIB as usize);
        store.put(b"four", v.clone()).await.unwrap();
        // Read at once: with `sync: none` the stripe record may still be queued, and the
        // read waits for the flusher instead of missing.
        assert_eq!(
            store.get(b"four").await.unwrap(),
            Some(v.clone()),
            "{sync:?}"
        );
        let parts = parts_of(&store, b"four").unwrap();
        assert_eq!(parts.len(), 1, "{sync:?}");
        assert_eq!(parts[0].len, 4 * MIB - 4 * KIB);
        // One part extent (header block and data, exactly 4 MiB) and the stripe record with
        // its 4 KiB tail; nothing else is live.
        let record = RecordHeader::record_len(4, 24 + 4 * KIB);
        assert_eq!(store.stats().used_bytes, 4 * MIB + record, "{sync:?}");
        // Exactly two parts, no tail; and two parts and a tail.
        let exact = value_for(8, 2 * (4 * MIB - 4 * KIB) as usize);
        store.put(b"exact", exact.clone()).await.unwrap();
        assert_eq!(parts_of(&store, b"exact").unwrap().len(), 2);
        let nine = value_for(9, 9 * MIB as usize);
        store.put(b"nine", nine.clone()).await.unwrap();
        assert_eq!(parts_of(&store, b"nine").unwrap().len(), 2);
        store.close().await;
        drop(store);

        let store = DiskStore::open(cfg).await.unwrap();
        assert_eq!(store.stats().keys, 3);
        assert_eq!(store.get(b"four").await.unwrap(), Some(v), "{sync:?}");
        assert_eq!(store.get(b"exact").await.unwrap(), Some(exact));
        assert_eq!(store.get(b"nine").await.unwrap(), Some(nine));
        assert_eq!(parts_of(&store, b"four").unwrap().len(), 1);
        let stats = store.stats();
        assert_eq!((stats.corrupt_reads, stats.evictions), (0, 0), "{stats:?}");
        store.close().await;
    }
}

#[tokio::test]
async fn a_damaged_stripe_tail_is_a_counted_miss() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, 2 * MIB, 64 * KIB, SyncPolicy::Always);
    cfg.cache_size = 0;
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    // Two parts of 60 KiB and a 10 KiB tail.
    let v = value_for(5, 130 * 1024);
    store.put(b"tailed", v.clone()).await.unwrap();
    store.put(b"other", value_for(6, 130 * 1024)).await.unwrap();
    assert_eq!(parts_of(&store, b"tailed").unwrap().len(), 2);
    store.close().await;
    drop(store);
    // The tail is the value's last 10 KiB, in the stripe record: flip a byte of it.
    let tail = &v.data[120 * 1024..];
    let mut bytes = std::fs::read(&cfg.drives[0]).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &tail[..64])
        .expect("the tail is on disk");
    bytes[at + 5000] ^= 0x01;
    std::fs::write(&cfg.drives[0], bytes).unwrap();

    let store = DiskStore::open(cfg).await.unwrap();
    assert_eq!(store.get(b"tailed").await.unwrap(), None);
    assert_eq!(store.stats().corrupt_reads, 1);
    assert_eq!(
        store.get(b"other").await.unwrap(),
        Some(value_for(6, 130 * 1024))
    );
    store.close().await;
}

#[tokio::test]
async fn staged_puts_are_visible_at_once_in_order_and_durable_once_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 16 * MIB, MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    // Many staged puts, two versions of each key, none waited for yet: every later call sees
    // the newest version, as a pipelined connection's next request must.
    let mut pending = Vec::new();
    for version in 1..=2u64 {
        for i in 0..50u64 {
            let staged = store.put_staged(&key(i), value_for(i * 10 + version, 3000));
            let Staged::Stored(durable) = staged else {
                panic!("a small value is staged")
            };
            pending.push(durable.unwrap());
        }
    }
    for i in 0..50u64 {
        assert_eq!(
            store.get(&key(i)).await.unwrap(),
            Some(value_for(i * 10 + 2, 3000))
        );
    }
    for durable in pending {
        assert!(!durable.is_done(), "sync: always waits for the flush");
        durable.wait().await.unwrap();
    }
    // Values larger than one segment write their parts first: not staged, put instead.
    let large = value_for(99, 2 * MIB as usize);
    match store.put_staged(&key(99), large.clone()) {
        Staged::Unstaged(back) => assert!(back == large, "the value is handed back as it was"),
        Staged::Stored(_) => panic!("a value larger than one segment was staged"),
    }
    store.close().await;
    let store = DiskStore::open(cfg).await.unwrap();
    for i in 0..50u64 {
        assert_eq!(
            store.get(&key(i)).await.unwrap(),
            Some(value_for(i * 10 + 2, 3000)),
            "the newest version survives a restart"
        );
    }
    // A drive that fails before the flush: the wait reports it.
    store.inject_faults(0, FaultPlan::DEAD);
    let Staged::Stored(durable) = store.put_staged(&key(7), value_for(7, 3000)) else {
        panic!("a small value is staged")
    };
    let durable = durable.unwrap();
    assert!(durable.wait().await.is_err());
    store.inject_faults(0, FaultPlan::NONE);
}
