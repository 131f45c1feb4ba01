//! Request handling: one function per operation, each turning a verified request into a
//! [`Response`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;
use memkv_proto::msg::{self, Message};
use memkv_proto::{Digests, Header, MAX_KEY_LEN, Opcode, Status, VERSION, crc32c, crc32c_combine};
use memkv_store::{Staged, Store, StoreError, Value, ValueDigest};

use super::Shared;
use super::conn::ConnState;
use super::streams::{Download, MAX_STREAMS, Stream, Upload};
use crate::metrics::ChecksumStage;

/// A response before sealing: status, control section and data pieces.
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: Status,
    pub(super) ctrl: Vec<u8>,
    pub(super) data: Vec<Bytes>,
    /// CRC32C of the data when already known (values carry theirs).
    pub(super) data_crc: Option<u32>,
    /// The digest of the one value of the data, when known (a stored value that kept it).
    pub(super) data_digest: Option<ValueDigest>,
}

impl Response {
    fn ok() -> Self {
        Response::with_ctrl(Status::Ok, Vec::new())
    }

    pub(super) fn with_ctrl(status: Status, ctrl: Vec<u8>) -> Self {
        Response {
            status,
            ctrl,
            data: Vec::new(),
            data_crc: None,
            data_digest: None,
        }
    }

    pub(super) fn error(status: Status, message: impl AsRef<str>) -> Self {
        Response::with_ctrl(
            status,
            msg::ErrorResp {
                message: message.as_ref(),
            }
            .encode(),
        )
    }

    pub(super) fn body_len(&self) -> usize {
        self.ctrl.len() + self.data.iter().map(Bytes::len).sum::<usize>()
    }
}

impl From<memkv_proto::DecodeError> for Response {
    fn from(e: memkv_proto::DecodeError) -> Self {
        Response::error(Status::InvalidRequest, format!("malformed request: {e}"))
    }
}

fn key_too_long(key: &[u8]) -> Option<Response> {
    (key.len() > MAX_KEY_LEN).then(|| {
        Response::error(
            Status::KeyTooLong,
            format!(
                "key is {} bytes; the limit is {MAX_KEY_LEN} bytes",
                key.len()
            ),
        )
    })
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NoSpace { .. } => Response::error(Status::NoSpace, e.to_string()),
        other => {
            tracing::error!("storage failure: {other}");
            Response::error(Status::ServerError, format!("storage failure: {other}"))
        }
    }
}

/// The node facts sent in the handshake and for `NodeInfo`.
pub(super) fn node_info<S>(shared: &Shared<S>) -> msg::NodeInfo<'_> {
    msg::NodeInfo {
        server_id: shared.server_id,
        version: VERSION,
        release: &shared.settings.release,
        storage_mode: &shared.settings.storage_mode,
        max_body: shared.settings.limits.max_body,
        max_key_len: MAX_KEY_LEN as u16,
        max_clock_skew_ns: u64::try_from(shared.settings.max_clock_skew.as_nanos())
            .unwrap_or(u64::MAX),
        capabilities: msg::SERVER_CAPABILITIES,
    }
}

/// A request's data section, as the reader read it.
#[derive(Debug)]
pub(super) enum Data {
    /// In one buffer.
    Whole(Bytes),
    /// A batch put's values, each in a buffer of its own
    /// ([`memkv_frameio::read_values`]).
    Values(Vec<Bytes>),
}

impl Data {
    /// The data in one buffer (the reader splits only batch puts).
    fn whole(self) -> Bytes {
        match self {
            Data::Whole(bytes) => bytes,
            Data::Values(values) => values.concat().into(),
        }
    }
}

/// What the reader learned about a request's data while verifying it.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    /// CRC32C of the data, when it was computed on the way in (and then found equal to
    /// `sent_crc`).
    pub(super) data_crc: Option<u32>,
    /// The CRC32C the client sent in the frame's trailer. Where the reader did not compute the
    /// data's (a batch put), the handler checks the data against it.
    pub(super) sent_crc: u32,
    /// The digests of the frame's values (`mac` mode): the store keeps them, so that the values
    /// are sent later without being hashed again (docs/protocol.md "Value digests").
    pub(super) digests: Option<Digests>,
}

impl Checked {
    /// The digest of value `i` of the frame.
    fn digest(&self, i: usize) -> Option<ValueDigest> {
        self.digests.as_ref().and_then(|d| d.get(i))
    }
}

