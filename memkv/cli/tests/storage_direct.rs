//! `storage.mode: direct` on loop devices (root only): `memkv setup` formats them, the server
//! serves from them with O_DIRECT, survives kill -9 under load in both sync modes (also while
//! striping large values), stores values of several extents, and holds them exclusively so
//! the drive tools refuse them while it runs.

mod common;

use std::process::Command;

use common::storage::{
    CrashShape, LoopDevices, client, crash_loop, crash_loop_shaped, disk_yaml,
    large_values_survive_a_restart, patterned, setup, start_disk,
};
use common::{Server, memkv_bin, random_key_hex};

#[test]
fn kill_9_under_load_on_raw_devices_in_both_sync_modes() {
    let Some(loops) = LoopDevices::create(2, 256 << 20) else {
        return;
    };
    let out = setup(&loops.devices, &["--shard-size", "1024"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = String::from_utf8_lossy(&out.stdout);
    assert!(config.contains("mode: direct"), "{config}");
    crash_loop("direct", &loops.devices, "always", 10);
    crash_loop("direct", &loops.devices, "none", 10);

    // While a server holds the devices, the drive tools refuse them.
    let server = start_disk("direct", &loops.devices, "always");
    let forced = setup(&loops.devices, &["--shard-size", "1024", "--force"]);
    assert_eq!(forced.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&forced.stderr).contains("in use"),
        "{forced:?}"
    );
    let check = Command::new(memkv_bin())
        .args(["drive", "check"])
        .args(&loops.devices)
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("in use"),
        "{check:?}"
    );
    let wipe = Command::new(memkv_bin())
        .args(["drive", "wipe", "--force"])
        .args(&loops.devices)
        .output()
        .unwrap();
    assert!(!wipe.status.success());
    assert!(
        String::from_utf8_lossy(&wipe.stderr).contains("in use"),
        "{wipe:?}"
    );
    drop(server);
    // Stopped: wipe takes the raw devices back (superblock erased, data discarded).
    let wipe = Command::new(memkv_bin())
        .args(["drive", "wipe", "--force"])
        .args(&loops.devices)
        .output()
        .unwrap();
    assert!(
        wipe.status.success(),
        "{}",
        String::from_utf8_lossy(&wipe.stderr)
    );
    let info = Command::new(memkv_bin())
        .args(["drive", "info"])
        .args(&loops.devices[..1])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&info.stderr).contains("not formatted"));
}

#[test]
fn values_of_4_9_and_16_mib_stripe_over_one_and_two_raw_devices() {
    let Some(loops) = LoopDevices::create(2, 64 << 20) else {
        return;
    };
    for n in [1, 2] {
        let drives = &loops.devices[..n];
        let out = setup(drives, &["--shard-size", "4096", "--force"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("block_size: 4 MiB"));
        large_values_survive_a_restart("direct", drives);
    }
}

#[test]
fn kill_9_while_striping_large_values_on_raw_devices() {
    let Some(loops) = LoopDevices::create(2, 256 << 20) else {
        return;
    };
    let out = setup(&loops.devices, &["--shard-size", "1024"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    crash_loop_shaped("direct", &loops.devices, "always", 5, CrashShape::STRIPED);
}

#[test]
fn a_drive_that_fails_goes_offline_and_the_server_keeps_serving_from_the_other() {
    let Some(loops) = LoopDevices::create(2, 64 << 20) else {
        return;
    };
    let out = setup(&loops.devices, &["--shard-size", "1024"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A 1 MiB RAM cache, so most reads go to the drives.
    let key = random_key_hex();
    let yaml = disk_yaml(&key, "direct", &loops.devices, "always", "")
        .replace("max_size: 64 MiB", "max_size: 1 MiB");
    let server = Server::start_yaml(&yaml, key);
    let c = client(&server);
    let name = |k: u64| format!("drive-fail-{k}").into_bytes();
    let n = 200u64;
    for k in 0..n {
        c.put(&name(k), &patterned(k, 16 * 1024)).unwrap();
    }
    let (code, body) = server.admin_get("/v1/health");
    assert_eq!(code, 200);
    assert!(body.contains("\"healthy\""), "{body}");

    // The second device loses everything past its first MiB (the superblock's extent).
    loops.fail(1, 1 << 20);
    // The first reads find the failure. Until one of them reaches the failed drive, keys of
    // that drive still in the RAM cache are served (their bytes are intact), so hits and
    // misses are told apart only afterwards.
    for k in 0..n {
        if let Some(v) = c.get(&name(k)).unwrap() {
            assert!(v[..] == patterned(k, 16 * 1024)[..], "key {k}");
        }
    }
    let mut hits = Vec::new();
    let mut misses = Vec::new();
    for k in 0..n {
        match c.get(&name(k)).unwrap() {
            Some(v) => {
                assert!(v[..] == patterned(k, 16 * 1024)[..], "key {k}");
                hits.push(k);
            }
            None => misses.push(k),
        }
    }
    assert!(
        !hits.is_empty() && !misses.is_empty(),
        "{hits:?} {misses:?}"
    );

    let (code, body) = server.admin_get("/v1/health");
    assert_eq!(code, 200, "degraded still serves: {body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded", "{body}");
    assert_eq!(health["drives_online"], 1, "{body}");
    assert_eq!(health["drives_offline"], 1, "{body}");
    assert_eq!(health["drives_total"], 2, "{body}");
    assert_eq!(server.metric("memkv_drives{state=\"offline\"}"), 1.0);
    assert_eq!(server.metric("memkv_drives{state=\"online\"}"), 1.0);
    let (_, status) = server.admin_get("/v1/status");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let devices = status["storage"]["devices"].as_array().unwrap().clone();
    let state_of = |dev: &std::path::Path| {
        devices
            .iter()
            .find(|d| d["media"] == dev.display().to_string())
            .map(|d| d["state"].clone())
    };
    assert_eq!(
        state_of(&loops.devices[1]).unwrap(),
        "offline",
        "{devices:?}"
    );
    assert_eq!(
        state_of(&loops.devices[0]).unwrap(),
        "online",
        "{devices:?}"
    );

    // The failed drive's keys keep missing; the other drive's keep serving.
    for &k in &misses {
        assert_eq!(c.get(&name(k)).unwrap(), None, "key {k}");
    }
    for &k in &hits {
        assert!(c.get(&name(k)).unwrap().unwrap()[..] == patterned(k, 16 * 1024)[..]);
    }
    // New values, whatever their key, go to the drive that works.
    for k in 1000..1040 {
        c.put(&name(k), &patterned(k, 16 * 1024)).unwrap();
        assert!(c.get(&name(k)).unwrap().unwrap()[..] == patterned(k, 16 * 1024)[..]);
    }
    // The failure is logged (stderr is collected by a thread: wait for the line).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.stderr().contains("it is offline now") {
        assert!(
            std::time::Instant::now() < deadline,
            "the failure is logged: {}",
            server.stderr()
        );
        std::thread::yield_now();
    }
}
