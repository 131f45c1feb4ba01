// Standalone microbenchmark of the two CRC32C kernels (not part of the workspace).
// Run: cargo new crcb; add crc-fast = { version = "1.10", default-features = false, features = ["std"] }
// and crc32c = "0.6" to its [dependencies]; copy this file to src/main.rs; cargo run --release.
use std::time::Instant;
fn main() {
    for &len in &[16usize<<10, 64<<10, 256<<10, 512<<10, 4<<20, 256<<20] {
        let buf: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let total = 4usize << 30;
        let iters = (total / len).max(1);
        for name in ["crc-fast", "crc32c"] {
            let t = Instant::now();
            let mut x = 0u32;
            for _ in 0..iters {
                x ^= if name == "crc-fast" { crc_fast::crc32_iscsi(&buf) as u32 } else { crc32c::crc32c(&buf) };
            }
            let s = t.elapsed().as_secs_f64();
            println!("{:>8} {:>9} {:6.2} GiB/s ({x:x})", name, len, (iters * len) as f64 / s / (1u64<<30) as f64);
        }
    }
}
