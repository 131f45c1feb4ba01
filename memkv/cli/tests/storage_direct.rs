//! `storage.mode: direct` on loop devices (root only): `memkv setup` formats them, the server
//! serves from them with O_DIRECT, survives kill -9 under load in both sync modes (also while
//! striping large values), stores values of several extents, and holds them exclusively so
//! the drive tools refuse them while it runs.

mod common;

use std::process::Command;

use common::memkv_bin;
use common::storage::{
    CrashShape, LoopDevices, crash_loop, crash_loop_shaped, large_values_survive_a_restart, setup,
    start_disk,
};

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
    drop(server);
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