/// A response still to come.
pub(super) type Pending = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The outcome of a request.
pub(super) enum Reply {
    /// The response.
    Now(Response),
    /// A put (or batch put) that is stored but not yet durable: its response once it is, while
    /// the connection reads its next request.
    Later(Pending),
    /// A get or batch get that needs a drive read, not yet started: the connection polls it
    /// once and, still waiting, lets it finish while it reads on (`conn::MAX_DEFERRED_READS`).
    Read(Pending),
}

/// Handles one authenticated request. `checked` carries what the reader learned about its data.
/// Puts, batch puts, gets and batch gets may be answered after the connection reads on
/// ([`Reply`]); everything else is answered before.
pub(super) async fn handle<S: Store>(
    opcode: Option<Opcode>,
    header: &Header,
    ctrl: Bytes,
    data: Data,
    checked: Checked,
    state: &mut ConnState,
    shared: &Arc<Shared<S>>,
) -> Reply {
    let Some(op) = opcode else {
        return Reply::Now(Response::error(
            Status::InvalidRequest,
            format!("unknown opcode {:#04x}", header.opcode),
        ));
    };
    let result = match op {
        Opcode::Hello => Err(Response::error(
            Status::InvalidRequest,
            "handshake already done",
        )),
        Opcode::NodeInfo => Ok(Response::with_ctrl(Status::Ok, node_info(shared).encode())),
        Opcode::Ping => Ok(Response::ok()),
        // Stored before the connection reads on, answered once durable.
        Opcode::Put => {
            return put(&ctrl, data.whole(), checked, shared)
                .await
                .unwrap_or_else(Reply::Now);
        }
        Opcode::Get => {
            if let Some(answer) = get_at_hand(&ctrl, shared) {
                return Reply::Now(answer.unwrap_or_else(|e| e));
            }
            let shared = Arc::clone(shared);
            return Reply::Read(Box::pin(async move {
                get(&ctrl, &shared).await.unwrap_or_else(|e| e)
            }));
        }
        Opcode::Delete => delete(&ctrl, shared).await,
        Opcode::Stat => stat(&ctrl, shared).await,
        Opcode::Exists => exists(&ctrl, shared).await,
        // Stored before the connection reads on, answered once every value is durable.
        Opcode::BatchPut => {
            let sent = (!header.crc_by_receiver).then_some(checked.sent_crc);
            return batch_put(&ctrl, data, sent, &checked, shared)
                .await
                .unwrap_or_else(Reply::Now);
        }
        Opcode::BatchGet => return batch_get(ctrl, shared),
        Opcode::PutBegin => put_begin(&ctrl, state, shared),
        Opcode::PutChunk => put_chunk(&ctrl, &data.whole(), state),
        Opcode::PutCommit => put_commit(&ctrl, state, shared).await,
        Opcode::PutAbort | Opcode::GetEnd => stream_end(&ctrl, state),
        Opcode::GetBegin => get_begin(&ctrl, state, shared).await,
        Opcode::GetChunk => get_chunk(&ctrl, state, shared),
        Opcode::ReportDamaged => report_damaged(&ctrl, shared).await,
        Opcode::Connect
        | Opcode::Allocate
        | Opcode::Commit
        | Opcode::Lookup
        | Opcode::Release
        | Opcode::BatchRead
        | Opcode::BatchWrite => Err(Response::error(
            Status::Unsupported,
            format!(
                "`{op}` needs a shared-memory or RDMA data path, which this server does not offer; use the TCP operations"
            ),
        )),
    };
    Reply::Now(result.unwrap_or_else(|e| e))
}

type Handled = Result<Response, Response>;

/// A put: stored before the connection reads on; answered once durable (`Store::put_staged`),
/// or, where the engine cannot stage it, stored and made durable before answering.
async fn put<S: Store>(
    ctrl: &[u8],
    data: Bytes,
    checked: Checked,
    shared: &Shared<S>,
) -> Result<Reply, Response> {
    let req: msg::PutReq = msg::decode(ctrl)?;
    if let Some(e) = key_too_long(req.key) {
        return Err(e);
    }
    // Computed while the data arrived and checked against the CRC32C the client computed as it
    // sent the value (the frame's trailer); the store keeps it with the value.
    let crc = checked.data_crc.unwrap_or_else(|| crc32c(&data));
    if crc != checked.sent_crc {
        shared.metrics.checksum_failure(ChecksumStage::Put);
        return Err(Response::error(
            Status::ChecksumMismatch,
            "value bytes do not match the CRC32C sent with them: damaged before or in transit",
        ));
    }
    let value = Value {
        data,
        crc,
        digest: checked.digest(0),
    };
    let value = match shared.store.put_staged(req.key, value) {
        Staged::Stored(staged) => {
            let durable = staged.map_err(store_error)?;
            if durable.is_done() {
                return Ok(Reply::Now(Response::ok()));
            }
            return Ok(Reply::Later(Box::pin(async move {
                match durable.wait().await {
                    Ok(()) => Response::ok(),
                    Err(e) => store_error(e),
                }
            })));
        }
        // Not stageable (a striped value): stored and made durable now.
        Staged::Unstaged(value) => value,
    };
    shared
        .store
        .put(req.key, value)
        .await
        .map_err(store_error)?;
    Ok(Reply::Now(Response::ok()))
}

