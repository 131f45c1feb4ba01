//! The connections to one server: lazy creation up to `num_connections`, least-loaded choice,
//! replacement of unhealthy connections, and the backoff that keeps a down server from being
//! re-dialed on every call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{ServerAddr, ValidatedConfig};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::stats::Counters;

/// First backoff after a failed connection attempt.
pub(crate) const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest backoff.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Failure history of one server.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last: Option<ClientError>,
}

impl Backoff {
    fn delay(failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(16);
        BACKOFF_START.saturating_mul(1 << shift).min(BACKOFF_MAX)
    }
}

/// The connection pool of one server.
#[derive(Debug)]
pub(crate) struct ServerPool {
    addr: ServerAddr,
    config: Arc<ValidatedConfig>,
    counters: Arc<Counters>,
    conns: parking_lot::Mutex<PoolConns>,
    /// Serializes dialing, so that a burst of callers opens connections one by one.
    dial: tokio::sync::Mutex<()>,
    backoff: parking_lot::Mutex<Backoff>,
}

#[derive(Debug, Default)]
struct PoolConns {
    live: Vec<Arc<Conn>>,
    /// Unhealthy connections removed and not yet replaced.
    dropped: usize,
}

impl ServerPool {
    pub(crate) fn new(
        addr: ServerAddr,
        config: Arc<ValidatedConfig>,
        counters: Arc<Counters>,
    ) -> Self {
        ServerPool {
            addr,
            config,
            counters,
            conns: parking_lot::Mutex::new(PoolConns::default()),
            dial: tokio::sync::Mutex::new(()),
            backoff: parking_lot::Mutex::new(Backoff::default()),
        }
    }

    /// The server's identity (`host:port` as configured).
    pub(crate) fn id(&self) -> &str {
        &self.addr.id
    }

    /// The least-loaded healthy connection. With `any` false, `None` when that connection is
    /// busy and the pool may still grow.
    fn pick(&self, any: bool) -> Option<Arc<Conn>> {
        let mut conns = self.conns.lock();
        let before = conns.live.len();
        conns.live.retain(|c| c.is_healthy());
        conns.dropped += before - conns.live.len();
        let best = conns.live.iter().min_by_key(|c| c.inflight())?;
        if any || best.inflight() == 0 || conns.live.len() >= self.config.num_connections() {
            Some(Arc::clone(best))
        } else {
            None
        }
    }

    /// The error to fail fast with while the server is in backoff.
    fn in_backoff(&self) -> Option<ClientError> {
        let b = self.backoff.lock();
        let retry_at = b.retry_at?;
        let now = Instant::now();
        if now >= retry_at {
            return None;
        }
        Some(match &b.last {
            Some(e @ (ClientError::Auth { .. } | ClientError::Protocol { .. })) => e.clone(),
            last => ClientError::Unreachable {
                server: self.addr.id.clone(),
                retry_in: retry_at - now,
                cause: last
                    .as_ref()
                    .map_or_else(|| "connection failed".to_owned(), ToString::to_string),
            },
        })
    }

    fn record_failure(&self, e: &ClientError) {
        let mut b = self.backoff.lock();
        b.failures = b.failures.saturating_add(1);
        let delay = Backoff::delay(b.failures);
        b.retry_at = Some(Instant::now() + delay);
        b.last = Some(e.clone());
        if b.failures == 1 {
            tracing::warn!(server = %self.addr.id, retry_in = ?delay, "memkv server unavailable: {e}");
        } else {
            tracing::debug!(server = %self.addr.id, retry_in = ?delay, "memkv server still unavailable: {e}");
        }
    }

    fn record_success(&self) {
        let mut b = self.backoff.lock();
        if b.failures > 0 {
            tracing::info!(server = %self.addr.id, "memkv server reachable again");
        }
        *b = Backoff::default();
    }

    fn add(&self, conn: &Arc<Conn>) {
        let mut conns = self.conns.lock();
        conns.live.push(Arc::clone(conn));
        if conns.dropped > 0 {
            conns.dropped -= 1;
            tracing::debug!(server = %self.addr.id, "Replaced unhealthy connection");
        }
    }

    async fn open(&self) -> Result<Arc<Conn>, ClientError> {
        match Conn::connect(&self.addr, &self.config, &self.counters).await {
            Ok(c) => {
                self.record_success();
                self.add(&c);
                Ok(c)
            }
            Err(e) => {
                self.record_failure(&e);
                Err(e)
            }
        }
    }

    /// A connection for one request: the least-loaded healthy one, or a new one while the pool
    /// is below `num_connections` and every existing one is busy. Fails fast while the server
    /// is in backoff and no connection is left.
    pub(crate) async fn conn(&self) -> Result<Arc<Conn>, ClientError> {
        if let Some(c) = self.pick(false) {
            return Ok(c);
        }
        let have_any = !self.conns.lock().live.is_empty();
        if have_any {
            // Busy connections exist: open another only if nobody else is dialing right now.
            let Ok(_dialing) = self.dial.try_lock() else {
                return self.pick(true).map_or_else(|| self.fail_fast(), Ok);
            };
            if self.in_backoff().is_some() {
                return self.pick(true).map_or_else(|| self.fail_fast(), Ok);
            }
            return match self.open().await {
                Ok(c) => Ok(c),
                Err(e) => self.pick(true).ok_or(e),
            };
        }
        if let Some(e) = self.in_backoff() {
            return Err(e);
        }
        let _dialing = self.dial.lock().await;
        // Someone else may have connected (or failed) while this caller waited.
        if let Some(c) = self.pick(true) {
            return Ok(c);
        }
        if let Some(e) = self.in_backoff() {
            return Err(e);
        }
        self.open().await
    }

    fn fail_fast(&self) -> Result<Arc<Conn>, ClientError> {
        Err(self
            .in_backoff()
            .unwrap_or_else(|| ClientError::Unreachable {
                server: self.addr.id.clone(),
                retry_in: Duration::ZERO,
                cause: "no healthy connection".to_owned(),
            }))
    }

    /// Opens connections until the pool holds `num_connections` healthy ones.
    pub(crate) async fn warmup(&self) -> Result<(), ClientError> {
        let _dialing = self.dial.lock().await;
        loop {
            {
                let mut conns = self.conns.lock();
                let before = conns.live.len();
                conns.live.retain(|c| c.is_healthy());
                conns.dropped += before - conns.live.len();
                if conns.live.len() >= self.config.num_connections() {
                    return Ok(());
                }
            }
            self.open().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty_seconds() {
        let delays: Vec<u64> = (1..=8).map(|f| Backoff::delay(f).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(Backoff::delay(u32::MAX), BACKOFF_MAX);
    }
}
