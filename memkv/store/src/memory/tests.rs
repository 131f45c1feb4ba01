//! Tests of the memory engine: operations, eviction, accounting and integrity. Concurrency
//! tests are in `tests/stress.rs`, model-based property tests in `tests/model.rs`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use foldhash::fast::SeedableRandomState;

use super::shard::DIGEST_MIN_LEN;
use super::{ENTRY_OVERHEAD, MemoryStore, MemoryStoreConfig, charge};
use crate::{AnyStore, Store, StoreConfig, StoreError, Value, ValueMeta};

mod model;
mod stress;

/// Runs a memory-engine future to completion. Its futures never suspend, so one poll must
/// finish them; a `Pending` here is itself a bug.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a memory-engine future suspended"),
    }
}

fn store(max_size: u64) -> MemoryStore {
    MemoryStore::new(MemoryStoreConfig { max_size })
}

/// A single-shard store: eviction follows one CLOCK queue, in a predictable order.
fn one_shard(max_size: u64) -> MemoryStore {
    MemoryStore::with_layout(
        MemoryStoreConfig { max_size },
        1,
        SeedableRandomState::fixed(),
    )
}

fn val(data: &[u8]) -> Value {
    Value::checksummed(Bytes::copy_from_slice(data))
}

fn put(s: &MemoryStore, key: &[u8], data: &[u8]) {
    now(s.put(key, val(data))).expect("put");
}

fn get(s: &MemoryStore, key: &[u8]) -> Option<Value> {
    now(s.get(key)).expect("get")
}

fn present(s: &MemoryStore, key: &[u8]) -> bool {
    now(s.exists(&[key])).expect("exists")[0]
}

/// Checks every shard's invariants and that the counters match what the shards hold.
/// Only meaningful when no operation is in flight.
fn check_accounting(s: &MemoryStore) {
    let (mut keys, mut charged) = (0, 0);
    for shard in s.shards.iter() {
        let (k, c) = shard.0.lock().check_invariants();
        keys += k;
        charged += c;
    }
    let stats = s.stats();
    assert_eq!(stats.keys, keys, "keys counter vs shard contents");
    assert_eq!(stats.used_bytes, charged, "used_bytes vs shard contents");
    assert!(
        stats.used_bytes <= stats.usable_bytes,
        "used above capacity: {stats:?}"
    );
}

#[test]
fn round_trip() {
    let s = store(1 << 20);
    put(&s, b"alpha", b"first value");
    let v = get(&s, b"alpha").expect("stored key is found");
    assert_eq!(v.data, &b"first value"[..]);
    assert_eq!(v.crc, crate::checksum::crc32c(b"first value"));
    assert_eq!(get(&s, b"beta"), None);

    // An empty value and an empty key are values like any other.
    put(&s, b"", b"");
    assert_eq!(get(&s, b"").expect("empty key").data, Bytes::new());

    let stats = s.stats();
    assert_eq!(stats.keys, 2);
    assert_eq!(stats.used_bytes, charge(5, 11) + charge(0, 0));
    check_accounting(&s);
}

#[test]
fn long_keys_round_trip() {
    let s = store(1 << 20);
    let keys: Vec<Vec<u8>> = [21, 22, 23, 100, crate::MAX_KEY_LEN]
        .iter()
        .map(|&n| vec![b'k'; n])
        .collect();
    for (i, k) in keys.iter().enumerate() {
        put(&s, k, &[i as u8; 10]);
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(get(&s, k).expect("long key found").data, &[i as u8; 10][..]);
    }
    check_accounting(&s);
}

#[test]
fn overwrite_replaces_value_and_charge() {
    let s = store(1 << 20);
    put(&s, b"k", &[1; 100]);
    put(&s, b"k", &[2; 40]);
    let v = get(&s, b"k").expect("overwritten key is found");
    assert_eq!(v, val(&[2; 40]));
    let stats = s.stats();
    assert_eq!(stats.keys, 1);
    assert_eq!(stats.used_bytes, charge(1, 40));
    check_accounting(&s);
}

