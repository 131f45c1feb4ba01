//! The protocol's CRC32C, with each kernel (`CrcKernel::ALL`) and with the one this CPU uses,
//! against a bitwise reference at every length class the SIMD paths treat differently: whole,
//! appended and combined.

use memkv_proto::CrcKernel;
use proptest::prelude::*;

/// CRC32C one bit at a time, straight from the definition (reflected polynomial 0x82f63b78).
fn reference(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn known_answer() {
    // The CRC-32C check value (RFC 3720, CRC catalogue).
    assert_eq!(reference(b"123456789"), 0xe306_9283);
    assert_eq!(memkv_proto::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(memkv_proto::crc32c(b""), 0);
    for k in CrcKernel::ALL {
        assert_eq!(k.append(0, b"123456789"), 0xe306_9283, "{}", k.name());
        assert_eq!(k.append(0, b""), 0, "{}", k.name());
    }
}

/// The documented rule: carry-less multiplication where it folds 512-bit vectors (x86-64 with
/// AVX-512VL and VPCLMULQDQ) and off x86-64, the CRC32 instruction on other x86-64 CPUs.
#[test]
fn the_kernel_follows_the_cpu_features() {
    #[cfg(target_arch = "x86_64")]
    let want = if std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
    {
        CrcKernel::Clmul
    } else {
        CrcKernel::Crc32Instruction
    };
    #[cfg(not(target_arch = "x86_64"))]
    let want = CrcKernel::Clmul;
    assert_eq!(CrcKernel::detected(), want);
}

proptest! {
    #[test]
    fn matches_the_reference_whole_appended_and_combined(
        data in proptest::collection::vec(any::<u8>(), 0..20_000),
        cut in any::<proptest::sample::Index>(),
    ) {
        let want = reference(&data);
        prop_assert_eq!(memkv_proto::crc32c(&data), want);
        let at = cut.index(data.len() + 1);
        let (a, b) = data.split_at(at);
        let head = memkv_proto::crc32c(a);
        prop_assert_eq!(memkv_proto::crc32c_append(head, b), want);
        prop_assert_eq!(
            memkv_proto::crc32c_combine(head, memkv_proto::crc32c(b), b.len()),
            want
        );
        for k in CrcKernel::ALL {
            prop_assert_eq!(k.append(0, &data), want, "{}", k.name());
            prop_assert_eq!(k.append(k.append(0, a), b), want, "{}", k.name());
        }
    }
}

#[test]
fn large_buffers_match_the_reference() {
    let data: Vec<u8> = (0..(4u32 << 20) + 13)
        .map(|i| (i ^ (i >> 9)) as u8)
        .collect();
    let want = reference(&data);
    assert_eq!(memkv_proto::crc32c(&data), want);
    let mut running = 0;
    for piece in data.chunks(65_537) {
        running = memkv_proto::crc32c_append(running, piece);
    }
    assert_eq!(running, want);
    for k in CrcKernel::ALL {
        assert_eq!(k.append(0, &data), want, "{}", k.name());
        // Pieces of the sizes a socket read returns, each kernel continuing the other's sum.
        let mut running = 0;
        for (i, piece) in data.chunks(262_144 + 4096).enumerate() {
            let k = CrcKernel::ALL[(i + usize::from(k == CrcKernel::Clmul)) % 2];
            running = k.append(running, piece);
        }
        assert_eq!(running, want);
    }
}
