//! The `memkv-client` engine against real `memkv start` processes: round trips from empty to
//! chunked values, large batches, concurrent writers and readers, authentication and integrity
//! errors, sharding over several servers, failure of a server, and reads into caller buffers.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Server, ServerOptions};
use memkv_client::{
    AsyncClient, AuthError, AuthKey, Client, ClientConfig, ClientError, GetInto, Integrity,
    Unreachable,
};

/// A client for `servers` with `key`.
fn config_for(servers: &[&Server], key: &AuthKey) -> ClientConfig {
    ClientConfig::new(servers.iter().map(|s| s.data.to_string())).with_auth_key(key.clone())
}

fn client_for(server: &Server) -> Client {
    Client::new(config_for(&[server], &server.key())).expect("client")
}

/// Starts a server sharing `key_hex` with the others of a test.
fn start_with_key(key_hex: &str, network_extra: &str) -> Server {
    let yaml = format!(
        "network:\n  address: 127.0.0.1:0\n  auth_key: \"{key_hex}\"\n{network_extra}\nmemory:\n  max_size: 256 MiB\nstorage:\n  mode: memory\n"
    );
    Server::start_yaml(&yaml, key_hex.to_owned())
}

/// Deterministic test bytes: `len` bytes derived from `seed`.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn round_trips_from_empty_to_chunked() {
    let server = Server::start();
    let client = client_for(&server);
    for (i, len) in [0usize, 1, 4096, 1 << 20, 64 << 20].into_iter().enumerate() {
        let key = format!("round-trip-{len}");
        let value = pattern(i as u64, len);
        client.put(key.as_bytes(), &value).unwrap();
        let got = client.get(key.as_bytes()).unwrap().expect("stored value");
        assert_eq!(got.len(), len);
        assert!(
            got[..] == value[..],
            "value of {len} bytes came back different"
        );
        let meta = client.stat(key.as_bytes()).unwrap().unwrap();
        assert_eq!(meta.len, len as u64);
        assert_eq!(meta.crc, memkv_proto::crc32c(&value));
        assert_eq!(client.size(key.as_bytes()).unwrap(), Some(len as u64));
    }
    // 64 MiB plus its control section is over the default 64 MiB frame limit.
    let stats = client.stats();
    assert_eq!(stats.chunked_puts, 1);
    assert_eq!(stats.chunked_gets, 1);
    assert_eq!(stats.checksum_failures, 0);

    assert!(client.delete(b"round-trip-1").unwrap());
    assert!(!client.delete(b"round-trip-1").unwrap());
    assert_eq!(client.get(b"round-trip-1").unwrap(), None);
    assert_eq!(client.stat(b"round-trip-1").unwrap(), None);

    let info = client.node_info(0).unwrap();
    assert_eq!(info.max_body, 64 << 20);
    assert_eq!(info.storage_mode, "memory");
    assert_eq!(info.max_key_len, 512);
}

