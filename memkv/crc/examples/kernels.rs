//! Speed of each CRC32C kernel this CPU runs, in GiB/s: on one buffer summed again and again
//! (in cache) and on a buffer much larger than the caches (from memory), at the sizes a socket
//! read or a send chunk hands the kernel.
//!
//! `cargo run --release -p memkv-crc --example kernels`

use std::hint::black_box;
use std::time::Instant;

use memkv_crc::CrcKernel;

/// Bytes summed per measurement.
const WORK: usize = 1 << 30;
/// The "from memory" buffer: far larger than any last-level cache here.
const LARGE: usize = 1 << 30;

fn main() {
    let data: Vec<u8> = (0..LARGE as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    println!("detected: {}", CrcKernel::detected().name());
    println!(
        "{:<20} {:>9} {:>12} {:>12}",
        "kernel", "size", "cache GiB/s", "memory GiB/s"
    );
    for size in [4 << 10, 16 << 10, 64 << 10, 256 << 10, 512 << 10, 4 << 20] {
        for kernel in CrcKernel::ALL.into_iter().filter(|k| k.runs_here()) {
            let cached = best_of(5, || {
                let piece = &data[..size];
                for _ in 0..WORK / size {
                    black_box(kernel.append(0, black_box(piece)));
                }
            });
            let streamed = best_of(5, || {
                for piece in data.chunks_exact(size) {
                    black_box(kernel.append(0, black_box(piece)));
                }
            });
            let gib = |secs: f64, bytes: usize| bytes as f64 / secs / f64::from(1u32 << 30);
            println!(
                "{:<20} {:>9} {:>12.1} {:>12.1}",
                kernel.name(),
                size,
                gib(cached, WORK / size * size),
                gib(streamed, LARGE / size * size),
            );
        }
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
