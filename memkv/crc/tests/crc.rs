//! The protocol's CRC32C, with each kernel (`CrcKernel::ALL`) and with the one this CPU uses,
//! against a bitwise reference at every length class the SIMD paths treat differently: whole,
//! appended and combined.

use memkv_crc::CrcKernel;
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
    assert_eq!(memkv_crc::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(memkv_crc::crc32c(b""), 0);
    for k in CrcKernel::ALL {
        assert_eq!(k.append(0, b"123456789"), 0xe306_9283, "{}", k.name());
        assert_eq!(k.append(0, b""), 0, "{}", k.name());
    }
}

/// The documented rule: carry-less multiplication where it folds 512-bit vectors (x86-64 with
/// AVX-512VL and VPCLMULQDQ) and off x86-64, the fused kernel on other x86-64 CPUs with AVX2 and
/// VPCLMULQDQ, the CRC32 instruction on the rest.
#[test]
fn the_kernel_follows_the_cpu_features() {
    #[cfg(target_arch = "x86_64")]
    let want = if std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
    {
        CrcKernel::Clmul
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
    {
        CrcKernel::Fused
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
        prop_assert_eq!(memkv_crc::crc32c(&data), want);
        let at = cut.index(data.len() + 1);
        let (a, b) = data.split_at(at);
        let head = memkv_crc::crc32c(a);
        prop_assert_eq!(memkv_crc::crc32c_append(head, b), want);
        prop_assert_eq!(
            memkv_crc::crc32c_combine(head, memkv_crc::crc32c(b), b.len()),
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
    assert_eq!(memkv_crc::crc32c(&data), want);
    let mut running = 0;
    for piece in data.chunks(65_537) {
        running = memkv_crc::crc32c_append(running, piece);
    }
    assert_eq!(running, want);
    for k in CrcKernel::ALL {
        assert_eq!(k.append(0, &data), want, "{}", k.name());
        // Pieces of the sizes a socket read returns, each kernel continuing the other's sum.
        let mut running = 0;
        for (i, piece) in data.chunks(262_144 + 4096).enumerate() {
            let k = CrcKernel::ALL[(i + k as usize) % CrcKernel::ALL.len()];
            running = k.append(running, piece);
        }
        assert_eq!(running, want);
    }
}

/// The fused kernel cuts its input into blocks of 17,408 and 2,176 bytes (a step of 272, 64 or
/// 8 steps) and leaves the rest to the CRC32 instruction: every length around those edges, at
/// every alignment of 0-31 bytes, continuing any running value.
#[test]
fn the_fused_kernel_matches_at_every_block_edge() {
    if !CrcKernel::Fused.runs_here() {
        println!("SKIPPED: this CPU lacks AVX2 with VPCLMULQDQ; the fused kernel is not tested");
        return;
    }
    let data: Vec<u8> = (0..3 * 17_408 + 4 * 2_176 + 600)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut lens = vec![0, 1, 271, 272, 273];
    for edge in [
        2_176,
        2 * 2_176,
        8 * 2_176,
        17_408,
        17_408 + 2_176,
        2 * 17_408,
        3 * 17_408,
    ] {
        lens.extend([edge - 1, edge, edge + 1, edge + 8, edge + 271]);
    }
    for len in lens {
        for offset in [0, 1, 7, 31] {
            let bytes = &data[offset..offset + len];
            for init in [0, 0xdead_beef] {
                assert_eq!(
                    CrcKernel::Fused.append(init, bytes),
                    CrcKernel::Crc32Instruction.append(init, bytes),
                    "length {len} at offset {offset} from {init:#x}"
                );
            }
        }
    }
}