#[test]
fn every_integrity_mode_round_trips_single_batch_and_chunked_values() {
    for mode in Integrity::ALL {
        let server = Server::start_with(ServerOptions {
            integrity: mode.name().to_owned(),
            network_extra: "  max_frame_size: 1 MiB".into(),
            ..ServerOptions::default()
        });
        let client =
            Client::new(config_for(&[&server], &server.key()).with_integrity(mode)).unwrap();
        let big = pattern(7, 3 << 20);
        client.put(b"big", &big).unwrap();
        assert!(
            client.get(b"big").unwrap().unwrap()[..] == big[..],
            "{mode}"
        );
        let values: Vec<Vec<u8>> = (0..50).map(|i| pattern(i, 1000 + i as usize)).collect();
        let keys: Vec<String> = (0..50).map(|i| format!("{mode}-{i}")).collect();
        let items: Vec<(&[u8], &[u8])> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_bytes(), v.as_slice()))
            .collect();
        assert!(client.batch_put(&items).iter().all(Result::is_ok), "{mode}");
        let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let got = client.batch_get(&key_refs).unwrap();
        for (g, v) in got.iter().zip(&values) {
            assert_eq!(g.as_deref(), Some(v.as_slice()), "{mode}");
        }
        // The same values read into buffers, with a buffer one byte short and an absent key.
        let mut bufs: Vec<Vec<u8>> = values.iter().map(|v| vec![0u8; v.len()]).collect();
        bufs[3].pop();
        let mut absent = [0u8; 8];
        let mut into: Vec<(&[u8], &mut [u8])> = key_refs
            .iter()
            .copied()
            .zip(bufs.iter_mut().map(Vec::as_mut_slice))
            .collect();
        into.push((b"absent", &mut absent));
        let outcomes = client.batch_get_into(&mut into).unwrap();
        assert_eq!(outcomes[50], GetInto::Miss, "{mode}");
        for (i, v) in values.iter().enumerate() {
            if i == 3 {
                let len = v.len() as u64;
                assert_eq!(outcomes[i], GetInto::TooSmall { len }, "{mode}");
            } else {
                assert_eq!(outcomes[i], GetInto::Hit(v.len()), "{mode} key {i}");
                assert_eq!(bufs[i], *v, "{mode} key {i}");
            }
        }
        assert_eq!(client.stats().checksum_failures, 0, "{mode}");
        assert_eq!(client.stats().chunked_puts, 1, "{mode}");
    }
}

#[test]
fn ten_thousand_key_batches() {
    let server = Server::start();
    let client = client_for(&server);
    let keys: Vec<String> = (0..10_000).map(|i| format!("batch/{i:05}")).collect();
    let values: Vec<Vec<u8>> = (0..10_000)
        .map(|i| pattern(i as u64, 16 + (i * 37) % 2000))
        .collect();
    let items: Vec<(&[u8], &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.as_bytes(), v.as_slice()))
        .collect();
    let results = client.batch_put(&items);
    assert_eq!(results.len(), 10_000);
    assert!(results.iter().all(Result::is_ok));

    // Ask for every stored key interleaved with absent ones, so order mistakes show.
    let mut asked: Vec<Vec<u8>> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        asked.push(k.as_bytes().to_vec());
        if i % 3 == 0 {
            asked.push(format!("absent/{i}").into_bytes());
        }
    }
    let asked_refs: Vec<&[u8]> = asked.iter().map(Vec::as_slice).collect();
    let got = client.batch_get(&asked_refs).unwrap();
    let present = client.exists(&asked_refs).unwrap();
    assert_eq!(got.len(), asked.len());
    assert_eq!(present.len(), asked.len());
    let by_key: HashMap<&[u8], &[u8]> = items.iter().copied().collect();
    for ((key, value), bit) in asked.iter().zip(&got).zip(&present) {
        match by_key.get(key.as_slice()) {
            Some(v) => {
                assert_eq!(value.as_deref(), Some(*v));
                assert!(*bit);
            }
            None => {
                assert_eq!(value, &None);
                assert!(!*bit);
            }
        }
    }

    // Reads into caller buffers, in batches too.
    let mut bufs: Vec<Vec<u8>> = (0..100).map(|_| vec![0u8; 2100]).collect();
    let mut into: Vec<(&[u8], &mut [u8])> = keys[..100]
        .iter()
        .map(|k| k.as_bytes())
        .zip(bufs.iter_mut().map(Vec::as_mut_slice))
        .collect();
    let outcomes = client.batch_get_into(&mut into).unwrap();
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(*o, GetInto::Hit(values[i].len()));
        assert_eq!(&bufs[i][..values[i].len()], values[i].as_slice());
    }
}