/// The key of a get, checked.
fn get_key(ctrl: &[u8]) -> Result<&[u8], Response> {
    let req: msg::KeyReq = msg::decode(ctrl)?;
    match key_too_long(req.key) {
        Some(e) => Err(e),
        None => Ok(req.key),
    }
}

/// A get answered from what the store holds in RAM (`Store::get_unchecked_at_hand`); `None`
/// when it needs a drive read, which [`get`] then does.
fn get_at_hand<S: Store>(ctrl: &[u8], shared: &Shared<S>) -> Option<Handled> {
    let key = match get_key(ctrl) {
        Ok(key) => key,
        Err(e) => return Some(Err(e)),
    };
    let found = shared.store.get_unchecked_at_hand(key)?;
    Some(get_answer(found, shared))
}

async fn get<S: Store>(ctrl: &[u8], shared: &Shared<S>) -> Handled {
    let key = get_key(ctrl)?;
    get_answer(shared.store.get_unchecked(key).await, shared)
}

/// The response to a get that found `found`.
fn get_answer<S>(found: Result<Option<Value>, StoreError>, shared: &Shared<S>) -> Handled {
    let Some(value) = found.map_err(store_error)? else {
        return Err(Response::error(Status::NotFound, "key not found"));
    };
    let meta = msg::ValueMeta {
        len: value.data.len() as u64,
        crc: value.crc,
    }
    .encode();
    if (meta.len() + value.data.len()) as u64 > u64::from(shared.settings.limits.max_body) {
        // The client switches to a chunked download (whose chunks come from `get`, checked).
        return Err(Response::with_ctrl(Status::PayloadTooLarge, meta));
    }
    Ok(Response {
        status: Status::Ok,
        ctrl: meta,
        data_crc: Some(value.crc),
        data_digest: value.digest,
        data: vec![value.data],
    })
}

/// A client received bytes of `key` that did not match the value's CRC32C: check the stored
/// copy (a checked `get` drops a damaged value and counts it) and answer `Ok` either way. A
/// report can only make the server look; it never drops a value whose bytes are intact.
async fn report_damaged<S: Store>(ctrl: &[u8], shared: &Shared<S>) -> Handled {
    let req: msg::KeyReq = msg::decode(ctrl)?;
    if let Some(e) = key_too_long(req.key) {
        return Err(e);
    }
    shared.store.get(req.key).await.map_err(store_error)?;
    Ok(Response::ok())
}

async fn delete<S: Store>(ctrl: &[u8], shared: &Shared<S>) -> Handled {
    let req: msg::KeyReq = msg::decode(ctrl)?;
    if let Some(e) = key_too_long(req.key) {
        return Err(e);
    }
    if shared.store.delete(req.key).await.map_err(store_error)? {
        Ok(Response::ok())
    } else {
        Err(Response::error(Status::NotFound, "key not found"))
    }
}

async fn stat<S: Store>(ctrl: &[u8], shared: &Shared<S>) -> Handled {
    let req: msg::KeyReq = msg::decode(ctrl)?;
    if let Some(e) = key_too_long(req.key) {
        return Err(e);
    }
    match shared.store.stat(req.key).await.map_err(store_error)? {
        Some(m) => Ok(Response::with_ctrl(
            Status::Ok,
            msg::ValueMeta {
                len: m.len,
                crc: m.crc,
            }
            .encode(),
        )),
        None => Err(Response::error(Status::NotFound, "key not found")),
    }
}

async fn exists<S: Store>(ctrl: &[u8], shared: &Shared<S>) -> Handled {
    let req: msg::KeyList = msg::decode(ctrl)?;
    if let Some(e) = req.keys.iter().find_map(|k| key_too_long(k)) {
        return Err(e);
    }
    let bits = shared.store.exists(&req.keys).await.map_err(store_error)?;
    Ok(Response::with_ctrl(
        Status::Ok,
        msg::Bitmap { bits }.encode(),
    ))
}

