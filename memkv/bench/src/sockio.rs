//! Socket plumbing shared by the native peer clients (RESP2, memcached text) and the raw pump:
//! vectored writes that go straight from the caller's buffers, and CRLF line reads.

use std::io::{self, IoSlice};

use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Frames up to this size are coalesced into one buffer and written with one call; larger ones
/// go out vectored, straight from the caller's memory (the same rule as the memkv client).
pub(crate) const COALESCE_LIMIT: usize = 16 * 1024;

/// Read buffer of the peer clients.
const READ_BUFFER: usize = 64 * 1024;

/// A connected socket split into a buffered reader and a writer, with `TCP_NODELAY` on.
#[derive(Debug)]
pub(crate) struct Duplex {
    pub(crate) reader: BufReader<OwnedReadHalf>,
    pub(crate) writer: OwnedWriteHalf,
    /// Scratch buffer for coalesced writes and command headers.
    pub(crate) out: Vec<u8>,
    /// Scratch buffer for reply lines.
    pub(crate) line: Vec<u8>,
}

impl Duplex {
    pub(crate) async fn connect(addr: &str) -> io::Result<Duplex> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Duplex {
            reader: BufReader::with_capacity(READ_BUFFER, r),
            writer: w,
            out: Vec::with_capacity(COALESCE_LIMIT),
            line: Vec::with_capacity(256),
        })
    }

    /// Reads one line and returns it without its CRLF.
    pub(crate) async fn read_line(&mut self) -> io::Result<&[u8]> {
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let mut end = self.line.len();
        if self.line.ends_with(b"\r\n") {
            end -= 2;
        } else if self.line.ends_with(b"\n") {
            end -= 1;
        }
        Ok(&self.line[..end])
    }

    /// Reads and discards the CRLF that ends a data block.
    pub(crate) async fn read_crlf(&mut self) -> io::Result<()> {
        let line = self.read_line().await?;
        if line.is_empty() {
            Ok(())
        } else {
            Err(protocol_error("expected CRLF after a data block"))
        }
    }
}

/// An `InvalidData` error with `what`.
pub(crate) fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Writes every slice in order, with as few calls as the kernel allows.
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    parts: &[&[u8]],
) -> io::Result<()> {
    let mut idx = 0;
    let mut off = 0;
    while idx < parts.len() {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() - idx);
        slices.push(IoSlice::new(&parts[idx][off..]));
        for p in &parts[idx + 1..] {
            slices.push(IoSlice::new(p));
        }
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the peer stopped reading",
            ));
        }
        while idx < parts.len() && n >= parts[idx].len() - off {
            n -= parts[idx].len() - off;
            idx += 1;
            off = 0;
        }
        off += n;
    }
    Ok(())
}

/// Writes `parts`: coalesced into `scratch` and sent with one call when small, vectored
/// otherwise.
pub(crate) async fn send<W: AsyncWrite + Unpin>(
    w: &mut W,
    scratch: &mut Vec<u8>,
    parts: &[&[u8]],
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= COALESCE_LIMIT {
        scratch.clear();
        for p in parts {
            scratch.extend_from_slice(p);
        }
        w.write_all(scratch).await
    } else {
        write_all_vectored(w, parts).await
    }
}

/// Parses an unsigned decimal number.
pub(crate) fn parse_usize(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0usize, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + usize::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly() {
        assert_eq!(parse_usize(b"0"), Some(0));
        assert_eq!(parse_usize(b"4194304"), Some(4_194_304));
        assert_eq!(parse_usize(b""), None);
        assert_eq!(parse_usize(b"-1"), None);
        assert_eq!(parse_usize(b"12a"), None);
    }

    #[tokio::test]
    async fn vectored_writes_deliver_every_byte_in_order() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let parts: Vec<&[u8]> = vec![b"head", &big, b"", b"tail"];
        let expect: Vec<u8> = parts.concat();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
                .await
                .unwrap();
            got
        });
        write_all_vectored(&mut a, &parts).await.unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap(), expect);
    }
}
