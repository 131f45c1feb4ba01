//! Client configuration: the programmatic builder, the `MEMKV_CONFIG` YAML file, the `MEMKV_*`
//! environment overrides, and validation into the [`ValidatedConfig`] a client runs with.
//!
//! The chain is: defaults, then the YAML file named by `MEMKV_CONFIG` (unknown keys refused by
//! name), then environment variables ([`crate::env_vars`]). [`ClientConfig::validate`] runs once,
//! when a client is built; it resolves the auth key (the loopback development key when none is
//! configured and every server is on loopback), parses server addresses and settles the
//! transport.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use memkv_frameio::SendBuffer;
use memkv_proto::{AuthKey, Integrity};
use serde::Deserialize;

use crate::env_vars as env;
use crate::error::ConfigError;

/// Default TCP connections per server.
pub const DEFAULT_NUM_CONNECTIONS: usize = 4;
/// Default connect (and handshake) timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3000);
/// Default per-request timeout.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(30_000);
/// Default most keys per batch frame.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 1024;
/// Most connections per server a config may ask for.
pub const MAX_NUM_CONNECTIONS: usize = 1024;

/// The data path (`transport` / `MEMKV_TRANSPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// The best path this build offers: TCP.
    #[default]
    Auto,
    /// TCP only.
    Tcp,
    /// RDMA (dynamically connected); not offered by this build.
    Rdma,
    /// RDMA over reliable-connected queue pairs; not offered by this build.
    RdmaRc,
}

impl Transport {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Auto => "auto",
            Transport::Tcp => "tcp",
            Transport::Rdma => "rdma",
            Transport::RdmaRc => "rdma-rc",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Transport::Auto),
            "tcp" => Ok(Transport::Tcp),
            "rdma" | "rdma-dc" | "rdma_dc" => Ok(Transport::Rdma),
            "rdma-rc" | "rdma_rc" => Ok(Transport::RdmaRc),
            _ => Err(format!(
                "unknown transport `{}`: use `auto`, `tcp`, `rdma` or `rdma-rc`",
                s.trim()
            )),
        }
    }
}

/// What lookups on an unreachable server return (`unreachable` / `MEMKV_UNREACHABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Unreachable {
    /// Its keys are misses (cache semantics: the caller recomputes). Writes still fail.
    #[default]
    Miss,
    /// Lookups fail with the connection error.
    Error,
}

impl Unreachable {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Unreachable::Miss => "miss",
            Unreachable::Error => "error",
        }
    }
}

impl FromStr for Unreachable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "miss" => Ok(Unreachable::Miss),
            "error" => Ok(Unreachable::Error),
            _ => Err(format!(
                "unknown value `{}`: use `miss` or `error`",
                s.trim()
            )),
        }
    }
}

/// A client configuration, before validation. Build one with [`ClientConfig::new`] and the
/// `with_*` setters (or set the public fields), or read it with [`ClientConfig::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Servers as `host:port` (IPv6 in brackets: `[::1]:9900`). The string as written is the
    /// server's identity for sharding.
    pub servers: Vec<String>,
    /// The shared key; `None` is allowed only when every server is on loopback.
    pub auth_key: Option<AuthKey>,
    /// Frame integrity mode; must equal the servers' `network.integrity`.
    pub integrity: Integrity,
    /// The data path.
    pub transport: Transport,
    /// TCP connections per server.
    pub num_connections: usize,
    /// Time allowed to resolve, connect and authenticate.
    pub connect_timeout: Duration,
    /// Time allowed for one request's round trip.
    pub op_timeout: Duration,
    /// Most keys per batch frame.
    pub max_batch_size: usize,
    /// What lookups on an unreachable server return.
    pub unreachable: Unreachable,
    /// How each connection's socket send buffer is sized.
    pub send_buffer: SendBuffer,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            servers: Vec::new(),
            auth_key: None,
            integrity: Integrity::Mac,
            transport: Transport::Auto,
            num_connections: DEFAULT_NUM_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            op_timeout: DEFAULT_OP_TIMEOUT,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            unreachable: Unreachable::Miss,
            send_buffer: SendBuffer::Auto,
        }
    }
}

impl ClientConfig {
    /// A configuration for `servers` with every other setting at its default.
    pub fn new<I, S>(servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig {
            servers: servers.into_iter().map(Into::into).collect(),
            ..ClientConfig::default()
        }
    }

    /// Sets the shared key.
    pub fn with_auth_key(mut self, key: AuthKey) -> Self {
        self.auth_key = Some(key);
        self
    }

