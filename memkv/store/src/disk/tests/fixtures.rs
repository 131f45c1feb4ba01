//! The committed format fixtures: drive images written by earlier format versions still load
//! (and version 1 is upgraded in place). Images of older versions were written by the build of
//! that version and are never regenerated; those of the current version are rewritten with
//! `MEMKV_UPDATE_FIXTURES=1`.

use std::path::{Path, PathBuf};

use super::*;

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

/// The format version in the superblock of the drive image at `path`.
fn format_version_of(path: &Path) -> u32 {
    let head = std::fs::read(path).unwrap();
    format::Superblock::decode(&head[..META_BLOCK as usize])
        .unwrap()
        .version
}

/// Loads the committed fixture images of format `version` (copies in `dir`), checks their
/// superblocks say `version`, and opens them.
async fn open_fixture(cfg: &DiskStoreConfig, version: u32) -> DiskStore {
    for (i, p) in cfg.drives.iter().enumerate() {
        std::fs::copy(fixture(&format!("v{version}-drive{i}.img")), p).unwrap();
        assert_eq!(format_version_of(p), version);
    }
    DiskStore::open(cfg.clone()).await.unwrap()
}

async fn check_fixture_content(store: &DiskStore) {
    for i in 0..40 {
        let want = match i {
            3 => Some(value_for(333, 77)),
            4 => None,
            _ => Some(value_for(i, 1000 + 97 * i as usize)),
        };
        assert_eq!(store.get(&key(i)).await.unwrap(), want, "key {i}");
    }
}

/// The v2 fixture's striped value: 150 KiB, two full parts of 60 KiB (one per drive) and a
/// 30 KiB tail in its stripe record.
fn fixture_big_value() -> Value {
    value_for(4242, 150 * 1024)
}

fn fixture_config(dir: &Path) -> DiskStoreConfig {
    // 64 KiB extents, 512 KiB files, two drives: sealed and open segments on disk.
    config(dir, 2, 512 * KIB, 64 * KIB, SyncPolicy::Always)
}

#[tokio::test]
async fn format_version_1_fixtures_still_load_and_are_upgraded() {
    // Version 1 images were written by the version 1 build and are never regenerated.
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture_config(dir.path());
    let store = open_fixture(&cfg, 1).await;
    assert_eq!(store.stats().keys, 39);
    check_fixture_content(&store).await;
    // This build writes structures of its own version from now on, and says so in the
    // superblocks.
    store
        .put(b"big", fixture_big_value())
        .await
        .expect("a striped value on an upgraded drive");
    store.close().await;
    drop(store);
    for p in &cfg.drives {
        assert_eq!(format_version_of(p), FORMAT_VERSION);
    }
    let store = DiskStore::open(cfg).await.unwrap();
    check_fixture_content(&store).await;
    assert_eq!(store.get(b"big").await.unwrap(), Some(fixture_big_value()));
    store.close().await;
}

#[tokio::test]
async fn format_version_2_fixtures_still_load() {
    // Written by the version 2 build; never regenerated.
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture_config(dir.path());
    let store = open_fixture(&cfg, 2).await;
    assert_eq!(store.stats().keys, 40);
    check_fixture_content(&store).await;
    assert_eq!(store.get(b"big").await.unwrap(), Some(fixture_big_value()));
    let parts = parts_of(&store, b"big").unwrap();
    assert_eq!(
        parts.iter().map(|p| p.len).collect::<Vec<_>>(),
        [60 * KIB; 2]
    );
    store.close().await;
}

/// The v3 fixture's large inline values (a pad record ahead of each), put last: the second
/// one is in the open segment.
fn fixture_aligned_values() -> [(&'static [u8], Value); 2] {
    [
        (b"aligned-1", value_for(31, 300 * 1024 + 5)),
        (b"aligned-22", value_for(32, 280 * 1024 + 3)),
    ]
}

#[tokio::test]
async fn format_version_3_fixtures_still_load() {
    let dir = tempfile::tempdir().unwrap();
    // One drive of 2 MiB with 512 KiB extents, room for values laid out with a pad record.
    let cfg = config(dir.path(), 1, 2 * MIB, 512 * KIB, SyncPolicy::Always);
    if std::env::var_os("MEMKV_UPDATE_FIXTURES").is_some() {
        assert_eq!(
            FORMAT_VERSION, 3,
            "write fixtures of the current version only"
        );
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        fill_fixture(&store).await;
        for (k, v) in fixture_aligned_values() {
            store.put(k, v).await.unwrap();
        }
        store.close().await;
        drop(store);
        std::fs::copy(&cfg.drives[0], fixture("v3-drive0.img")).unwrap();
    }
    // As written: the pad records are in the summary's sealed segment and in the open one
    // that a start scans.
    std::fs::copy(fixture("v3-drive0.img"), &cfg.drives[0]).unwrap();
    let report = inspect::check_drive(&cfg.drives[0], false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report.sealed >= 1 && report.segments == report.sealed + 1,
        "sealed segments and the open one (holding the last value): {report:?}"
    );
    let store = open_fixture(&cfg, 3).await;
    assert_eq!(store.stats().keys, 41);
    check_fixture_content(&store).await;
    for (k, v) in fixture_aligned_values() {
        assert_eq!(store.get(k).await.unwrap(), Some(v));
        let loc = store.inner.shard(k).lock().get(k).cloned().unwrap();
        assert_eq!(
            (u64::from(loc.offset) + (format::RECORD_HEADER_LEN + k.len()) as u64) % 4096,
            0,
            "the value starts on a block boundary"
        );
    }
    store.close().await;
}
