//! `storage.mode: direct` on loop devices (root only): `memkv setup` formats them, the server
//! serves from them with O_DIRECT, survives kill -9 under load in both sync modes, and holds
//! them exclusively so the drive tools refuse them while it runs.

mod common;

use std::process::Command;

use common::memkv_bin;
use common::storage::{LoopDevices, crash_loop, setup, start_disk};

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
