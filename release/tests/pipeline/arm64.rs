//! arm64 under emulation: every arm64 binary of the release prints the tag under
//! `qemu-aarch64` (glibc builds with the Debian aarch64 sysroot, musl builds as they are), and
//! the static arm64 server serves a put/get round trip under emulation.
//!
//! Runs when the test release holds arm64 (the default); a host-only release
//! (`MEMKV_RELEASE_TEST_ARCHES=host`) is checked to be exactly that.

use std::path::Path;

use crate::harness::{Arch, TAG, cmd, package, qemu_aarch64, release, scratch, stdout};
use crate::server;

#[test]
fn arm64_binaries_run_under_qemu_and_serve_a_round_trip() {
    let release = release();
    if !release.arches.contains(&Arch::Arm64) {
        let info: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(release.dist.join("BUILDINFO.json")).expect("BUILDINFO"),
        )
        .expect("json");
        assert_eq!(info["arches"], serde_json::json!(["amd64"]));
        println!("host-only test release (MEMKV_RELEASE_TEST_ARCHES=host): arm64 not built");
        return;
    }
    let qemu = qemu_aarch64();
    let dir = Arch::Arm64.dir(release);
    let sysroot = Path::new("/usr/aarch64-linux-gnu");
    assert!(
        sysroot.is_dir(),
        "the aarch64 sysroot (libc6-arm64-cross) is missing"
    );
    let text = stdout(
        cmd(&qemu)
            .arg("-L")
            .arg(sysroot)
            .arg(dir.join("memkv"))
            .arg("-V"),
    );
    assert_eq!(text, format!("memkv {TAG}"));
    let mut glibc_server = cmd(&qemu);
    glibc_server.arg("-L").arg(sysroot).arg(dir.join("memkv"));
    assert_jemalloc_pages_of_64k(glibc_server, "glibc");
    // Every other arm64 binary runs under emulation too.
    let bench = dir.join("memkv-bench");
    if bench.exists() {
        let text = stdout(cmd(&qemu).arg("-L").arg(sysroot).arg(&bench).arg("-V"));
        assert_eq!(text, format!("memkv-bench {TAG}"));
    }

    // The static musl server from the arm64 .apk data segment, under emulation.
    let apk = std::fs::read(package(release, Arch::Arm64, "apk")).expect("apk");
    let members = crate::apk::gzip_members(&apk);
    let mut data = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(members[members.len() - 1]),
        &mut data,
    )
    .expect("gunzip");
    let mut archive = tar::Archive::new(data.as_slice());
    let work = scratch("arm64");
    let mut found = false;
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == "usr/bin/memkv" {
            entry.unpack(work.join("memkv")).expect("unpack");
            found = true;
        }
    }
    assert!(found, "usr/bin/memkv is not in the arm64 apk");
    let musl = work.join("memkv");
    assert_eq!(
        stdout(cmd(&qemu).arg(&musl).arg("-V")),
        format!("memkv {TAG}")
    );
    let mut musl_server = cmd(&qemu);
    musl_server.arg(&musl);
    assert_jemalloc_pages_of_64k(musl_server, "musl");
    let port = server::free_port();
    let config = server::loopback_config(&work, port);
    let mut start = cmd(&qemu);
    start.arg(&musl).args(["start", "--config"]).arg(&config);
    let _running = server::start(start);
    // The arm64 client too, under emulation.
    let mut client = cmd(&qemu);
    client.arg(&musl);
    server::put_get_with(client, &format!("127.0.0.1:{port}"), None);
}

/// The server's allocator, jemalloc, takes the page size from the machine it is built on, and a
/// cross build cannot ask the target: the release builds arm64's for 64 KiB pages
/// (`release/src/compile.rs`), which also run on kernels with 4 and 16 KiB pages. jemalloc
/// prints the page size it was built for among its statistics.
fn assert_jemalloc_pages_of_64k(mut server: std::process::Command, flavor: &str) {
    let (ok, text) = crate::harness::output_any(
        server
            .arg("-V")
            .env("_RJEM_MALLOC_CONF", "stats_print:true"),
    );
    assert!(ok, "arm64 {flavor} memkv -V failed: {text}");
    assert!(
        text.contains("Page size: 65536"),
        "the arm64 {flavor} server's jemalloc is not built for 64 KiB pages: {}",
        text.lines()
            .find(|l| l.contains("Page size"))
            .unwrap_or("no jemalloc statistics printed")
    );
}
