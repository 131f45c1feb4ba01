//! fio, the storage targets' limit: its media (a file in the work directory, file mode's
//! medium, and a loop device made like a `direct` drive) and its jobs, which `compare` runs
//! among the 4 MiB cells, in the same rotation as the servers.
//!
//! Where a job runs matters on a shared host: a write leaves the host's storage busy for a
//! while after it (write-back, the image file's allocation), and whatever runs next pays for
//! it. With fio run ahead of all the cells, fio always followed the previous repeat's get
//! cells (reads) and the put cells always followed fio's writes: the same memkv build wrote
//! 4 MiB values to a loop device at 2.25 GiB/s after a pause and at 1.72-1.90 GiB/s right
//! after fio. So each fio write job takes a place in the rotation of the put cell it is the
//! limit of, and each read job in the matching get cell's, and every runner in turn follows
//! every other.

use std::path::PathBuf;

use crate::compare::{CompareOptions, blocking};
use crate::drives::LoopDevice;
use crate::limits::{FioJob, FioResult, fdatasync_label, fio};
use crate::servers::{DiskEngine, MemkvStorage, ServerError};
use crate::workload::{CellSpec, Op};

/// fio's block size, and the value size of the storage targets.
pub(crate) const FIO_BLOCK: usize = 4 << 20;

/// fio's queue depth for the storage targets: memkv's default `storage.queue_depth`.
pub(crate) const FIO_QD: usize = 32;

/// Writes per `fdatasync` of the durable fio write: 32 MiB of 4 MiB blocks, one log segment
/// at the harness's default `--block-size`. memkv with its default `storage.sync: always`
/// acknowledges a put only after a flush that covers it (one per flush round); fio's plain
/// write never flushes, which on a host or drive with a write cache measures the cache.
pub(crate) const FIO_DURABLE_EVERY: usize = 8;

/// Bytes of each medium fio runs over.
const REGION: u64 = 1 << 30;

/// One fio job on one medium.
#[derive(Debug, Clone)]
pub(crate) struct FioRun {
    medium: &'static str,
    path: PathBuf,
    pub(crate) job: FioJob<'static>,
}

/// fio's media for a whole run, and the jobs it runs on them: sequential 4 MiB O_DIRECT
/// writes and reads at queue depth 1 and 32 (writes also with an `fdatasync` every
/// [`FIO_DURABLE_EVERY`]). The file is removed and the loop device detached on drop.
#[derive(Debug)]
pub(crate) struct FioMedia {
    file: PathBuf,
    _loop_dev: Option<LoopDevice>,
    pub(crate) runs: Vec<FioRun>,
    secs: u64,
}

impl FioMedia {
    /// The fio file and, when a `direct` server is in the run, a loop device written in full
    /// like its drive.
    pub(crate) fn new(opts: &CompareOptions) -> Result<FioMedia, ServerError> {
        std::fs::create_dir_all(&opts.work_dir)?;
        let direct = opts.storage.iter().any(|s| {
            matches!(
                s,
                MemkvStorage::Disk {
                    engine: DiskEngine::Direct,
                    ..
                }
            )
        });
        let file = opts.work_dir.join("fio.dat");
        let mut media: Vec<(&'static str, PathBuf)> = vec![("file", file.clone())];
        let loop_dev = if direct {
            let dev = LoopDevice::attach(&opts.work_dir.join("fio-loop.img"), REGION)?;
            media.push(("loop", dev.device().to_owned()));
            Some(dev)
        } else {
            None
        };
        let job = |rw, iodepth, fdatasync_every| FioJob {
            rw,
            iodepth,
            block_size: FIO_BLOCK,
            fdatasync_every,
        };
        let jobs = [
            job("write", 1, 0),
            job("write", FIO_QD, 0),
            job("write", FIO_QD, FIO_DURABLE_EVERY),
            job("read", 1, 0),
            job("read", FIO_QD, 0),
        ];
        let runs = media
            .iter()
            .flat_map(|(medium, path)| {
                jobs.iter().map(|&job| FioRun {
                    medium,
                    path: path.clone(),
                    job,
                })
            })
            .collect();
        Ok(FioMedia {
            file,
            _loop_dev: loop_dev,
            runs,
            secs: opts.fio_duration.as_secs().max(1),
        })
    }

    /// Runs one job, prints its figure and tags it with `repeat`.
    pub(crate) async fn run(
        &self,
        run: &FioRun,
        repeat: Option<usize>,
    ) -> Result<FioResult, ServerError> {
        let FioRun { medium, path, job } = run.clone();
        let secs = self.secs;
        let mut r = blocking(move || fio(medium, &path, REGION, job, secs)).await?;
        r.repeat = repeat;
        eprintln!(
            "  fio {medium} {} 4M QD{}{}: {:.2} GiB/s",
            job.rw,
            job.iodepth,
            fdatasync_label(job.fdatasync_every),
            r.gib_per_s
        );
        if let Some(load) = &r.device {
            eprintln!("    {}", load.line(job.rw == "read"));
        }
        Ok(r)
    }
}

impl Drop for FioMedia {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The index of the cell a fio job runs next to: the cell of its direction (writes with
/// puts, reads with gets) with as many tasks as its queue depth has requests in flight, else
/// the one of that direction with the most tasks; `None` when `cells` has neither.
pub(crate) fn cell_for(job: &FioJob<'_>, cells: &[CellSpec]) -> Option<usize> {
    let op = if job.rw == "write" { Op::Put } else { Op::Get };
    // Not a cell whose tasks share a connection: fio's jobs stand for a request per client.
    let same_op = || {
        cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.op == op && c.connections.is_none())
    };
    same_op()
        .find(|(_, c)| c.tasks == job.iodepth)
        .or_else(|| same_op().max_by_key(|(_, c)| c.tasks))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Stop;

    fn cell(op: Op, tasks: usize) -> CellSpec {
        CellSpec {
            op,
            tasks,
            connections: None,
            batch: 1,
            read_ratio: 0.0,
            stop: Stop::Calls(1),
        }
    }

    #[test]
    fn each_fio_job_runs_next_to_the_cell_it_is_the_limit_of() {
        let cells = [
            cell(Op::Put, 1),
            cell(Op::Get, 1),
            cell(Op::Put, 8),
            cell(Op::Get, 8),
            cell(Op::Put, 32),
            cell(Op::Get, 32),
        ];
        let job = |rw, iodepth| FioJob {
            rw,
            iodepth,
            block_size: FIO_BLOCK,
            fdatasync_every: 0,
        };
        assert_eq!(cell_for(&job("write", 32), &cells), Some(4));
        assert_eq!(cell_for(&job("read", 32), &cells), Some(5));
        assert_eq!(cell_for(&job("write", 1), &cells), Some(0));
        assert_eq!(cell_for(&job("read", 1), &cells), Some(1));
        // Without a cell of its depth, the busiest of its direction.
        assert_eq!(cell_for(&job("write", 32), &cells[..4]), Some(2));
        // Without a cell of its direction, none.
        assert_eq!(cell_for(&job("read", 1), &[cell(Op::Put, 1)]), None);
    }
}
