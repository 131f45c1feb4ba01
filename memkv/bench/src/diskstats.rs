//! The load on a drive's block device while a disk cell or a fio job ran, from the kernel's
//! statistics of that device (`/sys/dev/block/MAJOR:MINOR/stat`, read before and after): how
//! many requests it had queued on average, how long each took, and how large each was.
//!
//! Two runners can move the same bytes per second very differently: on a loop device over a
//! file, fio at queue depth 32 kept about 115 requests queued (about 40 ms each) where memkv's
//! group commit kept about 35 (about 12 ms each). By Little's law a runner with fewer requests
//! in flight loses more when the device's latency grows, so these figures say which runner a
//! slow minute of a shared host will hurt most. They count every request the device saw,
//! including other processes' (a data file's device is usually the root disk).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

/// A block device whose statistics can be read.
#[derive(Debug, Clone)]
pub struct BlockDevice {
    /// Its kernel name (`loop0`, `vda1`).
    pub name: String,
    stat: PathBuf,
}

impl BlockDevice {
    /// The device that `path` names (a block device node), or, for any other file, the
    /// device its filesystem is on. `None` where `/sys` has no statistics for it (a network
    /// or memory filesystem, a container without `/sys`).
    /// A path not created yet (a file fio lays out on its first job) is measured on the
    /// device of its nearest directory that exists.
    pub fn of(path: &Path) -> Option<BlockDevice> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return path.parent().and_then(BlockDevice::of);
            }
            Err(_) => return None,
        };
        let dev = if meta.file_type().is_block_device() {
            meta.rdev()
        } else {
            meta.dev()
        };
        let (major, minor) = split_dev(dev);
        let dir = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
        let stat = dir.join("stat");
        if !stat.is_file() {
            return None;
        }
        let name = std::fs::canonicalize(&dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("{major}:{minor}"));
        Some(BlockDevice { name, stat })
    }

    /// The device's counters now; [`Snapshot::load`] later gives what it did in between.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let text = std::fs::read_to_string(&self.stat).ok()?;
        Snapshot::parse(self.clone(), &text, Instant::now())
    }
}

/// Major and minor numbers of a Linux `dev_t` (glibc's encoding: 12 bits of major above 8 bits
/// of minor in the low 32 bits, the rest of each above them).
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// A device's counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    device: BlockDevice,
    at: Instant,
    /// The fields of the `stat` file, in the kernel's order (Documentation/block/stat.rst):
    /// reads, read merges, read sectors, read ms, writes, write merges, write sectors, write
    /// ms, in flight, busy ms, queue ms, then discards and flushes on newer kernels.
    fields: Vec<u64>,
}

impl Snapshot {
    /// What the device did since this snapshot.
    pub fn load(&self) -> Option<DeviceLoad> {
        let now = self.device.snapshot()?;
        Some(DeviceLoad::between(self, &now))
    }

    fn parse(device: BlockDevice, text: &str, at: Instant) -> Option<Snapshot> {
        let fields: Vec<u64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (fields.len() >= 11).then_some(Snapshot { device, at, fields })
    }
}

/// What a device did between two snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceLoad {
    /// The device's kernel name.
    pub device: String,
    /// Seconds between the snapshots.
    pub seconds: f64,
    /// Read requests completed.
    pub reads: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Write requests completed.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Flush requests completed (`None`: the kernel does not count them).
    pub flushes: Option<u64>,
    /// Requests queued or in service, on average (time in queue over elapsed time).
    pub avg_queue_depth: f64,
    /// Fraction of the time with at least one request in service.
    pub busy: f64,
    /// Milliseconds per read request, queueing included (`None`: no reads).
    pub ms_per_read: Option<f64>,
    /// Milliseconds per write request, queueing included (`None`: no writes).
    pub ms_per_write: Option<f64>,
}

impl DeviceLoad {
    fn between(a: &Snapshot, b: &Snapshot) -> DeviceLoad {
        let d = |i: usize| match (a.fields.get(i), b.fields.get(i)) {
            (Some(x), Some(y)) => Some(y.saturating_sub(*x)),
            _ => None,
        };
        let field = |i: usize| d(i).unwrap_or(0);
        let seconds = b.at.duration_since(a.at).as_secs_f64();
        let ms = (seconds * 1000.0).max(f64::MIN_POSITIVE);
        let per = |ticks: u64, n: u64| (n > 0).then(|| ticks as f64 / n as f64);
        DeviceLoad {
            device: a.device.name.clone(),
            seconds,
            reads: field(0),
            read_bytes: field(2) * 512,
            writes: field(4),
            write_bytes: field(6) * 512,
            flushes: d(15),
            avg_queue_depth: field(10) as f64 / ms,
            busy: (field(9) as f64 / ms).min(1.0),
            ms_per_read: per(field(3), field(0)),
            ms_per_write: per(field(7), field(4)),
        }
    }

