//! Lending a connection's read side to the request whose reply is next on the stream, so that
//! `get_into` reads its value from the socket straight into the caller's buffer.

use std::sync::Arc;

use bytes::Bytes;
use memkv_frameio::{
    Part, read_data_discarded, read_data_into, read_parts, rest_len, set_socket_low_water,
    set_socket_low_water_eager,
};
use memkv_proto::{HEADER_LEN, Header};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use super::{ReadSide, Shared, reply_crc};
use crate::error::ClientError;
use crate::frame::Reply;
use crate::stats::Counters;

/// A reply read by [`Conn::call_into`](super::Conn::call_into).
#[derive(Debug)]
pub(crate) struct Landed {
    /// The verified reply; its `data` is empty: the data went to `dest`, or was read, verified
    /// and dropped when it did not fit.
    pub(crate) reply: Reply,
    /// The data's length, when it was read into `dest`.
    pub(crate) in_dest: Option<usize>,
}

/// The read side of a connection lent by its reader task to the request whose reply is next on
/// the stream, right after the reply's header and control section. It goes back to the reader
/// when dropped, with the count of the frame's bytes not read yet (which the reader skips).
#[derive(Debug)]
pub(crate) struct Handoff {
    shared: Arc<Shared>,
    header: Header,
    raw: [u8; HEADER_LEN],
    ctrl: Bytes,
    rd: Option<ReadSide>,
    /// Bytes of the frame's data and trailer read so far (the rest is still on the stream).
    read: usize,
    /// A verification failure that must end the connection.
    fatal: Option<ClientError>,
    back: Option<oneshot::Sender<Returned>>,
}

/// What a [`Handoff`] gives back to the reader task.
#[derive(Debug)]
struct Returned {
    rd: ReadSide,
    skip: usize,
    fatal: Option<ClientError>,
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if let (Some(mut rd), Some(back)) = (self.rd.take(), self.back.take()) {
            let skip = rest_len(self.header.data_len as usize) - self.read;
            if skip > 0 {
                // A read given up midway may have left the low-water mark above the bytes
                // still to come, which the reader would then wait for in vain.
                set_socket_low_water(&mut rd, 1);
            }
            let _ = back.send(Returned {
                rd,
                skip,
                fatal: self.fatal.take(),
            });
        }
    }
}

impl Handoff {
    /// Reads the frame's data, into `dest` if it fits, verifies the frame and gives the
    /// stream back.
    pub(super) async fn read(mut self, dest: &mut [u8]) -> Result<Landed, ClientError> {
        let shared = Arc::clone(&self.shared);
        let header = self.header;
        let len = header.data_len as usize;
        let crc = reply_crc(header.opcode);
        let mut verifier = shared.session.verifier(&header, &self.raw, &self.ctrl, crc);
        let rd = self.rd.as_mut().expect("lent until dropped");
        let read: std::io::Result<Option<usize>> = if len <= dest.len() {
            read_data_into(
                rd,
                &mut dest[..len],
                &mut verifier,
                &mut self.read,
                set_socket_low_water_eager,
            )
            .await
            .map(|()| Some(len))
        } else {
            // The value does not fit `dest` (the caller learns its length from the reply, or
            // that the data section is longer than the value): the data is read, only so that
            // the frame is verified before the caller acts on its control section, through a
            // buffer of one read piece, counted in `self.read` as it comes, so that a request
            // given up midway leaves the reader the right number of bytes to skip.
            read_data_discarded(
                rd,
                len,
                &mut verifier,
                &mut self.read,
                set_socket_low_water_eager,
            )
            .await
            .map(|()| None)
        };
        let in_dest = read.map_err(|e| self.lost(format!("read failed inside a frame: {e}")))?;
        let reply = self.verified(verifier)?;
        Ok(Landed { reply, in_dest })
    }

