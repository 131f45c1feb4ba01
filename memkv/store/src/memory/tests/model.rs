//! Property tests: random operation sequences against a `HashMap` model, without eviction
//! (the store must agree exactly) and under eviction pressure (the store may forget keys but
//! must never return anything but the latest value).

use std::collections::HashMap;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::{check_accounting, now, one_shard, store};
use crate::{MemoryStore, Store, Value, ValueMeta};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    Get(u8),
    Delete(u8),
    Stat(u8),
    Exists(Vec<u8>),
}

/// Key `i`: short (inline) and long (heap) keys, some sharing prefixes.
fn key(i: u8) -> Vec<u8> {
    match i % 4 {
        0 => vec![i],
        1 => format!("key/{i}").into_bytes(),
        2 => vec![i; 22],
        _ => [b"a-long-key-shared-prefix/".as_slice(), &[i; 40]].concat(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..12;
    prop_oneof![
        4 => (k.clone(), vec(any::<u8>(), 0..300)).prop_map(|(k, v)| Op::Put(k, v)),
        3 => k.clone().prop_map(Op::Get),
        2 => k.clone().prop_map(Op::Delete),
        1 => k.clone().prop_map(Op::Stat),
        1 => vec(k, 0..6).prop_map(Op::Exists),
    ]
}

fn value(v: &[u8]) -> Value {
    Value::checksummed(Bytes::copy_from_slice(v))
}

fn delete_everything(s: &MemoryStore) {
    for i in 0..12 {
        now(s.delete(&key(i))).unwrap();
    }
    let stats = s.stats();
    assert_eq!((stats.used_bytes, stats.keys), (0, 0), "{stats:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn agrees_with_a_hash_map_without_eviction(ops in vec(op(), 1..150)) {
        let s = store(1 << 30);
        let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    now(s.put(&key(k), value(&v))).unwrap();
                    model.insert(key(k), v);
                }
                Op::Get(k) => {
                    let got = now(s.get(&key(k))).unwrap();
                    prop_assert_eq!(got, model.get(&key(k)).map(|v| value(v)));
                }
                Op::Delete(k) => {
                    let existed = now(s.delete(&key(k))).unwrap();
                    prop_assert_eq!(existed, model.remove(&key(k)).is_some());
                }
                Op::Stat(k) => {
                    let meta = now(s.stat(&key(k))).unwrap();
                    let want = model.get(&key(k)).map(|v| ValueMeta {
                        len: v.len() as u64,
                        crc: crate::checksum::crc32c(v),
                    });
                    prop_assert_eq!(meta, want);
                }
                Op::Exists(ks) => {
                    let keys: Vec<Vec<u8>> = ks.iter().map(|&k| key(k)).collect();
                    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                    let got = now(s.exists(&refs)).unwrap();
                    let want: Vec<bool> = keys.iter().map(|k| model.contains_key(k)).collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
        let stats = s.stats();
        prop_assert_eq!(stats.keys, model.len() as u64);
        let charged: u64 = model.iter().map(|(k, v)| super::charge(k.len(), v.len())).sum();
        prop_assert_eq!(stats.used_bytes, charged);
        prop_assert_eq!(stats.evictions, 0);
        check_accounting(&s);
        delete_everything(&s);
        check_accounting(&s);
    }

    #[test]
    fn never_serves_a_stale_value_under_eviction(
        ops in vec(op(), 1..300),
        one in any::<bool>(),
    ) {
        // Room for roughly four average entries, so most puts evict.
        let max_size = 4 * super::charge(20, 150);
        let s = if one { one_shard(max_size) } else { store(max_size) };
        let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    now(s.put(&key(k), value(&v))).unwrap();
                    model.insert(key(k), v);
                }
                Op::Get(k) => {
                    if let Some(got) = now(s.get(&key(k))).unwrap() {
                        prop_assert_eq!(Some(got), model.get(&key(k)).map(|v| value(v)));
                    }
                }
                Op::Delete(k) => {
                    let existed = now(s.delete(&key(k))).unwrap();
                    let modelled = model.remove(&key(k)).is_some();
                    prop_assert!(!existed || modelled, "deleted a key that was never stored");
                }
                Op::Stat(k) => {
                    if let Some(meta) = now(s.stat(&key(k))).unwrap() {
                        let v = model.get(&key(k));
                        prop_assert_eq!(Some(meta), v.map(|v| value(v).meta()));
                    }
                }
                Op::Exists(ks) => {
                    let keys: Vec<Vec<u8>> = ks.iter().map(|&k| key(k)).collect();
                    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                    for (k, found) in keys.iter().zip(now(s.exists(&refs)).unwrap()) {
                        prop_assert!(!found || model.contains_key(k));
                    }
                }
            }
            let stats = s.stats();
            prop_assert!(stats.used_bytes <= max_size, "{:?}", stats);
        }
        check_accounting(&s);
        delete_everything(&s);
        check_accounting(&s);
    }
}