#[test]
fn delete_reports_whether_the_key_existed() {
    let s = store(1 << 20);
    put(&s, b"k", b"v");
    assert!(now(s.delete(b"k")).unwrap());
    assert!(!now(s.delete(b"k")).unwrap());
    assert!(!now(s.delete(b"never")).unwrap());
    assert_eq!(get(&s, b"k"), None);
    assert_eq!(s.stats().keys, 0);
    assert_eq!(s.stats().used_bytes, 0);
    check_accounting(&s);
}

#[test]
fn stat_reports_length_and_crc() {
    let s = store(1 << 20);
    put(&s, b"k", &[7; 1234]);
    let meta = now(s.stat(b"k")).unwrap();
    assert_eq!(
        meta,
        Some(ValueMeta {
            len: 1234,
            crc: crate::checksum::crc32c(&[7; 1234])
        })
    );
    assert_eq!(now(s.stat(b"missing")).unwrap(), None);
}

#[test]
fn exists_answers_in_request_order() {
    let s = store(1 << 20);
    put(&s, b"a", b"1");
    put(&s, b"c", b"3");
    let keys: [&[u8]; 5] = [b"c", b"b", b"a", b"c", b"zz"];
    assert_eq!(
        now(s.exists(&keys)).unwrap(),
        vec![true, false, true, true, false]
    );
    assert_eq!(now(s.exists(&[])).unwrap(), Vec::<bool>::new());
}

#[test]
fn stats_describe_a_memory_engine() {
    let s = store(12_345);
    let stats = s.stats();
    assert_eq!(stats.engine, "memory");
    assert_eq!((stats.raw_bytes, stats.usable_bytes), (12_345, 12_345));
    assert_eq!(
        (
            stats.drives_online,
            stats.drives_offline,
            stats.drives_total
        ),
        (0, 0, 0)
    );
}

#[test]
fn eviction_keeps_used_within_capacity_and_counts() {
    // Every entry has the same charge; the store holds exactly 10 of them.
    let cost = charge(8, 1000);
    let s = store(10 * cost);
    for i in 0..25u64 {
        put(&s, &i.to_be_bytes(), &[i as u8; 1000]);
        let stats = s.stats();
        assert!(
            stats.used_bytes <= stats.usable_bytes,
            "after put {i}: {stats:?}"
        );
    }
    let stats = s.stats();
    assert_eq!(stats.keys, 10);
    assert_eq!(stats.used_bytes, 10 * cost);
    assert_eq!(stats.evictions, 15);
    assert_eq!(stats.evicted_bytes, 15 * 1000);
    // The newest key always survives: it was inserted after the last eviction.
    assert_eq!(get(&s, &24u64.to_be_bytes()), Some(val(&[24; 1000])));
    check_accounting(&s);
}

#[test]
fn clock_gives_a_read_key_exactly_one_second_chance() {
    let cost = charge(2, 100);
    let s = one_shard(4 * cost);
    for k in [b"k0", b"k1", b"k2", b"k3"] {
        put(&s, k, &[0; 100]);
    }
    assert!(get(&s, b"k0").is_some());

    // k0 is the oldest, but it was read: the hand spares it and takes k1.
    put(&s, b"k4", &[0; 100]);
    assert!(present(&s, b"k0"));
    assert!(!present(&s, b"k1"));
    // Then the rest of the first generation, in insertion order.
    put(&s, b"k5", &[0; 100]);
    assert!(!present(&s, b"k2"));
    put(&s, b"k6", &[0; 100]);
    assert!(!present(&s, b"k3"));
    assert!(present(&s, b"k0"));
    // k0 was not read again after its reprieve: it is the next victim.
    put(&s, b"k7", &[0; 100]);
    assert!(!present(&s, b"k0"));
    for k in [b"k4", b"k5", b"k6", b"k7"] {
        assert!(present(&s, k));
    }
    assert_eq!(s.stats().evictions, 4);
    check_accounting(&s);
}

#[test]
fn probes_do_not_protect_a_key_from_eviction() {
    let cost = charge(2, 10);
    let s = one_shard(2 * cost);
    put(&s, b"k0", &[0; 10]);
    put(&s, b"k1", &[0; 10]);
    assert!(now(s.stat(b"k0")).unwrap().is_some());
    assert!(present(&s, b"k0"));
    put(&s, b"k2", &[0; 10]);
    assert!(!present(&s, b"k0"), "stat/exists must not count as use");
    assert!(present(&s, b"k1"));
}

