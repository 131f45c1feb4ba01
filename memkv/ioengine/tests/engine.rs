//! Engine behaviour on data files, for every engine: round trips with and without O_DIRECT,
//! alignment refusals, discard, fault injection, queue depth, batching, shutdown and
//! completed-then-dropped futures.

mod support;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;
use std::task::Poll;

use memkv_ioengine::{
    AlignedBuf, BufPool, Device, DeviceError, DeviceOptions, EngineError, EngineKind, FaultPlan,
    IoEngine, RequestError,
};
use support::{channel_waker, data_file, engines, fill_pattern, pattern, poll_once, tempdir};

const MIB: u64 = 1 << 20;

async fn round_trip(kind: EngineKind, direct: bool) {
    let dir = tempdir();
    let dev = data_file(dir.path(), "drive.dat", 8 * MIB, direct);
    assert_eq!(dev.size(), 8 * MIB);
    assert!(!dev.is_block_device());
    assert_eq!(dev.logical_block_size(), 4096, "ext4 reports 4 KiB blocks");
    assert_eq!(
        dev.direct(),
        direct,
        "/work is ext4, which accepts O_DIRECT"
    );
    assert_eq!(
        support::fd_has_o_direct(dev.as_raw_fd()),
        direct,
        "O_DIRECT flag on the open file"
    );

    let engine = IoEngine::new(kind, 8).expect("start engine");
    let offsets = [0, 64 * 1024, MIB, 3 * MIB, 8 * MIB - 64 * 1024];
    for (i, &offset) in offsets.iter().enumerate() {
        let mut buf = AlignedBuf::with_len(64 * 1024);
        fill_pattern(&mut buf, i as u64);
        let (buf, res) = engine.write_at(&dev, buf, offset).await;
        assert_eq!(res.expect("write"), 64 * 1024, "{kind} write at {offset}");
        assert_eq!(buf.len(), 64 * 1024, "the buffer comes back");
    }
    engine.fdatasync(&dev).await.expect("fdatasync");
    for (i, &offset) in offsets.iter().enumerate() {
        let (buf, res) = engine
            .read_at(&dev, AlignedBuf::with_len(64 * 1024), offset)
            .await;
        assert_eq!(res.expect("read"), 64 * 1024);
        assert!(
            buf[..] == pattern(64 * 1024, i as u64)[..],
            "{kind} read back at {offset}"
        );
    }
    // And through the plain file, independently of the engine.
    let plain = std::fs::File::open(dev.path()).expect("open plainly");
    let mut check = vec![0; 64 * 1024];
    plain.read_exact_at(&mut check, 3 * MIB).expect("pread");
    assert_eq!(check, pattern(64 * 1024, 3));

    // A read past the end is short, not an error.
    let (_, res) = engine
        .read_at(&dev, AlignedBuf::with_len(8192), 8 * MIB - 4096)
        .await;
    assert_eq!(res.expect("read at the end"), 4096);

    let m = engine.metrics();
    assert_eq!(m.writes.completed, 5);
    assert_eq!(m.reads.completed, 6);
    assert_eq!(m.bytes_written, 5 * 64 * 1024);
    assert_eq!(m.bytes_read, 5 * 64 * 1024 + 4096);
    assert_eq!(m.syncs.completed, 1);
    assert_eq!(m.total().errors, 0);
    assert_eq!(m.in_flight, 0);
    assert_eq!(engine.kind(), kind);
}

#[tokio::test]
async fn round_trip_on_a_preallocated_file_with_o_direct() {
    for kind in engines() {
        round_trip(kind, true).await;
    }
}

#[tokio::test]
async fn round_trip_on_a_preallocated_file_buffered() {
    for kind in engines() {
        round_trip(kind, false).await;
    }
}

