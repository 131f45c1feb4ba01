//! The server against hostile and unusual input, through real sockets: wrong keys, skewed
//! clocks, replays, future versions, oversized and garbage frames, limits, and shutdown.

mod common;

use std::io::Write;

use common::raw::{self, RawConn};
use common::{Server, ServerOptions};
use memkv_proto::msg::{self, Message};
use memkv_proto::{AuthKey, HEADER_LEN, Header, Integrity, Opcode, SendCrc, Status, VERSION};

#[test]
fn round_trip_and_node_info() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert_eq!(c.put(b"k", b"value").status(), Status::Ok);
    let r = c.get(b"k");
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(r.data, b"value");
    let meta: msg::ValueMeta = msg::decode(&r.ctrl).unwrap();
    assert_eq!(meta.crc, memkv_proto::crc32c(b"value"));
    let r = c.call(Opcode::NodeInfo, &[], &[]);
    let info: msg::NodeInfo = msg::decode(&r.ctrl).unwrap();
    assert_eq!(info.version, VERSION);
    assert_eq!(info.storage_mode, "memory");
    assert_eq!(info.max_key_len, 512);
    assert_eq!(c.get(b"absent").status(), Status::NotFound);
}

#[test]
fn wrong_key_is_refused_with_bad_mac_and_counted() {
    let server = Server::start();
    let wrong = AuthKey::from_bytes([0x42; 32]);
    let reply = RawConn::open(server.data, &wrong, Integrity::Mac)
        .err()
        .expect("refused");
    assert_eq!(reply.status(), Status::BadMac);
    assert!(reply.message().contains("auth key"), "{}", reply.message());
    assert_eq!(
        server.metric("memkv_auth_failures_total{reason=\"bad_mac\"}"),
        1.0
    );
    // The server keeps serving clients with the right key.
    let mut good = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert_eq!(good.put(b"a", b"b").status(), Status::Ok);
}

#[test]
fn integrity_mode_mismatch_is_refused_with_a_clear_message() {
    let server = Server::start_with(ServerOptions {
        integrity: "checksum".into(),
        ..Default::default()
    });
    let reply = RawConn::open(server.data, &server.key(), Integrity::Mac)
        .err()
        .expect("refused");
    assert_eq!(reply.status(), Status::IntegrityMismatch);
    assert!(
        reply.message().contains("`checksum`"),
        "{}",
        reply.message()
    );
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Checksum).unwrap();
    assert_eq!(c.put(b"k", &[7u8; 100_000]).status(), Status::Ok);
    assert_eq!(c.get(b"k").data, vec![7u8; 100_000]);
}

#[test]
fn every_integrity_mode_serves_values() {
    for mode in Integrity::ALL {
        let server = Server::start_with(ServerOptions {
            integrity: mode.name().into(),
            ..Default::default()
        });
        let mut c = RawConn::open(server.data, &server.key(), mode).unwrap();
        let value: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(c.put(b"big", &value).status(), Status::Ok, "{mode}");
        assert_eq!(c.get(b"big").data, value, "{mode}");
    }
}

#[test]
fn skewed_clock_is_refused_with_clock_drift_and_the_connection_survives() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let hour = 3_600_000_000_000u64;
    let f = c.frame(Opcode::Ping, &[], &[], raw::now_ns() - hour);
    c.send_raw(&f);
    let r = c.recv();
    assert_eq!(r.status(), Status::ClockDrift);
    let d: msg::ClockDriftResp = msg::decode(&r.ctrl).unwrap();
    assert_eq!(d.window_ns, 30_000_000_000);
    assert!(
        d.drift_ns < -(hour as i64) + 60_000_000_000,
        "{}",
        d.drift_ns
    );
    assert_eq!(c.call(Opcode::Ping, &[], &[]).status(), Status::Ok);
    // A handshake from a skewed clock is refused the same way, in a form the client can verify.
    let (hello, _) = raw::hello_frame(&server.key(), Integrity::Mac, raw::now_ns() + hour);
    let mut s = raw::connect(server.data);
    s.write_all(&hello).unwrap();
    let (_, reply) = raw::read_frame(&mut s).unwrap();
    assert_eq!(reply.status(), Status::ClockDrift);
    let d: msg::ClockDriftResp = msg::decode(&reply.ctrl).unwrap();
    assert!(
        d.drift_ns > (hour as i64) - 60_000_000_000,
        "{}",
        d.drift_ns
    );
    assert_eq!(
        server.metric("memkv_auth_failures_total{reason=\"clock_drift\"}"),
        2.0
    );
}

