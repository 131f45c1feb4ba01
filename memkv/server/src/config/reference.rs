//! The one table that describes every config key (type, default, meaning). It drives the
//! generated reference in `docs/configuration.md`, the "known keys" list in unknown-key errors,
//! and the tests that check the table against what the parser accepts.

use std::fmt::Write as _;

/// One documented config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// Full dotted path, e.g. `network.address`; list entries use `[]`, e.g. `storage.drives[].media`.
    pub key: &'static str,
    /// The accepted type or values, in Markdown.
    pub kind: &'static str,
    /// The default, in Markdown (`-` when the key has none).
    pub default: &'static str,
    /// What the key does, in Markdown, on one line.
    pub description: &'static str,
    /// A valid YAML value for the key, used by tests to build a file that sets every key.
    pub example: &'static str,
}

/// Top-level sections of the config file, in documentation order.
pub const SECTIONS: &[(&str, &str)] = &[
    (
        "network",
        "Data-plane listener, authentication, limits, and admin TLS.",
    ),
    ("memory", "Memory budget of the server."),
    (
        "storage",
        "Storage engine: `memory` (RAM only), or the persistent engines `file` (preallocated data files) and `direct` (raw block devices formatted by `memkv setup`). See docs/storage.md and docs/durability.md.",
    ),
    (
        "rdma",
        "RDMA transport. Accepted and kept for compatibility with existing config files; this build has no RDMA data path and warns at start-up when any of these keys is set.",
    ),
];

