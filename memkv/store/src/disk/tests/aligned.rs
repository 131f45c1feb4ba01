//! Large values laid out on block boundaries (format version 3): a pad record goes ahead of
//! the record so that its value starts on a block boundary, and a value in a page-aligned
//! buffer is written from that buffer. Both layouts must read back, survive a restart (from a
//! segment summary and from the scan of an open segment) and pass `memkv drive check`. Striped
//! values are written from their buffers too, and a striped put syncs each drive once.

use bytes::Bytes;
use memkv_ioengine::AlignedBuf;

use super::super::format::{ALIGNED_VALUE_MIN, RECORD_HEADER_LEN};
use super::{MIB, config, key, value_for};
use crate::disk::{DiskStore, SyncPolicy};
use crate::{Store, Value};

/// Keys of every length from 1 to 13 bytes, so that the gaps differ.
fn odd_key(i: u64) -> Vec<u8> {
    let mut k = vec![b'k'; 1 + (i % 13) as usize];
    k[0] = b'a' + (i % 26) as u8;
    k.extend_from_slice(&i.to_le_bytes()[..1]);
    k
}

/// What goes under `odd_key(i)`: large values of odd lengths, every third one small; even ones
/// in a page-aligned buffer (written in place), odd ones in a plain `Vec` (copied).
fn odd_value(i: u64) -> Value {
    let len = if i % 3 == 2 {
        5000
    } else {
        ALIGNED_VALUE_MIN as usize + (i as usize * 4099) % 100_000
    };
    let v = value_for(i, len);
    if i.is_multiple_of(2) {
        let data = AlignedBuf::from_slice(&v.data).into_bytes();
        assert_eq!(data.as_ptr().addr() % 4096, 0);
        Value {
            data,
            crc: v.crc,
            digest: None,
        }
    } else {
        Value {
            data: Bytes::from(v.data.to_vec()),
            crc: v.crc,
            digest: None,
        }
    }
}

#[tokio::test]
async fn large_values_start_on_block_boundaries_and_survive_a_restart() {
    const N: u64 = 30;
    for sync in [SyncPolicy::Always, SyncPolicy::None] {
        let dir = tempfile::tempdir().unwrap();
        // 2 MiB extents: about six values each, so several segments are sealed (summaries)
        // and the last is open (scanned on start).
        let cfg = config(dir.path(), 1, 96 * MIB, 2 * MIB, sync);
        let store = DiskStore::open(cfg.clone()).await.unwrap();
        let align = store.inner.drives[0].align;
        for i in 0..N {
            store.put(&odd_key(i), odd_value(i)).await.unwrap();
        }
        for i in 0..N {
            let k = odd_key(i);
            let loc = store.inner.shard(&k).lock().get(&k[..]).cloned().unwrap();
            assert!(loc.parts.is_none(), "{i}: one segment holds it");
            let value_at = u64::from(loc.offset) + (RECORD_HEADER_LEN + k.len()) as u64;
            if loc.len >= ALIGNED_VALUE_MIN {
                assert_eq!(
                    value_at % align,
                    0,
                    "{i}: a large value starts on a block boundary ({sync:?})"
                );
            }
            assert_eq!(store.get(&k).await.unwrap(), Some(odd_value(i)), "{i}");
        }
        store.close().await;
        drop(store);

        let report = crate::disk::inspect::check_drive(&cfg.drives[0], false)
            .await
            .unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.corrupt_values, 0);
        assert_eq!(report.records, N, "pad records are not counted as records");
        assert!(report.sealed >= 2, "summaries were read: {report:?}");

        let store = DiskStore::open(cfg).await.unwrap();
        assert_eq!(store.stats().keys, N, "{sync:?}");
        for i in 0..N {
            assert_eq!(
                store.get(&odd_key(i)).await.unwrap(),
                Some(odd_value(i)),
                "{i} after a restart ({sync:?})"
            );
        }
        store.close().await;
    }
}

/// A striped value of `len` bytes for key `i`: in a page-aligned buffer (its parts' whole
/// blocks written from it) when `aligned`, else in a plain `Vec` (copied into part buffers).
fn striped_value(i: u64, len: usize, aligned: bool) -> Value {
    let v = value_for(i, len);
    let data = if aligned {
        AlignedBuf::from_slice(&v.data).into_bytes()
    } else {
        // One byte in, so that it is certainly not aligned.
        Bytes::from([&[0u8][..], &v.data[..]].concat()).slice(1..)
    };
    Value {
        data,
        crc: v.crc,
        digest: None,
    }
}