#[test]
fn a_frame_replayed_on_another_connection_or_the_same_one_is_rejected() {
    let server = Server::start();
    let key = server.key();
    let mut a = RawConn::open(server.data, &key, Integrity::Mac).unwrap();
    let ctrl = msg::PutReq { key: b"k" }.encode();
    let frame = a.frame(Opcode::Put, &ctrl, b"v1", raw::now_ns());
    a.send_raw(&frame);
    assert_eq!(a.recv().status(), Status::Ok);

    // Another connection: the session key differs, so the tag does not verify.
    let mut b = RawConn::open(server.data, &key, Integrity::Mac).unwrap();
    b.send_raw(&frame);
    let (_, reply) = raw::read_frame(&mut b.stream).unwrap();
    assert_eq!(Status::from_code(reply.header.status), Some(Status::BadMac));
    assert!(raw::is_closed(&mut b.stream));

    // The same connection: the request id does not increase.
    a.send_raw(&frame);
    assert_eq!(a.recv().status(), Status::Replay);
    assert!(raw::is_closed(&mut a.stream));
    assert_eq!(
        server.metric("memkv_auth_failures_total{reason=\"replay\"}"),
        1.0
    );
}

#[test]
fn a_future_version_frame_is_refused_with_unsupported_version() {
    let server = Server::start();
    // In the handshake.
    let (mut hello, _) = raw::hello_frame(&server.key(), Integrity::Mac, raw::now_ns());
    hello[4..6].copy_from_slice(&(VERSION + 1).to_le_bytes());
    let mut s = raw::connect(server.data);
    s.write_all(&hello).unwrap();
    let (_, reply) = raw::read_frame(&mut s).unwrap();
    assert_eq!(reply.status(), Status::UnsupportedVersion);
    assert!(
        reply.message().contains("run matching memkv releases"),
        "{}",
        reply.message()
    );
    // A pre-release version 1 client (its frames carried the data's tag in the header).
    let (mut hello, _) = raw::hello_frame(&server.key(), Integrity::Mac, raw::now_ns());
    hello[4..6].copy_from_slice(&1u16.to_le_bytes());
    let mut s = raw::connect(server.data);
    s.write_all(&hello).unwrap();
    let (_, reply) = raw::read_frame(&mut s).unwrap();
    assert_eq!(reply.status(), Status::UnsupportedVersion);
    assert!(reply.message().contains("version 1"), "{}", reply.message());
    // On an established connection.
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let mut f = c.frame(Opcode::Ping, &[], &[], raw::now_ns());
    f[4..6].copy_from_slice(&(VERSION + 7).to_le_bytes());
    c.send_raw(&f);
    let r = c.recv();
    assert_eq!(r.status(), Status::UnsupportedVersion);
    assert_eq!(r.header.request_id, 1);
}

#[test]
fn an_oversized_frame_is_refused_before_anything_is_allocated() {
    let server = Server::start_with(ServerOptions {
        network_extra: "  max_frame_size: 1 MiB\n  max_inflight_bytes: 4 MiB\n".into(),
        ..Default::default()
    });
    let rss_before = server.rss_bytes();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    // A header announcing 4 GiB - 1 of data, sent with no body at all.
    let mut h = Header::request(Opcode::Put, c.next_id, raw::now_ns());
    let ctrl = msg::PutReq { key: b"k" }.encode();
    let mut raw_h = c.session.seal_ctrl(&mut h, &ctrl);
    raw_h[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
    c.send_raw(&raw_h);
    let r = c.recv();
    assert_eq!(r.status(), Status::PayloadTooLarge);
    assert!(raw::is_closed(&mut c.stream));
    assert_eq!(
        server.metric("memkv_frames_rejected_total{reason=\"too_large\"}"),
        1.0
    );
    let grown = server.rss_bytes().saturating_sub(rss_before);
    assert!(
        grown < 64 << 20,
        "server grew by {grown} bytes for a refused frame"
    );
    // A value just over the limit in a real frame is refused the same way.
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let f = c.frame(Opcode::Put, &ctrl, &vec![0u8; (1 << 20) + 1], raw::now_ns());
    let _ = c.stream.write_all(&f);
    let (_, r) = raw::read_frame(&mut c.stream).unwrap();
    assert_eq!(r.status(), Status::PayloadTooLarge);
}

#[test]
fn keys_over_512_bytes_are_refused() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert_eq!(c.put(&[b'k'; 512], b"v").status(), Status::Ok);
    let r = c.put(&[b'k'; 513], b"v");
    assert_eq!(r.status(), Status::KeyTooLong);
    assert!(r.message().contains("512"));
    assert_eq!(c.get(&[b'k'; 513]).status(), Status::KeyTooLong);
}

