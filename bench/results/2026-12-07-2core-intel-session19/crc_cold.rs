// Standalone microbenchmark (not part of the workspace): CRC32C of a cold 256 MiB buffer.
// Run: cargo new crcb; add crc-fast = { version = "1.10", default-features = false, features = ["std"] }
// to its [dependencies]; copy this file to src/main.rs; cargo run --release.
// Cold-memory CRC32C: crc-fast over 512 KiB chunks of a 256 MiB buffer (cold), plain against
// software prefetches issued a few pages ahead (hardware prefetchers stop at 4 KiB pages).
use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
use std::time::Instant;

fn plain(buf: &[u8]) -> u32 {
    let mut c = 0u64;
    for chunk in buf.chunks(512 << 10) {
        c = crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc32Iscsi, c, crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, chunk), chunk.len() as u64);
    }
    c as u32
}

fn oneshot(buf: &[u8], step: usize) -> u32 {
    let mut x = 0u64;
    for chunk in buf.chunks(step) { x ^= crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, chunk); }
    x as u32
}

fn digest(buf: &[u8], step: usize) -> u32 {
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    for chunk in buf.chunks(step) { d.update(chunk); }
    d.finalize() as u32
}

fn prefetched(buf: &[u8], ahead: usize, step: usize) -> u32 {
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    let n = buf.len();
    let mut at = 0;
    while at < n {
        let end = (at + step).min(n);
        let pf = end + ahead;
        let mut p = end.max(at + ahead);
        while p < (pf + step).min(n) { unsafe { _mm_prefetch(buf.as_ptr().add(p) as *const i8, _MM_HINT_T0) }; p += 64; }
        d.update(&buf[at..end]);
        at = end;
    }
    d.finalize() as u32
}

fn main() {
    let len = 256usize << 20;
    let buf: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
    let evict: Vec<u8> = vec![1u8; 64 << 20];
    let mut sink = 0u64;
    for round in 0..2 {
        for (name, ahead, step) in [("plain", 0, 0), ("oneshot 512K", 2, 512<<10), ("oneshot 4K", 2, 4096), ("digest 4K", 1, 4096), ("digest 512K", 1, 512<<10), ("pf 4K+4K", 4096, 4096), ("pf 8K+4K", 8192, 4096), ("pf 16K+4K", 16384, 4096), ("pf 4K+16K", 4096, 16384)] {
            let mut best = 0f64;
            for _ in 0..3 {
                sink += evict.iter().step_by(64).map(|&b| b as u64).sum::<u64>();
                let t = Instant::now();
                let c = if step == 0 { plain(&buf) } else if ahead == 2 { oneshot(&buf, step) } else if ahead == 1 { digest(&buf, step) } else { prefetched(&buf, ahead, step) };
                let g = len as f64 / t.elapsed().as_secs_f64() / (1u64 << 30) as f64;
                sink += c as u64;
                best = best.max(g);
            }
            println!("round {round} {name:>10}: {best:.2} GiB/s");
        }
    }
    println!("{sink}");
}
