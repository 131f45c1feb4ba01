//! Handler behaviour that a client cannot observe on demand: when a batch put on a disk store
//! is answered, and what it answers when the drive fails under it (a drive failure injected
//! through `memkv-store`'s fault hook: a real drive cannot be made to fail on demand).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use bytes::Bytes;
use memkv_ioengine::FaultPlan;
use memkv_proto::msg::{self, Message};
use memkv_proto::{AuthKey, Integrity, Limits, Status, crc32c};
use memkv_store::{DiskMode, DiskStore, DiskStoreConfig, SyncPolicy};

use super::{Checked, Data, Reply, Response, batch_put};
use crate::dataplane::{DataPlaneSettings, Shared, landing_for, recv_pool};
use crate::metrics::Metrics;
use crate::run::{OP_NAMES, STATUS_NAMES};

const MIB: u64 = 1 << 20;

async fn disk_shared(dir: &std::path::Path) -> Shared<DiskStore> {
    let store = DiskStore::open(DiskStoreConfig {
        mode: DiskMode::File,
        drives: vec![dir.join("drive0.dat")],
        extent_size: MIB,
        file_size: 16 * MIB,
        sync: SyncPolicy::Always,
        queue_depth: 32,
        cache_size: MIB,
        trim_files: false,
        discard_idle: memkv_store::DEFAULT_DISCARD_IDLE,
        engine: None,
    })
    .await
    .expect("open a disk store on a data file");
    let recv_pool = recv_pool(landing_for(&store));
    Shared {
        store: Arc::new(store),
        settings: DataPlaneSettings {
            auth_key: AuthKey::from_bytes([7; 32]),
            integrity: Integrity::Checksum,
            limits: Limits::default(),
            max_clock_skew: Duration::from_secs(5),
            max_connections: 4,
            idle_timeout: None,
            max_inflight_bytes: 64 * MIB,
            send_buffer: memkv_frameio::SendBuffer::Auto,
            handshake_timeout: Duration::from_secs(5),
            threads: 1,
            release: "test".into(),
            storage_mode: "file".into(),
        },
        metrics: Arc::new(Metrics::new(&OP_NAMES, &STATUS_NAMES)),
        server_id: [0; 16],
        active: AtomicUsize::new(0),
        recv_pool,
    }
}

/// A batch put of `n` values of 3000 bytes: its control section and its values.
fn batch(n: usize) -> (Vec<u8>, Vec<Bytes>, u32) {
    let keys: Vec<String> = (0..n).map(|i| format!("batch-key-{i}")).collect();
    let values: Vec<Bytes> = (0..n).map(|i| Bytes::from(vec![i as u8; 3000])).collect();
    let items = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| msg::BatchPutItem {
            key: k.as_bytes(),
            len: v.len() as u32,
            crc: crc32c(v),
        })
        .collect();
    let frame_crc = crc32c(&values.concat());
    (msg::BatchPutReq { items }.encode(), values, frame_crc)
}

/// The item statuses of a batch put's response, once it is given.
async fn statuses(reply: Reply) -> Vec<u16> {
    let response = match reply {
        Reply::Now(_) => panic!("a batch put on a disk store is answered only once durable"),
        Reply::Later(response) => response.await,
        Reply::Read(_) => panic!("a batch put is not a read"),
    };
    assert_eq!(response.status, Status::Ok);
    msg::decode::<msg::StatusList>(&response.ctrl)
        .expect("a status list")
        .statuses
}

/// A batch put of `n` values, handled as the reader hands over a `checksum`-mode frame: its
/// CRC32C, no digests.
async fn put_batch(shared: &Shared<DiskStore>, n: usize) -> Result<Reply, Response> {
    let (ctrl, values, crc) = batch(n);
    let checked = Checked {
        data_crc: None,
        sent_crc: crc,
        digests: None,
    };
    batch_put(&ctrl, Data::Values(values), Some(crc), &checked, shared).await
}

#[tokio::test]
async fn a_disk_batch_put_is_answered_once_durable_and_reports_a_failed_sync_per_item() {
    let dir = tempfile::tempdir().unwrap();
    let shared = disk_shared(dir.path()).await;

    let reply = put_batch(&shared, 16)
        .await
        .unwrap_or_else(|r| panic!("batch put refused: {r:?}"));
    assert_eq!(statuses(reply).await, vec![Status::Ok.code(); 16]);

    // The drive fails after the values are staged: every item reports it.
    shared.store.inject_faults(0, FaultPlan::DEAD);
    let reply = put_batch(&shared, 4).await;
    let statuses = match reply {
        Ok(reply) => statuses(reply).await,
        Err(r) => panic!("batch put refused: {r:?}"),
    };
    assert_eq!(statuses, vec![Status::ServerError.code(); 4]);
    shared.store.inject_faults(0, FaultPlan::NONE);
}

/// A memory store's received values stream past the cache; a disk store's, written to a drive
/// next, land with the socket's copy (`landing_for`).
#[tokio::test]
async fn a_memory_store_streams_received_values_and_a_disk_store_does_not() {
    let memory = memkv_store::MemoryStore::new(memkv_store::MemoryStoreConfig { max_size: MIB });
    assert_eq!(landing_for(&memory), memkv_frameio::Landing::Streamed);
    assert_eq!(
        recv_pool(landing_for(&memory)).landing(),
        memkv_frameio::Landing::Streamed
    );
    let dir = tempfile::tempdir().unwrap();
    let shared = disk_shared(dir.path()).await;
    assert_eq!(shared.recv_pool.landing(), memkv_frameio::Landing::Cached);
    // The engine the server picks at run time answers for the one it holds.
    let any = memkv_store::AnyStore::Memory(memory);
    assert_eq!(landing_for(&any), memkv_frameio::Landing::Streamed);
}
