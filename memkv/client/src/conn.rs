//! One authenticated TCP connection to a server: dialing and the handshake, the pipelined write
//! path, and the reader task that matches responses to waiting requests.
//!
//! Writes run on the caller's future under a per-connection async lock, straight from the
//! caller's slices (one coalesced write for small frames, vectored writes for large ones). The
//! request id is taken under that lock, so ids increase in wire order. A write that does not
//! finish (the future was dropped, or timed out mid-frame) leaves the stream unusable: a guard
//! poisons the connection, closes it and fails every request waiting on it.
//!
//! The reader task reads whole response frames, verifies their tags and timestamps and hands
//! each to the request that waits for its id. Any read or verification failure ends the
//! connection and fails every waiter.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use memkv_frameio::{
    BufPool, Part, SendBuffer, read_body, read_data, set_socket_low_water_eager, write_sealed,
};
use memkv_proto::msg::{self, Message};
use memkv_proto::{
    DataCrc, DataSealer, DataSums, FrameError, HEADER_LEN, Header, Limits, Nonce, Opcode, Session,
    Status, check_clock,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

mod handoff;

use handoff::lend;
pub(crate) use handoff::{Handoff, Landed};

use crate::config::{ServerAddr, ValidatedConfig};
use crate::error::{AuthError, ClientError};
use crate::frame::{Reply, Request, now_ns};
use crate::stats::Counters;
use crate::types::NodeInfo;

/// Name this client gives in its `Hello`.
const CLIENT_NAME: &str = concat!("memkv-client/", env!("CARGO_PKG_VERSION"));
/// Largest handshake answer accepted.
const MAX_HELLO_BODY: u32 = 64 * 1024;
/// Frames up to this size are copied into one buffer and written with one call.
const COALESCE_LIMIT: usize = 16 * 1024;
/// Read buffer of the reader task.
const READ_BUFFER: usize = 64 * 1024;
/// Slack over the server's frame limit accepted on responses.
const RESPONSE_SLACK: u32 = 64 * 1024;

/// The request waiting for a reply.
#[derive(Debug)]
enum Waiter {
    /// Gets the whole reply, its data in a receive buffer.
    Reply(oneshot::Sender<Result<Reply, ClientError>>),
    /// Gets the stream right after the reply's header and control section, and reads the data
    /// itself, straight into its own buffer ([`Handoff`]).
    Direct(oneshot::Sender<Result<Handoff, ClientError>>),
}

impl Waiter {
    fn fail(self, err: ClientError) {
        match self {
            Waiter::Reply(tx) => drop(tx.send(Err(err))),
            Waiter::Direct(tx) => drop(tx.send(Err(err))),
        }
    }
}

/// The read side of a connection.
type ReadSide = BufReader<OwnedReadHalf>;

/// State shared between a connection's users and its reader task.
#[derive(Debug)]
struct Shared {
    server: String,
    session: Session,
    window_ns: u64,
    pending: parking_lot::Mutex<Pending>,
    healthy: AtomicBool,
    inflight: AtomicUsize,
    reader: parking_lot::Mutex<Option<AbortHandle>>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Pending {
    waiters: HashMap<u64, Waiter>,
    /// Set once the connection failed; later registrations fail with it.
    closed: Option<ClientError>,
}

impl Shared {
    fn lost(&self, reason: impl Into<String>) -> ClientError {
        ClientError::ConnectionLost {
            server: self.server.clone(),
            reason: reason.into(),
        }
    }

    fn register(&self, id: u64, waiter: Waiter) -> Result<(), ClientError> {
        let mut p = self.pending.lock();
        if let Some(e) = &p.closed {
            return Err(e.clone());
        }
        p.waiters.insert(id, waiter);
        Ok(())
    }

    fn take_waiter(&self, id: u64) -> Option<Waiter> {
        let waiter = self.pending.lock().waiters.remove(&id);
        if waiter.is_none() {
            Counters::bump(&self.counters.abandoned_replies);
            tracing::debug!(
                server = %self.server,
                request_id = id,
                "dropping a response nobody waits for (its request timed out or was cancelled)"
            );
        }
        waiter
    }

    /// Checks a fully read reply: its tag (a failure ends the connection: `Err(Err(_))`), the
    /// server's refusal of the connection, and its clock. Returns the data's CRC32C where it
    /// was computed.
    fn check_reply(
        &self,
        header: &Header,
        verified: Result<DataSums, memkv_proto::VerifyError>,
    ) -> Result<Result<DataSums, ClientError>, ClientError> {
        let sums = match verified {
            Ok(sums) => sums,
            Err(e) => {
                tracing::debug!(server = %self.server, "response failed verification: {e}");
                return Err(ClientError::Auth {
                    server: self.server.clone(),
                    kind: AuthError::ResponseBadMac,
                });
            }
        };
        if Status::from_code(header.status).is_some_and(Status::is_fatal) {
            // The server closes the connection after such an answer.
            self.mark_unhealthy("the server refused a request as unauthenticated");
        }
        Ok(
            match check_clock(header.timestamp_ns, now_ns(), self.window_ns) {
                Ok(()) => Ok(sums),
                Err(d) => Err(ClientError::Auth {
                    server: self.server.clone(),
                    kind: AuthError::ClockDrift {
                        ts_ns: d.ts_ns,
                        window_ns: d.window_ns,
                        drift_ns: d.drift_ns,
                    },
                }),
            },
        )
    }

    /// Stops new requests from choosing this connection; requests in flight continue.
    fn mark_unhealthy(&self, why: &str) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            Counters::bump(&self.counters.connections_failed);
            tracing::debug!(server = %self.server, "Connection marked unhealthy: {why}");
        }
    }

    /// Ends the connection: marks it unhealthy, fails every waiter with `err` and stops the
    /// reader.
    fn fail(&self, err: ClientError) {
        let was_healthy = self.healthy.swap(false, Ordering::AcqRel);
        let waiters: Vec<Waiter> = {
            let mut p = self.pending.lock();
            if p.closed.is_none() {
                p.closed = Some(err.clone());
            }
            p.waiters.drain().map(|(_, w)| w).collect()
        };
        if was_healthy {
            Counters::bump(&self.counters.connections_failed);
        }
        if !waiters.is_empty() {
            tracing::warn!(
                server = %self.server,
                in_flight = waiters.len(),
                "Connection marked unhealthy: {err}"
            );
        } else if was_healthy {
            tracing::debug!(server = %self.server, "Connection marked unhealthy: {err}");
        }
        for w in waiters {
            w.fail(err.clone());
        }
        if let Some(h) = self.reader.lock().take() {
            h.abort();
        }
    }
}

