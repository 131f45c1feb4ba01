//! Block devices: loop devices over files (root only; the one allowed skip prints
//! "skipped: needs root for loop devices"). Geometry detection, O_DIRECT I/O at queue depth
//! 32 with many concurrent operations, alignment to a 4 KiB sector size, discard, and fault
//! injection by device path.

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use memkv_ioengine::{AlignedBuf, Device, DeviceOptions, FaultPlan, IoEngine, RequestError};
use support::{LoopDevice, engines, fill_pattern, pattern, tempdir};

const MIB: u64 = 1 << 20;

/// A preallocated backing file of `len` bytes.
fn backing_file(dir: &Path, len: u64) -> std::path::PathBuf {
    let path = dir.join("backing.img");
    let file = std::fs::File::create(&path).expect("create backing file");
    file.set_len(len).expect("size backing file");
    path
}

fn open_direct(lo: &LoopDevice) -> Arc<Device> {
    let dev = Device::open(
        &lo.path,
        DeviceOptions {
            direct: true,
            create_len: Some(1),
        },
    )
    .expect("open loop device");
    Arc::new(dev)
}

#[test]
fn geometry_is_detected() {
    let dir = tempdir();
    let backing = backing_file(dir.path(), 16 * MIB);
    for sector in [512u32, 4096] {
        let Some(lo) = LoopDevice::attach(&backing, sector) else {
            return;
        };
        let dev = open_direct(&lo);
        assert!(dev.is_block_device());
        assert!(dev.direct(), "block devices always accept O_DIRECT");
        assert!(support::fd_has_o_direct(dev.as_raw_fd()));
        assert_eq!(
            dev.size(),
            16 * MIB,
            "create_len is ignored for block devices"
        );
        assert_eq!(dev.size(), lo.sysfs("size") * 512, "size matches sysfs");
        assert_eq!(dev.logical_block_size(), sector);
        assert_eq!(
            u64::from(dev.logical_block_size()),
            lo.sysfs("queue/logical_block_size")
        );
        assert_eq!(
            std::fs::metadata(&backing).expect("stat").len(),
            16 * MIB,
            "backing file untouched"
        );
    }
}

#[tokio::test]
async fn direct_io_at_queue_depth_32_with_many_concurrent_operations() {
    let dir = tempdir();
    let backing = backing_file(dir.path(), 64 * MIB);
    let Some(lo) = LoopDevice::attach(&backing, 4096) else {
        return;
    };
    let dev = open_direct(&lo);
    const OPS: u64 = 512;
    const LEN: usize = 16 * 1024;
    for kind in engines() {
        let engine = IoEngine::new(kind, 32).expect("start engine");
        let seed = |i: u64| i + 1000 * kind as u64;
        let writes: Vec<_> = (0..OPS)
            .map(|i| {
                let mut buf = AlignedBuf::with_len(LEN);
                fill_pattern(&mut buf, seed(i));
                // Spread over the device, interleaved so neighbours are not adjacent.
                engine.write_at(&dev, buf, (i * 7 % OPS) * (LEN as u64) * 8)
            })
            .collect();
        for fut in writes {
            assert_eq!(fut.await.1.expect("write"), LEN);
        }
        engine.fdatasync(&dev).await.expect("fdatasync");
        let reads: Vec<_> = (0..OPS)
            .map(|i| {
                engine.read_at(
                    &dev,
                    AlignedBuf::with_len(LEN),
                    (i * 7 % OPS) * (LEN as u64) * 8,
                )
            })
            .collect();
        for (i, fut) in reads.into_iter().enumerate() {
            let (buf, res) = fut.await;
            assert_eq!(res.expect("read"), LEN);
            assert!(
                buf[..] == pattern(LEN, seed(i as u64))[..],
                "{kind}: op {i} read back"
            );
        }
        let m = engine.metrics();
        println!(
            "{kind}: {} ops, in flight peak {}, io_uring_enter {} (submitting {})",
            2 * OPS + 1,
            m.in_flight_max,
            m.uring_enter_calls,
            m.uring_submit_calls
        );
        assert_eq!(m.writes.completed, OPS);
        assert_eq!(m.reads.completed, OPS);
        assert!(
            m.in_flight_max <= 32,
            "{kind}: in flight peaked at {}",
            m.in_flight_max
        );
        assert_eq!(m.total().errors, 0);
        // The data reached the backing file, read independently of the engine.
        let plain = std::fs::File::open(&backing).expect("open backing file");
        let mut got = vec![0; LEN];
        plain
            .read_exact_at(&mut got, (5 * 7 % OPS) * (LEN as u64) * 8)
            .expect("pread backing");
        assert!(
            got == pattern(LEN, seed(5)),
            "{kind}: backing file holds the data"
        );
    }
}

