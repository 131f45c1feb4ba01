//! A value whose bytes changed in the server's RAM after it was stored is never served as
//! good, in any integrity mode, by a get or a batch get: the server sends values held in RAM
//! with their stored CRC32C without re-reading them, the client finds the mismatch, reports a
//! miss and tells the server (`ReportDamaged`), which checks its copy, drops it and counts it.
//!
//! Damaged RAM cannot be produced on demand, so the store's fault-injection hook
//! (`MemoryStore::corrupt_for_test`, feature `fault-injection`) flips the stored bytes; the
//! server, its sockets and the client are the real ones.

use std::sync::Arc;

use memkv_client::{AsyncClient, ClientConfig, GetInto};
use memkv_proto::{AuthKey, Integrity};
use memkv_store::{MemoryStore, MemoryStoreConfig, Store};

mod common;

struct Running {
    store: Arc<MemoryStore>,
    served: common::Served,
}

async fn start(key: &AuthKey, integrity: Integrity) -> Running {
    let store = Arc::new(MemoryStore::new(MemoryStoreConfig { max_size: 64 << 20 }));
    let served = common::serve(Arc::clone(&store), key, integrity, "memory").await;
    Running { store, served }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_damaged_in_ram_are_misses_in_every_mode_and_are_dropped() {
    let key = AuthKey::from_hex(&"5a".repeat(32)).unwrap();
    for mode in Integrity::ALL {
        for size in [4096usize, 1 << 20] {
            let what = format!("{mode}, {size} B");
            let server = start(&key, mode).await;
            // The client reports damage before it answers the miss, so the drop is visible
            // as soon as the call returns.
            let client = AsyncClient::new(
                ClientConfig::new([server.served.addr.to_string()])
                    .with_auth_key(key.clone())
                    .with_integrity(mode)
                    .with_num_connections(1),
            )
            .unwrap();
            let victim: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let bystander = vec![7u8; size];
            client.put(b"victim", &victim).await.unwrap();
            client.put(b"bystander", &bystander).await.unwrap();
            assert!(server.store.corrupt_for_test(b"victim"), "{what}");

            // `get_into` reads the value straight into the caller's buffer; damaged bytes
            // landing there are still a miss.
            let mut buf = vec![0u8; size];
            assert_eq!(
                client.get_into(b"victim", &mut buf).await.unwrap(),
                GetInto::Miss,
                "{what}"
            );
            assert_eq!(
                client.get_into(b"bystander", &mut buf).await.unwrap(),
                GetInto::Hit(size),
                "{what}"
            );
            assert!(buf == bystander, "{what}");
            let stats = server.store.stats();
            assert_eq!(stats.corrupt_reads, 1, "{what}: counted once");
            assert_eq!(stats.keys, 1, "{what}: the damaged value is dropped");
            assert_eq!(client.stats().checksum_failures, 1, "{what}");

            assert_eq!(client.get(b"victim").await.unwrap(), None, "{what}");
            assert_eq!(
                server.store.stats().corrupt_reads,
                1,
                "{what}: a plain miss now"
            );

            // Batch gets: each value carries its stored CRC32C, checked by the client.
            client.put(b"victim2", &victim).await.unwrap();
            assert!(server.store.corrupt_for_test(b"victim2"), "{what}");
            let got = client
                .batch_get(&[b"victim2".as_slice(), b"bystander".as_slice()])
                .await
                .unwrap();
            assert_eq!(got[0], None, "{what}: batch");
            assert_eq!(got[1].as_deref(), Some(&bystander[..]), "{what}: batch");
            let stats = server.store.stats();
            assert_eq!(stats.corrupt_reads, 2, "{what}: batch, counted once");
            assert_eq!(stats.keys, 1, "{what}: batch, dropped");
            assert_eq!(client.stats().checksum_failures, 2, "{what}: batch");

            server.served.stop.send(true).unwrap();
            server.served.task.await.unwrap();
        }
    }
}

/// In `mac` mode a server sends a value it holds in RAM with the digest the value arrived with
/// instead of hashing it again (docs/protocol.md "Value digests"): a kept digest changed on
/// purpose (the bytes intact) makes the client refuse the get, which shows the server used it;
/// the client never takes such a reply as good. Batch gets hash the values they send, so they
/// still read the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_is_sent_with_the_digest_its_value_arrived_with() {
    let key = AuthKey::from_hex(&"5b".repeat(32)).unwrap();
    let server = start(&key, Integrity::Mac).await;
    let client = AsyncClient::new(
        ClientConfig::new([server.served.addr.to_string()])
            .with_auth_key(key.clone())
            .with_integrity(Integrity::Mac)
            .with_num_connections(1),
    )
    .unwrap();
    let value: Vec<u8> = (0..65_537).map(|i| (i % 251) as u8).collect();
    client.put(b"v", &value).await.unwrap();
    client.put(b"short", &value[..65_535]).await.unwrap();
    assert_eq!(client.get(b"v").await.unwrap().as_deref(), Some(&value[..]));
    assert!(
        !server.store.corrupt_digest_for_test(b"short"),
        "values under 64 KiB keep no digest"
    );
    assert!(server.store.corrupt_digest_for_test(b"v"));
    let got = client.get(b"v").await;
    assert!(got.is_err(), "a reply whose tag fails is refused: {got:?}");
    // A refused reply ends its connection before the caller hears of it: the next request
    // goes over a new one.
    let got = client
        .batch_get(&[b"v".as_slice(), b"short".as_slice()])
        .await
        .unwrap();
    assert_eq!(got[0].as_deref(), Some(&value[..]));
    assert_eq!(got[1].as_deref(), Some(&value[..65_535]));
    assert_eq!(server.store.stats().corrupt_reads, 0, "nothing was damaged");
    server.served.stop.send(true).unwrap();
    server.served.task.await.unwrap();
}