/// The write side: the socket half and the next request id.
#[derive(Debug)]
struct Writer {
    half: Option<OwnedWriteHalf>,
    next_id: u64,
}

/// One authenticated connection.
#[derive(Debug)]
pub(crate) struct Conn {
    shared: Arc<Shared>,
    writer: tokio::sync::Mutex<Writer>,
    /// What the server reported in its handshake.
    pub(crate) info: NodeInfo,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Nobody can wait on this connection any more (waiters hold the `Conn`); stop the
        // reader so the socket closes.
        if let Some(h) = self.shared.reader.lock().take() {
            h.abort();
        }
    }
}

/// Counts a request against its connection from the moment it picks it until its reply
/// arrives or it is abandoned.
#[derive(Debug)]
struct InflightGuard(Arc<Shared>);

impl InflightGuard {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.inflight.fetch_add(1, Ordering::AcqRel);
        InflightGuard(Arc::clone(shared))
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request that was written and waits for its reply. Dropping it abandons the request (a late
/// reply is discarded).
#[derive(Debug)]
pub(crate) struct PendingReply<T = Reply> {
    conn: Arc<Conn>,
    id: u64,
    rx: Option<oneshot::Receiver<Result<T, ClientError>>>,
    _inflight: InflightGuard,
}

/// What a request waits for: a whole [`Reply`], or a [`Handoff`] of the stream.
trait Awaited: Sized {
    fn waiter(tx: oneshot::Sender<Result<Self, ClientError>>) -> Waiter;
}

impl Awaited for Reply {
    fn waiter(tx: oneshot::Sender<Result<Self, ClientError>>) -> Waiter {
        Waiter::Reply(tx)
    }
}

impl Awaited for Handoff {
    fn waiter(tx: oneshot::Sender<Result<Self, ClientError>>) -> Waiter {
        Waiter::Direct(tx)
    }
}

impl<T> PendingReply<T> {
    /// Waits for the reply, at most `timeout`.
    pub(crate) async fn wait(
        mut self,
        op: &'static str,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let rx = self.rx.take().expect("a pending reply is awaited once");
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.conn.shared.lost("the connection closed")),
            Err(_) => Err(self.conn.timed_out(op, timeout)),
        }
    }
}