    /// Sets the integrity mode.
    pub fn with_integrity(mut self, integrity: Integrity) -> Self {
        self.integrity = integrity;
        self
    }

    /// Sets the transport.
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the number of connections per server.
    pub fn with_num_connections(mut self, n: usize) -> Self {
        self.num_connections = n;
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the per-request timeout.
    pub fn with_op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Sets the most keys per batch frame.
    pub fn with_max_batch_size(mut self, n: usize) -> Self {
        self.max_batch_size = n;
        self
    }

    /// Sets what lookups on an unreachable server return.
    pub fn with_unreachable(mut self, policy: Unreachable) -> Self {
        self.unreachable = policy;
        self
    }

    /// Sets how each connection's socket send buffer is sized.
    pub fn with_send_buffer(mut self, policy: SendBuffer) -> Self {
        self.send_buffer = policy;
        self
    }

    /// Reads the configuration chain from this process: the YAML file named by `MEMKV_CONFIG`
    /// (if set), then every `MEMKV_*` variable on top. Values are parsed here; missing servers
    /// or keys are reported by [`ClientConfig::validate`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`ClientConfig::from_env`] with the environment supplied by `lookup` (tests, FFI hosts
    /// that carry their own settings). Empty values count as unset.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = match get(env::MEMKV_CONFIG) {
            Some(path) => Self::from_yaml_file(Path::new(path.trim()))?,
            None => ClientConfig::default(),
        };
        for var in env::ALL {
            if var.name == env::MEMKV_CONFIG {
                continue;
            }
            if let Some(value) = get(var.name) {
                let key = var
                    .yaml_key
                    .expect("every override variable has a YAML key");
                config.apply(key, &value, var.name)?;
            }
        }
        Ok(config)
    }

    /// Reads a client YAML file (only the file: no environment overrides).
    pub fn from_yaml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// Parses client YAML; `origin` names the source in error messages.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut config = ClientConfig::default();
        if text.trim().is_empty() {
            return Ok(config);
        }
        let raw: RawFile = serde_yaml::from_str(text).map_err(|e| ConfigError::Yaml {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        // Destructured exhaustively: a new key cannot be added without deciding its fate here.
        let RawFile {
            servers,
            auth_key,
            integrity,
            transport,
            num_connections,
            connect_timeout_ms,
            op_timeout_ms,
            max_batch_size,
            unreachable,
            send_buffer,
            rdma_devices,
            bind_addresses,
            license,
            cache_size_mb,
            staging_size_mb,
            staging_slot_mb,
            gid_index,
            traffic_class,
            service_level,
            pkey_index,
        } = raw;
        let used = [
            ("servers", servers),
            ("auth_key", auth_key),
            ("integrity", integrity),
            ("transport", transport),
            ("num_connections", num_connections),
            ("connect_timeout_ms", connect_timeout_ms),
            ("op_timeout_ms", op_timeout_ms),
            ("max_batch_size", max_batch_size),
            ("unreachable", unreachable),
            ("send_buffer", send_buffer),
        ];
        for (key, value) in used {
            let Some(value) = value else { continue };
            let setting = format!("`{key}` in {origin}");
            let text = scalar_text(key, &value, &setting)?;
            config.apply(key, &text, &setting)?;
        }
        let ignored = [
            ("rdma_devices", rdma_devices),
            ("bind_addresses", bind_addresses),
            ("license", license),
            ("cache_size_mb", cache_size_mb),
            ("staging_size_mb", staging_size_mb),
            ("staging_slot_mb", staging_slot_mb),
            ("gid_index", gid_index),
            ("traffic_class", traffic_class),
            ("service_level", service_level),
            ("pkey_index", pkey_index),
        ];
        for (key, value) in ignored {
            if value.is_some() {
                tracing::debug!(
                    key,
                    "ignoring client setting: this build has no RDMA data path"
                );
            }
        }
        Ok(config)
    }

    /// Applies one setting given as text; `setting` names its source in errors.
    fn apply(&mut self, key: &str, value: &str, setting: &str) -> Result<(), ConfigError> {
        let value = value.trim();
        match key {
            "servers" => {
                self.servers = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "auth_key" => {
                let key = AuthKey::from_hex(value)
                    .map_err(|e| ConfigError::invalid(setting, e.to_string()))?;
                self.auth_key = Some(key);
            }
            "integrity" => {
                self.integrity = value
                    .parse()
                    .map_err(|e: memkv_proto::ParseIntegrityError| {
                        ConfigError::invalid(setting, e.to_string())
                    })?;
            }
            "transport" => {
                self.transport = value
                    .parse()
                    .map_err(|e: String| ConfigError::invalid(setting, e))?;
            }
            "num_connections" => {
                self.num_connections = parse_count(value, setting, MAX_NUM_CONNECTIONS)?;
            }
            "connect_timeout_ms" => {
                self.connect_timeout = Duration::from_millis(parse_ms(value, setting)?);
            }
            "op_timeout_ms" => {
                self.op_timeout = Duration::from_millis(parse_ms(value, setting)?);
            }
            "max_batch_size" => {
                self.max_batch_size = parse_count(value, setting, u32::MAX as usize)?;
            }
            "unreachable" => {
                self.unreachable = value
                    .parse()
                    .map_err(|e: String| ConfigError::invalid(setting, e))?;
            }
            "send_buffer" => {
                self.send_buffer =
                    value
                        .parse()
                        .map_err(|e: memkv_frameio::sendbuf::SendBufferError| {
                            ConfigError::invalid(setting, e.to_string())
                        })?;
            }
            _ => {
                tracing::debug!(
                    setting,
                    "ignoring client setting: this build has no RDMA data path"
                );
            }
        }
        Ok(())
    }

    /// Checks the configuration and resolves what the client runs with. Called once, when a
    /// client is built.
    pub fn validate(&self) -> Result<ValidatedConfig, ConfigError> {
        let ClientConfig {
            servers,
            auth_key,
            integrity,
            transport,
            num_connections,
            connect_timeout,
            op_timeout,
            max_batch_size,
            unreachable,
            send_buffer,
        } = self;
        if servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        let mut addrs: Vec<ServerAddr> = Vec::with_capacity(servers.len());
        for s in servers {
            let addr = ServerAddr::parse(s)?;
            if addrs.iter().any(|a| a.id == addr.id) {
                return Err(ConfigError::invalid(
                    "servers",
                    format!("server `{}` is listed twice", addr.id),
                ));
            }
            addrs.push(addr);
        }
        let (auth_key, dev_key) = match auth_key {
            Some(k) => (k.clone(), false),
            None => match addrs.iter().find(|a| !a.is_loopback()) {
                Some(a) => {
                    return Err(ConfigError::NoAuthKey {
                        server: a.id.clone(),
                    });
                }
                None => (AuthKey::loopback_dev_key(), true),
            },
        };
        match transport {
            Transport::Tcp => {}
            Transport::Auto => {
                tracing::debug!("transport `auto`: this build has no RDMA data path; using TCP");
            }
            Transport::Rdma | Transport::RdmaRc => {
                return Err(ConfigError::NoRdma {
                    requested: transport.name().to_owned(),
                });
            }
        }
        if *num_connections == 0 || *num_connections > MAX_NUM_CONNECTIONS {
            return Err(ConfigError::invalid(
                "num_connections",
                format!("must be between 1 and {MAX_NUM_CONNECTIONS}, got {num_connections}"),
            ));
        }
        if *max_batch_size == 0 {
            return Err(ConfigError::invalid("max_batch_size", "must be at least 1"));
        }
        for (name, d) in [
            ("connect_timeout_ms", connect_timeout),
            ("op_timeout_ms", op_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::invalid(name, "must be at least 1 ms"));
            }
        }
        Ok(ValidatedConfig {
            servers: addrs,
            auth_key,
            dev_key,
            integrity: *integrity,
            num_connections: *num_connections,
            connect_timeout: *connect_timeout,
            op_timeout: *op_timeout,
            max_batch_size: *max_batch_size,
            unreachable: *unreachable,
            send_buffer: *send_buffer,
        })
    }

    /// The Markdown table of client YAML keys, as committed in `docs/client.md` between
    /// `<!-- BEGIN GENERATED: client-config -->` and `<!-- END GENERATED: client-config -->`.
    pub fn render_yaml_keys_markdown() -> String {
        let mut out = String::from(
            "| YAML key | Environment variable | Default | Meaning |\n|---|---|---|---|\n",
        );
        for v in env::ALL {
            if let Some(key) = v.yaml_key {
                out.push_str(&format!(
                    "| `{key}` | `{}` | {} | {} |\n",
                    v.name, v.default, v.doc
                ));
            }
        }
        out.push_str("| `gid_index` | - | - | RoCE GID index: accepted for compatibility and ignored by this TCP-only build. |\n");
        out
    }
}

