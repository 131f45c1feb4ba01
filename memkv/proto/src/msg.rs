//! Control-section messages, one type per shape, with their encodings.
//!
//! Which message travels with which opcode is listed in `docs/protocol.md`; in short:
//!
//! | opcode                         | request ctrl     | request data     | response ctrl (Ok) | response data |
//! |--------------------------------|------------------|------------------|--------------------|---------------|
//! | Hello                          | [`Hello`]        | -                | [`HelloOk`]        | -             |
//! | NodeInfo                       | -                | -                | [`NodeInfo`]       | -             |
//! | Put                            | [`PutReq`]       | value            | -                  | -             |
//! | Get                            | [`KeyReq`]       | -                | [`ValueMeta`]      | value         |
//! | Delete                         | [`KeyReq`]       | -                | -                  | -             |
//! | Stat                           | [`KeyReq`]       | -                | [`ValueMeta`]      | -             |
//! | Exists                         | [`KeyList`]      | -                | [`Bitmap`]         | -             |
//! | BatchPut                       | [`BatchPutReq`]  | values, in order | [`StatusList`]     | -             |
//! | BatchGet                       | [`KeyList`]      | -                | [`BatchGetResp`]   | found values  |
//! | PutBegin                       | [`PutBeginReq`]  | -                | [`StreamRef`]      | -             |
//! | PutChunk                       | [`ChunkReq`]     | chunk            | -                  | -             |
//! | PutCommit, PutAbort, GetEnd    | [`StreamRef`]    | -                | -                  | -             |
//! | GetBegin                       | [`KeyReq`]       | -                | [`GetBeginResp`]   | -             |
//! | GetChunk                       | [`GetChunkReq`]  | -                | -                  | chunk         |
//! | Allocate                       | [`AllocateReq`]  | -                | [`AllocateResp`]   | -             |
//! | Commit, Release                | [`HandleRef`]    | -                | -                  | -             |
//! | Lookup                         | [`KeyReq`]       | -                | [`LookupResp`]     | -             |
//! | BatchRead                      | [`BatchReadReq`] | -                | [`StatusList`]     | -             |
//! | BatchWrite                     | [`BatchWriteReq`]| -                | [`StatusList`]     | -             |
//!
//! Any response whose status is not `Ok` carries an [`ErrorResp`] (a `ClockDrift` response
//! carries a [`ClockDriftResp`]).

use crate::auth::{NONCE_LEN, Nonce};
use crate::codec::{DecodeError, Decoder, Encoder};

/// A control-section message.
pub trait Message<'a>: Sized {
    /// Appends the encoding.
    fn encode_into(&self, e: &mut Encoder);
    /// Reads one message; trailing bytes are checked by [`decode`].
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError>;

    /// Bytes to allocate for the encoding: exact for the lists that batches send, so that
    /// encoding one does not grow its buffer step by step; a small guess for the rest.
    fn encoded_len_hint(&self) -> usize {
        64
    }

    /// The encoding as a new buffer.
    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut e);
        e.finish()
    }
}

/// Decodes exactly one message from `bytes`.
pub fn decode<'a, M: Message<'a>>(bytes: &'a [u8]) -> Result<M, DecodeError> {
    let mut d = Decoder::new(bytes);
    let m = M::decode_from(&mut d)?;
    d.finish()?;
    Ok(m)
}

fn nonce(d: &mut Decoder<'_>, what: &'static str) -> Result<Nonce, DecodeError> {
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(d.raw(NONCE_LEN, what)?);
    Ok(n)
}

/// Client's first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello<'a> {
    /// Fresh random nonce of the client.
    pub client_nonce: Nonce,
    /// Capability bits the client understands (none defined yet).
    pub features: u64,
    /// Free-form client identification for logs (`memkv-client/RELEASE...`).
    pub client_name: &'a str,
}

impl<'a> Message<'a> for Hello<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(&self.client_nonce)
            .u64(self.features)
            .str(self.client_name);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(Hello {
            client_nonce: nonce(d, "client nonce")?,
            features: d.u64("features")?,
            client_name: d.str("client name")?,
        })
    }
}

