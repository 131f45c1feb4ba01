//! The flusher: one task per drive that writes what its lane queued, makes it durable with
//! one `fdatasync` per round (group commit), acknowledges the waiting puts, and, when the
//! drive is idle, frees dead segments and discards freed extents.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use memkv_ioengine::AlignedBuf;

use super::format::META_BLOCK;
use super::lane::{Job, Loc, SegMeta};
use super::{Inner, SyncPolicy};

/// The flusher of drive `d`: writes whatever its lane queued, syncs (group commit), and
/// acknowledges the waiting puts; exits once the store stops and nothing is queued.
pub(crate) async fn flusher(inner: Arc<Inner>, d: usize) {
    let drive = &inner.drives[d];
    // Whether the last wait for work ran out: the drive is idle.
    let mut idle = false;
    loop {
        let (jobs, waiters, deferred) = {
            let mut lane = drive.lane.lock();
            lane.cut(drive.align);
            let jobs = std::mem::take(&mut lane.jobs);
            let waiters = std::mem::take(&mut lane.waiters);
            let deferred = std::mem::take(&mut lane.deferred);
            lane.in_flight = jobs.iter().map(|j| j.extent).collect();
            (jobs, waiters, deferred)
        };
        if jobs.is_empty() {
            release_replaced(&inner, &deferred);
            for w in waiters {
                let _ = w.send(Ok(()));
            }
            if drive.dead_hint.swap(false, Relaxed) && drive.online.load(Relaxed) {
                trim_dead(&inner, d).await;
            }
            if inner.stop.load(Relaxed) {
                if drive.online.load(Relaxed) {
                    discard_pending(&inner, d, usize::MAX).await;
                }
                // Seal nothing on stop: the open segment is recovered by a scan on start.
                let _ = drive.engine.fdatasync(&drive.dev).await;
                return;
            }
            let pending = !drive.lane.lock().undiscarded.is_empty() && drive.online.load(Relaxed);
            if idle && pending {
                // One batch, then back to the top: work queued meanwhile goes first.
                discard_pending(&inner, d, DISCARD_BATCH).await;
                continue;
            }
            if pending {
                idle = tokio::time::timeout(inner.discard_idle, drive.notify.notified())
                    .await
                    .is_err();
            } else {
                drive.notify.notified().await;
                idle = false;
            }
            continue;
        }
        idle = false;
        let result = write_jobs(&inner, d, jobs).await;
        drive.lane.lock().in_flight.clear();
        release_replaced(&inner, &deferred);
        drive.space.notify_waiters();
        let reply = match &result {
            Ok(()) => Ok(()),
            Err(err) => {
                inner.take_offline(d, "write", err);
                Err(drive.path().display().to_string())
            }
        };
        for w in waiters {
            let _ = w.send(reply.clone());
        }
    }
}

/// Releases the records (and parts) of values whose replacing records are written.
fn release_replaced(inner: &Inner, locs: &[Loc]) {
    for loc in locs {
        inner.release(loc);
    }
    if !locs.is_empty() {
        for d in &inner.drives {
            if d.dead_hint.load(Relaxed) {
                d.notify.notify_one();
            }
        }
    }
}

/// Extents discarded at most per idle batch (the flusher looks for new work between batches).
const DISCARD_BATCH: usize = 256;

/// Frees sealed segments whose records are all dead (overwritten, deleted or evicted) and
/// hold no tombstones: invalidates their headers, syncs, and puts them on a free list (to be
/// discarded later, see [`discard_pending`], where the store discards freed extents).
pub(super) async fn trim_dead(inner: &Inner, d: usize) {
    const BATCH: usize = 64;
    let drive = &inner.drives[d];
    let dead: Vec<u32> = {
        let mut lane = drive.lane.lock();
        let mut dead = Vec::new();
        let mut i = 0;
        while i < lane.fifo.len() && dead.len() < BATCH {
            let e = lane.fifo[i];
            if !lane.busy(e)
                && drive.live[e as usize].load(Relaxed) == 0
                && !lane.segs[e as usize].tombstones
            {
                lane.fifo.remove(i);
                lane.segs[e as usize] = SegMeta::default();
                dead.push(e);
            } else {
                i += 1;
            }
        }
        dead
    };
    if dead.is_empty() {
        return;
    }
    let mut jobs: Vec<Job> = dead
        .iter()
        .map(|&e| Job {
            extent: e,
            offset: 0,
            data: AlignedBuf::with_len(META_BLOCK as usize).into_bytes(),
            seal: false,
        })
        .collect();
    let result = async {
        write_wave(inner, d, &mut jobs).await?;
        drive.engine.fdatasync(&drive.dev).await
    }
    .await;
    if let Err(err) = result {
        inner.take_offline(d, "trim", &err);
        return;
    }
    inner.counters.trimmed.fetch_add(dead.len() as u64, Relaxed);
    let mut lane = drive.lane.lock();
    for e in dead {
        lane.give_back(e, inner.discard_freed);
    }
    drop(lane);
    drive.space.notify_waiters();
}

