//! Wire-level tests of the frame header, sessions and message codecs.

use memkv_proto::msg::{self, Message};
use memkv_proto::*;

fn key() -> AuthKey {
    AuthKey::from_hex(&"ab".repeat(32)).unwrap()
}

/// A sealed request frame carrying `ctrl` and `data`: header encoding, header, trailer.
fn sealed(
    session: &Session,
    ctrl: &[u8],
    data: &[u8],
) -> ([u8; HEADER_LEN], Header, Option<[u8; TRAILER_LEN]>) {
    let mut h = Header::request(Opcode::Put, 7, 1_000);
    let sealed = session.seal_whole(&mut h, ctrl, &[data], SendCrc::Compute);
    (sealed.header, h, sealed.trailer)
}

#[test]
fn header_round_trips() {
    let mut h = Header::request(Opcode::BatchGet, u64::MAX - 1, 123_456_789);
    h.status = Status::NoSpace.code();
    h.ctrl_len = 10;
    h.data_len = 20;
    h.tag = [9; TAG_LEN];
    h.integrity = Integrity::Checksum;
    h.response = true;
    let raw = h.encode();
    assert_eq!(&raw[..4], b"MEMK");
    assert_eq!(Header::decode(&raw, &Limits::default()).unwrap(), h);
}