impl<T> Drop for PendingReply<T> {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.conn.shared.pending.lock().waiters.remove(&self.id);
        }
    }
}

/// Poisons the connection unless the frame was written completely.
struct PoisonGuard<'a> {
    writer: &'a mut Writer,
    shared: &'a Shared,
    armed: bool,
}

impl Drop for PoisonGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Dropping the write half shuts the socket's write direction: the server sees the
            // connection end instead of a truncated frame followed by garbage.
            self.writer.half = None;
            self.shared.fail(
                self.shared
                    .lost("a request was interrupted in the middle of its frame"),
            );
        }
    }
}

impl Conn {
    /// Resolves, connects and authenticates to `addr`, all within the connect timeout.
    pub(crate) async fn connect(
        addr: &ServerAddr,
        config: &ValidatedConfig,
        counters: &Arc<Counters>,
    ) -> Result<Arc<Conn>, ClientError> {
        let timeout = config.connect_timeout();
        let attempt = async {
            let mut stream = dial(addr, config.send_buffer()).await?;
            let (session, info) = handshake(&mut stream, addr, config).await?;
            Ok::<_, ClientError>((stream, session, info))
        };
        let (stream, session, info) = match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                Counters::bump(&counters.connect_failures);
                return Err(e);
            }
            Err(_) => {
                Counters::bump(&counters.connect_failures);
                return Err(ClientError::Timeout {
                    server: addr.id.clone(),
                    op: "connect",
                    after: timeout,
                });
            }
        };
        Counters::bump(&counters.connections_opened);
        let (rd, wr) = stream.into_split();
        let shared = Arc::new(Shared {
            server: addr.id.clone(),
            session,
            window_ns: u64::try_from(info.max_clock_skew.as_nanos()).unwrap_or(u64::MAX),
            pending: parking_lot::Mutex::new(Pending::default()),
            healthy: AtomicBool::new(true),
            inflight: AtomicUsize::new(0),
            reader: parking_lot::Mutex::new(None),
            counters: Arc::clone(counters),
        });
        let limits = Limits {
            max_body: info.max_body.saturating_add(RESPONSE_SLACK),
        };
        let task = tokio::spawn(read_loop(Arc::clone(&shared), rd, limits));
        *shared.reader.lock() = Some(task.abort_handle());
        tracing::debug!(server = %addr.id, release = %info.release, "connection established");
        Ok(Arc::new(Conn {
            shared,
            writer: tokio::sync::Mutex::new(Writer {
                half: Some(wr),
                next_id: 1,
            }),
            info,
        }))
    }

    /// Whether new requests may use this connection.
    pub(crate) fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Acquire)
    }

    /// Requests currently using this connection.
    pub(crate) fn inflight(&self) -> usize {
        self.shared.inflight.load(Ordering::Acquire)
    }

    fn timed_out(&self, op: &'static str, after: Duration) -> ClientError {
        Counters::bump(&self.shared.counters.timeouts);
        self.shared
            .mark_unhealthy(&format!("{op} timed out after {after:?}"));
        ClientError::Timeout {
            server: self.shared.server.clone(),
            op,
            after,
        }
    }

    /// Writes `req` and returns the pending reply, without waiting for it. Requests sent one
    /// after the other on one connection reach the server in that order.
    pub(crate) async fn send(
        self: &Arc<Self>,
        req: &Request<'_>,
        op: &'static str,
        timeout: Duration,
    ) -> Result<PendingReply, ClientError> {
        self.send_as(req, op, timeout).await
    }

    async fn send_as<T: Awaited>(
        self: &Arc<Self>,
        req: &Request<'_>,
        op: &'static str,
        timeout: Duration,
    ) -> Result<PendingReply<T>, ClientError> {
        let inflight = InflightGuard::new(&self.shared);
        self.within(op, timeout, self.write(req, inflight)).await
    }

    /// Runs `step` of `op` for at most `timeout`; a step that runs out marks the connection
    /// unhealthy ([`timed_out`](Self::timed_out)).
    async fn within<T>(
        &self,
        op: &'static str,
        timeout: Duration,
        step: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(timeout, step).await {
            Ok(r) => r,
            Err(_) => Err(self.timed_out(op, timeout)),
        }
    }

    async fn write<T: Awaited>(
        self: &Arc<Self>,
        req: &Request<'_>,
        inflight: InflightGuard,
    ) -> Result<PendingReply<T>, ClientError> {
        let mut w = self.writer.lock().await;
        if w.half.is_none() || !self.is_healthy() {
            let closed = self.shared.pending.lock().closed.clone();
            return Err(closed.unwrap_or_else(|| self.shared.lost("the connection is unhealthy")));
        }
        let id = w.next_id;
        w.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.shared.register(id, T::waiter(tx))?;
        let pending = PendingReply {
            conn: Arc::clone(self),
            id,
            rx: Some(rx),
            _inflight: inflight,
        };
        let (raw, sealer) = req.seal(&self.shared.session, id, now_ns(), self.info.capabilities);
        let mut guard = PoisonGuard {
            writer: &mut w,
            shared: &self.shared,
            armed: true,
        };
        let half = guard.writer.half.as_mut().expect("checked above");
        match write_frame(half, &raw, sealer, req).await {
            Ok(()) => {
                guard.armed = false;
                Ok(pending)
            }
            Err(e) => {
                // The guard poisons the connection as it drops.
                Err(self.shared.lost(format!("write failed: {e}")))
            }
        }
    }

    /// Sends `req` and waits for its reply; `timeout` bounds each of the two steps.
    pub(crate) async fn call(
        self: &Arc<Self>,
        req: &Request<'_>,
        op: &'static str,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        self.send(req, op, timeout).await?.wait(op, timeout).await
    }

    /// Sends `req` and reads its reply's data straight into `dest` if it fits (otherwise into
    /// a receive buffer, as [`call`](Self::call) does); `timeout` bounds each step. A request
    /// abandoned while its data arrives leaves the connection usable: the reader skips the
    /// rest of the frame.
    pub(crate) async fn call_into(
        self: &Arc<Self>,
        req: &Request<'_>,
        op: &'static str,
        timeout: Duration,
        dest: &mut [u8],
    ) -> Result<Landed, ClientError> {
        let handoff = self.call_handoff(req, op, timeout).await?;
        self.within(op, timeout, handoff.read(dest)).await
    }

    /// Sends `req` and waits until the stream is lent to it for its reply's data, right
    /// after the reply's header and control section; `timeout` bounds each of the two steps.
    /// The caller reads the data with [`read_parts`](Self::read_parts) (or drops the
    /// [`Handoff`], and the reader skips the frame).
    pub(crate) async fn call_handoff(
        self: &Arc<Self>,
        req: &Request<'_>,
        op: &'static str,
        timeout: Duration,
    ) -> Result<Handoff, ClientError> {
        self.send_as(req, op, timeout)
            .await?
            .wait(op, timeout)
            .await
    }

    /// Reads the data of a reply lent by [`call_handoff`](Self::call_handoff), values back to
    /// back, to `parts` ([`Handoff::read_parts`]), at most `timeout`.
    pub(crate) async fn read_parts(
        &self,
        handoff: Handoff,
        parts: &mut [Part<'_>],
        op: &'static str,
        timeout: Duration,
    ) -> Result<(Reply, Vec<u32>), ClientError> {
        self.within(op, timeout, handoff.read_parts(parts)).await
    }
}

