//! Frame I/O on a tokio stream that the server and the client share around `memkv-proto`:
//!
//! - [`write_sealed`]: a frame written from where its parts live, each piece of data fed to
//!   the frame's [`DataSealer`] just after it is written (a few small ones just before),
//!   then the trailer;
//! - [`write_all_vectored`]: parts written with as few calls as the kernel allows;
//!
//! and, after decoding a header:
//!
//! - [`read_body`]: a control section (or any small body) into a fresh buffer;
//! - [`read_data`]: a data section into a buffer from a [`BufPool`] (or, [`read_data_into`],
//!   into the caller's buffer; [`read_data_discarded`], through one small buffer, dropped;
//!   [`read_parts`], values back to back, each to its own [`Part`]),
//!   each piece fed to the frame's [`FrameVerifier`] as it arrives, so the MAC (or, in
//!   `checksum` mode, the CRC32C) and the value's CRC32C are computed on bytes the socket copy
//!   has just brought into the cache, in one pass, instead of in later passes over memory.
//!
//! [`SendBuffer`] sizes a connection's send buffer the same way on both ends.
//!
//! Nothing here trusts the bytes it reads: the caller acts on them only after
//! [`FrameVerifier::finish`] returns `Ok`.

pub mod bufpool;
pub mod sendbuf;

use std::os::fd::AsFd;

use bytes::{Bytes, BytesMut};
use memkv_proto::{DataSealer, FrameVerifier};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;

use bufpool::Bounce;
pub use bufpool::{BufPool, Landing, STREAMED_MIN};
pub use sendbuf::SendBuffer;

/// Bytes of data summed, then written, at a time by [`write_sealed`]: the sum's pass over a
/// value still in memory leaves the chunk in the CPU's cache (a core's L2 holds it) for the
/// kernel's copy into the socket that follows, and few enough writes per value that a sender
/// with 8 clients on 2 cores does not pay for many more system calls. Against 1 MiB (written,
/// then summed; 2-core VM, same session, 3 rounds each, order flipped): `checksum` put 4M x1
/// +36%, 1M x1 +20%, 1M x8 +9%, `mac` get 4M x1 +24%, `mac` put 4M x8 -2%; 256 KiB pieces
/// gained less with one client and lost 3-6% with 8. 4 MiB pieces made the `mac` sender hash a
/// whole value while the receiver idled.
pub const SEND_CHUNK: usize = 512 * 1024;

/// Writes a sealed frame: `head` (the header's encoding and the control section), `data`, then
/// the trailer from `sealer`. Data pieces are gathered, fed to `sealer` and written (`head` in
/// front of the first) each time [`SEND_CHUNK`] bytes are gathered. Summing a chunk first reads
/// it from memory in one streaming pass, which the CPU's prefetchers keep ahead of, and the
/// kernel's copy then finds it in the cache: a copy that read a cold value itself ran at half
/// the speed of one from the cache, and was most of a one-client sender's time (see
/// `docs/benchmarks.md`). Many small values (a batch) still leave in one write. What is left
/// after the last whole chunk (a batch of small values, a value's tail) is fed first and goes in
/// one write with the trailer. Data the sealer does not read goes in one write with the rest.
///
/// The bytes are borrowed for the whole call, so what is summed is what was written.
pub async fn write_sealed<W: AsyncWrite + Unpin>(
    w: &mut W,
    head: [&[u8]; 2],
    data: &[impl AsRef<[u8]>],
    mut sealer: DataSealer,
) -> std::io::Result<()> {
    // Room for every piece of a frame of small values (a batch), which leaves in one write.
    let mut gathered: Vec<&[u8]> = Vec::with_capacity(head.len() + data.len().min(1024) + 1);
    gathered.extend(head);
    // Where the data pieces of `gathered` begin (after `head`, in the first batch).
    let mut data_from = gathered.len();
    let mut gathered_len = 0;
    if sealer.reads_data() {
        for piece in data {
            for chunk in piece.as_ref().chunks(SEND_CHUNK) {
                gathered.push(chunk);
                gathered_len += chunk.len();
                if gathered_len >= SEND_CHUNK {
                    let chunk = &gathered[data_from..];
                    // Small values scattered over many pages: see `touch_lines`. One piece is
                    // one streaming pass, which needs no help.
                    if chunk.len() > 1 {
                        touch_lines(chunk);
                    }
                    chunk.iter().for_each(|d| sealer.update(d));
                    write_all_vectored(w, gathered.iter().copied()).await?;
                    gathered.clear();
                    data_from = 0;
                    gathered_len = 0;
                }
            }
        }
        // What is left is less than a chunk: summed first, it leaves with the trailer.
        let rest = &gathered[data_from..];
        touch_lines(rest);
        rest.iter().for_each(|d| sealer.update(d));
    } else {
        gathered.extend(data.iter().map(AsRef::as_ref));
    }
    let trailer = sealer.finish();
    let tail = trailer.as_ref().map(|t| &t[..]);
    write_all_vectored(w, gathered.into_iter().chain(tail)).await
}

/// Reads one byte of every cache line of `pieces`, so that a sum over them next finds them in
/// the cache. Values a server holds in RAM are usually not in the cache when they are sent; a
/// batch of 4 KiB values is 16 pages, and the CPU's prefetchers do not cross a page, so a sum
/// reading each page in order waited for most of its lines in turn (the server's MAC of a
/// batch get ran at about 6 GB/s). These loads do not depend on each other, so their misses
/// overlap.
fn touch_lines(pieces: &[&[u8]]) {
    const LINE: usize = 64;
    let mut acc = 0u8;
    for piece in pieces {
        for byte in piece.iter().step_by(LINE) {
            acc ^= *byte;
        }
    }
    std::hint::black_box(acc);
}