#[test]
fn batches_split_by_frame_limit_and_large_items_go_alone() {
    let server = Server::start_with(ServerOptions {
        network_extra: "  max_frame_size: 1 MiB".into(),
        ..ServerOptions::default()
    });
    let client = client_for(&server);
    // 40 values of 100 KiB (several frames) and two over the frame limit (chunked).
    let mut values: Vec<Vec<u8>> = (0..40).map(|i| pattern(i, 100 << 10)).collect();
    values.push(pattern(100, 3 << 20));
    values.push(pattern(101, (1 << 20) + 1));
    let keys: Vec<String> = (0..values.len()).map(|i| format!("split/{i}")).collect();
    let items: Vec<(&[u8], &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.as_bytes(), v.as_slice()))
        .collect();
    assert!(client.batch_put(&items).iter().all(Result::is_ok));
    assert_eq!(client.stats().chunked_puts, 2);
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let got = client.batch_get(&key_refs).unwrap();
    for (g, v) in got.iter().zip(&values) {
        assert!(g.as_deref() == Some(v.as_slice()));
    }
    // The two large values came back through chunked downloads.
    assert_eq!(client.stats().chunked_gets, 2);

    // Into the caller's buffers, frame by frame: every value lands in its own key's buffer
    // (one buffer too small by a byte), the large ones again chunked.
    let mut bufs: Vec<Vec<u8>> = values.iter().map(|v| vec![0u8; v.len() + 1]).collect();
    bufs[7].truncate(values[7].len() - 1);
    let mut into: Vec<(&[u8], &mut [u8])> = key_refs
        .iter()
        .copied()
        .zip(bufs.iter_mut().map(Vec::as_mut_slice))
        .collect();
    let outcomes = client.batch_get_into(&mut into).unwrap();
    for (i, (o, v)) in outcomes.iter().zip(&values).enumerate() {
        if i == 7 {
            let len = v.len() as u64;
            assert_eq!(*o, GetInto::TooSmall { len });
        } else {
            assert_eq!(*o, GetInto::Hit(v.len()), "key {i}");
            assert!(bufs[i][..v.len()] == v[..], "key {i}");
        }
    }
    assert_eq!(client.stats().chunked_gets, 4);
}

#[test]
fn get_into_is_full_length_or_miss() {
    let server = Server::start_with(ServerOptions {
        network_extra: "  max_frame_size: 1 MiB".into(),
        ..ServerOptions::default()
    });
    let client = client_for(&server);
    let value = pattern(1, 1000);
    client.put(b"small", &value).unwrap();
    let mut exact = vec![0u8; 1000];
    let mut short = vec![0u8; 999];
    let mut roomy = vec![0u8; 4096];
    assert_eq!(
        client.get_into(b"small", &mut short).unwrap(),
        GetInto::TooSmall { len: 1000 }
    );
    assert_eq!(
        client.get_into(b"small", &mut exact).unwrap(),
        GetInto::Hit(1000)
    );
    assert_eq!(exact, value);
    assert_eq!(
        client.get_into(b"small", &mut roomy).unwrap(),
        GetInto::Hit(1000)
    );
    assert_eq!(&roomy[..1000], value.as_slice());
    assert_eq!(
        client.get_into(b"missing", &mut roomy).unwrap(),
        GetInto::Miss
    );

    // Over the frame limit: the length is known without downloading, and a fitting buffer is
    // filled by a chunked download.
    let big = pattern(2, (2 << 20) + 5);
    client.put(b"big", &big).unwrap();
    let mut small_buf = vec![0u8; 2 << 20];
    assert_eq!(
        client.get_into(b"big", &mut small_buf).unwrap(),
        GetInto::TooSmall {
            len: big.len() as u64
        }
    );
    let mut big_buf = vec![0u8; 3 << 20];
    assert_eq!(
        client.get_into(b"big", &mut big_buf).unwrap(),
        GetInto::Hit(big.len())
    );
    assert!(big_buf[..big.len()] == big[..]);

    let mut b1 = vec![0u8; 10];
    let mut b2 = vec![0u8; 3 << 20];
    let mut b3 = vec![0u8; 1000];
    let mut items: Vec<(&[u8], &mut [u8])> = vec![
        (b"small", b1.as_mut_slice()),
        (b"big", b2.as_mut_slice()),
        (b"small", b3.as_mut_slice()),
        (b"missing", &mut []),
    ];
    let outcomes = client.batch_get_into(&mut items).unwrap();
    assert_eq!(
        outcomes,
        vec![
            GetInto::TooSmall { len: 1000 },
            GetInto::Hit(big.len()),
            GetInto::Hit(1000),
            GetInto::Miss
        ]
    );
    assert!(b2[..big.len()] == big[..]);
    assert_eq!(b3, value);
}

