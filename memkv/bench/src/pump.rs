//! The raw socket pump: the loopback ceiling at the benchmark's own message sizes.
//!
//! N sender tasks write `size`-byte messages over N loopback TCP connections to N receiver
//! tasks, with the same socket options as memkv (`TCP_NODELAY`, the send buffer of a
//! [`SendBuffer`] setting on both ends, the receive low-water mark of memkv's eager readers, vectored
//! writes straight from the message buffer). With a check, each message carries a trailer computed by the sender and verified
//! by the receiver: CRC32C (the `checksum` integrity mode's work) or memkv's frame MAC
//! ([`memkv_mac`], the `mac` mode's work). Those runs are the ceilings of the integrity modes.
//!
//! Acknowledged (`PumpSpec::acked`), each receiver answers every message with one byte once it
//! has read and verified it, and each sender waits for that byte before the next message: a
//! request and its answer, one at a time, as a client with one outstanding put has them. That
//! is the ceiling of memkv's one-client cells (informative: the stream is the limit).
//!
//! The senders cycle through `distinct` different messages, so that the pump moves as much
//! distinct data as the benchmark does (its values are distinct data in memory); each receiver
//! reads into one buffer, which stays in its cache (the most favourable receiver). With one
//! message, the sender too works in its cache, a ceiling that no store of distinct values
//! reaches. The receivers run on a tokio runtime of their own (as a server does in its own
//! process), the senders on the caller's.

use std::io;
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memkv_frameio::SendBuffer;
use memkv_mac::MacKey;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;

use crate::sockio::write_all_vectored;

/// What the two ends compute over every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PumpCheck {
    /// Nothing: bytes only.
    Raw,
    /// CRC32C on both ends.
    Crc32c,
    /// memkv's frame MAC (POLYVAL + AES-256) on both ends.
    Mac,
}

impl PumpCheck {
    /// Every check.
    pub const ALL: [PumpCheck; 3] = [PumpCheck::Raw, PumpCheck::Crc32c, PumpCheck::Mac];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PumpCheck::Raw => "raw",
            PumpCheck::Crc32c => "crc32c",
            PumpCheck::Mac => "mac",
        }
    }

    fn trailer_len(self) -> usize {
        match self {
            PumpCheck::Raw => 0,
            PumpCheck::Crc32c => 4,
            PumpCheck::Mac => memkv_mac::TAG_LEN,
        }
    }

    fn compute(self, key: &MacKey, data: &[u8], out: &mut [u8]) {
        match self {
            PumpCheck::Raw => {}
            PumpCheck::Crc32c => out.copy_from_slice(&memkv_proto::crc32c(data).to_le_bytes()),
            PumpCheck::Mac => out.copy_from_slice(&memkv_mac::tag(key, data)),
        }
    }
}

impl FromStr for PumpCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PumpCheck::ALL
            .into_iter()
            .find(|c| c.name() == s.trim())
            .ok_or_else(|| format!("unknown pump check `{s}`: use raw, crc32c or mac"))
    }
}

/// One pump run.
#[derive(Debug, Clone, Copy)]
pub struct PumpSpec {
    /// Message size in bytes (payload, without the trailer).
    pub size: usize,
    /// Parallel connections.
    pub streams: usize,
    /// Different messages in all (each stream cycles through its share, at least one).
    pub distinct: usize,
    /// The check computed on both ends.
    pub check: PumpCheck,
    /// How long the senders send.
    pub duration: Duration,
    /// Both ends' send buffers.
    pub send_buffer: SendBuffer,
    /// Whether each message is answered with one byte before the next is sent.
    pub acked: bool,
}

/// What one pump run measured.
#[derive(Debug, Clone, Serialize)]
pub struct PumpResult {
    /// Message size in bytes (payload, without the trailer).
    pub size: usize,
    /// Parallel connections.
    pub streams: usize,
    /// The check computed on both ends.
    pub check: PumpCheck,
    /// Different messages the senders cycled through (each receiver reads into one buffer).
    pub distinct: usize,
    /// Messages received and verified.
    pub messages: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Seconds from the senders' start to the last receiver's end.
    pub secs: f64,
    /// Payload GiB/s.
    pub gib_per_s: f64,
    /// Messages whose trailer did not verify (must be 0).
    pub failures: u64,
    /// CPU milliseconds (both ends: this process) per GiB moved.
    pub cpu_ms_per_gib: Option<f64>,
    /// Both ends' send-buffer setting (`auto`, `kernel` or bytes).
    pub send_buffer: String,
    /// Whether each message was answered before the next was sent.
    pub acked: bool,
}

