//! Tests of the configuration chain: YAML first, environment on top, validation messages.

use std::collections::HashMap;
use std::io::Write as _;

use super::*;
use crate::error::ConfigError;

const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn yaml_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write yaml");
    f
}

#[test]
fn defaults_when_nothing_is_set() {
    let c = ClientConfig::from_env_with(env_of(&[])).unwrap();
    assert_eq!(c, ClientConfig::default());
    assert_eq!(c.num_connections, 4);
    assert_eq!(c.connect_timeout, Duration::from_millis(3000));
    assert_eq!(c.op_timeout, Duration::from_millis(30_000));
    assert_eq!(c.max_batch_size, 1024);
    assert_eq!(c.integrity, Integrity::Mac);
    assert_eq!(c.unreachable, Unreachable::Miss);
    assert_eq!(c.send_buffer, SendBuffer::Auto);
}

#[test]
fn yaml_then_env_overrides() {
    let f = yaml_file(&format!(
        "servers: [\"10.0.0.10:9900\", \"10.0.0.11:9900\"]\n\
         auth_key: \"{KEY_A}\"\n\
         integrity: checksum\n\
         transport: tcp\n\
         num_connections: 8\n\
         connect_timeout_ms: 500\n\
         op_timeout_ms: 1000\n\
         max_batch_size: 64\n\
         unreachable: error\n\
         send_buffer: 2097152\n\
         rdma_devices: [mlx5_0, mlx5_1]\n\
         license: /etc/memkv/minio.license\n\
         gid_index: 3\n"
    ));
    let path = f.path().to_str().unwrap().to_owned();
    let from_yaml = ClientConfig::from_env_with(env_of(&[("MEMKV_CONFIG", &path)])).unwrap();
    assert_eq!(from_yaml.servers, ["10.0.0.10:9900", "10.0.0.11:9900"]);
    assert_eq!(from_yaml.auth_key, Some(AuthKey::from_hex(KEY_A).unwrap()));
    assert_eq!(from_yaml.integrity, Integrity::Checksum);
    assert_eq!(from_yaml.transport, Transport::Tcp);
    assert_eq!(from_yaml.num_connections, 8);
    assert_eq!(from_yaml.connect_timeout, Duration::from_millis(500));
    assert_eq!(from_yaml.op_timeout, Duration::from_millis(1000));
    assert_eq!(from_yaml.max_batch_size, 64);
    assert_eq!(from_yaml.unreachable, Unreachable::Error);
    assert_eq!(from_yaml.send_buffer, SendBuffer::Fixed(2 << 20));

    let both = ClientConfig::from_env_with(env_of(&[
        ("MEMKV_CONFIG", &path),
        ("MEMKV_SERVERS", "a.example:1, b.example:2"),
        ("MEMKV_AUTH_KEY", KEY_B),
        ("MEMKV_INTEGRITY", "hmac-sha256"),
        ("MEMKV_NUM_CONNECTIONS", "2"),
        ("MEMKV_OP_TIMEOUT_MS", "7"),
        ("MEMKV_UNREACHABLE", "miss"),
        ("MEMKV_SEND_BUFFER", "kernel"),
        ("MEMKV_RDMA_DEVICES", "mlx5_0"),
    ]))
    .unwrap();
    assert_eq!(both.servers, ["a.example:1", "b.example:2"]);
    assert_eq!(both.auth_key, Some(AuthKey::from_hex(KEY_B).unwrap()));
    assert_eq!(both.integrity, Integrity::HmacSha256);
    assert_eq!(both.num_connections, 2);
    assert_eq!(both.op_timeout, Duration::from_millis(7));
    assert_eq!(both.unreachable, Unreachable::Miss);
    assert_eq!(both.send_buffer, SendBuffer::Kernel);
    // Not overridden: kept from the file.
    assert_eq!(both.transport, Transport::Tcp);
    assert_eq!(both.max_batch_size, 64);
    assert_eq!(both.connect_timeout, Duration::from_millis(500));
}

#[test]
fn servers_may_be_a_comma_string_in_yaml() {
    let c = ClientConfig::from_yaml_str("servers: \"h1:1,h2:2\"\n", "test").unwrap();
    assert_eq!(c.servers, ["h1:1", "h2:2"]);
}

#[test]
fn unknown_yaml_key_is_named() {
    let f = yaml_file("servers: [\"127.0.0.1:9900\"]\nnum_conections: 4\n");
    let path = f.path().to_str().unwrap().to_owned();
    let err = ClientConfig::from_env_with(env_of(&[("MEMKV_CONFIG", &path)])).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::Yaml { .. }), "{err:?}");
    assert!(text.contains("num_conections"), "{text}");
    assert!(text.contains(&path), "{text}");
}

#[test]
fn missing_config_file_is_reported_with_its_path() {
    let err = ClientConfig::from_env_with(env_of(&[("MEMKV_CONFIG", "/nonexistent/memkv.yaml")]))
        .unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }));
    assert!(err.to_string().contains("/nonexistent/memkv.yaml"));
}

