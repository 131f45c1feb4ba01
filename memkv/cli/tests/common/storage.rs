//! Helpers for the persistent-storage tests: config text for `file` and `direct` mode, loop
//! devices, deterministic values, and the kill -9 crash loop with its model of what must
//! survive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memkv_client::{Client, ClientConfig};

use super::{Server, random_key_hex};

/// A config for `mode` (`file` or `direct`) over `drives`.
pub fn disk_yaml(key_hex: &str, mode: &str, drives: &[PathBuf], sync: &str, extra: &str) -> String {
    disk_yaml_sized(key_hex, mode, drives, sync, "1 MiB", "256 MiB", extra)
}

/// A config for `mode` over `drives` with the given `storage.block_size` and, in file mode,
/// the size of the data files it creates.
pub fn disk_yaml_sized(
    key_hex: &str,
    mode: &str,
    drives: &[PathBuf],
    sync: &str,
    block_size: &str,
    drive_size: &str,
    extra: &str,
) -> String {
    let mut yaml = format!(
        "network:\n  address: 127.0.0.1:0\n  auth_key: \"{key_hex}\"\nmemory:\n  max_size: 64 MiB\nstorage:\n  mode: {mode}\n  sync: {sync}\n  block_size: {block_size}\n{extra}  drives:\n"
    );
    for d in drives {
        yaml.push_str(&format!(
            "    - {{ media: {}, size: {drive_size} }}\n",
            d.display()
        ));
    }
    yaml
}

/// Starts a server on `drives`.
pub fn start_disk(mode: &str, drives: &[PathBuf], sync: &str) -> Server {
    let key = random_key_hex();
    let yaml = disk_yaml(&key, mode, drives, sync, "");
    Server::start_yaml(&yaml, key)
}

/// Starts a server on `drives` with 4 MiB extents (the default `storage.block_size`) and, in
/// file mode, 64 MiB data files.
pub fn start_disk_4m(mode: &str, drives: &[PathBuf]) -> Server {
    let key = random_key_hex();
    let yaml = disk_yaml_sized(&key, mode, drives, "always", "4 MiB", "64 MiB", "");
    Server::start_yaml(&yaml, key)
}

