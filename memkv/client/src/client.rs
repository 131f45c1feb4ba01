//! [`AsyncClient`]: the engine's async API, and the single-key operations.
//!
//! Batch operations live in `batch_ops.rs` and chunked transfers in `stream.rs`; both extend
//! the same `Inner` engine that this module defines.

use std::sync::Arc;

use bytes::Bytes;
use memkv_proto::msg::{self, Message};
use memkv_proto::{Integrity, MAX_KEY_LEN, Opcode, SendCrc, Status};

use crate::config::{ClientConfig, Unreachable, ValidatedConfig};
use crate::conn::Landed;
use crate::error::ClientError;
use crate::frame::{Reply, Request};
use crate::hrw::Rendezvous;
use crate::join::join_all;
use crate::pool::ServerPool;
use crate::stats::{ClientStats, Counters};
use crate::stream::Sink;
use crate::types::{GetInto, NodeInfo, ValueMeta};

/// The async client. Cheap to clone (clones share connections); needs a tokio runtime (with
/// the time driver) to run its futures. Connections are opened lazily on first use; call
/// [`AsyncClient::warmup`] to open them all up front.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    pub(crate) inner: Arc<Inner>,
}

/// The engine shared by every clone of a client.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: Arc<ValidatedConfig>,
    pub(crate) pools: Vec<ServerPool>,
    pub(crate) ring: Rendezvous,
    pub(crate) names: Vec<String>,
    pub(crate) counters: Arc<Counters>,
}

