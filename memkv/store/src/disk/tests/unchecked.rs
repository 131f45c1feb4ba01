//! Gets that do not check the value's CRC32C (`Store::get_unchecked`, the server's gets: the
//! client checks every value and reports damage): a value damaged on a drive is served as it
//! is, and the checked get that the client's report triggers drops it and counts it once,
//! whether the damage is on the drive or only in the RAM cache.

use super::{MIB, config, value_for, with_a_damaged_value};
use crate::Store;
use crate::disk::{DiskStore, SyncPolicy};

#[tokio::test]
async fn damage_on_a_drive_is_served_unchecked_then_dropped_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = with_a_damaged_value(dir.path()).await;
    let v = value_for(42, 3000);
    let store = DiskStore::open(cfg).await.unwrap();
    let served = store.get_unchecked(b"victim").await.unwrap().unwrap();
    assert_eq!(served.crc, v.crc, "sent with the CRC32C it was stored with");
    assert!(
        !served.is_intact(),
        "the damaged bytes, for the client to find"
    );
    assert_eq!(store.stats().corrupt_reads, 0, "nothing was checked");
    // Now cached as read. The client's report makes the server do a checked get.
    assert_eq!(store.get(b"victim").await.unwrap(), None);
    assert_eq!(
        store.stats().corrupt_reads,
        1,
        "counted once: on the drive, not also in the cache"
    );
    assert_eq!(
        store.stats().keys,
        3,
        "dropped; the bystander and the two values behind them stay"
    );
    assert_eq!(store.get_unchecked(b"victim").await.unwrap(), None);
    assert_eq!(store.stats().corrupt_reads, 1);
    store.close().await;
}

#[tokio::test]
async fn damage_in_the_ram_cache_is_counted_once_and_the_drive_copy_served() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 8 * MIB, MIB, SyncPolicy::Always);
    let store = DiskStore::open(cfg).await.unwrap();
    let v = value_for(7, 5000);
    store.put(b"ram", v.clone()).await.unwrap();
    assert!(
        store.inner.cache.corrupt_for_test(b"ram"),
        "cached by the put"
    );
    assert!(
        !store
            .get_unchecked(b"ram")
            .await
            .unwrap()
            .unwrap()
            .is_intact()
    );
    assert_eq!(
        store.get(b"ram").await.unwrap(),
        Some(v.clone()),
        "the drive's copy is intact"
    );
    assert_eq!(store.stats().corrupt_reads, 1, "the RAM copy, counted once");
    assert_eq!(store.stats().keys, 1, "the key stays");
    assert_eq!(store.get_unchecked(b"ram").await.unwrap(), Some(v.clone()));
    assert_eq!(store.get(b"ram").await.unwrap(), Some(v));
    assert_eq!(store.stats().corrupt_reads, 1);
    store.close().await;
}

/// What a get can answer without waiting for a drive: a value in the RAM cache and a key the
/// index does not hold; a value only on a drive needs the read (`None`), and once read it is
/// cached and at hand.
#[tokio::test]
async fn gets_at_hand_are_cached_values_and_absent_keys_not_values_on_a_drive() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1, 8 * MIB, MIB, SyncPolicy::Always);
    // Room for one 5000-byte value in the cache: the second put pushes the first out.
    cfg.cache_size = 8192;
    let store = DiskStore::open(cfg).await.unwrap();
    let (first, second) = (value_for(1, 5000), value_for(2, 5000));
    store.put(b"first", first.clone()).await.unwrap();
    store.put(b"second", second.clone()).await.unwrap();

    let at_hand = |key: &[u8]| store.get_unchecked_at_hand(key).map(Result::unwrap);
    assert_eq!(at_hand(b"second"), Some(Some(second)), "cached by its put");
    assert_eq!(at_hand(b"never-stored"), Some(None), "a miss needs no read");
    assert_eq!(at_hand(b"first"), None, "only on the drive");
    assert_eq!(
        store.get_unchecked(b"first").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(at_hand(b"first"), Some(Some(first)), "cached by the read");
    store.close().await;
}