/// The YAML file as written. Every key is optional; values are kept raw and parsed by the same
/// code as the environment variables, so both report errors alike.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    servers: Option<serde_yaml::Value>,
    auth_key: Option<serde_yaml::Value>,
    integrity: Option<serde_yaml::Value>,
    transport: Option<serde_yaml::Value>,
    num_connections: Option<serde_yaml::Value>,
    connect_timeout_ms: Option<serde_yaml::Value>,
    op_timeout_ms: Option<serde_yaml::Value>,
    max_batch_size: Option<serde_yaml::Value>,
    unreachable: Option<serde_yaml::Value>,
    send_buffer: Option<serde_yaml::Value>,
    rdma_devices: Option<serde_yaml::Value>,
    bind_addresses: Option<serde_yaml::Value>,
    license: Option<serde_yaml::Value>,
    cache_size_mb: Option<serde_yaml::Value>,
    staging_size_mb: Option<serde_yaml::Value>,
    staging_slot_mb: Option<serde_yaml::Value>,
    gid_index: Option<serde_yaml::Value>,
    traffic_class: Option<serde_yaml::Value>,
    service_level: Option<serde_yaml::Value>,
    pkey_index: Option<serde_yaml::Value>,
}

/// A YAML value as the text an environment variable would hold (`servers` may be a list).
fn scalar_text(key: &str, value: &serde_yaml::Value, setting: &str) -> Result<String, ConfigError> {
    use serde_yaml::Value;
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Sequence(items) if key == "servers" => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    _ => {
                        return Err(ConfigError::invalid(
                            setting,
                            "each server must be a \"host:port\" string",
                        ));
                    }
                }
            }
            Ok(out.join(","))
        }
        _ => Err(ConfigError::invalid(
            setting,
            "expected a single value (string or number)",
        )),
    }
}

