//! Rendezvous (highest-random-weight) hashing of keys over servers.
//!
//! Every client, in every language, must map a key to the same server, so the function is
//! fixed and documented (`docs/client.md`, "Sharding"):
//!
//! ```text
//! server_key(s) = BLAKE3.derive_key("memkv hrw v1", utf8(s))      s = "host:port" as configured
//! weight(s, k)  = u64_le(BLAKE3.keyed_hash(server_key(s), k)[0..8])
//! server_for(k) = the server with the largest weight; ties go to the smaller identity string
//! ```
//!
//! Adding a server moves only the keys the new server wins (about 1/N of them); removing one
//! moves only its own keys. Server order in the configuration does not matter.

/// Context string of the per-server BLAKE3 key derivation.
pub const HRW_CONTEXT: &str = "memkv hrw v1";

/// The weight of `key` on the server named `server` (`host:port` as configured).
pub fn weight(server: &str, key: &[u8]) -> u64 {
    weight_with(&blake3::derive_key(HRW_CONTEXT, server.as_bytes()), key)
}

fn weight_with(server_key: &[u8; 32], key: &[u8]) -> u64 {
    let h = blake3::keyed_hash(server_key, key);
    let mut w = [0u8; 8];
    w.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(w)
}

/// A set of servers with their derived keys, ready to place keys.
#[derive(Debug, Clone)]
pub struct Rendezvous {
    servers: Vec<(String, [u8; 32])>,
}

impl Rendezvous {
    /// Prepares placement over `servers` (identity strings, `host:port`).
    pub fn new<I, S>(servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Rendezvous {
            servers: servers
                .into_iter()
                .map(|s| {
                    let s = s.as_ref().to_owned();
                    let k = blake3::derive_key(HRW_CONTEXT, s.as_bytes());
                    (s, k)
                })
                .collect(),
        }
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether there are no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Index of the server that owns `key`. Panics if there are no servers (a validated
    /// configuration always has at least one).
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.servers.len() == 1 {
            // The one server wins every key: no weight to compute (a keyed BLAKE3 per key, 7% of
            // a client's instructions on batches of 4 KiB values).
            return 0;
        }
        let mut best = 0;
        let mut best_w = 0u64;
        for (i, (name, k)) in self.servers.iter().enumerate() {
            let w = weight_with(k, key);
            if i == 0 || w > best_w || (w == best_w && *name < self.servers[best].0) {
                best = i;
                best_w = w;
            }
        }
        assert!(!self.servers.is_empty(), "no servers to place keys on");
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("key-{i}").into_bytes()).collect()
    }

    #[test]
    fn spread_over_three_servers_is_within_five_percent() {
        let r = Rendezvous::new(["10.0.0.1:9900", "10.0.0.2:9900", "10.0.0.3:9900"]);
        let mut counts = [0usize; 3];
        for k in keys(30_000) {
            counts[r.server_for(&k)] += 1;
        }
        for c in counts {
            assert!((9_500..=10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_server_moves_about_a_quarter_only_to_it() {
        let three = Rendezvous::new(["10.0.0.1:9900", "10.0.0.2:9900", "10.0.0.3:9900"]);
        let four = Rendezvous::new([
            "10.0.0.1:9900",
            "10.0.0.2:9900",
            "10.0.0.3:9900",
            "10.0.0.4:9900",
        ]);
        let ks = keys(30_000);
        let mut moved = 0;
        for k in &ks {
            let (a, b) = (three.server_for(k), four.server_for(k));
            if a != b {
                assert_eq!(b, 3, "a key moved between old servers");
                moved += 1;
            }
        }
        // A quarter is 7,500; allow ±5% of all keys.
        assert!((6_000..=9_000).contains(&moved), "{moved}");
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let three = Rendezvous::new(["a:1", "b:2", "c:3"]);
        let two = Rendezvous::new(["a:1", "c:3"]);
        for k in keys(10_000) {
            let before = three.server_for(&k);
            let after = two.server_for(&k);
            let after_name = ["a:1", "c:3"][after];
            if before != 1 {
                assert_eq!(["a:1", "b:2", "c:3"][before], after_name);
            }
        }
    }

    #[test]
    fn one_server_owns_every_key() {
        let one = Rendezvous::new(["10.0.0.1:9900"]);
        assert!(keys(1_000).iter().all(|k| one.server_for(k) == 0));
    }

    #[test]
    fn order_of_servers_does_not_matter() {
        let a = Rendezvous::new(["a:1", "b:2", "c:3"]);
        let b = Rendezvous::new(["c:3", "a:1", "b:2"]);
        let names_a = ["a:1", "b:2", "c:3"];
        let names_b = ["c:3", "a:1", "b:2"];
        for k in keys(1_000) {
            assert_eq!(names_a[a.server_for(&k)], names_b[b.server_for(&k)]);
        }
    }

    /// Published in docs/client.md so other language clients can check their implementation
    /// (cross-checked against the Python `blake3` package).
    #[test]
    fn test_vectors() {
        assert_eq!(weight("10.0.0.1:9900", b"hello"), 0x4d0f_64a9_df5c_14ad);
        assert_eq!(weight("10.0.0.2:9900", b"hello"), 0x5172_6108_78fe_bbe3);
        assert_eq!(weight("10.0.0.1:9900", b""), 0xfde4_0e5c_2a61_b485);
    }
}
