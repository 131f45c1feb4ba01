//! MAC and CRC32C speed over chunks (512 KiB, or the KiB given as the argument) of a 256 MiB
//! working set, summed right after a blocking write of the chunk to a loopback socket (drained
//! by another thread), before it (cold), after one load per cache line, and again at once (hot).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const SET: usize = 256 << 20;

fn touch(b: &[u8]) -> u8 {
    let mut acc = 0u8;
    for x in b.iter().step_by(64) {
        acc ^= *x;
    }
    std::hint::black_box(acc)
}

fn main() {
    // Chunk size in KiB (default 512, memkv's SEND_CHUNK).
    let chunk_kib: usize = std::env::args().nth(1).map_or(512, |a| a.parse().unwrap());
    let chunk = chunk_kib * 1024;
    println!("chunks of {chunk_kib} KiB");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let data: Vec<u8> = (0..SET).map(|i| (i * 31 % 251) as u8).collect();
    let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
    let key = memkv_mac::MacKey::derive(&[5; 32]);
    let mut x = 0u8;
    let rounds = 3;
    for sum in ["mac", "crc32c"] {
        let run = |c: &[u8]| -> u8 {
            if sum == "mac" {
                let mut m = memkv_mac::Mac::new(&key);
                m.update(c);
                m.tag()[0]
            } else {
                crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, c) as u8
            }
        };
        let orders = [
            "after write",
            "before write (cold)",
            "touch, then sum, then write",
            "after write, twice (hot)",
        ];
        for order in orders {
            let mut in_sum = Duration::ZERO;
            let mut bytes = 0usize;
            let t0 = Instant::now();
            for _ in 0..rounds {
                for c in &chunks {
                    match order {
                        "after write" => {
                            s.write_all(c).unwrap();
                            let t = Instant::now();
                            x ^= run(c);
                            in_sum += t.elapsed();
                        }
                        "before write (cold)" => {
                            let t = Instant::now();
                            x ^= run(c);
                            in_sum += t.elapsed();
                            s.write_all(c).unwrap();
                        }
                        "touch, then sum, then write" => {
                            let t = Instant::now();
                            x ^= touch(c);
                            x ^= run(c);
                            in_sum += t.elapsed();
                            s.write_all(c).unwrap();
                        }
                        _ => {
                            s.write_all(c).unwrap();
                            x ^= run(c);
                            let t = Instant::now();
                            x ^= run(c);
                            in_sum += t.elapsed();
                        }
                    }
                    bytes += c.len();
                }
            }
            let gib = bytes as f64 / (1u64 << 30) as f64;
            println!(
                "{sum:7} {order:30} sum {:6.2} GiB/s   stream {:5.2} GiB/s",
                gib / in_sum.as_secs_f64(),
                gib / t0.elapsed().as_secs_f64()
            );
        }
    }
    println!("({x})");
}
