//! What a sweep talks to: memkv through the real client engine, or a peer (Redis, memcached)
//! through the native clients of this crate. Each task of a sweep opens its own [`Session`].

use std::io;

use bytes::Bytes;
use memkv_client::{AsyncClient, ClientError, GetInto};

use crate::memcache::MemcachedConn;
use crate::resp::RedisConn;

/// How memkv gets are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GetApi {
    /// `get_into` / `batch_get_into` into the task's buffers (what the plugins do).
    Into,
    /// `get` / `batch_get`, returning the received `Bytes`.
    Bytes,
}

impl std::str::FromStr for GetApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "into" => Ok(GetApi::Into),
            "bytes" => Ok(GetApi::Bytes),
            _ => Err(format!("unknown get API `{s}`: use `into` or `bytes`")),
        }
    }
}

/// A failed operation.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The memkv client engine failed.
    #[error(transparent)]
    Memkv(#[from] ClientError),
    /// A peer's socket or protocol failed.
    #[error("{0}")]
    Peer(#[from] io::Error),
}

/// A store to measure.
#[derive(Debug, Clone)]
pub enum Target {
    /// memkv servers through the client engine (tasks share the client and its pool).
    Memkv {
        /// The client.
        client: AsyncClient,
        /// How gets are issued.
        api: GetApi,
    },
    /// A Redis server at `host:port`.
    Redis(String),
    /// A memcached server at `host:port`.
    Memcached(String),
}

impl Target {
    /// Opens a session for one task (a new connection for the peers).
    pub async fn session(&self) -> Result<Session, OpError> {
        Ok(match self {
            Target::Memkv { client, api } => Session::Memkv {
                client: client.clone(),
                api: *api,
            },
            Target::Redis(addr) => Session::Redis(RedisConn::connect(addr).await?),
            Target::Memcached(addr) => Session::Memcached(MemcachedConn::connect(addr).await?),
        })
    }

    /// Whether this target answers `exists` (the peers have no per-key equivalent).
    pub fn has_exists(&self) -> bool {
        matches!(self, Target::Memkv { .. })
    }
}

/// Where a read value ended up.
#[derive(Debug)]
pub enum Got {
    /// Not stored.
    Miss,
    /// In the caller's buffer (same index as the key), this many bytes.
    InBuf(usize),
    /// Returned by the client engine.
    Owned(Bytes),
}

impl Got {
    /// The value's bytes, `None` for a miss.
    pub fn bytes<'a>(&'a self, buf: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            Got::Miss => None,
            Got::InBuf(n) => Some(&buf[..*n]),
            Got::Owned(b) => Some(b),
        }
    }
}

/// One task's connection to a target.
#[derive(Debug)]
pub enum Session {
    /// memkv (a clone of the shared client).
    Memkv {
        /// The client.
        client: AsyncClient,
        /// How gets are issued.
        api: GetApi,
    },
    /// A Redis connection.
    Redis(RedisConn),
    /// A memcached connection.
    Memcached(MemcachedConn),
}

fn got(len: Option<usize>) -> Got {
    len.map_or(Got::Miss, Got::InBuf)
}

impl Session {
    /// Stores one value.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), OpError> {
        match self {
            Session::Memkv { client, .. } => Ok(client.put(key, value).await?),
            Session::Redis(c) => Ok(c.set(key, value).await?),
            Session::Memcached(c) => Ok(c.set(key, value).await?),
        }
    }

    /// Reads one value (into `buf` where the API allows).
    pub async fn get(&mut self, key: &[u8], buf: &mut Vec<u8>) -> Result<Got, OpError> {
        match self {
            Session::Memkv {
                client,
                api: GetApi::Into,
            } => Ok(match client.get_into(key, buf).await? {
                GetInto::Hit(n) => Got::InBuf(n),
                // A buffer too small is a wrong length: reported as a mismatch by the caller.
                GetInto::TooSmall { .. } => Got::Owned(Bytes::new()),
                GetInto::Miss => Got::Miss,
            }),
            Session::Memkv {
                client,
                api: GetApi::Bytes,
            } => Ok(client.get(key).await?.map_or(Got::Miss, Got::Owned)),
            Session::Redis(c) => Ok(got(c.get(key, buf).await?)),
            Session::Memcached(c) => Ok(got(c.get(key, buf).await?)),
        }
    }

    /// Stores a batch in one round trip (memkv batch frame, Redis `MSET`, pipelined memcached
    /// `set`s). Fails if any item failed.
    pub async fn batch_put(&mut self, items: &[(&[u8], &[u8])]) -> Result<(), OpError> {
        match self {
            Session::Memkv { client, .. } => {
                for r in client.batch_put(items).await {
                    r?;
                }
                Ok(())
            }
            Session::Redis(c) => Ok(c.mset(items).await?),
            Session::Memcached(c) => Ok(c.set_many(items).await?),
        }
    }

    /// Reads a batch in one round trip (memkv batch frame, Redis `MGET`, memcached multi-get);
    /// one [`Got`] per key, values in `bufs[i]` where the API allows.
    pub async fn batch_get(
        &mut self,
        keys: &[&[u8]],
        bufs: &mut [Vec<u8>],
    ) -> Result<Vec<Got>, OpError> {
        match self {
            Session::Memkv {
                client,
                api: GetApi::Into,
            } => {
                let mut items: Vec<(&[u8], &mut [u8])> = keys
                    .iter()
                    .zip(bufs.iter_mut())
                    .map(|(k, b)| (*k, b.as_mut_slice()))
                    .collect();
                let r = client.batch_get_into(&mut items).await?;
                Ok(r.into_iter()
                    .map(|g| match g {
                        GetInto::Hit(n) => Got::InBuf(n),
                        GetInto::TooSmall { .. } => Got::Owned(Bytes::new()),
                        GetInto::Miss => Got::Miss,
                    })
                    .collect())
            }
            Session::Memkv {
                client,
                api: GetApi::Bytes,
            } => Ok(client
                .batch_get(keys)
                .await?
                .into_iter()
                .map(|v| v.map_or(Got::Miss, Got::Owned))
                .collect()),
            Session::Redis(c) => Ok(c.mget(keys, bufs).await?.into_iter().map(got).collect()),
            Session::Memcached(c) => {
                Ok(c.get_many(keys, bufs).await?.into_iter().map(got).collect())
            }
        }
    }

    /// How many of `keys` are stored (memkv `exists`; the peers answer `Unsupported`).
    pub async fn exists(&mut self, keys: &[&[u8]]) -> Result<usize, OpError> {
        match self {
            Session::Memkv { client, .. } => Ok(client
                .exists(keys)
                .await?
                .into_iter()
                .filter(|&b| b)
                .count()),
            _ => Err(OpError::Peer(io::Error::new(
                io::ErrorKind::Unsupported,
                "exists is measured on memkv only",
            ))),
        }
    }
}
