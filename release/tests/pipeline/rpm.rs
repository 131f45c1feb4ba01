//! The .rpm: `rpm -qpil`, `rpm -K` (digests and the embedded signature against the release's
//! GPG key), `rpmlint` (no errors), and an install into a scratch root whose `/bin` is busybox,
//! with `memkv -V` run from it and an erase that takes everything away.

use std::path::{Path, PathBuf};

use crate::harness::{Arch, TAG, VERSION, cmd, output_any, package, release, run, scratch, stdout};

#[test]
fn rpm_query_shows_metadata_files_and_scripts() {
    let release = release();
    for &arch in &release.arches {
        let rpm = package(release, arch, "rpm");
        let info = stdout(cmd("rpm").arg("-qpil").arg(&rpm));
        for needle in [
            "Name        : memkv".to_owned(),
            format!("Version     : {VERSION}"),
            "Release     : 1".to_owned(),
            format!("Architecture: {}", arch.machine()),
            "License     : AGPL-3.0-or-later".to_owned(),
            "/usr/bin/memkv".to_owned(),
            "/etc/memkv/config.yaml".to_owned(),
            "/usr/lib/systemd/system/memkv.service".to_owned(),
        ] {
            assert!(
                info.contains(&needle),
                "{arch:?}: rpm -qpil lacks {needle:?}:\n{info}"
            );
        }
        let config = stdout(cmd("rpm").arg("-qpc").arg(&rpm));
        assert_eq!(config, "/etc/memkv/config.yaml");
        let requires = stdout(cmd("rpm").arg("-qpR").arg(&rpm));
        assert!(requires.contains("glibc >= 2."), "{requires}");
        let scripts = stdout(cmd("rpm").arg("-qp").arg("--scripts").arg(&rpm));
        for needle in [
            "postinstall scriptlet",
            "preuninstall scriptlet",
            "postuninstall scriptlet",
        ] {
            assert!(
                scripts.contains(needle),
                "{arch:?}: no {needle}:\n{scripts}"
            );
        }
    }
}

#[test]
fn rpm_signature_and_digests_check_with_the_release_key() {
    let release = release();
    let db = scratch("rpm-keys");
    run(cmd("rpm")
        .arg("--dbpath")
        .arg(&db)
        .arg("--import")
        .arg(release.dist.join("memkv-release.gpg.asc")));
    for &arch in &release.arches {
        let rpm = package(release, arch, "rpm");
        let text = stdout(cmd("rpm").arg("--dbpath").arg(&db).arg("-Kv").arg(&rpm));
        assert!(
            text.contains("Header V4 RSA/SHA256 Signature")
                || text.contains("Header V4 RSA/SHA512 Signature"),
            "{text}"
        );
        assert!(!text.contains("NOKEY") && !text.contains("BAD"), "{text}");
        let short = stdout(cmd("rpm").arg("--dbpath").arg(&db).arg("-K").arg(&rpm));
        assert!(short.ends_with("digests signatures OK"), "{short}");
    }
}

#[test]
fn rpmlint_reports_no_errors() {
    let release = release();
    let config = crate::harness::repo().join("packaging/rpm/rpmlint.toml");
    for &arch in &release.arches {
        let rpm = package(release, arch, "rpm");
        let (_, text) = output_any(cmd("rpmlint").arg("-c").arg(&config).arg(&rpm));
        println!("rpmlint {}:\n{text}", arch.machine());
        assert!(text.contains(" 0 errors"), "rpmlint found errors:\n{text}");
    }
}

/// Copies `program` and the shared libraries `ldd` lists for it into `root`.
fn copy_with_libraries(root: &Path, program: &Path) {
    let target = root.join(program.strip_prefix("/").expect("absolute"));
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::fs::copy(program, &target).expect("copying a program");
    let libs = stdout(cmd("ldd").arg(program));
    for line in libs.lines() {
        let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) else {
            continue;
        };
        let target = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(path, &target).expect("copying a library");
    }
}

/// A minimal rpm-distribution root: busybox as `/bin/sh` and the usual applets, shadow's
/// `useradd` (as on RHEL), `/dev/null`, account files, and the glibc the binary links.
fn scratch_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    crate::scripts::busybox_root(&root);
    for sub in ["etc/default", "var/lib", "var/tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
    std::fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").expect("shadow");
    std::fs::write(root.join("etc/gshadow"), "root:*::\n").expect("gshadow");
    for file in ["/etc/login.defs", "/etc/default/useradd"] {
        std::fs::copy(file, root.join(file.trim_start_matches('/'))).expect("shadow config");
    }
    copy_with_libraries(&root, Path::new("/usr/sbin/useradd"));
    // The libraries memkv's glibc build needs.
    for lib in ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2"] {
        let from = Path::new("/lib/x86_64-linux-gnu").join(lib);
        let to = root.join("lib/x86_64-linux-gnu").join(lib);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&from, &to).expect("copying a glibc library");
    }
    let loader = root.join("lib64/ld-linux-x86-64.so.2");
    std::fs::create_dir_all(loader.parent().expect("parent")).expect("mkdir");
    std::fs::copy("/lib64/ld-linux-x86-64.so.2", &loader).expect("copying the loader");
    root
}

#[test]
fn rpm_installs_into_a_scratch_root_runs_and_erases() {
    let release = release();
    let Some(&arch) = release
        .arches
        .iter()
        .find(|a| a.is_host() && **a == Arch::Amd64)
    else {
        panic!("the scratch-root install test runs on amd64 hosts");
    };
    let rpm = package(release, arch, "rpm");
    let dir = scratch("rpm-root");
    let root = scratch_root(&dir);
    let nixl = root.join("opt/nvidia/nvda_nixl/lib/plugins");
    std::fs::create_dir_all(&nixl).expect("nixl dir");

    let (ok, text) = output_any(
        cmd("rpm")
            .arg("--root")
            .arg(&root)
            .args(["-i", "--nodeps"])
            .arg(&rpm),
    );
    assert!(ok && !text.contains("scriptlet failed"), "rpm -i:\n{text}");
    let version = stdout(cmd("chroot").arg(&root).args(["/usr/bin/memkv", "-V"]));
    assert_eq!(version, format!("memkv {TAG}"));
    // %post created the service user with useradd.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    assert!(passwd.lines().any(|l| l.starts_with("memkv:")), "{passwd}");
    let ships_plugin = root.join("usr/lib/memkv/libplugin_MEMKV.so").exists();
    assert_eq!(
        nixl.join("libplugin_MEMKV.so").symlink_metadata().is_ok(),
        ships_plugin
    );
    let listed = stdout(cmd("rpm").arg("--root").arg(&root).args(["-ql", "memkv"]));
    assert!(listed.contains("/usr/bin/memkv"), "{listed}");

    let (ok, text) = output_any(cmd("rpm").arg("--root").arg(&root).args(["-e", "memkv"]));
    assert!(ok && !text.contains("scriptlet failed"), "rpm -e:\n{text}");
    assert!(!root.join("usr/bin/memkv").exists());
    assert!(!root.join("usr/lib/systemd/system/memkv.service").exists());
    assert!(nixl.join("libplugin_MEMKV.so").symlink_metadata().is_err());
}