/// Facts about a server that a client adapts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo<'a> {
    /// Random id chosen at server start (a restart is visible as a new id).
    pub server_id: [u8; 16],
    /// Protocol version of the server.
    pub version: u16,
    /// Release tag of the server build.
    pub release: &'a str,
    /// `memory`, `file` or `direct`.
    pub storage_mode: &'a str,
    /// Largest `ctrl_len + data_len` the server accepts.
    pub max_body: u32,
    /// Longest key.
    pub max_key_len: u16,
    /// Allowed clock skew.
    pub max_clock_skew_ns: u64,
    /// Capability bits: [`CAP_CRC_BY_RECEIVER`]. A client uses a capability only where the
    /// server advertises it, so newer clients keep working with older servers.
    pub capabilities: u64,
}

/// Capability: the server accepts requests that leave their data's CRC32C to it
/// ([`crate::SendCrc::ByReceiver`]) in the MAC modes.
pub const CAP_CRC_BY_RECEIVER: u64 = 1 << 0;

/// Every capability this build's server advertises.
pub const SERVER_CAPABILITIES: u64 = CAP_CRC_BY_RECEIVER;

impl<'a> Message<'a> for NodeInfo<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(&self.server_id)
            .u16(self.version)
            .str(self.release)
            .str(self.storage_mode)
            .u32(self.max_body)
            .u16(self.max_key_len)
            .u64(self.max_clock_skew_ns)
            .u64(self.capabilities);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(NodeInfo {
            server_id: nonce(d, "server id")?,
            version: d.u16("version")?,
            release: d.str("release")?,
            storage_mode: d.str("storage mode")?,
            max_body: d.u32("max body")?,
            max_key_len: d.u16("max key length")?,
            max_clock_skew_ns: d.u64("max clock skew")?,
            capabilities: d.u64("capabilities")?,
        })
    }
}

/// Server's answer to [`Hello`]. Tagged with the derived session key, which proves the server
/// holds the auth key and binds the answer to the client's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloOk<'a> {
    /// Fresh random nonce of the server.
    pub server_nonce: Nonce,
    /// The client's nonce, echoed.
    pub client_nonce: Nonce,
    /// Server facts.
    pub info: NodeInfo<'a>,
}

impl<'a> Message<'a> for HelloOk<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.raw(&self.server_nonce).raw(&self.client_nonce);
        self.info.encode_into(e);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(HelloOk {
            server_nonce: nonce(d, "server nonce")?,
            client_nonce: nonce(d, "client nonce")?,
            info: NodeInfo::decode_from(d)?,
        })
    }
}

/// A request naming one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReq<'a> {
    /// The key.
    pub key: &'a [u8],
}

impl<'a> Message<'a> for KeyReq<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.key(self.key);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(KeyReq { key: d.key()? })
    }
}

/// Put one value; the value is the data section. Its CRC32C, which the server keeps with it,
/// is the one in the frame's trailer: the client computes it while it sends the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutReq<'a> {
    /// The key.
    pub key: &'a [u8],
}

impl<'a> Message<'a> for PutReq<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.key(self.key);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(PutReq { key: d.key()? })
    }
}

/// Length and checksum of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueMeta {
    /// Value length in bytes.
    pub len: u64,
    /// CRC32C of the value.
    pub crc: u32,
}

impl<'a> Message<'a> for ValueMeta {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.len).u32(self.crc);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(ValueMeta {
            len: d.u64("value length")?,
            crc: d.u32("value crc")?,
        })
    }
}

/// A list of keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyList<'a> {
    /// The keys, in request order.
    pub keys: Vec<&'a [u8]>,
}

impl<'a> Message<'a> for KeyList<'a> {
    fn encoded_len_hint(&self) -> usize {
        4 + self.keys.iter().map(|k| key_encoded_len(k)).sum::<usize>()
    }
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.keys.len()).expect("key count fits in u32"));
        for k in &self.keys {
            e.key(k);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = d.count(2, "key count")?;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push(d.key()?);
        }
        Ok(KeyList { keys })
    }
}

