//! The threads that serve data-plane connections (`network.threads`).
//!
//! Each thread runs a single-threaded tokio runtime, and a connection stays on the thread it
//! was handed to, as memcached keeps each connection on one of its threads: its reader, its
//! writer and the tasks that answer its deferred requests all run there. Under the
//! work-stealing runtime that served them before, a connection's tasks moved between cores
//! whenever one ran dry, and with 8 clients putting 1 MiB values the server's threads changed
//! cores 725 times in 3 s (memcached's 59); one thread per connection set made those puts
//! 15-30% faster in 10 of 10 alternating rounds on a 2-core guest, gets of 1 MiB with 8 clients
//! 5-8% faster, 4 KiB batch gets even, and one client's 4 MiB gets 5% slower in one A/B (its
//! reader and writer now share a core) and 12% faster in another
//! (`bench/results/2026-12-06-2core-amd-session17`).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The connection threads of one data plane. Dropping this stops them and waits until they
/// have exited (their runtimes dropped, with any task still on them); the data plane drains its
/// connections before, so that wait is short.
#[derive(Debug)]
pub(super) struct ConnThreads {
    threads: Vec<ConnThread>,
    stop: watch::Sender<bool>,
    joins: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct ConnThread {
    runtime: Handle,
    /// Connections being served on this thread.
    connections: Arc<AtomicUsize>,
    /// Of those, the ones reading a request's data now.
    reading: Arc<AtomicUsize>,
}

impl ConnThreads {
    /// Starts `count` threads (at least one).
    pub(super) fn start(count: usize) -> io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::with_capacity(count.max(1));
        let mut joins = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let mut stopped = stopped.clone();
            let join = std::thread::Builder::new()
                .name(format!("memkv-conn-{i}"))
                .spawn(move || {
                    // A current-thread runtime runs its tasks only inside `block_on`.
                    runtime.block_on(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    });
                })?;
            joins.push(join);
            threads.push(ConnThread {
                runtime: handle,
                connections: Arc::default(),
                reading: Arc::default(),
            });
        }
        Ok(ConnThreads {
            threads,
            stop,
            joins,
        })
    }

    /// Serves `stream` on the thread with the fewest connections: `serve` runs there with the
    /// stream registered with that thread's runtime, as a task of `tasks`, and is told how busy
    /// that thread is.
    pub(super) fn spawn<F>(
        &self,
        tasks: &mut JoinSet<()>,
        stream: TcpStream,
        serve: impl FnOnce(TcpStream, ThreadLoad) -> F + Send + 'static,
    ) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let thread = self
            .threads
            .iter()
            .min_by_key(|t| t.connections.load(Ordering::Relaxed))
            .unwrap_or_else(|| unreachable!("at least one thread is started"));
        // A tokio stream belongs to the runtime that registered it: it moves as a std stream
        // (still non-blocking) and is registered again on its thread.
        let stream = stream.into_std()?;
        let connections = Arc::clone(&thread.connections);
        connections.fetch_add(1, Ordering::Relaxed);
        let load = ThreadLoad {
            reading: Arc::clone(&thread.reading),
        };
        tasks.spawn_on(
            async move {
                let _served = Served(connections);
                match TcpStream::from_std(stream) {
                    Ok(stream) => serve(stream, load).await,
                    // `serve` is dropped unrun, with what it owns.
                    Err(e) => tracing::warn!("cannot serve an accepted connection: {e}"),
                }
            },
            &thread.runtime,
        );
        Ok(())
    }
}

impl Drop for ConnThreads {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for join in self.joins.drain(..) {
            if join.join().is_err() {
                tracing::error!("a data-plane connection thread panicked");
            }
        }
    }
}

/// How busy the thread serving a connection is: how many of its connections are reading a
/// request's data.
#[derive(Debug, Clone)]
pub(super) struct ThreadLoad {
    reading: Arc<AtomicUsize>,
}