#[tokio::test]
async fn unaligned_offsets_and_lengths_are_refused_before_submission() {
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", MIB, true);
        let engine = IoEngine::new(kind, 4).expect("start engine");

        let mut buf = AlignedBuf::with_len(4096);
        buf.fill(0xee);
        let (buf, res) = engine.write_at(&dev, buf, 100).await;
        let err = res.expect_err("unaligned offset");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            matches!(
                RequestError::from_io(&err),
                Some(RequestError::Unaligned {
                    offset: 100,
                    len: 4096,
                    block_size: 4096,
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!(buf.len(), 4096, "the refused buffer comes back intact");
        assert!(buf.iter().all(|&b| b == 0xee));

        let (_, res) = engine.read_at(&dev, AlignedBuf::with_len(1000), 0).await;
        let err = res.expect_err("unaligned length");
        assert!(matches!(
            RequestError::from_io(&err),
            Some(RequestError::Unaligned { len: 1000, .. })
        ));

        let err = engine
            .discard(&dev, 4096, 100)
            .await
            .expect_err("unaligned discard");
        assert!(matches!(
            RequestError::from_io(&err),
            Some(RequestError::Unaligned { .. })
        ));

        let (_, res) = engine
            .read_at(&dev, AlignedBuf::with_len(4096), u64::MAX - 4095)
            .await;
        let err = res.expect_err("offset overflow");
        assert!(matches!(
            RequestError::from_io(&err),
            Some(RequestError::OffsetOverflow { .. })
        ));

        // Zeroed allocations of this size are not touched, so this costs no memory.
        let huge = AlignedBuf::with_len(memkv_ioengine::MAX_IO_LEN + 4096);
        let (_, res) = engine.write_at(&dev, huge, 0).await;
        let err = res.expect_err("too large");
        assert!(matches!(
            RequestError::from_io(&err),
            Some(RequestError::TooLarge { .. })
        ));

        let m = engine.metrics();
        assert_eq!(m.rejected, 5);
        assert_eq!(m.total().submitted, 0, "nothing reached the engine");
        let mut head = vec![0xff; 4096];
        std::fs::File::open(dev.path())
            .expect("open")
            .read_exact_at(&mut head, 0)
            .expect("pread");
        assert!(
            head.iter().all(|&b| b == 0),
            "the refused write did not touch the file"
        );
    }
}

#[tokio::test]
async fn discard_punches_a_hole_in_a_file() {
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", 4 * MIB, true);
        let engine = IoEngine::new(kind, 4).expect("start engine");
        let mut buf = AlignedBuf::with_len(4 * MIB as usize);
        buf.fill(0x5a);
        let (_, res) = engine.write_at(&dev, buf, 0).await;
        res.expect("write");
        engine.fdatasync(&dev).await.expect("fdatasync");
        let blocks_before = std::fs::metadata(dev.path()).expect("stat").blocks();

        assert!(
            engine.discard(&dev, MIB, 2 * MIB).await.expect("discard"),
            "ext4 supports punch hole"
        );

        let blocks_after = std::fs::metadata(dev.path()).expect("stat").blocks();
        assert!(
            blocks_after * 512 <= blocks_before * 512 - 2 * MIB,
            "{kind}: 2 MiB deallocated ({blocks_before} -> {blocks_after} sectors)"
        );
        assert_eq!(
            dev.size(),
            std::fs::metadata(dev.path()).expect("stat").len(),
            "size kept"
        );
        let (buf, res) = engine
            .read_at(&dev, AlignedBuf::with_len(4 * MIB as usize), 0)
            .await;
        res.expect("read");
        assert!(buf[..MIB as usize].iter().all(|&b| b == 0x5a));
        assert!(
            buf[MIB as usize..3 * MIB as usize].iter().all(|&b| b == 0),
            "the hole reads as zeros"
        );
        assert!(buf[3 * MIB as usize..].iter().all(|&b| b == 0x5a));
        assert_eq!(engine.metrics().discards.completed, 1);
    }
}

#[tokio::test]
async fn fault_injection_fails_with_eio_until_removed() {
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", MIB, true);
        let other = data_file(dir.path(), "other.dat", MIB, true);
        let engine = IoEngine::new(kind, 4).expect("start engine");
        let mut buf = AlignedBuf::with_len(4096);
        buf.fill(9);
        let (_, res) = engine.write_at(&dev, buf, 0).await;
        res.expect("write before faults");

        engine.inject_faults(
            &dev,
            FaultPlan {
                fail_reads: true,
                fail_writes: false,
            },
        );
        let (buf, res) = engine.read_at(&dev, AlignedBuf::with_len(4096), 0).await;
        assert_eq!(
            res.expect_err("injected").raw_os_error(),
            Some(libc::EIO),
            "{kind}: EIO"
        );
        assert_eq!(buf.len(), 4096, "the buffer comes back");
        let (_, res) = engine
            .write_at(&dev, AlignedBuf::with_len(4096), 4096)
            .await;
        res.expect("writes still work under fail_reads");
        let (_, res) = engine.read_at(&other, AlignedBuf::with_len(4096), 0).await;
        res.expect("other devices are unaffected");

        // By path: a second path to the same file matches too.
        let link = dir.path().join("link.dat");
        std::os::unix::fs::symlink(dev.path(), &link).expect("symlink");
        engine
            .inject_faults_at(&link, FaultPlan::DEAD)
            .expect("inject by path");
        let (_, res) = engine.write_at(&dev, AlignedBuf::with_len(4096), 0).await;
        assert_eq!(res.expect_err("injected").raw_os_error(), Some(libc::EIO));
        assert_eq!(
            engine
                .fdatasync(&dev)
                .await
                .expect_err("sync fails too")
                .raw_os_error(),
            Some(libc::EIO)
        );

        engine.inject_faults(&dev, FaultPlan::NONE);
        let (buf, res) = engine.read_at(&dev, AlignedBuf::with_len(4096), 0).await;
        assert_eq!(res.expect("faults removed"), 4096);
        assert!(
            buf.iter().all(|&b| b == 9),
            "the data written before the faults is intact"
        );

        let m = engine.metrics();
        assert_eq!(m.reads.errors, 1);
        assert_eq!(m.writes.errors, 1);
        assert_eq!(m.syncs.errors, 1);
    }
}