/// Encoded size of a key inside a [`KeyList`] or other list.
pub fn key_encoded_len(key: &[u8]) -> usize {
    2 + key.len()
}

/// One bit per key, in request order (bit `i % 8` of byte `i / 8`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitmap {
    /// The bits, expanded.
    pub bits: Vec<bool>,
}

impl<'a> Message<'a> for Bitmap {
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.bits.len()).expect("bit count fits in u32"));
        for chunk in self.bits.chunks(8) {
            let byte = chunk
                .iter()
                .enumerate()
                .fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << i));
            e.u8(byte);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n =
            usize::try_from(d.u32("bit count")?).map_err(|_| DecodeError::Invalid("bit count"))?;
        let bytes = d.raw(n.div_ceil(8), "bitmap")?;
        Ok(Bitmap {
            bits: (0..n).map(|i| bytes[i / 8] & (1 << (i % 8)) != 0).collect(),
        })
    }
}

/// One value of a batch put; the values follow each other in the data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPutItem<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Length of this value in the data section.
    pub len: u32,
    /// CRC32C of this value.
    pub crc: u32,
}

/// Many puts in one frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchPutReq<'a> {
    /// The items, in data-section order.
    pub items: Vec<BatchPutItem<'a>>,
}

/// Encoded size of one [`BatchPutItem`].
pub fn batch_put_item_encoded_len(key: &[u8]) -> usize {
    2 + key.len() + 8
}

impl<'a> Message<'a> for BatchPutReq<'a> {
    fn encoded_len_hint(&self) -> usize {
        4 + self
            .items
            .iter()
            .map(|i| batch_put_item_encoded_len(i.key))
            .sum::<usize>()
    }
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.items.len()).expect("item count fits in u32"));
        for it in &self.items {
            e.key(it.key).u32(it.len).u32(it.crc);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = d.count(10, "item count")?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(BatchPutItem {
                key: d.key()?,
                len: d.u32("value length")?,
                crc: d.u32("value crc")?,
            });
        }
        Ok(BatchPutReq { items })
    }
}

/// One status per item, in request order (raw codes; see [`crate::Status::from_code`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusList {
    /// Status codes.
    pub statuses: Vec<u16>,
}

impl<'a> Message<'a> for StatusList {
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.statuses.len()).expect("status count fits in u32"));
        for s in &self.statuses {
            e.u16(*s);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = d.count(2, "status count")?;
        let mut statuses = Vec::with_capacity(n);
        for _ in 0..n {
            statuses.push(d.u16("status")?);
        }
        Ok(StatusList { statuses })
    }
}

/// One key's outcome in a batch get. Only `Ok` items have bytes in the data section, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchGetItem {
    /// `Ok`, `NotFound`, or `PayloadTooLarge` (did not fit in this frame: fetch it on its own).
    pub status: u16,
    /// Value length (0 unless `Ok`, except `PayloadTooLarge`, which reports the length).
    pub len: u64,
    /// CRC32C of the value.
    pub crc: u32,
}

/// Batch get answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchGetResp {
    /// One item per requested key, in request order.
    pub items: Vec<BatchGetItem>,
}

/// Encoded size of one [`BatchGetItem`].
pub const BATCH_GET_ITEM_LEN: usize = 14;

/// Encoded size of a [`BatchGetResp`] of `items` items.
pub fn batch_get_resp_encoded_len(items: usize) -> usize {
    4 + items * BATCH_GET_ITEM_LEN
}

impl<'a> Message<'a> for BatchGetResp {
    fn encoded_len_hint(&self) -> usize {
        batch_get_resp_encoded_len(self.items.len())
    }
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.items.len()).expect("item count fits in u32"));
        for it in &self.items {
            e.u16(it.status).u64(it.len).u32(it.crc);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = d.count(BATCH_GET_ITEM_LEN, "item count")?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(BatchGetItem {
                status: d.u16("status")?,
                len: d.u64("length")?,
                crc: d.u32("crc")?,
            });
        }
        Ok(BatchGetResp { items })
    }
}

