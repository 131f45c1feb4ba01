//! Shared fixtures for the ioengine integration tests: which engines to run, temp dirs on the
//! target filesystem, loop devices, fd counting and manual polling.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};

use memkv_ioengine::{Device, DeviceOptions, EngineKind};

/// The engines to test: the one `MEMKV_IO_ENGINE` names, or both. io_uring must work unless
/// the variable says `std`: a host without it fails here with the reason instead of silently
/// testing less.
pub fn engines() -> Vec<EngineKind> {
    let kinds = match std::env::var(memkv_ioengine::ENV_VAR) {
        Ok(v) if !v.trim().is_empty() => {
            vec![v.parse().expect("MEMKV_IO_ENGINE must be io_uring or std")]
        }
        _ => EngineKind::ALL.to_vec(),
    };
    if kinds.contains(&EngineKind::IoUring)
        && let Err(e) = EngineKind::IoUring.probe()
    {
        panic!(
            "io_uring is unavailable here ({e}: {:?}); run with MEMKV_IO_ENGINE=std to test only the fallback",
            std::error::Error::source(&e)
        );
    }
    kinds
}

/// A temp dir under Cargo's target tmp dir (the repository's filesystem, ext4 here), not
/// /tmp, which may be a tmpfs with different O_DIRECT behaviour.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("create temp dir under target/tmp")
}

/// Opens (creating and preallocating) a data file.
pub fn data_file(dir: &Path, name: &str, len: u64, direct: bool) -> Arc<Device> {
    let dev = Device::open(
        dir.join(name),
        DeviceOptions {
            direct,
            create_len: Some(len),
        },
    )
    .expect("open data file");
    Arc::new(dev)
}

/// Fills `buf` with a pattern derived from `seed`, so every block is distinguishable.
pub fn fill_pattern(buf: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0; len];
    fill_pattern(&mut v, seed);
    v
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count()
}

/// Whether `fd` was opened with O_DIRECT, from /proc/self/fdinfo.
pub fn fd_has_o_direct(fd: i32) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("read fdinfo");
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("fdinfo has flags");
    let flags = u64::from_str_radix(flags.trim(), 8).expect("octal flags");
    flags & 0o40000 != 0
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let uids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("Uid line");
    uids.split_whitespace().nth(1) == Some("0")
}

/// A loop device over a file, detached on drop.
pub struct LoopDevice {
    pub path: PathBuf,
}

impl LoopDevice {
    /// Attaches `backing` with the given logical sector size. `None` (after printing the
    /// reason) when not root, the one allowed skip. Panics when losetup is missing.
    pub fn attach(backing: &Path, sector_size: u32) -> Option<LoopDevice> {
        if !is_root() {
            println!("skipped: needs root for loop devices");
            return None;
        }
        let out = Command::new("losetup")
            .args([
                "--find",
                "--show",
                "--sector-size",
                &sector_size.to_string(),
            ])
            .arg(backing)
            .output();
        let out = match out {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!(
                    "losetup is missing; install it with `apt install mount` (Debian 12 ships losetup in mount)"
                )
            }
            Err(e) => panic!("run losetup: {e}"),
        };
        assert!(
            out.status.success(),
            "losetup --find --show {} failed: {}",
            backing.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim());
        Some(LoopDevice { path })
    }

    /// The kernel's name, e.g. `loop3`.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .expect("device name")
            .to_string_lossy()
            .into_owned()
    }

    /// A value from /sys/block/<name>/<attr>.
    pub fn sysfs(&self, attr: &str) -> u64 {
        let p = format!("/sys/block/{}/{attr}", self.name());
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {p}: {e}"))
            .trim()
            .parse()
            .expect("number in sysfs")
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let status = Command::new("losetup").arg("-d").arg(&self.path).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "warning: could not detach {}: {status:?}",
                self.path.display()
            );
        }
    }
}

/// A waker that sends on a channel, so a test can block until a future was woken.
pub struct ChannelWaker(Mutex<mpsc::Sender<()>>);

impl Wake for ChannelWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().expect("waker lock").send(());
    }
}

pub fn channel_waker() -> (Waker, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    (Waker::from(Arc::new(ChannelWaker(Mutex::new(tx)))), rx)
}

/// Polls `fut` once with `waker`.
pub fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// A single-threaded tokio runtime for tests that are not `#[tokio::test]`.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}
