//! End-to-end value checksums on the client side. A real server never sends a value whose bytes
//! disagree with its checksum (it verifies before serving), so this test uses a fake server that
//! injects exactly that fault: properly authenticated frames whose value bytes were damaged
//! before they were tagged (as a bad DIMM or a buggy server-side path would). The client must
//! report a miss and count it, never return the bytes.

use memkv_client::{AsyncClient, AuthKey, ClientConfig, GetInto};
use memkv_proto::msg::{self, Message};
use memkv_proto::{
    HEADER_LEN, Header, Integrity, Limits, Opcode, SendCrc, Session, Status, TRAILER_LEN, crc32c,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn key() -> AuthKey {
    AuthKey::from_bytes([3; 32])
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

const GOOD: &[u8] = b"the value the client stored";
const DAMAGED: &[u8] = b"the value the client st0red";

/// One request frame: header encoding, header, control section. (The client's requests here
/// carry no data.)
async fn read_frame(s: &mut TcpStream) -> Option<([u8; HEADER_LEN], Header, Vec<u8>)> {
    let mut raw = [0u8; HEADER_LEN];
    s.read_exact(&mut raw).await.ok()?;
    let h = Header::decode(&raw, &Limits::default()).unwrap();
    assert_eq!(h.data_len, 0, "requests without data only");
    let mut ctrl = vec![0u8; h.ctrl_len as usize];
    s.read_exact(&mut ctrl).await.ok()?;
    Some((raw, h, ctrl))
}

async fn send(
    s: &mut TcpStream,
    session: &Session,
    req: &Header,
    status: Status,
    ctrl: &[u8],
    data: &[u8],
) {
    // Tagged (and summed, for the trailer) after the damage: the frame itself is sound.
    let mut h = Header::response_to(req, status, now());
    let sealed = session.seal_whole(&mut h, ctrl, &[data], SendCrc::Compute);
    s.write_all(&sealed.header).await.unwrap();
    s.write_all(ctrl).await.unwrap();
    s.write_all(data).await.unwrap();
    let trailer: Option<[u8; TRAILER_LEN]> = sealed.trailer;
    s.write_all(trailer.as_ref().map_or(&[][..], |t| &t[..]))
        .await
        .unwrap();
}

/// Serves one connection: handshake, then answers Get and BatchGet with damaged bytes that
/// carry the checksum of the undamaged value.
async fn lying_server(listener: TcpListener) {
    let (mut s, _) = listener.accept().await.unwrap();
    let (raw, h, ctrl) = read_frame(&mut s).await.unwrap();
    Session::handshake(&key(), Integrity::Mac)
        .verify(&h, &raw, &ctrl, &[], None)
        .unwrap();
    let hello: msg::Hello = msg::decode(&ctrl).unwrap();
    let server_nonce = [8u8; 16];
    let session = Session::derive(&key(), Integrity::Mac, &hello.client_nonce, &server_nonce);
    let info = msg::NodeInfo {
        server_id: [1; 16],
        version: memkv_proto::VERSION,
        release: "fault-injection",
        storage_mode: "memory",
        max_body: 1 << 20,
        max_key_len: 512,
        max_clock_skew_ns: 30_000_000_000,
        capabilities: 0,
    };
    let ok = msg::HelloOk {
        server_nonce,
        client_nonce: hello.client_nonce,
        info,
    }
    .encode();
    send(&mut s, &session, &h, Status::Ok, &ok, &[]).await;
    let meta = msg::ValueMeta {
        len: GOOD.len() as u64,
        crc: crc32c(GOOD),
    };
    while let Some((raw, h, ctrl)) = read_frame(&mut s).await {
        session.verify(&h, &raw, &ctrl, &[], None).unwrap();
        match Opcode::from_code(h.opcode) {
            Some(Opcode::Get) => {
                send(&mut s, &session, &h, Status::Ok, &meta.encode(), DAMAGED).await
            }
            Some(Opcode::BatchGet) => {
                let keys: msg::KeyList = msg::decode(&ctrl).unwrap();
                let items = keys
                    .keys
                    .iter()
                    .map(|_| msg::BatchGetItem {
                        status: Status::Ok.code(),
                        len: meta.len,
                        crc: meta.crc,
                    })
                    .collect();
                let body: Vec<u8> = keys
                    .keys
                    .iter()
                    .flat_map(|_| DAMAGED.iter().copied())
                    .collect();
                send(
                    &mut s,
                    &session,
                    &h,
                    Status::Ok,
                    &msg::BatchGetResp { items }.encode(),
                    &body,
                )
                .await;
            }
            _ => {
                send(
                    &mut s,
                    &session,
                    &h,
                    Status::InvalidRequest,
                    &msg::ErrorResp { message: "no" }.encode(),
                    &[],
                )
                .await
            }
        }
    }
}

#[tokio::test]
async fn damaged_values_are_misses_and_counted_never_returned() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(lying_server(listener));
    let client = AsyncClient::new(
        ClientConfig::new([addr])
            .with_auth_key(key())
            .with_num_connections(1),
    )
    .unwrap();

    assert_eq!(client.get(b"k").await.unwrap(), None);
    assert_eq!(client.stats().checksum_failures, 1);

    let mut buf = vec![0u8; 64];
    assert_eq!(
        client.get_into(b"k", &mut buf).await.unwrap(),
        GetInto::Miss
    );
    assert_eq!(client.stats().checksum_failures, 2);

    let got = client.batch_get(&[b"a", b"b"]).await.unwrap();
    assert_eq!(got, vec![None, None]);
    assert_eq!(client.stats().checksum_failures, 4);

    // Read from the socket into the caller's buffers (or, too small for one, read and
    // dropped): damaged all the same, and counted.
    let (mut fits, mut small) = (vec![0u8; 64], vec![0u8; 4]);
    let mut items = [(&b"a"[..], &mut fits[..]), (&b"b"[..], &mut small[..])];
    let got = client.batch_get_into(&mut items).await.unwrap();
    assert_eq!(got, vec![GetInto::Miss, GetInto::Miss]);
    assert_eq!(client.stats().checksum_failures, 6);
    drop(client);
    server.abort();
}