/// Opens a chunked upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutBeginReq<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Total value length.
    pub total_len: u64,
    /// CRC32C of the whole value.
    pub value_crc: u32,
}

impl<'a> Message<'a> for PutBeginReq<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.key(self.key).u64(self.total_len).u32(self.value_crc);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(PutBeginReq {
            key: d.key()?,
            total_len: d.u64("total length")?,
            value_crc: d.u32("value crc")?,
        })
    }
}

/// Names an open stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRef {
    /// Stream id assigned by the server.
    pub stream: u64,
}

impl<'a> Message<'a> for StreamRef {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.stream);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(StreamRef {
            stream: d.u64("stream id")?,
        })
    }
}

/// One chunk of an upload; the bytes are the data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkReq {
    /// Stream id.
    pub stream: u64,
    /// Offset of the chunk in the value.
    pub offset: u64,
}

impl<'a> Message<'a> for ChunkReq {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.stream).u64(self.offset);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(ChunkReq {
            stream: d.u64("stream id")?,
            offset: d.u64("offset")?,
        })
    }
}

/// A pinned value ready for chunked download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetBeginResp {
    /// Stream id.
    pub stream: u64,
    /// Total value length.
    pub len: u64,
    /// CRC32C of the whole value.
    pub crc: u32,
}

impl<'a> Message<'a> for GetBeginResp {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.stream).u64(self.len).u32(self.crc);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(GetBeginResp {
            stream: d.u64("stream id")?,
            len: d.u64("length")?,
            crc: d.u32("crc")?,
        })
    }
}

/// Asks for one chunk of a pinned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetChunkReq {
    /// Stream id.
    pub stream: u64,
    /// Offset in the value.
    pub offset: u64,
    /// Bytes wanted.
    pub len: u32,
}

impl<'a> Message<'a> for GetChunkReq {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.stream).u64(self.offset).u32(self.len);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(GetChunkReq {
            stream: d.u64("stream id")?,
            offset: d.u64("offset")?,
            len: d.u32("length")?,
        })
    }
}

/// Human-readable detail of a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorResp<'a> {
    /// What failed and what to do about it.
    pub message: &'a str,
}

impl<'a> Message<'a> for ErrorResp<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.str(self.message);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(ErrorResp {
            message: d.str("message")?,
        })
    }
}

/// Detail of a `ClockDrift` refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockDriftResp<'a> {
    /// The refused frame's timestamp.
    pub ts_ns: u64,
    /// The allowed window.
    pub window_ns: u64,
    /// Frame time minus server time.
    pub drift_ns: i64,
    /// Human-readable message.
    pub message: &'a str,
}

impl<'a> Message<'a> for ClockDriftResp<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.ts_ns)
            .u64(self.window_ns)
            .i64(self.drift_ns)
            .str(self.message);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(ClockDriftResp {
            ts_ns: d.u64("timestamp")?,
            window_ns: d.u64("window")?,
            drift_ns: d.i64("drift")?,
            message: d.str("message")?,
        })
    }
}

/// A memory region one side of a one-sided transfer can address: a shared-memory segment or an
/// RDMA memory region, and a window in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRegion {
    /// Region id (shared-memory segment index or registration id).
    pub region: u32,
    /// Remote key (RDMA) or zero.
    pub rkey: u32,
    /// Start address or offset.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Encoded size of a [`MemRegion`].
pub const MEM_REGION_LEN: usize = 24;

impl<'a> Message<'a> for MemRegion {
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(self.region)
            .u32(self.rkey)
            .u64(self.addr)
            .u64(self.len);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(MemRegion {
            region: d.u32("region")?,
            rkey: d.u32("rkey")?,
            addr: d.u64("addr")?,
            len: d.u64("len")?,
        })
    }
}

