//! One client connection: handshake, frame reading and authentication, and the writer task.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use memkv_proto::msg::{self, Message};
use memkv_proto::{
    DataCrc, FrameError, HEADER_LEN, Header, Limits, Opcode, ReplayGuard, SendCrc, Session, Status,
    VerifyError, check_clock, frame_value_lens,
};
use memkv_store::Store;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use memkv_frameio::{read_body, set_socket_low_water, set_socket_low_water_eager, write_sealed};

use super::handler::{self, Data, Pending, Reply, Response};
use super::streams::Streams;
use super::threads::ThreadLoad;
use super::{Shared, now_ns};
use crate::metrics::{AuthFailure, FrameReject, Metrics};

/// Largest handshake body accepted (a `Hello` is well under 1 KiB).
const MAX_HELLO_BODY: u32 = 64 * 1024;
const IO_BUFFER: usize = 64 * 1024;
/// Responses queued for the writer before the reader waits.
const WRITE_QUEUE: usize = 1024;
/// Gets and batch gets of one connection that may wait for a drive while the connection reads
/// on (the disk engine's default queue depth, so one connection can keep a drive's queue full).
/// A further read is answered before the connection reads its next request.
pub const MAX_DEFERRED_READS: usize = 32;
/// After shutdown begins, how long a connection waits for bytes a client already sent.
const DRAIN_GRACE: Duration = Duration::from_millis(100);
/// How long a refused connection keeps reading (and discarding) input before it closes.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most input a refused connection discards before it closes.
const LINGER_MAX_BYTES: usize = 256 << 20;
/// Longest time one frame may take to arrive once its first byte has.
const FRAME_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits until at least one byte is readable; false at end of stream. Cancel-safe.
async fn has_bytes(rd: &mut BufReader<OwnedReadHalf>) -> std::io::Result<bool> {
    use tokio::io::AsyncBufReadExt;
    Ok(!rd.fill_buf().await?.is_empty())
}

