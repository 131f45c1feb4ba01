//! Tests of config loading: defaults, every validation rule, error messages that name the key,
//! and the key table checked against what the parser accepts.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::raw::RawConfig;
use super::validate::{MIN_DEFAULT_MEMORY, default_memory_max_size_from};
use super::*;

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn parse(yaml: &str) -> Result<ServerConfig, ConfigError> {
    ServerConfig::from_yaml_str(yaml)
}

fn loopback(extra: &str) -> String {
    format!("network:\n  address: 127.0.0.1:9900\n{extra}")
}

fn invalid_key(result: Result<ServerConfig, ConfigError>) -> (String, String) {
    match result {
        Err(ConfigError::InvalidValue { key, message }) => (key, message),
        other => panic!("expected InvalidValue, got {other:?}"),
    }
}

#[test]
fn a_loopback_file_gets_every_default() {
    let config = parse(&loopback("memory:\n  max_size: 1 GiB\n")).unwrap();
    let network = &config.network;
    assert_eq!(
        network.address,
        "127.0.0.1:9900".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(network.auth_key, None);
    assert_eq!(network.integrity, IntegrityMode::Mac);
    assert_eq!(network.tls, None);
    assert_eq!(network.max_connections, 1024);
    assert_eq!(network.idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(network.max_frame_size, 64 * MIB);
    assert_eq!(network.max_clock_skew, Duration::from_secs(30));
    assert_eq!(network.max_inflight_bytes, 256 * MIB);
    assert_eq!(network.send_buffer, SendBuffer::Auto);
    assert_eq!(
        config.memory,
        MemoryConfig {
            block_size: 2 * MIB,
            max_size: GIB
        }
    );
    assert_eq!(
        config.storage,
        StorageConfig {
            mode: StorageMode::Memory,
            block_size: 4 * MIB,
            drives: vec![],
            sync: SyncMode::Always,
            queue_depth: 32,
            trim_files: false,
        }
    );
    assert_eq!(config.rdma, RdmaConfig::default());
    assert!(config.warnings().is_empty());
}

#[test]
fn a_full_production_file_parses() {
    let yaml = format!(
        "network:
  address: 0.0.0.0:9900
  auth_key: {KEY_HEX}
  integrity: checksum
  tls_cert: /etc/memkv/admin.crt
  tls_key: /etc/memkv/admin.key
  max_connections: 4096
  idle_timeout: 0s
  max_frame_size: 128 MiB
  max_clock_skew: 500ms
  max_inflight_bytes: 1 GiB
memory:
  block_size: 2 MiB
  max_size: 247 GiB
rdma:
  device: mlx5_0
  num_dcis: 64
  traffic_class: 106
storage:
  mode: memory
  block_size: 4 MiB
  sync: none
  queue_depth: 128
  trim_files: true
  drives:
    - {{ media: /dev/nvme0n1 }}
    - {{ media: /dev/nvme1n1 }}
"
    );
    let config = parse(&yaml).unwrap();
    let mut want_key = [0u8; 32];
    for (i, byte) in want_key.iter_mut().enumerate() {
        *byte = i as u8;
    }
    assert_eq!(config.network.auth_key, Some(want_key));
    assert_eq!(config.network.integrity, IntegrityMode::Checksum);
    assert_eq!(
        config.network.tls,
        Some(TlsSettings {
            cert: "/etc/memkv/admin.crt".into(),
            key: "/etc/memkv/admin.key".into()
        })
    );
    assert_eq!(config.network.max_connections, 4096);
    assert_eq!(config.network.idle_timeout, None);
    assert_eq!(config.network.max_frame_size, 128 * MIB);
    assert_eq!(config.network.max_clock_skew, Duration::from_millis(500));
    assert_eq!(config.network.max_inflight_bytes, GIB);
    assert_eq!(config.memory.max_size, 247 * GIB);
    assert_eq!(config.storage.sync, SyncMode::None);
    assert_eq!(config.storage.queue_depth, 128);
    assert!(config.storage.trim_files);
    assert_eq!(
        config.storage.drives,
        vec![
            DriveConfig {
                media: "/dev/nvme0n1".into(),
                size: super::validate::DEFAULT_FILE_SIZE,
            },
            DriveConfig {
                media: "/dev/nvme1n1".into(),
                size: super::validate::DEFAULT_FILE_SIZE,
            }
        ]
    );
    assert_eq!(config.rdma.device.as_deref(), Some("mlx5_0"));
    assert_eq!(config.rdma.num_dcis, Some(64));
    assert_eq!(config.rdma.traffic_class, Some(106));
    assert_eq!(config.admin_address(), "0.0.0.0:9901".parse().unwrap());
    // One warning for rdma.*, one for drives in memory mode.
    assert_eq!(config.warnings().len(), 2);
}

#[test]
fn integrity_modes_are_spelled_as_documented() {
    for (text, mode) in [
        ("mac", IntegrityMode::Mac),
        ("hmac-sha256", IntegrityMode::HmacSha256),
        ("checksum", IntegrityMode::Checksum),
    ] {
        let config = parse(&loopback(&format!("  integrity: {text}\n"))).unwrap();
        assert_eq!(config.network.integrity, mode);
        assert_eq!(mode.as_str(), text);
    }
    let (key, _) = invalid_key(parse(&loopback("  integrity: sha1\n")));
    assert_eq!(key, "network.integrity");
}

#[test]
fn unknown_keys_are_named_with_their_section_and_the_known_keys() {
    let error = parse(&loopback("  adress: 1.2.3.4:9900\n")).unwrap_err();
    match &error {
        ConfigError::UnknownKey { key, parent, known } => {
            assert_eq!(key, "network.adress");
            assert_eq!(parent, "network");
            assert!(known.contains(&"address") && known.contains(&"auth_key"));
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert!(
        error.to_string().starts_with(
            "config key `network.adress` is not known (known keys under `network`: address, auth_key, auth_key_file, auth_key_generate, integrity, "
        ),
        "{error}"
    );

    match parse("netwrok:\n  address: 127.0.0.1:1\n").unwrap_err() {
        ConfigError::UnknownKey { key, parent, known } => {
            assert_eq!(key, "netwrok");
            assert_eq!(parent, "");
            assert_eq!(known, vec!["network", "memory", "storage", "rdma"]);
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }

    match parse(&loopback(
        "storage:\n  drives:\n    - { media: /a }\n    - { medai: /b }\n",
    ))
    .unwrap_err()
    {
        ConfigError::UnknownKey { key, parent, known } => {
            assert_eq!(key, "storage.drives[1].medai");
            assert_eq!(parent, "storage.drives[]");
            assert_eq!(known, vec!["media", "size"]);
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn bad_sizes_and_durations_name_the_key() {
    let error = parse(&loopback("memory:\n  max_size: 12 parsecs\n")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config key `memory.max_size`: `12 parsecs` is not a size (use e.g. `512 MiB`, `64 GiB`)"
    );
    let (key, _) = invalid_key(parse(&loopback("memory:\n  block_size: -4\n")));
    assert_eq!(key, "memory.block_size");
    let (key, message) = invalid_key(parse(&loopback("  idle_timeout: 30\n")));
    assert_eq!(key, "network.idle_timeout");
    assert!(message.contains("`30s`"), "{message}");
    let (key, _) = invalid_key(parse(&loopback("  max_clock_skew: soon\n")));
    assert_eq!(key, "network.max_clock_skew");
    let (key, _) = invalid_key(parse(&loopback("  max_connections: lots\n")));
    assert_eq!(key, "network.max_connections");
    let (key, _) = invalid_key(parse(&loopback("  threads: -1\n")));
    assert_eq!(key, "network.threads");
    assert_eq!(
        parse(&loopback("  threads: 3\n")).unwrap().network.threads,
        3
    );
    let (key, _) = invalid_key(parse(&loopback("rdma:\n  traffic_class: 256\n")));
    assert_eq!(key, "rdma.traffic_class");
}

#[test]
fn the_send_buffer_is_a_policy_or_a_size_in_range() {
    for (value, want) in [
        ("auto", SendBuffer::Auto),
        ("Kernel", SendBuffer::Kernel),
        ("1 MiB", SendBuffer::Fixed(1 << 20)),
        ("'4096'", SendBuffer::Fixed(4096)),
        ("524288", SendBuffer::Fixed(512 << 10)),
    ] {
        let config = parse(&loopback(&format!("  send_buffer: {value}\n"))).unwrap();
        assert_eq!(config.network.send_buffer, want, "{value}");
    }
    // Above the kernel's ceiling: valid, with a warning at start-up.
    let config = parse(&loopback("  send_buffer: 256 MiB\n")).unwrap();
    let capped = memkv_frameio::sendbuf::kernel_ceiling().unwrap() < 256 << 20;
    let noted = config
        .warnings()
        .iter()
        .any(|w| w.starts_with("network.send_buffer asks for 268435456 bytes"));
    assert_eq!(noted, capped, "{:?}", config.warnings());
    assert!(parse(&loopback("")).unwrap().warnings().is_empty());
    for bad in ["2 KiB", "1 GiB", "-1", "lots"] {
        let (key, message) = invalid_key(parse(&loopback(&format!("  send_buffer: {bad}\n"))));
        assert_eq!(key, "network.send_buffer", "{bad}");
        assert!(
            message.contains("`auto`") && message.contains("`kernel`"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn sizes_may_be_plain_byte_counts() {
    let config = parse(&loopback("memory:\n  max_size: 134217728\n")).unwrap();
    assert_eq!(config.memory.max_size, 128 * MIB);
}

#[test]
fn ranges_are_enforced() {
    let cases = [
        ("  max_frame_size: 512 KiB\n", "network.max_frame_size"),
        (
            "  max_frame_size: 2 GiB\n  max_inflight_bytes: 4 GiB\n",
            "network.max_frame_size",
        ),
        ("  max_connections: 0\n", "network.max_connections"),
        ("  threads: 1025\n", "network.threads"),
        ("  max_clock_skew: 0s\n", "network.max_clock_skew"),
        ("  max_clock_skew: 2h\n", "network.max_clock_skew"),
        ("  max_frame_size: 512 MiB\n", "network.max_inflight_bytes"),
        ("memory:\n  max_size: 512 KiB\n", "memory.max_size"),
        ("memory:\n  block_size: 1 KiB\n", "memory.block_size"),
        ("storage:\n  block_size: 2 GiB\n", "storage.block_size"),
        ("storage:\n  queue_depth: 0\n", "storage.queue_depth"),
        ("storage:\n  queue_depth: 5000\n", "storage.queue_depth"),
        ("rdma:\n  num_dcis: 0\n", "rdma.num_dcis"),
        (
            "storage:\n  drives:\n    - { media: '' }\n",
            "storage.drives[0].media",
        ),
        ("storage:\n  drives:\n    - {}\n", "storage.drives[0]"),
    ];
    for (extra, want_key) in cases {
        let (key, message) = invalid_key(parse(&loopback(extra)));
        assert_eq!(key, want_key, "for {extra:?}: {message}");
    }
}

#[test]
fn a_non_loopback_address_requires_an_auth_key() {
    let error = parse("network:\n  address: 0.0.0.0:9900\n").unwrap_err();
    assert!(matches!(
        error,
        ConfigError::AuthKeyRequired { address } if address == "0.0.0.0:9900".parse().unwrap()
    ));
    assert_eq!(
        error.to_string(),
        "network.address 0.0.0.0:9900 is not a loopback address, so network.auth_key is required (or network.auth_key_file, or MEMKV_AUTH_KEY / MEMKV_AUTH_KEY_FILE in the environment); generate one with `openssl rand -hex 32`"
    );
    // A file that sets nothing listens on 0.0.0.0:9900, so it needs a key too.
    assert!(matches!(
        parse(""),
        Err(ConfigError::AuthKeyRequired { .. })
    ));
    assert!(matches!(
        parse("network:\n  address: 10.1.2.3:9900\n"),
        Err(ConfigError::AuthKeyRequired { .. })
    ));
    let config = parse(&format!("network:\n  auth_key: {KEY_HEX}\n")).unwrap();
    assert_eq!(config.network.address, "0.0.0.0:9900".parse().unwrap());
    assert!(parse("network:\n  address: '[::1]:9900'\n").is_ok());
}

#[test]
fn bad_auth_keys_are_rejected_without_echoing_them() {
    let short = &KEY_HEX[..62];
    let (key, message) = invalid_key(parse(&loopback(&format!("  auth_key: {short}\n"))));
    assert_eq!(key, "network.auth_key");
    assert!(message.contains("found 62"), "{message}");
    assert!(!message.contains(short));

    let not_hex = format!("{}zz", &KEY_HEX[..62]);
    let (key, message) = invalid_key(parse(&loopback(&format!("  auth_key: {not_hex}\n"))));
    assert_eq!(key, "network.auth_key");
    assert!(!message.contains(&not_hex));
    assert!(message.contains("openssl rand -hex 32"));

    // A key YAML reads as a number is refused without repeating it.
    let digits = "1".repeat(64);
    let (key, message) = invalid_key(parse(&loopback(&format!("  auth_key: {digits}\n"))));
    assert_eq!(key, "network.auth_key");
    assert!(!message.contains("1111"), "{message}");

    let upper = KEY_HEX.to_uppercase();
    let config = parse(&loopback(&format!("  auth_key: '{upper}'\n"))).unwrap();
    assert_eq!(config.network.auth_key.unwrap()[31], 0x1f);
}

#[test]
fn debug_output_redacts_the_auth_key() {
    let config = parse(&loopback(&format!("  auth_key: {KEY_HEX}\n"))).unwrap();
    let debug = format!("{config:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    // The key bytes would appear as a list of numbers; the 0x1f..0x1d tail is distinctive.
    assert!(!debug.contains("29, 30, 31"), "{debug}");
    assert!(!debug.contains(KEY_HEX));
}

#[test]
fn tls_needs_both_cert_and_key() {
    let error = parse(&loopback("  tls_cert: /c.pem\n")).unwrap_err();
    assert!(matches!(
        error,
        ConfigError::TlsIncomplete {
            set: "network.tls_cert",
            missing: "network.tls_key"
        }
    ));
    let message = error.to_string();
    assert!(message.contains("network.tls_cert") && message.contains("network.tls_key"));
    assert!(matches!(
        parse(&loopback("  tls_key: /k.pem\n")),
        Err(ConfigError::TlsIncomplete {
            set: "network.tls_key",
            missing: "network.tls_cert"
        })
    ));
}

#[test]
fn persistent_storage_modes_need_drives_and_a_usable_block_size() {
    for (text, mode) in [("file", StorageMode::File), ("direct", StorageMode::Direct)] {
        let error = parse(&loopback(&format!("storage:\n  mode: {text}\n"))).unwrap_err();
        assert!(error.to_string().contains("storage.drives"), "{error}");
        let error = parse(&loopback(&format!(
            "storage:\n  mode: {text}\n  block_size: 4 KiB\n  drives:\n    - {{ media: /d0 }}\n"
        )))
        .unwrap_err();
        assert!(error.to_string().contains("storage.block_size"), "{error}");
        let config = parse(&loopback(&format!(
            "storage:\n  mode: {text}\n  drives:\n    - {{ media: /d0, size: 64 MiB }}\n"
        )))
        .unwrap();
        assert_eq!(config.storage.mode, mode);
        assert_eq!(config.storage.drives[0].size, 64 * MIB);
    }
}

#[test]
fn admin_address_is_port_plus_one_on_the_same_ip() {
    let config = parse("network:\n  address: 127.0.0.2:7000\n").unwrap();
    assert_eq!(config.admin_address(), "127.0.0.2:7001".parse().unwrap());
    let config = parse("network:\n  address: 127.0.0.1:0\n").unwrap();
    assert_eq!(config.admin_address(), "127.0.0.1:0".parse().unwrap());
    let config = parse("network:\n  address: '[::1]:9900'\n").unwrap();
    assert_eq!(config.admin_address(), "[::1]:9901".parse().unwrap());
    let (key, _) = invalid_key(parse("network:\n  address: 127.0.0.1:65535\n"));
    assert_eq!(key, "network.address");
    let (key, message) = invalid_key(parse("network:\n  address: localhost:9900\n"));
    assert_eq!(key, "network.address");
    assert!(message.contains("IP:port"), "{message}");
}

#[test]
fn embedded_default_is_loopback_memory_mode_without_a_key() {
    let config = ServerConfig::embedded_default();
    assert_eq!(config.network.address, "127.0.0.1:9900".parse().unwrap());
    assert_eq!(config.admin_address(), "127.0.0.1:9901".parse().unwrap());
    assert_eq!(config.network.auth_key, None);
    assert_eq!(config.storage.mode, StorageMode::Memory);
    assert!(config.memory.max_size >= MIN_DEFAULT_MEMORY);
    assert_eq!(config.memory.max_size % MIB, 0);
}

#[test]
fn default_memory_is_a_quarter_of_the_machine() {
    let meminfo = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n";
    // 24576000 KiB = 25165824000 B; a quarter is 6291456000 B = 6000 MiB.
    assert_eq!(
        default_memory_max_size_from(Some(meminfo), None),
        6000 * MIB
    );
    assert_eq!(
        default_memory_max_size_from(Some(meminfo), Some("max\n")),
        6000 * MIB
    );
    // A lower cgroup limit wins: 2 GiB → 512 MiB.
    assert_eq!(
        default_memory_max_size_from(Some(meminfo), Some("2147483648\n")),
        512 * MIB
    );
    // Tiny machines still get 64 MiB; unknown machines are assumed to have 4 GiB.
    assert_eq!(
        default_memory_max_size_from(Some("MemTotal: 102400 kB\n"), None),
        64 * MIB
    );
    assert_eq!(default_memory_max_size_from(None, None), GIB);
    assert_eq!(default_memory_max_size_from(Some("garbage"), None), GIB);
}

#[test]
fn yaml_errors_are_reported() {
    assert!(matches!(
        parse("network: [unclosed"),
        Err(ConfigError::Syntax { .. })
    ));
    assert!(matches!(
        parse("- a\n- b\n"),
        Err(ConfigError::NotAMapping { .. })
    ));
    let (key, _) = invalid_key(parse("network: 5\n"));
    assert_eq!(key, "network");
    assert!(matches!(
        parse("network:\n  address: 127.0.0.1:1\n  address: 127.0.0.1:2\n"),
        Err(ConfigError::Syntax { .. })
    ));
}

#[test]
fn from_path_names_the_file() {
    let dir = std::env::temp_dir().join(format!("memkv-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.yaml");
    match ServerConfig::from_path(&missing) {
        Err(ConfigError::Read { path, error }) => {
            assert_eq!(path, missing);
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Read, got {other:?}"),
    }

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "network:\n  adress: 127.0.0.1:1\n").unwrap();
    let error = ServerConfig::from_path(&bad).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: config key `network.adress`", bad.display()))
    );
    assert!(matches!(
        &error,
        ConfigError::InFile { path, error } if *path == bad && matches!(**error, ConfigError::UnknownKey { .. })
    ));

    let good = dir.join("good.yaml");
    std::fs::write(&good, loopback("")).unwrap();
    assert_eq!(
        ServerConfig::from_path(&good).unwrap().network.address,
        "127.0.0.1:9900".parse().unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Builds a YAML document that sets every key in the table to its example value.
fn yaml_setting_every_key() -> String {
    yaml_setting_every_key_except(&[])
}

/// [`yaml_setting_every_key`] without the keys in `skip`.
fn yaml_setting_every_key_except(skip: &[&str]) -> String {
    let mut yaml = String::new();
    for (section, _) in SECTIONS {
        yaml.push_str(&format!("{section}:\n"));
        for doc in CONFIG_KEYS {
            let Some(name) = doc
                .key
                .strip_prefix(section)
                .and_then(|k| k.strip_prefix('.'))
            else {
                continue;
            };
            if name.contains('.') {
                continue; // list-entry keys are set through their list's example
            }
            if skip.contains(&doc.key) {
                continue;
            }
            yaml.push_str(&format!("  {name}: {}\n", doc.example));
        }
    }
    yaml
}

/// Dotted keys present in a YAML value, with `[]` for list entries.
fn keys_of(value: &serde_yaml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (k, v) in map {
                let name = k.as_str().unwrap();
                let key = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}.{name}")
                };
                if prefix.is_empty() {
                    keys_of(v, &key, out);
                } else {
                    out.insert(key.clone());
                    keys_of(v, &key, out);
                }
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for item in items {
                keys_of(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_key_table_matches_the_parser_exactly() {
    let yaml = yaml_setting_every_key();
    // Every documented key is accepted, and the whole file validates (less
    // `network.auth_key_file`, which may not be set together with `network.auth_key`, and
    // `network.auth_key_generate`, which needs it).
    let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let valid =
        yaml_setting_every_key_except(&["network.auth_key_file", "network.auth_key_generate"]);
    ServerConfig::from_yaml_str(&valid).unwrap_or_else(|e| panic!("{e}\n{valid}"));
    // Every key the parser has is documented: serializing the raw config shows them all.
    let mut accepted = BTreeSet::new();
    keys_of(&serde_yaml::to_value(&raw).unwrap(), "", &mut accepted);
    let documented: BTreeSet<String> = CONFIG_KEYS.iter().map(|d| d.key.to_owned()).collect();
    assert_eq!(accepted, documented);
    let sections: BTreeSet<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
    let key_sections: BTreeSet<&str> = CONFIG_KEYS
        .iter()
        .map(|d| d.key.split('.').next().unwrap())
        .collect();
    assert_eq!(sections, key_sections);
}

#[test]
fn documented_defaults_match_the_validated_defaults() {
    let config = parse(&loopback("")).unwrap();
    let effective = |key: &str| -> Option<String> {
        Some(match key {
            "network.integrity" => config.network.integrity.to_string(),
            "network.max_connections" => config.network.max_connections.to_string(),
            "network.idle_timeout" => format_duration(config.network.idle_timeout?),
            "network.max_frame_size" => format_size(config.network.max_frame_size),
            "network.max_clock_skew" => format_duration(config.network.max_clock_skew),
            "network.max_inflight_bytes" => format_size(config.network.max_inflight_bytes),
            "network.send_buffer" => config.network.send_buffer.to_string(),
            "network.threads" => config.network.threads.to_string(),
            "memory.block_size" => format_size(config.memory.block_size),
            "storage.mode" => config.storage.mode.to_string(),
            "storage.block_size" => format_size(config.storage.block_size),
            "storage.drives" if config.storage.drives.is_empty() => "[]".to_owned(),
            "storage.sync" => config.storage.sync.to_string(),
            "storage.queue_depth" => config.storage.queue_depth.to_string(),
            "storage.trim_files" => config.storage.trim_files.to_string(),
            _ => return None,
        })
    };
    let mut checked = 0;
    for doc in CONFIG_KEYS {
        if let Some(value) = effective(doc.key) {
            assert_eq!(doc.default, format!("`{value}`"), "default of {}", doc.key);
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
    let file_default = CONFIG_KEYS
        .iter()
        .find(|d| d.key == "network.address")
        .unwrap();
    assert!(file_default.default.starts_with("`0.0.0.0:9900`"));
}

#[test]
fn known_keys_under_lists_direct_children_only() {
    assert_eq!(known_keys_under("memory"), vec!["block_size", "max_size"]);
    assert_eq!(
        known_keys_under("storage"),
        vec![
            "mode",
            "block_size",
            "drives",
            "sync",
            "queue_depth",
            "trim_files"
        ]
    );
    assert_eq!(known_keys_under("storage.drives[]"), vec!["media", "size"]);
    assert!(known_keys_under("nothing").is_empty());
}

/// A fresh directory for key files, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("memkv-config-tests-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env_key(key: &str) -> AuthKeyEnv {
    AuthKeyEnv {
        key: Some(key.to_owned()),
        key_file: None,
    }
}

fn env_key_file(path: &std::path::Path) -> AuthKeyEnv {
    AuthKeyEnv {
        key: None,
        key_file: Some(path.to_owned()),
    }
}

fn key_bytes(hex: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    key
}

const OTHER_KEY_HEX: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

#[test]
fn the_environment_supplies_the_key_for_a_public_address() {
    // The container image's config: all interfaces, no key in the file.
    let yaml = "network:\n  address: 0.0.0.0:9900\n";
    assert!(matches!(
        ServerConfig::from_yaml_str_with_env(yaml, &AuthKeyEnv::default()),
        Err(ConfigError::AuthKeyRequired { .. })
    ));
    let config = ServerConfig::from_yaml_str_with_env(yaml, &env_key(KEY_HEX)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
    // Surrounding whitespace (a trailing newline from `$(cat file)`) is ignored.
    let padded = format!(" {KEY_HEX}\n");
    let config = ServerConfig::from_yaml_str_with_env(yaml, &env_key(&padded)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
    // Without a config file too.
    let config = ServerConfig::embedded_default_with_env(&env_key(KEY_HEX)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
    assert_eq!(
        ServerConfig::embedded_default_with_env(&AuthKeyEnv::default()).unwrap(),
        ServerConfig::embedded_default()
    );
}

#[test]
fn a_key_in_the_config_file_wins_over_the_environment() {
    let yaml = format!("network:\n  auth_key: {KEY_HEX}\n");
    let config = ServerConfig::from_yaml_str_with_env(&yaml, &env_key(OTHER_KEY_HEX)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
    // Even a bad key in the environment is not read when the file has one.
    let config = ServerConfig::from_yaml_str_with_env(&yaml, &env_key("nope")).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
}

#[test]
fn key_files_from_the_config_or_the_environment() {
    let dir = ScratchDir::new("files");
    let file = dir.path().join("key");
    std::fs::write(&file, format!("{KEY_HEX}\n")).unwrap();
    let other = dir.path().join("other");
    std::fs::write(&other, OTHER_KEY_HEX).unwrap();

    let yaml = format!("network:\n  auth_key_file: {}\n", file.display());
    let config = parse(&yaml).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
    // MEMKV_AUTH_KEY_FILE overrides network.auth_key_file, and MEMKV_AUTH_KEY both.
    let config = ServerConfig::from_yaml_str_with_env(&yaml, &env_key_file(&other)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(OTHER_KEY_HEX)));
    let config = ServerConfig::from_yaml_str_with_env(&yaml, &env_key(OTHER_KEY_HEX)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(OTHER_KEY_HEX)));
    let config =
        ServerConfig::from_yaml_str_with_env("network: {}\n", &env_key_file(&file)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
}

#[test]
fn a_missing_key_file_is_generated_once_when_asked_and_the_environment_still_wins() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = ScratchDir::new("generate");
    let file = dir.path().join("auth_key");
    let yaml = format!(
        "network:\n  address: 0.0.0.0:9900\n  auth_key_file: {}\n  auth_key_generate: true\n",
        file.display()
    );
    // The environment overrides the file: nothing is generated.
    let config = ServerConfig::from_yaml_str_with_env(&yaml, &env_key(KEY_HEX)).unwrap();
    assert_eq!(config.network.auth_key, Some(key_bytes(KEY_HEX)));
    assert_eq!(config.network.generated_auth_key, None);
    assert!(!file.exists());

    // No key anywhere: a public address starts with a fresh key, kept in the file (0600).
    let first = ServerConfig::from_yaml_str_with_env(&yaml, &AuthKeyEnv::default()).unwrap();
    assert_eq!(
        first.network.generated_auth_key.as_deref(),
        Some(file.as_path())
    );
    let key = first.network.auth_key.expect("a generated key");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text.trim(),
        key.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !format!("{first:?}").contains(text.trim()),
        "Debug never shows the key"
    );

    // The next start reads the same key back and generates nothing.
    let second = ServerConfig::from_yaml_str_with_env(&yaml, &AuthKeyEnv::default()).unwrap();
    assert_eq!(second.network.auth_key, Some(key));
    assert_eq!(second.network.generated_auth_key, None);

    // Two servers never share a generated key.
    let other = dir.path().join("other_key");
    let yaml_other = yaml.replace(&file.display().to_string(), &other.display().to_string());
    let third = ServerConfig::from_yaml_str_with_env(&yaml_other, &AuthKeyEnv::default()).unwrap();
    assert_ne!(third.network.auth_key, Some(key));

    // Without the switch a missing file is an error, and the switch needs a file.
    let (name, message) = (
        "network.auth_key_generate",
        parse("network:\n  auth_key_generate: true\n")
            .unwrap_err()
            .to_string(),
    );
    assert!(
        message.contains(name) && message.contains("network.auth_key_file"),
        "{message}"
    );
    let missing = dir.path().join("missing");
    let error = parse(&format!(
        "network:\n  auth_key_file: {}\n",
        missing.display()
    ))
    .unwrap_err();
    assert!(
        matches!(error, ConfigError::AuthKeyFile { .. }),
        "{error:?}"
    );
    assert!(!missing.exists());

    // A directory the server cannot write to: a clear error naming the file.
    let unwritable = dir.path().join("no-such-dir").join("auth_key");
    let error = ServerConfig::from_yaml_str_with_env(
        &yaml.replace(
            &file.display().to_string(),
            &unwritable.display().to_string(),
        ),
        &AuthKeyEnv::default(),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ConfigError::AuthKeyGenerate { .. }),
        "{error:?}"
    );
    assert!(
        message.contains(&unwritable.display().to_string()),
        "{message}"
    );
}

#[test]
fn ambiguous_key_sources_are_refused() {
    let dir = ScratchDir::new("ambiguous");
    let file = dir.path().join("key");
    std::fs::write(&file, KEY_HEX).unwrap();
    let yaml = format!(
        "network:\n  auth_key: {KEY_HEX}\n  auth_key_file: {}\n",
        file.display()
    );
    let (key, message) = invalid_key(parse(&yaml));
    assert_eq!(key, "network.auth_key_file");
    assert!(message.contains("network.auth_key"), "{message}");

    let both = AuthKeyEnv {
        key: Some(KEY_HEX.to_owned()),
        key_file: Some(file),
    };
    let error = ServerConfig::from_yaml_str_with_env("network: {}\n", &both).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("MEMKV_AUTH_KEY and MEMKV_AUTH_KEY_FILE"),
        "{message}"
    );
    assert!(!message.contains(KEY_HEX), "{message}");
}

#[test]
fn bad_keys_from_the_environment_or_a_file_are_not_echoed() {
    let bad = format!("{}zz", &OTHER_KEY_HEX[..62]);
    let error = ServerConfig::from_yaml_str_with_env("network: {}\n", &env_key(&bad)).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ConfigError::InvalidAuthKey { .. }),
        "{error:?}"
    );
    assert!(
        message.starts_with("environment variable MEMKV_AUTH_KEY: "),
        "{message}"
    );
    assert!(message.contains("openssl rand -hex 32"), "{message}");
    assert!(!message.contains(&bad[..40]), "{message}");
    assert!(!format!("{error:?}").contains(&bad[..40]));

    let dir = ScratchDir::new("bad");
    let file = dir.path().join("key");
    let short = &OTHER_KEY_HEX[..40];
    std::fs::write(&file, short).unwrap();
    let yaml = format!("network:\n  auth_key_file: {}\n", file.display());
    let message = parse(&yaml).unwrap_err().to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("network.auth_key_file"), "{message}");
    assert!(message.contains("found 40"), "{message}");
    assert!(!message.contains(short), "{message}");

    let missing = dir.path().join("missing");
    let error =
        ServerConfig::from_yaml_str_with_env("network: {}\n", &env_key_file(&missing)).unwrap_err();
    assert!(
        matches!(
            &error,
            ConfigError::AuthKeyFile { named_by: "MEMKV_AUTH_KEY_FILE", path, .. } if *path == missing
        ),
        "{error:?}"
    );
}

#[test]
fn the_key_environment_debug_output_is_redacted() {
    let debug = format!("{:?}", env_key(KEY_HEX));
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(!debug.contains(KEY_HEX), "{debug}");
}
