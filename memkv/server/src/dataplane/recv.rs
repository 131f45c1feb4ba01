//! Receiving frame data into reusable buffers, verified while the bytes are still in the CPU's
//! cache.
//!
//! A put's data becomes the stored value itself (no copy). Large data lands in a buffer from
//! the server's [`BufPool`], which gets it back when the value dies (overwritten, deleted,
//! evicted, or written to disk), so a steady stream of puts does not make the kernel fault in
//! and zero fresh pages for every value.
//!
//! Each piece is fed to the frame's [`FrameVerifier`] as it arrives, so the MAC (or, in
//! `checksum` mode, the CRC32C) and the value's CRC32C are computed on bytes the socket copy
//! has just brought into the cache, in the same pass, instead of in later passes over memory.

use std::sync::Arc;

use bytes::Bytes;
use memkv_proto::FrameVerifier;
use memkv_proto::bufpool::BufPool;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes of idle receive buffers one server keeps.
pub(crate) const POOL_MAX_IDLE: usize = 256 << 20;

/// Reads exactly `len` bytes of frame data, feeding each piece to `verifier` as it arrives.
pub(crate) async fn read_data<R: AsyncRead + Unpin>(
    rd: &mut R,
    len: usize,
    verifier: &mut FrameVerifier,
    pool: &Arc<BufPool>,
) -> std::io::Result<Bytes> {
    let mut buf = pool.take(len);
    let mut limited = rd.take(len as u64);
    while buf.len() < len {
        let start = buf.len();
        match limited.read_buf(&mut buf).await {
            Ok(0) => {
                pool.give_back(buf);
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(_) => verifier.update(&buf[start..]),
            Err(e) => {
                pool.give_back(buf);
                return Err(e);
            }
        }
    }
    Ok(BufPool::freeze(pool, buf))
}

#[cfg(test)]
mod tests {
    use memkv_proto::bufpool::POOLED_MIN;
    use memkv_proto::{AuthKey, DataCrc, Header, Integrity, Opcode, Session, crc32c};

    use super::*;

    fn verifier_for(data: &[u8]) -> FrameVerifier {
        let s = Session::handshake(&AuthKey::loopback_dev_key(), Integrity::Mac);
        let mut h = Header::request(Opcode::Put, 1, 0);
        let raw = s.seal(&mut h, b"", &[data], None);
        s.verifier(&h, &raw, b"", DataCrc::Compute)
    }

    #[tokio::test]
    async fn data_is_verified_on_the_way_in_and_its_buffer_is_reused() {
        let pool = Arc::new(BufPool::new(POOL_MAX_IDLE));
        let data: Vec<u8> = (0..POOLED_MIN * 3 + 5).map(|i| i as u8).collect();
        let mut v = verifier_for(&data);
        let got = read_data(&mut &data[..], data.len(), &mut v, &pool)
            .await
            .unwrap();
        assert_eq!(&got[..], &data[..]);
        assert_eq!(v.finish(), Ok(Some(crc32c(&data))));
        let first = got.as_ptr();
        drop(got);
        assert!(pool.idle_bytes() >= data.len());

        let mut v = verifier_for(&data);
        let again = read_data(&mut &data[..], data.len(), &mut v, &pool)
            .await
            .unwrap();
        assert_eq!(again.as_ptr(), first, "the idle buffer was reused");
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[tokio::test]
    async fn a_short_read_is_an_error_and_keeps_the_buffer() {
        let pool = Arc::new(BufPool::new(POOL_MAX_IDLE));
        let big = vec![2u8; POOLED_MIN];
        let mut v = verifier_for(&big);
        let err = read_data(&mut &big[..POOLED_MIN - 1], POOLED_MIN, &mut v, &pool)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(pool.idle_bytes(), POOLED_MIN);
    }
}
