//! A native memcached client (text protocol) for the side-by-side harness: one connection,
//! async, values written straight from the caller's buffer and read straight into the caller's
//! buffer. `set`/`get` for single values; batches are pipelined `set`s (all sent, then all
//! answers read) and one multi-key `get k1 k2 ...`.

use std::io;

use tokio::io::AsyncReadExt;

use crate::sockio::{Duplex, parse_usize, protocol_error, send};

/// One memcached connection.
#[derive(Debug)]
pub struct MemcachedConn {
    io: Duplex,
    head: Vec<u8>,
}

fn set_header(out: &mut Vec<u8>, key: &[u8], len: usize) {
    out.extend_from_slice(b"set ");
    out.extend_from_slice(key);
    out.extend_from_slice(b" 0 0 ");
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A `VALUE <key> <flags> <bytes>` line, parsed: the key and the byte count.
fn parse_value_line(line: &[u8]) -> Option<(&[u8], usize)> {
    let rest = line.strip_prefix(b"VALUE ")?;
    let mut it = rest.split(|&b| b == b' ');
    let key = it.next()?;
    let _flags = it.next()?;
    let len = parse_usize(it.next()?)?;
    Some((key, len))
}

impl MemcachedConn {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> io::Result<MemcachedConn> {
        Ok(MemcachedConn {
            io: Duplex::connect(addr).await?,
            head: Vec::with_capacity(1024),
        })
    }

    async fn expect_stored(&mut self) -> io::Result<()> {
        let line = self.io.read_line().await?;
        if line == b"STORED" {
            Ok(())
        } else {
            Err(protocol_error(format!(
                "memcached answered `{}`",
                String::from_utf8_lossy(line)
            )))
        }
    }

    /// `version`.
    pub async fn version(&mut self) -> io::Result<String> {
        send(&mut self.io.writer, &mut self.io.out, &[b"version\r\n"]).await?;
        let line = self.io.read_line().await?;
        line.strip_prefix(b"VERSION ")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .ok_or_else(|| protocol_error("memcached did not answer `version`"))
    }

    /// `set key 0 0 len`.
    pub async fn set(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        set_header(&mut head, key, value.len());
        let r = send(
            &mut self.io.writer,
            &mut self.io.out,
            &[&head, value, b"\r\n"],
        )
        .await;
        self.head = head;
        r?;
        self.expect_stored().await
    }

    /// Pipelined `set`s: every command is written, then every answer read.
    pub async fn set_many(&mut self, items: &[(&[u8], &[u8])]) -> io::Result<()> {
        let heads: Vec<Vec<u8>> = items
            .iter()
            .map(|(k, v)| {
                let mut h = Vec::with_capacity(k.len() + 24);
                set_header(&mut h, k, v.len());
                h
            })
            .collect();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(3 * items.len());
        for (h, (_, v)) in heads.iter().zip(items) {
            parts.push(h);
            parts.push(v);
            parts.push(b"\r\n");
        }
        send(&mut self.io.writer, &mut self.io.out, &parts).await?;
        for _ in items {
            self.expect_stored().await?;
        }
        Ok(())
    }

    /// `get key` into `buf`; the value's length, or `None` for a miss.
    pub async fn get(&mut self, key: &[u8], buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let r = self.get_many(&[key], std::slice::from_mut(buf)).await?;
        Ok(r[0])
    }

    /// One multi-key `get k1 k2 ...`, each value into its buffer in `bufs`; one length or
    /// `None` per key. memcached answers found keys in request order.
    pub async fn get_many(
        &mut self,
        keys: &[&[u8]],
        bufs: &mut [Vec<u8>],
    ) -> io::Result<Vec<Option<usize>>> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        head.extend_from_slice(b"get");
        for k in keys {
            head.push(b' ');
            head.extend_from_slice(k);
        }
        head.extend_from_slice(b"\r\n");
        let r = send(&mut self.io.writer, &mut self.io.out, &[&head]).await;
        self.head = head;
        r?;
        let mut out = vec![None; keys.len()];
        let mut next = 0;
        loop {
            let line = self.io.read_line().await?;
            if line == b"END" {
                return Ok(out);
            }
            let (key, len) = parse_value_line(line).ok_or_else(|| {
                protocol_error(format!(
                    "memcached answered `{}`",
                    String::from_utf8_lossy(line)
                ))
            })?;
            let i = (next..keys.len())
                .find(|&i| keys[i] == key)
                .ok_or_else(|| protocol_error("memcached answered a key it was not asked for"))?;
            next = i + 1;
            let buf = &mut bufs[i];
            if buf.len() < len {
                buf.resize(len, 0);
            }
            self.io.reader.read_exact(&mut buf[..len]).await?;
            self.io.read_crlf().await?;
            out[i] = Some(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lines_parse() {
        assert_eq!(
            parse_value_line(b"VALUE mkb/00000001 0 4096"),
            Some((&b"mkb/00000001"[..], 4096))
        );
        assert_eq!(parse_value_line(b"VALUE k 0"), None);
        assert_eq!(parse_value_line(b"END"), None);
    }
}