#[test]
fn bad_values_name_the_setting() {
    let err =
        ClientConfig::from_env_with(env_of(&[("MEMKV_NUM_CONNECTIONS", "many")])).unwrap_err();
    assert!(err.to_string().contains("MEMKV_NUM_CONNECTIONS"), "{err}");
    let err = ClientConfig::from_env_with(env_of(&[("MEMKV_AUTH_KEY", "abc")])).unwrap_err();
    assert!(err.to_string().contains("MEMKV_AUTH_KEY"), "{err}");
    assert!(err.to_string().contains("64 hex"), "{err}");
    let err = ClientConfig::from_yaml_str("integrity: sha1\n", "f.yaml").unwrap_err();
    assert!(err.to_string().contains("`integrity` in f.yaml"), "{err}");
    let err = ClientConfig::from_env_with(env_of(&[("MEMKV_UNREACHABLE", "ignore")])).unwrap_err();
    assert!(err.to_string().contains("MEMKV_UNREACHABLE"), "{err}");
    for bad in ["1 MiB", "1024", "huge"] {
        let err = ClientConfig::from_env_with(env_of(&[("MEMKV_SEND_BUFFER", bad)])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("MEMKV_SEND_BUFFER") && text.contains("`kernel`"),
            "{text}"
        );
    }
    let err = ClientConfig::from_yaml_str("send_buffer: [1]\n", "f.yaml").unwrap_err();
    assert!(err.to_string().contains("`send_buffer` in f.yaml"), "{err}");
}

#[test]
fn missing_servers_message() {
    let err = ClientConfig::from_env_with(env_of(&[]))
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no servers configured: set `servers` in MEMKV_CONFIG or MEMKV_SERVERS"
    );
}

#[test]
fn missing_key_with_non_loopback_server() {
    let err = ClientConfig::new(["127.0.0.1:9900", "10.0.0.7:9900"])
        .validate()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no auth_key configured: set `auth_key` in MEMKV_CONFIG or MEMKV_AUTH_KEY (64 hex chars / 32 bytes; generate one with `openssl rand -hex 32`); only loopback-only deployments may omit it"),
        "{text}"
    );
    assert!(text.contains("10.0.0.7:9900"), "{text}");
    let err = ClientConfig::new(["cache.internal:9900"])
        .validate()
        .unwrap_err();
    assert!(matches!(err, ConfigError::NoAuthKey { .. }));
}

#[test]
fn loopback_only_uses_the_dev_key() {
    let v = ClientConfig::new([
        "127.0.0.1:9900",
        "127.1.2.3:9901",
        "localhost:9902",
        "[::1]:9903",
    ])
    .validate()
    .unwrap();
    assert!(v.uses_loopback_dev_key());
    assert_eq!(v.auth_key(), &AuthKey::loopback_dev_key());
    let v = ClientConfig::new(["10.0.0.1:9900"])
        .with_auth_key(AuthKey::from_hex(KEY_A).unwrap())
        .validate()
        .unwrap();
    assert!(!v.uses_loopback_dev_key());
    assert_eq!(v.auth_key(), &AuthKey::from_hex(KEY_A).unwrap());
}

#[test]
fn transports() {
    for (text, want) in [
        ("auto", Transport::Auto),
        ("TCP", Transport::Tcp),
        ("rdma", Transport::Rdma),
        ("rdma-dc", Transport::Rdma),
        ("rdma_dc", Transport::Rdma),
        ("rdma-rc", Transport::RdmaRc),
        ("rdma_rc", Transport::RdmaRc),
    ] {
        assert_eq!(text.parse::<Transport>().unwrap(), want, "{text}");
    }
    assert!("udp".parse::<Transport>().is_err());
    let base = ClientConfig::new(["127.0.0.1:1"]);
    assert!(
        base.clone()
            .with_transport(Transport::Auto)
            .validate()
            .is_ok()
    );
    assert!(
        base.clone()
            .with_transport(Transport::Tcp)
            .validate()
            .is_ok()
    );
    for t in [Transport::Rdma, Transport::RdmaRc] {
        let err = base.clone().with_transport(t).validate().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("this build has no RDMA data path"), "{text}");
        assert!(text.contains("`tcp` or `auto`"), "{text}");
    }
}

#[test]
fn server_addresses() {
    let a = ServerAddr::parse(" host.example:9900 ").unwrap();
    assert_eq!(
        (a.id.as_str(), a.host.as_str(), a.port),
        ("host.example:9900", "host.example", 9900)
    );
    assert!(!a.is_loopback());
    let v6 = ServerAddr::parse("[fe80::1]:1").unwrap();
    assert_eq!(v6.host, "fe80::1");
    for bad in ["nohost", ":9900", "h:0", "h:99999", "::1:9900", "[zz]:1"] {
        assert!(ServerAddr::parse(bad).is_err(), "{bad}");
    }
    let err = ClientConfig::new(["127.0.0.1:1", "127.0.0.1:1"])
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
}

#[test]
fn limits_are_checked() {
    let base = ClientConfig::new(["127.0.0.1:1"]);
    assert!(base.clone().with_num_connections(0).validate().is_err());
    assert!(base.clone().with_max_batch_size(0).validate().is_err());
    assert!(
        base.clone()
            .with_op_timeout(Duration::ZERO)
            .validate()
            .is_err()
    );
    let v = base.with_num_connections(2).validate().unwrap();
    assert_eq!(v.num_connections(), 2);
}
