//! `storage.mode: file` end to end: values survive a restart, the server survives kill -9
//! under load in both sync modes (also while striping values larger than an extent), values
//! of several extents survive a restart, a value damaged on disk is a counted miss, and
//! `/v1/status` reports the drives and the I/O engine.

mod common;

use common::storage::{
    CrashShape, client, crash_loop, crash_loop_shaped, data_files, disk_yaml_sized,
    large_values_survive_a_restart, patterned, start_disk, versioned_value, versioned_value_max,
};

#[test]
fn kill_9_under_load_loses_no_acknowledged_put_with_sync_always() {
    let dir = tempfile::tempdir().unwrap();
    crash_loop("file", &data_files(dir.path(), 2), "always", 10);
}

#[test]
fn kill_9_under_load_serves_only_exact_values_with_sync_none() {
    let dir = tempfile::tempdir().unwrap();
    crash_loop("file", &data_files(dir.path(), 2), "none", 10);
}

#[test]
fn kill_9_while_striping_large_values_serves_only_complete_values() {
    let dir = tempfile::tempdir().unwrap();
    crash_loop_shaped(
        "file",
        &data_files(dir.path(), 2),
        "always",
        5,
        CrashShape::STRIPED,
    );
}

#[test]
fn values_of_4_9_and_16_mib_stripe_and_survive_a_restart_on_one_and_two_files() {
    for n in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        large_values_survive_a_restart("file", &data_files(dir.path(), n));
    }
}

#[test]
fn values_survive_a_restart_and_status_reports_the_drives() {
    let dir = tempfile::tempdir().unwrap();
    let drives = data_files(dir.path(), 2);
    let mut server = start_disk("file", &drives, "always");
    let c = client(&server);
    for k in 0..50u64 {
        c.put(format!("k{k}").as_bytes(), &versioned_value(k, 1))
            .unwrap();
    }
    server.sigterm();
    server.wait();
    drop(server);

    let server = start_disk("file", &drives, "always");
    let c = client(&server);
    for k in 0..50u64 {
        let got = c
            .get(format!("k{k}").as_bytes())
            .unwrap()
            .expect("survives a restart");
        assert_eq!(&got[..], &versioned_value(k, 1)[..]);
    }
    let (code, body) = server.admin_get("/v1/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let storage = &status["storage"];
    assert_eq!(storage["engine"], "file");
    assert!(
        ["io_uring", "std"].contains(&storage["io_engine"].as_str().unwrap()),
        "{storage}"
    );
    assert_eq!(storage["keys"], 50);
    assert_eq!(storage["drives_total"], 2);
    let devices = storage["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let mut used_total = 0;
    for d in devices {
        assert_eq!(d["state"], "online");
        assert_eq!(d["raw_bytes"], 256 << 20);
        assert!(d["usable_bytes"].as_u64().unwrap() > 0);
        // The same figures per drive in the metrics, labelled with the drive's path.
        let media = d["media"].as_str().unwrap();
        let metric = |name: &str| server.metric(&format!("{name}{{media=\"{media}\"}}"));
        assert_eq!(metric("memkv_drive_online"), 1.0);
        assert_eq!(metric("memkv_drive_raw_bytes"), (256 << 20) as f64);
        assert_eq!(
            metric("memkv_drive_usable_bytes"),
            d["usable_bytes"].as_u64().unwrap() as f64
        );
        assert_eq!(
            metric("memkv_drive_used_bytes"),
            d["used_bytes"].as_u64().unwrap() as f64
        );
        used_total += d["used_bytes"].as_u64().unwrap();
    }
    let stored: usize = (0..50u64).map(|k| versioned_value(k, 1).len()).sum();
    assert!(
        used_total >= stored as u64,
        "{used_total} < {stored}: {storage}"
    );
    assert!(
        storage["cache_hits_total"].as_u64().unwrap()
            + storage["cache_misses_total"].as_u64().unwrap()
            >= 50
    );
}

#[test]
fn a_value_damaged_on_disk_is_a_miss_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let drives = data_files(dir.path(), 1);
    let mut server = start_disk("file", &drives, "always");
    let value = versioned_value(7, 7);
    client(&server).put(b"victim", &value).unwrap();
    client(&server)
        .put(b"other", &versioned_value(8, 8))
        .unwrap();
    server.sigterm();
    server.wait();
    drop(server);

    // Flip one byte in the middle of the stored value, with the server stopped.
    let mut bytes = std::fs::read(&drives[0]).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &value[..64])
        .expect("the value is on disk");
    bytes[at + value.len() / 2] ^= 0x01;
    std::fs::write(&drives[0], bytes).unwrap();

    let server = start_disk("file", &drives, "always");
    let c = client(&server);
    assert_eq!(
        c.get(b"victim").unwrap(),
        None,
        "a damaged value is never served"
    );
    assert_eq!(server.metric("memkv_corrupt_reads_total"), 1.0);
    assert_eq!(
        &c.get(b"other").unwrap().unwrap()[..],
        &versioned_value(8, 8)[..]
    );
}

