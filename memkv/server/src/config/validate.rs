//! The single validation step: destructures the raw config exhaustively into `ServerConfig`,
//! applying defaults, ranges and cross-key rules. Also computes the default memory size.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memkv_frameio::SendBuffer;
use memkv_frameio::sendbuf::{MAX_SEND_BUFFER, MIN_SEND_BUFFER};

use super::raw::{RawConfig, RawDrive, RawMemory, RawNetwork, RawRdma, RawSendBuffer, RawStorage};
use super::units::format_size;
use super::{
    AuthKeyEnv, ConfigError, DriveConfig, MemoryConfig, NetworkConfig, RdmaConfig, ServerConfig,
    StorageConfig, StorageMode, TlsSettings,
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// `network.address` when a config file does not set it.
pub(crate) const FILE_DEFAULT_ADDRESS: &str = "0.0.0.0:9900";
/// `network.address` when no config file is used.
pub(crate) const EMBEDDED_ADDRESS: &str = "127.0.0.1:9900";
pub(crate) const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
const MAX_CONNECTIONS: RangeInclusive<u32> = 1..=1 << 20;
/// Most data-plane threads (`network.threads`): far more than the cores of any machine.
const MAX_THREADS: u32 = 1024;
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const DEFAULT_MAX_FRAME_SIZE: u64 = 64 * MIB;
const MAX_FRAME_SIZE: RangeInclusive<u64> = MIB..=GIB;
pub(crate) const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(30);
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);
pub(crate) const DEFAULT_MAX_INFLIGHT_BYTES: u64 = 256 * MIB;
pub(crate) const DEFAULT_MEMORY_BLOCK_SIZE: u64 = 2 * MIB;
const BLOCK_SIZE: RangeInclusive<u64> = 4 * KIB..=GIB;
const MIN_MEMORY_MAX_SIZE: u64 = MIB;
pub(crate) const DEFAULT_STORAGE_BLOCK_SIZE: u64 = 4 * MIB;
pub(crate) const DEFAULT_QUEUE_DEPTH: u32 = 32;
/// The smallest `storage.block_size` of the persistent engines.
const MIN_DISK_BLOCK_SIZE: u64 = 64 * KIB;
/// `storage.drives[].size` default: the size of a data file `file` mode creates.
pub(crate) const DEFAULT_FILE_SIZE: u64 = GIB;
const QUEUE_DEPTH: RangeInclusive<u32> = 1..=4096;
/// The default `memory.max_size` is this share of the machine's memory…
const DEFAULT_MEMORY_PERCENT: u64 = 25;
/// …and at least this much.
pub(crate) const MIN_DEFAULT_MEMORY: u64 = 64 * MIB;
/// Used when the machine's memory cannot be read (not Linux): 4 × 64 MiB would be too small
/// to be useful, so assume a small 4 GiB machine.
const ASSUMED_MACHINE_MEMORY: u64 = 4 * GIB;

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        message: message.into(),
    }
}

fn check_range<T: PartialOrd + Copy>(
    key: &str,
    value: T,
    range: RangeInclusive<T>,
    show: impl Fn(T) -> String,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            key,
            format!(
                "`{}` is out of range (allowed: {} to {})",
                show(value),
                show(*range.start()),
                show(*range.end())
            ),
        ))
    }
}

/// Destructures `raw` exhaustively into a validated [`ServerConfig`]. `env` supplies the auth
/// key when `network.auth_key` is not set. `default_max_size` is called only when
/// `memory.max_size` is not set.
pub(crate) fn validate(
    raw: RawConfig,
    env: &AuthKeyEnv,
    default_max_size: impl FnOnce() -> u64,
) -> Result<ServerConfig, ConfigError> {
    let RawConfig {
        network,
        memory,
        storage,
        rdma,
    } = raw;
    let network = validate_network(network.unwrap_or_default(), env)?;
    let memory = validate_memory(memory.unwrap_or_default(), default_max_size)?;
    let storage = validate_storage(storage.unwrap_or_default())?;
    let rdma = validate_rdma(rdma.unwrap_or_default())?;
    Ok(ServerConfig {
        network,
        memory,
        storage,
        rdma,
    })
}

