//! A native Redis client (RESP2) for the side-by-side harness: one connection, async, values
//! written straight from the caller's buffer and read straight into the caller's buffer.
//! `SET`/`GET` for single values, `MSET`/`MGET` for batches (one command, one round trip: the
//! same pipelining as a memkv batch frame).

use std::io;

use tokio::io::AsyncReadExt;

use crate::sockio::{Duplex, parse_usize, protocol_error, send};

/// One Redis connection.
#[derive(Debug)]
pub struct RedisConn {
    io: Duplex,
    head: Vec<u8>,
}

/// Appends a RESP bulk-string header (`$len\r\n`).
fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole RESP bulk string.
fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    bulk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl RedisConn {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> io::Result<RedisConn> {
        Ok(RedisConn {
            io: Duplex::connect(addr).await?,
            head: Vec::with_capacity(1024),
        })
    }

    /// Reads a simple-string reply and checks it is `+OK`.
    async fn expect_ok(&mut self) -> io::Result<()> {
        let line = self.io.read_line().await?;
        if line == b"+OK" {
            Ok(())
        } else {
            Err(protocol_error(format!(
                "redis answered `{}`",
                String::from_utf8_lossy(line)
            )))
        }
    }

    /// Reads one bulk-string reply into `buf`; `None` for a nil reply.
    async fn read_bulk(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let line = self.io.read_line().await?;
        match line.first() {
            Some(b'$') if line == b"$-1" => Ok(None),
            Some(b'$') => {
                let len = parse_usize(&line[1..])
                    .ok_or_else(|| protocol_error("bad bulk length from redis"))?;
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                self.io.reader.read_exact(&mut buf[..len]).await?;
                self.io.read_crlf().await?;
                Ok(Some(len))
            }
            _ => Err(protocol_error(format!(
                "redis answered `{}`",
                String::from_utf8_lossy(line)
            ))),
        }
    }

    /// Sends a command made of `head` followed by the value parts, then CRLF.
    async fn send_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        send(&mut self.io.writer, &mut self.io.out, parts).await
    }

    /// `PING`.
    pub async fn ping(&mut self) -> io::Result<()> {
        self.send_parts(&[b"*1\r\n$4\r\nPING\r\n"]).await?;
        let line = self.io.read_line().await?;
        if line == b"+PONG" {
            Ok(())
        } else {
            Err(protocol_error("redis did not answer PING with PONG"))
        }
    }

    /// `SET key value`.
    pub async fn set(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        head.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        bulk(&mut head, key);
        bulk_header(&mut head, value.len());
        let r = self.send_parts(&[&head, value, b"\r\n"]).await;
        self.head = head;
        r?;
        self.expect_ok().await
    }

    /// `GET key` into `buf`; the value's length, or `None` for a miss.
    pub async fn get(&mut self, key: &[u8], buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        head.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
        bulk(&mut head, key);
        let r = self.send_parts(&[&head]).await;
        self.head = head;
        r?;
        self.read_bulk(buf).await
    }

    /// `MSET k1 v1 k2 v2 ...`.
    pub async fn mset(&mut self, items: &[(&[u8], &[u8])]) -> io::Result<()> {
        // One header per item, then the parts interleaved: header, value, CRLF.
        let mut heads: Vec<Vec<u8>> = Vec::with_capacity(items.len() + 1);
        let mut first = Vec::with_capacity(32);
        array_header(&mut first, 1 + 2 * items.len());
        bulk(&mut first, b"MSET");
        heads.push(first);
        for (k, v) in items {
            let mut h = Vec::with_capacity(k.len() + 32);
            bulk(&mut h, k);
            bulk_header(&mut h, v.len());
            heads.push(h);
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(3 * items.len() + 1);
        parts.push(&heads[0]);
        for (i, (_, v)) in items.iter().enumerate() {
            parts.push(&heads[i + 1]);
            parts.push(v);
            parts.push(b"\r\n");
        }
        self.send_parts(&parts).await?;
        self.expect_ok().await
    }

    /// `MGET k1 k2 ...`, each value into its buffer in `bufs`; one length or `None` per key.
    pub async fn mget(
        &mut self,
        keys: &[&[u8]],
        bufs: &mut [Vec<u8>],
    ) -> io::Result<Vec<Option<usize>>> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        array_header(&mut head, 1 + keys.len());
        bulk(&mut head, b"MGET");
        for k in keys {
            bulk(&mut head, k);
        }
        let r = self.send_parts(&[&head]).await;
        self.head = head;
        r?;
        let line = self.io.read_line().await?;
        let n = line
            .strip_prefix(b"*")
            .and_then(parse_usize)
            .ok_or_else(|| protocol_error("redis did not answer MGET with an array"))?;
        if n != keys.len() {
            return Err(protocol_error("redis answered MGET with the wrong count"));
        }
        let mut out = Vec::with_capacity(n);
        for buf in bufs.iter_mut().take(n) {
            out.push(self.read_bulk(buf).await?);
        }
        Ok(out)
    }

    /// `DBSIZE`.
    pub async fn dbsize(&mut self) -> io::Result<usize> {
        self.send_parts(&[b"*1\r\n$6\r\nDBSIZE\r\n"]).await?;
        let line = self.io.read_line().await?;
        line.strip_prefix(b":")
            .and_then(parse_usize)
            .ok_or_else(|| protocol_error("redis did not answer DBSIZE with an integer"))
    }
}