/// A batch put. `sent_crc` is the frame's CRC32C as the client sent it; `None` when the client
/// left the CRC32Cs to the server (MAC modes), whose items then carry none either.
///
/// Every value is stored before the connection reads on (`Store::put_staged`), and the batch
/// is answered once all of them are durable: a disk store's group commit then syncs the whole
/// batch together, instead of one sync per value.
async fn batch_put<S: Store>(
    ctrl: &[u8],
    data: Data,
    sent_crc: Option<u32>,
    checked: &Checked,
    shared: &Shared<S>,
) -> Result<Reply, Response> {
    let req: msg::BatchPutReq = msg::decode(ctrl)?;
    // The reader splits the data at the listed lengths when they add up to what the frame
    // carries (`conn::batch_value_lens`); when they do not, it hands the data over whole.
    let values = match data {
        Data::Values(values) => values,
        Data::Whole(bytes) => {
            let total: u64 = req.items.iter().map(|it| u64::from(it.len)).sum();
            return Err(Response::error(
                Status::InvalidRequest,
                format!(
                    "batch put lists {total} value bytes but carries {}",
                    bytes.len()
                ),
            ));
        }
    };
    debug_assert!(
        values.len() == req.items.len()
            && req
                .items
                .iter()
                .zip(&values)
                .all(|(it, v)| it.len as usize == v.len()),
        "the reader split the values at the listed lengths"
    );
    // One pass over each value computes its CRC32C (a small value is still in cache from its
    // read); together they rebuild the frame's CRC.
    let mut frame_crc = 0u32;
    let values: Vec<(Bytes, u32)> = values
        .into_iter()
        .map(|bytes| {
            let crc = crc32c(&bytes);
            if sent_crc.is_some() {
                frame_crc = crc32c_combine(frame_crc, crc, bytes.len());
            }
            (bytes, crc)
        })
        .collect();
    if sent_crc.is_some_and(|sent| sent != frame_crc) {
        shared.metrics.checksum_failure(ChecksumStage::Put);
        return Err(Response::error(
            Status::ChecksumMismatch,
            "batch payload does not match its CRC32C: damaged in transit",
        ));
    }
    let mut statuses = Vec::with_capacity(req.items.len());
    // Items stored but not yet durable: their index in `statuses` and what to wait for.
    let mut pending = Vec::new();
    for (i, (it, (bytes, crc))) in req.items.iter().zip(values).enumerate() {
        let status = if it.key.len() > MAX_KEY_LEN {
            Status::KeyTooLong
        } else if sent_crc.is_some() && crc != it.crc {
            shared.metrics.checksum_failure(ChecksumStage::Put);
            Status::ChecksumMismatch
        } else {
            let value = Value {
                data: bytes,
                crc,
                digest: checked.digest(i),
            };
            match shared.store.put_staged(it.key, value) {
                Staged::Stored(Ok(durable)) => {
                    if !durable.is_done() {
                        pending.push((statuses.len(), durable));
                    }
                    Status::Ok
                }
                Staged::Stored(Err(e)) => item_status(e),
                // Not stageable (a striped value): stored and made durable now.
                Staged::Unstaged(value) => match shared.store.put(it.key, value).await {
                    Ok(()) => Status::Ok,
                    Err(e) => item_status(e),
                },
            }
        };
        statuses.push(status.code());
    }
    let answer =
        |statuses: Vec<u16>| Response::with_ctrl(Status::Ok, msg::StatusList { statuses }.encode());
    if pending.is_empty() {
        return Ok(Reply::Now(answer(statuses)));
    }
    Ok(Reply::Later(Box::pin(async move {
        for (index, durable) in pending {
            if let Err(e) = durable.wait().await {
                statuses[index] = item_status(e).code();
            }
        }
        answer(statuses)
    })))
}

/// The status of one item of a batch whose store call failed.
fn item_status(e: StoreError) -> Status {
    match e {
        StoreError::NoSpace { .. } => Status::NoSpace,
        e => {
            tracing::error!("storage failure: {e}");
            Status::ServerError
        }
    }
}