fn validate_network(raw: RawNetwork, env: &AuthKeyEnv) -> Result<NetworkConfig, ConfigError> {
    let RawNetwork {
        address,
        auth_key,
        auth_key_file,
        auth_key_generate,
        integrity,
        tls_cert,
        tls_key,
        max_connections,
        idle_timeout,
        max_frame_size,
        max_clock_skew,
        max_inflight_bytes,
        send_buffer,
        threads,
    } = raw;

    let address_text = address.as_deref().unwrap_or(FILE_DEFAULT_ADDRESS).trim();
    let address: SocketAddr = address_text.parse().map_err(|_| {
        invalid(
            "network.address",
            format!(
                "`{address_text}` is not a socket address (use `IP:port`, e.g. `0.0.0.0:9900`, `127.0.0.1:9900` or `[::1]:9900`)"
            ),
        )
    })?;
    if address.port() == u16::MAX {
        return Err(invalid(
            "network.address",
            format!(
                "port {} leaves no port for the admin API, which listens on port + 1; choose a lower port",
                u16::MAX
            ),
        ));
    }

    let generate = auth_key_generate.unwrap_or(false);
    if generate && auth_key_file.is_none() {
        return Err(invalid(
            "network.auth_key_generate",
            "needs network.auth_key_file: the file to keep the generated key in",
        ));
    }
    let (auth_key, generated_auth_key) =
        resolve_auth_key(auth_key.map(|key| key.0), auth_key_file, generate, env)?;

    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsSettings { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::TlsIncomplete {
                set: "network.tls_cert",
                missing: "network.tls_key",
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::TlsIncomplete {
                set: "network.tls_key",
                missing: "network.tls_cert",
            });
        }
    };

    let max_connections = check_range(
        "network.max_connections",
        max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        MAX_CONNECTIONS,
        |v| v.to_string(),
    )?;
    let threads = check_range(
        "network.threads",
        threads.unwrap_or(0),
        0..=MAX_THREADS,
        |v| v.to_string(),
    )?;
    let idle_timeout = match idle_timeout.map_or(DEFAULT_IDLE_TIMEOUT, |d| d.0) {
        Duration::ZERO => None,
        timeout => Some(timeout),
    };
    let max_frame_size = check_range(
        "network.max_frame_size",
        max_frame_size.map_or(DEFAULT_MAX_FRAME_SIZE, |s| s.0),
        MAX_FRAME_SIZE,
        format_size,
    )?;
    let max_clock_skew = check_range(
        "network.max_clock_skew",
        max_clock_skew.map_or(DEFAULT_MAX_CLOCK_SKEW, |d| d.0),
        Duration::from_millis(1)..=MAX_CLOCK_SKEW,
        super::units::format_duration,
    )?;
    let max_inflight_bytes = max_inflight_bytes.map_or(DEFAULT_MAX_INFLIGHT_BYTES, |s| s.0);
    if max_inflight_bytes < max_frame_size {
        return Err(invalid(
            "network.max_inflight_bytes",
            format!(
                "`{}` is smaller than network.max_frame_size (`{}`); it must hold at least one frame",
                format_size(max_inflight_bytes),
                format_size(max_frame_size)
            ),
        ));
    }

    let send_buffer = match send_buffer {
        None => SendBuffer::default(),
        Some(RawSendBuffer::Policy(policy)) => policy,
        Some(RawSendBuffer::Size(bytes)) => SendBuffer::fixed(bytes).map_err(|_| {
            invalid(
                "network.send_buffer",
                format!(
                    "`{}` is outside {} to {} (or use `auto`, the default, or `kernel`)",
                    format_size(bytes),
                    format_size(MIN_SEND_BUFFER as u64),
                    format_size(MAX_SEND_BUFFER as u64)
                ),
            )
        })?,
    };

    if auth_key.is_none() && !address.ip().is_loopback() {
        return Err(ConfigError::AuthKeyRequired { address });
    }

    Ok(NetworkConfig {
        address,
        auth_key,
        generated_auth_key,
        integrity: integrity.unwrap_or_default(),
        tls,
        max_connections,
        idle_timeout,
        max_frame_size,
        max_clock_skew,
        max_inflight_bytes,
        send_buffer,
        threads,
    })
}