#[tokio::test]
async fn queue_depth_bounds_operations_in_flight() {
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", 4 * MIB, true);
        let engine = IoEngine::new(kind, 4).expect("start engine");
        assert_eq!(engine.queue_depth(), 4);
        // 64 operations submitted at once; the 60 beyond the depth wait in the queue.
        let futures: Vec<_> = (0..64u64)
            .map(|i| {
                let mut buf = AlignedBuf::with_len(64 * 1024);
                fill_pattern(&mut buf, i);
                engine.write_at(&dev, buf, i * 64 * 1024)
            })
            .collect();
        for fut in futures {
            assert_eq!(fut.await.1.expect("queued write"), 64 * 1024);
        }
        let m = engine.metrics();
        assert_eq!(m.writes.completed, 64);
        assert!(
            m.in_flight_max <= 4,
            "{kind}: in flight peaked at {} with depth 4",
            m.in_flight_max
        );
        assert!(m.in_flight_max >= 1);
        assert_eq!(m.in_flight, 0);
        for i in [0u64, 31, 63] {
            let (buf, res) = engine
                .read_at(&dev, AlignedBuf::with_len(64 * 1024), i * 64 * 1024)
                .await;
            res.expect("read");
            assert!(buf[..] == pattern(64 * 1024, i)[..]);
        }
    }
}

