//! The std engine: `pread`/`pwrite`/`fdatasync` on a small pool of worker threads.
//!
//! No unsafe here: std's `FileExt::read_at`/`write_at` are `pread`/`pwrite`, and the worker
//! owns the buffer for the whole call. Each worker runs one operation at a time, so the
//! number of workers bounds the operations in flight.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::error::EngineError;
use crate::metrics::Metrics;
use crate::request::{Op, Request};

/// The most worker threads one std engine starts, whatever the queue depth.
pub(crate) const MAX_WORKERS: u32 = 16;

pub(crate) struct StdEngine {
    tx: Option<mpsc::Sender<Request>>,
    workers: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl StdEngine {
    pub(crate) fn start(queue_depth: u32, metrics: Arc<Metrics>) -> Result<StdEngine, EngineError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let rx = Arc::new(Mutex::new(rx));
        let mut engine = StdEngine {
            tx: Some(tx),
            workers: Vec::new(),
            metrics: Arc::clone(&metrics),
        };
        for i in 0..queue_depth.min(MAX_WORKERS) {
            let rx = Arc::clone(&rx);
            let metrics = Arc::clone(&metrics);
            let worker = std::thread::Builder::new()
                .name(format!("memkv-io-std-{i}"))
                .spawn(move || worker(&rx, &metrics))
                .map_err(|source| EngineError::Spawn { source })?;
            engine.workers.push(worker);
        }
        Ok(engine)
    }

    pub(crate) fn submit(&self, requests: Vec<Request>) {
        let tx = self.tx.as_ref().expect("the sender lives until drop");
        for request in requests {
            if let Err(mpsc::SendError(request)) = tx.send(request) {
                // Every worker is gone (they only exit early by panicking).
                request.engine_stopped(&self.metrics);
            }
        }
    }
}

impl Drop for StdEngine {
    fn drop(&mut self) {
        // Workers finish every queued request, then see the channel closed and exit.
        drop(self.tx.take());
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                tracing::error!(
                    "an I/O worker thread panicked; the panic message was logged above"
                );
            }
        }
    }
}

fn worker(rx: &Mutex<mpsc::Receiver<Request>>, metrics: &Metrics) {
    loop {
        let next = rx.lock().recv();
        let Ok(mut request) = next else { return };
        metrics.start_in_flight();
        let result = execute(&mut request);
        metrics.end_in_flight();
        request.complete(result, metrics);
    }
}

fn execute(request: &mut Request) -> io::Result<u64> {
    let file = request.dev.file();
    let n = match &mut request.op {
        Op::Read { buf, offset } => retry(|| file.read_at(buf.as_mut_slice(), *offset))?,
        Op::Write { buf, offset } => retry(|| file.write_at(buf.as_slice(), *offset))?,
        Op::WriteShared { data, offset } => retry(|| file.write_at(data, *offset))?,
        Op::Fdatasync => retry(|| file.sync_data().map(|()| 0))?,
        Op::Discard { offset, len } => {
            retry(|| request.dev.discard_blocking(*offset, *len).map(|()| 0))?
        }
    };
    Ok(n as u64)
}

fn retry(mut call: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