#[test]
fn a_value_whose_checksum_does_not_match_is_refused() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    // The client computes the CRC32C as it sends the value and puts it in the frame's trailer,
    // under the tag: a client that summed bytes other than those it sent.
    let ctrl = msg::PutReq { key: b"k" }.encode();
    let wrong = SendCrc::Known(memkv_proto::crc32c(b"other"));
    let f = c.frame_with_crc(Opcode::Put, &ctrl, b"value", raw::now_ns(), wrong);
    c.send_raw(&f);
    let r = c.recv();
    assert_eq!(r.status(), Status::ChecksumMismatch);
    assert_eq!(c.get(b"k").status(), Status::NotFound);
    assert_eq!(
        server.metric("memkv_checksum_failures_total{stage=\"put\"}"),
        1.0
    );
}

#[test]
fn a_mac_mode_put_may_leave_its_crc_to_the_server() {
    // In the MAC modes the data tag proves the server has the client's bytes, so a client may
    // leave the value's CRC32C to the server (the server advertises it); the server keeps the
    // CRC32C it computed from the bytes. Damaged bytes still fail the tag.
    let value: Vec<u8> = (0..1_500_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let ctrl = msg::PutReq { key: b"k" }.encode();
    for mode in [Integrity::Mac, Integrity::HmacSha256] {
        let server = Server::start_with(ServerOptions {
            integrity: mode.name().into(),
            ..Default::default()
        });
        let mut c = RawConn::open(server.data, &server.key(), mode).unwrap();
        let r = c.call(Opcode::NodeInfo, &[], &[]);
        let info: msg::NodeInfo = msg::decode(&r.ctrl).unwrap();
        assert_ne!(info.capabilities & msg::CAP_CRC_BY_RECEIVER, 0, "{mode}");

        let by_server = SendCrc::ByReceiver;
        let f = c.frame_with_crc(Opcode::Put, &ctrl, &value, raw::now_ns(), by_server);
        assert_ne!(f[7] & 0b1000, 0, "{mode}: the frame says so");
        c.send_raw(&f);
        assert_eq!(c.recv().status(), Status::Ok, "{mode}");
        let got = c.get(b"k");
        assert_eq!(got.status(), Status::Ok, "{mode}");
        assert_eq!(got.data, value, "{mode}");
        let meta: msg::ValueMeta = msg::decode(&got.ctrl).unwrap();
        assert_eq!(
            meta.crc,
            memkv_proto::crc32c(&value),
            "{mode}: the CRC32C kept"
        );

        // A batch put too: its items carry no CRC32C either, the server keeps its own.
        let parts: Vec<&[u8]> = vec![&value[..4096], &value[4096..4096 + 70_000], &value[..1]];
        let keys = [b"b0".as_slice(), b"b1", b"b2"];
        let items = msg::BatchPutReq {
            items: keys
                .iter()
                .zip(&parts)
                .map(|(k, v)| msg::BatchPutItem {
                    key: k,
                    len: v.len() as u32,
                    crc: 0,
                })
                .collect(),
        }
        .encode();
        let f = c.frame_with_crc(
            Opcode::BatchPut,
            &items,
            &parts.concat(),
            raw::now_ns(),
            by_server,
        );
        c.send_raw(&f);
        let r = c.recv();
        assert_eq!(r.status(), Status::Ok, "{mode}");
        let list: msg::StatusList = msg::decode(&r.ctrl).unwrap();
        assert_eq!(list.statuses, [Status::Ok.code(); 3], "{mode}");
        for (k, v) in keys.iter().zip(&parts) {
            let got = c.get(k);
            assert_eq!(got.data, *v, "{mode}");
            let meta: msg::ValueMeta = msg::decode(&got.ctrl).unwrap();
            assert_eq!(meta.crc, memkv_proto::crc32c(v), "{mode}: the CRC32C kept");
        }

        let mut damaged = c.frame_with_crc(Opcode::Put, &ctrl, &value, raw::now_ns(), by_server);
        damaged[HEADER_LEN + ctrl.len() + 777_777] ^= 0x40;
        c.send_raw(&damaged);
        assert_eq!(c.recv().status(), Status::BadMac, "{mode}");
        assert_eq!(
            server.metric("memkv_auth_failures_total{reason=\"bad_mac\"}"),
            1.0
        );
    }

    // In `checksum` mode the CRC32C is what covers the data: a frame that says it left it to
    // the server is refused from its header, the connection closes, and nothing is stored.
    let server = Server::start_with(ServerOptions {
        integrity: "checksum".into(),
        ..Default::default()
    });
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Checksum).unwrap();
    let mut f = c.frame_with_crc(Opcode::Put, &ctrl, &value, raw::now_ns(), SendCrc::Compute);
    f[7] |= 0b1000;
    let _ = c.stream.write_all(&f);
    assert!(raw::is_closed(&mut c.stream));
    assert_eq!(
        server.metric("memkv_frames_rejected_total{reason=\"malformed\"}"),
        1.0
    );
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Checksum).unwrap();
    assert_eq!(c.get(b"k").status(), Status::NotFound);
}

