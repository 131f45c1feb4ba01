//! One core's speed of the MACs and checksums that memkv-mac was chosen among (see ../README.md).

use polyval::universal_hash::{KeyInit, UniversalHash};
use std::time::Instant;
fn main() {
    let data = vec![7u8; 4 << 20];
    let n = 200;
    let t = Instant::now();
    let mut x = 0u8;
    for _ in 0..n { let mut h = blake3::Hasher::new_keyed(&[1; 32]); h.update(&data); x ^= h.finalize().as_bytes()[0]; }
    let d = t.elapsed().as_secs_f64(); println!("blake3 keyed {:.2} GiB/s {x}", n as f64 * 4.0 / 1024.0 / d);
    let t = Instant::now();
    for _ in 0..n { let mut h = polyval::Polyval::new(&[3u8;16].into()); h.update_padded(&data); x ^= h.finalize()[0]; }
    let d = t.elapsed().as_secs_f64(); println!("polyval {:.2} GiB/s {x}", n as f64 * 4.0 / 1024.0 / d);
    let t = Instant::now();
    for _ in 0..n { let mut h = ghash::GHash::new(&[3u8;16].into()); h.update_padded(&data); x ^= h.finalize()[0]; }
    let d = t.elapsed().as_secs_f64(); println!("ghash {:.2} GiB/s {x}", n as f64 * 4.0 / 1024.0 / d);
    let key = memkv_mac::MacKey::derive(&[5;32]); println!("{:?}", key);
    let t = Instant::now();
    for _ in 0..n { let mut m = memkv_mac::Mac::new(&key); m.update(&data); x ^= m.tag()[0]; }
    let d = t.elapsed().as_secs_f64(); println!("memkv-mac {:.2} GiB/s {x}", n as f64 * 4.0 / 1024.0 / d);
    let small = vec![1u8; 4096]; let t = Instant::now();
    for _ in 0..200000 { let mut m = memkv_mac::Mac::new(&key); m.update(&small[..64]); x ^= m.tag()[0]; m.update(&small); x ^= m.tag()[0]; }
    println!("memkv-mac 64B+4K two tags {:.0} ns", t.elapsed().as_nanos() as f64 / 200000.0);
    let t = Instant::now();
    for _ in 0..200000 { let mut m = memkv_mac::Mac::new(&key); m.update(&small[..70]); x ^= m.tag()[0]; m.update(&small); x ^= m.tag()[0]; }
    println!("memkv-mac 70B+4K two tags {:.0} ns", t.elapsed().as_nanos() as f64 / 200000.0);
    let t = Instant::now();
    for _ in 0..200000 { let mut h = blake3::Hasher::new_keyed(&[1;32]); h.update(&small[..64]); x ^= h.finalize().as_bytes()[0]; h.update(&small); x ^= h.finalize().as_bytes()[0]; }
    println!("blake3 64B+4K two tags {:.0} ns", t.elapsed().as_nanos() as f64 / 200000.0);
    let t = Instant::now();
    for _ in 0..n { x ^= crc32c::crc32c(&data) as u8; }
    let d = t.elapsed().as_secs_f64(); println!("crc32c {:.2} GiB/s {x}", n as f64 * 4.0 / 1024.0 / d);
}
