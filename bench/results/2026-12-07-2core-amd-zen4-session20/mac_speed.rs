// mac_speed.rs: the fastest of 3,000 MACs (memkv-mac) and CRC32Cs (crc-fast) of one 512 KiB
// buffer (it stays in L2). Built as a scratch crate depending on memkv-mac by path and
// crc-fast = "1"; one binary per variant of the kernel, run alternately.
use std::time::Instant;
fn main() {
    let key = memkv_mac::MacKey::derive(&[7; 32]);
    let sz = 512usize << 10;
    let buf: Vec<u8> = (0..sz).map(|i| (i * 31 + 7) as u8).collect();
    let mut best_mac = f64::MAX;
    let mut best_crc = f64::MAX;
    let mut x = 0u8; let mut c = 0u32;
    for _ in 0..3000 {
        let t = Instant::now();
        let mut m = memkv_mac::Mac::new(&key); m.update(&buf); x ^= m.tag()[0];
        best_mac = best_mac.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        c ^= crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, &buf) as u32;
        best_crc = best_crc.min(t.elapsed().as_secs_f64());
    }
    let g = |s: f64| sz as f64 / s / (1u64 << 30) as f64;
    println!("512K best: mac {:.1} GiB/s crc {:.1} GiB/s ({x} {c})", g(best_mac), g(best_crc));
}