    /// The reply as it stands before its data is read: its header and control section, not
    /// verified yet (the frame's tag covers the data too). Only for deciding where the data
    /// goes ([`read_parts`](Self::read_parts)); nothing else may act on it.
    pub(crate) fn unverified(&self) -> Reply {
        Reply {
            header: self.header,
            ctrl: self.ctrl.clone(),
            data: Bytes::new(),
            data_crc: None,
            sent_crc: 0,
        }
    }

    /// Reads the frame's data, values back to back, to `parts` (their lengths add up to the
    /// data's: the caller checks that against [`unverified`](Self::unverified)'s header),
    /// verifies the frame and gives the stream back. Returns the verified reply (its data
    /// empty) and each part's CRC32C, computed as its bytes arrived.
    pub(crate) async fn read_parts(
        mut self,
        parts: &mut [Part<'_>],
    ) -> Result<(Reply, Vec<u32>), ClientError> {
        let shared = Arc::clone(&self.shared);
        let header = self.header;
        let crc = reply_crc(header.opcode);
        let mut verifier = shared.session.verifier(&header, &self.raw, &self.ctrl, crc);
        let rd = self.rd.as_mut().expect("lent until dropped");
        let crcs = read_parts(
            rd,
            parts,
            &mut verifier,
            &mut self.read,
            set_socket_low_water_eager,
        )
        .await
        .map_err(|e| self.lost(format!("read failed inside a frame: {e}")))?;
        let reply = self.verified(verifier)?;
        Ok((reply, crcs))
    }

    /// Checks the frame once its data and trailer are read; a failed tag ends the connection.
    fn verified(&mut self, verifier: memkv_proto::FrameVerifier) -> Result<Reply, ClientError> {
        let sums = match self.shared.check_reply(&self.header, verifier.finish()) {
            Ok(r) => r?,
            Err(fatal) => {
                // Unhealthy before the caller hears of it, so that its next request takes
                // another connection (the reader ends this one once the stream is back).
                self.shared.mark_unhealthy(&fatal.to_string());
                self.fatal = Some(fatal.clone());
                return Err(fatal);
            }
        };
        Ok(Reply {
            header: self.header,
            ctrl: self.ctrl.clone(),
            data: Bytes::new(),
            data_crc: sums.computed,
            sent_crc: sums.sent,
        })
    }

    /// The stream failed: the reader ends the connection with this error.
    fn lost(&mut self, reason: String) -> ClientError {
        let err = self.shared.lost(reason);
        self.shared.mark_unhealthy(&err.to_string());
        self.fatal = Some(err.clone());
        err
    }
}

/// Lends the stream to the request waiting on `tx` for the rest of the frame, and takes it
/// back: skipping what the request did not read (it gave up), or failing with what broke it.
pub(super) async fn lend(
    shared: &Arc<Shared>,
    rd: ReadSide,
    header: Header,
    raw: [u8; HEADER_LEN],
    ctrl: Bytes,
    tx: oneshot::Sender<Result<Handoff, ClientError>>,
) -> Result<ReadSide, ClientError> {
    let (back, returned) = oneshot::channel();
    let handoff = Handoff {
        shared: Arc::clone(shared),
        header,
        raw,
        ctrl,
        rd: Some(rd),
        read: 0,
        fatal: None,
        back: Some(back),
    };
    // A request that is gone hands the stream straight back (as its `Handoff` drops).
    let gone = tx.send(Ok(handoff)).is_err();
    let Returned {
        mut rd,
        skip,
        fatal,
    } = returned
        .await
        .map_err(|_| shared.lost("the stream was not given back"))?;
    if let Some(e) = fatal {
        return Err(e);
    }
    if gone || skip > 0 {
        Counters::bump(&shared.counters.abandoned_replies);
    }
    if skip > 0 {
        let mut rest = (&mut rd).take(skip as u64);
        match tokio::io::copy(&mut rest, &mut tokio::io::sink()).await {
            Ok(n) if n == skip as u64 => {}
            Ok(_) => return Err(shared.lost("the server closed the connection inside a frame")),
            Err(e) => return Err(shared.lost(format!("read failed inside a frame: {e}"))),
        }
    }
    Ok(rd)
}
