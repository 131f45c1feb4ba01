//! The server config file (`/etc/memkv/config.yaml` by default): the typed runtime
//! [`ServerConfig`], loading and validation, human sizes and durations, and the generated key
//! reference in `docs/configuration.md`.
//!
//! Loading has two steps. The YAML is deserialized into raw structs (`raw.rs`) that reject
//! unknown keys; then one `validate` function destructures the raw structs exhaustively into
//! [`ServerConfig`], applying defaults and cross-key rules, so a new key cannot be forgotten.
//! Every error names the key by its full dotted path.

mod raw;
mod reference;
pub mod units;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use memkv_frameio::SendBuffer;
use serde::{Deserialize, Serialize};
use serde_path_to_error::Segment;

pub use reference::{CONFIG_KEYS, KeyDoc, SECTIONS, known_keys_under, reference_markdown};
pub use units::{HumanSize, UnitError, format_duration, format_size, parse_duration, parse_size};

use raw::RawConfig;

/// Where `memkv start` looks for the config file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/memkv/config.yaml";

/// The validated server configuration. Build it with [`ServerConfig::from_path`],
/// [`ServerConfig::from_yaml_str`] or [`ServerConfig::embedded_default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `network.*`.
    pub network: NetworkConfig,
    /// `memory.*`.
    pub memory: MemoryConfig,
    /// `storage.*`.
    pub storage: StorageConfig,
    /// `rdma.*`.
    pub rdma: RdmaConfig,
}

/// `network.*`: the data-plane listener, authentication and limits, and admin TLS.
///
/// `Debug` never prints the auth key.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Data-plane listen address; the admin API uses the same IP at port + 1.
    pub address: SocketAddr,
    /// The 32-byte shared key, from `network.auth_key`, else `MEMKV_AUTH_KEY`, else the file of
    /// `MEMKV_AUTH_KEY_FILE` or `network.auth_key_file`; `None` only for loopback addresses
    /// (the caller then derives the loopback dev key).
    pub auth_key: Option<[u8; 32]>,
    /// The file a new random key was written to at this start (`network.auth_key_generate`).
    pub generated_auth_key: Option<PathBuf>,
    /// How frames are authenticated.
    pub integrity: IntegrityMode,
    /// Certificate and key for the admin API; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Most concurrent data-plane connections.
    pub max_connections: u32,
    /// Close connections idle this long; `None` never closes them.
    pub idle_timeout: Option<Duration>,
    /// Largest accepted request frame, in bytes.
    pub max_frame_size: u64,
    /// Largest accepted difference between a request timestamp and the server clock.
    pub max_clock_skew: Duration,
    /// Per-connection cap on request and response bytes held in memory.
    pub max_inflight_bytes: u64,
    /// How each connection's send buffer is sized.
    pub send_buffer: SendBuffer,
    /// Threads that serve data-plane connections; 0: one per CPU core the server may use.
    pub threads: u32,
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            address,
            auth_key,
            generated_auth_key,
            integrity,
            tls,
            max_connections,
            idle_timeout,
            max_frame_size,
            max_clock_skew,
            max_inflight_bytes,
            send_buffer,
            threads,
        } = self;
        f.debug_struct("NetworkConfig")
            .field("address", address)
            .field("auth_key", &auth_key.map(|_| "<redacted>"))
            .field("generated_auth_key", generated_auth_key)
            .field("integrity", integrity)
            .field("tls", tls)
            .field("max_connections", max_connections)
            .field("idle_timeout", idle_timeout)
            .field("max_frame_size", max_frame_size)
            .field("max_clock_skew", max_clock_skew)
            .field("max_inflight_bytes", max_inflight_bytes)
            .field("send_buffer", send_buffer)
            .field("threads", threads)
            .finish()
    }
}

/// Certificate chain and private key files (PEM) for serving the admin API over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `network.tls_cert`.
    pub cert: PathBuf,
    /// `network.tls_key`.
    pub key: PathBuf,
}