/// One-sided write, step 1: reserve room for a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocateReq<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Value length.
    pub len: u64,
    /// CRC32C of the value the client will write.
    pub crc: u32,
}

impl<'a> Message<'a> for AllocateReq<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.key(self.key).u64(self.len).u32(self.crc);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(AllocateReq {
            key: d.key()?,
            len: d.u64("length")?,
            crc: d.u32("crc")?,
        })
    }
}

/// Where to write an allocated value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocateResp {
    /// Allocation handle for [`HandleRef`] (Commit).
    pub handle: u64,
    /// Server region to write into.
    pub region: MemRegion,
}

impl<'a> Message<'a> for AllocateResp {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.handle);
        self.region.encode_into(e);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(AllocateResp {
            handle: d.u64("handle")?,
            region: MemRegion::decode_from(d)?,
        })
    }
}

/// Names an allocation or lookup pin (Commit, Release).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleRef {
    /// The handle.
    pub handle: u64,
}

impl<'a> Message<'a> for HandleRef {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.handle);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(HandleRef {
            handle: d.u64("handle")?,
        })
    }
}

/// Where to read a looked-up value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupResp {
    /// Pin handle for Release.
    pub handle: u64,
    /// Server region holding the value.
    pub region: MemRegion,
    /// Value length.
    pub len: u64,
    /// CRC32C of the value.
    pub crc: u32,
}

impl<'a> Message<'a> for LookupResp {
    fn encode_into(&self, e: &mut Encoder) {
        e.u64(self.handle);
        self.region.encode_into(e);
        e.u64(self.len).u32(self.crc);
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(LookupResp {
            handle: d.u64("handle")?,
            region: MemRegion::decode_from(d)?,
            len: d.u64("length")?,
            crc: d.u32("crc")?,
        })
    }
}

/// Server-driven batch read into client regions (full-length-or-miss per item).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchReadReq<'a> {
    /// Keys and their destinations.
    pub items: Vec<(&'a [u8], MemRegion)>,
}

impl<'a> Message<'a> for BatchReadReq<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.items.len()).expect("item count fits in u32"));
        for (k, r) in &self.items {
            e.key(k);
            r.encode_into(e);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = d.count(2 + MEM_REGION_LEN, "item count")?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push((d.key()?, MemRegion::decode_from(d)?));
        }
        Ok(BatchReadReq { items })
    }
}

/// Server-driven batch write from client regions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchWriteReq<'a> {
    /// Keys, their sources and the values' CRC32C.
    pub items: Vec<(&'a [u8], MemRegion, u32)>,
}

impl<'a> Message<'a> for BatchWriteReq<'a> {
    fn encode_into(&self, e: &mut Encoder) {
        e.u32(u32::try_from(self.items.len()).expect("item count fits in u32"));
        for (k, r, crc) in &self.items {
            e.key(k);
            r.encode_into(e);
            e.u32(*crc);
        }
    }
    fn decode_from(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = d.count(2 + MEM_REGION_LEN + 4, "item count")?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push((d.key()?, MemRegion::decode_from(d)?, d.u32("crc")?));
        }
        Ok(BatchWriteReq { items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lists_allocate_exactly_their_encoding() {
        let keys: Vec<Vec<u8>> = (0..40).map(|i| vec![b'k'; i * 7]).collect();
        let list = KeyList {
            keys: keys.iter().map(Vec::as_slice).collect(),
        };
        let put = BatchPutReq {
            items: keys
                .iter()
                .map(|k| BatchPutItem {
                    key: k,
                    len: 4096,
                    crc: 7,
                })
                .collect(),
        };
        let got = BatchGetResp {
            items: vec![
                BatchGetItem {
                    status: 0,
                    len: 4096,
                    crc: 7
                };
                40
            ],
        };
        assert_eq!(list.encode().len(), list.encoded_len_hint());
        assert_eq!(put.encode().len(), put.encoded_len_hint());
        assert_eq!(got.encode().len(), got.encoded_len_hint());
        assert_eq!(list.encode().capacity(), list.encoded_len_hint());
    }
}