/// A batch get: the values the store has at hand (`Store::get_unchecked_at_hand`), and when
/// that is all of them, the answer now; otherwise the rest are looked up together, so a disk
/// store reads the values that are not in its cache side by side (one queue of reads for the
/// drive), and each key is looked up once.
fn batch_get<S: Store>(ctrl: Bytes, shared: &Arc<Shared<S>>) -> Reply {
    let mut found: Vec<_> = match batch_get_keys(&ctrl) {
        Ok(req) => req
            .keys
            .iter()
            .map(|key| shared.store.get_unchecked_at_hand(key))
            .collect(),
        Err(e) => return Reply::Now(e),
    };
    if found.iter().all(Option::is_some) {
        return Reply::Now(batch_get_answer(all_found(found), shared).unwrap_or_else(|e| e));
    }
    let shared = Arc::clone(shared);
    Reply::Read(Box::pin(async move {
        let answer = async {
            let req = batch_get_keys(&ctrl)?;
            let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
            let read = join_all(
                missing
                    .iter()
                    .map(|&i| shared.store.get_unchecked(req.keys[i])),
            );
            for (i, got) in missing.into_iter().zip(read.await) {
                found[i] = Some(got);
            }
            batch_get_answer(all_found(found), &shared)
        };
        answer.await.unwrap_or_else(|e| e)
    }))
}

/// The lookups of a batch get once every key has one (`flatten` alone would give `collect` no
/// size to allocate for, and the vector would grow value by value).
fn all_found<T>(found: Vec<Option<T>>) -> Vec<T> {
    let mut all = Vec::with_capacity(found.len());
    all.extend(found.into_iter().flatten());
    all
}

/// The keys of a batch get, checked.
fn batch_get_keys(ctrl: &[u8]) -> Result<msg::KeyList<'_>, Response> {
    let req: msg::KeyList = msg::decode(ctrl)?;
    if let Some(e) = req.keys.iter().find_map(|k| key_too_long(k)) {
        return Err(e);
    }
    Ok(req)
}

/// The response to a batch get that found `found`, one per key, in order.
fn batch_get_answer<S>(
    found: Vec<Result<Option<Value>, StoreError>>,
    shared: &Shared<S>,
) -> Handled {
    let keys = found.len();
    let ctrl_len = msg::batch_get_resp_encoded_len(keys);
    let mut room = (shared.settings.limits.max_body as usize).saturating_sub(ctrl_len);
    let mut items = Vec::with_capacity(keys);
    let mut data = Vec::with_capacity(keys);
    let mut frame_crc = 0u32;
    for got in found {
        let item = match got.map_err(store_error)? {
            None => msg::BatchGetItem {
                status: Status::NotFound.code(),
                len: 0,
                crc: 0,
            },
            Some(v) if v.data.len() > room => msg::BatchGetItem {
                status: Status::PayloadTooLarge.code(),
                len: v.data.len() as u64,
                crc: v.crc,
            },
            Some(v) => {
                room -= v.data.len();
                frame_crc = crc32c_combine(frame_crc, v.crc, v.data.len());
                let item = msg::BatchGetItem {
                    status: Status::Ok.code(),
                    len: v.data.len() as u64,
                    crc: v.crc,
                };
                data.push(v.data);
                item
            }
        };
        items.push(item);
    }
    Ok(Response {
        status: Status::Ok,
        ctrl: msg::BatchGetResp { items }.encode(),
        data,
        data_crc: Some(frame_crc),
        // Hashed as they are sent: a value damaged in RAM then fails only its own CRC32C,
        // where a frame tagged with kept digests would fail as a whole.
        data_digest: None,
    })
}

fn put_begin<S: Store>(ctrl: &[u8], state: &mut ConnState, shared: &Shared<S>) -> Handled {
    let req: msg::PutBeginReq = msg::decode(ctrl)?;
    if let Some(e) = key_too_long(req.key) {
        return Err(e);
    }
    let usable = shared.store.stats().usable_bytes;
    if req.total_len > usable {
        return Err(Response::error(
            Status::NoSpace,
            format!(
                "value of {} bytes is larger than this server's usable capacity of {usable} bytes",
                req.total_len
            ),
        ));
    }
    let len = usize::try_from(req.total_len).map_err(|_| {
        Response::error(
            Status::PayloadTooLarge,
            "value length does not fit in memory",
        )
    })?;
    let upload = Upload {
        key: req.key.to_vec(),
        total_len: req.total_len,
        crc: req.value_crc,
        buf: BytesMut::with_capacity(len),
    };
    match state.streams.open(Stream::Upload(upload)) {
        Some(stream) => Ok(Response::with_ctrl(
            Status::Ok,
            msg::StreamRef { stream }.encode(),
        )),
        None => Err(too_many_streams()),
    }
}

