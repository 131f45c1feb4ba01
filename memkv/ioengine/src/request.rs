//! The request that travels from the front end to an engine thread, and its completion.
//!
//! A [`Request`] owns everything the kernel touches: the buffer and a clone of the
//! `Arc<Device>` (so the descriptor stays open). Whoever holds the request holds those; it is
//! consumed only by [`Request::complete`], after the kernel is done.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::buf::AlignedBuf;
use crate::device::Device;
use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::sys;

/// The kind of an operation, for counters and fault plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpClass {
    Read = 0,
    Write = 1,
    Sync = 2,
    Discard = 3,
}

/// What to do.
pub(crate) enum Op {
    Read {
        buf: AlignedBuf,
        offset: u64,
    },
    Write {
        buf: AlignedBuf,
        offset: u64,
    },
    /// A write from shared, immutable bytes (checked to be aligned in memory when queued);
    /// the request holds a reference to them until the kernel is done.
    WriteShared {
        data: Bytes,
        offset: u64,
    },
    Fdatasync,
    Discard {
        offset: u64,
        len: u64,
    },
}

impl Op {
    pub(crate) fn class(&self) -> OpClass {
        match self {
            Op::Read { .. } => OpClass::Read,
            Op::Write { .. } | Op::WriteShared { .. } => OpClass::Write,
            Op::Fdatasync => OpClass::Sync,
            Op::Discard { .. } => OpClass::Discard,
        }
    }

    /// Takes the buffer out (an empty one for operations without a buffer).
    pub(crate) fn take_buf(&mut self) -> AlignedBuf {
        match self {
            Op::Read { buf, .. } | Op::Write { buf, .. } => std::mem::take(buf),
            Op::WriteShared { .. } | Op::Fdatasync | Op::Discard { .. } => AlignedBuf::new(),
        }
    }
}

/// What the caller gets back. For discards, `Ok(1)` means discarded and `Ok(0)` means the
/// device does not support it.
pub(crate) struct Completion {
    pub(crate) buf: AlignedBuf,
    pub(crate) result: io::Result<u64>,
}

/// One operation on its way through an engine.
pub(crate) struct Request {
    pub(crate) dev: Arc<Device>,
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Completion>,
}

impl Request {
    /// Finishes the operation: counts it and hands buffer and result to the caller. If the
    /// caller has gone (dropped its future), the buffer is dropped here, after the kernel is
    /// done with it.
    pub(crate) fn complete(mut self, result: io::Result<u64>, metrics: &Metrics) {
        let class = self.op.class();
        let result = match (class, result) {
            (OpClass::Discard, Ok(_)) => Ok(1),
            (OpClass::Discard, Err(e)) if sys::is_unsupported(&e) => Ok(0),
            (_, result) => result,
        };
        metrics.completed(class, &result);
        let buf = self.op.take_buf();
        // Shared bytes (and the device) are let go before the caller hears of the completion:
        // once it has, the engine holds nothing of its request, so a pooled buffer written
        // from is already back in its pool.
        let Request { dev, op, reply } = self;
        drop(op);
        drop(dev);
        // An error means the caller dropped its future; the completion (and buffer) is dropped.
        let _ = reply.send(Completion { buf, result });
    }

    /// Fails the operation without running it because the engine thread is gone. Only used
    /// for requests the kernel never saw, so their buffers go back to the caller.
    pub(crate) fn engine_stopped(self, metrics: &Metrics) {
        self.complete(Err(RequestError::EngineStopped.into_io()), metrics);
    }
}