/// Resolves `addr` and connects to the first address that answers.
async fn dial(addr: &ServerAddr, send_buffer: SendBuffer) -> Result<TcpStream, ClientError> {
    let connect_err = |e: std::io::Error| ClientError::Connect {
        server: addr.id.clone(),
        source: Arc::new(e),
    };
    let resolved = tokio::net::lookup_host((addr.host.as_str(), addr.port))
        .await
        .map_err(connect_err)?;
    let mut last = None;
    for sa in resolved {
        match TcpStream::connect(sa).await {
            Ok(s) => {
                s.set_nodelay(true).map_err(connect_err)?;
                if let Err(e) = send_buffer.apply(&s, sa.ip()) {
                    tracing::debug!(server = %addr.id, "send buffer left to the kernel: {e}");
                }
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(connect_err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("`{}` resolved to no address", addr.host),
        )
    })))
}

/// Runs the client side of the handshake (docs/protocol.md, "Handshake") on a fresh stream.
async fn handshake(
    stream: &mut TcpStream,
    addr: &ServerAddr,
    config: &ValidatedConfig,
) -> Result<(Session, NodeInfo), ClientError> {
    let server = addr.id.as_str();
    let integrity = config.integrity();
    let io_err = |e: std::io::Error| ClientError::Connect {
        server: server.to_owned(),
        source: Arc::new(e),
    };
    let protocol = |detail: String| ClientError::Protocol {
        server: server.to_owned(),
        detail,
    };
    let auth = |kind| ClientError::Auth {
        server: server.to_owned(),
        kind,
    };

    let client_nonce: Nonce = rand::random();
    let hello = msg::Hello {
        client_nonce,
        features: 0,
        client_name: CLIENT_NAME,
    }
    .encode();
    let hs = Session::handshake(config.auth_key(), integrity);
    let raw = hs.seal_ctrl(&mut Header::request(Opcode::Hello, 0, now_ns()), &hello);
    let mut frame = Vec::with_capacity(HEADER_LEN + hello.len());
    frame.extend_from_slice(&raw);
    frame.extend_from_slice(&hello);
    stream.write_all(&frame).await.map_err(io_err)?;

    let mut raw = [0u8; HEADER_LEN];
    stream.read_exact(&mut raw).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            protocol(
                "the server closed the connection during the handshake (it may not be a memkv data port, or it refused this client)".into(),
            )
        } else {
            io_err(e)
        }
    })?;
    let header = match Header::decode(
        &raw,
        &Limits {
            max_body: MAX_HELLO_BODY,
        },
    ) {
        Ok(h) => h,
        Err(FrameError::UnsupportedVersion { version, .. }) => {
            return Err(auth(AuthError::UnsupportedVersion {
                client_version: memkv_proto::VERSION,
                message: format!(
                    "the server answered in protocol version {version}, which this client does not read"
                ),
            }));
        }
        Err(e) => return Err(protocol(format!("bad handshake answer: {e}"))),
    };
    if !header.response
        || header.opcode != Opcode::Hello.code()
        || header.request_id != 0
        || header.data_len != 0
    {
        return Err(protocol(
            "the handshake answer is not a Hello response".into(),
        ));
    }
    let ctrl = read_body(stream, header.ctrl_len as usize)
        .await
        .map_err(io_err)?;
    let reply = Reply {
        header,
        ctrl,
        data: bytes::Bytes::new(),
        data_crc: None,
        sent_crc: 0,
    };
    let status = reply.status();
    if status != Some(Status::Ok) {
        // Refusals: `BadMac` comes with a zero tag (no key is shared); the others are tagged
        // under the handshake key in this client's mode. They are reported, never trusted for
        // more than their explanation.
        let e = reply.error(server, integrity);
        if status == Some(Status::Busy) {
            return Err(ClientError::Server {
                server: server.to_owned(),
                status: Status::Busy,
                message: format!(
                    "{} (the server is at network.max_connections; lower num_connections or raise the server's limit)",
                    reply.message()
                ),
            });
        }
        return Err(e);
    }
    let ok: msg::HelloOk<'_> = reply.decode(server)?;
    let session = Session::derive(
        config.auth_key(),
        integrity,
        &client_nonce,
        &ok.server_nonce,
    );
    if session
        .verify(&reply.header, &raw, reply.ctrl(), &[], None)
        .is_err()
    {
        return Err(auth(AuthError::ResponseBadMac));
    }
    if ok.client_nonce != client_nonce {
        return Err(auth(AuthError::ResponseBadMac));
    }
    let info = NodeInfo::from(&ok.info);
    if let Err(d) = check_clock(header.timestamp_ns, now_ns(), ok.info.max_clock_skew_ns) {
        return Err(auth(AuthError::ClockDrift {
            ts_ns: d.ts_ns,
            window_ns: d.window_ns,
            drift_ns: d.drift_ns,
        }));
    }
    Ok((session, info))
}