#[test]
fn concurrent_writers_and_readers_never_see_a_mix() {
    let server = Server::start();
    let client = client_for(&server);
    const KEYS: usize = 8;
    // Each writer fills a whole value with its own byte; lengths vary per write.
    let len_for = |writer: u8, round: usize| {
        1024 + (usize::from(writer) * 7919 + round * 104_729) % (300 << 10)
    };
    std::thread::scope(|scope| {
        for writer in 1..=4u8 {
            let client = &client;
            scope.spawn(move || {
                for round in 0..150 {
                    let key = format!("shared/{}", round % KEYS);
                    let value = vec![writer; len_for(writer, round)];
                    client.put(key.as_bytes(), &value).unwrap();
                }
            });
        }
        for reader in 0..4 {
            let client = &client;
            scope.spawn(move || {
                let mut seen = 0;
                for round in 0..300 {
                    let key = format!("shared/{}", (round + reader) % KEYS);
                    if let Some(v) = client.get(key.as_bytes()).unwrap() {
                        let first = v[0];
                        assert!((1..=4).contains(&first));
                        assert!(v.iter().all(|b| *b == first), "a read mixed two writes");
                        seen += 1;
                    }
                }
                seen
            });
        }
    });
    assert_eq!(client.stats().checksum_failures, 0);
}

