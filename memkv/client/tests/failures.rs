//! Failure handling against real sockets that misbehave: a closed port (connect refused, then
//! backoff), a listener that never answers the handshake (connect timeout), and a server that
//! authenticates but never answers requests (operation timeout). None of them may hang a call.

use std::time::Duration;

use memkv_client::{
    AsyncClient, AuthKey, ClientConfig, ClientError, ErrorKind, GetInto, Unreachable,
};
use memkv_proto::msg::{self, Message};
use memkv_proto::{HEADER_LEN, Header, Integrity, Limits, Session, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn key() -> AuthKey {
    AuthKey::from_bytes([9; 32])
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

#[tokio::test]
async fn refused_server_is_a_miss_then_backs_off() {
    let addr = closed_port().await;
    let miss = AsyncClient::new(ClientConfig::new([addr.clone()]).with_auth_key(key())).unwrap();
    assert_eq!(miss.get(b"k").await.unwrap(), None);
    assert_eq!(
        miss.get_into(b"k", &mut [0u8; 4]).await.unwrap(),
        GetInto::Miss
    );
    assert_eq!(
        miss.exists(&[b"a", b"b"]).await.unwrap(),
        vec![false, false]
    );
    assert_eq!(miss.batch_get(&[b"a"]).await.unwrap(), vec![None]);
    assert_eq!(miss.stat(b"k").await.unwrap(), None);
    // Writes report the failure.
    let err = miss.put(b"k", b"v").await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    // Only the first call dialed; the others failed fast during the backoff.
    let stats = miss.stats();
    assert_eq!(stats.connect_failures, 1);
    assert!(stats.unreachable_misses >= 5);

    let strict = AsyncClient::new(
        ClientConfig::new([addr.clone()])
            .with_auth_key(key())
            .with_unreachable(Unreachable::Error),
    )
    .unwrap();
    let first = strict.get(b"k").await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::Connect, "{first:?}");
    assert!(first.to_string().contains(&addr), "{first}");
    let second = strict.get(b"k").await.unwrap_err();
    match &second {
        ClientError::Unreachable {
            server, retry_in, ..
        } => {
            assert_eq!(server, &addr);
            assert!(*retry_in <= Duration::from_secs(1));
        }
        other => panic!("expected fail-fast Unreachable, got {other:?}"),
    }
    assert_eq!(strict.stats().connect_failures, 1);
    let results = strict.batch_put(&[(b"a", b"1"), (b"b", b"2")]).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_err_and(ClientError::is_unreachable))
    );
}

#[tokio::test]
async fn silent_listener_hits_the_connect_timeout() {
    // The kernel completes TCP connections into the backlog; nobody ever answers the Hello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let client = AsyncClient::new(
        ClientConfig::new([addr.clone()])
            .with_auth_key(key())
            .with_connect_timeout(Duration::from_millis(200))
            .with_unreachable(Unreachable::Error),
    )
    .unwrap();
    let err = client.get(b"k").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { op: "connect", server, .. } if *server == addr),
        "{err:?}"
    );
    assert!(err.is_unreachable());
    drop(listener);
}

/// Accepts one connection, completes the handshake, then reads requests and never answers.
async fn mute_server(listener: TcpListener) {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut raw = [0u8; HEADER_LEN];
    s.read_exact(&mut raw).await.unwrap();
    let header = Header::decode(&raw, &Limits::default()).unwrap();
    let mut ctrl = vec![0u8; header.ctrl_len as usize];
    s.read_exact(&mut ctrl).await.unwrap();
    let hello: msg::Hello = msg::decode(&ctrl).unwrap();
    Session::handshake(&key(), Integrity::Mac)
        .verify(&header, &raw, &ctrl, &[], None)
        .unwrap();
    let server_nonce = [5u8; 16];
    let session = Session::derive(&key(), Integrity::Mac, &hello.client_nonce, &server_nonce);
    let ok = msg::HelloOk {
        server_nonce,
        client_nonce: hello.client_nonce,
        info: msg::NodeInfo {
            server_id: [1; 16],
            version: memkv_proto::VERSION,
            release: "test",
            storage_mode: "memory",
            max_body: 1 << 20,
            max_key_len: 512,
            max_clock_skew_ns: 30_000_000_000,
            capabilities: 0,
        },
    }
    .encode();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut resp = Header::response_to(&header, Status::Ok, now);
    let raw = session.seal_ctrl(&mut resp, &ok);
    s.write_all(&raw).await.unwrap();
    s.write_all(&ok).await.unwrap();
    // Swallow requests until the client goes away.
    let mut sink = vec![0u8; 64 * 1024];
    while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
}

#[tokio::test]
async fn unanswered_request_hits_the_op_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(mute_server(listener));
    let client = AsyncClient::new(
        ClientConfig::new([addr.clone()])
            .with_auth_key(key())
            .with_op_timeout(Duration::from_millis(200))
            .with_num_connections(1)
            .with_unreachable(Unreachable::Error),
    )
    .unwrap();
    let info = client.warmup().await;
    assert!(info[0].is_ok(), "{info:?}");
    let err = client.get(b"k").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { op: "get", server, .. } if *server == addr),
        "{err:?}"
    );
    let stats = client.stats();
    assert_eq!(stats.timeouts, 1);
    assert_eq!(
        stats.connections_failed, 1,
        "the timed-out connection is marked unhealthy"
    );
    drop(client);
    server.await.unwrap();
}

#[test]
fn wrong_server_index_and_async_misuse_are_reported() {
    let client = memkv_client::Client::new(ClientConfig::new(["127.0.0.1:1"])).unwrap();
    assert!(matches!(
        client.exists_on(3, &[b"k"]),
        Err(ClientError::InvalidServerIndex { index: 3, count: 1 })
    ));
    assert!(matches!(
        client.node_info(1),
        Err(ClientError::InvalidServerIndex { .. })
    ));
    // Loopback-only and no key: the development key is used.
    assert!(client.config().uses_loopback_dev_key());
}
