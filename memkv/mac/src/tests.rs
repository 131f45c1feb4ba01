//! The MAC against the `polyval` crate, RFC 8452's vector and a pinned known answer; the
//! VPCLMULQDQ kernels against the portable code at every length and split.

use polyval::Polyval;
use polyval::universal_hash::UniversalHash;
use proptest::prelude::*;

use super::*;

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// A MAC that uses the `polyval` crate whatever the CPU has.
fn portable(key: &MacKey) -> Mac {
    let mut mac = Mac::new(key);
    mac.state = State::Portable(Box::new(Polyval::new(&key.0.h.into())));
    mac
}

fn portable_tag(key: &MacKey, message: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = portable(key);
    mac.update(message);
    mac.tag()
}

#[test]
fn the_portable_polyval_is_rfc_8452s() {
    // RFC 8452, Appendix A.
    let h = unhex::<16>("25629347589242761d31f826ba4b757b");
    let x = unhex::<32>("4f4f95668c83dfb6401762bb2d01a262d1a24ddd2721d006bbe45f20d3c9f362");
    let mut p = Polyval::new(&h.into());
    p.update_padded(&x);
    let out: [u8; 16] = p.finalize().into();
    assert_eq!(out, unhex::<16>("f7a3b47b846119fae5b7866cf5e5b77e"));
}

