//! `memkv setup` and `memkv drive` on data files: the printed config starts a server, drives
//! with a memkv superblock or a filesystem signature are refused with the reason, `--force`
//! and `--idempotent` behave, and `drive check` reports a damaged image.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::storage::{client, setup, versioned_value, versioned_value_max};
use common::{Server, memkv_bin};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn blank_files(dir: &Path, n: usize, size: u64) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("d{i}.img"));
            std::fs::File::create(&p).unwrap().set_len(size).unwrap();
            p
        })
        .collect()
}

fn drive(args: &[&str], paths: &[PathBuf]) -> Output {
    Command::new(memkv_bin())
        .arg("drive")
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

/// The printed config with the listen address made loopback and ephemeral.
fn runnable(config: &str) -> (String, String) {
    let key = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("auth_key: \""))
        .map(|k| k.trim_end_matches('"').to_owned())
        .expect("setup prints an auth key");
    let yaml = config
        .replace("0.0.0.0:9900", "127.0.0.1:0")
        .replace("max_size: 4 GiB", "max_size: 64 MiB");
    (yaml, key)
}

#[test]
fn setup_prints_a_config_that_starts_a_server_on_the_drives() {
    let dir = tempfile::tempdir().unwrap();
    let drives = blank_files(dir.path(), 2, 64 << 20);
    let out = setup(&drives, &["--shard-size", "1024"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = stdout(&out);
    assert!(
        config.contains("mode: file") && config.contains("block_size: 1 MiB"),
        "{config}"
    );
    assert!(
        stderr(&out).contains("formatted"),
        "logs go to stderr: {}",
        stderr(&out)
    );

    let (yaml, key) = runnable(&config);
    let mut server = Server::start_yaml(&yaml, key.clone());
    client(&server).put(b"k", &versioned_value(1, 1)).unwrap();
    server.sigterm();
    server.wait();
    drop(server);

    // A second setup refuses the formatted drives, and says why.
    let again = setup(&drives, &["--shard-size", "1024"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("carries a memkv superblock"),
        "{}",
        stderr(&again)
    );
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));

    // --idempotent keeps the set and its data.
    let idem = setup(&drives, &["--shard-size", "1024", "--idempotent"]);
    assert!(idem.status.success(), "{}", stderr(&idem));
    let server = Server::start_yaml(&runnable(&stdout(&idem)).0, runnable(&stdout(&idem)).1);
    let got = client(&server)
        .get(b"k")
        .unwrap()
        .expect("kept by --idempotent");
    assert_eq!(&got[..], &versioned_value(1, 1)[..]);
    drop(server);

    // --idempotent with other settings is a refusal, not a silent reformat.
    let other = setup(&drives, &["--shard-size", "2048", "--idempotent"]);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));

    // --force reformats: the data is gone.
    let forced = setup(&drives, &["--shard-size", "1024", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let (yaml, key) = runnable(&stdout(&forced));
    let server = Server::start_yaml(&yaml, key);
    assert_eq!(client(&server).get(b"k").unwrap(), None);
}

#[test]
fn setup_refuses_filesystems_and_partition_tables_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let drives = blank_files(dir.path(), 3, 16 << 20);
    // An ext4 superblock magic on drive 1, a GPT header on drive 2.
    let mut ext = std::fs::read(&drives[1]).unwrap();
    ext[1080..1082].copy_from_slice(&[0x53, 0xEF]);
    std::fs::write(&drives[1], &ext).unwrap();
    let mut gpt = std::fs::read(&drives[2]).unwrap();
    gpt[512..520].copy_from_slice(b"EFI PART");
    std::fs::write(&drives[2], &gpt).unwrap();

    for (i, what) in [(1, "ext2/ext3/ext4 filesystem"), (2, "GPT partition table")] {
        let out = setup(&[drives[0].clone(), drives[i].clone()], &[]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(what), "{}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    // Nothing was written: the blank drive is still blank and the others unchanged.
    assert!(std::fs::read(&drives[0]).unwrap().iter().all(|&b| b == 0));
    assert_eq!(std::fs::read(&drives[1]).unwrap(), ext);
    assert_eq!(std::fs::read(&drives[2]).unwrap(), gpt);
}

#[test]
fn drive_check_reports_a_damaged_image_and_repair_rebuilds_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let drives = blank_files(dir.path(), 1, 16 << 20);
    let out = setup(&drives, &["--shard-size", "1024"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (yaml, key) = runnable(&stdout(&out));
    let mut server = Server::start_yaml(&yaml, key);
    let c = client(&server);
    // Fill more than one 1 MiB segment, so at least one is sealed with a summary.
    for k in 0..40u64 {
        c.put(format!("k{k}").as_bytes(), &versioned_value(k, 3))
            .unwrap();
    }
    // And a value striped over three 1 MiB extents.
    c.put(b"large", &versioned_value_max(99, 3, 2_500_000))
        .unwrap();
    server.sigterm();
    server.wait();
    drop(server);

    let clean = drive(&["check"], &drives);
    assert!(
        clean.status.success(),
        "{}{}",
        stdout(&clean),
        stderr(&clean)
    );
    assert!(stdout(&clean).contains("0 problems"), "{}", stdout(&clean));
    let info = drive(&["info"], &drives);
    assert!(info.status.success(), "{}", stderr(&info));
    let version = memkv_store::disk::format::FORMAT_VERSION;
    assert!(
        stdout(&info).contains(&format!("format version:   {version}")),
        "{}",
        stdout(&info)
    );
    assert!(
        !stdout(&info).contains("stripe parts:     0"),
        "{}",
        stdout(&info)
    );

    // Damage one value and the first sealed segment's summary footer.
    let mut bytes = std::fs::read(&drives[0]).unwrap();
    let v = versioned_value(5, 3);
    let at = bytes.windows(64).position(|w| w == &v[..64]).unwrap();
    bytes[at + 100] ^= 0xFF;
    let extent = 1usize << 20;
    let footer = bytes[extent..]
        .chunks(extent)
        .position(|seg| &seg[extent - 4096..extent - 4096 + 8] == b"MKVSUMM\0")
        .expect("a sealed segment");
    bytes[extent + footer * extent + extent - 4096 + 20] ^= 0xFF;
    std::fs::write(&drives[0], bytes).unwrap();

    let damaged = drive(&["check"], &drives);
    assert_eq!(damaged.status.code(), Some(1), "{}", stdout(&damaged));
    let report = stdout(&damaged);
    assert!(report.contains("fails its checksum"), "{report}");
    assert!(report.contains("segment summary"), "{report}");

    let repaired = drive(&["check", "--repair"], &drives);
    assert!(
        stdout(&repaired).contains("summary rebuilt"),
        "{}",
        stdout(&repaired)
    );
    let after = stdout(&drive(&["check"], &drives));
    assert!(!after.contains("segment summary"), "{after}");
    assert!(
        after.contains("fails its checksum"),
        "value damage stays reported: {after}"
    );
}

fn drive_with_stdin(args: &[&str], paths: &[PathBuf], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(memkv_bin())
        .arg("drive")
        .args(args)
        .args(paths)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn drive_wipe_refuses_foreign_and_busy_drives_and_frees_memkv_drives_for_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let drives = blank_files(dir.path(), 2, 8 << 20);
    std::fs::create_dir(dir.path().join("x")).unwrap();
    let foreign = blank_files(&dir.path().join("x"), 1, 1 << 20);
    std::fs::write(&foreign[0], vec![7u8; 1 << 20]).unwrap();

    // Not a memkv drive: refused, and nothing named with it is touched either.
    let out = drive(
        &["wipe", "--force"],
        &[foreign[0].clone(), drives[0].clone()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no memkv superblock"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&foreign[0]).unwrap(), vec![7u8; 1 << 20]);

    let out = setup(&drives, &["--shard-size", "1024"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (yaml, key) = runnable(&stdout(&out));
    let mut server = Server::start_yaml(&yaml, key);
    client(&server).put(b"k", &versioned_value(1, 1)).unwrap();
    // In use by a running server (it holds a lock on its data files): refused.
    let busy = drive(&["wipe", "--force"], &drives[..1]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(stderr(&busy).contains("in use"), "{}", stderr(&busy));
    server.sigterm();
    server.wait();
    drop(server);
    let before = std::fs::read(&drives[0]).unwrap();

    // Not confirmed: nothing changes.
    let no = drive_with_stdin(&["wipe"], &drives[..1], "no\n");
    assert_eq!(no.status.code(), Some(1));
    assert!(stderr(&no).contains("not confirmed"), "{}", stderr(&no));
    assert_eq!(std::fs::read(&drives[0]).unwrap(), before);

    // Confirmed: the superblock is gone and only the named drive changed.
    let other = std::fs::read(&drives[1]).unwrap();
    let yes = drive_with_stdin(&["wipe"], &drives[..1], "yes\n");
    assert!(yes.status.success(), "{}", stderr(&yes));
    assert!(stdout(&yes).contains("wiped"), "{}", stdout(&yes));
    assert_eq!(std::fs::read(&drives[1]).unwrap(), other);
    let info = drive(&["info"], &drives[..1]);
    assert!(!info.status.success());
    assert!(stderr(&info).contains("not formatted"), "{}", stderr(&info));
    assert!(
        std::fs::read(&drives[0]).unwrap()[..4096]
            .iter()
            .all(|&b| b == 0)
    );

    // Both wiped (--force): setup takes them again without --force.
    let out = drive(&["wipe", "--force"], &drives[1..]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = setup(&drives, &["--shard-size", "1024"]);
    assert!(again.status.success(), "{}", stderr(&again));
}

/// `memkv start` with `yaml`, expected to refuse: its exit code and stderr.
fn start_refused(dir: &Path, yaml: &str) -> (Option<i32>, String) {
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let out = Command::new(memkv_bin())
        .args(["start", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn start_refuses_drives_of_two_sets_and_a_newer_format_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let set_a = blank_files(&dir.path().join("a"), 2, 16 << 20);
    let set_b = blank_files(&dir.path().join("b"), 2, 16 << 20);
    for set in [&set_a, &set_b] {
        let out = setup(set, &["--shard-size", "1024"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let key = common::random_key_hex();
    // As many drives as each set has, but one from each.
    let mixed = [set_a[0].clone(), set_b[1].clone()];
    let yaml = common::storage::disk_yaml(&key, "file", &mixed, "always", "");
    let (code, err) = start_refused(dir.path(), &yaml);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("different drive set"),
        "names the set mismatch: {err}"
    );
    assert_eq!(
        err.matches("different drive set").count(),
        1,
        "said once: {err}"
    );

    // A superblock of a format version newer than this build: refused, never rewritten.
    let mut bytes = std::fs::read(&set_a[0]).unwrap();
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    bytes[8..12].copy_from_slice(&(version + 1).to_le_bytes());
    std::fs::write(&set_a[0], &bytes).unwrap();
    let yaml = common::storage::disk_yaml(&key, "file", &set_a, "always", "");
    let (code, err) = start_refused(dir.path(), &yaml);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("format version {}", version + 1)) && err.contains("upgrade memkv"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&set_a[0]).unwrap(),
        bytes,
        "the drive is untouched"
    );
}
