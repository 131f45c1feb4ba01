//! Engine counters: operations per kind, bytes, errors, in-flight gauge, and io_uring
//! syscall counts, so a benchmark or `/metrics` can show that batching works.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::request::OpClass;

/// Counts for one kind of operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Accepted by the engine (after validation).
    pub submitted: u64,
    /// Finished, successfully or not.
    pub completed: u64,
    /// Finished with an error (including injected faults).
    pub errors: u64,
}

/// A point-in-time copy of an engine's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Reads.
    pub reads: OpCounts,
    /// Writes.
    pub writes: OpCounts,
    /// `fdatasync`s.
    pub syncs: OpCounts,
    /// Discards (a discard the device does not support counts as completed, not as an error).
    pub discards: OpCounts,
    /// Bytes transferred by successful reads.
    pub bytes_read: u64,
    /// Bytes transferred by successful writes.
    pub bytes_written: u64,
    /// Operations refused before submission (unaligned, too large).
    pub rejected: u64,
    /// Operations handed to the kernel (or a worker thread) and not yet completed. Never
    /// exceeds the queue depth.
    pub in_flight: u64,
    /// The highest `in_flight` seen since the engine started.
    pub in_flight_max: u64,
    /// `io_uring_enter` calls (submitting, waiting, or both). Zero for the std engine.
    pub uring_enter_calls: u64,
    /// `io_uring_enter` calls that submitted at least one I/O. Far fewer than the I/Os
    /// submitted when batching works.
    pub uring_submit_calls: u64,
}

impl MetricsSnapshot {
    /// The counts for all kinds together.
    pub fn total(&self) -> OpCounts {
        let all = [self.reads, self.writes, self.syncs, self.discards];
        OpCounts {
            submitted: all.iter().map(|c| c.submitted).sum(),
            completed: all.iter().map(|c| c.completed).sum(),
            errors: all.iter().map(|c| c.errors).sum(),
        }
    }
}

#[derive(Default)]
struct OpAtomics {
    submitted: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
}

impl OpAtomics {
    fn load(&self) -> OpCounts {
        OpCounts {
            submitted: self.submitted.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// The live counters, shared by the front end and the engine threads.
#[derive(Default)]
pub(crate) struct Metrics {
    ops: [OpAtomics; 4],
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    rejected: AtomicU64,
    in_flight: AtomicU64,
    in_flight_max: AtomicU64,
    enter_calls: AtomicU64,
    submit_calls: AtomicU64,
}

impl Metrics {
    pub(crate) fn submitted(&self, class: OpClass) {
        self.ops[class as usize]
            .submitted
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished operation. Called before the result is handed to the caller, so a
    /// caller that saw its result also sees it counted.
    pub(crate) fn completed(&self, class: OpClass, result: &std::io::Result<u64>) {
        let ops = &self.ops[class as usize];
        match result {
            Ok(n) => match class {
                OpClass::Read => {
                    self.bytes_read.fetch_add(*n, Ordering::Relaxed);
                }
                OpClass::Write => {
                    self.bytes_written.fetch_add(*n, Ordering::Relaxed);
                }
                OpClass::Sync | OpClass::Discard => {}
            },
            Err(_) => {
                ops.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        ops.completed.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn start_in_flight(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.in_flight_max.fetch_max(now, Ordering::AcqRel);
    }

    pub(crate) fn end_in_flight(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn uring_enter(&self, submitted_io: bool) {
        self.enter_calls.fetch_add(1, Ordering::Relaxed);
        if submitted_io {
            self.submit_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            reads: self.ops[OpClass::Read as usize].load(),
            writes: self.ops[OpClass::Write as usize].load(),
            syncs: self.ops[OpClass::Sync as usize].load(),
            discards: self.ops[OpClass::Discard as usize].load(),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Acquire),
            in_flight_max: self.in_flight_max.load(Ordering::Acquire),
            uring_enter_calls: self.enter_calls.load(Ordering::Relaxed),
            uring_submit_calls: self.submit_calls.load(Ordering::Relaxed),
        }
    }
}

/// A handle on an engine's counters that stays valid after the engine is dropped, so a test
/// or exporter can read the final values.
#[derive(Clone)]
pub struct MetricsHandle(pub(crate) Arc<Metrics>);

impl MetricsHandle {
    /// The current values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.0.snapshot()
    }
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}
