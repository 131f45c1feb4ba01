//! Client-side counters, shared by every connection of a client, and their public snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters (relaxed atomics: they are statistics, not synchronization).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) checksum_failures: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) connections_failed: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) unreachable_misses: AtomicU64,
    pub(crate) chunked_puts: AtomicU64,
    pub(crate) chunked_gets: AtomicU64,
    pub(crate) abandoned_replies: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            checksum_failures: get(&self.checksum_failures),
            connections_opened: get(&self.connections_opened),
            connect_failures: get(&self.connect_failures),
            connections_failed: get(&self.connections_failed),
            timeouts: get(&self.timeouts),
            unreachable_misses: get(&self.unreachable_misses),
            chunked_puts: get(&self.chunked_puts),
            chunked_gets: get(&self.chunked_gets),
            abandoned_replies: get(&self.abandoned_replies),
        }
    }
}

/// A snapshot of a client's counters since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClientStats {
    /// Values received whose bytes did not match their CRC32C; each was reported as a miss.
    pub checksum_failures: u64,
    /// Connections opened and authenticated.
    pub connections_opened: u64,
    /// Connection attempts that failed (resolve, connect, handshake or timeout).
    pub connect_failures: u64,
    /// Established connections marked unhealthy (I/O error, peer closed, interrupted write,
    /// timeout).
    pub connections_failed: u64,
    /// Requests that ran past `op_timeout`.
    pub timeouts: u64,
    /// Lookups answered as misses because their server was unreachable (`unreachable: miss`).
    pub unreachable_misses: u64,
    /// Values uploaded in chunks because they exceed the server's frame limit.
    pub chunked_puts: u64,
    /// Values downloaded in chunks because they exceed the server's frame limit.
    pub chunked_gets: u64,
    /// Replies that arrived after their request was given up (timed out or cancelled) and
    /// were read past; the connection stayed in use.
    pub abandoned_replies: u64,
}