fn parse_count(value: &str, setting: &str, max: usize) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::invalid(
            setting,
            format!("expected a whole number between 1 and {max}, got `{value}`"),
        )),
    }
}

fn parse_ms(value: &str, setting: &str) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ConfigError::invalid(
            setting,
            format!("expected a whole number of milliseconds (at least 1), got `{value}`"),
        )),
    }
}

/// One server address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    /// The server as configured (`host:port`, trimmed): its identity for sharding and logs.
    pub id: String,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ServerAddr {
    /// Parses `host:port` (IPv6 as `[addr]:port`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let id = text.trim();
        let bad = |why: &str| {
            ConfigError::invalid(
                "servers",
                format!(
                    "`{id}` is not a valid server address: {why} (write host:port, IPv6 as [addr]:port)"
                ),
            )
        };
        let (host, port) = id.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => {
                v6.parse::<std::net::Ipv6Addr>()
                    .map_err(|_| bad("the bracketed part is not an IPv6 address"))?;
                v6
            }
            None if host.contains(':') => return Err(bad("IPv6 addresses need brackets")),
            None => host,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(ServerAddr {
            id: id.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// Whether the host is a loopback address (`127.0.0.0/8`, `::1`) or `localhost`.
    pub fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// A checked configuration, as a client runs with it.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    servers: Vec<ServerAddr>,
    auth_key: AuthKey,
    dev_key: bool,
    integrity: Integrity,
    num_connections: usize,
    connect_timeout: Duration,
    op_timeout: Duration,
    max_batch_size: usize,
    unreachable: Unreachable,
    send_buffer: SendBuffer,
}

impl ValidatedConfig {
    /// The servers, in configured order (server indexes refer to this order).
    pub fn servers(&self) -> &[ServerAddr] {
        &self.servers
    }
    /// The key frames are authenticated with.
    pub fn auth_key(&self) -> &AuthKey {
        &self.auth_key
    }
    /// Whether the key is the loopback development key (no key was configured).
    pub fn uses_loopback_dev_key(&self) -> bool {
        self.dev_key
    }
    /// The integrity mode.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }
    /// Connections per server.
    pub fn num_connections(&self) -> usize {
        self.num_connections
    }
    /// Connect and handshake timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Per-request timeout.
    pub fn op_timeout(&self) -> Duration {
        self.op_timeout
    }
    /// Most keys per batch frame.
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }
    /// What lookups on unreachable servers return.
    pub fn unreachable(&self) -> Unreachable {
        self.unreachable
    }
    /// How each connection's socket send buffer is sized.
    pub fn send_buffer(&self) -> SendBuffer {
        self.send_buffer
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
