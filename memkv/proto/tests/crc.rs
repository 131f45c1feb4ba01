//! The protocol's CRC32C (carry-less multiplication) against the `crc32c` crate as an oracle,
//! at every length class the SIMD paths treat differently, whole, appended and combined.

use proptest::prelude::*;

#[test]
fn known_answer() {
    // The CRC-32C check value (RFC 3720, CRC catalogue).
    assert_eq!(memkv_proto::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(memkv_proto::crc32c(b""), 0);
}

proptest! {
    #[test]
    fn matches_the_oracle_whole_appended_and_combined(
        data in proptest::collection::vec(any::<u8>(), 0..20_000),
        cut in any::<proptest::sample::Index>(),
    ) {
        let want = crc32c::crc32c(&data);
        prop_assert_eq!(memkv_proto::crc32c(&data), want);
        let at = cut.index(data.len() + 1);
        let (a, b) = data.split_at(at);
        let head = memkv_proto::crc32c(a);
        prop_assert_eq!(memkv_proto::crc32c_append(head, b), want);
        prop_assert_eq!(
            memkv_proto::crc32c_combine(head, memkv_proto::crc32c(b), b.len()),
            want
        );
    }
}

#[test]
fn large_buffers_match_the_oracle() {
    let data: Vec<u8> = (0..(4u32 << 20) + 13)
        .map(|i| (i ^ (i >> 9)) as u8)
        .collect();
    assert_eq!(memkv_proto::crc32c(&data), crc32c::crc32c(&data));
    let mut running = 0;
    for piece in data.chunks(65_537) {
        running = memkv_proto::crc32c_append(running, piece);
    }
    assert_eq!(running, crc32c::crc32c(&data));
}