#[test]
fn future_version_is_refused_with_its_request_id() {
    let mut raw = Header::request(Opcode::Get, 42, 0).encode();
    raw[4..6].copy_from_slice(&(VERSION + 1).to_le_bytes());
    match Header::decode(&raw, &Limits::default()) {
        Err(FrameError::UnsupportedVersion {
            version,
            request_id,
            opcode,
        }) => {
            assert_eq!(version, VERSION + 1);
            assert_eq!(request_id, 42);
            assert_eq!(opcode, Opcode::Get.code());
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

/// Versions 1 (CRC32C and tag in the header), 2 (keyed BLAKE3 tags) and 3 (`mac` data tags
/// over the data itself) cannot be verified by this build: refused by the header alone, with
/// what to do, not as a bad MAC.
#[test]
fn frames_of_versions_1_to_3_are_refused_as_unsupported() {
    for old in [1u16, 2, 3] {
        let mut raw = Header::request(Opcode::Get, 42, 0).encode();
        raw[4..6].copy_from_slice(&old.to_le_bytes());
        let err = Header::decode(&raw, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::UnsupportedVersion { version, request_id: 42, .. } if version == old
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("versions 4 to 4"), "{err}");
    }
}

#[test]
fn oversized_body_is_refused_from_the_header_alone() {
    let mut h = Header::request(Opcode::Put, 1, 0);
    h.ctrl_len = 16;
    h.data_len = u32::MAX;
    let err = Header::decode(&h.encode(), &Limits { max_body: 1 << 20 }).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                max: 1_048_576,
                request_id: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_magic_and_unknown_flags_are_refused() {
    let mut raw = Header::request(Opcode::Get, 1, 0).encode();
    raw[0] = b'X';
    assert_eq!(
        Header::decode(&raw, &Limits::default()),
        Err(FrameError::BadMagic)
    );
    let mut raw = Header::request(Opcode::Get, 1, 0).encode();
    raw[7] = 0x80;
    assert!(matches!(
        Header::decode(&raw, &Limits::default()),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn every_mode_verifies_its_own_frames_and_rejects_tampering() {
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        let ctrl = msg::PutReq { key: b"k" }.encode();
        let (raw, h, trailer) = sealed(&s, &ctrl, b"value");
        let trailer = trailer.expect("a frame with data has a trailer");
        assert_eq!(&trailer[..4], &crc32c(b"value").to_le_bytes());
        let parsed = Header::decode(&raw, &Limits::default()).unwrap();
        assert_eq!(parsed.integrity, mode);
        let sums = s
            .verify(&parsed, &raw, &ctrl, b"value", Some(&trailer))
            .unwrap();
        assert_eq!(sums.sent, crc32c(b"value"));
        assert_eq!(parsed, h);

        // Tampered data: every mode notices (the MAC modes through the tag, checksum through CRC).
        let err = s
            .verify(&parsed, &raw, &ctrl, b"valuf", Some(&trailer))
            .unwrap_err();
        let expected = if mode == Integrity::Checksum {
            VerifyError::ChecksumMismatch
        } else {
            VerifyError::BadMac
        };
        assert_eq!(err, expected, "{mode}");

        // Tampered header field (request id), control section, trailer CRC or trailer tag, or
        // a missing trailer.
        let mut raw2 = raw;
        raw2[8] ^= 1;
        let h2 = Header::decode(&raw2, &Limits::default()).unwrap();
        assert_eq!(
            s.verify(&h2, &raw2, &ctrl, b"value", Some(&trailer)),
            Err(VerifyError::BadMac)
        );
        let mut ctrl2 = ctrl.clone();
        ctrl2[2] ^= 1;
        assert_eq!(
            s.verify(&parsed, &raw, &ctrl2, b"value", Some(&trailer)),
            Err(VerifyError::BadMac)
        );
        for at in [0, 4, TRAILER_LEN - 1] {
            let mut t2 = trailer;
            t2[at] ^= 1;
            assert_eq!(
                s.verify(&parsed, &raw, &ctrl, b"value", Some(&t2)),
                Err(VerifyError::BadMac),
                "{mode}: trailer byte {at}"
            );
        }
        assert_eq!(
            s.verify(&parsed, &raw, &ctrl, b"value", None),
            Err(VerifyError::BadMac)
        );
    }
}

#[test]
fn a_frame_without_data_has_no_trailer_and_its_header_tag_covers_the_control_section() {
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        let mut h = Header::request(Opcode::Get, 3, 9);
        let raw = s.seal_ctrl(&mut h, b"ctrl");
        let sealed = s.seal_whole(&mut h, b"ctrl", &[], SendCrc::Compute);
        assert_eq!(sealed.header, raw);
        assert_eq!(sealed.trailer, None);
        let sums = s.verify(&h, &raw, b"ctrl", &[], None).unwrap();
        assert_eq!(sums.sent, 0);
        assert_eq!(
            s.verify(&h, &raw, b"ctrx", &[], None),
            Err(VerifyError::BadMac)
        );
    }
}

#[test]
fn frames_do_not_verify_on_another_connection_or_with_another_key() {
    let a = Session::derive(&key(), Integrity::Mac, &[1; 16], &[2; 16]);
    let b = Session::derive(&key(), Integrity::Mac, &[1; 16], &[3; 16]);
    let other_key = Session::derive(
        &AuthKey::from_bytes([7; 32]),
        Integrity::Mac,
        &[1; 16],
        &[2; 16],
    );
    let (raw, h, t) = sealed(&a, b"ctrl", b"data");
    assert_eq!(
        b.verify(&h, &raw, b"ctrl", b"data", t.as_ref()),
        Err(VerifyError::BadMac)
    );
    assert_eq!(
        other_key.verify(&h, &raw, b"ctrl", b"data", t.as_ref()),
        Err(VerifyError::BadMac)
    );
}

#[test]
fn a_trailer_does_not_verify_on_another_frame() {
    // Two frames of one connection with the same data: swapping their trailers fails, since a
    // trailer's tag covers its own frame's header.
    let s = Session::derive(&key(), Integrity::Checksum, &[1; 16], &[2; 16]);
    let mut h1 = Header::request(Opcode::Put, 1, 5);
    let mut h2 = Header::request(Opcode::Put, 2, 5);
    let f1 = s.seal_whole(&mut h1, b"k", &[b"same"], SendCrc::Compute);
    let f2 = s.seal_whole(&mut h2, b"k", &[b"same"], SendCrc::Compute);
    assert_eq!(
        s.verify(&h1, &f1.header, b"k", b"same", f2.trailer.as_ref()),
        Err(VerifyError::BadMac)
    );
}

#[test]
fn integrity_mismatch_is_reported_as_such() {
    let a = Session::derive(&key(), Integrity::Checksum, &[1; 16], &[2; 16]);
    let b = Session::derive(&key(), Integrity::Mac, &[1; 16], &[2; 16]);
    let (raw, h, t) = sealed(&a, b"", b"x");
    assert_eq!(
        b.verify(&h, &raw, b"", b"x", t.as_ref()),
        Err(VerifyError::IntegrityMismatch {
            frame: Integrity::Checksum,
            session: Integrity::Mac
        })
    );
}

#[test]
fn seal_accepts_split_data_and_a_known_crc() {
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        let mut h = Header::request(Opcode::BatchPut, 1, 0);
        let (a, b) = (b"hello ".as_slice(), b"world".as_slice());
        let combined = crc32c_combine(crc32c(a), crc32c(b), b.len());
        assert_eq!(combined, crc32c(b"hello world"));
        let sealed = s.seal_whole(&mut h, b"c", &[a, b], SendCrc::Known(combined));
        s.verify(
            &h,
            &sealed.header,
            b"c",
            b"hello world",
            sealed.trailer.as_ref(),
        )
        .unwrap();
    }
}

#[test]
fn bytes_that_no_longer_match_a_known_crc_are_found_by_the_receiver() {
    // A stored value sent with its stored CRC (`SendCrc::Known`), whose bytes changed since:
    // the sender does not sum them; the receiver finds the mismatch from the trailer.
    let value: Vec<u8> = (0..200_000).map(|i| (i * 31 % 251) as u8).collect();
    let crc = crc32c(&value);
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        let mut h = Header::response_to(&Header::request(Opcode::Get, 9, 0), Status::Ok, 5);
        let mut damaged = value.clone();
        damaged[65_544] ^= 0x10;
        let sent = s.seal_whole(&mut h, b"meta", &[&damaged], SendCrc::Known(crc));
        let mut v = s.verifier(&h, &sent.header, b"meta", DataCrc::Report);
        v.update(&damaged);
        *v.trailer_mut() = sent.trailer.unwrap();
        let sums = v.finish().unwrap();
        assert_eq!(sums.sent, crc, "{mode}");
        assert_eq!(sums.computed, Some(crc32c(&damaged)), "{mode}");
        assert_ne!(sums.computed, Some(sums.sent), "{mode}");
    }
}

#[test]
fn auth_keys_parse_and_refuse_clearly() {
    assert_eq!(AuthKey::from_hex("abc"), Err(AuthKeyError::KeyLength(3)));
    assert_eq!(
        AuthKey::from_hex(&"zz".repeat(32)),
        Err(AuthKeyError::KeyHex)
    );
    let k = AuthKey::from_hex(&format!("  {}\n", "0f".repeat(32))).unwrap();
    assert_eq!(k.as_bytes(), &[0x0f; 32]);
    assert!(
        !format!("{k:?}").contains("0f0f"),
        "Debug must not print the key"
    );
    assert_eq!(AuthKey::loopback_dev_key(), AuthKey::loopback_dev_key());
    assert_ne!(AuthKey::loopback_dev_key(), k);
}

#[test]
fn messages_round_trip() {
    fn rt<'a, M: Message<'a> + PartialEq + std::fmt::Debug>(m: M, buf: &'a mut Vec<u8>) {
        *buf = m.encode();
        let back: M = msg::decode(buf).unwrap();
        assert_eq!(back, m);
    }
    let info = msg::NodeInfo {
        server_id: [3; 16],
        version: VERSION,
        release: "RELEASE.2026-11-25T00-00-00Z",
        storage_mode: "memory",
        max_body: 1 << 26,
        max_key_len: 512,
        max_clock_skew_ns: 30_000_000_000,
        capabilities: 0,
    };
    let mut b = Vec::new();
    rt(
        msg::Hello {
            client_nonce: [1; 16],
            features: 5,
            client_name: "test",
        },
        &mut b,
    );
    rt(
        msg::HelloOk {
            server_nonce: [2; 16],
            client_nonce: [1; 16],
            info: info.clone(),
        },
        &mut b,
    );
    rt(info, &mut b);
    rt(msg::KeyReq { key: b"k" }, &mut b);
    rt(msg::PutReq { key: b"key" }, &mut b);
    rt(
        msg::ValueMeta {
            len: 1 << 40,
            crc: 1,
        },
        &mut b,
    );
    rt(
        msg::KeyList {
            keys: vec![b"a".as_slice(), b"", b"ccc"],
        },
        &mut b,
    );
    rt(
        msg::Bitmap {
            bits: vec![true, false, true, true, false, false, false, false, true],
        },
        &mut b,
    );
    rt(
        msg::BatchPutReq {
            items: vec![msg::BatchPutItem {
                key: b"a",
                len: 3,
                crc: 4,
            }],
        },
        &mut b,
    );
    rt(
        msg::StatusList {
            statuses: vec![0, 1, 2],
        },
        &mut b,
    );
    rt(
        msg::BatchGetResp {
            items: vec![msg::BatchGetItem {
                status: 0,
                len: 5,
                crc: 6,
            }],
        },
        &mut b,
    );
    rt(
        msg::PutBeginReq {
            key: b"big",
            total_len: 1 << 30,
            value_crc: 7,
        },
        &mut b,
    );
    rt(msg::StreamRef { stream: 8 }, &mut b);
    rt(
        msg::ChunkReq {
            stream: 8,
            offset: 9,
        },
        &mut b,
    );
    rt(
        msg::GetBeginResp {
            stream: 1,
            len: 2,
            crc: 3,
        },
        &mut b,
    );
    rt(
        msg::GetChunkReq {
            stream: 1,
            offset: 2,
            len: 3,
        },
        &mut b,
    );
    rt(msg::ErrorResp { message: "nope" }, &mut b);
    rt(
        msg::ClockDriftResp {
            ts_ns: 1,
            window_ns: 2,
            drift_ns: -3,
            message: "m",
        },
        &mut b,
    );
    let region = msg::MemRegion {
        region: 1,
        rkey: 2,
        addr: 3,
        len: 4,
    };
    rt(
        msg::AllocateReq {
            key: b"k",
            len: 1,
            crc: 2,
        },
        &mut b,
    );
    rt(msg::AllocateResp { handle: 1, region }, &mut b);
    rt(msg::HandleRef { handle: 1 }, &mut b);
    rt(
        msg::LookupResp {
            handle: 1,
            region,
            len: 2,
            crc: 3,
        },
        &mut b,
    );
    rt(
        msg::BatchReadReq {
            items: vec![(b"k".as_slice(), region)],
        },
        &mut b,
    );
    rt(
        msg::BatchWriteReq {
            items: vec![(b"k".as_slice(), region, 5)],
        },
        &mut b,
    );
}

#[test]
fn trailing_and_truncated_control_sections_are_refused() {
    let mut enc = msg::KeyReq { key: b"abc" }.encode();
    enc.push(0);
    assert_eq!(
        msg::decode::<msg::KeyReq>(&enc),
        Err(DecodeError::Trailing(1))
    );
    assert!(matches!(
        msg::decode::<msg::KeyReq>(&enc[..3]),
        Err(DecodeError::Truncated(_))
    ));
    // A forged count larger than the bytes present must not allocate for it.
    let forged = [0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        msg::decode::<msg::KeyList>(&forged),
        Err(DecodeError::Truncated(_))
    ));
}

#[test]
fn opcodes_and_statuses_have_stable_codes() {
    assert_eq!(Opcode::Connect.code(), 0x06);
    assert_eq!(Opcode::Put.code(), 0x20);
    assert_eq!(Opcode::Get.code(), 0x21);
    assert_eq!(Opcode::Delete.code(), 0x22);
    for op in Opcode::ALL {
        assert_eq!(Opcode::from_code(op.code()), Some(*op));
        assert_eq!(Opcode::ALL[op.index()], *op);
    }
    for s in Status::ALL {
        assert_eq!(Status::from_code(s.code()), Some(*s));
    }
    assert!(Opcode::BatchRead.is_one_sided());
    assert!(!Opcode::BatchGet.is_one_sided());
}

#[test]
fn a_frame_verified_piece_by_piece_agrees_with_the_whole_and_returns_its_crc() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let crc = crc32c(&data);
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        let ctrl = b"control";
        let (raw, h, trailer) = sealed(&s, ctrl, &data);
        let trailer = trailer.unwrap();
        for pieces in [1usize, 3, 4096] {
            let mut v = s.verifier(&h, &raw, ctrl, DataCrc::Compute);
            for piece in data.chunks(data.len().div_ceil(pieces)) {
                v.update(piece);
            }
            *v.trailer_mut() = trailer;
            assert_eq!(
                v.finish(),
                Ok(DataSums {
                    sent: crc,
                    computed: Some(crc)
                }),
                "{mode}, {pieces} pieces"
            );
        }

        // One flipped byte in the last piece: the MAC modes fail the tag, checksum the CRC.
        let mut bad = data.clone();
        *bad.last_mut().unwrap() ^= 0x40;
        let mut v = s.verifier(&h, &raw, ctrl, DataCrc::Compute);
        for piece in bad.chunks(777) {
            v.update(piece);
        }
        *v.trailer_mut() = trailer;
        let expected = if mode == Integrity::Checksum {
            VerifyError::ChecksumMismatch
        } else {
            VerifyError::BadMac
        };
        assert_eq!(v.finish(), Err(expected), "{mode}");

        // Skipping the CRC leaves the data check to the caller in checksum mode only.
        let mut v = s.verifier(&h, &raw, ctrl, DataCrc::Skip);
        v.update(&bad);
        *v.trailer_mut() = trailer;
        let skipped = v.finish();
        if mode == Integrity::Checksum {
            assert_eq!(
                skipped,
                Ok(DataSums {
                    sent: crc,
                    computed: None
                })
            );
        } else {
            assert_eq!(skipped, Err(VerifyError::BadMac), "{mode}");
        }
    }
}

