//! The .deb: `dpkg-deb -I/-c`, `lintian` (no errors), and a real `dpkg -i` on this machine
//! followed by `memkv -V`, the unit check, a put/get against the installed server, and
//! `dpkg -r` / `dpkg -P` leaving only what Debian policy keeps.

use std::path::Path;

use crate::harness::{TAG, VERSION, cmd, output_any, package, release, run, scratch, stdout};
use crate::server;

#[test]
fn dpkg_deb_shows_metadata_and_contents() {
    let release = release();
    for &arch in &release.arches {
        let deb = package(release, arch, "deb");
        let info = stdout(cmd("dpkg-deb").arg("-I").arg(&deb));
        for needle in [
            "Package: memkv".to_owned(),
            format!("Version: {VERSION}"),
            format!("Architecture: {}", arch.debian()),
            "Depends: libc6 (>= 2.".to_owned(),
            "Section: net".to_owned(),
            "postinst".to_owned(),
            "prerm".to_owned(),
            "postrm".to_owned(),
            "conffiles".to_owned(),
        ] {
            assert!(
                info.contains(&needle),
                "{arch:?}: dpkg-deb -I lacks {needle:?}:\n{info}"
            );
        }
        let conffiles = stdout(cmd("dpkg-deb").arg("--info").arg(&deb).arg("conffiles"));
        assert_eq!(conffiles, "/etc/memkv/config.yaml");
        let contents = stdout(cmd("dpkg-deb").arg("-c").arg(&deb));
        for (mode, path) in [
            ("-rwxr-xr-x root/root", "./usr/bin/memkv"),
            ("-rw-r--r-- root/root", "./etc/memkv/config.yaml"),
            (
                "-rw-r--r-- root/root",
                "./usr/lib/systemd/system/memkv.service",
            ),
            ("-rw-r--r-- root/root", "./usr/lib/sysusers.d/memkv.conf"),
            ("-rw-r--r-- root/root", "./usr/share/doc/memkv/copyright"),
            ("-rw-r--r-- root/root", "./usr/share/doc/memkv/changelog.gz"),
        ] {
            assert!(
                contents
                    .lines()
                    .any(|l| l.starts_with(mode) && l.ends_with(path)),
                "{arch:?}: dpkg-deb -c lacks {mode} {path}:\n{contents}"
            );
        }
        // Every file carries the release time (reproducible, SOURCE_DATE_EPOCH).
        assert!(
            contents.lines().all(|l| l.contains("2026-11-25 12:00")),
            "file times are not the release time:\n{contents}"
        );
    }
}

#[test]
fn lintian_reports_no_errors() {
    let release = release();
    for &arch in &release.arches {
        let deb = package(release, arch, "deb");
        let (_, text) = output_any(
            cmd("lintian")
                .args(["--display-info", "--no-tag-display-limit"])
                .arg(&deb),
        );
        println!("lintian {}:\n{text}", arch.debian());
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("E:")).collect();
        assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
        let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("W:")).collect();
        assert!(
            warnings.is_empty(),
            "lintian warnings:\n{}",
            warnings.join("\n")
        );
    }
}

fn host_deb() -> Option<std::path::PathBuf> {
    let release = release();
    release
        .arches
        .iter()
        .find(|a| a.is_host())
        .map(|&arch| package(release, arch, "deb"))
}