/// Writes one frame: small frames as one buffer, larger ones from the caller's slices
/// (`memkv_frameio::write_sealed`).
async fn write_frame(
    w: &mut OwnedWriteHalf,
    raw: &[u8; HEADER_LEN],
    mut sealer: DataSealer,
    req: &Request<'_>,
) -> std::io::Result<()> {
    let total = HEADER_LEN + req.wire_len();
    if total <= COALESCE_LIMIT {
        let mut buf = Vec::with_capacity(total);
        buf.extend_from_slice(raw);
        buf.extend_from_slice(req.ctrl);
        for d in req.data {
            sealer.update(d);
            buf.extend_from_slice(d);
        }
        if let Some(trailer) = sealer.finish() {
            buf.extend_from_slice(&trailer);
        }
        return w.write_all(&buf).await;
    }
    write_sealed(w, [raw, req.ctrl], req.data, sealer).await
}

/// Most bytes of idle receive buffers kept by all clients of this process together.
const RECV_POOL_MAX_IDLE: usize = 64 << 20;

/// Receive buffers for large response data, shared by every connection of the process: a
/// value copied out by `get_into` gives its buffer back for the next one, instead of the
/// allocator returning it to the kernel and faulting in fresh pages (`memkv_frameio::BufPool`).
fn recv_pool() -> &'static BufPool {
    static POOL: std::sync::OnceLock<BufPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| BufPool::new(RECV_POOL_MAX_IDLE))
}