#[test]
fn a_streaming_verifier_refuses_a_frame_sealed_in_another_mode() {
    let mac = Session::derive(&key(), Integrity::Mac, &[1; 16], &[2; 16]);
    let chk = Session::derive(&key(), Integrity::Checksum, &[1; 16], &[2; 16]);
    let (raw, h, trailer) = sealed(&chk, b"c", b"data");
    let mut v = mac.verifier(&h, &raw, b"c", DataCrc::Compute);
    v.update(b"data");
    *v.trailer_mut() = trailer.unwrap();
    assert_eq!(
        v.finish(),
        Err(VerifyError::IntegrityMismatch {
            frame: Integrity::Checksum,
            session: Integrity::Mac,
        })
    );
}

#[test]
fn a_request_may_leave_its_crc_to_the_receiver_only_where_a_mac_covers_its_data() {
    let value: Vec<u8> = (0..300_000).map(|i| (i * 7 % 253) as u8).collect();
    let ctrl = msg::PutReq { key: b"k" }.encode();
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        let mut h = Header::request(Opcode::Put, 3, 0);
        let sent = s.seal_whole(&mut h, &ctrl, &[&value], SendCrc::ByReceiver);
        let trailer = sent.trailer.expect("a frame with data has a trailer");
        let parsed = Header::decode(&sent.header, &Limits::default()).unwrap();
        assert_eq!(parsed, h, "{mode}");
        if mode == Integrity::Checksum {
            // The CRC32C is what covers the data: computed and sent as usual.
            assert!(!parsed.crc_by_receiver);
            assert_eq!(&trailer[..4], &crc32c(&value).to_le_bytes());
            continue;
        }
        assert!(parsed.crc_by_receiver, "{mode}");
        assert_eq!(
            &trailer[..4],
            &[0; 4],
            "{mode}: the sender computed no CRC32C"
        );
        // The receiver computes it (unless its caller computes what it needs itself) and has
        // nothing to compare it with.
        for want in [DataCrc::Compute, DataCrc::Report, DataCrc::Skip] {
            let mut v = s.verifier(&parsed, &sent.header, &ctrl, want);
            for piece in value.chunks(70_000) {
                v.update(piece);
            }
            *v.trailer_mut() = trailer;
            let sums = v.finish().unwrap();
            let crc = (want != DataCrc::Skip).then(|| crc32c(&value));
            assert_eq!(sums.computed, crc, "{mode} {want:?}");
            assert_eq!(sums.sent, crc.unwrap_or(0), "{mode} {want:?}");
        }
        // Damaged data is still found, by the tag.
        let mut damaged = value.clone();
        damaged[123_456] ^= 1;
        assert_eq!(
            s.verify(&parsed, &sent.header, &ctrl, &damaged, Some(&trailer)),
            Err(VerifyError::BadMac),
            "{mode}"
        );
        // The flag is covered by the header tag: cleared on the way, the frame fails.
        let mut raw = sent.header;
        raw[7] &= !0b1000;
        let cleared = Header::decode(&raw, &Limits::default()).unwrap();
        assert_eq!(
            s.verify(&cleared, &raw, &ctrl, &value, Some(&trailer)),
            Err(VerifyError::BadMac),
            "{mode}"
        );
    }

    // In checksum mode a header that says so all the same (one built in code: the decoder
    // refuses it) changes nothing: the data is still compared with the trailer's CRC32C.
    let s = Session::derive(&key(), Integrity::Checksum, &[1; 16], &[2; 16]);
    let (raw, mut h, trailer) = sealed(&s, &ctrl, &value);
    h.crc_by_receiver = true;
    let sums = s.verify(&h, &raw, &ctrl, &value, trailer.as_ref()).unwrap();
    assert_eq!(sums.sent, crc32c(&value));
    let mut damaged = value.clone();
    damaged[5] ^= 1;
    assert_eq!(
        s.verify(&h, &raw, &ctrl, &damaged, trailer.as_ref()),
        Err(VerifyError::ChecksumMismatch)
    );

    // A frame without data has no CRC32C to leave: nothing is flagged.
    let s = Session::derive(&key(), Integrity::Mac, &[1; 16], &[2; 16]);
    let mut h = Header::request(Opcode::Get, 4, 0);
    let sent = s.seal_whole(&mut h, &ctrl, &[], SendCrc::ByReceiver);
    assert!(
        !Header::decode(&sent.header, &Limits::default())
            .unwrap()
            .crc_by_receiver
    );
}