/// A response on its way to the writer task.
struct Outgoing {
    header: Header,
    response: Response,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Where a connection's responses go, and what bounds what it holds.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    /// Request and response bytes held at once (`network.max_inflight_bytes`).
    budget: Arc<Semaphore>,
    /// Reads waiting for a drive while the reader goes on ([`MAX_DEFERRED_READS`]).
    reads: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// What the reader does after a frame.
enum Next {
    Continue,
    Close,
}

/// Per-connection state owned by the reader.
pub(super) struct ConnState {
    pub(super) session: Session,
    pub(super) streams: Streams,
    replay: ReplayGuard,
    /// How busy this connection's thread is: a connection alone on it reads requests eagerly.
    load: ThreadLoad,
}

/// Sets (and returns) the receive low-water mark for a request's data: eager (a mark of at most one read
/// piece) while no other connection of the thread reads a request, where the wake-ups cost
/// other connections nothing and the client waits for the answer; the whole schedule (marks of
/// 1 MiB) while the thread's time is shared (see `memkv_frameio::EAGER_LOW_WATER`). Either
/// mark is at most what the schedule asks for, so it never exceeds the bytes still to come.
fn request_low_water(load: &ThreadLoad, rd: &mut BufReader<OwnedReadHalf>, bytes: usize) -> usize {
    if load.alone() {
        set_socket_low_water_eager(rd, bytes)
    } else {
        set_socket_low_water(rd, bytes)
    }
}

/// Answers a connection over `network.max_connections` with an unauthenticated `Busy` and
/// closes it.
pub(super) async fn refuse_busy(mut stream: TcpStream) {
    let msg = msg::ErrorResp {
        message: "server is at network.max_connections: retry later, or raise the limit",
    }
    .encode();
    let raw = unsigned_response(Opcode::Hello.code(), 0, Status::Busy, &msg);
    let write = async {
        stream.write_all(&raw).await?;
        stream.write_all(&msg).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// A response header with a zero tag, for refusals sent before any key is shared.
fn unsigned_response(opcode: u8, request_id: u64, status: Status, ctrl: &[u8]) -> [u8; HEADER_LEN] {
    let mut req = Header::request(Opcode::Hello, request_id, 0);
    req.opcode = opcode;
    let mut h = Header::response_to(&req, status, now_ns());
    h.ctrl_len = u32::try_from(ctrl.len()).unwrap_or(0);
    h.encode()
}

/// Serves one connection until the peer leaves, an authentication failure, an idle timeout or
/// shutdown.
pub(super) async fn serve<S: Store>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<S>>,
    shutdown: watch::Receiver<bool>,
    load: ThreadLoad,
) {
    let _ = stream.set_nodelay(true);
    if let Err(e) = shared.settings.send_buffer.apply(&stream, peer.ip()) {
        tracing::debug!(%peer, "send buffer left to the kernel: {e}");
    }
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(IO_BUFFER, rd);
    let mut wr = BufWriter::with_capacity(IO_BUFFER, wr);

    let hs = tokio::time::timeout(
        shared.settings.handshake_timeout,
        handshake(&mut rd, &mut wr, &shared),
    )
    .await;
    let session = match hs {
        Ok(Ok(session)) => session,
        Ok(Err(reason)) => {
            tracing::debug!(%peer, "handshake refused: {reason}");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "handshake timed out");
            return;
        }
    };
    tracing::debug!(%peer, integrity = %session.integrity(), "connection established");

    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    let writer = tokio::spawn(write_loop(wr, rx, session.clone()));
    let out = Outbox {
        tx,
        budget: Arc::new(Semaphore::new(
            usize::try_from(shared.settings.max_inflight_bytes).unwrap_or(usize::MAX >> 4),
        )),
        reads: Arc::new(Semaphore::new(MAX_DEFERRED_READS)),
        metrics: Arc::clone(&shared.metrics),
    };
    let mut state = ConnState {
        session,
        streams: Streams::default(),
        replay: ReplayGuard::default(),
        load,
    };

    let mut draining = false;
    let mut refused = false;
    let stop = super::stopped(shutdown);
    tokio::pin!(stop);
    loop {
        // Wait until the next frame starts to arrive. `fill_buf` is cancel-safe (bytes stay in
        // the buffer), so shutdown can interrupt the wait without losing a partial header.
        let arriving = if draining {
            // Shutting down: finish what the client has already sent, then close.
            matches!(
                tokio::time::timeout(DRAIN_GRACE, has_bytes(&mut rd)).await,
                Ok(Ok(true))
            )
        } else {
            let wait = async {
                match shared.settings.idle_timeout {
                    Some(idle) => tokio::time::timeout(idle, has_bytes(&mut rd)).await.ok(),
                    None => Some(has_bytes(&mut rd).await),
                }
            };
            tokio::select! {
                biased;
                () = &mut stop => {
                    draining = true;
                    continue;
                }
                r = wait => match r {
                    Some(Ok(more)) => more,
                    Some(Err(e)) => {
                        tracing::debug!(%peer, "connection read failed: {e}");
                        false
                    }
                    None => {
                        tracing::debug!(%peer, "closing idle connection (network.idle_timeout)");
                        false
                    }
                },
            }
        };
        if !arriving {
            break;
        }
        let mut raw = [0u8; HEADER_LEN];
        match tokio::time::timeout(FRAME_TIMEOUT, rd.read_exact(&mut raw)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, "connection closed inside a frame header: {e}");
                break;
            }
            Err(_) => {
                tracing::debug!(%peer, "frame header incomplete after {FRAME_TIMEOUT:?}; closing");
                break;
            }
        }
        match frame(&raw, &mut rd, &mut state, &shared, &out, peer).await {
            Next::Continue => {}
            Next::Close => {
                refused = true;
                break;
            }
        }
    }
    // The writer ends once every sender is gone, those of responses still on their way too.
    drop(out);
    let _ = writer.await;
    if refused {
        linger(&mut rd).await;
    }
}