/// How the reader treats a reply's data CRC32C. The data of value-carrying replies is checked
/// by the operation, so that a damaged value is a miss rather than a broken connection: a
/// single get or chunk has its CRC computed here on the way in and compared with the trailer's
/// by the operation; a batch get's values are summed one by one by the operation, so the
/// frame's CRC is not computed at all. Every other reply is checked whole here.
fn reply_crc(opcode: u8) -> DataCrc {
    let is = |op: Opcode| op.code() == opcode;
    if is(Opcode::BatchGet) {
        DataCrc::Skip
    } else if is(Opcode::Get) || is(Opcode::GetChunk) {
        DataCrc::Report
    } else {
        DataCrc::Compute
    }
}

/// Reads response frames until the connection ends.
async fn read_loop(shared: Arc<Shared>, rd: OwnedReadHalf, limits: Limits) {
    let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
    let err = loop {
        let mut raw = [0u8; HEADER_LEN];
        if let Err(e) = rd.read_exact(&mut raw).await {
            break if e.kind() == std::io::ErrorKind::UnexpectedEof {
                shared.lost("the server closed the connection")
            } else {
                shared.lost(format!("read failed: {e}"))
            };
        }
        let header = match Header::decode(&raw, &limits) {
            Ok(h) => h,
            Err(e) => {
                break ClientError::Protocol {
                    server: shared.server.clone(),
                    detail: format!("bad response frame: {e}"),
                };
            }
        };
        if !header.response {
            break ClientError::Protocol {
                server: shared.server.clone(),
                detail: "the server sent a request frame".into(),
            };
        }
        let ctrl = match read_body(&mut rd, header.ctrl_len as usize).await {
            Ok(c) => c,
            Err(e) => break shared.lost(format!("read failed inside a frame: {e}")),
        };
        let waiter = shared.take_waiter(header.request_id);
        if let Some(Waiter::Direct(tx)) = waiter {
            match lend(&shared, rd, header, raw, ctrl, tx).await {
                Ok(back) => rd = back,
                Err(e) => break e,
            }
            continue;
        }
        let crc = reply_crc(header.opcode);
        let mut verifier = shared.session.verifier(&header, &raw, &ctrl, crc);
        let data = match read_data(
            &mut rd,
            header.data_len as usize,
            &mut verifier,
            recv_pool(),
            set_socket_low_water_eager,
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                let e = shared.lost(format!("read failed inside a frame: {e}"));
                if let Some(w) = waiter {
                    // Unhealthy before its caller wakes, whose next request must not choose
                    // this connection before the reader has ended it.
                    shared.mark_unhealthy(&e.to_string());
                    w.fail(e.clone());
                }
                break e;
            }
        };
        let result = match shared.check_reply(&header, verifier.finish()) {
            Ok(r) => r.map(|sums| Reply {
                header,
                ctrl,
                data,
                data_crc: sums.computed,
                sent_crc: sums.sent,
            }),
            Err(fatal) => {
                if let Some(w) = waiter {
                    shared.mark_unhealthy(&fatal.to_string());
                    w.fail(fatal.clone());
                }
                break fatal;
            }
        };
        if let Some(Waiter::Reply(tx)) = waiter {
            let _ = tx.send(result);
        }
    };
    shared.fail(err);
}
