//! A get that waits for a drive does not hold up the requests behind it on its connection: the
//! server lets it finish on its own while it reads on, up to `MAX_DEFERRED_READS` per
//! connection, and then answers the next read before reading further.
//!
//! A drive cannot be made slow on demand, so the store here is the real `MemoryStore` behind a
//! gate (`GatedReads`) that holds every read of a `slow-` key until the test opens it: the one
//! fake, standing in for a drive that has not answered yet. The server, its sockets and the
//! client are the real ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use memkv_client::{AsyncClient, ClientConfig};
use memkv_proto::{AuthKey, Integrity};
use memkv_server::dataplane::MAX_DEFERRED_READS;
use memkv_store::{
    MemoryStore, MemoryStoreConfig, Store, StoreError, StoreStats, Value, ValueMeta,
};
use tokio::sync::watch;

/// Longest any step may take before the test fails instead of hanging: a deferral that does
/// not happen shows as a request that is never answered.
const STUCK: Duration = Duration::from_secs(60);

/// A `MemoryStore` whose reads of `slow-` keys wait until the gate opens.
struct GatedReads {
    inner: MemoryStore,
    open: watch::Receiver<bool>,
    /// Reads of `slow-` keys begun so far.
    begun: watch::Sender<usize>,
    /// Of those, how many are waiting now, and the most that ever waited at once.
    waiting: AtomicUsize,
    most_waiting: AtomicUsize,
}

impl GatedReads {
    async fn gate(&self, key: &[u8]) {
        if !key.starts_with(b"slow-") {
            return;
        }
        let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_waiting.fetch_max(now, Ordering::SeqCst);
        self.begun.send_modify(|n| *n += 1);
        let mut open = self.open.clone();
        open.wait_for(|open| *open)
            .await
            .expect("the test holds the gate");
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Store for GatedReads {
    async fn put(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        self.inner.put(key, value).await
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.gate(key).await;
        self.inner.get(key).await
    }

    async fn get_unchecked(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.gate(key).await;
        self.inner.get_unchecked(key).await
    }

    /// Values and misses of other keys are at hand; `slow-` keys need the gated read.
    fn get_unchecked_at_hand(&self, key: &[u8]) -> Option<Result<Option<Value>, StoreError>> {
        if key.starts_with(b"slow-") {
            return None;
        }
        self.inner.get_unchecked_at_hand(key)
    }

    async fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }

    async fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, StoreError> {
        self.inner.stat(key).await
    }

    async fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, StoreError> {
        self.inner.exists(keys).await
    }

    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
}

mod common;

struct Running {
    served: common::Served,
    client: AsyncClient,
    store: Arc<GatedReads>,
    open: watch::Sender<bool>,
    begun: watch::Receiver<usize>,
}

/// A server on the gated store and a client with one connection to it.
async fn start() -> Running {
    let key = AuthKey::from_hex(&"3c".repeat(32)).unwrap();
    let (open, open_rx) = watch::channel(false);
    let (begun_tx, begun) = watch::channel(0);
    let store = Arc::new(GatedReads {
        inner: MemoryStore::new(MemoryStoreConfig { max_size: 64 << 20 }),
        open: open_rx,
        begun: begun_tx,
        waiting: AtomicUsize::new(0),
        most_waiting: AtomicUsize::new(0),
    });
    let served = common::serve(Arc::clone(&store), &key, Integrity::Checksum, "memory").await;
    let client = AsyncClient::new(
        ClientConfig::new([served.addr.to_string()])
            .with_auth_key(key)
            .with_integrity(Integrity::Checksum)
            .with_num_connections(1),
    )
    .unwrap();
    Running {
        served,
        client,
        store,
        open,
        begun,
    }
}

fn value(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STUCK, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer after {STUCK:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_waiting_for_a_drive_do_not_hold_up_the_requests_behind_them() {
    let mut s = start().await;
    let slow = value(1, 1 << 20);
    let fast = value(2, 4096);
    s.client.put(b"slow-a", &slow).await.unwrap();
    s.client.put(b"slow-b", &value(3, 8192)).await.unwrap();
    s.client.put(b"fast", &fast).await.unwrap();

    // A get and a batch get that wait for the "drive", on the client's one connection.
    let get = tokio::spawn({
        let client = s.client.clone();
        async move { client.get(b"slow-a").await }
    });
    let batch = tokio::spawn({
        let client = s.client.clone();
        // One key at hand, one read through the gate, one absent: answered in order.
        async move { client.batch_get(&[b"fast", b"slow-b", b"absent"]).await }
    });
    within("both reads reach the store", s.begun.wait_for(|n| *n == 2))
        .await
        .unwrap();

    // The connection still serves requests behind them: a get of a value at hand, a put, and
    // a get of what that put stored.
    let got = within("a get behind two waiting reads", s.client.get(b"fast")).await;
    assert_eq!(got.unwrap().as_deref(), Some(&fast[..]));
    within(
        "a put behind two waiting reads",
        s.client.put(b"new", b"stored meanwhile"),
    )
    .await
    .unwrap();
    let got = within("a get of it", s.client.get(b"new")).await;
    assert_eq!(got.unwrap().as_deref(), Some(&b"stored meanwhile"[..]));
    assert!(
        !get.is_finished() && !batch.is_finished(),
        "the gate is closed"
    );
    assert_eq!(
        s.served.metrics.reads_deferred(),
        2,
        "memkv_reads_deferred_total"
    );

    // Once the reads finish, each answer is the right one.
    s.open.send(true).unwrap();
    let got = within("the waiting get", get).await.unwrap().unwrap();
    assert_eq!(got.as_deref(), Some(&slow[..]));
    let got = within("the waiting batch get", batch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        vec![
            Some(Bytes::from(fast)),
            Some(Bytes::from(value(3, 8192))),
            None
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lets_at_most_its_limit_of_reads_wait_and_answers_every_one() {
    let mut s = start().await;
    let n = MAX_DEFERRED_READS + 8;
    for i in 0..n {
        s.client
            .put(format!("slow-{i}").as_bytes(), &value(i as u8, 4096))
            .await
            .unwrap();
    }
    let gets: Vec<_> = (0..n)
        .map(|i| {
            let client = s.client.clone();
            tokio::spawn(async move { client.get(format!("slow-{i}").as_bytes()).await })
        })
        .collect();
    // MAX_DEFERRED_READS reads wait on their own; the next is waited for by the connection's
    // reader, which reads no further request meanwhile.
    within("the deferred reads and one more reach the store", async {
        s.begun.wait_for(|n| *n > MAX_DEFERRED_READS).await.unwrap();
    })
    .await;
    s.open.send(true).unwrap();
    for (i, get) in gets.into_iter().enumerate() {
        let got = within("a get", get).await.unwrap().unwrap();
        assert_eq!(got.as_deref(), Some(&value(i as u8, 4096)[..]), "slow-{i}");
    }
    // Once the gate is open, the reads behind the one the reader waited for finish at once.
    assert_eq!(s.served.metrics.reads_deferred(), MAX_DEFERRED_READS as u64);
    assert_eq!(
        s.store.most_waiting.load(Ordering::SeqCst),
        MAX_DEFERRED_READS + 1,
        "reads waiting at once on one connection: the limit, and the one its reader waits for"
    );
}