/// `memory.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryConfig {
    /// RDMA staging chunk size in bytes (kept for compatibility; unused by this build).
    pub block_size: u64,
    /// Memory for stored values in bytes.
    pub max_size: u64,
}

/// `storage.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// The storage engine.
    pub mode: StorageMode,
    /// On-drive extent size in bytes.
    pub block_size: u64,
    /// Drives of the persistent engines.
    pub drives: Vec<DriveConfig>,
    /// When persistent engines flush writes.
    pub sync: SyncMode,
    /// I/O requests in flight per drive.
    pub queue_depth: u32,
    /// `file` mode: punch holes in data files where extents are freed.
    pub trim_files: bool,
}

/// One entry of `storage.drives`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveConfig {
    /// Block device or file.
    pub media: PathBuf,
    /// `file` mode: size of the data file when the server creates it (files that exist keep
    /// their size).
    pub size: u64,
}

/// `rdma.*`: accepted and kept; this build has no RDMA data path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdmaConfig {
    /// `rdma.device`.
    pub device: Option<String>,
    /// `rdma.num_dcis`.
    pub num_dcis: Option<u32>,
    /// `rdma.traffic_class`.
    pub traffic_class: Option<u8>,
}

/// `network.integrity`: how request and response frames are authenticated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntegrityMode {
    /// POLYVAL + AES-256 MAC over header and payload.
    #[default]
    #[serde(rename = "mac")]
    Mac,
    /// HMAC-SHA256 over header and payload.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// MAC over the header plus CRC32C of the payload; for trusted fabrics.
    #[serde(rename = "checksum")]
    Checksum,
}

impl IntegrityMode {
    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mac => "mac",
            Self::HmacSha256 => "hmac-sha256",
            Self::Checksum => "checksum",
        }
    }
}