/// After refusing a frame, the client may still be sending (the rest of an oversized body, or
/// pipelined requests). Closing a socket with unread input makes the kernel answer with a reset,
/// which can destroy the error response before the client reads it; so read and discard input
/// for a bounded time first, as HTTP servers do.
async fn linger(rd: &mut BufReader<OwnedReadHalf>) {
    let mut sink = vec![0u8; IO_BUFFER];
    let drain = async {
        let mut total = 0usize;
        while total < LINGER_MAX_BYTES {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// Reads, authenticates and handles one frame whose header is `raw`.
async fn frame<S: Store>(
    raw: &[u8; HEADER_LEN],
    rd: &mut BufReader<OwnedReadHalf>,
    state: &mut ConnState,
    shared: &Arc<Shared<S>>,
    out: &Outbox,
    peer: SocketAddr,
) -> Next {
    let metrics = &shared.metrics;
    let tx = &out.tx;
    let header = match Header::decode(raw, &shared.settings.limits) {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(%peer, "refusing frame: {e}");
            let (status, request_id, opcode) = match e {
                FrameError::BadMagic | FrameError::Malformed(_) => {
                    metrics.frame_rejected(if matches!(e, FrameError::BadMagic) {
                        FrameReject::BadMagic
                    } else {
                        FrameReject::Malformed
                    });
                    return Next::Close;
                }
                FrameError::UnsupportedVersion {
                    request_id, opcode, ..
                } => {
                    metrics.auth_failure(AuthFailure::UnsupportedVersion);
                    (Status::UnsupportedVersion, request_id, opcode)
                }
                FrameError::TooLarge { request_id, .. } => {
                    metrics.frame_rejected(FrameReject::TooLarge);
                    let opcode = raw[6];
                    (Status::PayloadTooLarge, request_id, opcode)
                }
            };
            let mut req = Header::request(Opcode::Ping, request_id, 0);
            req.opcode = opcode;
            req.integrity = state.session.integrity();
            send(tx, &req, Response::error(status, e.to_string()), None).await;
            return Next::Close;
        }
    };
    if header.response {
        metrics.frame_rejected(FrameReject::Malformed);
        return Next::Close;
    }

    let body_len = usize::try_from(header.body_len()).unwrap_or(usize::MAX);
    let permit = match Arc::clone(&out.budget)
        .acquire_many_owned(u32::try_from(body_len).unwrap_or(u32::MAX))
        .await
    {
        Ok(p) => p,
        Err(_) => return Next::Close,
    };
    let opcode = Opcode::from_code(header.opcode);
    // A batch put computes every value's CRC32C anyway and checks the frame's CRC from those,
    // so the frame's data CRC is not computed a second time here.
    let batch_put = opcode == Some(Opcode::BatchPut);
    // Control section and data are read into separate buffers so that a stored value owns
    // exactly its bytes (no control section kept alive beside it); a batch put's values each
    // into a buffer of its own. The data is verified as it arrives (memkv_frameio).
    let read = async {
        let ctrl = read_body(rd, header.ctrl_len as usize).await?;
        let crc = if batch_put {
            DataCrc::Skip
        } else {
            DataCrc::Compute
        };
        let data_len = header.data_len as usize;
        // A batch put's values, by the protocol's division of its data (`None` for lengths
        // that do not add up: the handler refuses the frame), which the verifier follows too.
        let lens = batch_put
            .then(|| frame_value_lens(header.opcode, false, &ctrl, data_len))
            .flatten();
        let mut verifier =
            state
                .session
                .verifier_with_values(&header, raw, &ctrl, lens.clone(), crc);
        // Counted among the thread's readers while the data is read (see `request_low_water`).
        let _reading = state.load.reading();
        let load = &state.load;
        let low_water =
            |rd: &mut BufReader<OwnedReadHalf>, bytes| request_low_water(load, rd, bytes);
        let data = match lens {
            Some(lens) => {
                let landing = shared.recv_pool.landing();
                let values =
                    memkv_frameio::read_values(rd, &lens, &mut verifier, landing, low_water)
                        .await?;
                Data::Values(values)
            }
            None => Data::Whole(
                memkv_frameio::read_data(rd, data_len, &mut verifier, shared.recv_pool, low_water)
                    .await?,
            ),
        };
        Ok::<_, std::io::Error>((ctrl, data, verifier))
    };
    let (ctrl, data, verifier) = match tokio::time::timeout(FRAME_TIMEOUT, read).await {
        Ok(Ok(parts)) => parts,
        Err(_) => {
            tracing::debug!(%peer, "frame body incomplete after {FRAME_TIMEOUT:?}; closing");
            return Next::Close;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, "connection closed inside a frame: {e}");
            return Next::Close;
        }
    };
    let (sums, digests) = match verifier.finish_with_digests() {
        Ok(verified) => verified,
        Err(e) => {
            let (status, fatal) = match e {
                VerifyError::BadMac => {
                    metrics.auth_failure(AuthFailure::BadMac);
                    (Status::BadMac, true)
                }
                VerifyError::IntegrityMismatch { .. } => {
                    metrics.auth_failure(AuthFailure::IntegrityMismatch);
                    (Status::IntegrityMismatch, true)
                }
                VerifyError::ChecksumMismatch => {
                    metrics.checksum_failure(crate::metrics::ChecksumStage::Put);
                    (Status::ChecksumMismatch, false)
                }
            };
            tracing::debug!(%peer, "refusing frame {}: {e}", header.request_id);
            send(tx, &header, Response::error(status, e.to_string()), None).await;
            return if fatal { Next::Close } else { Next::Continue };
        }
    };
    if let Err(drift) = fresh(&header, shared) {
        send(tx, &header, drift, None).await;
        return Next::Continue;
    }
    if !state.replay.accept(header.request_id) {
        metrics.auth_failure(AuthFailure::Replay);
        let message = "request id did not increase: a replayed or reordered frame";
        send(tx, &header, Response::error(Status::Replay, message), None).await;
        return Next::Close;
    }

    let started = Instant::now();
    let checked = handler::Checked {
        data_crc: sums.computed,
        sent_crc: sums.sent,
        digests,
    };
    let response = match handler::handle(opcode, &header, ctrl, data, checked, state, shared).await
    {
        Reply::Now(response) => {
            drop(permit);
            response
        }
        Reply::Later(response) => {
            // A put that is stored and on its way to the drive: the reader goes on with the
            // next request. Its bytes stay counted against the connection's budget until it
            // is durable, which bounds what one connection can have queued for the drives.
            answer_later(out, header, opcode, started, response, Some(permit), None);
            return Next::Continue;
        }
        Reply::Read(mut read) => {
            drop(permit);
            // A read the store could not answer from RAM (the handler answered those). Polled
            // once, which starts it; still waiting for the drive, it finishes in a task of its
            // own while the reader goes on, so a connection with many gets in flight keeps that
            // many reads in the drive's queue instead of one; past MAX_DEFERRED_READS of them
            // the reader waits for this one.
            match Arc::clone(&out.reads).try_acquire_owned() {
                Err(_) => read.await,
                Ok(slot) => match poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
                    Poll::Ready(response) => response,
                    Poll::Pending => {
                        out.metrics.read_deferred();
                        answer_later(out, header, opcode, started, read, None, Some(slot));
                        return Next::Continue;
                    }
                },
            }
        }
    };
    if answer(out, &header, opcode, started, response).await {
        Next::Continue
    } else {
        Next::Close
    }
}