/// Discards (TRIM on block devices, punched holes in data files) up to `max` free extents of
/// drive `d` that were freed since they were last discarded, oldest first, as few ranges as
/// they allow: runs of adjacent extents go in one request.
///
/// Discards wait for an idle drive (or a clean stop) instead of following each free: an
/// extent freed under load is usually written again within moments, and discarding it first
/// costs a request and, on thin or file-backed devices (a loop device over a file, a data file
/// with `storage.trim_files`), makes the rewrite allocate blocks again and its `fdatasync`
/// commit the filesystem's journal (4 MiB direct puts on a loop device: 1.25 GiB/s with a
/// discard per free, 2.08 GiB/s without). Data files are hole-punched only with
/// `storage.trim_files`, so that they stay preallocated: a full filesystem could otherwise
/// refuse a write into space the file was meant to own.
async fn discard_pending(inner: &Inner, d: usize, max: usize) {
    let drive = &inner.drives[d];
    // Off the free lists while discarded, so nothing is written there meanwhile.
    let mut extents: Vec<u32> = {
        let mut lane = drive.lane.lock();
        let n = lane.undiscarded.len().min(max);
        lane.undiscarded.drain(..n).collect()
    };
    if extents.is_empty() {
        return;
    }
    extents.sort_unstable();
    let mut result = Ok(true);
    let mut i = 0;
    while i < extents.len() {
        let mut j = i + 1;
        while j < extents.len() && extents[j] == extents[j - 1] + 1 {
            j += 1;
        }
        let at = drive.sb.extent_offset(extents[i]);
        let len = (j - i) as u64 * drive.sb.extent_size;
        match drive.engine.discard(&drive.dev, at, len).await {
            Ok(true) => {}
            // The device or filesystem has no discard: nothing to count, nothing to retry.
            other => {
                result = other;
                break;
            }
        }
        i = j;
    }
    match result {
        Ok(true) => {
            inner
                .counters
                .discarded
                .fetch_add(extents.len() as u64, Relaxed);
        }
        Ok(false) => {}
        // The extents are still good to write: a drive that fails writes too is taken offline
        // by those. They are not discarded again (no retry loop on a drive that refuses).
        Err(err) => tracing::warn!(
            drive = %drive.path().display(),
            error = %err,
            "discarding freed extents failed; they are reused without a discard"
        ),
    }
    drive.lane.lock().free.extend(extents);
    drive.space.notify_waiters();
}

/// Writes a round's jobs, then syncs the drive (with `sync: always`, or when the round seals a
/// segment).
///
/// Each extent's jobs go out in order, in stages: a segment's summary (its seal) is written
/// only once every job of that extent before it is (a start that finds a summary takes its
/// records as whole; those of a segment left open are checked), and the jobs after a seal (the
/// extent reused within the round) only once the seal is: its old and new bytes are never in
/// flight at once. Extents do not wait for each other, so the next segment's records go out
/// while a sealed one's last records and summary do. (Cutting the whole round into waves at
/// each seal drained the drive's queue at every segment boundary: 4 MiB puts from 32 clients
/// ran 10-15% slower.)
async fn write_jobs(inner: &Inner, d: usize, jobs: Vec<Job>) -> std::io::Result<()> {
    let drive = &inner.drives[d];
    if !drive.online.load(Relaxed) {
        return Err(std::io::Error::other("drive is offline"));
    }
    let sync = inner.sync == SyncPolicy::Always || jobs.iter().any(|j| j.seal);
    let results =
        futures_util::future::join_all(write_plan(jobs).into_iter().map(|stages| async {
            for mut stage in stages {
                write_wave(inner, d, &mut stage).await?;
            }
            Ok::<(), std::io::Error>(())
        }))
        .await;
    results.into_iter().collect::<std::io::Result<()>>()?;
    if sync {
        drive.engine.fdatasync(&drive.dev).await?;
    }
    Ok(())
}

