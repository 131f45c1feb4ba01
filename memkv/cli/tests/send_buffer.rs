//! The send buffers of data-plane connections, as the kernel reports them (`ss -tm`, from
//! iproute2, which `scripts/test-all` installs): a real `memkv start` process and the real client
//! engine over loopback, with the default policy, with sizes configured on each end, and with
//! autotuning asked for.

mod common;

use std::process::Command;

use common::{Server, ServerOptions};
use memkv_client::{Client, ClientConfig, SendBuffer};

/// What the default policy asks for on loopback (docs/configuration.md, `network.send_buffer`).
const LOOPBACK_REQUEST: usize = 512 * 1024;

/// The kernel's ceiling on a requested send buffer.
fn wmem_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .expect("read net.core.wmem_max")
        .trim()
        .parse()
        .expect("net.core.wmem_max is a number")
}

/// What a request for `bytes` is granted: Linux caps it at `wmem_max` and doubles it.
fn granted(bytes: usize) -> usize {
    2 * bytes.min(wmem_max())
}

/// The send buffer (`tb` of `skmem`) of every established TCP socket matching `filter`
/// (`sport = :N` selects the server's ends, `dport = :N` the clients').
fn send_buffers(filter: &str) -> Vec<usize> {
    let out = Command::new("ss")
        .args(["-Htmn", "state", "established", filter])
        .output()
        .expect("run `ss` (iproute2; scripts/test-all installs it)");
    assert!(out.status.success(), "ss failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split(|c: char| c == ',' || c == '(' || c.is_whitespace())
        .filter_map(|field| field.strip_prefix("tb"))
        .map(|n| n.parse().unwrap_or_else(|_| panic!("tb{n} in {text}")))
        .collect()
}

/// Opens a connection from `client` by storing and reading back one value.
fn exercise(client: &Client) {
    let value = vec![7u8; 1 << 20];
    client.put(b"send-buffer", &value).unwrap();
    assert_eq!(
        client.get(b"send-buffer").unwrap().as_deref(),
        Some(&value[..])
    );
}

fn client(server: &Server, policy: SendBuffer) -> Client {
    let config = ClientConfig::new([server.data.to_string()])
        .with_auth_key(server.key())
        .with_num_connections(1)
        .with_send_buffer(policy);
    Client::new(config).expect("client")
}

fn server(send_buffer: &str) -> Server {
    Server::start_with(ServerOptions {
        network_extra: if send_buffer.is_empty() {
            String::new()
        } else {
            format!("  send_buffer: {send_buffer}\n")
        },
        ..ServerOptions::default()
    })
}

#[test]
fn loopback_connections_get_a_1_mib_send_buffer_by_default() {
    let server = server("");
    let client = client(&server, SendBuffer::default());
    exercise(&client);
    let port = server.data.port();
    let want = granted(LOOPBACK_REQUEST);
    assert_eq!(
        send_buffers(&format!("sport = :{port}")),
        [want],
        "server end"
    );
    assert_eq!(
        send_buffers(&format!("dport = :{port}")),
        [want],
        "client end"
    );
}

#[test]
fn configured_sizes_apply_to_each_end() {
    let server = server("96 KiB");
    let client = client(&server, SendBuffer::Fixed(80 * 1024));
    exercise(&client);
    let port = server.data.port();
    let (server_end, client_end) = (granted(96 * 1024), granted(80 * 1024));
    assert_ne!(
        server_end, client_end,
        "wmem_max below 80 KiB: the ends cannot be told apart"
    );
    assert_eq!(send_buffers(&format!("sport = :{port}")), [server_end]);
    assert_eq!(send_buffers(&format!("dport = :{port}")), [client_end]);
}

#[test]
fn kernel_leaves_both_ends_to_autotuning() {
    let server = server("kernel");
    let client = client(&server, SendBuffer::Kernel);
    exercise(&client);
    let port = server.data.port();
    let fixed = granted(LOOPBACK_REQUEST);
    for filter in [format!("sport = :{port}"), format!("dport = :{port}")] {
        let sizes = send_buffers(&filter);
        assert_eq!(sizes.len(), 1, "{filter}: {sizes:?}");
        assert_ne!(sizes[0], fixed, "{filter}: the loopback size was applied");
    }
}
