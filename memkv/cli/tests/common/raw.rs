//! A raw protocol client built directly on `memkv-proto`, for tests that must send frames a
//! well-behaved client never would (wrong keys, skewed clocks, replays, garbage, oversized
//! headers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memkv_proto::msg::{self, Message};
use memkv_proto::{
    AuthKey, HEADER_LEN, Header, Integrity, Limits, Opcode, SendCrc, Session, Status, TRAILER_LEN,
};

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A response frame.
#[derive(Debug)]
pub struct Reply {
    pub header: Header,
    pub ctrl: Vec<u8>,
    pub data: Vec<u8>,
    /// The trailer after the data (`None` without data).
    pub trailer: Option<[u8; TRAILER_LEN]>,
}

impl Reply {
    pub fn status(&self) -> Status {
        Status::from_code(self.header.status).expect("known status")
    }
    pub fn message(&self) -> String {
        msg::decode::<msg::ErrorResp>(&self.ctrl)
            .map(|e| e.message.to_owned())
            .unwrap_or_default()
    }
}

/// One raw connection.
pub struct RawConn {
    pub stream: TcpStream,
    pub session: Session,
    pub next_id: u64,
}

/// Reads one frame from `stream` without verifying it.
pub fn read_frame(stream: &mut TcpStream) -> std::io::Result<([u8; HEADER_LEN], Reply)> {
    let mut raw = [0u8; HEADER_LEN];
    stream.read_exact(&mut raw)?;
    let header = Header::decode(&raw, &Limits { max_body: u32::MAX })
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let mut ctrl = vec![0; header.ctrl_len as usize];
    stream.read_exact(&mut ctrl)?;
    let mut data = vec![0; header.data_len as usize];
    stream.read_exact(&mut data)?;
    let mut trailer = None;
    if !data.is_empty() {
        let mut t = [0u8; TRAILER_LEN];
        stream.read_exact(&mut t)?;
        trailer = Some(t);
    }
    Ok((
        raw,
        Reply {
            header,
            ctrl,
            data,
            trailer,
        },
    ))
}

/// Whether the peer closed the connection (EOF or reset) within the read timeout.
pub fn is_closed(stream: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(stream.read(&mut b), Ok(0) | Err(_))
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A sealed Hello frame and its nonce.
pub fn hello_frame(key: &AuthKey, integrity: Integrity, ts_ns: u64) -> (Vec<u8>, [u8; 16]) {
    let nonce: [u8; 16] = rand::random();
    let ctrl = msg::Hello {
        client_nonce: nonce,
        features: 0,
        client_name: "raw-test",
    }
    .encode();
    let mut h = Header::request(Opcode::Hello, 0, ts_ns);
    let raw = Session::handshake(key, integrity).seal_ctrl(&mut h, &ctrl);
    let mut frame = raw.to_vec();
    frame.extend_from_slice(&ctrl);
    (frame, nonce)
}

impl RawConn {
    /// Connects and completes the handshake, or returns the refusal.
    pub fn open(addr: SocketAddr, key: &AuthKey, integrity: Integrity) -> Result<RawConn, Reply> {
        let mut stream = connect(addr);
        let (frame, nonce) = hello_frame(key, integrity, now_ns());
        stream.write_all(&frame).unwrap();
        let (raw, reply) = read_frame(&mut stream).unwrap();
        if reply.status() != Status::Ok {
            return Err(reply);
        }
        let ok: msg::HelloOk = msg::decode(&reply.ctrl).unwrap();
        assert_eq!(ok.client_nonce, nonce);
        let session = Session::derive(key, integrity, &nonce, &ok.server_nonce);
        session
            .verify(&reply.header, &raw, &reply.ctrl, &[], None)
            .expect("HelloOk verifies");
        Ok(RawConn {
            stream,
            session,
            next_id: 1,
        })
    }

    /// A sealed request frame with the next request id.
    pub fn frame(&mut self, op: Opcode, ctrl: &[u8], data: &[u8], ts_ns: u64) -> Vec<u8> {
        self.frame_with_crc(op, ctrl, data, ts_ns, SendCrc::Compute)
    }

    /// [`frame`](Self::frame) with the trailer's CRC32C from `crc` (a wrong one, say).
    pub fn frame_with_crc(
        &mut self,
        op: Opcode,
        ctrl: &[u8],
        data: &[u8],
        ts_ns: u64,
        crc: SendCrc,
    ) -> Vec<u8> {
        let mut h = Header::request(op, self.next_id, ts_ns);
        self.next_id += 1;
        let sealed = self.session.seal_whole(&mut h, ctrl, &[data], crc);
        let mut f = sealed.header.to_vec();
        f.extend_from_slice(ctrl);
        f.extend_from_slice(data);
        f.extend_from_slice(sealed.trailer.as_ref().map_or(&[][..], |t| &t[..]));
        f
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads and verifies one response.
    pub fn recv(&mut self) -> Reply {
        let (raw, reply) = read_frame(&mut self.stream).expect("response frame");
        self.session
            .verify(
                &reply.header,
                &raw,
                &reply.ctrl,
                &reply.data,
                reply.trailer.as_ref(),
            )
            .expect("response verifies under the session key");
        reply
    }

    /// Sends a request and reads its response.
    pub fn call(&mut self, op: Opcode, ctrl: &[u8], data: &[u8]) -> Reply {
        let f = self.frame(op, ctrl, data, now_ns());
        self.send_raw(&f);
        let r = self.recv();
        assert_eq!(r.header.request_id, self.next_id - 1);
        r
    }

    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Reply {
        let ctrl = msg::PutReq { key }.encode();
        self.call(Opcode::Put, &ctrl, value)
    }

    pub fn get(&mut self, key: &[u8]) -> Reply {
        self.call(Opcode::Get, &msg::KeyReq { key }.encode(), &[])
    }
}
