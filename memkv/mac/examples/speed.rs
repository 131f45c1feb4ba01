//! Speed of the frame MAC's hash on this CPU, in GiB/s: a whole message hashed (`Mac::update`,
//! then `Mac::digest`) on one buffer again and again (in cache) and on a buffer much larger than
//! the caches (from memory), at the sizes of a batch's values, a read piece and a large value.
//!
//! `cargo run --release -p memkv-mac --example speed`

use std::hint::black_box;
use std::time::Instant;

use memkv_mac::{Mac, MacKey};

/// Bytes hashed per measurement in cache.
const WORK: usize = 512 << 20;
/// The "from memory" buffer: larger than any last-level cache here.
const LARGE: usize = 256 << 20;

fn main() {
    let key = MacKey::derive(&[7; 32]);
    let data: Vec<u8> = (0..LARGE as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    println!("kernel: {}", key.kernel());
    println!("{:>9} {:>12} {:>12}", "size", "cache GiB/s", "memory GiB/s");
    for size in [4 << 10, 64 << 10, 512 << 10, 4 << 20] {
        let hash = |piece: &[u8]| {
            let mut mac = Mac::new(&key);
            mac.update(black_box(piece));
            black_box(mac.digest());
        };
        let cached = best_of(7, || (0..WORK / size).for_each(|_| hash(&data[..size])));
        let streamed = best_of(7, || data.chunks_exact(size).for_each(hash));
        let gib = |secs: f64, bytes: usize| bytes as f64 / secs / f64::from(1u32 << 30);
        println!(
            "{size:>9} {:>12.1} {:>12.1}",
            gib(cached, WORK / size * size),
            gib(streamed, LARGE / size * size)
        );
    }
}

/// The shortest of `rounds` runs of `f`, in seconds.
fn best_of(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