/// Writes every byte of `pieces`, in order, with vectored writes. Through a tokio `BufWriter`,
/// pieces that fit its free space are buffered and larger sets go to the socket directly.
pub async fn write_all_vectored<'a, W: AsyncWrite + Unpin>(
    w: &mut W,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(pieces.size_hint().0);
    slices.extend(pieces.filter(|p| !p.is_empty()).map(std::io::IoSlice::new));
    let mut bufs: &mut [std::io::IoSlice<'_>] = &mut slices;
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// Most bytes of data read from the socket at a time: small enough that the bytes the kernel
/// has just copied are still in the CPU's L2 cache when the verifier sums them (a read of
/// several MiB at once made the CRC32C pass read them back from L3 or memory).
const READ_PIECE: usize = 256 * 1024;

/// Reads exactly `len` bytes into one fresh buffer without zero-filling it first.
pub async fn read_body<R: AsyncRead + Unpin>(rd: &mut R, len: usize) -> std::io::Result<Bytes> {
    let mut body = BytesMut::with_capacity(len);
    let mut limited = rd.take(len as u64);
    while body.len() < len {
        if limited.read_buf(&mut body).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body.freeze())
}

/// The receive low-water mark [`read_data`] asks for while data is outstanding: 1 MiB, two of
/// a sender's [`SEND_CHUNK`]s. The kernel then wakes the reader once per MiB instead of for each
/// piece the sender's copy produces; on loopback each wake-up is an inter-processor interrupt
/// on the sender's core. 4 MiB `checksum` puts with one client: 2.64-2.77 -> 3.07-3.26 GiB/s
/// (2-core VM, same session, alternating). A reader whose thread has nothing else to do asks
/// for less ([`EAGER_LOW_WATER`]).
pub const LOW_WATER: usize = 1024 * 1024;

/// The receive low-water mark of an eager reader: one read piece, 256 KiB. Woken once per MiB,
/// a reader falls up to a MiB behind its sender, and a value is answered only after its last
/// piece is read and checked: with one value at a time, the sender idles while the reader
/// catches up (150-170 us per 4 MiB put with one client, 2-core VM). Woken once per read piece,
/// it stays within a piece of the sender, for more wake-ups, which cost nothing on a thread
/// that would idle anyway but CPU on a busy one. Paired rounds, 2-core VM: 256 KiB against
/// 1 MiB for every reader, `checksum` put and get 4M x1 +4-5%, get 4M x8 +4%, but put 4M x8
/// -4% and x32 -6% (faster in 0 of 8 rounds). So the client reads replies eagerly
/// ([`set_socket_low_water_eager`]), and the server reads a request eagerly only while no
/// other connection of its thread is reading one.
pub const EAGER_LOW_WATER: usize = READ_PIECE;

/// Sets the receive low-water mark (`SO_RCVLOWAT`) of the connection under `rd` to `bytes` and
/// returns it: the `low_water` callback that the server (for requests) gives [`read_data`] and
/// [`read_values`]. A socket that refuses it keeps its mark, and the value is read with more
/// wake-ups, as without one.
pub fn set_socket_low_water(rd: &mut BufReader<OwnedReadHalf>, bytes: usize) -> usize {
    let stream: &tokio::net::TcpStream = rd.get_ref().as_ref();
    if let Err(e) = memkv_ioengine::set_recv_low_water(stream.as_fd(), bytes) {
        tracing::debug!("SO_RCVLOWAT {bytes} refused: {e}");
    }
    bytes
}

/// [`set_socket_low_water`] for an eager reader: a mark of at most [`EAGER_LOW_WATER`]. Lowering
/// a mark of the schedule ([`low_water_for`]) keeps it below the bytes still to come. The
/// client's callback for replies, and the server's while no other connection of the thread is
/// reading a request.
pub fn set_socket_low_water_eager(rd: &mut BufReader<OwnedReadHalf>, bytes: usize) -> usize {
    set_socket_low_water(rd, eager_low_water(bytes))
}

/// The mark an eager reader asks for where the schedule asks for `bytes`.
pub fn eager_low_water(bytes: usize) -> usize {
    bytes.min(EAGER_LOW_WATER)
}

/// Reads exactly `len` bytes of frame data into a buffer from `pool`, feeding each piece to
/// `verifier` as it arrives, then the trailer that follows data. The data lands as the pool
/// says ([`Landing`]): through a cache-resident bounce buffer, summed there, then streamed
/// into the buffer; or copied there by the socket and summed in place. On an error the buffer
/// goes back to the pool.
///
/// `low_water(rd, n)` sets the stream's receive low-water mark to at most `n` bytes (see
/// [`LOW_WATER`]) and returns the mark it set, which the next calls are compared with (an
/// eager reader's lower mark is set once, not again when the schedule comes down to it); it
/// may do nothing (a stream that is not a socket). The mark never exceeds
/// the data still to come, so the read cannot wait for bytes that will not be sent, and it is
/// 1 again when this returns `Ok` (a caller that gets an error closes the stream). Frames of
/// at most one read piece leave it alone.
pub async fn read_data<R: AsyncRead + Unpin>(
    rd: &mut R,
    len: usize,
    verifier: &mut FrameVerifier,
    pool: &'static BufPool,
    low_water: impl FnMut(&mut R, usize) -> usize,
) -> std::io::Result<Bytes> {
    let mut buf = pool.take(len);
    let mut bounce =
        (pool.landing() == Landing::Streamed && len >= STREAMED_MIN).then(Bounce::take);
    let mut mark = LowWater::new(low_water);
    while buf.len() < len {
        let start = buf.len();
        mark.before_read(rd, start, len);
        let piece = (len - start).min(READ_PIECE);
        let read = match &mut bounce {
            Some(bounce) => read_streamed(rd, bounce, piece, verifier, buf.appender()).await,
            None => (&mut *rd)
                .take(piece as u64)
                .read_buf(buf.appender())
                .await
                .inspect(|_| verifier.update(&buf.data()[start..])),
        };
        match read {
            Ok(0) => {
                pool.give_back(buf);
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(_) => {}
            Err(e) => {
                pool.give_back(buf);
                return Err(e);
            }
        }
    }
    mark.reset(rd);
    if len > 0
        && let Err(e) = rd.read_exact(verifier.trailer_mut()).await
    {
        pool.give_back(buf);
        return Err(e);
    }
    Ok(BufPool::freeze(pool, buf))
}

/// Reads at most `piece` bytes into `bounce`, feeds them to `verifier` there, while they are
/// in the cache, and appends them to `dest` with non-temporal stores ([`Landing::Streamed`]);
/// returns how many were read (0 at the end of the stream).
async fn read_streamed<R: AsyncRead + Unpin>(
    rd: &mut R,
    bounce: &mut Bounce,
    piece: usize,
    verifier: &mut FrameVerifier,
    dest: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let room = &mut bounce.bytes()[..piece];
    let n = rd.read(room).await?;
    verifier.update(&room[..n]);
    memkv_ioengine::extend_streaming(dest, &room[..n]);
    Ok(n)
}

/// Reads frame data made of values of the lengths `lens`, back to back (a batch put), each
/// into a buffer of exactly its length, feeding each piece to `verifier` as it arrives, then
/// the trailer that follows the data. A stored value then owns exactly its bytes, without a
/// copy out of one buffer for the whole frame (which a slice would keep alive for as long as
/// any one of its values stays stored). The caller checks that `lens` add up to the frame's
/// data length before calling: nothing is allocated that the frame's length did not allow.
/// Values land as `landing` says: with [`Landing::Streamed`], those of at least
/// [`STREAMED_MIN`] bytes through a bounce buffer, as [`read_data`]'s do. `low_water` as for
/// [`read_data`].
pub async fn read_values<R: AsyncRead + Unpin>(
    rd: &mut R,
    lens: &[usize],
    verifier: &mut FrameVerifier,
    landing: Landing,
    low_water: impl FnMut(&mut R, usize) -> usize,
) -> std::io::Result<Vec<Bytes>> {
    let len: usize = lens.iter().sum();
    let mut mark = LowWater::new(low_water);
    let mut start = 0;
    let mut values = Vec::with_capacity(lens.len());
    // Taken at the first value that streams, for the rest of the frame.
    let mut bounce: Option<Bounce> = None;
    for &value_len in lens {
        let streamed = landing == Landing::Streamed && value_len >= STREAMED_MIN;
        if streamed && bounce.is_none() {
            bounce = Some(Bounce::take());
        }
        let mut value = Vec::with_capacity(value_len);
        while value.len() < value_len {
            mark.before_read(rd, start, len);
            let piece = (value_len - value.len()).min(READ_PIECE);
            let at = value.len();
            let n = match bounce.as_mut().filter(|_| streamed) {
                Some(bounce) => read_streamed(rd, bounce, piece, verifier, &mut value).await?,
                None => {
                    let n = (&mut *rd).take(piece as u64).read_buf(&mut value).await?;
                    verifier.update(&value[at..]);
                    n
                }
            };
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            start += n;
        }
        values.push(Bytes::from(value));
    }
    mark.reset(rd);
    if len > 0 {
        rd.read_exact(verifier.trailer_mut()).await?;
    }
    Ok(values)
}

/// The receive low-water mark for a read with `left` bytes of data still to come: a whole
/// [`LOW_WATER`] chunk while one is left, then a read piece (256 KiB), then 1 for the last
/// bytes: never more than what is left, so no wake-up waits for bytes that will not come. The
/// schedule of [`read_data`] and its siblings; the benchmark's acknowledged pump follows it.
pub fn low_water_for(left: usize) -> usize {
    if left >= LOW_WATER {
        LOW_WATER
    } else if left >= READ_PIECE {
        READ_PIECE
    } else {
        1
    }
}

/// The receive low-water mark of one frame's data, as [`read_data`] and [`read_values`] set
/// it through their caller's callback.
struct LowWater<F> {
    set: F,
    mark: usize,
}

impl<F> LowWater<F> {
    fn new(set: F) -> Self {
        LowWater { set, mark: 1 }
    }

    /// Sets the mark for the read at data offset `start` of `len` ([`low_water_for`]), before
    /// the read that might wait (lowering to a mark already met wakes the reader). Raised only
    /// at the start of a frame: at most three calls per frame, and none for a frame of one
    /// read piece.
    fn before_read<R>(&mut self, rd: &mut R, start: usize, len: usize)
    where
        F: FnMut(&mut R, usize) -> usize,
    {
        let want = low_water_for(len - start);
        if want < self.mark || (start == 0 && want > self.mark) {
            self.mark = (self.set)(rd, want);
        }
    }

    /// Back to 1 once the data is in (the trailer follows).
    fn reset<R>(&mut self, rd: &mut R)
    where
        F: FnMut(&mut R, usize) -> usize,
    {
        if self.mark != 1 {
            self.mark = (self.set)(rd, 1);
        }
    }
}

/// Reads frame data into `dest` until it is full, feeding each piece to `verifier` as it
/// arrives, then the trailer that follows the data. `filled` counts the bytes of data and
/// trailer read so far, also when the future is dropped midway, so that the caller knows how
/// much of the frame is still on the stream ([`rest_len`] minus `filled`).
///
/// `low_water` as for [`read_data`]. A future dropped midway may leave the mark raised above
/// what is still to come: the caller sets it back to 1 before it reads that stream again.
pub async fn read_data_into<R: AsyncRead + Unpin>(
    rd: &mut R,
    dest: &mut [u8],
    verifier: &mut FrameVerifier,
    filled: &mut usize,
    low_water: impl FnMut(&mut R, usize) -> usize,
) -> std::io::Result<()> {
    read_data_to(
        rd,
        &mut [Part::Into(dest)],
        None,
        verifier,
        filled,
        low_water,
    )
    .await
}

/// [`read_data_into`] for data the caller does not keep (a value too large for the caller's
/// buffer, whose frame must still be verified before its control section is trusted): `len`
/// bytes are read through one buffer of at most one read piece, fed to `verifier` and
/// dropped, then the trailer. `filled` and `low_water` as for [`read_data_into`].
pub async fn read_data_discarded<R: AsyncRead + Unpin>(
    rd: &mut R,
    len: usize,
    verifier: &mut FrameVerifier,
    filled: &mut usize,
    low_water: impl FnMut(&mut R, usize) -> usize,
) -> std::io::Result<()> {
    read_data_to(
        rd,
        &mut [Part::Drop(len)],
        None,
        verifier,
        filled,
        low_water,
    )
    .await
}

/// Where one value of a frame's data goes, for [`read_parts`].
#[derive(Debug)]
pub enum Part<'a> {
    /// Into this buffer, which the value fills exactly.
    Into(&'a mut [u8]),
    /// Read, summed and dropped: a value of this many bytes the caller does not keep.
    Drop(usize),
}

impl Part<'_> {
    fn len(&self) -> usize {
        match self {
            Part::Into(dest) => dest.len(),
            Part::Drop(len) => *len,
        }
    }
}

/// Reads frame data made of values back to back (a batch get's answer), each to its
/// [`Part`], then the trailer; returns the CRC32C of each part. Every piece is fed to
/// `verifier` and to its part's CRC32C as it arrives, while the socket copy has just brought
/// it into the cache. The parts' lengths add up to the frame's data length: the caller
/// checks that against the header first. `filled` and `low_water` as for [`read_data_into`].
pub async fn read_parts<R: AsyncRead + Unpin>(
    rd: &mut R,
    parts: &mut [Part<'_>],
    verifier: &mut FrameVerifier,
    filled: &mut usize,
    low_water: impl FnMut(&mut R, usize) -> usize,
) -> std::io::Result<Vec<u32>> {
    let mut crcs = Vec::with_capacity(parts.len());
    read_data_to(rd, parts, Some(&mut crcs), verifier, filled, low_water).await?;
    Ok(crcs)
}

/// Reads frame data to `parts` in order, read piece by read piece, feeding each to `verifier`
/// (and, with `crcs`, to its part's CRC32C, pushed there as each part ends), then the trailer:
/// the one loop of [`read_data_into`], [`read_data_discarded`] and [`read_parts`]. `filled`
/// counts data and trailer bytes read, as for those.
async fn read_data_to<R: AsyncRead + Unpin>(
    rd: &mut R,
    parts: &mut [Part<'_>],
    mut crcs: Option<&mut Vec<u32>>,
    verifier: &mut FrameVerifier,
    filled: &mut usize,
    low_water: impl FnMut(&mut R, usize) -> usize,
) -> std::io::Result<()> {
    let len: usize = parts.iter().map(Part::len).sum();
    let mut mark = LowWater::new(low_water);
    // Dropped data lands here, one read piece at a time.
    let mut scratch = Vec::new();
    // Where the current part starts in the data.
    let mut part_start = 0;
    for part in parts.iter_mut() {
        let part_len = part.len();
        let mut crc = 0;
        while *filled < part_start + part_len {
            mark.before_read(rd, *filled, len);
            let at = *filled - part_start;
            let want = (part_len - at).min(READ_PIECE);
            let room = match part {
                Part::Into(dest) => &mut dest[at..at + want],
                Part::Drop(_) => {
                    if scratch.len() < want {
                        scratch.resize(want, 0);
                    }
                    &mut scratch[..want]
                }
            };
            let n = rd.read(room).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            verifier.update(&room[..n]);
            if crcs.is_some() {
                crc = memkv_proto::crc32c_append(crc, &room[..n]);
            }
            *filled += n;
        }
        if let Some(crcs) = crcs.as_deref_mut() {
            crcs.push(crc);
        }
        part_start += part_len;
    }
    mark.reset(rd);
    read_trailer(rd, len, verifier, filled).await
}

/// Reads the trailer that follows `data_len` bytes of data into `verifier`, `filled` counting
/// data and trailer bytes read so far.
async fn read_trailer<R: AsyncRead + Unpin>(
    rd: &mut R,
    data_len: usize,
    verifier: &mut FrameVerifier,
    filled: &mut usize,
) -> std::io::Result<()> {
    let end = rest_len(data_len);
    while *filled < end {
        let at = *filled - data_len;
        let n = rd.read(&mut verifier.trailer_mut()[at..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        *filled += n;
    }
    Ok(())
}

/// Bytes on the stream after a frame's control section: `data_len` bytes of data and the
/// trailer, if any.
pub fn rest_len(data_len: usize) -> usize {
    data_len + memkv_proto::trailer_len(data_len)
}

#[cfg(test)]
mod tests {
    use memkv_proto::{
        AuthKey, DataCrc, DataSums, HEADER_LEN, Header, Integrity, Opcode, SendCrc, Session,
        TRAILER_LEN, crc32c,
    };

    use super::bufpool::POOLED_MIN;
    use super::*;

    /// A verifier for a frame carrying `data`, and the bytes that follow its control section
    /// on the wire (the data, then the trailer).
    fn frame_for(data: &[u8]) -> (FrameVerifier, Vec<u8>) {
        let s = Session::handshake(&AuthKey::loopback_dev_key(), Integrity::Mac);
        let mut h = Header::request(Opcode::Put, 1, 0);
        let sealed = s.seal_whole(&mut h, b"", &[data], SendCrc::Compute);
        let mut wire = data.to_vec();
        wire.extend_from_slice(&sealed.trailer.unwrap());
        (s.verifier(&h, &sealed.header, b"", DataCrc::Compute), wire)
    }

    /// A read of a frame cut short after `cut` bytes: an error, and `filled` says how much
    /// arrived.
    fn assert_cut_short<T: std::fmt::Debug>(read: std::io::Result<T>, filled: usize, cut: usize) {
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(filled, cut);
    }

    fn sums(data: &[u8]) -> DataSums {
        DataSums {
            sent: crc32c(data),
            computed: Some(crc32c(data)),
        }
    }

    #[tokio::test]
    async fn data_is_verified_on_the_way_in_and_its_buffer_is_reused() {
        for landing in [Landing::Cached, Landing::Streamed] {
            verified_on_the_way_in_and_reused(landing).await;
        }
    }

    async fn verified_on_the_way_in_and_reused(landing: Landing) {
        let pool = bufpool::leaked(BufPool::with_landing(64 << 20, landing));
        // Several read pieces and a tail that fills no whole cache line.
        let data: Vec<u8> = (0..READ_PIECE * 2 + POOLED_MIN * 3 + 5)
            .map(|i| (i % 251) as u8)
            .collect();
        let (mut v, wire) = frame_for(&data);
        let mut rd = &wire[..];
        let got = read_data(&mut rd, data.len(), &mut v, pool, |_, n| n)
            .await
            .unwrap();
        assert!(rd.is_empty(), "the trailer was read too");
        assert_eq!(&got[..], &data[..]);
        assert_eq!(v.finish(), Ok(sums(&data)));
        let first = got.as_ptr();
        assert_eq!(
            first.addr() % bufpool::PAGE,
            0,
            "a large value lands on a page boundary, ready for direct I/O"
        );
        drop(got);
        assert!(pool.idle_bytes() >= data.len());

        let (mut v, wire) = frame_for(&data);
        let again = read_data(&mut &wire[..], data.len(), &mut v, pool, |_, n| n)
            .await
            .unwrap();
        assert_eq!(again.as_ptr(), first, "the idle buffer was reused");
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[tokio::test]
    async fn data_read_into_a_buffer_is_verified_and_counted() {
        let data: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
        let (mut v, wire) = frame_for(&data);
        let mut dest = vec![0u8; data.len()];
        let mut filled = 0;
        read_data_into(&mut &wire[..], &mut dest, &mut v, &mut filled, |_, n| n)
            .await
            .unwrap();
        assert_eq!(filled, data.len() + TRAILER_LEN);
        assert_eq!(filled, rest_len(data.len()));
        assert_eq!(dest, data);
        assert_eq!(v.finish(), Ok(sums(&data)));

        // Cut short, in the data and in the trailer: an error, and `filled` says how much
        // arrived.
        for cut in [1000, data.len() + 7] {
            let (mut v, wire) = frame_for(&data);
            let mut filled = 0;
            let read =
                read_data_into(&mut &wire[..cut], &mut dest, &mut v, &mut filled, |_, n| n).await;
            assert_cut_short(read, filled, cut);
        }
    }

    #[tokio::test]
    async fn values_read_to_their_parts_are_summed_one_by_one_and_verified_together() {
        let values: Vec<Vec<u8>> = [5000, READ_PIECE + 100, 0, 300]
            .iter()
            .enumerate()
            .map(|(v, &n)| (0..n).map(|i| ((i * 7 + v * 13) % 253) as u8).collect())
            .collect();
        let data = values.concat();
        let (mut v, wire) = frame_for(&data);
        let mut first = vec![0u8; values[0].len()];
        let mut empty = [0u8; 0];
        let mut last = vec![0u8; values[3].len()];
        let mut parts = [
            Part::Into(&mut first),
            Part::Drop(values[1].len()),
            Part::Into(&mut empty),
            Part::Into(&mut last),
        ];
        let mut filled = 0;
        let crcs = read_parts(&mut &wire[..], &mut parts, &mut v, &mut filled, |_, n| n)
            .await
            .unwrap();
        assert_eq!(filled, rest_len(data.len()));
        let want: Vec<u32> = values.iter().map(|x| crc32c(x)).collect();
        assert_eq!(crcs, want);
        assert_eq!((first, last), (values[0].clone(), values[3].clone()));
        assert_eq!(v.finish(), Ok(sums(&data)));

        // Cut short inside the dropped part: an error, and `filled` says how much arrived.
        let cut = values[0].len() + 1000;
        let (mut v, wire) = frame_for(&data);
        let mut first = vec![0u8; values[0].len()];
        let mut parts = [Part::Into(&mut first), Part::Drop(values[1].len())];
        let mut filled = 0;
        let read = read_parts(&mut &wire[..cut], &mut parts, &mut v, &mut filled, |_, n| n).await;
        assert_cut_short(read, filled, cut);

        // A damaged byte in a part: its CRC and the frame's verification both say so.
        let (mut v, mut wire) = frame_for(&data);
        wire[values[0].len() + 5] ^= 1;
        let mut first = vec![0u8; values[0].len()];
        let mut second = vec![0u8; values[1].len()];
        let mut parts = [
            Part::Into(&mut first),
            Part::Into(&mut second),
            Part::Drop(0),
            Part::Drop(values[3].len()),
        ];
        let mut filled = 0;
        let crcs = read_parts(&mut &wire[..], &mut parts, &mut v, &mut filled, |_, n| n)
            .await
            .unwrap();
        assert_eq!((crcs[0], crcs[2], crcs[3]), (want[0], want[2], want[3]));
        assert_ne!(crcs[1], want[1]);
        assert!(v.finish().is_err());
    }

    #[tokio::test]
    async fn data_read_and_dropped_is_verified_and_counted_all_the_same() {
        let data: Vec<u8> = (0..READ_PIECE * 3 + 11).map(|i| (i % 241) as u8).collect();
        let (mut v, wire) = frame_for(&data);
        let mut rd = &wire[..];
        let mut filled = 0;
        read_data_discarded(&mut rd, data.len(), &mut v, &mut filled, |_, n| n)
            .await
            .unwrap();
        assert!(rd.is_empty(), "data and trailer read");
        assert_eq!(filled, rest_len(data.len()));
        assert_eq!(v.finish(), Ok(sums(&data)));

        // Damage is found; a stream cut short is an error and `filled` says how much arrived.
        let (mut v, mut wire) = frame_for(&data);
        wire[READ_PIECE + 3] ^= 1;
        let mut filled = 0;
        read_data_discarded(&mut &wire[..], data.len(), &mut v, &mut filled, |_, n| n)
            .await
            .unwrap();
        assert!(v.finish().is_err());
        for cut in [READ_PIECE * 2 + 5, data.len() + 3] {
            let (mut v, wire) = frame_for(&data);
            let mut filled = 0;
            let read =
                read_data_discarded(&mut &wire[..cut], data.len(), &mut v, &mut filled, |_, n| n)
                    .await;
            assert_cut_short(read, filled, cut);
        }
    }

    #[tokio::test]
    async fn values_are_read_each_into_its_own_buffer_and_verified() {
        for landing in [Landing::Cached, Landing::Streamed] {
            values_each_into_its_own_buffer(landing).await;
        }
    }

    async fn values_each_into_its_own_buffer(landing: Landing) {
        // Values streamed through the bounce buffer (from STREAMED_MIN) and copied directly,
        // in one frame.
        let lens = [READ_PIECE * 2 + 3, 0, 1, 4096, STREAMED_MIN, READ_PIECE - 1];
        let data: Vec<u8> = (0..lens.iter().sum::<usize>())
            .map(|i| (i % 253) as u8)
            .collect();
        let (mut v, wire) = frame_for(&data);
        let mut rd = &wire[..];
        let values = read_values(&mut rd, &lens, &mut v, landing, |_, n| n)
            .await
            .unwrap();
        assert!(rd.is_empty(), "the trailer was read too");
        assert_eq!(values.iter().map(Bytes::len).collect::<Vec<_>>(), lens);
        assert_eq!(values.concat(), data, "{landing:?}");
        assert_eq!(v.finish(), Ok(sums(&data)));

        // Damage in the data is found at the end, a short stream is an error.
        let (mut v, mut wire) = frame_for(&data);
        wire[READ_PIECE * 2 + 5] ^= 1;
        read_values(&mut &wire[..], &lens, &mut v, landing, |_, n| n)
            .await
            .unwrap();
        assert!(v.finish().is_err());
        for cut in [READ_PIECE, data.len() - 100, data.len() + 2] {
            let (mut v, wire) = frame_for(&data);
            let err = read_values(&mut &wire[..cut], &lens, &mut v, landing, |_, n| n)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{cut}");
        }
    }

    /// A writer that keeps what it is given and how many bytes each write call took; with a
    /// `limit`, a write takes at most that many bytes, as a socket with a full send buffer does.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        writes: Vec<usize>,
        limit: Option<usize>,
    }

    impl tokio::io::AsyncWrite for Recorder {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let me = self.get_mut();
            me.bytes.extend_from_slice(buf);
            me.writes.push(buf.len());
            std::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let me = self.get_mut();
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(me.limit.unwrap_or(usize::MAX) - n);
                me.bytes.extend_from_slice(&b[..take]);
                n += take;
            }
            me.writes.push(n);
            std::task::Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_sealed_frame_leaves_in_chunks_summed_before_writing_and_verifies() {
        const HEAD: usize = HEADER_LEN + 3;
        let t = TRAILER_LEN;
        let big = |n: usize| (0..n).map(|i| (i % 253) as u8).collect::<Vec<u8>>();
        // (values, crc, integrity, the byte count of each write)
        type Case = (Vec<Vec<u8>>, SendCrc, Integrity, Vec<usize>);
        let cases: Vec<Case> = vec![
            // A batch of small values: summed first, one write with the trailer.
            (
                vec![big(4096); 3],
                SendCrc::Compute,
                Integrity::Checksum,
                vec![HEAD + 3 * 4096 + t],
            ),
            // A large value: each whole chunk summed, then written; the rest with the trailer.
            (
                vec![big(SEND_CHUNK * 2 + SEND_CHUNK / 2)],
                SendCrc::Compute,
                Integrity::Mac,
                vec![HEAD + SEND_CHUNK, SEND_CHUNK, SEND_CHUNK / 2 + t],
            ),
            // Whole chunks only: the trailer alone after them.
            (
                vec![big(SEND_CHUNK * 2)],
                SendCrc::Compute,
                Integrity::Checksum,
                vec![HEAD + SEND_CHUNK, SEND_CHUNK, t],
            ),
            // Values gathered across a chunk's end: written once a chunk is gathered.
            (
                vec![big(SEND_CHUNK / 2 + 10); 3],
                SendCrc::Compute,
                Integrity::Checksum,
                vec![HEAD + SEND_CHUNK + 20, SEND_CHUNK / 2 + 10 + t],
            ),
            // Data the sealer does not read (a known CRC, no MAC) leaves in one write.
            (
                vec![big(SEND_CHUNK * 3)],
                SendCrc::Known(crc32c(&big(SEND_CHUNK * 3))),
                Integrity::Checksum,
                vec![HEAD + SEND_CHUNK * 3 + t],
            ),
        ];
        for (values, crc, integrity, writes) in cases {
            let s = Session::handshake(&AuthKey::loopback_dev_key(), integrity);
            let data: Vec<u8> = values.concat();
            let mut h = Header::request(Opcode::Put, 1, 0);
            let (raw, sealer) = s.seal(&mut h, b"ctl", data.len(), crc);
            let mut w = Recorder::default();
            write_sealed(&mut w, [&raw[..], b"ctl"], &values, sealer)
                .await
                .unwrap();
            assert_eq!(w.writes, writes, "{integrity:?} {} bytes", data.len());
            let mut v = s.verifier(&h, &raw, b"ctl", DataCrc::Compute);
            assert_eq!(&w.bytes[..HEADER_LEN], &raw[..]);
            let body = &w.bytes[HEAD..];
            assert_eq!(&body[..data.len()], &data[..]);
            v.update(&body[..data.len()]);
            v.trailer_mut().copy_from_slice(&body[data.len()..]);
            assert_eq!(v.finish(), Ok(sums(&data)), "{integrity:?}");
        }
    }

    /// Writes that take only part of what they are offered, splitting the head, values and
    /// chunks anywhere: every byte leaves once, in order, and the frame verifies.
    #[tokio::test]
    async fn a_frame_written_in_partial_writes_verifies() {
        let big = |n: usize| (0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>();
        let shapes = [
            vec![big(SEND_CHUNK * 2 + 1000)],
            vec![big(4096); 5],
            vec![big(SEND_CHUNK / 3), Vec::new(), big(SEND_CHUNK), big(17)],
        ];
        for values in shapes {
            for integrity in [Integrity::Mac, Integrity::Checksum, Integrity::HmacSha256] {
                for limit in [7, 4093, 65537, 300_001] {
                    let s = Session::handshake(&AuthKey::loopback_dev_key(), integrity);
                    let data: Vec<u8> = values.concat();
                    let mut h = Header::request(Opcode::Put, 1, 0);
                    let (raw, sealer) = s.seal(&mut h, b"ctl", data.len(), SendCrc::Compute);
                    let mut w = Recorder {
                        limit: Some(limit),
                        ..Recorder::default()
                    };
                    write_sealed(&mut w, [&raw[..], b"ctl"], &values, sealer)
                        .await
                        .unwrap();
                    let what = format!("{integrity:?}, writes of {limit}, {} bytes", data.len());
                    assert!(w.writes.iter().all(|&n| n <= limit), "{what}");
                    assert_eq!(w.bytes.len(), HEADER_LEN + 3 + data.len() + TRAILER_LEN);
                    let body = &w.bytes[HEADER_LEN + 3..];
                    assert_eq!(&body[..data.len()], &data[..], "{what}");
                    let mut v = s.verifier(&h, &raw, b"ctl", DataCrc::Compute);
                    v.update(&body[..data.len()]);
                    v.trailer_mut().copy_from_slice(&body[data.len()..]);
                    assert_eq!(v.finish(), Ok(sums(&data)), "{what}");
                }
            }
        }
    }

    #[tokio::test]
    async fn damaged_data_or_trailer_fails_verification() {
        let pool = bufpool::leaked(BufPool::new(64 << 20));
        let data = vec![5u8; POOLED_MIN + 1];
        for at in [POOLED_MIN, data.len() + 1, data.len() + TRAILER_LEN - 1] {
            let (mut v, mut wire) = frame_for(&data);
            wire[at] ^= 1;
            read_data(&mut &wire[..], data.len(), &mut v, pool, |_, n| n)
                .await
                .unwrap();
            assert!(v.finish().is_err(), "damage at {at}");
        }
    }

    #[tokio::test]
    async fn a_short_read_is_an_error_and_keeps_the_buffer() {
        for landing in [Landing::Cached, Landing::Streamed] {
            let pool = bufpool::leaked(BufPool::with_landing(64 << 20, landing));
            let big = vec![2u8; POOLED_MIN];
            let (mut v, wire) = frame_for(&big);
            for cut in [POOLED_MIN - 1, POOLED_MIN + 3] {
                let err = read_data(&mut &wire[..cut], POOLED_MIN, &mut v, pool, |_, n| n)
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{landing:?}");
                assert_eq!(pool.idle_bytes(), POOLED_MIN + bufpool::PAGE, "{landing:?}");
            }
        }

        let err = read_body(&mut &b"abc"[..], 4).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(&read_body(&mut &b"abcd"[..], 4).await.unwrap()[..], b"abcd");
    }

    /// An eager reader's mark is at most one read piece, and like the schedule's never more
    /// than the bytes still to come.
    #[test]
    fn an_eager_reader_asks_for_at_most_one_read_piece() {
        assert_eq!(eager_low_water(LOW_WATER), READ_PIECE);
        assert_eq!(eager_low_water(READ_PIECE), READ_PIECE);
        assert_eq!(eager_low_water(1), 1);
        for left in [
            1,
            100,
            READ_PIECE - 1,
            READ_PIECE,
            LOW_WATER - 1,
            LOW_WATER,
            3 << 20,
        ] {
            let mark = eager_low_water(low_water_for(left));
            assert!(mark <= left && mark <= EAGER_LOW_WATER, "{left}: {mark}");
        }
    }

    /// An eager reader's mark is set once per frame, then back to 1: the schedule coming down
    /// to the mark it already has costs no second call.
    #[test]
    fn an_eager_reader_sets_its_mark_once_per_frame() {
        for len in [READ_PIECE + 1, LOW_WATER, 3 << 20] {
            let mut asked = Vec::new();
            let mut mark = LowWater::new(|_: &mut (), n| {
                asked.push(n);
                eager_low_water(n)
            });
            for start in (0..len).step_by(100_003) {
                mark.before_read(&mut (), start, len);
            }
            mark.reset(&mut ());
            assert_eq!(asked, [low_water_for(len), 1], "{len}");
        }
    }

    /// A large frame over a real loopback socket, sent in odd pieces, read into a pooled
    /// buffer (`read_data`) and into the caller's (`read_data_into`): the low-water mark is
    /// raised once, only ever lowered while data is outstanding, back to 1 at the end, and
    /// the read never waits for bytes that do not come.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frame_read_with_a_low_water_mark_over_a_socket() {
        use std::os::fd::AsFd;
        use tokio::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut tx = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut rx, _) = listener.accept().await.unwrap();
        // Read into the caller's buffer (`None`), or into buffers of a pool of each landing.
        let pools = [
            None,
            Some(bufpool::leaked(BufPool::new(64 << 20))),
            Some(bufpool::leaked(BufPool::with_landing(
                64 << 20,
                Landing::Streamed,
            ))),
        ];
        let sizes = [100 << 10, (1 << 20) + (300 << 10) + 7, 3 << 20];
        for (len, pool) in sizes.into_iter().flat_map(|l| pools.map(|p| (l, p))) {
            let into = pool.is_none();
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let (mut v, wire) = frame_for(&data);
            let sender = async {
                for piece in wire.chunks(100_003) {
                    tx.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
            };
            let mut marks = Vec::new();
            let set = |s: &mut TcpStream, n| {
                memkv_ioengine::set_recv_low_water(s.as_fd(), n).unwrap();
                marks.push(n);
                n
            };
            let reader = async {
                if into {
                    let mut dest = vec![0u8; len];
                    let mut filled = 0;
                    read_data_into(&mut rx, &mut dest, &mut v, &mut filled, set).await?;
                    assert_eq!(filled, rest_len(len), "{len}: data and trailer counted");
                    Ok(Bytes::from(dest))
                } else {
                    read_data(&mut rx, len, &mut v, pool.unwrap(), set).await
                }
            };
            // A mark left above the bytes still to come would wait forever: fail instead.
            let limit = std::time::Duration::from_secs(60);
            let ((), got) = tokio::time::timeout(limit, async { tokio::join!(sender, reader) })
                .await
                .expect("the read waited for bytes that were never sent");
            let how = pool.map(|p| p.landing());
            assert_eq!(&got.unwrap()[..], &data[..], "{len} {how:?}");
            assert_eq!(v.finish().unwrap(), sums(&data), "{len} {how:?}");
            if len <= READ_PIECE {
                assert!(marks.is_empty(), "{len}: {marks:?}");
                continue;
            }
            // The reads return what has arrived, in pieces the test does not control, so the
            // marks are checked for their order and bounds, not for exact positions.
            assert_eq!(marks[0], LOW_WATER, "{len}: {marks:?}");
            assert!(marks.windows(2).all(|w| w[1] < w[0]), "{len}: {marks:?}");
            assert!(
                marks.iter().all(|m| [LOW_WATER, READ_PIECE, 1].contains(m)),
                "{len}: {marks:?}"
            );
            assert_eq!(marks.last(), Some(&1), "{len}: {marks:?}");
            assert!(marks.len() <= 3, "{len}: {marks:?}");
        }
    }
}