#[test]
fn a_batch_put_stores_each_value_whole_and_refuses_what_does_not_add_up() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    // Values of several read pieces, of one byte, empty, and one listed with a wrong CRC32C:
    // each is stored as sent or refused on its own.
    let values: Vec<Vec<u8>> = [600_000usize, 1, 0, 4096, 300_001]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 31 + n) as u8).collect())
        .collect();
    let keys: Vec<Vec<u8>> = (0..values.len())
        .map(|i| format!("b{i}").into_bytes())
        .collect();
    let items = |wrong: Option<usize>, extra: u32| {
        msg::BatchPutReq {
            items: keys
                .iter()
                .zip(&values)
                .enumerate()
                .map(|(i, (k, v))| msg::BatchPutItem {
                    key: k,
                    len: v.len() as u32 + if i == 0 { extra } else { 0 },
                    crc: memkv_proto::crc32c(v) ^ u32::from(wrong == Some(i)),
                })
                .collect(),
        }
        .encode()
    };
    let data = values.concat();
    let r = c.call(Opcode::BatchPut, &items(Some(3), 0), &data);
    assert_eq!(r.status(), Status::Ok);
    let list: msg::StatusList = msg::decode(&r.ctrl).unwrap();
    let ok = Status::Ok.code();
    let bad = Status::ChecksumMismatch.code();
    assert_eq!(list.statuses, [ok, ok, ok, bad, ok]);
    for (i, (k, v)) in keys.iter().zip(&values).enumerate() {
        let got = c.get(k);
        if i == 3 {
            assert_eq!(got.status(), Status::NotFound);
        } else {
            assert_eq!(got.status(), Status::Ok, "{i}");
            assert_eq!(got.data, *v, "{i}");
        }
    }
    assert_eq!(
        server.metric("memkv_checksum_failures_total{stage=\"put\"}"),
        1.0
    );

    // Lengths that do not add up to the data carried: refused whole, with both numbers, and
    // the connection reads on.
    let r = c.call(Opcode::BatchPut, &items(None, 10), &data);
    assert_eq!(r.status(), Status::InvalidRequest);
    let e: msg::ErrorResp = msg::decode(&r.ctrl).unwrap();
    assert!(
        e.message.contains(&format!(
            "lists {} value bytes but carries {}",
            data.len() + 10,
            data.len()
        )),
        "{}",
        e.message
    );
    // Data damaged on the way: the frame's CRC32C does not match, nothing is stored.
    let ctrl = items(None, 0);
    let mut h = data.clone();
    h[700_000] ^= 1;
    let wrong = SendCrc::Known(memkv_proto::crc32c(&data));
    let f = c.frame_with_crc(Opcode::BatchPut, &ctrl, &h, raw::now_ns(), wrong);
    c.send_raw(&f);
    assert_eq!(c.recv().status(), Status::ChecksumMismatch);
    assert_eq!(c.get(&keys[3]).status(), Status::NotFound);
    assert_eq!(c.get(&keys[4]).data, values[4]);
}