/// The auth key, from the first source that has one: `network.auth_key`, `MEMKV_AUTH_KEY`,
/// the file of `MEMKV_AUTH_KEY_FILE`, the file of `network.auth_key_file`. Setting two sources
/// at the same level (both config keys, or both variables) is an error rather than a guess.
/// With `generate`, a missing `network.auth_key_file` is created with a random key, and its
/// path is returned too.
fn resolve_auth_key(
    config_key: Option<String>,
    config_key_file: Option<PathBuf>,
    generate: bool,
    env: &AuthKeyEnv,
) -> Result<(Option<[u8; 32]>, Option<PathBuf>), ConfigError> {
    if config_key.is_some() && config_key_file.is_some() {
        return Err(invalid(
            "network.auth_key_file",
            "is set together with network.auth_key; set only one of them",
        ));
    }
    if let Some(text) = config_key {
        return parse_auth_key(&text)
            .map(|key| (Some(key), None))
            .map_err(|message| invalid("network.auth_key", message));
    }
    if env.key.is_some() && env.key_file.is_some() {
        return Err(ConfigError::InvalidAuthKey {
            origin: format!(
                "environment variables {} and {}",
                AuthKeyEnv::KEY_VAR,
                AuthKeyEnv::KEY_FILE_VAR
            ),
            message: "both are set; set only one of them".to_owned(),
        });
    }
    if let Some(text) = &env.key {
        return parse_auth_key(text)
            .map(|key| (Some(key), None))
            .map_err(|message| ConfigError::InvalidAuthKey {
                origin: format!("environment variable {}", AuthKeyEnv::KEY_VAR),
                message,
            });
    }
    let (path, named_by) = match (&env.key_file, config_key_file) {
        (Some(path), _) => (path.clone(), AuthKeyEnv::KEY_FILE_VAR),
        (None, Some(path)) => (path, "network.auth_key_file"),
        (None, None) => return Ok((None, None)),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error)
            if error.kind() == std::io::ErrorKind::NotFound
                && generate
                && named_by == "network.auth_key_file" =>
        {
            let key = generate_auth_key(&path)?;
            return Ok((Some(key), Some(path)));
        }
        Err(error) => {
            return Err(ConfigError::AuthKeyFile {
                named_by,
                path,
                error,
            });
        }
    };
    parse_auth_key(&text)
        .map(|key| (Some(key), None))
        .map_err(|message| ConfigError::InvalidAuthKey {
            origin: format!("auth key file {} (named by {named_by})", path.display()),
            message,
        })
}