/// The order [`write_jobs`] writes a round's jobs in: per extent (in the order of first
/// appearance), its stages, each written as one batch once the one before it is written; a
/// seal is a stage of its own.
fn write_plan(jobs: Vec<Job>) -> Vec<Vec<Vec<Job>>> {
    let mut extents: Vec<u32> = Vec::new();
    let mut chains: Vec<Vec<Vec<Job>>> = Vec::new();
    for job in jobs {
        let at = extents
            .iter()
            .position(|&e| e == job.extent)
            .unwrap_or_else(|| {
                extents.push(job.extent);
                chains.push(vec![Vec::new()]);
                chains.len() - 1
            });
        let stages = &mut chains[at];
        let stage = stages.last_mut().expect("a chain starts with a stage");
        if !stage.is_empty() && (job.seal || stage.last().is_some_and(|j| j.seal)) {
            stages.push(vec![job]);
        } else {
            stage.push(job);
        }
    }
    chains
}

/// Writes the jobs' bytes (handed to the engine as they are; staging buffers return to their
/// pool, and received values are let go, as each write completes).
async fn write_wave(inner: &Inner, d: usize, jobs: &mut [Job]) -> std::io::Result<()> {
    let drive = &inner.drives[d];
    let mut batch = drive.engine.batch();
    let futures: Vec<_> = jobs
        .iter_mut()
        .map(|j| {
            let at = drive.sb.extent_offset(j.extent) + j.offset;
            let data = std::mem::take(&mut j.data);
            (data.len(), batch.write_shared_at(&drive.dev, data, at))
        })
        .collect();
    batch.submit();
    let mut first_err = None;
    for (len, fut) in futures {
        match fut.await.1 {
            Ok(n) if n == len => {}
            Ok(n) => {
                first_err.get_or_insert(std::io::Error::other(format!(
                    "short write: {n} of {len} bytes"
                )));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{Job, write_plan};

    fn job(extent: u32, offset: u64, seal: bool) -> Job {
        Job {
            extent,
            offset,
            data: Bytes::new(),
            seal,
        }
    }

    /// (extent, offset, seal) of each job, by chain and stage.
    fn shape(plan: &[Vec<Vec<Job>>]) -> Vec<Vec<Vec<(u32, u64, bool)>>> {
        plan.iter()
            .map(|c| {
                c.iter()
                    .map(|s| s.iter().map(|j| (j.extent, j.offset, j.seal)).collect())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_seal_waits_for_its_own_segment_and_the_next_segment_does_not_wait_for_it() {
        // Extent 3 gets its last records and its summary; extent 7, opened after it, gets the
        // next records: they go out with extent 3's records, not after its summary.
        let plan = write_plan(vec![
            job(3, 0, false),
            job(3, 4096, false),
            job(3, 8192, true),
            job(7, 0, false),
            job(7, 4096, false),
        ]);
        assert_eq!(
            shape(&plan),
            vec![
                vec![vec![(3, 0, false), (3, 4096, false)], vec![(3, 8192, true)]],
                vec![vec![(7, 0, false), (7, 4096, false)]],
            ]
        );
    }

    #[test]
    fn an_extent_sealed_and_reused_in_one_round_is_written_in_order() {
        // Extent 5 sealed, then reused (evicted into a new segment) in the same round: its new
        // header and records wait for the summary, which waits for the old records.
        let plan = write_plan(vec![
            job(5, 65536, false),
            job(5, 1 << 20, true),
            job(9, 0, true),
            job(5, 0, false),
            job(5, 4096, false),
        ]);
        assert_eq!(
            shape(&plan),
            vec![
                vec![
                    vec![(5, 65536, false)],
                    vec![(5, 1 << 20, true)],
                    vec![(5, 0, false), (5, 4096, false)],
                ],
                vec![vec![(9, 0, true)]],
            ]
        );
    }
}