#[test]
fn dpkg_installs_runs_serves_and_removes_cleanly() {
    let Some(deb) = host_deb() else {
        panic!("no host-architecture .deb in the test release");
    };
    // A previous failed run may have left it installed.
    let _ = output_any(cmd("dpkg").args(["--purge", "memkv"]));
    let nixl = Path::new("/opt/nvidia/nvda_nixl/lib/plugins");
    // When the package ships the NIXL plugin, pretend NIXL is installed so the post-install
    // link is exercised (the directory is removed again at the end if this test made it).
    let ships_plugin = stdout(cmd("dpkg-deb").arg("-c").arg(&deb)).contains("libplugin_MEMKV.so");
    let made_nixl = ships_plugin && !nixl.exists();
    if made_nixl {
        std::fs::create_dir_all(nixl).expect("creating the NIXL plugin directory");
    }
    run(cmd("dpkg").arg("-i").arg(&deb));

    assert_eq!(
        stdout(cmd("/usr/bin/memkv").arg("-V")),
        format!("memkv {TAG}")
    );
    assert_eq!(
        stdout(cmd("/usr/bin/memkv-bench").arg("-V")),
        format!("memkv-bench {TAG}")
    );
    assert!(Path::new("/usr/lib/systemd/system/memkv.service").is_file());
    run(cmd("systemd-analyze").args(["verify", "/usr/lib/systemd/system/memkv.service"]));
    // The service user exists and the unit is not enabled.
    run(cmd("id").arg("memkv"));
    let (_, enabled) = output_any(cmd("systemctl").args(["is-enabled", "memkv.service"]));
    assert!(
        !enabled.trim().starts_with("enabled"),
        "memkv.service is enabled: {enabled}"
    );
    // Not enabled, checked without asking systemd (which may not run here): no wants link.
    let wants = Path::new("/etc/systemd/system/multi-user.target.wants/memkv.service");
    assert!(
        wants.symlink_metadata().is_err(),
        "{} exists: the package enabled the service",
        wants.display()
    );
    // The plugin link exists exactly when the package ships the plugin and NIXL is there.
    if nixl.is_dir() {
        assert_eq!(nixl.join("libplugin_MEMKV.so").exists(), ships_plugin);
    }

    // The installed conffile is valid: the installed server starts on it (address moved to a
    // free port so a developer's own server on 9900 does not matter).
    let dir = scratch("deb-server");
    let port = server::free_port();
    let installed = std::fs::read_to_string("/etc/memkv/config.yaml").expect("conffile");
    assert!(installed.contains("address: 127.0.0.1:9900"), "{installed}");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        installed.replace("127.0.0.1:9900", &format!("127.0.0.1:{port}")),
    )
    .expect("config");
    let mut start = cmd("/usr/bin/memkv");
    start.args(["start", "--config"]).arg(&config);
    let running = server::start(start);
    server::put_get(
        Path::new("/usr/bin/memkv"),
        &format!("127.0.0.1:{port}"),
        None,
    );
    drop(running);

    run(cmd("dpkg").args(["-r", "memkv"]));
    // Nothing the package shipped is left but its conffiles (Debian policy keeps those until
    // purge): every file and link of `dpkg-deb -c` is gone, and so is every directory of its
    // own (the shared ones, /usr/bin and the like, belong to the system).
    let conffiles = stdout(cmd("dpkg-deb").arg("--info").arg(&deb).arg("conffiles"));
    let conffiles: Vec<&str> = conffiles.lines().map(str::trim).collect();
    let shipped = stdout(cmd("dpkg-deb").arg("-c").arg(&deb));
    for line in shipped.lines() {
        // `... ./path` or, for a link, `... ./path -> target`.
        let path = line
            .split(" -> ")
            .next()
            .unwrap_or(line)
            .split_whitespace()
            .last()
            .expect("a path")
            .trim_start_matches('.')
            .trim_end_matches('/');
        if path.is_empty() || conffiles.contains(&path) {
            continue;
        }
        let is_dir = line.starts_with('d');
        let own_dir = is_dir
            && path.contains("memkv")
            && !conffiles.iter().any(|c| c.starts_with(&format!("{path}/")));
        if !is_dir || own_dir {
            assert!(
                Path::new(path).symlink_metadata().is_err(),
                "{path} is left after dpkg -r"
            );
        }
    }
    for gone in [
        "/usr/bin/memkv",
        "/usr/lib/systemd/system/memkv.service",
        "/usr/share/doc/memkv",
        "/usr/lib/memkv",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after dpkg -r");
    }
    assert!(
        !nixl.join("libplugin_MEMKV.so").exists(),
        "the NIXL link is left after dpkg -r"
    );
    if made_nixl {
        let _ = std::fs::remove_dir_all("/opt/nvidia");
    }
    // Debian policy: conffiles stay until purge; the system user stays.
    assert!(Path::new("/etc/memkv/config.yaml").is_file());
    run(cmd("dpkg").args(["--purge", "memkv"]));
    for gone in ["/etc/memkv", "/var/lib/memkv"] {
        assert!(
            Path::new(gone).symlink_metadata().is_err(),
            "{gone} is left after purge"
        );
    }
    let (_, status) = output_any(
        cmd("dpkg-query")
            .args(["-W", "-f=${db:Status-Abbrev}", "memkv"])
            .env("LC_ALL", "C"),
    );
    assert!(
        !status.starts_with("ii") && !status.starts_with("rc"),
        "dpkg still has memkv: {status}"
    );
}

/// Everything `systemd-analyze syscall-filter` (this machine's systemd) puts in a group,
/// nested groups expanded.
fn syscall_group(group: &str, into: &mut std::collections::BTreeSet<String>) {
    let text = stdout(cmd("systemd-analyze").args(["syscall-filter", group]));
    for line in text.lines().skip(1) {
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        if item.starts_with('@') {
            syscall_group(item, into);
        } else {
            into.insert(item.to_owned());
        }
    }
}

/// The unit's seccomp filter lets the server's io_uring engine run (else io_uring_setup fails
/// with EPERM and memkv-ioengine silently falls back to the thread pool): io_uring_setup,
/// io_uring_enter and io_uring_register are allowed by the unit's SystemCallFilter= as this
/// machine's systemd (Debian 12: 252) expands it.
#[test]
fn unit_syscall_filter_allows_io_uring() {
    let unit =
        std::fs::read_to_string(crate::harness::repo().join("packaging/systemd/memkv.service"))
            .expect("memkv.service");
    let mut allowed = std::collections::BTreeSet::new();
    let mut denied = std::collections::BTreeSet::new();
    for value in unit
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SystemCallFilter="))
    {
        let (set, items) = match value.strip_prefix('~') {
            Some(rest) => (&mut denied, rest),
            None => (&mut allowed, value),
        };
        for item in items.split_whitespace() {
            if item.starts_with('@') {
                syscall_group(item, set);
            } else {
                set.insert(item.to_owned());
            }
        }
    }
    assert!(
        !allowed.is_empty(),
        "memkv.service has no SystemCallFilter= allow list"
    );
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(
            allowed.contains(call) && !denied.contains(call),
            "memkv.service's SystemCallFilter= does not allow {call}"
        );
    }
}