/// Writes a new random key to `path` (which must not exist; mode 0600) and returns it.
fn generate_auth_key(path: &Path) -> Result<[u8; 32], ConfigError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| {
            file.write_all(format!("{hex}\n").as_bytes())?;
            file.sync_all()
        });
    written.map_err(|error| ConfigError::AuthKeyGenerate {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(key)
}

/// Decodes the 64-hex-character key (surrounding whitespace ignored). The error message never
/// repeats the key.
fn parse_auth_key(text: &str) -> Result<[u8; 32], String> {
    const HINT: &str = "generate a key with `openssl rand -hex 32`";
    let text = text.trim();
    let chars = text.chars().count();
    if chars != 64 {
        return Err(format!(
            "expected 64 hex characters (32 bytes), found {chars}; {HINT}"
        ));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(format!(
                "contains characters that are not hex digits (0-9, a-f); {HINT}"
            ));
        };
        *byte = high << 4 | low;
    }
    Ok(key)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn validate_memory(
    raw: RawMemory,
    default_max_size: impl FnOnce() -> u64,
) -> Result<MemoryConfig, ConfigError> {
    let RawMemory {
        block_size,
        max_size,
    } = raw;
    let block_size = check_range(
        "memory.block_size",
        block_size.map_or(DEFAULT_MEMORY_BLOCK_SIZE, |s| s.0),
        BLOCK_SIZE,
        format_size,
    )?;
    let max_size = match max_size {
        Some(size) => size.0,
        None => default_max_size(),
    };
    if max_size < MIN_MEMORY_MAX_SIZE {
        return Err(invalid(
            "memory.max_size",
            format!(
                "`{}` is too small (at least {})",
                format_size(max_size),
                format_size(MIN_MEMORY_MAX_SIZE)
            ),
        ));
    }
    Ok(MemoryConfig {
        block_size,
        max_size,
    })
}

fn validate_storage(raw: RawStorage) -> Result<StorageConfig, ConfigError> {
    let RawStorage {
        mode,
        block_size,
        drives,
        sync,
        queue_depth,
        trim_files,
    } = raw;
    let mode = mode.unwrap_or_default();
    let block_size = check_range(
        "storage.block_size",
        block_size.map_or(DEFAULT_STORAGE_BLOCK_SIZE, |s| s.0),
        BLOCK_SIZE,
        format_size,
    )?;
    if mode != StorageMode::Memory
        && (!block_size.is_power_of_two() || block_size < MIN_DISK_BLOCK_SIZE)
    {
        return Err(invalid(
            "storage.block_size",
            format!(
                "`{}` does not suit mode {mode}: use a power of two of at least {}",
                format_size(block_size),
                format_size(MIN_DISK_BLOCK_SIZE)
            ),
        ));
    }
    let drives = drives
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, RawDrive { media, size })| {
            if media.as_os_str().is_empty() {
                return Err(invalid(
                    &format!("storage.drives[{index}].media"),
                    "is empty; give a block device or file path",
                ));
            }
            let size = size.map_or(DEFAULT_FILE_SIZE, |s| s.0);
            if mode != StorageMode::Memory && size < 2 * block_size + block_size.max(MIN_DISK_BLOCK_SIZE) {
                return Err(invalid(
                    &format!("storage.drives[{index}].size"),
                    format!(
                        "`{}` is too small: a data file holds at least three extents of storage.block_size ({})",
                        format_size(size),
                        format_size(block_size)
                    ),
                ));
            }
            Ok(DriveConfig { media, size })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if mode != StorageMode::Memory && drives.is_empty() {
        return Err(invalid(
            "storage.drives",
            format!(
                "lists no drives, but storage.mode {mode} needs at least one; add `- {{ media: PATH }}` entries (see `memkv setup`)"
            ),
        ));
    }
    let queue_depth = check_range(
        "storage.queue_depth",
        queue_depth.unwrap_or(DEFAULT_QUEUE_DEPTH),
        QUEUE_DEPTH,
        |v| v.to_string(),
    )?;
    Ok(StorageConfig {
        mode,
        block_size,
        drives,
        sync: sync.unwrap_or_default(),
        queue_depth,
        trim_files: trim_files.unwrap_or(false),
    })
}

fn validate_rdma(raw: RawRdma) -> Result<RdmaConfig, ConfigError> {
    let RawRdma {
        device,
        num_dcis,
        traffic_class,
    } = raw;
    if num_dcis == Some(0) {
        return Err(invalid("rdma.num_dcis", "`0` is out of range (at least 1)"));
    }
    Ok(RdmaConfig {
        device,
        num_dcis,
        traffic_class,
    })
}

/// The default `memory.max_size` for this machine.
pub(crate) fn default_memory_max_size() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let cgroup_max = std::fs::read_to_string(Path::new("/sys/fs/cgroup/memory.max")).ok();
    default_memory_max_size_from(meminfo.as_deref(), cgroup_max.as_deref())
}

/// 25% of the lower of `MemTotal` and the cgroup v2 limit, rounded down to whole MiB, at least
/// 64 MiB. Inputs are the contents of `/proc/meminfo` and `/sys/fs/cgroup/memory.max`.
pub(crate) fn default_memory_max_size_from(meminfo: Option<&str>, cgroup_max: Option<&str>) -> u64 {
    let mem_total = meminfo.and_then(|text| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix("MemTotal:")?;
            let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
            kib.checked_mul(KIB)
        })
    });
    // "max" (no limit) and unreadable files both leave the limit unset.
    let cgroup_limit = cgroup_max.and_then(|text| text.trim().parse::<u64>().ok());
    let machine = match (mem_total, cgroup_limit) {
        (Some(total), Some(limit)) => total.min(limit),
        (Some(total), None) => total,
        (None, Some(limit)) => limit,
        (None, None) => ASSUMED_MACHINE_MEMORY,
    };
    let share = u128::from(machine) * u128::from(DEFAULT_MEMORY_PERCENT) / 100;
    // A share of a u64 is at most the u64 itself.
    let share = u64::try_from(share).unwrap_or(u64::MAX);
    (share / MIB * MIB).max(MIN_DEFAULT_MEMORY)
}