#[test]
fn puts_pipelined_on_one_connection_are_all_acknowledged_exact_and_durable() {
    use memkv_client::{Client, ClientConfig};
    let dir = tempfile::tempdir().unwrap();
    let drives = data_files(dir.path(), 1);
    let mut server = start_disk("file", &drives, "always");
    // One connection shared by 8 threads: the server reads the next put while earlier ones
    // are being synced, and answers each once it is durable.
    let c = std::sync::Arc::new(
        Client::new(
            ClientConfig::new([server.data.to_string()])
                .with_auth_key(server.key())
                .with_num_connections(1),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || {
                for i in 0..25u64 {
                    let k = t * 1000 + i;
                    // Two versions of each key from the same thread: the second one wins.
                    c.put(format!("p{k}").as_bytes(), &versioned_value(k, 1))
                        .unwrap();
                    c.put(format!("p{k}").as_bytes(), &versioned_value(k, 2))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let ok = server.metric("memkv_requests_total{op=\"put\",status=\"ok\"}");
    assert_eq!(ok, 400.0, "every put acknowledged as ok");
    server.kill();
    drop(server);
    // Acknowledged means durable: after kill -9 every newest version is there, byte-exact.
    let server = start_disk("file", &drives, "always");
    let c = client(&server);
    for t in 0..8u64 {
        for i in 0..25u64 {
            let k = t * 1000 + i;
            let got = c.get(format!("p{k}").as_bytes()).unwrap().expect("durable");
            assert_eq!(&got[..], &versioned_value(k, 2)[..], "key p{k}");
        }
    }
}

#[test]
fn batch_puts_are_acknowledged_only_once_every_value_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let drives = data_files(dir.path(), 1);
    // 4 MiB extents on a drive large enough that nothing is evicted.
    let start = || {
        let key = common::random_key_hex();
        let yaml = disk_yaml_sized(&key, "file", &drives, "always", "4 MiB", "256 MiB", "");
        common::Server::start_yaml(&yaml, key)
    };
    let mut server = start();
    let c = std::sync::Arc::new(client(&server));
    // 4 threads, 10 batches each of 16 small values; the second batch of each thread has a
    // value larger than one extent in the middle (striped: stored and synced on its own, the
    // others staged and synced together).
    const STRIPED: usize = 4 << 20;
    let value = |t: u64, b: u64, i: u64| {
        let seed = t * 10_000 + b * 100 + i;
        if b == 1 && i == 8 {
            patterned(seed, STRIPED)
        } else {
            versioned_value_max(seed, 1, 16 * 1024)
        }
    };
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || {
                for b in 0..10u64 {
                    let keys: Vec<String> = (0..16).map(|i| format!("b{t}-{b}-{i}")).collect();
                    let values: Vec<Vec<u8>> = (0..16).map(|i| value(t, b, i)).collect();
                    let items: Vec<(&[u8], &[u8])> = keys
                        .iter()
                        .zip(&values)
                        .map(|(k, v)| (k.as_bytes(), &v[..]))
                        .collect();
                    for (i, r) in c.batch_put(&items).into_iter().enumerate() {
                        r.unwrap_or_else(|e| panic!("batch {t}/{b} item {i}: {e}"));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        server.metric("memkv_requests_total{op=\"batch_put\",status=\"ok\"}"),
        40.0,
        "every batch acknowledged as ok"
    );
    server.kill();
    drop(server);
    // Acknowledged means durable: after kill -9 every value of every batch is there, exact.
    let server = start();
    let c = client(&server);
    for t in 0..4u64 {
        for b in 0..10u64 {
            let keys: Vec<String> = (0..16).map(|i| format!("b{t}-{b}-{i}")).collect();
            let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
            let got = c.batch_get(&keys).unwrap();
            for (i, v) in got.into_iter().enumerate() {
                let v = v.unwrap_or_else(|| panic!("b{t}-{b}-{i} survives kill -9"));
                assert!(v[..] == value(t, b, i as u64)[..], "b{t}-{b}-{i} exact");
            }
        }
    }
}