#[tokio::test]
async fn striped_values_in_aligned_buffers_are_written_from_them_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB extents on two drives: a part holds 1 MiB - 4 KiB.
    let cfg = config(dir.path(), 2, 64 * MIB, MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg.clone()).await.unwrap();
    let cap = (MIB - 4096) as usize;
    // Whole parts only; whole parts and an inline tail; a whole part and a shorter part that
    // ends inside a block.
    let lens = [2 * cap, 2 * cap + 100, cap + 700_001];
    let key_of = |j: usize, aligned: bool| key(j as u64 * 2 + u64::from(aligned));
    let writes = |store: &DiskStore| -> u64 {
        let drives = &store.inner.drives;
        drives
            .iter()
            .map(|d| d.engine.metrics().writes.submitted)
            .sum()
    };
    for (j, &len) in lens.iter().enumerate() {
        // The same value from a page-aligned buffer and from an unaligned one. With
        // `sync: always` a put returns once its stripe record is flushed, so the writes
        // between two puts are the put's own: its parts', then the record's.
        let mut submitted = Vec::new();
        for aligned in [true, false] {
            let k = key_of(j, aligned);
            let value = striped_value(j as u64, len, aligned);
            let before = writes(&store);
            store.put(&k, value.clone()).await.unwrap();
            submitted.push(writes(&store) - before);
            let loc = store.inner.shard(&k).lock().get(&k[..]).cloned().unwrap();
            assert!(loc.parts.is_some(), "{len} bytes are striped");
            assert_eq!(store.get(&k).await.unwrap(), Some(value), "{len}");
        }
        let k = key_of(j, true);
        let parts = store.inner.shard(&k).lock().get(&k[..]).cloned().unwrap();
        let parts = parts.parts.unwrap().len() as u64;
        // Unaligned: one write per part (header and copied bytes). Aligned: the header block
        // on its own, the whole blocks from the value's buffer, and a copied last block.
        assert!(
            submitted[0] >= submitted[1] + parts,
            "{len} bytes in {parts} parts: {} writes from an aligned buffer, {} from an unaligned one",
            submitted[0],
            submitted[1]
        );
    }
    store.close().await;
    drop(store);
    for d in &cfg.drives {
        let report = crate::disk::inspect::check_drive(d, false).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.corrupt_values, 0);
    }
    let store = DiskStore::open(cfg).await.unwrap();
    for aligned in [true, false] {
        for (j, &len) in lens.iter().enumerate() {
            let got = store.get(&key_of(j, aligned)).await.unwrap();
            assert_eq!(
                got,
                Some(striped_value(j as u64, len, aligned)),
                "{len} after a restart"
            );
        }
    }
}

#[tokio::test]
async fn a_striped_put_syncs_each_drive_once_its_record_drive_with_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 2, 64 * MIB, MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg).await.unwrap();
    let cap = (MIB - 4096) as usize;
    let syncs = |store: &DiskStore| -> Vec<u64> {
        let drives = &store.inner.drives;
        drives
            .iter()
            .map(|d| d.engine.metrics().syncs.completed)
            .collect()
    };
    // Warm up both lanes (their first records open segments).
    for i in 0..8 {
        store.put(&key(100 + i), value_for(i, 3000)).await.unwrap();
    }
    for (i, parts) in [(0u64, 1usize), (1, 2), (2, 1), (3, 2)] {
        let k = key(i);
        let before = syncs(&store);
        let value = striped_value(i, parts * cap + 100, true);
        store.put(&k, value.clone()).await.unwrap();
        let after = syncs(&store);
        let lane = store.inner.lane_for(&k).unwrap();
        // One sync on the record's drive (its group commit, which covers the parts there),
        // and one on the other drive only when a part went there.
        for d in 0..2 {
            let expected = u64::from(d == lane || parts == 2);
            assert_eq!(
                after[d] - before[d],
                expected,
                "value of {parts} parts, record on drive {lane}: syncs of drive {d}"
            );
        }
        assert_eq!(store.get(&k).await.unwrap(), Some(value));
    }
}