    /// Requests, milliseconds per request and KiB per request of the reads (`reads`) or the
    /// writes.
    pub fn requests(&self, reads: bool) -> (u64, Option<f64>, Option<f64>) {
        let (n, bytes, ms) = if reads {
            (self.reads, self.read_bytes, self.ms_per_read)
        } else {
            (self.writes, self.write_bytes, self.ms_per_write)
        };
        (n, ms, (n > 0).then(|| bytes as f64 / 1024.0 / n as f64))
    }

    /// One line for the progress output: the queue and the requests of the reads (`reads`)
    /// or the writes.
    pub fn line(&self, reads: bool) -> String {
        let (n, ms, kib) = self.requests(reads);
        let kind = if reads { "read" } else { "write" };
        format!(
            "{}: queue depth {:.1}, busy {:.0}%, {n} {kind}s, {} ms and {} KiB per {kind}",
            self.device,
            self.avg_queue_depth,
            self.busy * 100.0,
            ms.map_or("-".into(), |m| format!("{m:.1}")),
            kib.map_or("-".into(), |k| format!("{k:.0}")),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn device(name: &str) -> BlockDevice {
        BlockDevice {
            name: name.into(),
            stat: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn a_path_not_created_yet_is_measured_on_its_directory_device() {
        // On a filesystem without a block device (overlay, tmpfs) both are None: the test
        // then checks only that a missing file does not make a difference.
        let dir = tempfile::tempdir().unwrap();
        let name = |p: &Path| BlockDevice::of(p).map(|d| d.name);
        assert_eq!(name(&dir.path().join("not-yet")), name(dir.path()));
        assert_eq!(name(&dir.path().join("not/yet")), name(dir.path()));
    }

    #[test]
    fn dev_t_splits_as_glibc_encodes_it() {
        // makedev(7, 0) for loop0, makedev(259, 1) for an NVMe partition, and a minor above 255.
        assert_eq!(split_dev(0x700), (7, 0));
        assert_eq!(split_dev((259 << 8) | 1), (259, 1));
        assert_eq!(split_dev((7 << 8) | (0x12300 << 12) | 0x45), (7, 0x12345));
    }

    #[test]
    fn load_is_the_difference_of_two_snapshots() {
        let t0 = Instant::now();
        let a = Snapshot::parse(
            device("loop9"),
            "10 0 80 5 100 0 8192 300 0 400 1000 0 0 0 0 2 1",
            t0,
        )
        .unwrap();
        let b = Snapshot::parse(
            device("loop9"),
            "10 0 80 5 300 4 16384 2300 3 1400 5000 0 0 0 0 6 3\n",
            t0 + Duration::from_secs(2),
        )
        .unwrap();
        let load = DeviceLoad::between(&a, &b);
        assert_eq!((load.reads, load.read_bytes), (0, 0));
        assert_eq!((load.writes, load.write_bytes), (200, 8192 * 512));
        assert_eq!(load.flushes, Some(4));
        assert!((load.avg_queue_depth - 2.0).abs() < 1e-9, "{load:?}");
        assert!((load.busy - 0.5).abs() < 1e-9, "{load:?}");
        assert_eq!(load.ms_per_read, None);
        assert_eq!(load.ms_per_write, Some(10.0));
        assert_eq!(load.requests(false), (200, Some(10.0), Some(20.48)));
        assert_eq!(
            load.line(false),
            "loop9: queue depth 2.0, busy 50%, 200 writes, 10.0 ms and 20 KiB per write"
        );
    }

    #[test]
    fn a_short_or_garbled_stat_file_gives_no_snapshot() {
        assert!(Snapshot::parse(device("x"), "1 2 3", Instant::now()).is_none());
        let garbled = "1 2 x 4 5 6 7 8 9 10 11";
        assert!(Snapshot::parse(device("x"), garbled, Instant::now()).is_none());
    }
}