#[tokio::test]
async fn a_batch_of_32_reads_takes_one_submitting_syscall() {
    for kind in engines() {
        let dir = tempdir();
        // Buffered and freshly written: the reads hit the page cache and complete inline.
        let dev = data_file(dir.path(), "drive.dat", MIB, false);
        let engine = IoEngine::new(kind, 64).expect("start engine");
        let mut buf = AlignedBuf::with_len(32 * 4096);
        fill_pattern(&mut buf, 77);
        let expected = buf.to_vec();
        engine.write_at(&dev, buf, 0).await.1.expect("write");

        let before = engine.metrics();
        let mut batch = engine.batch();
        let futures: Vec<_> = (0..32u64)
            .map(|i| batch.read_at(&dev, AlignedBuf::with_len(4096), i * 4096))
            .collect();
        assert_eq!(batch.len(), 32);
        batch.submit();
        for (i, fut) in futures.into_iter().enumerate() {
            let (buf, res) = fut.await;
            assert_eq!(res.expect("batched read"), 4096);
            assert!(buf[..] == expected[i * 4096..(i + 1) * 4096]);
        }
        let after = engine.metrics();
        assert_eq!(after.reads.completed - before.reads.completed, 32);
        let enters = after.uring_enter_calls - before.uring_enter_calls;
        let submits = after.uring_submit_calls - before.uring_submit_calls;
        match kind {
            EngineKind::IoUring => {
                assert_eq!(
                    submits, 1,
                    "all 32 SQEs went into the kernel with one io_uring_enter"
                );
                assert!(enters < 32, "32 reads took {enters} io_uring_enter calls");
            }
            EngineKind::StdFs => assert_eq!((enters, submits), (0, 0)),
        }
    }
}

#[test]
fn dropping_the_engine_waits_for_in_flight_operations() {
    let rt = support::runtime();
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", 8 * MIB, true);
        let pool = BufPool::new(64 * 1024, 8);
        let engine = IoEngine::new(kind, 8).expect("start engine");
        let metrics = engine.metrics_handle();
        let mut abandoned = Vec::new();
        let mut batch = engine.batch();
        for i in 0..32u64 {
            let mut buf = pool.get();
            fill_pattern(&mut buf, i);
            abandoned.push(batch.write_at(&dev, buf, i * 64 * 1024));
        }
        batch.submit();
        for i in 32..64u64 {
            let mut buf = pool.get();
            fill_pattern(&mut buf, i);
            abandoned.push(engine.write_at(&dev, buf, i * 64 * 1024));
        }
        // Nobody awaits these: the caller gave up on all 64 writes.
        drop(abandoned);
        drop(engine);

        let m = metrics.snapshot();
        assert_eq!(
            m.writes.completed, 64,
            "{kind}: drop waited for every write"
        );
        assert_eq!(m.writes.errors, 0);
        assert_eq!(m.in_flight, 0);
        assert_eq!(
            pool.outstanding(),
            0,
            "every buffer was released after its completion"
        );
        let plain = std::fs::File::open(dev.path()).expect("open plainly");
        let mut got = vec![0; 64 * 1024];
        for i in 0..64u64 {
            plain.read_exact_at(&mut got, i * 64 * 1024).expect("pread");
            assert!(
                got == pattern(64 * 1024, i),
                "{kind}: write {i} reached the file"
            );
        }
        // The device outlives the engine and still works with a new one.
        let engine = IoEngine::new(kind, 1).expect("restart engine");
        let (_, res) = rt.block_on(engine.read_at(&dev, AlignedBuf::with_len(4096), 0));
        res.expect("read with a new engine");
    }
}

#[test]
fn completed_then_dropped_before_repoll_releases_the_buffer() {
    let rt = support::runtime();
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", MIB, true);
        let pool = BufPool::new(4096, 4);
        let engine = IoEngine::new(kind, 4).expect("start engine");
        let (waker, woken) = channel_waker();

        let mut batch = engine.batch();
        let mut fut = batch.read_at(&dev, pool.get(), 0);
        // Not submitted yet, so the first poll is certainly Pending and registers the waker.
        assert!(matches!(poll_once(&mut fut, &waker), Poll::Pending));
        batch.submit();
        // Block until the completion woke the future; then drop it without polling again.
        woken.recv().expect("the completion wakes the future");
        assert_eq!(
            pool.outstanding(),
            1,
            "the finished result holds the buffer"
        );
        drop(fut);
        assert_eq!(
            pool.outstanding(),
            0,
            "{kind}: dropping the unpolled result freed the buffer"
        );

        let (_, res) = rt.block_on(engine.read_at(&dev, pool.get(), 0));
        assert_eq!(res.expect("the engine still works"), 4096);
        assert_eq!(engine.metrics().reads.completed, 2);
    }
}

