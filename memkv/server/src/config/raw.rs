//! The config file exactly as written: serde structs with `deny_unknown_fields`, every key
//! optional, sizes and durations already parsed. `validate` turns this into `ServerConfig`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use memkv_frameio::SendBuffer;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::units::{format_duration, format_size, parse_duration, parse_size};
use super::{IntegrityMode, StorageMode, SyncMode};

/// The whole file. `Serialize` exists so tests can list the keys this struct accepts.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) network: Option<RawNetwork>,
    pub(crate) memory: Option<RawMemory>,
    pub(crate) storage: Option<RawStorage>,
    pub(crate) rdma: Option<RawRdma>,
}

/// `network:`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub(crate) address: Option<String>,
    pub(crate) auth_key: Option<RawAuthKey>,
    pub(crate) auth_key_file: Option<PathBuf>,
    pub(crate) auth_key_generate: Option<bool>,
    pub(crate) integrity: Option<IntegrityMode>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) max_connections: Option<u32>,
    pub(crate) idle_timeout: Option<RawDuration>,
    pub(crate) max_frame_size: Option<RawSize>,
    pub(crate) max_clock_skew: Option<RawDuration>,
    pub(crate) max_inflight_bytes: Option<RawSize>,
    pub(crate) send_buffer: Option<RawSendBuffer>,
    pub(crate) threads: Option<u32>,
}

/// `memory:`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMemory {
    pub(crate) block_size: Option<RawSize>,
    pub(crate) max_size: Option<RawSize>,
}

/// `storage:`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub(crate) mode: Option<StorageMode>,
    pub(crate) block_size: Option<RawSize>,
    pub(crate) drives: Option<Vec<RawDrive>>,
    pub(crate) sync: Option<SyncMode>,
    pub(crate) queue_depth: Option<u32>,
    pub(crate) trim_files: Option<bool>,
}

/// One entry of `storage.drives`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrive {
    pub(crate) media: PathBuf,
    pub(crate) size: Option<RawSize>,
}

/// `rdma:`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRdma {
    pub(crate) device: Option<String>,
    pub(crate) num_dcis: Option<u32>,
    pub(crate) traffic_class: Option<u8>,
}

/// The auth key as written. Only a YAML string is accepted, and neither errors nor `Debug`
/// repeat the value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RawAuthKey(pub(crate) String);

impl fmt::Debug for RawAuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAuthKey(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for RawAuthKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl KeyVisitor {
            fn not_text<E: de::Error>() -> E {
                E::custom(
                    "must be 64 hex characters written as text; quote the value (auth_key: \"...\") so YAML does not read it as a number",
                )
            }
        }
        impl Visitor<'_> for KeyVisitor {
            type Value = RawAuthKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 hex characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAuthKey, E> {
                Ok(RawAuthKey(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawAuthKey, E> {
                Err(Self::not_text())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawAuthKey, E> {
                Err(Self::not_text())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawAuthKey, E> {
                Err(Self::not_text())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawAuthKey, E> {
                Err(Self::not_text())
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

impl Serialize for RawAuthKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A size written as a byte count (`4096`) or a human size (`4 MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawSize(pub(crate) u64);

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as `4096`, `512 MiB` or `64 GiB`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                u64::try_from(v).map(RawSize).map_err(|_| {
                    E::custom(format!("`{v}` is not a size (sizes cannot be negative)"))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawSize, E> {
                Err(E::custom(format!(
                    "`{v}` is not a size (write a unit for fractions, e.g. `1.5 GiB`)"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                parse_size(v).map(RawSize).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

impl Serialize for RawSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_size(self.0))
    }
}

/// `network.send_buffer`: `auto`, `kernel`, or a size (`1 MiB`, `1048576`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawSendBuffer {
    /// `auto` or `kernel`.
    Policy(SendBuffer),
    /// A size, checked by `validate`.
    Size(u64),
}

impl<'de> Deserialize<'de> for RawSendBuffer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SendBufferVisitor;
        impl Visitor<'_> for SendBufferVisitor {
            type Value = RawSendBuffer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`auto`, `kernel` or a size such as `1 MiB`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSendBuffer, E> {
                Ok(RawSendBuffer::Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSendBuffer, E> {
                u64::try_from(v).map(RawSendBuffer::Size).map_err(|_| {
                    E::custom(format!(
                        "`{v}` is not `auto`, `kernel` or a size (sizes cannot be negative)"
                    ))
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSendBuffer, E> {
                if let Some(policy) = SendBuffer::from_keyword(v) {
                    return Ok(RawSendBuffer::Policy(policy));
                }
                parse_size(v).map(RawSendBuffer::Size).map_err(|_| {
                    E::custom(format!(
                        "`{v}` is not `auto`, `kernel` or a size (use e.g. `1 MiB`)"
                    ))
                })
            }
        }
        deserializer.deserialize_any(SendBufferVisitor)
    }
}

impl Serialize for RawSendBuffer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RawSendBuffer::Policy(policy) => serializer.serialize_str(&policy.to_string()),
            RawSendBuffer::Size(bytes) => serializer.serialize_str(&format_size(*bytes)),
        }
    }
}

/// A duration written as `500ms`, `30s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawDuration(pub(crate) Duration);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `500ms`, `30s`, `5m` or `1h`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDuration, E> {
                parse_duration(&v.to_string())
                    .map(RawDuration)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDuration, E> {
                parse_duration(&v.to_string())
                    .map(RawDuration)
                    .map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDuration, E> {
                parse_duration(&v.to_string())
                    .map(RawDuration)
                    .map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                parse_duration(v).map(RawDuration).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

impl Serialize for RawDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}
