//! Chunked transfers of values larger than one frame: `PutBegin` / pipelined `PutChunk` /
//! `PutCommit` uploads and `GetBegin` / pipelined `GetChunk` / `GetEnd` downloads. A stream
//! lives on one connection, so every frame of a transfer uses the same one.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use memkv_proto::msg::{self, Message};
use memkv_proto::{Opcode, SendCrc, Status};

use crate::client::Inner;
use crate::conn::{Conn, PendingReply};
use crate::error::ClientError;
use crate::frame::{Request, combine_crcs};
use crate::stats::Counters;

/// Largest chunk, whatever the frame limit.
pub(crate) const MAX_CHUNK: usize = 4 << 20;
/// Bytes of the frame limit left for a chunk frame's control section.
pub(crate) const CHUNK_HEADROOM: usize = 1024;
/// Chunk requests in flight per transfer.
pub(crate) const WINDOW: usize = 4;

/// Chunk size for a server whose frame limit is `limit`.
pub(crate) fn chunk_size(limit: usize) -> usize {
    limit.saturating_sub(CHUNK_HEADROOM).clamp(1, MAX_CHUNK)
}

/// Where a download goes.
#[derive(Debug)]
pub(crate) enum Sink<'b> {
    /// A new buffer of the value's length.
    Owned,
    /// The caller's buffer (the value must fit).
    Into(&'b mut [u8]),
}

/// How a download ended.
#[derive(Debug)]
pub(crate) enum Downloaded {
    /// The whole value, intact ([`Sink::Owned`]).
    Value(Bytes),
    /// The whole value, intact, is in the caller's buffer ([`Sink::Into`]).
    Hit(usize),
    /// Not stored, or damaged.
    Miss,
    /// Larger than the caller's buffer.
    TooSmall(u64),
}

impl Inner {
    /// Uploads `value` in chunks on one connection of server `s`.
    pub(crate) async fn put_chunked(
        &self,
        s: usize,
        key: &[u8],
        value: &[u8],
        limit: usize,
    ) -> Result<(), ClientError> {
        Counters::bump(&self.counters.chunked_puts);
        let pieces: Vec<&[u8]> = value.chunks(chunk_size(limit)).collect();
        // Each chunk is summed once; the value's CRC is derived from the chunk CRCs.
        let crcs: Vec<u32> = pieces.iter().map(|p| memkv_proto::crc32c(p)).collect();
        let value_crc = combine_crcs(crcs.iter().copied().zip(pieces.iter().map(|p| p.len())));
        let timeout = self.config.op_timeout();
        let conn = self.pools[s].conn().await?;
        let begin = msg::PutBeginReq {
            key,
            total_len: value.len() as u64,
            value_crc,
        }
        .encode();
        let reply = conn
            .call(
                &Request::ctrl_only(Opcode::PutBegin, &begin),
                "put_begin",
                timeout,
            )
            .await?;
        self.put_status(s, &reply, value.len())?;
        let stream = reply.decode::<msg::StreamRef>(self.server_name(s))?.stream;
        let result = self
            .upload(s, &conn, stream, &pieces, &crcs, value.len())
            .await;
        if result.is_err() && conn.is_healthy() {
            let abort = msg::StreamRef { stream }.encode();
            let _ = conn
                .call(
                    &Request::ctrl_only(Opcode::PutAbort, &abort),
                    "put_abort",
                    timeout,
                )
                .await;
        }
        result
    }

    fn put_status(
        &self,
        s: usize,
        reply: &crate::frame::Reply,
        len: usize,
    ) -> Result<(), ClientError> {
        match reply.status() {
            Some(Status::Ok) => Ok(()),
            Some(Status::NoSpace) => Err(ClientError::NoSpace {
                server: self.server_name(s).to_owned(),
                len: len as u64,
            }),
            _ => Err(self.error(s, reply)),
        }
    }

    async fn upload(
        &self,
        s: usize,
        conn: &Arc<Conn>,
        stream: u64,
        pieces: &[&[u8]],
        crcs: &[u32],
        total: usize,
    ) -> Result<(), ClientError> {
        let timeout = self.config.op_timeout();
        let mut window: VecDeque<PendingReply> = VecDeque::with_capacity(WINDOW);
        let mut offset = 0u64;
        for (piece, crc) in pieces.iter().zip(crcs) {
            let ctrl = msg::ChunkReq { stream, offset }.encode();
            let data = [*piece];
            let req = Request {
                opcode: Opcode::PutChunk,
                ctrl: &ctrl,
                data: &data,
                crc: SendCrc::Known(*crc),
            };
            window.push_back(conn.send(&req, "put_chunk", timeout).await?);
            offset += piece.len() as u64;
            if window.len() >= WINDOW {
                let p = window.pop_front().expect("window is not empty");
                self.put_status(s, &p.wait("put_chunk", timeout).await?, total)?;
            }
        }
        while let Some(p) = window.pop_front() {
            self.put_status(s, &p.wait("put_chunk", timeout).await?, total)?;
        }
        let commit = msg::StreamRef { stream }.encode();
        let reply = conn
            .call(
                &Request::ctrl_only(Opcode::PutCommit, &commit),
                "put_commit",
                timeout,
            )
            .await?;
        self.put_status(s, &reply, total)
    }