#[test]
fn overwrite_counts_as_use_and_keeps_one_queue_entry() {
    let cost = charge(2, 10);
    let s = one_shard(3 * cost);
    for k in [b"k0", b"k1", b"k2"] {
        put(&s, k, &[0; 10]);
    }
    // The store is full, but a same-size overwrite adds nothing: no eviction.
    put(&s, b"k0", &[1; 10]);
    assert_eq!(s.stats().evictions, 0);
    check_accounting(&s);
    // k0 is the oldest entry, but the rewrite marked it used: k1 goes first.
    put(&s, b"k3", &[0; 10]);
    assert!(!present(&s, b"k1"));
    assert_eq!(get(&s, b"k0"), Some(val(&[1; 10])));
    assert_eq!(s.stats().evictions, 1);
    check_accounting(&s);
}

#[test]
fn growing_a_value_in_a_full_store_evicts_only_for_the_growth() {
    let s = one_shard(charge(2, 100) + charge(2, 10) + charge(2, 50));
    put(&s, b"k0", &[0; 100]);
    put(&s, b"k1", &[0; 10]);
    put(&s, b"k2", &[0; 50]);
    // Shrinking k0 frees capacity; growing k2 into it then needs no eviction.
    put(&s, b"k0", &[1; 10]);
    put(&s, b"k2", &[2; 140]);
    assert_eq!(s.stats().evictions, 0);
    assert_eq!(s.stats().used_bytes, s.stats().usable_bytes);
    // Growing k1 in the full store takes the slow path, which makes room for the whole new
    // entry: the hand spares the rewritten k0 and k2 once, evicts the unread k1 itself, then
    // k0; the new k1 is stored afresh. (The documented cost of growing in a full store.)
    put(&s, b"k1", &[3; 20]);
    assert_eq!(s.stats().evictions, 2);
    assert_eq!(get(&s, b"k1"), Some(val(&[3; 20])));
    assert_eq!(get(&s, b"k2"), Some(val(&[2; 140])));
    assert!(!present(&s, b"k0"));
    check_accounting(&s);
}

#[test]
fn read_keys_survive_eviction_pressure_across_shards() {
    // 64 shards with a fixed hash seed: deterministic. 4096 equal entries fill the store;
    // every 4th is read; 400 new keys then force 400 evictions, about 6 per shard, while each
    // shard holds about 48 unread old keys. CLOCK must take only unread ones.
    let cost = charge(8, 64);
    let s = MemoryStore::with_layout(
        MemoryStoreConfig {
            max_size: 4096 * cost,
        },
        64,
        SeedableRandomState::fixed(),
    );
    for i in 0..4096u64 {
        put(&s, &i.to_be_bytes(), &[1; 64]);
    }
    for i in (0..4096u64).step_by(4) {
        assert!(get(&s, &i.to_be_bytes()).is_some());
    }
    for i in 4096..4496u64 {
        put(&s, &i.to_be_bytes(), &[2; 64]);
    }
    assert_eq!(s.stats().evictions, 400);
    for i in (0..4096u64).step_by(4) {
        assert!(present(&s, &i.to_be_bytes()), "read key {i} was evicted");
    }
    let cold_evicted = (0..4096u64)
        .filter(|i| !present(&s, &i.to_be_bytes()))
        .count();
    assert_eq!(cold_evicted, 400);
    check_accounting(&s);
}

#[test]
fn too_large_value_is_no_space_and_changes_nothing() {
    let s = store(1000);
    put(&s, b"key", b"small");
    let before = s.stats();
    let usable = 1000 - ENTRY_OVERHEAD - 3;

    let err = now(s.put(b"key", val(&vec![0; usable as usize + 1]))).unwrap_err();
    assert!(
        matches!(err, StoreError::NoSpace { len, usable: u } if len == usable + 1 && u == usable),
        "{err:?}"
    );
    assert_eq!(s.stats(), before);
    assert_eq!(get(&s, b"key"), Some(val(b"small")));

    // The largest value that can ever fit does fit, replacing everything else.
    now(s.put(b"key", val(&vec![0; usable as usize]))).expect("a value of exactly usable bytes");
    assert_eq!(s.stats().used_bytes, 1000);

    // A store smaller than one entry's overhead holds nothing.
    let tiny = store(ENTRY_OVERHEAD - 1);
    let err = now(tiny.put(b"", val(b""))).unwrap_err();
    assert!(
        matches!(err, StoreError::NoSpace { len: 0, usable: 0 }),
        "{err:?}"
    );
}