#[test]
fn a_damage_report_makes_the_server_look_and_never_drops_an_intact_value() {
    // `ReportDamaged` is what a client sends when the bytes it received did not match the
    // value's CRC32C. The server checks its own copy: an intact value stays, an absent key is
    // fine, and an oversized key is refused like everywhere else.
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert_eq!(c.put(b"k", b"value").status(), Status::Ok);
    for key in [b"k".as_slice(), b"absent"] {
        let ctrl = msg::KeyReq { key }.encode();
        assert_eq!(
            c.call(Opcode::ReportDamaged, &ctrl, &[]).status(),
            Status::Ok
        );
    }
    let r = c.get(b"k");
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(r.data, b"value");
    assert_eq!(server.metric("memkv_corrupt_reads_total"), 0.0);
    let long = msg::KeyReq { key: &[b'k'; 513] }.encode();
    assert_eq!(
        c.call(Opcode::ReportDamaged, &long, &[]).status(),
        Status::KeyTooLong
    );
}

#[test]
fn garbage_on_one_connection_does_not_disturb_another() {
    let server = Server::start();
    let mut good = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert_eq!(good.put(b"k", b"before").status(), Status::Ok);
    for round in 0..20u32 {
        let mut bad = raw::connect(server.data);
        let garbage: Vec<u8> = (0..65_536u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> (round % 24)) as u8)
            .collect();
        let _ = bad.write_all(&garbage);
        assert!(
            raw::is_closed(&mut bad),
            "garbage connection must be closed"
        );
        // Garbage after a valid handshake too.
        let mut bad2 = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
        let _ = bad2.stream.write_all(&garbage);
        assert!(raw::is_closed(&mut bad2.stream));
        assert_eq!(good.get(b"k").data, b"before");
    }
    assert_eq!(good.put(b"k", b"after").status(), Status::Ok);
    assert_eq!(good.get(b"k").data, b"after");
    assert!(server.metric("memkv_frames_rejected_total{reason=\"bad_magic\"}") >= 20.0);
}

#[test]
fn unknown_opcodes_and_one_sided_ops_get_clear_answers() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let mut h = Header::request(Opcode::Ping, c.next_id, raw::now_ns());
    h.opcode = 0x7f;
    c.next_id += 1;
    let f = c.session.seal_ctrl(&mut h, &[]);
    c.send_raw(&f);
    let r = c.recv();
    assert_eq!(r.status(), Status::InvalidRequest);
    let ctrl = msg::KeyReq { key: b"k" }.encode();
    let r = c.call(Opcode::Lookup, &ctrl, &[]);
    assert_eq!(r.status(), Status::Unsupported);
    // Malformed control section.
    let r = c.call(Opcode::Get, &[1, 2, 3], &[]);
    assert_eq!(r.status(), Status::InvalidRequest);
    assert_eq!(c.call(Opcode::Ping, &[], &[]).status(), Status::Ok);
}

#[test]
fn pipelined_requests_are_all_answered_by_request_id() {
    let server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let mut batch = Vec::new();
    for i in 0..500u32 {
        let key = format!("key-{i}");
        let value = vec![i as u8; 4096];
        let ctrl = msg::PutReq {
            key: key.as_bytes(),
        }
        .encode();
        batch.extend(c.frame(Opcode::Put, &ctrl, &value, raw::now_ns()));
    }
    c.send_raw(&batch);
    let mut ids: Vec<u64> = (0..500)
        .map(|_| {
            let r = c.recv();
            assert_eq!(r.status(), Status::Ok);
            r.header.request_id
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=500).collect::<Vec<_>>());
}