/// Answers a request from a task of its own once `response` is ready, while the reader goes
/// on. `request_bytes` (a put's share of the budget) is released when the response is ready;
/// `read_slot` (a deferred read's place) once it is queued, so that at most
/// [`MAX_DEFERRED_READS`] responses of reads are held outside the budget.
fn answer_later(
    out: &Outbox,
    header: Header,
    opcode: Option<Opcode>,
    started: Instant,
    response: Pending,
    request_bytes: Option<OwnedSemaphorePermit>,
    read_slot: Option<OwnedSemaphorePermit>,
) {
    let out = out.clone();
    tokio::spawn(async move {
        let response = response.await;
        drop(request_bytes);
        answer(&out, &header, opcode, started, response).await;
        drop(read_slot);
    });
}

/// Counts a handled request and queues its response. Returns false if the writer is gone.
async fn answer(
    out: &Outbox,
    header: &Header,
    opcode: Option<Opcode>,
    started: Instant,
    response: Response,
) -> bool {
    let out_len = response.body_len();
    let out_permit = Arc::clone(&out.budget)
        .acquire_many_owned(u32::try_from(out_len).unwrap_or(u32::MAX))
        .await
        .ok();
    out.metrics.record_op(
        opcode.map_or(crate::run::UNKNOWN_OP_INDEX, Opcode::index),
        response.status.index(),
        started.elapsed(),
        header.body_len() + HEADER_LEN as u64,
        out_len as u64 + HEADER_LEN as u64,
    );
    send(&out.tx, header, response, out_permit).await
}