#[test]
fn accounting_returns_to_zero_after_churn() {
    let s = store(64 * 1024);
    let mut written = std::collections::BTreeSet::new();
    for round in 0..4u32 {
        for i in 0..500u32 {
            let key = format!("key-{}-{}", i % 300, "x".repeat((i % 40) as usize));
            let len = ((i * 37 + round * 11) % 700) as usize;
            put(&s, key.as_bytes(), &vec![round as u8; len]);
            written.insert(key);
            if i % 7 == 0 {
                now(s.delete(format!("key-{}-", (i + 3) % 300).as_bytes())).unwrap();
            }
        }
        check_accounting(&s);
    }
    assert!(
        s.stats().evictions > 0,
        "the churn should have needed eviction"
    );
    for key in &written {
        now(s.delete(key.as_bytes())).unwrap();
    }
    let stats = s.stats();
    assert_eq!((stats.used_bytes, stats.keys), (0, 0), "{stats:?}");
    check_accounting(&s);
}

#[test]
fn deleting_many_keys_compacts_the_queue_and_reuses_slots() {
    let s = one_shard(1 << 30);
    let mut chunks = Vec::new();
    for round in 0..5u8 {
        for i in 0..1000u32 {
            put(&s, &i.to_be_bytes(), &[round]);
        }
        for i in 0..1000u32 {
            assert!(now(s.delete(&i.to_be_bytes())).unwrap());
        }
        check_accounting(&s);
        chunks.push(s.shards[0].0.lock().slot_chunks());
    }
    // Slots are recycled, not grown per round: 1000 keys fit in 4 or 5 chunks of 256 slots
    // (a few dead slots may wait in the queue between compactions).
    assert!(chunks[1] <= 5, "{chunks:?}");
    assert_eq!(
        chunks[1], chunks[4],
        "slab grew across identical rounds: {chunks:?}"
    );
    assert_eq!(s.stats().used_bytes, 0);
}

#[test]
fn corrupted_value_is_dropped_counted_and_missed() {
    let s = store(1 << 20);
    put(&s, b"victim", &[9; 4096]);
    put(&s, b"empty", b"");
    put(&s, b"bystander", b"fine");
    assert!(s.corrupt_for_test(b"victim"));
    assert!(s.corrupt_for_test(b"empty"));
    assert!(!s.corrupt_for_test(b"absent"));

    assert_eq!(get(&s, b"victim"), None);
    assert_eq!(get(&s, b"empty"), None);
    let stats = s.stats();
    assert_eq!(stats.corrupt_reads, 2);
    // Dropped, not kept: the key is gone and its capacity released.
    assert_eq!(stats.keys, 1);
    assert_eq!(stats.used_bytes, charge(9, 4));
    assert!(!present(&s, b"victim"));
    assert_eq!(get(&s, b"victim"), None);
    assert_eq!(
        s.stats().corrupt_reads,
        2,
        "a dropped value is a plain miss afterwards"
    );
    assert_eq!(get(&s, b"bystander"), Some(val(b"fine")));
    check_accounting(&s);
}

#[test]
fn unchecked_gets_leave_the_check_to_the_reader_and_a_checked_get_drops_damage() {
    let s = store(1 << 20);
    put(&s, b"victim", &[9; 4096]);
    assert!(s.corrupt_for_test(b"victim"));
    // Handed out as it is; nothing is counted yet.
    let fetched = now(s.get_unchecked(b"victim")).unwrap().unwrap();
    assert_ne!(crate::checksum::crc32c(&fetched.data), fetched.crc);
    assert_eq!(s.stats().corrupt_reads, 0);
    // The reader found the mismatch and asked for a checked get (what the server does on
    // `ReportDamaged`): dropped, counted, a miss from now on.
    assert_eq!(now(s.get(b"victim")).unwrap(), None);
    assert_eq!(s.stats().corrupt_reads, 1);
    assert!(!present(&s, b"victim"));
    assert!(now(s.get_unchecked(b"victim")).unwrap().is_none());
    check_accounting(&s);
}

