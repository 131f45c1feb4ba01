//! Concurrency tests: threads overwriting, reading and deleting the same keys at once, with
//! and without eviction pressure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use bytes::Bytes;

use super::{check_accounting, now, store};
use crate::{MemoryStore, Store, Value};

const WRITERS: u8 = 4;
const READERS: usize = 3;
const PUTS_PER_WRITER: usize = 20_000;

/// Writer `w`'s value for its `n`th put: every byte is the writer's tag, and the length is
/// one the writer alone produces, so a value mixing two puts cannot pass [`check`].
fn pattern(w: u8, n: usize) -> Value {
    let len = 64 + usize::from(w) * 131 + (n % 5) * 977;
    Value::checksummed(Bytes::from(vec![b'A' + w; len]))
}

/// Asserts that `v` is, byte for byte, one of the values [`pattern`] produces.
fn check(v: &Value) {
    assert!(
        v.is_intact(),
        "served a value whose CRC does not match: {v:?}"
    );
    let tag = v.data[0];
    assert!((b'A'..b'A' + WRITERS).contains(&tag), "unknown tag {tag}");
    assert!(
        v.data.iter().all(|&b| b == tag),
        "value mixes writers: {v:?}"
    );
    let rest = v.data.len() - 64 - usize::from(tag - b'A') * 131;
    assert!(
        rest.is_multiple_of(977) && rest / 977 < 5,
        "length {} is not writer {tag}'s",
        v.data.len()
    );
}

/// Runs writers, readers and one deleter over `keys` keys until every writer is done. The
/// deleter only touches the upper half of the keys, so without eviction the lower half is
/// certain to be found by each reader's final pass.
fn hammer(s: &MemoryStore, keys: u64, evicting: bool) {
    let finished = AtomicUsize::new(0);
    let all_done = || finished.load(Ordering::Acquire) == usize::from(WRITERS);
    thread::scope(|scope| {
        for w in 0..WRITERS {
            let finished = &finished;
            scope.spawn(move || {
                for n in 0..PUTS_PER_WRITER {
                    let key = (n as u64 * 7 + u64::from(w)) % keys;
                    now(s.put(&key.to_be_bytes(), pattern(w, n))).expect("put under contention");
                    let stats = s.stats();
                    assert!(
                        stats.used_bytes <= stats.usable_bytes,
                        "over capacity: {stats:?}"
                    );
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        for r in 0..READERS {
            scope.spawn(move || {
                let mut read = |key: u64| match now(s.get(&key.to_be_bytes())).expect("get") {
                    Some(v) => {
                        check(&v);
                        1
                    }
                    None => 0,
                };
                let mut n = r as u64;
                while !all_done() {
                    read(n % keys);
                    n += 1;
                }
                let hits: u64 = (0..keys).map(&mut read).sum();
                assert!(
                    evicting || hits >= keys / 2,
                    "reader {r} found {hits} of {keys} keys"
                );
            });
        }
        scope.spawn(move || {
            let mut n = 0u64;
            while !all_done() {
                now(s.delete(&(keys / 2 + n % (keys / 2)).to_be_bytes())).expect("delete");
                n += 5;
            }
        });
    });
}

#[test]
fn concurrent_overwrites_never_expose_a_mixed_value() {
    let s = store(64 << 20);
    hammer(&s, 16, false);
    let stats = s.stats();
    assert_eq!(
        stats.corrupt_reads, 0,
        "a reader saw bytes that fail their own CRC"
    );
    assert_eq!(stats.evictions, 0);
    check_accounting(&s);
    for key in 0..16u64 {
        if let Some(v) = now(s.get(&key.to_be_bytes())).unwrap() {
            check(&v);
        }
    }
}

#[test]
fn concurrent_puts_under_eviction_pressure_keep_accounting_exact() {
    // 64 keys of up to ~4.4 KiB each against 40 KiB: most puts evict.
    let s = store(40 * 1024);
    hammer(&s, 64, true);
    let stats = s.stats();
    assert!(stats.evictions > 1000, "expected heavy eviction: {stats:?}");
    assert_eq!(stats.corrupt_reads, 0);
    check_accounting(&s);
    for key in 0..64u64 {
        now(s.delete(&key.to_be_bytes())).unwrap();
    }
    let stats = s.stats();
    assert_eq!((stats.used_bytes, stats.keys), (0, 0), "{stats:?}");
    check_accounting(&s);
}
