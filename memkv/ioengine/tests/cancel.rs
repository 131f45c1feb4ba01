//! Cancellation: 64 reads whose futures are dropped before completion must neither leak
//! buffers nor descriptors, nor break the engine.
//!
//! This binary holds a single test because it counts `/proc/self/fd`, which other tests
//! running in parallel in the same process would disturb.

mod support;

use std::task::Poll;

use memkv_ioengine::{AlignedBuf, BufPool, IoEngine};
use support::{
    channel_waker, data_file, engines, fill_pattern, open_fds, pattern, poll_once, tempdir,
};

const MIB: u64 = 1 << 20;

#[test]
fn dropped_reads_release_buffers_and_descriptors() {
    let rt = support::runtime();
    let dir = tempdir();
    for kind in engines() {
        let fds_before = open_fds();
        let dev = data_file(dir.path(), &format!("{kind}.dat"), 8 * MIB, true);
        let pool = BufPool::new(128 * 1024, 16);
        let engine = IoEngine::new(kind, 8).expect("start engine");
        let mut buf = AlignedBuf::with_len(8 * MIB as usize);
        fill_pattern(&mut buf, 1);
        rt.block_on(engine.write_at(&dev, buf, 0))
            .1
            .expect("fill the file");

        // 64 reads, abandoned right after submission: most are queued or in the kernel.
        let futures: Vec<_> = (0..64u64)
            .map(|i| engine.read_at(&dev, pool.get(), (i % 64) * 128 * 1024))
            .collect();
        drop(futures);

        // 64 more, each polled once (registering a waker) and then abandoned.
        let (waker, _woken) = channel_waker();
        for i in 0..64u64 {
            let mut fut = engine.read_at(&dev, pool.get(), i * 128 * 1024);
            if let Poll::Ready((_, res)) = poll_once(&mut fut, &waker) {
                res.expect("a read that finished before the poll");
            }
        }

        // The engine still works, and keeps the order of its queue.
        let (buf, res) =
            rt.block_on(engine.read_at(&dev, AlignedBuf::with_len(128 * 1024), 128 * 1024));
        assert_eq!(res.expect("a later read"), 128 * 1024);
        assert!(buf[..] == pattern(8 * MIB as usize, 1)[128 * 1024..256 * 1024]);

        let metrics = engine.metrics_handle();
        drop(engine);
        let m = metrics.snapshot();
        assert_eq!(m.reads.submitted, 129);
        assert_eq!(
            m.reads.completed, 129,
            "{kind}: every abandoned read ran to completion"
        );
        assert_eq!(m.reads.errors, 0);
        assert_eq!(m.in_flight, 0);
        assert_eq!(
            pool.outstanding(),
            0,
            "{kind}: the engine freed every abandoned buffer"
        );
        drop(dev);
        assert_eq!(
            open_fds(),
            fds_before,
            "{kind}: ring, eventfd and device descriptors are closed"
        );
    }
}