impl fmt::Display for IntegrityMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `storage.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageMode {
    /// Values live in RAM only.
    #[default]
    Memory,
    /// Regular files on a filesystem, preallocated.
    File,
    /// Raw block devices with direct I/O, formatted by `memkv setup`.
    Direct,
}

impl StorageMode {
    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::File => "file",
            Self::Direct => "direct",
        }
    }
}

impl fmt::Display for StorageMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `storage.sync`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// A write is durable before it is acknowledged.
    #[default]
    Always,
    /// Flushing is left to the operating system.
    None,
}

impl SyncMode {
    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::None => "none",
        }
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the auth key can come from outside the config file: the environment variables
/// `MEMKV_AUTH_KEY` (the key) and `MEMKV_AUTH_KEY_FILE` (a file holding it). They are used
/// only when the config file does not set `network.auth_key`, so a container image can ship a
/// config that listens on all interfaces and take its key at run time.
///
/// `Debug` never prints the key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthKeyEnv {
    /// `MEMKV_AUTH_KEY`: 64 hex characters.
    pub key: Option<String>,
    /// `MEMKV_AUTH_KEY_FILE`: a file holding the key.
    pub key_file: Option<PathBuf>,
}

impl AuthKeyEnv {
    /// The environment variable holding the key.
    pub const KEY_VAR: &'static str = "MEMKV_AUTH_KEY";
    /// The environment variable naming a file that holds the key.
    pub const KEY_FILE_VAR: &'static str = "MEMKV_AUTH_KEY_FILE";

    /// Reads both variables from the process environment; empty values count as unset.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        Self {
            key: var(Self::KEY_VAR).map(|value| value.to_string_lossy().into_owned()),
            key_file: var(Self::KEY_FILE_VAR).map(PathBuf::from),
        }
    }
}

impl fmt::Debug for AuthKeyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKeyEnv")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// Why a config could not be loaded. `Display` names the key and says what is allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {error} (pass another file with --config)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// An error in a named config file.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: Box<ConfigError>,
    },
    /// The text is not valid YAML.
    #[error("config is not valid YAML: {message}")]
    Syntax {
        /// The parser's message, with line and column.
        message: String,
    },
    /// The document is not a mapping of sections.
    #[error(
        "config must be a mapping with the sections network, memory, storage and rdma: {message}"
    )]
    NotAMapping {
        /// The parser's message.
        message: String,
    },
    /// A key that the server does not know.
    #[error("{}", unknown_key_message(key, parent, known))]
    UnknownKey {
        /// Full dotted path of the key as written.
        key: String,
        /// Dotted path of the enclosing section (`""` at the top level).
        parent: String,
        /// The keys allowed there.
        known: Vec<&'static str>,
    },
    /// A value that is not allowed for its key.
    #[error("config key `{key}`: {message}")]
    InvalidValue {
        /// Full dotted path of the key.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A non-loopback listen address without an auth key.
    #[error(
        "network.address {address} is not a loopback address, so network.auth_key is required (or network.auth_key_file, or MEMKV_AUTH_KEY / MEMKV_AUTH_KEY_FILE in the environment); generate one with `openssl rand -hex 32`"
    )]
    AuthKeyRequired {
        /// The configured address.
        address: SocketAddr,
    },
    /// The auth key from the environment or a key file is not valid. Never repeats the key.
    #[error("{origin}: {message}")]
    InvalidAuthKey {
        /// Where the key came from: the variable, or the file and what named it.
        origin: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A new auth key could not be written to `network.auth_key_file`.
    #[error(
        "cannot write a generated auth key to {} (network.auth_key_file, with network.auth_key_generate): {error}; make its directory writable by the server, or give a key",
        path.display()
    )]
    AuthKeyGenerate {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// The auth key file could not be read.
    #[error("cannot read the auth key file {} (named by {named_by}): {error}", path.display())]
    AuthKeyFile {
        /// `network.auth_key_file` or `MEMKV_AUTH_KEY_FILE`.
        named_by: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// Only one of `network.tls_cert` and `network.tls_key` is set.
    #[error(
        "config key `{set}` is set but `{missing}` is not: set both network.tls_cert and network.tls_key to serve the admin API over HTTPS, or neither to serve plain HTTP"
    )]
    TlsIncomplete {
        /// The key that is set.
        set: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// A storage mode this build recognises but does not serve.
    #[error(
        "config key `storage.mode`: `{mode}` is not served by this build; the `file` and `direct` modes arrive with the persistent storage engines. Use `storage.mode: memory`"
    )]
    StorageModeUnsupported {
        /// The configured mode.
        mode: StorageMode,
    },
}

fn unknown_key_message(key: &str, parent: &str, known: &[&str]) -> String {
    let known = known.join(", ");
    if parent.is_empty() {
        format!("config key `{key}` is not known (known top-level keys: {known})")
    } else {
        format!("config key `{key}` is not known (known keys under `{parent}`: {known})")
    }
}

impl ServerConfig {
    /// Reads and validates the config file at `path`, taking the auth key from the process
    /// environment ([`AuthKeyEnv::from_process`]) when the file sets none.
    pub fn from_path(path: &Path) -> Result<Self, ConfigError> {
        Self::from_path_with_env(path, &AuthKeyEnv::from_process())
    }

    /// [`ServerConfig::from_path`] with the given key environment instead of the process's.
    pub fn from_path_with_env(path: &Path, env: &AuthKeyEnv) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::from_yaml_str_with_env(&text, env).map_err(|error| ConfigError::InFile {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }

    /// Parses and validates config-file text alone (no environment). Keys that are not set get
    /// the defaults of a config file (e.g. `network.address` `0.0.0.0:9900`).
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_yaml_str_with_env(text, &AuthKeyEnv::default())
    }

    /// Parses and validates config-file text, taking the auth key from `env` when the text
    /// sets no `network.auth_key`.
    pub fn from_yaml_str_with_env(text: &str, env: &AuthKeyEnv) -> Result<Self, ConfigError> {
        let raw = parse_raw(text)?;
        validate::validate(raw, env, validate::default_memory_max_size)
    }

    /// The configuration used when no config file is given: loopback `127.0.0.1:9900`, memory
    /// mode with the default memory size, no auth key (the caller derives the loopback dev key).
    pub fn embedded_default() -> Self {
        match Self::embedded_default_with_env(&AuthKeyEnv::default()) {
            Ok(config) => config,
            // The embedded default is a fixed value covered by tests; failing here is a bug.
            Err(error) => panic!("the embedded default config is invalid: {error}"),
        }
    }

    /// The embedded default with the auth key of `env`, if it names one (`memkv start`
    /// without a config file). Fails only on a bad key from `env`.
    pub fn embedded_default_with_env(env: &AuthKeyEnv) -> Result<Self, ConfigError> {
        let raw = RawConfig {
            network: Some(raw::RawNetwork {
                address: Some(validate::EMBEDDED_ADDRESS.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        validate::validate(raw, env, validate::default_memory_max_size)
    }

    /// The admin API address: the same IP as `network.address`, port + 1 (port 0 stays 0).
    pub fn admin_address(&self) -> SocketAddr {
        admin_address_for(self.network.address)
    }

    /// Warnings to log at start-up: settings this build accepts but does not act on.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let RdmaConfig {
            device,
            num_dcis,
            traffic_class,
        } = &self.rdma;
        if device.is_some() || num_dcis.is_some() || traffic_class.is_some() {
            warnings.push(
                "rdma.* is set, but this build has no RDMA data path; clients are served over TCP only"
                    .to_owned(),
            );
        }
        if self.storage.mode == StorageMode::Memory && !self.storage.drives.is_empty() {
            warnings.push(format!(
                "storage.drives lists {} drive(s), but storage.mode is memory; the drives are not used",
                self.storage.drives.len()
            ));
        }
        warnings.extend(self.network.send_buffer.capped_note(
            memkv_frameio::sendbuf::kernel_ceiling(),
            "network.send_buffer",
        ));
        warnings
    }
}

/// The admin address for a data-plane address: same IP, port + 1; port 0 stays 0 (ephemeral).
/// Port 65535 maps to itself; validated configs never contain it.
pub fn admin_address_for(address: SocketAddr) -> SocketAddr {
    let port = match address.port() {
        0 => 0,
        port => port.saturating_add(1),
    };
    SocketAddr::new(address.ip(), port)
}

/// YAML text → raw structs, turning serde errors into errors that name the dotted key.
fn parse_raw(text: &str) -> Result<RawConfig, ConfigError> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|error| ConfigError::Syntax {
            message: error.to_string(),
        })?;
    if value.is_null() {
        return Ok(RawConfig::default());
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let segments: Vec<Segment> = error.path().iter().cloned().collect();
        let message = error.into_inner().to_string();
        classify_error(&segments, message)
    })
}

fn classify_error(segments: &[Segment], message: String) -> ConfigError {
    let Some((last, parents)) = segments.split_last() else {
        return ConfigError::NotAMapping { message };
    };
    // The documented form of the parent path: list indices become `[]`.
    let mut parent = String::new();
    for segment in parents {
        match segment {
            Segment::Seq { .. } => parent.push_str("[]"),
            other => {
                if !parent.is_empty() {
                    parent.push('.');
                }
                parent.push_str(&other.to_string());
            }
        }
    }
    let key = dotted(segments);
    if let Segment::Map { key: name } = last {
        let known = known_keys_under(&parent);
        if !known.contains(&name.as_str()) {
            return ConfigError::UnknownKey { key, parent, known };
        }
    }
    ConfigError::InvalidValue { key, message }
}

/// `network.address`, `storage.drives[1].media`.
fn dotted(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&other.to_string());
            }
        }
    }
    out
}