    /// Downloads the value of `key` from server `s` in chunks, on one connection.
    pub(crate) async fn get_chunked(
        &self,
        s: usize,
        key: &[u8],
        sink: Sink<'_>,
    ) -> Result<Downloaded, ClientError> {
        Counters::bump(&self.counters.chunked_gets);
        let timeout = self.config.op_timeout();
        let conn = self.pools[s].conn().await?;
        let ctrl = msg::KeyReq { key }.encode();
        let reply = conn
            .call(
                &Request::ctrl_only(Opcode::GetBegin, &ctrl),
                "get_begin",
                timeout,
            )
            .await?;
        match reply.status() {
            Some(Status::Ok) => {}
            Some(Status::NotFound) => return Ok(Downloaded::Miss),
            _ => return Err(self.error(s, &reply)),
        }
        let begin: msg::GetBeginResp = reply.decode(self.server_name(s))?;
        let result = self.download(s, &conn, &begin, sink).await;
        if conn.is_healthy() {
            let end = msg::StreamRef {
                stream: begin.stream,
            }
            .encode();
            if let Err(e) = conn
                .call(
                    &Request::ctrl_only(Opcode::GetEnd, &end),
                    "get_end",
                    timeout,
                )
                .await
            {
                tracing::debug!(
                    server = self.server_name(s),
                    "releasing a download failed: {e}"
                );
            }
        }
        result
    }

    async fn download(
        &self,
        s: usize,
        conn: &Arc<Conn>,
        begin: &msg::GetBeginResp,
        sink: Sink<'_>,
    ) -> Result<Downloaded, ClientError> {
        let timeout = self.config.op_timeout();
        let protocol = |detail: String| ClientError::Protocol {
            server: self.server_name(s).to_owned(),
            detail,
        };
        let total = usize::try_from(begin.len)
            .map_err(|_| protocol(format!("value length {} does not fit in memory", begin.len)))?;
        // Chunks are awaited in offset order, so an owned buffer is filled by appending (no
        // zero-fill first).
        let mut dest = match sink {
            Sink::Into(buf) if total > buf.len() => return Ok(Downloaded::TooSmall(begin.len)),
            Sink::Into(buf) => Dest::Caller(&mut buf[..total]),
            Sink::Owned => Dest::Owned(Vec::with_capacity(total)),
        };
        let chunk = chunk_size(conn.info.max_body as usize);
        let mut window: VecDeque<(usize, usize, PendingReply)> = VecDeque::with_capacity(WINDOW);
        let mut next = 0usize;
        let mut crc = 0u32;
        let mut intact = true;
        loop {
            while window.len() < WINDOW && next < total {
                let want = chunk.min(total - next);
                let ctrl = msg::GetChunkReq {
                    stream: begin.stream,
                    offset: next as u64,
                    len: want as u32,
                }
                .encode();
                let p = conn
                    .send(
                        &Request::ctrl_only(Opcode::GetChunk, &ctrl),
                        "get_chunk",
                        timeout,
                    )
                    .await?;
                window.push_back((next, want, p));
                next += want;
            }
            let Some((offset, want, p)) = window.pop_front() else {
                break;
            };
            let reply = p.wait("get_chunk", timeout).await?;
            if !reply.is_ok() {
                return Err(self.error(s, &reply));
            }
            let data = reply.data();
            if data.len() != want {
                return Err(protocol(format!(
                    "asked for {want} bytes at offset {offset}, got {}",
                    data.len()
                )));
            }
            let piece_crc = reply.data_crc.unwrap_or_else(|| memkv_proto::crc32c(&data));
            if piece_crc != reply.sent_crc {
                intact = false;
                break;
            }
            crc = memkv_proto::crc32c_combine(crc, piece_crc, data.len());
            match &mut dest {
                Dest::Caller(buf) => buf[offset..offset + want].copy_from_slice(&data),
                Dest::Owned(v) => v.extend_from_slice(&data),
            }
        }
        if !intact || crc != begin.crc {
            self.checksum_failure(s);
            return Ok(Downloaded::Miss);
        }
        Ok(match dest {
            Dest::Caller(_) => Downloaded::Hit(total),
            Dest::Owned(v) => Downloaded::Value(Bytes::from(v)),
        })
    }
}

/// The buffer a download fills.
enum Dest<'b> {
    Caller(&'b mut [u8]),
    Owned(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_in_the_frame_limit() {
        assert_eq!(chunk_size(64 << 20), MAX_CHUNK);
        assert_eq!(chunk_size(1 << 20), (1 << 20) - CHUNK_HEADROOM);
        assert_eq!(chunk_size(100), 1);
        for limit in [4096usize, 65_536, 1 << 20, 64 << 20] {
            let c = chunk_size(limit);
            assert!(c + 16 <= limit, "chunk frame over the limit for {limit}");
        }
    }
}