/// The construction, pinned: a change to it breaks every peer of another build. The tag was
/// cross-checked with an independent implementation of the module docs' formula in Python
/// (the `blake3` and `cryptography` packages, POLYVAL multiplied by its definition).
#[test]
fn a_known_key_and_message_give_a_known_tag() {
    let key = MacKey::derive(&unhex::<32>(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    ));
    let message = b"memkv frame mac known answer";
    let expect = portable_tag(&key, message);
    assert_eq!(tag(&key, message), expect);
    assert_eq!(
        hex_of(&expect),
        "9a50c5897043d4968489ae0ac8352767",
        "the tag of the known answer changed"
    );
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn each_vpclmulqdq_kernel_matches_the_polyval_crate_at_every_length() {
    let h = unhex::<16>("25629347589242761d31f826ba4b757b");
    for kernel in [x86::Kernel::Avx512, x86::Kernel::Avx2] {
        let Some(wide) = x86::WideKeys::with_kernel(&h, kernel) else {
            println!("skipped {kernel:?}: this CPU lacks its features; other code runs");
            continue;
        };
        for blocks in [
            0,
            1,
            2,
            3,
            4,
            5,
            7,
            8,
            9,
            15,
            16,
            17,
            31,
            32,
            33,
            63,
            64,
            65,
            100,
            4096 / 16,
            1 << 16,
        ] {
            let data = bytes(blocks * BLOCK, blocks as u8);
            let mut p = Polyval::new(&h.into());
            p.update_padded(&data);
            let expect: [u8; 16] = p.finalize().into();
            assert_eq!(
                wide.absorb([0; BLOCK], &data),
                expect,
                "{kernel:?} {blocks} blocks"
            );
            // The same, in two calls split at an arbitrary block.
            let cut = blocks / 3 * BLOCK;
            let acc = wide.absorb([0; BLOCK], &data[..cut]);
            assert_eq!(
                wide.absorb(acc, &data[cut..]),
                expect,
                "{kernel:?} {blocks} blocks cut"
            );
        }
    }
}

/// Each kernel inside a running MAC: pieces of any length give the tag of the portable code.
#[cfg(target_arch = "x86_64")]
#[test]
fn each_kernel_gives_the_portable_tag_fed_in_pieces() {
    let message = bytes(20_000, 5);
    for kernel in [x86::Kernel::Avx512, x86::Kernel::Avx2] {
        let key = MacKey::derive(&[4; 32]);
        let Some(wide) = x86::WideKeys::with_kernel(&key.0.h, kernel) else {
            println!("skipped {kernel:?}: this CPU lacks its features; other code runs");
            continue;
        };
        let key = MacKey(Arc::new(Keys {
            h: key.0.h,
            aes: key.0.aes.clone(),
            wide: Some(wide),
        }));
        assert_eq!(key.kernel(), kernel.name());
        let mut mac = Mac::new(&key);
        for piece in message.chunks(4099) {
            mac.update(&piece[..70.min(piece.len())]);
            mac.update(&piece[70.min(piece.len())..]);
        }
        assert_eq!(mac.tag(), portable_tag(&key, &message), "{kernel:?}");
    }
}

#[test]
fn the_tag_depends_on_every_byte_and_on_the_length() {
    let key = MacKey::derive(&[9; 32]);
    let message = bytes(5000, 1);
    let base = tag(&key, &message);
    for i in [0, 1, 15, 16, 511, 512, 4999] {
        let mut m = message.clone();
        m[i] ^= 0x80;
        assert_ne!(tag(&key, &m), base, "byte {i}");
    }
    // Padding is not ambiguous: trailing zeros are part of the message.
    let mut longer = message.clone();
    longer.push(0);
    assert_ne!(tag(&key, &longer), base);
    assert_ne!(tag(&key, &[]), tag(&key, &[0]));
    assert_ne!(tag(&key, &[0; 15]), tag(&key, &[0; 16]));
    // Another key, another tag.
    assert_ne!(tag(&MacKey::derive(&[8; 32]), &message), base);
}

#[test]
fn a_tag_so_far_leaves_the_mac_going_on() {
    let key = MacKey::derive(&[3; 32]);
    let message = bytes(3000, 7);
    let mut mac = Mac::new(&key);
    mac.update(&message[..100]);
    assert_eq!(mac.tag(), tag(&key, &message[..100]));
    mac.update(&message[100..]);
    assert_eq!(mac.tag(), tag(&key, &message));
}

/// A digest is POLYVAL of the message, its zero padding and its length block under `H`, on
/// either kernel, and the tag is that digest encrypted: the construction of the module docs.
#[test]
fn a_digest_is_the_polyval_of_the_padded_message_and_its_length_and_the_tag_encrypts_it() {
    let key = MacKey::derive(&[4; 32]);
    for len in [0, 1, 15, 16, 17, 4096, 5000] {
        let message = bytes(len, 3);
        let mut blocks = message.clone();
        blocks.resize(len.div_ceil(BLOCK) * BLOCK, 0);
        blocks.extend_from_slice(&(len as u64).to_le_bytes());
        blocks.extend_from_slice(&[0; 8]);
        let mut p = Polyval::new(&key.0.h.into());
        p.update_padded(&blocks);
        let want: [u8; DIGEST_LEN] = p.finalize().into();
        let mut fast = Mac::new(&key);
        fast.update(&message);
        let mut slow = portable(&key);
        slow.update(&message);
        assert_eq!(fast.digest(), want, "{len}");
        assert_eq!(slow.digest(), want, "{len}");
        let mut block = want.into();
        key.0.aes.encrypt_block(&mut block);
        assert_eq!(fast.tag(), <[u8; TAG_LEN]>::from(block), "{len}");
    }
}

#[test]
fn a_reset_mac_is_a_new_one() {
    let key = MacKey::derive(&[5; 32]);
    let mut mac = Mac::new(&key);
    mac.update(&bytes(777, 2));
    mac.reset();
    assert_eq!(mac.tag(), tag(&key, &[]));
    mac.update(b"after");
    assert_eq!(mac.tag(), tag(&key, b"after"));
    assert_eq!(mac.digest(), {
        let mut fresh = Mac::new(&key);
        fresh.update(b"after");
        fresh.digest()
    });
}

proptest! {
    #[test]
    fn pieces_give_the_tag_of_the_whole_on_either_kernel(
        len in 0usize..3000,
        cuts in proptest::collection::vec(0usize..3000, 0..8),
        seed in any::<u8>(),
    ) {
        let key = MacKey::derive(&[seed; 32]);
        let message = bytes(len, seed);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (len + 1)).collect();
        cuts.sort_unstable();
        let mut fast = Mac::new(&key);
        let mut slow = portable(&key);
        let mut at = 0;
        for cut in cuts.into_iter().chain([len]) {
            fast.update(&message[at..cut]);
            slow.update(&message[at..cut]);
            at = cut;
        }
        let whole = portable_tag(&key, &message);
        prop_assert_eq!(fast.tag(), whole);
        prop_assert_eq!(slow.tag(), whole);
    }
}