/// Queues a response to `req`. Returns false if the writer is gone.
async fn send(
    tx: &mpsc::Sender<Outgoing>,
    req: &Header,
    response: Response,
    permit: Option<OwnedSemaphorePermit>,
) -> bool {
    let header = Header::response_to(req, response.status, 0);
    tx.send(Outgoing {
        header,
        response,
        _permit: permit,
    })
    .await
    .is_ok()
}

/// Seals and writes responses, batching small ones into one flush.
async fn write_loop(
    mut wr: BufWriter<OwnedWriteHalf>,
    mut rx: mpsc::Receiver<Outgoing>,
    session: Session,
) {
    let result: std::io::Result<()> = async {
        while let Some(out) = rx.recv().await {
            write_one(&mut wr, &session, out).await?;
            while let Ok(out) = rx.try_recv() {
                write_one(&mut wr, &session, out).await?;
            }
            wr.flush().await?;
        }
        wr.shutdown().await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!("connection write failed: {e}");
    }
}

async fn write_one<W: AsyncWrite + Unpin>(
    wr: &mut W,
    session: &Session,
    out: Outgoing,
) -> std::io::Result<()> {
    let Outgoing {
        mut header,
        response,
        _permit,
    } = out;
    header.timestamp_ns = now_ns();
    let data_len = response.data.iter().map(|b| b.len()).sum();
    // A value held in RAM is sent with its stored CRC32C without re-reading it here: the
    // client checks every value's bytes against it, and reports a mismatch (`ReportDamaged`).
    // In `mac` mode such a value is tagged with the digest it kept from its put, so the
    // sealer reads none of its bytes either (docs/protocol.md "Value digests").
    let (raw, sealer) = match (response.data_crc, response.data_digest) {
        (Some(crc), Some(digest)) => {
            session.seal_stored(&mut header, &response.ctrl, data_len, crc, &[digest])
        }
        (Some(crc), None) => {
            session.seal(&mut header, &response.ctrl, data_len, SendCrc::Known(crc))
        }
        (None, _) => session.seal(&mut header, &response.ctrl, data_len, SendCrc::Compute),
    };
    let head = [&raw[..], &response.ctrl[..]];
    // A frame of up to SEND_CHUNK bytes of data (a batch of small values) goes in one vectored
    // write, which the BufWriter passes straight to the socket when it is larger than its free
    // space, instead of copying each value into its buffer.
    write_sealed(wr, head, &response.data, sealer).await
}

