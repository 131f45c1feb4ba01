//! Every environment variable the client engine reads, in one place.
//!
//! Each variable is a documented `pub const` holding its name, and [`ALL`] describes each one
//! (YAML key, default, meaning). [`render_markdown`] renders the table that
//! `docs/environment.md` carries between the `client-env` markers; a test fails when the
//! committed page is stale (`MEMKV_UPDATE_DOCS=1 cargo test -p memkv-client` rewrites it).
//!
//! Reading happens in [`crate::ClientConfig::from_env`] only; nothing else in the engine looks at
//! the environment.

/// Path of a YAML client config file, read first; `MEMKV_*` variables then override its keys.
pub const MEMKV_CONFIG: &str = "MEMKV_CONFIG";
/// Comma-separated `host:port` list of servers (`servers`).
pub const MEMKV_SERVERS: &str = "MEMKV_SERVERS";
/// Shared 32-byte key as 64 hex characters (`auth_key`).
pub const MEMKV_AUTH_KEY: &str = "MEMKV_AUTH_KEY";
/// Frame integrity mode: `mac`, `hmac-sha256` or `checksum` (`integrity`).
pub const MEMKV_INTEGRITY: &str = "MEMKV_INTEGRITY";
/// Data path: `auto`, `tcp`, `rdma` or `rdma-rc` (`transport`).
pub const MEMKV_TRANSPORT: &str = "MEMKV_TRANSPORT";
/// TCP connections per server (`num_connections`).
pub const MEMKV_NUM_CONNECTIONS: &str = "MEMKV_NUM_CONNECTIONS";
/// Time allowed to connect and authenticate to a server, in milliseconds (`connect_timeout_ms`).
pub const MEMKV_CONNECT_TIMEOUT_MS: &str = "MEMKV_CONNECT_TIMEOUT_MS";
/// Time allowed for one request's round trip, in milliseconds (`op_timeout_ms`).
pub const MEMKV_OP_TIMEOUT_MS: &str = "MEMKV_OP_TIMEOUT_MS";
/// Most keys in one batch frame (`max_batch_size`).
pub const MEMKV_MAX_BATCH_SIZE: &str = "MEMKV_MAX_BATCH_SIZE";
/// What lookups on an unreachable server return: `miss` or `error` (`unreachable`).
pub const MEMKV_UNREACHABLE: &str = "MEMKV_UNREACHABLE";
/// Socket send buffer of each connection: `auto`, `kernel` or bytes (`send_buffer`).
pub const MEMKV_SEND_BUFFER: &str = "MEMKV_SEND_BUFFER";
/// RDMA devices (`rdma_devices`); accepted and ignored by this TCP-only build.
pub const MEMKV_RDMA_DEVICES: &str = "MEMKV_RDMA_DEVICES";
/// Local source addresses per rail (`bind_addresses`); accepted and ignored by this build.
pub const MEMKV_BIND_ADDRESSES: &str = "MEMKV_BIND_ADDRESSES";
/// License of the original product (`license`); accepted and ignored: memkv needs none.
pub const MEMKV_LICENSE: &str = "MEMKV_LICENSE";
/// Client-side cache size (`cache_size_mb`); accepted and ignored by this build.
pub const MEMKV_CACHE_SIZE_MB: &str = "MEMKV_CACHE_SIZE_MB";
/// RDMA staging arena size (`staging_size_mb`); accepted and ignored by this build.
pub const MEMKV_STAGING_SIZE_MB: &str = "MEMKV_STAGING_SIZE_MB";
/// RDMA staging slot size (`staging_slot_mb`); accepted and ignored by this build.
pub const MEMKV_STAGING_SLOT_MB: &str = "MEMKV_STAGING_SLOT_MB";
/// RoCE traffic class (`traffic_class`); accepted and ignored by this build.
pub const MEMKV_RDMA_TRAFFIC_CLASS: &str = "MEMKV_RDMA_TRAFFIC_CLASS";
/// InfiniBand service level (`service_level`); accepted and ignored by this build.
pub const MEMKV_RDMA_SERVICE_LEVEL: &str = "MEMKV_RDMA_SERVICE_LEVEL";
/// InfiniBand partition key index (`pkey_index`); accepted and ignored by this build.
pub const MEMKV_RDMA_PKEY_INDEX: &str = "MEMKV_RDMA_PKEY_INDEX";

/// Description of one environment variable, for documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// The client YAML key it overrides, if any.
    pub yaml_key: Option<&'static str>,
    /// The default when neither the variable nor the YAML key is set.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// Whether this build accepts the variable but does not act on it.
    pub ignored: bool,
}

const fn var(
    name: &'static str,
    yaml_key: Option<&'static str>,
    default: &'static str,
    doc: &'static str,
) -> EnvVar {
    EnvVar {
        name,
        yaml_key,
        default,
        doc,
        ignored: false,
    }
}