#[test]
fn damage_found_by_a_reader_spares_a_value_written_since() {
    let s = one_shard(1 << 20);
    put(&s, b"k", b"old");
    let (hash, shard) = s.locate(b"k");
    let (seen, crc, _) = shard.lock().get(hash, b"k").unwrap();
    put(&s, b"k", b"new");
    // The reader now decides `seen` was damaged; the newer value must stay.
    assert!(
        shard
            .lock()
            .remove_if_unchanged(hash, b"k", &seen, crc)
            .is_none()
    );
    assert_eq!(get(&s, b"k"), Some(val(b"new")));
    check_accounting(&s);
}

#[test]
fn any_store_opens_the_memory_engine() {
    let s = now(AnyStore::open(StoreConfig::Memory(MemoryStoreConfig {
        max_size: 1 << 20,
    })))
    .unwrap();
    now(s.put(b"k", val(b"v"))).unwrap();
    assert_eq!(now(s.get(b"k")).unwrap(), Some(val(b"v")));
    assert_eq!(now(s.stat(b"k")).unwrap(), Some(val(b"v").meta()));
    assert_eq!(now(s.exists(&[b"k", b"x"])).unwrap(), vec![true, false]);
    assert!(now(s.delete(b"k")).unwrap());
    assert_eq!(s.stats().engine, "memory");
}

#[test]
fn futures_run_on_a_multi_threaded_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let s = std::sync::Arc::new(store(1 << 20));
    rt.block_on(async {
        let tasks: Vec<_> = (0..8u8)
            .map(|t| {
                let s = s.clone();
                tokio::spawn(async move {
                    let key = [b't', t];
                    s.put(&key, val(&[t; 100])).await.unwrap();
                    s.get(&key).await.unwrap()
                })
            })
            .collect();
        for (t, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Some(val(&[t as u8; 100])));
        }
    });
    assert_eq!(s.stats().keys, 8);
}

/// A value of 64 KiB or more keeps the digest it came with, and only that value: overwritten
/// without one, deleted, or evicted, its slot's next value has none; shorter values keep none.
#[test]
fn long_values_keep_their_digest_until_they_are_replaced_deleted_or_evicted() {
    let with = |data: Vec<u8>, d: u8| Value {
        digest: Some([d; 16]),
        ..Value::checksummed(Bytes::from(data))
    };
    let digest = |s: &MemoryStore, key: &[u8]| now(s.get_unchecked(key)).unwrap().unwrap().digest;
    let long = vec![1u8; DIGEST_MIN_LEN];
    let s = one_shard(5 * charge(1, DIGEST_MIN_LEN));
    now(s.put(b"a", with(long.clone(), 1))).unwrap();
    now(s.put(b"b", with(vec![2u8; DIGEST_MIN_LEN - 1], 2))).unwrap();
    assert_eq!(digest(&s, b"a"), Some([1; 16]));
    assert_eq!(digest(&s, b"b"), None, "shorter than 64 KiB: not kept");
    now(s.put(b"a", with(long.clone(), 3))).unwrap();
    assert_eq!(digest(&s, b"a"), Some([3; 16]), "overwritten with another");
    put(&s, b"a", &long);
    assert_eq!(digest(&s, b"a"), None, "overwritten without one");
    now(s.put(b"a", with(long.clone(), 4))).unwrap();
    assert!(now(s.delete(b"a")).unwrap());
    check_accounting(&s);
    put(&s, b"c", &long);
    assert_eq!(digest(&s, b"c"), None, "a reused slot has no digest");
    // Fill the store with digests until the first entries are evicted.
    for i in 0..20u8 {
        now(s.put(&[b'k', i], with(long.clone(), i))).unwrap();
        check_accounting(&s);
    }
    // Evicted entries took their digests along (`check_accounting` checks that every kept
    // digest belongs to a live value); those left have their own.
    let mut left = 0;
    for i in 0..20u8 {
        if let Some(v) = now(s.get_unchecked(&[b'k', i])).unwrap() {
            assert_eq!(v.digest, Some([i; 16]), "{i}");
            left += 1;
        }
    }
    assert!(left > 0 && left < 20, "{left}");
}