/// Refuses keys the protocol cannot carry, before anything is sent.
pub(crate) fn check_key(key: &[u8]) -> Result<(), ClientError> {
    if key.len() > MAX_KEY_LEN {
        return Err(ClientError::KeyTooLong {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

impl Inner {
    pub(crate) fn integrity(&self) -> Integrity {
        self.config.integrity()
    }

    pub(crate) fn server_name(&self, s: usize) -> &str {
        &self.names[s]
    }

    /// The largest frame body server `s` accepts (connecting if needed).
    pub(crate) async fn frame_limit(&self, s: usize) -> Result<usize, ClientError> {
        let conn = self.pools[s].conn().await?;
        Ok(conn.info.max_body as usize)
    }

    /// Sends one request to server `s` and waits for its reply. A request whose connection was
    /// lost is retried once on another connection (every operation here is idempotent).
    pub(crate) async fn request(
        &self,
        s: usize,
        req: &Request<'_>,
        op: &'static str,
    ) -> Result<Reply, ClientError> {
        let pool = &self.pools[s];
        let timeout = self.config.op_timeout();
        let r = pool.conn().await?.call(req, op, timeout).await;
        if !self.retry(s, op, &r) {
            return r;
        }
        pool.conn().await?.call(req, op, timeout).await
    }

    /// [`request`](Self::request) whose reply's data is read straight into `dest` when it
    /// fits (see [`Conn::call_into`](crate::conn::Conn::call_into)).
    pub(crate) async fn request_into(
        &self,
        s: usize,
        req: &Request<'_>,
        op: &'static str,
        dest: &mut [u8],
    ) -> Result<Landed, ClientError> {
        let pool = &self.pools[s];
        let timeout = self.config.op_timeout();
        let r = pool.conn().await?.call_into(req, op, timeout, dest).await;
        if !self.retry(s, op, &r) {
            return r;
        }
        pool.conn().await?.call_into(req, op, timeout, dest).await
    }

    /// Whether a request to server `s` that ended in `r` is retried once on another
    /// connection: only when its connection was lost.
    pub(crate) fn retry<T>(&self, s: usize, op: &'static str, r: &Result<T, ClientError>) -> bool {
        let Err(e @ ClientError::ConnectionLost { .. }) = r else {
            return false;
        };
        let server = self.pools[s].id();
        tracing::debug!(server, op, "retrying on another connection: {e}");
        true
    }

    /// Applies the `unreachable` policy to a lookup's result.
    pub(crate) fn or_miss<T>(
        &self,
        r: Result<T, ClientError>,
        miss: impl FnOnce() -> T,
    ) -> Result<T, ClientError> {
        match r {
            Err(e) if e.is_unreachable() && self.config.unreachable() == Unreachable::Miss => {
                Counters::bump(&self.counters.unreachable_misses);
                tracing::debug!("lookup answered as a miss: {e}");
                Ok(miss())
            }
            r => r,
        }
    }

    /// Checks received value bytes against the CRC32C their writer computed (and, in checksum
    /// mode, against the frame's tagged data CRC). A failure is counted and logged; the caller
    /// reports a miss.
    pub(crate) fn value_intact(&self, s: usize, reply: &Reply, meta: &msg::ValueMeta) -> bool {
        self.bytes_intact(s, reply, &reply.data, meta)
    }

    /// [`value_intact`](Self::value_intact) for a reply whose data was read elsewhere (`data`).
    fn bytes_intact(&self, s: usize, reply: &Reply, data: &[u8], meta: &msg::ValueMeta) -> bool {
        // Computed by the reader on the way in for single-value replies.
        let crc = reply.data_crc.unwrap_or_else(|| memkv_proto::crc32c(data));
        let frame_ok = reply.sent_crc == crc;
        let ok = data.len() as u64 == meta.len && crc == meta.crc && frame_ok;
        if !ok {
            self.checksum_failure(s);
        }
        ok
    }

    /// Tells server `s` that values it sent for `keys` did not match their CRC32C, so that it
    /// checks its copies and drops the damaged ones (it sends values held in RAM without
    /// re-reading them; the damage may also have happened on the way). Best effort: the caller
    /// reports a miss whatever happens here, and a failed report is only logged.
    pub(crate) async fn report_damaged(&self, s: usize, keys: &[&[u8]]) {
        for key in keys {
            let ctrl = msg::KeyReq { key }.encode();
            let req = Request::ctrl_only(Opcode::ReportDamaged, &ctrl);
            match self.request(s, &req, "report_damaged").await {
                Ok(reply) if reply.is_ok() => {}
                Ok(reply) => tracing::debug!(
                    server = self.server_name(s),
                    "damage report refused: {}",
                    self.error(s, &reply)
                ),
                Err(e) => tracing::debug!(
                    server = self.server_name(s),
                    "damage report not delivered: {e}"
                ),
            }
        }
    }

    pub(crate) fn checksum_failure(&self, s: usize) {
        Counters::bump(&self.counters.checksum_failures);
        tracing::warn!(
            server = self.server_name(s),
            "received value does not match its CRC32C; reporting a miss"
        );
    }

    pub(crate) fn error(&self, s: usize, reply: &Reply) -> ClientError {
        reply.error(self.server_name(s), self.integrity())
    }

    pub(crate) async fn put_on(
        &self,
        s: usize,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), ClientError> {
        let limit = self.frame_limit(s).await?;
        let ctrl_len = msg::key_encoded_len(key) + 4;
        if ctrl_len + value.len() > limit {
            return self.put_chunked(s, key, value, limit).await;
        }
        // In the MAC modes the data tag already proves that the server has this client's
        // bytes, so a server that advertises it computes the CRC32C it keeps from them, in the
        // pass that checks the tag. Sealing computes it as the value is sent where that does
        // not hold (`checksum` mode, older servers); it then travels in the frame's trailer.
        let ctrl = msg::PutReq { key }.encode();
        let data = [value];
        let req = Request {
            opcode: Opcode::Put,
            ctrl: &ctrl,
            data: &data,
            crc: SendCrc::ByReceiver,
        };
        let reply = self.request(s, &req, "put").await?;
        match reply.status() {
            Some(Status::Ok) => Ok(()),
            Some(Status::NoSpace) => Err(ClientError::NoSpace {
                server: self.server_name(s).to_owned(),
                len: value.len() as u64,
            }),
            _ => Err(self.error(s, &reply)),
        }
    }

    /// A single `Get`, falling back to a chunked download when the value exceeds the frame
    /// limit.
    pub(crate) async fn get_on(&self, s: usize, key: &[u8]) -> Result<Option<Bytes>, ClientError> {
        let ctrl = msg::KeyReq { key }.encode();
        let reply = self
            .request(s, &Request::ctrl_only(Opcode::Get, &ctrl), "get")
            .await?;
        match reply.status() {
            Some(Status::Ok) => {
                let meta: msg::ValueMeta = reply.decode(self.server_name(s))?;
                if !self.value_intact(s, &reply, &meta) {
                    self.report_damaged(s, &[key]).await;
                    return Ok(None);
                }
                Ok(Some(reply.data()))
            }
            Some(Status::NotFound) => Ok(None),
            Some(Status::PayloadTooLarge) => match self.get_chunked(s, key, Sink::Owned).await? {
                crate::stream::Downloaded::Value(v) => Ok(Some(v)),
                _ => Ok(None),
            },
            _ => Err(self.error(s, &reply)),
        }
    }

    /// A single `Get` into `buf`: full-length-or-miss.
    pub(crate) async fn get_into_on(
        &self,
        s: usize,
        key: &[u8],
        buf: &mut [u8],
    ) -> Result<GetInto, ClientError> {
        let ctrl = msg::KeyReq { key }.encode();
        // The value is read from the socket straight into `buf` when it fits.
        let Landed { reply, in_dest } = self
            .request_into(s, &Request::ctrl_only(Opcode::Get, &ctrl), "get", buf)
            .await?;
        match reply.status() {
            Some(Status::Ok) => {
                let meta: msg::ValueMeta = reply.decode(self.server_name(s))?;
                if meta.len > buf.len() as u64 {
                    return Ok(GetInto::TooSmall { len: meta.len });
                }
                let Some(n) = in_dest else {
                    // A data section longer than its value says: damaged, a miss.
                    self.checksum_failure(s);
                    return Ok(GetInto::Miss);
                };
                if !self.bytes_intact(s, &reply, &buf[..n], &meta) {
                    self.report_damaged(s, &[key]).await;
                    return Ok(GetInto::Miss);
                }
                Ok(GetInto::Hit(n))
            }
            Some(Status::NotFound) => Ok(GetInto::Miss),
            Some(Status::PayloadTooLarge) => {
                // The refusal carries the value's length: a buffer too small needs no download.
                if let Ok(meta) = msg::decode::<msg::ValueMeta>(reply.ctrl())
                    && meta.len > buf.len() as u64
                {
                    return Ok(GetInto::TooSmall { len: meta.len });
                }
                Ok(match self.get_chunked(s, key, Sink::Into(buf)).await? {
                    crate::stream::Downloaded::Hit(n) => GetInto::Hit(n),
                    crate::stream::Downloaded::TooSmall(len) => GetInto::TooSmall { len },
                    _ => GetInto::Miss,
                })
            }
            _ => Err(self.error(s, &reply)),
        }
    }

    async fn key_op(
        &self,
        key: &[u8],
        opcode: Opcode,
        op: &'static str,
    ) -> Result<(usize, Reply), ClientError> {
        check_key(key)?;
        let s = self.ring.server_for(key);
        let ctrl = msg::KeyReq { key }.encode();
        let reply = self
            .request(s, &Request::ctrl_only(opcode, &ctrl), op)
            .await?;
        Ok((s, reply))
    }
}

impl AsyncClient {
    /// Validates `config` and builds a client. No connection is opened yet.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let validated = Arc::new(config.validate()?);
        let counters = Arc::new(Counters::default());
        let names: Vec<String> = validated.servers().iter().map(|a| a.id.clone()).collect();
        let pools = validated
            .servers()
            .iter()
            .map(|a| ServerPool::new(a.clone(), Arc::clone(&validated), Arc::clone(&counters)))
            .collect();
        if let Some(note) = validated
            .send_buffer()
            .capped_note(memkv_frameio::sendbuf::kernel_ceiling(), "send_buffer")
        {
            tracing::warn!("{note}");
        }
        if validated.uses_loopback_dev_key() {
            tracing::debug!(
                "no auth_key configured and every server is on loopback: using the loopback development key"
            );
        }
        Ok(AsyncClient {
            inner: Arc::new(Inner {
                ring: Rendezvous::new(&names),
                config: validated,
                pools,
                names,
                counters,
            }),
        })
    }

    /// Builds a client from `MEMKV_CONFIG` and the `MEMKV_*` environment variables.
    pub fn from_env() -> Result<Self, ClientError> {
        Self::new(ClientConfig::from_env()?)
    }

    /// The validated configuration.
    pub fn config(&self) -> &ValidatedConfig {
        &self.inner.config
    }

    /// The servers as configured (`host:port`); server indexes refer to this order.
    pub fn servers(&self) -> &[String] {
        &self.inner.names
    }

    /// Index of the server that owns `key` (rendezvous hashing, see `docs/client.md`).
    pub fn server_for(&self, key: &[u8]) -> usize {
        self.inner.ring.server_for(key)
    }

    /// A snapshot of this client's counters.
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// Opens and authenticates `num_connections` connections to every server, concurrently.
    /// Returns one result per server, in [`AsyncClient::servers`] order.
    pub async fn warmup(&self) -> Vec<Result<(), ClientError>> {
        join_all(self.inner.pools.iter().map(ServerPool::warmup).collect()).await
    }

    /// Asks server `server_index` for its [`NodeInfo`].
    pub async fn node_info(&self, server_index: usize) -> Result<NodeInfo, ClientError> {
        let s = self.check_index(server_index)?;
        let reply = self
            .inner
            .request(s, &Request::ctrl_only(Opcode::NodeInfo, &[]), "node_info")
            .await?;
        if !reply.is_ok() {
            return Err(self.inner.error(s, &reply));
        }
        let info: msg::NodeInfo<'_> = reply.decode(self.inner.server_name(s))?;
        Ok(NodeInfo::from(&info))
    }

    pub(crate) fn check_index(&self, index: usize) -> Result<usize, ClientError> {
        if index < self.inner.pools.len() {
            Ok(index)
        } else {
            Err(ClientError::InvalidServerIndex {
                index,
                count: self.inner.pools.len(),
            })
        }
    }

    /// Stores `value` under `key`, replacing any previous value atomically. The value is sent
    /// straight from `value` (no copy); values over the server's frame limit are uploaded in
    /// chunks. Fails with [`ClientError::NoSpace`] if the value can never fit on the server.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        check_key(key)?;
        let s = self.inner.ring.server_for(key);
        self.inner.put_on(s, key, value).await
    }

    /// The value stored under `key`, or `None`. Values whose bytes do not match their CRC32C
    /// are misses (counted in [`ClientStats::checksum_failures`]).
    pub async fn get(&self, key: &[u8]) -> Result<Option<Bytes>, ClientError> {
        check_key(key)?;
        let s = self.inner.ring.server_for(key);
        let r = self.inner.get_on(s, key).await;
        self.inner.or_miss(r, || None)
    }

    /// Reads the value stored under `key` into `buf`: [`GetInto::Hit`] only when the whole
    /// value fits, [`GetInto::TooSmall`] with its length otherwise.
    pub async fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Result<GetInto, ClientError> {
        check_key(key)?;
        let s = self.inner.ring.server_for(key);
        let r = self.inner.get_into_on(s, key, buf).await;
        self.inner.or_miss(r, || GetInto::Miss)
    }

    /// Removes `key`; `true` if it was stored.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, ClientError> {
        let (s, reply) = self.inner.key_op(key, Opcode::Delete, "delete").await?;
        match reply.status() {
            Some(Status::Ok) => Ok(true),
            Some(Status::NotFound) => Ok(false),
            _ => Err(self.inner.error(s, &reply)),
        }
    }

    /// Length and CRC32C of the value stored under `key`, or `None`.
    pub async fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, ClientError> {
        let r = async {
            let (s, reply) = self.inner.key_op(key, Opcode::Stat, "stat").await?;
            match reply.status() {
                Some(Status::Ok) => {
                    let m: msg::ValueMeta = reply.decode(self.inner.server_name(s))?;
                    Ok(Some(ValueMeta {
                        len: m.len,
                        crc: m.crc,
                    }))
                }
                Some(Status::NotFound) => Ok(None),
                _ => Err(self.inner.error(s, &reply)),
            }
        }
        .await;
        self.inner.or_miss(r, || None)
    }

    /// Length of the value stored under `key`, or `None`.
    pub async fn size(&self, key: &[u8]) -> Result<Option<u64>, ClientError> {
        Ok(self.stat(key).await?.map(|m| m.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}

    /// Users spawn these futures on multi-thread runtimes and share clients across threads.
    #[test]
    fn clients_and_futures_are_thread_safe() {
        assert_send_sync::<AsyncClient>();
        assert_send_sync::<crate::Client>();
        let c = AsyncClient::new(ClientConfig::new(["127.0.0.1:1"])).unwrap();
        let mut buf = [0u8; 8];
        assert_send(&c.put(b"k", b"v"));
        assert_send(&c.get(b"k"));
        assert_send(&c.get_into(b"k", &mut buf));
        assert_send(&c.delete(b"k"));
        assert_send(&c.stat(b"k"));
        assert_send(&c.exists(&[b"k"]));
        assert_send(&c.batch_put(&[(b"k", b"v")]));
        assert_send(&c.batch_get(&[b"k"]));
        let mut items: [(&[u8], &mut [u8]); 0] = [];
        assert_send(&c.batch_get_into(&mut items));
        assert_send(&c.warmup());
        assert_send(&c.node_info(0));
    }
}