/// Every config key the server accepts.
pub const CONFIG_KEYS: &[KeyDoc] = &[
    KeyDoc {
        key: "network.address",
        kind: "socket address (`IP:port`)",
        default: "`0.0.0.0:9900` (`127.0.0.1:9900` when no config file is used)",
        description: "Data-plane TCP listen address. The admin HTTP(S) API listens on the same IP at port + 1 (`9901` by default). Port `0` picks free ports for both (for tests).",
        example: "127.0.0.1:9900",
    },
    KeyDoc {
        key: "network.auth_key",
        kind: "64 hex characters (32 bytes)",
        default: "- (required unless `network.address` is a loopback address)",
        description: "Shared secret that authenticates every request. Generate one with `openssl rand -hex 32`. Never logged or printed.",
        example: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    },
    KeyDoc {
        key: "network.auth_key_file",
        kind: "path",
        default: "-",
        description: "File holding the auth key (64 hex characters; surrounding whitespace is ignored), read once at start-up, for keys kept out of the config file (container and systemd secrets). Used when `network.auth_key` is not set; setting both is an error. The environment overrides it: `MEMKV_AUTH_KEY` (the key itself) or `MEMKV_AUTH_KEY_FILE` (another file).",
        example: "/run/secrets/memkv-auth-key",
    },
    KeyDoc {
        key: "network.auth_key_generate",
        kind: "boolean",
        default: "`false`",
        description: "When no key is set anywhere else and the file of `network.auth_key_file` does not exist, generate a random key at start-up and write it there (mode 0600, never logged), so a server on a public address starts without a hand-made key and keeps the same key across restarts. Give clients the file's content. The container image's config turns this on with `/var/lib/memkv/auth_key`.",
        example: "true",
    },
    KeyDoc {
        key: "network.integrity",
        kind: "`mac` \\| `hmac-sha256` \\| `checksum`",
        default: "`mac`",
        description: "How frames are authenticated. `mac`: a POLYVAL + AES-256 MAC over header and payload (docs/protocol.md). `hmac-sha256`: HMAC-SHA256 over header and payload. `checksum`: MAC over the header plus CRC32C of the payload, for trusted fabrics only (detects corruption, not tampering with the payload).",
        example: "mac",
    },
    KeyDoc {
        key: "network.tls_cert",
        kind: "path",
        default: "-",
        description: "PEM certificate chain for serving the admin API over HTTPS. Set together with `network.tls_key`; setting only one of them is a start-up error.",
        example: "/etc/memkv/admin.crt",
    },
    KeyDoc {
        key: "network.tls_key",
        kind: "path",
        default: "-",
        description: "PEM private key (PKCS#8, PKCS#1 or SEC1) for `network.tls_cert`.",
        example: "/etc/memkv/admin.key",
    },
    KeyDoc {
        key: "network.max_connections",
        kind: "integer, 1 to 1048576",
        default: "`1024`",
        description: "Most concurrent data-plane connections. Further connections get a `Busy` answer, are closed, and are counted in `memkv_connections_rejected_total`.",
        example: "1024",
    },
    KeyDoc {
        key: "network.idle_timeout",
        kind: "duration",
        default: "`5m`",
        description: "Close a data-plane connection that has sent nothing for this long. `0s` keeps idle connections open forever.",
        example: "5m",
    },
    KeyDoc {
        key: "network.max_frame_size",
        kind: "size, `1 MiB` to `1 GiB`",
        default: "`64 MiB`",
        description: "Largest frame (header and payload) the server accepts or sends; larger requests are refused and counted in `memkv_frames_rejected_total{reason=\"too_large\"}`.",
        example: "64 MiB",
    },
    KeyDoc {
        key: "network.max_clock_skew",
        kind: "duration, more than `0s` and at most `1h`",
        default: "`30s`",
        description: "Largest accepted difference between a request's signed timestamp and the server clock; older or newer requests fail with `ClockDrift`.",
        example: "30s",
    },
    KeyDoc {
        key: "network.max_inflight_bytes",
        kind: "size, at least `network.max_frame_size`",
        default: "`256 MiB`",
        description: "Per connection: most request bytes being processed at once; a connection that reaches it is not read from until earlier requests complete.",
        example: "256 MiB",
    },
    KeyDoc {
        key: "network.threads",
        kind: "integer from `0` to `1024`",
        default: "`0`",
        description: "Threads that serve data-plane connections. Each connection stays on the thread it was given (the one with the fewest connections when it arrived), which reads its requests and writes its responses, as memcached does; `0` starts one per CPU core the server may run on. The admin API and the storage engine's background work run beside them.",
        example: "0",
    },
    KeyDoc {
        key: "network.send_buffer",
        kind: "`auto`, `kernel`, or a size from `4 KiB` to `256 MiB`",
        default: "`auto`",
        description: "Each data-plane connection's socket send buffer. `auto`: 512 KiB asked for (`SO_SNDBUF`; Linux doubles it to 1 MiB) on connections from loopback clients, where the kernel's autotuning would queue megabytes that only slow each transfer down, and the kernel's autotuning for every other connection. `kernel`: autotuning everywhere. A size: that much asked for on every connection, which turns autotuning off; it must cover the bandwidth-delay product of the clients' paths. Linux caps a request at `net.core.wmem_max` (208 KiB on a stock kernel) unless that is raised. Clients have the same setting (`send_buffer`).",
        example: "auto",
    },
    KeyDoc {
        key: "memory.block_size",
        kind: "size, `4 KiB` to `1 GiB`",
        default: "`2 MiB`",
        description: "RDMA staging chunk size. Kept for compatibility; no effect in this build.",
        example: "2 MiB",
    },
    KeyDoc {
        key: "memory.max_size",
        kind: "size, at least `1 MiB`",
        default: "25% of the machine's memory (the lower of `MemTotal` in `/proc/meminfo` and the cgroup v2 `memory.max`), rounded down to whole MiB, at least `64 MiB`; `1 GiB` when neither can be read",
        description: "Memory for stored values in `memory` mode; when it is full, stored values are evicted to make room (`memkv_evictions_total`).",
        example: "1 GiB",
    },
    KeyDoc {
        key: "storage.mode",
        kind: "`memory` \\| `file` \\| `direct`",
        default: "`memory`",
        description: "Storage engine. `memory`: values live in RAM only and are lost on restart. `file`: values live in preallocated data files (created and formatted on first start when none of them exists) and survive restarts. `direct`: values live on raw block devices formatted with `memkv setup`, opened with `O_DIRECT`. In `file` and `direct` mode `memory.max_size` bounds the RAM read cache in front of the drives.",
        example: "memory",
    },
    KeyDoc {
        key: "storage.block_size",
        kind: "size, `4 KiB` to `1 GiB`",
        default: "`4 MiB`",
        description: "On-drive extent (segment) size of the persistent engines: a power of two of at least `64 KiB` there, and the same as the drives were formatted with. Values larger than one extent are striped over several extents and drives.",
        example: "4 MiB",
    },
    KeyDoc {
        key: "storage.drives",
        kind: "list of `{ media: PATH, size: SIZE }`",
        default: "`[]`",
        description: "Drives (block devices or files) of the persistent engines. Ignored, with a warning, in `memory` mode.",
        example: "[{ media: /dev/nvme0n1 }]",
    },
    KeyDoc {
        key: "storage.drives[].media",
        kind: "path",
        default: "- (required in each entry)",
        description: "Block device or file of one drive.",
        example: "/dev/nvme0n1",
    },
    KeyDoc {
        key: "storage.drives[].size",
        kind: "size",
        default: "`1 GiB`",
        description: "`file` mode: size of the data file when the server creates it (preallocated with `fallocate`). An existing file keeps its size. Ignored for block devices.",
        example: "16 GiB",
    },
    KeyDoc {
        key: "storage.sync",
        kind: "`always` \\| `none`",
        default: "`always`",
        description: "Persistent engines: `always` acknowledges a put once its record is written and `fdatasync` returned (concurrent puts share one sync: group commit); `none` acknowledges once the put is queued in memory, so a crash may lose the last moments of writes. See docs/durability.md.",
        example: "always",
    },
    KeyDoc {
        key: "storage.queue_depth",
        kind: "integer, 1 to 4096",
        default: "`32`",
        description: "Persistent engines: I/O requests in flight per drive. Each drive has its own I/O engine (its own io_uring submission queue, or its own `pread`/`pwrite` workers), so two drives have twice as many requests in flight.",
        example: "32",
    },
    KeyDoc {
        key: "storage.trim_files",
        kind: "boolean",
        default: "`false`",
        description: "`file` mode: when extents are freed (all their records overwritten, deleted or evicted), punch holes there (`FALLOC_FL_PUNCH_HOLE`) so the filesystem gets their blocks back, in batches once the drive has been idle for a minute and on a clean stop. Off by default: the data file then stays fully allocated, and the next write there allocates blocks again and commits the filesystem's journal (4 MiB puts 1.2x to 1.7x slower on ext4). Freed extents of block devices (`direct` mode) are always discarded (`BLKDISCARD`), in the same idle batches.",
        example: "true",
    },
    KeyDoc {
        key: "rdma.device",
        kind: "string",
        default: "-",
        description: "RDMA device name, e.g. `mlx5_0`. Accepted and kept; no effect in this build.",
        example: "mlx5_0",
    },
    KeyDoc {
        key: "rdma.num_dcis",
        kind: "integer, at least 1",
        default: "-",
        description: "Size of the DC initiator pool. Accepted and kept; no effect in this build.",
        example: "64",
    },
    KeyDoc {
        key: "rdma.traffic_class",
        kind: "integer, 0 to 255",
        default: "-",
        description: "RoCE traffic class (DSCP). Accepted and kept; no effect in this build.",
        example: "106",
    },
];

/// The keys directly under `parent` (a dotted path; `""` for the top level), by their last
/// segment, in table order. `parent` uses `[]` for list entries, e.g. `storage.drives[]`.
pub fn known_keys_under(parent: &str) -> Vec<&'static str> {
    if parent.is_empty() {
        return SECTIONS.iter().map(|(name, _)| *name).collect();
    }
    CONFIG_KEYS
        .iter()
        .filter_map(|doc| {
            let rest = doc.key.strip_prefix(parent)?.strip_prefix('.')?;
            (!rest.contains('.')).then_some(rest)
        })
        .collect()
}

/// The generated Markdown reference of every key: one table per section.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for (index, (section, about)) in SECTIONS.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "### `{section}`\n\n{about}\n");
        out.push_str("| Key | Type | Default | Description |\n");
        out.push_str("|---|---|---|---|\n");
        for doc in CONFIG_KEYS
            .iter()
            .filter(|doc| doc.key.split('.').next() == Some(section))
        {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                doc.key, doc.kind, doc.default, doc.description
            );
        }
    }
    out
}