#[tokio::test]
async fn sub_sector_offsets_are_refused_on_a_4k_device() {
    let dir = tempdir();
    let backing = backing_file(dir.path(), 4 * MIB);
    let Some(lo) = LoopDevice::attach(&backing, 4096) else {
        return;
    };
    let dev = open_direct(&lo);
    for kind in engines() {
        let engine = IoEngine::new(kind, 4).expect("start engine");
        let (_, res) = engine.read_at(&dev, AlignedBuf::with_len(4096), 512).await;
        let err = res.expect_err("512-byte offset on a 4096-byte device");
        assert!(
            matches!(
                RequestError::from_io(&err),
                Some(RequestError::Unaligned {
                    block_size: 4096,
                    ..
                })
            ),
            "{err}"
        );
        let (_, res) = engine.read_at(&dev, AlignedBuf::with_len(512), 0).await;
        assert!(res.is_err(), "512-byte length on a 4096-byte device");
        assert_eq!(engine.metrics().total().submitted, 0);
    }
}

#[tokio::test]
async fn discard_works_or_reports_unsupported() {
    let dir = tempdir();
    let backing = backing_file(dir.path(), 8 * MIB);
    let Some(lo) = LoopDevice::attach(&backing, 4096) else {
        return;
    };
    let dev = open_direct(&lo);
    for kind in engines() {
        let engine = IoEngine::new(kind, 4).expect("start engine");
        let mut buf = AlignedBuf::with_len(8 * MIB as usize);
        buf.fill(0xc3);
        engine.write_at(&dev, buf, 0).await.1.expect("write");
        engine.fdatasync(&dev).await.expect("fdatasync");
        let blocks_before = std::fs::metadata(&backing).expect("stat").blocks();
        let supported = engine
            .discard(&dev, 2 * MIB, 4 * MIB)
            .await
            .expect("discard");
        println!(
            "{kind}: discard on {} supported: {supported}",
            lo.path.display()
        );
        if supported {
            // A loop device implements discard by punching a hole in its backing file.
            let blocks_after = std::fs::metadata(&backing).expect("stat").blocks();
            assert!(
                blocks_after * 512 <= blocks_before * 512 - 4 * MIB,
                "{kind}: the backing file lost 4 MiB of blocks ({blocks_before} -> {blocks_after})"
            );
        }
        let m = engine.metrics();
        assert_eq!(m.discards.completed, 1);
        assert_eq!(m.discards.errors, 0);
    }
}

#[tokio::test]
async fn injected_write_faults_on_a_device_path() {
    let dir = tempdir();
    let backing = backing_file(dir.path(), 4 * MIB);
    let Some(lo) = LoopDevice::attach(&backing, 512) else {
        return;
    };
    let dev = open_direct(&lo);
    for kind in engines() {
        let engine = IoEngine::new(kind, 4).expect("start engine");
        engine
            .inject_faults_at(
                &lo.path,
                FaultPlan {
                    fail_reads: false,
                    fail_writes: true,
                },
            )
            .expect("inject by path");
        let (_, res) = engine.write_at(&dev, AlignedBuf::with_len(4096), 0).await;
        assert_eq!(res.expect_err("injected").raw_os_error(), Some(libc::EIO));
        let (_, res) = engine.read_at(&dev, AlignedBuf::with_len(4096), 0).await;
        res.expect("reads still work");
        engine.clear_faults();
        let (_, res) = engine.write_at(&dev, AlignedBuf::with_len(4096), 0).await;
        res.expect("faults cleared");
    }
}