#[test]
fn wrong_key_is_refused_with_bad_mac() {
    let server = Server::start();
    let wrong = AuthKey::from_bytes([0x42; 32]);
    let client = Client::new(config_for(&[&server], &wrong)).unwrap();
    let err = client.put(b"k", b"v").unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Auth {
                kind: AuthError::BadMac,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(
            "server rejected the auth key (BadMac): client and server must share the same auth_key"
        ),
        "{err}"
    );
    // Authentication errors are never turned into misses.
    let err = client.get(b"k").unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Auth {
                kind: AuthError::BadMac,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn integrity_mismatch_names_both_modes() {
    let server = Server::start_with(ServerOptions {
        integrity: "checksum".into(),
        ..ServerOptions::default()
    });
    let client =
        Client::new(config_for(&[&server], &server.key()).with_integrity(Integrity::Mac)).unwrap();
    let err = client.get(b"k").unwrap_err();
    assert!(
        err.to_string().contains(
            "integrity mode mismatch: server requires `checksum`, client uses `mac`; set MEMKV_INTEGRITY or `integrity` to match the server's network.integrity"
        ),
        "{err}"
    );
}

#[test]
fn keys_over_512_bytes_are_refused_before_sending() {
    let server = Server::start();
    let client = client_for(&server);
    let long = vec![b'k'; 513];
    assert!(matches!(
        client.put(&long, b"v"),
        Err(ClientError::KeyTooLong { len: 513, .. })
    ));
    assert!(matches!(
        client.get(&long),
        Err(ClientError::KeyTooLong { .. })
    ));
    let results = client.batch_put(&[(&long[..], b"v"), (b"fine", b"v")]);
    assert!(matches!(results[0], Err(ClientError::KeyTooLong { .. })));
    assert!(results[1].is_ok());
    let ok = vec![b'k'; 512];
    client.put(&ok, b"max length key").unwrap();
    assert_eq!(
        client.get(&ok).unwrap().as_deref(),
        Some(&b"max length key"[..])
    );
}

#[test]
fn sharding_over_servers_failure_and_growth() {
    let key_hex = common::random_key_hex();
    let key = AuthKey::from_hex(&key_hex).unwrap();
    let mut servers: Vec<Server> = (0..3).map(|_| start_with_key(&key_hex, "")).collect();
    let three = Client::new(config_for(&servers.iter().collect::<Vec<_>>(), &key)).unwrap();
    assert!(three.warmup().iter().all(Result::is_ok));

    let keys: Vec<String> = (0..30_000).map(|i| format!("shard/{i}")).collect();
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let items: Vec<(&[u8], &[u8])> = key_refs.iter().map(|k| (*k, *k)).collect();
    assert!(three.batch_put(&items).iter().all(Result::is_ok));

    // Every key is stored exactly on its rendezvous server, and each holds about a third.
    let per_server: Vec<usize> = (0..3)
        .map(|s| {
            let bits = three.exists_on(s, &key_refs).unwrap();
            for (k, bit) in key_refs.iter().zip(&bits) {
                assert_eq!(*bit, three.server_for(k) == s);
            }
            bits.iter().filter(|b| **b).count()
        })
        .collect();
    for n in &per_server {
        assert!((9_500..=10_500).contains(n), "{per_server:?}");
    }

    // A fourth server: about a quarter of the keys move, all of them to it; those miss (the new
    // server is empty) and the others are still served.
    servers.push(start_with_key(&key_hex, ""));
    let four = Client::new(config_for(&servers.iter().collect::<Vec<_>>(), &key)).unwrap();
    let got = four.batch_get(&key_refs).unwrap();
    let mut moved = 0;
    for (k, g) in key_refs.iter().zip(&got) {
        if four.server_for(k) == three.server_for(k) {
            assert_eq!(g.as_deref(), Some(*k));
        } else {
            assert_eq!(four.server_for(k), 3, "a key moved between old servers");
            assert_eq!(g, &None);
            moved += 1;
        }
    }
    assert!((6_000..=9_000).contains(&moved), "{moved} keys moved");

    // Stop one server: only its keys miss, the rest are served, nothing hangs.
    servers[1].kill();
    let got = three.batch_get(&key_refs).unwrap();
    let present = three.exists(&key_refs).unwrap();
    for ((k, g), bit) in key_refs.iter().zip(&got).zip(&present) {
        if three.server_for(k) == 1 {
            assert_eq!(g, &None);
            assert!(!*bit);
        } else {
            assert_eq!(g.as_deref(), Some(*k));
            assert!(*bit);
        }
    }
    let on_dead = key_refs.iter().find(|k| three.server_for(k) == 1).unwrap();
    let on_live = key_refs.iter().find(|k| three.server_for(k) == 0).unwrap();
    assert_eq!(three.get(on_dead).unwrap(), None);
    assert_eq!(three.get(on_live).unwrap().as_deref(), Some(*on_live));
    assert!(three.stats().unreachable_misses > 0);
    // Writes to the dead server report the failure.
    let err = three.put(on_dead, b"x").unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");

    // With `unreachable: error`, lookups report it too.
    let strict = Client::new(
        config_for(&servers[..3].iter().collect::<Vec<_>>(), &key)
            .with_unreachable(Unreachable::Error),
    )
    .unwrap();
    let err = strict.get(on_dead).unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(
        err.to_string().contains(&servers[1].data.to_string()),
        "{err}"
    );
    assert_eq!(strict.get(on_live).unwrap().as_deref(), Some(*on_live));
}

#[test]
fn configuration_chain_reaches_a_server() {
    let server = Server::start();
    let servers = server.data.to_string();
    let env: HashMap<&str, &str> = HashMap::from([
        ("MEMKV_SERVERS", servers.as_str()),
        ("MEMKV_AUTH_KEY", server.key_hex.as_str()),
        ("MEMKV_TRANSPORT", "auto"),
        ("MEMKV_NUM_CONNECTIONS", "2"),
    ]);
    let config =
        ClientConfig::from_env_with(|name| env.get(name).map(|v| (*v).to_owned())).unwrap();
    let client = Client::new(config).unwrap();
    assert!(client.warmup().iter().all(Result::is_ok));
    assert_eq!(client.stats().connections_opened, 2);
    client.put(b"env", b"chain").unwrap();
    assert_eq!(client.get(b"env").unwrap().as_deref(), Some(&b"chain"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_client_and_interrupted_writes() {
    let server = Server::start();
    let client = AsyncClient::new(
        config_for(&[&server], &server.key()).with_op_timeout(Duration::from_secs(60)),
    )
    .unwrap();
    assert!(client.warmup().await.iter().all(Result::is_ok));
    let old = pattern(1, 48 << 20);
    client.put(b"victim", &old).await.unwrap();

    // Poll a large put once, then drop it: its frame is most likely cut off mid-write. The
    // connection must then be replaced, and the key must hold the old or the new value,
    // never a mix.
    let new = pattern(2, 48 << 20);
    {
        let put = client.put(b"victim", &new);
        tokio::pin!(put);
        tokio::select! {
            biased;
            _ = &mut put => {}
            _ = std::future::ready(()) => {}
        }
    }
    for i in 0..20u32 {
        let k = format!("after/{i}");
        client.put(k.as_bytes(), &i.to_le_bytes()).await.unwrap();
        assert_eq!(
            client.get(k.as_bytes()).await.unwrap().as_deref(),
            Some(&i.to_le_bytes()[..])
        );
    }
    let got = client.get(b"victim").await.unwrap().unwrap();
    assert!(
        got[..] == old[..] || got[..] == new[..],
        "a cut-off write left a mix"
    );
    assert_eq!(client.stats().checksum_failures, 0);

    // The blocking client refuses to run inside async code instead of panicking, and dropping
    // it here does not panic either.
    let blocking = Client::new(config_for(&[&server], &server.key())).unwrap();
    assert!(matches!(
        blocking.get(b"x"),
        Err(ClientError::BlockingInAsync)
    ));
    drop(blocking);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_into_given_up_while_its_value_arrives_leaves_the_connection_exact() {
    // `get_into` reads a value from the socket straight into the caller's buffer. A caller
    // that gives up (here: `tokio::time::timeout`, at points from before the reply to inside
    // the value) must leave the one connection usable: the rest of that reply is read past,
    // and every later answer is exact.
    given_up_gets_leave_the_connection_exact(48 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_into_too_small_given_up_while_its_value_arrives_leaves_the_connection_exact() {
    // The same with a buffer too small for the value: the reply's data is still read (and
    // verified) before the caller hears `TooSmall`, so giving up inside it must leave the
    // reader the right number of bytes to skip.
    given_up_gets_leave_the_connection_exact(1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_get_into_given_up_while_its_values_arrive_leaves_the_connection_exact() {
    // `batch_get_into` reads each value from the socket straight into its key's buffer (one
    // here too small: read and dropped). Giving up at points from before the answer to inside
    // its values must leave the one connection usable and every later answer exact.
    let server = Server::start();
    let client = one_connection_client(&server);
    let values: Vec<Vec<u8>> = (0..6).map(|i| pattern(10 + i, 4 << 20)).collect();
    let keys: Vec<String> = (0..values.len()).map(|i| format!("batch/{i}")).collect();
    for (k, v) in keys.iter().zip(&values) {
        client.put(k.as_bytes(), v).await.unwrap();
    }
    let mut given_up: Vec<Vec<u8>> = values.iter().map(|v| vec![0u8; v.len()]).collect();
    given_up[2].truncate(1000);
    let mut bufs: Vec<Vec<u8>> = values.iter().map(|v| vec![0u8; v.len()]).collect();
    let mut finished = 0;
    for i in 0..24u64 {
        let give_up = Duration::from_micros(i * i * 30);
        let mut items: Vec<(&[u8], &mut [u8])> = keys
            .iter()
            .map(|k| k.as_bytes())
            .zip(given_up.iter_mut().map(Vec::as_mut_slice))
            .collect();
        if tokio::time::timeout(give_up, client.batch_get_into(&mut items))
            .await
            .is_ok()
        {
            finished += 1;
        }
        bufs.iter_mut().for_each(|b| b.fill(0));
        let mut items: Vec<(&[u8], &mut [u8])> = keys
            .iter()
            .map(|k| k.as_bytes())
            .zip(bufs.iter_mut().map(Vec::as_mut_slice))
            .collect();
        let outcomes = client.batch_get_into(&mut items).await.unwrap();
        for (j, v) in values.iter().enumerate() {
            assert_eq!(outcomes[j], GetInto::Hit(v.len()), "round {i}, key {j}");
            assert!(bufs[j] == *v, "round {i}: value {j} is exact");
        }
    }
    assert_given_up_on_one_connection(&client, finished);
}

/// A client of `server` over one connection, with a timeout that only a hang reaches.
fn one_connection_client(server: &Server) -> AsyncClient {
    AsyncClient::new(
        config_for(&[server], &server.key())
            .with_num_connections(1)
            .with_op_timeout(Duration::from_secs(60)),
    )
    .unwrap()
}

/// After 24 rounds, `finished` of them not given up: some were, what they left on the stream
/// was read past, and the one connection stayed in use with nothing damaged.
fn assert_given_up_on_one_connection(client: &AsyncClient, finished: usize) {
    let stats = client.stats();
    assert!(finished < 24, "some reads were given up");
    assert!(
        stats.abandoned_replies > 0,
        "the replies of given-up reads were read past"
    );
    assert_eq!(
        stats.connections_opened, 1,
        "the one connection stayed in use"
    );
    assert_eq!(stats.connections_failed, 0);
    assert_eq!(stats.checksum_failures, 0);
}

/// Gives up `get_into`s of a 48 MiB value into a buffer of `buf_len` bytes at points from
/// before the reply to inside the value, each followed by gets that must be exact, over one
/// connection that must stay in use.
async fn given_up_gets_leave_the_connection_exact(buf_len: usize) {
    let server = Server::start();
    let client = one_connection_client(&server);
    let big = pattern(3, 48 << 20);
    let small = pattern(4, 100_000);
    client.put(b"big", &big).await.unwrap();
    client.put(b"small", &small).await.unwrap();
    let mut given_up_buf = vec![0u8; buf_len];
    let mut buf = vec![0u8; big.len()];
    let mut small_buf = vec![0u8; small.len()];
    let mut finished = 0;
    for i in 0..24u64 {
        let give_up = Duration::from_micros(i * i * 50);
        if tokio::time::timeout(give_up, client.get_into(b"big", &mut given_up_buf))
            .await
            .is_ok()
        {
            finished += 1;
        }
        assert_eq!(
            client.get_into(b"small", &mut small_buf).await.unwrap(),
            GetInto::Hit(small.len())
        );
        assert!(small_buf == small, "round {i}: the next value is exact");
        buf.fill(0);
        assert_eq!(
            client.get_into(b"big", &mut buf).await.unwrap(),
            GetInto::Hit(big.len())
        );
        assert!(buf == big, "round {i}: the large value is exact");
    }
    if buf_len < big.len() {
        assert_eq!(
            client.get_into(b"big", &mut given_up_buf).await.unwrap(),
            GetInto::TooSmall {
                len: big.len() as u64
            }
        );
    }
    assert_given_up_on_one_connection(&client, finished);
}