#[test]
fn the_crc_by_receiver_flag_is_refused_where_it_cannot_hold() {
    let flagged = |integrity: Integrity, response: bool, data_len: u32| {
        let mut h = Header::request(Opcode::Put, 1, 0);
        h.integrity = integrity;
        h.response = response;
        h.data_len = data_len;
        h.crc_by_receiver = true;
        Header::decode(&h.encode(), &Limits::default())
    };
    assert!(flagged(Integrity::Mac, false, 10).unwrap().crc_by_receiver);
    assert!(
        flagged(Integrity::HmacSha256, false, 10)
            .unwrap()
            .crc_by_receiver
    );
    for (integrity, response, data_len, why) in [
        (
            Integrity::Checksum,
            false,
            10,
            "must carry its data's CRC32C",
        ),
        (Integrity::Mac, true, 10, "only a request with data"),
        (Integrity::Mac, false, 0, "only a request with data"),
    ] {
        match flagged(integrity, response, data_len) {
            Err(FrameError::Malformed(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{integrity} response={response} data={data_len}: {other:?}"),
        }
    }
}

/// A batch put's items and a batch get's found values are values of their own: frames of
/// either verify in every mode however their data is cut into pieces, and two values of one
/// length swapped fail.
#[test]
fn batch_frames_verify_in_pieces_and_refuse_swapped_values() {
    let a: Vec<u8> = (0..5000u32).map(|i| (i * 3) as u8).collect();
    let b: Vec<u8> = (0..5000u32).map(|i| (i * 5 + 1) as u8).collect();
    let values: [&[u8]; 4] = [&a, &[], &b, b"tail"];
    let data = values.concat();
    let swapped = [&b[..], &[], &a, b"tail"].concat();
    let put = msg::BatchPutReq {
        items: values
            .iter()
            .map(|v| msg::BatchPutItem {
                key: b"k",
                len: v.len() as u32,
                crc: crc32c(v),
            })
            .collect(),
    }
    .encode();
    let item = |status: Status, v: &[u8]| msg::BatchGetItem {
        status: status.code(),
        len: v.len() as u64,
        crc: crc32c(v),
    };
    let mut items: Vec<_> = values.iter().map(|v| item(Status::Ok, v)).collect();
    items.insert(1, item(Status::NotFound, &[]));
    items.push(item(Status::PayloadTooLarge, &[0; 9]));
    let got = msg::BatchGetResp { items }.encode();
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        for (opcode, response, ctrl) in [
            (Opcode::BatchPut, false, &put),
            (Opcode::BatchGet, true, &got),
        ] {
            let mut h = Header::request(opcode, 9, 1_000);
            h.response = response;
            let (raw, mut sealer) = s.seal(&mut h, ctrl, data.len(), SendCrc::Compute);
            for v in values {
                sealer.update(v);
            }
            let trailer = sealer.finish().expect("data");
            let check = |data: &[u8], piece: usize| {
                let mut v = s.verifier(&h, &raw, ctrl, DataCrc::Compute);
                for p in data.chunks(piece) {
                    v.update(p);
                }
                *v.trailer_mut() = trailer;
                v.finish().map(|_| ())
            };
            for piece in [1, 7, 4999, 5000, 5001, data.len()] {
                assert_eq!(check(&data, piece), Ok(()), "{mode} {opcode:?} {piece}");
            }
            assert!(check(&swapped, 100).is_err(), "{mode} {opcode:?}");
        }
    }
}

/// In `mac` mode a data tag covers the value's digest, keyed from the auth key alone: the same
/// value sealed on two connections has the same digest, yet each frame verifies only on its
/// own connection.
#[test]
fn a_mac_frame_of_one_value_verifies_only_on_its_own_connection() {
    let value = vec![0x3c; 70_000];
    let one = Session::derive(&key(), Integrity::Mac, &[1; 16], &[2; 16]);
    let two = Session::derive(&key(), Integrity::Mac, &[3; 16], &[4; 16]);
    let (raw, h, trailer) = sealed(&one, b"c", &value);
    assert_eq!(
        one.verify(&h, &raw, b"c", &value, trailer.as_ref())
            .map(|_| ()),
        Ok(())
    );
    assert_eq!(
        two.verify(&h, &raw, b"c", &value, trailer.as_ref()),
        Err(VerifyError::BadMac)
    );
}

/// A frame of stored values sealed with their CRC32C and digests (from the frames that brought
/// them) reads none of the data in `mac` mode, and its trailer is the one hashing the data
/// gives; in the other modes the digests are not used. A value changed since verifies as
/// damaged (its CRC32C) with `DataCrc::Report`, never as good.
#[test]
fn stored_values_are_sealed_with_their_digests_and_changed_bytes_show_as_damage() {
    let value: Vec<u8> = (0..300_000u32).map(|i| (i * 11) as u8).collect();
    let crc = crc32c(&value);
    for mode in Integrity::ALL {
        let s = Session::derive(&key(), mode, &[1; 16], &[2; 16]);
        // The put that brought the value: its verifier gives the digest.
        let (raw, h, trailer) = sealed(&s, b"put", &value);
        let mut v = s.verifier(&h, &raw, b"put", DataCrc::Compute);
        v.update(&value);
        *v.trailer_mut() = trailer.unwrap();
        let (sums, digests) = v.finish_with_digests().unwrap();
        assert_eq!(sums.computed, Some(crc));
        assert_eq!(digests.is_some(), mode == Integrity::Mac, "{mode}");
        let stored: Vec<[u8; DIGEST_LEN]> = digests.iter().filter_map(|d| d.get(0)).collect();

        // The get that sends it back, with and without the digest.
        let reply = |stored: &[[u8; DIGEST_LEN]]| {
            let mut h = Header::request(Opcode::Get, 8, 2_000);
            h.response = true;
            let (raw, mut sealer) = s.seal_stored(&mut h, b"meta", value.len(), crc, stored);
            let reads = sealer.reads_data();
            if reads {
                sealer.update(&value);
            }
            (h, raw, sealer.finish().unwrap(), reads)
        };
        let (h, raw, with, reads) = reply(&stored);
        // Only HMAC-SHA256 still hashes the data (checksum mode tags only the known CRC32C).
        assert_eq!(reads, mode == Integrity::HmacSha256, "{mode}");
        let (_, _, without, _) = reply(&[]);
        assert_eq!(with, without, "{mode}: the same trailer");
        let check = |data: &[u8]| {
            let mut v = s.verifier(&h, &raw, b"meta", DataCrc::Report);
            v.update(data);
            *v.trailer_mut() = with;
            v.finish()
        };
        assert_eq!(
            check(&value),
            Ok(DataSums {
                sent: crc,
                computed: Some(crc)
            }),
            "{mode}"
        );
        let mut damaged = value.clone();
        damaged[1234] ^= 4;
        let got = check(&damaged).expect("damage is reported, not refused");
        assert_eq!(got.sent, crc, "{mode}");
        assert_ne!(got.computed, Some(crc), "{mode}");
    }
}