#[test]
fn engine_and_device_errors_are_typed() {
    for kind in EngineKind::ALL {
        let err = IoEngine::new(kind, 0).expect_err("depth 0");
        assert!(matches!(
            err,
            EngineError::InvalidQueueDepth { depth: 0, .. }
        ));
    }
    let err = Device::open("/dev/null", DeviceOptions::default()).expect_err("a character device");
    assert!(matches!(err, DeviceError::NotBlockOrFile { .. }), "{err:?}");
    let err = Device::open(
        "/nonexistent/dir/drive.dat",
        DeviceOptions {
            direct: true,
            create_len: Some(4096),
        },
    )
    .expect_err("missing directory");
    assert!(matches!(err, DeviceError::Create { .. }), "{err:?}");
}

#[tokio::test]
async fn futures_can_be_awaited_on_other_tasks() {
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", MIB, true);
        let engine = Arc::new(IoEngine::new(kind, 8).expect("start engine"));
        let tasks: Vec<_> = (0..16u64)
            .map(|i| {
                let mut buf = AlignedBuf::with_len(4096);
                fill_pattern(&mut buf, i);
                tokio::spawn(engine.write_at(&dev, buf, i * 4096))
            })
            .collect();
        for task in tasks {
            task.await.expect("task").1.expect("write");
        }
        let (buf, res) = engine
            .read_at(&dev, AlignedBuf::with_len(4096), 15 * 4096)
            .await;
        res.expect("read");
        assert!(buf[..] == pattern(4096, 15)[..]);
    }
}

#[tokio::test]
async fn shared_bytes_are_written_in_place_and_misaligned_ones_refused() {
    for kind in engines() {
        let dir = tempdir();
        let dev = data_file(dir.path(), "drive.dat", MIB, true);
        let engine = IoEngine::new(kind, 4).expect("start engine");
        let pool = BufPool::new(256 * 1024, 1);
        let mut buf = pool.get();
        fill_pattern(&mut buf, 7);
        let bytes = buf.into_bytes();
        let expected = bytes.to_vec();

        // Two aligned slices of one pooled buffer, written side by side in one batch.
        let mut batch = engine.batch();
        let first = batch.write_shared_at(&dev, bytes.slice(..64 * 1024), 0);
        let second = batch.write_shared_at(&dev, bytes.slice(64 * 1024..), 64 * 1024);
        batch.submit();
        drop(bytes);
        let (back, res) = first.await;
        assert_eq!(res.expect("first write"), 64 * 1024, "{kind}");
        assert!(back.is_empty(), "a shared write hands back no buffer");
        assert_eq!(second.await.1.expect("second write"), 192 * 1024);
        assert_eq!(
            pool.outstanding(),
            0,
            "{kind}: the engine let go of the bytes once written, so the buffer is back"
        );
        let mut check = vec![0; 256 * 1024];
        std::fs::File::open(dev.path())
            .expect("open")
            .read_exact_at(&mut check, 0)
            .expect("pread");
        assert!(check == expected, "{kind}: the bytes on the file");

        // A slice that starts off the alignment is refused, whatever its length.
        let shared = AlignedBuf::with_len(8192).into_bytes();
        let (_, res) = engine
            .write_shared_at(&dev, shared.slice(512..512 + 4096), 4096)
            .await;
        let err = res.expect_err("misaligned memory");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            matches!(
                RequestError::from_io(&err),
                Some(RequestError::UnalignedMemory { align: 4096, .. })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("aligned to 4096 bytes"), "{err}");
        // An aligned start with a length off the block size is refused as before.
        let (_, res) = engine.write_shared_at(&dev, shared.slice(..1000), 0).await;
        assert!(matches!(
            RequestError::from_io(&res.expect_err("short length")),
            Some(RequestError::Unaligned { len: 1000, .. })
        ));
        let m = engine.metrics();
        assert_eq!(m.rejected, 2);
        assert_eq!(m.writes.completed, 2);
        assert_eq!(m.bytes_written, 256 * 1024);
    }
}
