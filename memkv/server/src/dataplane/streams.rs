//! Chunked uploads and downloads open on one connection.

use std::collections::HashMap;

use bytes::BytesMut;
use memkv_store::Value;

/// Most streams one connection may hold open at once.
pub(super) const MAX_STREAMS: usize = 16;

/// An upload in progress: chunks must arrive in order.
#[derive(Debug)]
pub(super) struct Upload {
    pub(super) key: Vec<u8>,
    pub(super) total_len: u64,
    pub(super) crc: u32,
    pub(super) buf: BytesMut,
}

/// A pinned value being downloaded.
#[derive(Debug)]
pub(super) struct Download {
    pub(super) value: Value,
}

#[derive(Debug)]
pub(super) enum Stream {
    Upload(Upload),
    Download(Download),
}

/// The open streams of one connection, dropped with it.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    next_id: u64,
    open: HashMap<u64, Stream>,
}

impl Streams {
    /// Opens a stream; `None` when the connection is at [`MAX_STREAMS`].
    pub(super) fn open(&mut self, stream: Stream) -> Option<u64> {
        if self.open.len() >= MAX_STREAMS {
            return None;
        }
        self.next_id += 1;
        self.open.insert(self.next_id, stream);
        Some(self.next_id)
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut Stream> {
        self.open.get_mut(&id)
    }

    pub(super) fn close(&mut self, id: u64) -> Option<Stream> {
        self.open.remove(&id)
    }
}