async fn receive(
    s: std::net::TcpStream,
    size: usize,
    check: PumpCheck,
    key: MacKey,
    acked: bool,
) -> io::Result<(u64, u64, u64)> {
    let mut s = TcpStream::from_std(s)?;
    s.set_nodelay(true)?;
    let tl = check.trailer_len();
    // The receive low-water mark memkv's eager readers ask for while a value's data is
    // outstanding (256 KiB: a client reading replies, a server connection while no other of
    // its thread reads a request, as in the one-client cells), at most one message: messages follow each other until the
    // sender shuts down, which wakes the reader whatever the mark. (1 MiB, the mark of a
    // server thread shared by connections, measured the same here: within 3% at 4 MiB, one
    // and four streams.)
    let mut current = memkv_frameio::EAGER_LOW_WATER.min(size + tl);
    memkv_ioengine::set_recv_low_water(s.as_fd(), current)?;
    // One buffer, which stays in the cache: the most favourable receiver (a store's server
    // lands each value in memory of its own; a client's `get_into` reuses its buffer).
    let mut buf = vec![0u8; size + tl];
    let mut want = vec![0u8; tl];
    let (mut messages, mut bytes, mut failures) = (0u64, 0u64, 0u64);
    loop {
        let read = if acked {
            read_acked_message(&mut s, &mut buf, &mut current).await
        } else {
            s.read_exact(&mut buf).await.map(drop)
        };
        match read {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let (payload, trailer) = buf.split_at(size);
        check.compute(&key, payload, &mut want);
        if want[..] != trailer[..] {
            failures += 1;
        }
        messages += 1;
        bytes += size as u64;
        if acked {
            s.write_all(&[1]).await?;
        }
    }
    Ok((messages, bytes, failures))
}

/// Reads one message of an acknowledged pump as memkv's eager readers read a value's data: the
/// receive low-water mark follows `memkv_frameio::low_water_for`, lowered to at most
/// `memkv_frameio::EAGER_LOW_WATER` (`eager_low_water`), so it never exceeds what is
/// still to come (nothing follows the message until it is answered: a mark above the rest
/// would never be met, and the reader would not be woken). `current` is the mark set on `s`.
async fn read_acked_message(
    s: &mut TcpStream,
    buf: &mut [u8],
    current: &mut usize,
) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let want = memkv_frameio::eager_low_water(memkv_frameio::low_water_for(buf.len() - got));
        if want != *current {
            memkv_ioengine::set_recv_low_water(s.as_fd(), want)?;
            *current = want;
        }
        match s.read(&mut buf[got..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    Ok(())
}

async fn send(
    mut s: TcpStream,
    payloads: Vec<Vec<u8>>,
    check: PumpCheck,
    key: MacKey,
    barrier: Arc<Barrier>,
    duration: Duration,
    acked: bool,
) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut trailer = vec![0u8; check.trailer_len()];
    barrier.wait().await;
    let deadline = Instant::now() + duration;
    for payload in payloads.iter().cycle() {
        check.compute(&key, payload, &mut trailer);
        write_all_vectored(&mut s, &[payload, &trailer]).await?;
        if acked {
            s.read_exact(&mut [0u8; 1]).await?;
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    s.shutdown().await
}

/// The receivers' runtime, shut down without waiting when dropped: a runtime dropped the
/// ordinary way inside another runtime's task (as on an early error return) panics.
struct ReceiverRuntime(Option<tokio::runtime::Runtime>);

impl ReceiverRuntime {
    fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
            .spawn(f)
    }
}

impl Drop for ReceiverRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Pumps `size`-byte messages over `streams` loopback connections for `duration`, `distinct`
/// different messages in all (each stream cycles through its share, at least one).
pub async fn pump(spec: PumpSpec) -> io::Result<PumpResult> {
    let PumpSpec {
        size,
        streams,
        distinct,
        check,
        duration,
        send_buffer,
        acked,
    } = spec;
    let streams = streams.max(1);
    let per_stream = (distinct / streams).max(1);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let key = MacKey::derive(&rand::random());
    let barrier = Arc::new(Barrier::new(streams + 1));
    // The receivers run on a runtime of their own, as a server's connections do in their own
    // process: on one shared runtime a sender and its receiver took turns on one worker thread.
    let receiving = ReceiverRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(
                streams.min(std::thread::available_parallelism().map_or(1, |n| n.get())),
            )
            .thread_name("pump-receiver")
            .enable_all()
            .build()?,
    ));
    let mut senders = Vec::with_capacity(streams);
    let mut receivers = Vec::with_capacity(streams);
    for stream in 0..streams {
        let out = TcpStream::connect(addr).await?;
        let (inc, _) = listener.accept().await?;
        for end in [out.as_fd(), inc.as_fd()] {
            send_buffer.apply(&end, addr.ip())?;
        }
        let inc = inc.into_std()?;
        receivers.push(receiving.spawn(receive(inc, size, check, key.clone(), acked)));
        let first = 0x5eed + (stream * per_stream) as u64;
        let payloads = (first..first + per_stream as u64)
            .map(|seed| crate::pattern::generate(seed, b"pump", size))
            .collect();
        senders.push(tokio::spawn(send(
            out,
            payloads,
            check,
            key.clone(),
            Arc::clone(&barrier),
            duration,
            acked,
        )));
    }
    barrier.wait().await;
    let start = Instant::now();
    let cpu_before = crate::results::cpu_seconds(None);
    let (mut messages, mut bytes, mut failures) = (0, 0, 0);
    let joined = |e: tokio::task::JoinError| io::Error::other(format!("pump task failed: {e}"));
    for r in receivers {
        let (m, b, f) = r.await.map_err(joined)??;
        messages += m;
        bytes += b;
        failures += f;
    }
    let secs = start.elapsed().as_secs_f64();
    for s in senders {
        s.await.map_err(joined)??;
    }
    drop(receiving);
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let cpu_ms_per_gib = match (cpu_before, crate::results::cpu_seconds(None)) {
        (Some(a), Some(b)) if gib > 0.0 => Some((b - a) * 1000.0 / gib),
        _ => None,
    };
    Ok(PumpResult {
        size,
        streams,
        check,
        distinct: per_stream * streams,
        messages,
        bytes,
        secs,
        gib_per_s: gib / secs,
        failures,
        cpu_ms_per_gib,
        send_buffer: send_buffer.to_string(),
        acked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_receivers_runtime_is_dropped_inside_a_task_without_panicking() {
        // As on an early error return from `pump`: dropped in a task of the caller's runtime,
        // with a task of its own still waiting. A `Runtime` dropped the ordinary way there
        // panics ("Cannot drop a runtime in a context where blocking is not allowed").
        let receiving = ReceiverRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        ));
        let (_never, wait) = tokio::sync::oneshot::channel::<()>();
        let waiting = receiving.spawn(async move {
            let _ = wait.await;
        });
        drop(receiving);
        let ended = waiting.await.expect_err("its runtime is gone");
        assert!(ended.is_cancelled(), "{ended}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_check_moves_and_verifies_messages() {
        // (distinct asked for, distinct sent over 2 streams: at least one each, split evenly)
        let cases = PumpCheck::ALL.into_iter().zip([(1, 2), (5, 4), (2, 2)]);
        let buffers = [
            SendBuffer::Auto,
            SendBuffer::Kernel,
            SendBuffer::Fixed(64 * 1024),
        ];
        for (((check, (distinct, sent)), send_buffer), acked) in
            cases.zip(buffers).zip([false, true, false])
        {
            let r = pump(PumpSpec {
                size: 64 * 1024,
                streams: 2,
                distinct,
                check,
                duration: Duration::from_millis(50),
                send_buffer,
                acked,
            })
            .await
            .unwrap();
            assert_eq!(r.send_buffer, send_buffer.to_string());
            assert_eq!(r.acked, acked);
            assert!(r.messages > 0, "{check:?}");
            assert_eq!(r.distinct, sent, "{check:?}");
            assert_eq!(r.bytes, r.messages * 64 * 1024);
            assert_eq!(r.failures, 0, "{check:?}");
            assert!(r.gib_per_s > 0.0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acked_receiver_answers_each_message_whose_tail_is_below_its_low_water_mark() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tx = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (rx, _) = listener.accept().unwrap();
        rx.set_nonblocking(true).unwrap();
        let probe = rx.try_clone().unwrap();
        // Longer than the receive low-water mark (256 KiB): its last 100 bytes come after the
        // receiver has read the rest, and alone they are below the mark.
        let size = memkv_frameio::EAGER_LOW_WATER + 110;
        let receiver = tokio::spawn(receive(
            rx,
            size,
            PumpCheck::Raw,
            MacKey::derive(&[3; 32]),
            true,
        ));
        for i in 0..3u8 {
            let message = vec![i; size];
            tx.write_all(&message[..size - 100]).await.unwrap();
            // Wait until the receiver has read all of it (nothing left to peek).
            let mut one = [0u8; 1];
            loop {
                match probe.peek(&mut one) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Ok(_) => tokio::task::yield_now().await,
                    Err(e) => panic!("peek: {e}"),
                }
            }
            tx.write_all(&message[size - 100..]).await.unwrap();
            // The answer comes only after the whole message: a reader left waiting for the
            // mark never answers, and this fails.
            let mut ack = [0u8; 1];
            tokio::time::timeout(Duration::from_secs(30), tx.read_exact(&mut ack))
                .await
                .expect("an answer to every message")
                .unwrap();
            assert_eq!(ack, [1]);
        }
        tx.shutdown().await.unwrap();
        let (messages, bytes, failures) = receiver.await.unwrap().unwrap();
        assert_eq!((messages, bytes, failures), (3, 3 * size as u64, 0));
    }

    #[test]
    fn a_damaged_message_fails_its_check() {
        let key = MacKey::derive(&[7u8; 32]);
        for check in [PumpCheck::Crc32c, PumpCheck::Mac] {
            let data = vec![1u8; 100];
            let mut t = vec![0u8; check.trailer_len()];
            check.compute(&key, &data, &mut t);
            let mut damaged = data.clone();
            damaged[50] = 2;
            let mut t2 = vec![0u8; check.trailer_len()];
            check.compute(&key, &damaged, &mut t2);
            assert_ne!(t, t2, "{check:?}");
        }
    }
}