impl ThreadLoad {
    /// Counts this connection among its thread's readers until the guard drops (the read
    /// ended, or its future was dropped).
    pub(super) fn reading(&self) -> Reading<'_> {
        self.reading.fetch_add(1, Ordering::Relaxed);
        Reading(&self.reading)
    }

    /// Whether no other connection of the thread is reading a request's data (idle ones do not
    /// count), so that this one's reader may be woken as soon as a read piece has arrived
    /// (`memkv_frameio::EAGER_LOW_WATER`): its wake-ups then take no time from other
    /// connections, and its client waits for the answer. Called while counted as reading.
    pub(super) fn alone(&self) -> bool {
        self.reading.load(Ordering::Relaxed) <= 1
    }
}

/// A connection counted among its thread's readers ([`ThreadLoad::reading`]).
pub(super) struct Reading<'a>(&'a AtomicUsize);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection out of its thread when its task ends, however it ends.
struct Served(Arc<AtomicUsize>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections go to the thread with the fewest, each runs on its thread's runtime and
    /// knows whether it has the thread to itself, and a thread that lost its connections takes
    /// the next one.
    #[tokio::test]
    async fn connections_go_to_the_least_busy_thread_and_stay_there() {
        let threads = ConnThreads::start(2).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = JoinSet::new();
        let (names_tx, mut names) = tokio::sync::mpsc::unbounded_channel();
        let (loads_tx, mut loads_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut loads = Vec::new();
        let mut clients = Vec::new();
        let mut releases = Vec::new();
        for want in ["memkv-conn-0", "memkv-conn-1", "memkv-conn-0"] {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (stream, _) = listener.accept().await.unwrap();
            let names_tx = names_tx.clone();
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            releases.push(release);
            let loads_tx = loads_tx.clone();
            threads
                .spawn(&mut tasks, stream, move |stream, load| async move {
                    let name = std::thread::current().name().map(str::to_owned);
                    names_tx.send(name).unwrap();
                    loads_tx.send(load).unwrap();
                    let _ = released.await;
                    drop(stream);
                })
                .unwrap();
            assert_eq!(names.recv().await.unwrap().as_deref(), Some(want));
            loads.push(loads_rx.recv().await.unwrap());
        }
        // Thread 0 serves two connections, thread 1 one: a reader is alone on its thread
        // while no other connection there reads, whatever the connections idle.
        let first = loads[0].reading();
        assert!(loads[0].alone() && loads[2].alone());
        let third = loads[2].reading();
        assert!(!loads[0].alone() && !loads[2].alone());
        let second = loads[1].reading();
        assert!(loads[1].alone(), "another thread's readers do not count");
        drop((first, second));
        assert!(loads[2].alone(), "a read that ended is counted out");
        drop(third);
        let counts: Vec<usize> = threads
            .threads
            .iter()
            .map(|t| t.connections.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [2, 1]);
        // The two connections of thread 0 end: the next one goes there.
        releases.remove(0).send(()).unwrap();
        releases.remove(1).send(()).unwrap();
        tasks.join_next().await.unwrap().unwrap();
        tasks.join_next().await.unwrap().unwrap();

        clients.push(TcpStream::connect(addr).await.unwrap());
        let (stream, _) = listener.accept().await.unwrap();
        let names_tx = names_tx.clone();
        threads
            .spawn(&mut tasks, stream, move |_stream, _load| async move {
                names_tx
                    .send(std::thread::current().name().map(str::to_owned))
                    .unwrap();
            })
            .unwrap();
        assert_eq!(names.recv().await.unwrap().as_deref(), Some("memkv-conn-0"));
        tasks.join_next().await.unwrap().unwrap();
        drop(releases);
        while tasks.join_next().await.is_some() {}
    }

    /// Dropping the threads returns only once every thread has exited: a task still on a
    /// thread's runtime has been dropped with it by then.
    #[tokio::test]
    async fn dropping_the_threads_waits_for_them_to_exit() {
        struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let threads = ConnThreads::start(2).unwrap();
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let guard = SetOnDrop(Arc::clone(&dropped));
        let (started_tx, started) = tokio::sync::oneshot::channel();
        threads.threads[1].runtime.spawn(async move {
            let _guard = guard;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        started.await.unwrap();
        assert!(!dropped.load(Ordering::SeqCst));
        drop(threads);
        assert!(
            dropped.load(Ordering::SeqCst),
            "the thread's runtime, and the task on it, were gone when drop returned"
        );
    }
}