/// Why a handshake failed (logged at debug: a client that fails to authenticate is the client's
/// problem, and it is counted in metrics).
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("first frame was not a Hello request with id 0")]
    NotHello,
    #[error("{0}")]
    Verify(#[from] VerifyError),
    #[error("the client's clock is outside network.max_clock_skew")]
    Clock,
    #[error("malformed Hello: {0}")]
    Decode(#[from] memkv_proto::DecodeError),
}

async fn handshake<S: Store>(
    rd: &mut BufReader<OwnedReadHalf>,
    wr: &mut BufWriter<OwnedWriteHalf>,
    shared: &Shared<S>,
) -> Result<Session, HandshakeError> {
    let metrics = &shared.metrics;
    let settings = &shared.settings;
    let mut raw = [0u8; HEADER_LEN];
    rd.read_exact(&mut raw).await?;
    let header = match Header::decode(
        &raw,
        &Limits {
            max_body: MAX_HELLO_BODY,
        },
    ) {
        Ok(h) => h,
        Err(
            e @ FrameError::UnsupportedVersion {
                request_id, opcode, ..
            },
        ) => {
            metrics.auth_failure(AuthFailure::UnsupportedVersion);
            let text = e.to_string();
            refuse_unsigned(wr, opcode, request_id, Status::UnsupportedVersion, &text).await?;
            return Err(e.into());
        }
        Err(e) => {
            metrics.frame_rejected(match e {
                FrameError::BadMagic => FrameReject::BadMagic,
                FrameError::TooLarge { .. } => FrameReject::TooLarge,
                _ => FrameReject::Malformed,
            });
            return Err(e.into());
        }
    };
    if header.opcode != Opcode::Hello.code()
        || header.request_id != 0
        || header.response
        || header.data_len != 0
    {
        metrics.frame_rejected(FrameReject::Malformed);
        return Err(HandshakeError::NotHello);
    }
    let ctrl = &read_body(rd, header.ctrl_len as usize).await?[..];

    // The hello is checked in the mode the client chose, so that a mode mismatch can be told
    // apart from a wrong key and answered in a form the client can verify.
    let hello_session = Session::handshake(&settings.auth_key, header.integrity);
    if let Err(e) = hello_session.verify(&header, &raw, ctrl, &[], None) {
        metrics.auth_failure(AuthFailure::BadMac);
        let text = "the server rejected this client's auth key (BadMac): client and server must be configured with the same 64-hex-character key";
        refuse_unsigned(wr, header.opcode, 0, Status::BadMac, text).await?;
        return Err(e.into());
    }
    if header.integrity != settings.integrity {
        metrics.auth_failure(AuthFailure::IntegrityMismatch);
        let text = format!(
            "integrity mode mismatch: this server requires `{}`, the client uses `{}`; set the client's `integrity` (MEMKV_INTEGRITY) to `{}`",
            settings.integrity, header.integrity, settings.integrity
        );
        let resp = Response::error(Status::IntegrityMismatch, text);
        refuse_signed(wr, &hello_session, &header, resp).await?;
        return Err(VerifyError::IntegrityMismatch {
            frame: header.integrity,
            session: settings.integrity,
        }
        .into());
    }
    if let Err(drift) = fresh(&header, shared) {
        refuse_signed(wr, &hello_session, &header, drift).await?;
        return Err(HandshakeError::Clock);
    }
    let hello: msg::Hello = msg::decode(ctrl)?;
    let server_nonce: [u8; 16] = rand::random();
    let session = Session::derive(
        &settings.auth_key,
        settings.integrity,
        &hello.client_nonce,
        &server_nonce,
    );
    let ok = msg::HelloOk {
        server_nonce,
        client_nonce: hello.client_nonce,
        info: handler::node_info(shared),
    }
    .encode();
    let mut resp = Header::response_to(&header, Status::Ok, now_ns());
    let raw = session.seal_ctrl(&mut resp, &ok);
    wr.write_all(&raw).await?;
    wr.write_all(&ok).await?;
    wr.flush().await?;
    tracing::debug!(client = hello.client_name, "handshake complete");
    Ok(session)
}

async fn refuse_unsigned(
    wr: &mut BufWriter<OwnedWriteHalf>,
    opcode: u8,
    request_id: u64,
    status: Status,
    text: &str,
) -> std::io::Result<()> {
    let msg = msg::ErrorResp { message: text }.encode();
    wr.write_all(&unsigned_response(opcode, request_id, status, &msg))
        .await?;
    wr.write_all(&msg).await?;
    wr.flush().await
}

async fn refuse_signed(
    wr: &mut BufWriter<OwnedWriteHalf>,
    session: &Session,
    req: &Header,
    resp: Response,
) -> std::io::Result<()> {
    let mut h = Header::response_to(req, resp.status, now_ns());
    let raw = session.seal_ctrl(&mut h, &resp.ctrl);
    wr.write_all(&raw).await?;
    wr.write_all(&resp.ctrl).await?;
    wr.flush().await
}

/// Checks a request's timestamp against this server's clock; a stale or future frame is counted
/// and answered with `ClockDrift` and the measured drift.
fn fresh<S>(header: &Header, shared: &Shared<S>) -> Result<(), Response> {
    let window = duration_ns(shared.settings.max_clock_skew);
    check_clock(header.timestamp_ns, now_ns(), window).map_err(|drift| {
        shared.metrics.auth_failure(AuthFailure::ClockDrift);
        let message = drift.to_string();
        let ctrl = msg::ClockDriftResp {
            ts_ns: drift.ts_ns,
            window_ns: drift.window_ns,
            drift_ns: drift.drift_ns,
            message: &message,
        }
        .encode();
        Response::with_ctrl(Status::ClockDrift, ctrl)
    })
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