const fn ignored(name: &'static str, yaml_key: &'static str) -> EnvVar {
    EnvVar {
        name,
        yaml_key: Some(yaml_key),
        default: "-",
        doc: "RDMA / original-product setting: accepted for compatibility and ignored by this TCP-only build.",
        ignored: true,
    }
}

/// Every variable, in documentation order.
pub const ALL: &[EnvVar] = &[
    var(
        MEMKV_CONFIG,
        None,
        "unset",
        "Path of a YAML client config file. It is read first; unknown keys are refused by name. Environment variables then override its keys.",
    ),
    var(
        MEMKV_SERVERS,
        Some("servers"),
        "required",
        "Comma-separated `host:port` list. Host names are resolved when connecting. The string exactly as written (`host:port`) is the server's identity for sharding.",
    ),
    var(
        MEMKV_AUTH_KEY,
        Some("auth_key"),
        "loopback dev key",
        "Shared key, 64 hex characters (`openssl rand -hex 32`); must equal the servers' `network.auth_key`. May be omitted only when every server is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).",
    ),
    var(
        MEMKV_INTEGRITY,
        Some("integrity"),
        "`mac`",
        "Frame integrity mode: `mac`, `hmac-sha256` or `checksum`; must equal the servers' `network.integrity`.",
    ),
    var(
        MEMKV_TRANSPORT,
        Some("transport"),
        "`auto`",
        "`auto` or `tcp` use TCP. `rdma`, `rdma-rc` (also `rdma-dc`, `rdma_dc`, `rdma_rc`) are refused: this build has no RDMA data path.",
    ),
    var(
        MEMKV_NUM_CONNECTIONS,
        Some("num_connections"),
        "`4`",
        "TCP connections per server, opened lazily (or all at once by `warmup`). Requests are pipelined on each.",
    ),
    var(
        MEMKV_CONNECT_TIMEOUT_MS,
        Some("connect_timeout_ms"),
        "`3000`",
        "Milliseconds allowed to resolve, connect and authenticate to a server.",
    ),
    var(
        MEMKV_OP_TIMEOUT_MS,
        Some("op_timeout_ms"),
        "`30000`",
        "Milliseconds allowed for one request's round trip (each chunk of a chunked transfer counts as one request).",
    ),
    var(
        MEMKV_MAX_BATCH_SIZE,
        Some("max_batch_size"),
        "`1024`",
        "Most keys in one batch frame; larger batches are split automatically (also by the server's frame limit).",
    ),
    var(
        MEMKV_UNREACHABLE,
        Some("unreachable"),
        "`miss`",
        "What lookups (`get`, `exists`, `stat`, batch lookups) on an unreachable server return: `miss` or `error`. Writes always report the error.",
    ),
    var(
        MEMKV_SEND_BUFFER,
        Some("send_buffer"),
        "`auto`",
        "Each connection's socket send buffer. `auto`: 524288 bytes asked for (`SO_SNDBUF`; Linux doubles it to 1 MiB) on connections to loopback servers, where the kernel's autotuning would queue megabytes that only slow each transfer down, and the kernel's autotuning for every other connection. `kernel`: autotuning everywhere. A number of bytes (4096 to 268435456): that much asked for on every connection, which turns autotuning off; Linux caps it at `net.core.wmem_max`. The servers have the same setting (`network.send_buffer`).",
    ),
    ignored(MEMKV_RDMA_DEVICES, "rdma_devices"),
    ignored(MEMKV_BIND_ADDRESSES, "bind_addresses"),
    ignored(MEMKV_LICENSE, "license"),
    ignored(MEMKV_CACHE_SIZE_MB, "cache_size_mb"),
    ignored(MEMKV_STAGING_SIZE_MB, "staging_size_mb"),
    ignored(MEMKV_STAGING_SLOT_MB, "staging_slot_mb"),
    ignored(MEMKV_RDMA_TRAFFIC_CLASS, "traffic_class"),
    ignored(MEMKV_RDMA_SERVICE_LEVEL, "service_level"),
    ignored(MEMKV_RDMA_PKEY_INDEX, "pkey_index"),
];

/// The Markdown table of every client environment variable, as committed in
/// `docs/environment.md` between `<!-- BEGIN GENERATED: client-env -->` and
/// `<!-- END GENERATED: client-env -->`.
pub fn render_markdown() -> String {
    let mut out = String::from("| Variable | YAML key | Default | Meaning |\n|---|---|---|---|\n");
    for v in ALL {
        let key = v
            .yaml_key
            .map_or_else(|| "-".to_owned(), |k| format!("`{k}`"));
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            v.name, key, v.default, v.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<_> = ALL.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(names.iter().all(|n| n.starts_with("MEMKV_")));
    }

    #[test]
    fn every_variable_is_rendered() {
        let md = render_markdown();
        for v in ALL {
            assert!(md.contains(&format!("`{}`", v.name)), "{} missing", v.name);
        }
    }
}