fn too_many_streams() -> Response {
    Response::error(
        Status::Busy,
        format!(
            "this connection already has {MAX_STREAMS} open streams; finish or abort one first"
        ),
    )
}

fn unknown_stream(id: u64) -> Response {
    Response::error(
        Status::UnknownStream,
        format!("stream {id} is not open on this connection"),
    )
}

fn put_chunk(ctrl: &[u8], data: &[u8], state: &mut ConnState) -> Handled {
    let req: msg::ChunkReq = msg::decode(ctrl)?;
    let Some(Stream::Upload(up)) = state.streams.get_mut(req.stream) else {
        return Err(unknown_stream(req.stream));
    };
    let expected = up.buf.len() as u64;
    if req.offset != expected || expected + data.len() as u64 > up.total_len {
        let msg = format!(
            "chunk at offset {} with {} bytes does not continue the upload (next offset {expected}, total {})",
            req.offset,
            data.len(),
            up.total_len
        );
        state.streams.close(req.stream);
        return Err(Response::error(Status::InvalidRequest, msg));
    }
    up.buf.extend_from_slice(data);
    Ok(Response::ok())
}

async fn put_commit<S: Store>(ctrl: &[u8], state: &mut ConnState, shared: &Shared<S>) -> Handled {
    let req: msg::StreamRef = msg::decode(ctrl)?;
    let Some(Stream::Upload(up)) = state.streams.close(req.stream) else {
        return Err(unknown_stream(req.stream));
    };
    if up.buf.len() as u64 != up.total_len {
        return Err(Response::error(
            Status::InvalidRequest,
            format!(
                "upload committed after {} of {} bytes",
                up.buf.len(),
                up.total_len
            ),
        ));
    }
    let data = up.buf.freeze();
    if crc32c(&data) != up.crc {
        shared.metrics.checksum_failure(ChecksumStage::Put);
        return Err(Response::error(
            Status::ChecksumMismatch,
            "uploaded bytes do not match the CRC32C sent with PutBegin",
        ));
    }
    shared
        .store
        .put(
            &up.key,
            Value {
                data,
                crc: up.crc,
                digest: None,
            },
        )
        .await
        .map_err(store_error)?;
    Ok(Response::ok())
}

fn stream_end(ctrl: &[u8], state: &mut ConnState) -> Handled {
    let req: msg::StreamRef = msg::decode(ctrl)?;
    match state.streams.close(req.stream) {
        Some(_) => Ok(Response::ok()),
        None => Err(unknown_stream(req.stream)),
    }
}

async fn get_begin<S: Store>(ctrl: &[u8], state: &mut ConnState, shared: &Shared<S>) -> Handled {
    let req: msg::KeyReq = msg::decode(ctrl)?;
    if let Some(e) = key_too_long(req.key) {
        return Err(e);
    }
    let Some(value) = shared.store.get(req.key).await.map_err(store_error)? else {
        return Err(Response::error(Status::NotFound, "key not found"));
    };
    let (len, crc) = (value.data.len() as u64, value.crc);
    match state.streams.open(Stream::Download(Download { value })) {
        Some(stream) => Ok(Response::with_ctrl(
            Status::Ok,
            msg::GetBeginResp { stream, len, crc }.encode(),
        )),
        None => Err(too_many_streams()),
    }
}

fn get_chunk<S>(ctrl: &[u8], state: &mut ConnState, shared: &Shared<S>) -> Handled {
    let req: msg::GetChunkReq = msg::decode(ctrl)?;
    let max = shared.settings.limits.max_body;
    if req.len > max {
        return Err(Response::error(
            Status::PayloadTooLarge,
            format!(
                "chunk of {} bytes asked; this server's frame limit is {max} bytes",
                req.len
            ),
        ));
    }
    let Some(Stream::Download(down)) = state.streams.get_mut(req.stream) else {
        return Err(unknown_stream(req.stream));
    };
    let total = down.value.data.len() as u64;
    let end = req.offset.saturating_add(u64::from(req.len));
    if end > total {
        return Err(Response::error(
            Status::InvalidRequest,
            format!(
                "chunk {}..{end} is outside the value's {total} bytes",
                req.offset
            ),
        ));
    }
    let chunk = down.value.data.slice(req.offset as usize..end as usize);
    Ok(Response {
        status: Status::Ok,
        ctrl: Vec::new(),
        data: vec![chunk],
        data_crc: None,
        data_digest: None,
    })
}

#[cfg(test)]
mod tests;