/// `len` bytes derived from `seed`.
pub fn patterned(seed: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Values of 4, 9 and 16 MiB and of exactly two parts (larger than one 4 MiB extent, so
/// striped) survive a restart byte-exact on `drives`, take one part extent per full part
/// (the rest is inline in the stripe record: a 4 MiB value takes one part extent), and a
/// value larger than the usable capacity is refused with NoSpace (checked when there is one
/// drive, to keep the test's memory small).
pub fn large_values_survive_a_restart(mode: &str, drives: &[PathBuf]) {
    const MIB: usize = 1 << 20;
    const PART: usize = 4 * MIB - 4096;
    // Parts: 1 (+ a 4 KiB tail), 2 (+ 1 MiB + 8 KiB), 4 (+ 16 KiB), 2 (no tail).
    let sizes = [4 * MIB, 9 * MIB, 16 * MIB, 2 * PART];
    let mut server = start_disk_4m(mode, drives);
    let c = client(&server);
    for (i, &len) in sizes.iter().enumerate() {
        c.put(format!("large-{i}").as_bytes(), &patterned(i as u64, len))
            .unwrap_or_else(|e| panic!("put of {len} bytes: {e}"));
    }
    for (i, &len) in sizes.iter().enumerate() {
        let got = c.get(format!("large-{i}").as_bytes()).unwrap().unwrap();
        assert!(got[..] == patterned(i as u64, len)[..], "{len} bytes");
    }
    server.sigterm();
    server.wait();
    drop(server);
    assert_eq!(
        stripe_parts(drives),
        1 + 2 + 4 + 2,
        "one part extent per full part"
    );

    let server = start_disk_4m(mode, drives);
    let c = client(&server);
    for (i, &len) in sizes.iter().enumerate() {
        let got = c
            .get(format!("large-{i}").as_bytes())
            .unwrap()
            .unwrap_or_else(|| panic!("the {len}-byte value survives a restart"));
        assert_eq!(got.len(), len);
        assert!(got[..] == patterned(i as u64, len)[..], "{len} bytes");
    }
    assert_eq!(server.metric("memkv_corrupt_reads_total"), 0.0);
    assert_eq!(server.metric("memkv_evictions_total"), 0.0);
    if drives.len() == 1 {
        // 64 MiB: 15 extents of 4 MiB; 14 of them can hold parts of one value, and its
        // stripe record a tail: an empty segment minus its header block, the summary (one
        // block and the footer), the record header, the key (7 bytes) and 14 part references.
        let tail = 4 * MIB - 3 * 4096 - 48 - 7 - 14 * 24;
        let too_big = 14 * PART + tail + 1;
        let err = c.put(b"too-big", &patterned(9, too_big)).unwrap_err();
        assert!(
            matches!(err, memkv_client::ClientError::NoSpace { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("larger than the server's capacity"),
            "{err}"
        );
        // Nothing was lost to make room for it.
        let got = c.get(b"large-2").unwrap().expect("still there");
        assert!(got[..] == patterned(2, 16 * MIB)[..]);
    }
}

/// The stripe part extents on `drives`, from `memkv drive info` (the server is stopped).
pub fn stripe_parts(drives: &[PathBuf]) -> u64 {
    let out = Command::new(super::memkv_bin())
        .args(["drive", "info"])
        .args(drives)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("stripe parts:"))
        .map(|n| n.trim().parse::<u64>().unwrap())
        .sum()
}

/// A client for one server.
pub fn client(server: &Server) -> Client {
    Client::new(ClientConfig::new([server.data.to_string()]).with_auth_key(server.key()))
        .expect("client")
}

/// Loop devices backed by files; detached on drop.
pub struct LoopDevices {
    /// `/dev/loopN` paths.
    pub devices: Vec<PathBuf>,
    backing: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl LoopDevices {
    /// `count` loop devices of `size` bytes, or `None` (after printing the skip line) when not
    /// running as root. Panics when `losetup` is missing.
    pub fn create(count: usize, size: u64) -> Option<LoopDevices> {
        if !nix_is_root() {
            println!("skipped: needs root for loop devices");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut devices = Vec::new();
        let mut backing = Vec::new();
        for i in 0..count {
            let backing_file = dir.path().join(format!("loop{i}.img"));
            std::fs::File::create(&backing_file)
                .unwrap()
                .set_len(size)
                .unwrap();
            let out = Command::new("losetup")
                .args(["--find", "--show"])
                .arg(&backing_file)
                .output()
                .unwrap_or_else(|e| panic!("losetup is missing ({e}); apt install mount"));
            assert!(
                out.status.success(),
                "losetup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            devices.push(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()));
            backing.push(backing_file);
        }
        Some(LoopDevices {
            devices,
            backing,
            _dir: dir,
        })
    }

    /// Makes device `i` fail like a drive that lost its media: cuts its backing file to
    /// `keep` bytes and tells the kernel (`losetup -c`, set-capacity). Reads beyond the new
    /// end then return nothing (a short read) and writes fail with `ENOSPC`.
    pub fn fail(&self, i: usize, keep: u64) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.backing[i])
            .unwrap()
            .set_len(keep)
            .unwrap();
        let out = Command::new("losetup")
            .arg("-c")
            .arg(&self.devices[i])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup -c failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for LoopDevices {
    fn drop(&mut self) {
        for d in &self.devices {
            let _ = Command::new("losetup").arg("-d").arg(d).status();
        }
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs `memkv setup` on `drives` and returns its stdout (the config).
pub fn setup(drives: &[PathBuf], extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(super::memkv_bin());
    cmd.arg("setup").arg("--drives").args(drives).args(extra);
    cmd.output().expect("run memkv setup")
}

/// The value of version `version` of key `key`: the version in the first 8 bytes, then
/// bytes derived from both, of a length that varies from 100 B to 96 KiB.
pub fn versioned_value(key: u64, version: u64) -> Vec<u8> {
    versioned_value_max(key, version, 96 * 1024)
}

/// Like [`versioned_value`], with lengths from 100 B to `max` + 100 B.
pub fn versioned_value_max(key: u64, version: u64, max: u64) -> Vec<u8> {
    let len = 100 + ((key * 7919 + version * 104_729) % max) as usize;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&version.to_le_bytes());
    let mut x = (key << 32) ^ version ^ 0x9E37_79B9_7F4A_7C15;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn key_name(k: u64) -> Vec<u8> {
    format!("crash-key-{k:05}").into_bytes()
}

/// What a key may hold after a crash: the outcome of its last acknowledged operation, or of
/// the one operation in flight when the server died.
#[derive(Debug, Clone, Default)]
struct KeyModel {
    /// `Some(v)`: version v stored; `None`: absent.
    acked: Option<u64>,
    in_flight: Option<Option<u64>>,
}

/// The crash loop: `iterations` times, start the server on `drives`, run a mixed load from
/// four threads (each owning its keys, so per-key order is known), kill -9 the server once
/// `ops_before_kill` operations were acknowledged, restart it, and check every key: a value
/// served is byte-exact, and with `sync: always` every acknowledged put is still there (the
/// drives are large enough that nothing is evicted).
pub fn crash_loop(mode: &str, drives: &[PathBuf], sync: &str, iterations: u32) {
    crash_loop_shaped(mode, drives, sync, iterations, CrashShape::SMALL);
}

/// The sizes a crash loop works with.
#[derive(Debug, Clone, Copy)]
pub struct CrashShape {
    /// Keys each of the four load threads owns.
    pub keys_per_thread: u64,
    /// Values are 100 B to this many bytes (+ 100).
    pub max_len: u64,
    /// Kill after this many acknowledged operations, plus up to `kill_spread` more.
    pub kill_after: u64,
    /// See `kill_after`.
    pub kill_spread: u64,
}

impl CrashShape {
    /// Values up to 96 KiB: all inline in a segment.
    pub const SMALL: CrashShape = CrashShape {
        keys_per_thread: 40,
        max_len: 96 * 1024,
        kill_after: 150,
        kill_spread: 200,
    };
    /// Values up to 3 MiB with 1 MiB extents: most are striped over up to 4 parts, so the
    /// kill often lands between writing the parts and committing the stripe record.
    pub const STRIPED: CrashShape = CrashShape {
        keys_per_thread: 6,
        max_len: 3 << 20,
        kill_after: 20,
        kill_spread: 40,
    };
}

/// [`crash_loop`] with values and keys of `shape`.
pub fn crash_loop_shaped(
    mode: &str,
    drives: &[PathBuf],
    sync: &str,
    iterations: u32,
    shape: CrashShape,
) {
    const THREADS: u64 = 4;
    let keys_per_thread = shape.keys_per_thread;
    let model: Arc<Mutex<HashMap<u64, KeyModel>>> = Arc::new(Mutex::new(HashMap::new()));
    let next_version = Arc::new(AtomicU64::new(1));
    // What the server killed last wrote to stderr: part of a failure's message.
    let mut killed_log = String::new();
    for iteration in 0..iterations {
        let mut server = start_disk(mode, drives, sync);
        verify(&server, &model, sync, iteration, shape.max_len, &killed_log);
        let acked = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let client = client(&server);
                let (model, acked, stop, next_version) = (
                    Arc::clone(&model),
                    Arc::clone(&acked),
                    Arc::clone(&stop),
                    Arc::clone(&next_version),
                );
                std::thread::spawn(move || {
                    let mut rng = t * 31 + u64::from(iteration) * 1000 + 1;
                    while !stop.load(Ordering::Relaxed) {
                        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let k = t * keys_per_thread + (rng >> 33) % keys_per_thread;
                        let op = (rng >> 20) % 10;
                        let name = key_name(k);
                        if op < 6 {
                            let version = next_version.fetch_add(1, Ordering::Relaxed);
                            model.lock().unwrap().entry(k).or_default().in_flight =
                                Some(Some(version));
                            let value = versioned_value_max(k, version, shape.max_len);
                            if client.put(&name, &value).is_err() {
                                return;
                            }
                            let mut m = model.lock().unwrap();
                            let e = m.get_mut(&k).unwrap();
                            e.acked = Some(version);
                            e.in_flight = None;
                        } else if op < 8 {
                            model.lock().unwrap().entry(k).or_default().in_flight = Some(None);
                            if client.delete(&name).is_err() {
                                return;
                            }
                            let mut m = model.lock().unwrap();
                            let e = m.get_mut(&k).unwrap();
                            e.acked = None;
                            e.in_flight = None;
                        } else {
                            match client.get(&name) {
                                Ok(Some(v)) => {
                                    let version = u64::from_le_bytes(v[..8].try_into().unwrap());
                                    assert!(
                                        v[..] == versioned_value_max(k, version, shape.max_len)[..],
                                        "key {k}: served bytes are not the ones stored"
                                    );
                                }
                                Ok(None) => {}
                                Err(_) => return,
                            }
                        }
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Kill once enough operations completed: an observable fact, not a delay.
        let target = shape.kill_after + u64::from(iteration) * 37 % shape.kill_spread;
        while acked.load(Ordering::Relaxed) < target {
            std::thread::yield_now();
        }
        // Read while the load runs: the count starts again at zero with each start.
        let evictions = server.metric("memkv_evictions_total");
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("load thread");
        }
        killed_log = server.stderr();
        drop(server);
        assert_eq!(
            evictions, 0.0,
            "iteration {iteration}: the drives must be large enough that nothing is evicted"
        );
    }
    let server = start_disk(mode, drives, sync);
    verify(
        &server,
        &model,
        sync,
        iterations,
        shape.max_len,
        &killed_log,
    );
}

/// Reads every key after a restart and checks it against the model, then makes the model
/// what the server now holds.
fn verify(
    server: &Server,
    model: &Arc<Mutex<HashMap<u64, KeyModel>>>,
    sync: &str,
    iteration: u32,
    max_len: u64,
    killed_log: &str,
) {
    let client = client(server);
    let mut model = model.lock().unwrap();
    for (k, m) in model.iter_mut() {
        let got = client.get(&key_name(*k)).expect("get after restart");
        let version = got.as_ref().map(|v| {
            let version = u64::from_le_bytes(v[..8].try_into().unwrap());
            assert!(
                v[..] == versioned_value_max(*k, version, max_len)[..],
                "iteration {iteration}, key {k}: served bytes are not the ones stored"
            );
            version
        });
        if sync == "always" {
            let allowed = version == m.acked || m.in_flight.is_some_and(|f| f == version);
            assert!(
                allowed,
                "iteration {iteration}, key {k}: after the crash it holds {version:?}, but the \
                 last acknowledged operation left {:?} (in flight: {:?}); damaged reads: {}, \
                 keys: {}; the killed server's log:\n{killed_log}\nthe restarted server's log:\n{}",
                m.acked,
                m.in_flight,
                server.metric("memkv_corrupt_reads_total"),
                server.metric("memkv_keys"),
                server.stderr()
            );
        }
        m.acked = version;
        m.in_flight = None;
    }
}

/// The paths of `n` data files in `dir`.
pub fn data_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| dir.join(format!("drive{i}.dat"))).collect()
}
