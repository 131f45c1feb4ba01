//! Property tests: no input makes a decoder panic, and valid frames survive bit flips only
//! when the flip is detected.

use memkv_proto::msg::{self, Message};
use memkv_proto::*;
use proptest::prelude::*;

fn decode_all(bytes: &[u8]) {
    let _ = msg::decode::<msg::Hello>(bytes);
    let _ = msg::decode::<msg::HelloOk>(bytes);
    let _ = msg::decode::<msg::NodeInfo>(bytes);
    let _ = msg::decode::<msg::KeyReq>(bytes);
    let _ = msg::decode::<msg::PutReq>(bytes);
    let _ = msg::decode::<msg::ValueMeta>(bytes);
    let _ = msg::decode::<msg::KeyList>(bytes);
    let _ = msg::decode::<msg::Bitmap>(bytes);
    let _ = msg::decode::<msg::BatchPutReq>(bytes);
    let _ = msg::decode::<msg::StatusList>(bytes);
    let _ = msg::decode::<msg::BatchGetResp>(bytes);
    let _ = msg::decode::<msg::PutBeginReq>(bytes);
    let _ = msg::decode::<msg::ChunkReq>(bytes);
    let _ = msg::decode::<msg::GetBeginResp>(bytes);
    let _ = msg::decode::<msg::GetChunkReq>(bytes);
    let _ = msg::decode::<msg::ErrorResp>(bytes);
    let _ = msg::decode::<msg::ClockDriftResp>(bytes);
    let _ = msg::decode::<msg::AllocateReq>(bytes);
    let _ = msg::decode::<msg::AllocateResp>(bytes);
    let _ = msg::decode::<msg::LookupResp>(bytes);
    let _ = msg::decode::<msg::BatchReadReq>(bytes);
    let _ = msg::decode::<msg::BatchWriteReq>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn crc_combine_matches_the_crc_of_the_concatenation(
        a in proptest::collection::vec(any::<u8>(), 0..3000),
        b in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let joined: Vec<u8> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(crc32c_combine(crc32c(&a), crc32c(&b), b.len()), crc32c(&joined));
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn header_decoder_never_panics(bytes in proptest::array::uniform32(any::<u8>()), tail in proptest::array::uniform32(any::<u8>()), magic in any::<bool>()) {
        let mut raw = [0u8; HEADER_LEN];
        raw[..32].copy_from_slice(&bytes);
        raw[32..].copy_from_slice(&tail);
        if magic { raw[..4].copy_from_slice(&MAGIC); }
        if let Ok(h) = Header::decode(&raw, &Limits { max_body: 1 << 20 }) {
            prop_assert!(h.body_len() <= 1 << 20);
            prop_assert!(h.version <= VERSION);
        }
    }

    #[test]
    fn any_flipped_bit_in_a_sealed_frame_is_detected(
        key in proptest::array::uniform32(any::<u8>()),
        keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
        data in proptest::collection::vec(any::<u8>(), 1..256),
        flip in any::<usize>(),
        mode in 0usize..3,
    ) {
        let s = Session::derive(&AuthKey::from_bytes(key), Integrity::ALL[mode], &[1; 16], &[2; 16]);
        let ctrl = msg::KeyList { keys: keys.iter().map(Vec::as_slice).collect() }.encode();
        let mut h = Header::request(Opcode::Exists, 5, 6);
        let sealed = s.seal_whole(&mut h, &ctrl, &[&data], SendCrc::Compute);
        let mut frame = sealed.header.to_vec();
        frame.extend_from_slice(&ctrl);
        frame.extend_from_slice(&data);
        frame.extend_from_slice(&sealed.trailer.expect("data has a trailer"));
        let bit = flip % (frame.len() * 8);
        frame[bit / 8] ^= 1 << (bit % 8);
        let mut raw2 = [0u8; HEADER_LEN];
        raw2.copy_from_slice(&frame[..HEADER_LEN]);
        let ok = match Header::decode(&raw2, &Limits::default()) {
            Ok(h2) if h2.body_len() + TRAILER_LEN as u64 == (frame.len() - HEADER_LEN) as u64 => {
                let (c, rest) = frame[HEADER_LEN..].split_at(h2.ctrl_len as usize);
                let (d, t) = rest.split_at(h2.data_len as usize);
                s.verify(&h2, &raw2, c, d, Some(t.try_into().expect("trailer"))).is_ok()
            }
            _ => false,
        };
        prop_assert!(!ok, "a flipped bit went unnoticed");
    }
}