#[test]
fn chunked_upload_and_download_round_trip_a_value_larger_than_a_frame() {
    let server = Server::start_with(ServerOptions {
        network_extra: "  max_frame_size: 1 MiB\n  max_inflight_bytes: 8 MiB\n".into(),
        ..Default::default()
    });
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let value: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let crc = memkv_proto::crc32c(&value);
    let r = c.call(
        Opcode::PutBegin,
        &msg::PutBeginReq {
            key: b"big",
            total_len: value.len() as u64,
            value_crc: crc,
        }
        .encode(),
        &[],
    );
    assert_eq!(r.status(), Status::Ok);
    let stream = msg::decode::<msg::StreamRef>(&r.ctrl).unwrap().stream;
    for (i, chunk) in value.chunks(512 * 1024).enumerate() {
        let ctrl = msg::ChunkReq {
            stream,
            offset: (i * 512 * 1024) as u64,
        }
        .encode();
        assert_eq!(c.call(Opcode::PutChunk, &ctrl, chunk).status(), Status::Ok);
    }
    assert_eq!(
        c.call(Opcode::PutCommit, &msg::StreamRef { stream }.encode(), &[])
            .status(),
        Status::Ok
    );

    // A plain get does not fit in a frame: the answer carries the length instead.
    let r = c.get(b"big");
    assert_eq!(r.status(), Status::PayloadTooLarge);
    let meta: msg::ValueMeta = msg::decode(&r.ctrl).unwrap();
    assert_eq!((meta.len, meta.crc), (value.len() as u64, crc));

    let r = c.call(Opcode::GetBegin, &msg::KeyReq { key: b"big" }.encode(), &[]);
    let begin: msg::GetBeginResp = msg::decode(&r.ctrl).unwrap();
    // Overwriting the key does not change what the open download returns.
    let mut other = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert_eq!(other.put(b"big", b"small now").status(), Status::Ok);
    let mut got = Vec::new();
    while (got.len() as u64) < begin.len {
        let len = (begin.len - got.len() as u64).min(700_000) as u32;
        let ctrl = msg::GetChunkReq {
            stream: begin.stream,
            offset: got.len() as u64,
            len,
        }
        .encode();
        let r = c.call(Opcode::GetChunk, &ctrl, &[]);
        assert_eq!(r.status(), Status::Ok);
        got.extend_from_slice(&r.data);
    }
    assert_eq!(got, value);
    assert_eq!(
        c.call(
            Opcode::GetEnd,
            &msg::StreamRef {
                stream: begin.stream
            }
            .encode(),
            &[]
        )
        .status(),
        Status::Ok
    );
    assert_eq!(c.get(b"big").data, b"small now");

    // A commit with a wrong checksum publishes nothing.
    let r = c.call(
        Opcode::PutBegin,
        &msg::PutBeginReq {
            key: b"bad",
            total_len: 3,
            value_crc: 1,
        }
        .encode(),
        &[],
    );
    let stream = msg::decode::<msg::StreamRef>(&r.ctrl).unwrap().stream;
    c.call(
        Opcode::PutChunk,
        &msg::ChunkReq { stream, offset: 0 }.encode(),
        b"abc",
    );
    assert_eq!(
        c.call(Opcode::PutCommit, &msg::StreamRef { stream }.encode(), &[])
            .status(),
        Status::ChecksumMismatch
    );
    assert_eq!(c.get(b"bad").status(), Status::NotFound);
}

#[test]
fn connections_over_the_limit_are_refused_with_busy() {
    let server = Server::start_with(ServerOptions {
        network_extra: "  max_connections: 2\n".into(),
        ..Default::default()
    });
    let _a = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let _b = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let mut s = raw::connect(server.data);
    let (_, reply) = raw::read_frame(&mut s).unwrap();
    assert_eq!(reply.status(), Status::Busy);
    assert!(reply.message().contains("max_connections"));
    assert_eq!(server.metric("memkv_connections_rejected_total"), 1.0);
    drop(_a);
}

#[test]
fn idle_connections_are_closed() {
    let server = Server::start_with(ServerOptions {
        network_extra: "  idle_timeout: 200ms\n".into(),
        ..Default::default()
    });
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    assert!(
        raw::is_closed(&mut c.stream),
        "server must close an idle connection"
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let mut server = Server::start();
    let mut c = RawConn::open(server.data, &server.key(), Integrity::Mac).unwrap();
    let value = vec![5u8; 1 << 20];
    let ctrl = msg::PutReq { key: b"k" }.encode();
    let frame = c.frame(Opcode::Put, &ctrl, &value, raw::now_ns());
    // Half a request is on the wire when the signal arrives.
    let split = HEADER_LEN + ctrl.len() + 1000;
    c.send_raw(&frame[..split]);
    // The admin endpoint turning not-ready is the observable sign that the signal was handled;
    // bytes the client sent before the signal must still be served.
    server.sigterm();
    let mut polls = 0;
    while server.admin_get("/v1/ready").0 == 200 {
        polls += 1;
        assert!(
            polls < 100_000,
            "server never turned not-ready after SIGTERM"
        );
        std::thread::yield_now();
    }
    c.send_raw(&frame[split..]);
    let r = c.recv();
    assert_eq!(r.status(), Status::Ok, "the in-flight put must complete");
    assert!(raw::is_closed(&mut c.stream));
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
}
