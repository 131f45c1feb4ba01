//! Starting and stopping the stores a harness run measures: `memkv start` (address read from
//! its start-up line), `redis-server` and `memcached` (on free loopback ports, persistence off),
//! and reading their resident memory. Every process is killed when its guard drops.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use memkv_client::Integrity;

use crate::diskstats::BlockDevice;
use crate::drives::{LoopDevice, write_zeros};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of a server's output kept for error messages.
const LOG_LINES: usize = 40;

/// The recent output lines of a process, shared with the threads that drain its pipes.
type Log = Arc<Mutex<VecDeque<String>>>;

/// The script that installs the harness's tools.
pub const INSTALL_SCRIPT: &str = "bench/install-deps";

/// A failure to find, start or drive an external program.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A tool is not installed.
    #[error(
        "`{0}` is not installed: run `{INSTALL_SCRIPT}` (as root) to install the harness's tools"
    )]
    Missing(String),
    /// A program could not be spawned.
    #[error("could not run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// A program ran but failed.
    #[error("{0}")]
    Failed(String),
}

impl ServerError {
    pub(crate) fn spawn(program: &str, source: io::Error) -> ServerError {
        if source.kind() == io::ErrorKind::NotFound {
            ServerError::Missing(program.to_owned())
        } else {
            ServerError::Spawn {
                program: program.to_owned(),
                source,
            }
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> Self {
        ServerError::Failed(e.to_string())
    }
}

/// A child process that is killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    name: String,
    pub(crate) child: Child,
    done: bool,
}

impl ChildGuard {
    pub(crate) fn new(name: &str, child: Child) -> ChildGuard {
        ChildGuard {
            name: name.to_owned(),
            child,
            done: false,
        }
    }

    /// Waits for the process to exit by itself.
    pub(crate) fn wait(&mut self) {
        let _ = self.child.wait();
        self.done = true;
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.child.kill() {
                tracing::debug!("stopping {}: {e}", self.name);
            }
            let _ = self.child.wait();
        }
    }
}

/// Finds `program` on `PATH` (and in the sbin directories Debian puts daemons in).
pub fn find_tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Checks that every program in `tools` is installed.
pub fn require_tools(tools: &[&str]) -> Result<(), ServerError> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ServerError::Missing(missing.join("`, `")))
    }
}

/// A free loopback TCP port (bound and released; the caller binds it next).
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A store process the harness started.
#[derive(Debug)]
pub struct ServerProc {
    /// Label in results (`memkv-mac`, `redis`, ...).
    pub label: String,
    /// `host:port` of its data plane.
    pub addr: String,
    /// The auth key (memkv only), hex.
    pub key_hex: Option<String>,
    guard: ChildGuard,
    log: Log,
    /// The drive to remove once the server is stopped (file and direct modes).
    drive: Option<Drive>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Some(drive) = self.drive.take() {
            // Stop the server before its drive goes.
            let _ = self.guard.child.kill();
            let _ = self.guard.child.wait();
            drop(drive);
        }
    }
}

impl ServerProc {
    /// Process id.
    pub fn pid(&self) -> u32 {
        self.guard.child.id()
    }

    /// The block device under the server's drive (its loop device in direct mode, the device
    /// of the data file's filesystem in file mode); `None` in memory mode, for peers, and where
    /// the device has no statistics.
    pub fn block_device(&self) -> Option<BlockDevice> {
        match self.drive.as_ref()? {
            Drive::File(path) => BlockDevice::of(path),
            Drive::Loop { device } => BlockDevice::of(device.device()),
        }
    }

    /// Resident memory of the process, from `/proc/<pid>/status`.
    pub fn rss_bytes(&self) -> io::Result<u64> {
        rss_bytes(self.pid())
    }

    /// The last lines the process printed.
    pub fn recent_output(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// `VmRSS` of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

/// Spawns `cmd` with its stdout and stderr drained into a ring of recent lines. `on_line`
/// sees each line (used to catch a start-up line).
fn spawn_logged(
    label: &str,
    mut cmd: Command,
    on_line: impl Fn(&str) + Send + Sync + 'static,
) -> Result<(ChildGuard, Log), ServerError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| ServerError::spawn(&program, e))?;
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let on_line = Arc::new(on_line);
    let pipes: Vec<Box<dyn io::Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for pipe in pipes {
        let log = Arc::clone(&log);
        let on_line = Arc::clone(&on_line);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                on_line(&line);
                let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                if l.len() == LOG_LINES {
                    l.pop_front();
                }
                l.push_back(line);
            }
        });
    }
    Ok((ChildGuard::new(label, child), log))
}

/// The storage engine a harness memkv runs with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemkvStorage {
    /// `storage.mode: memory`.
    Memory,
    /// `storage.mode: file` or `direct` on one fresh drive in the work directory, written in
    /// full and formatted with `memkv setup`: a data file (file), or a loop device over one
    /// (direct).
    Disk {
        /// Which engine.
        engine: DiskEngine,
        /// The drive's size in bytes.
        size: u64,
        /// `storage.block_size` in bytes (a value must be a little smaller than one extent
        /// to stay in one).
        block_size: u64,
        /// Run with a read cache of [`COLD_CACHE`] instead of `memory.max_size`, so that gets
        /// read the drive (both engines open it with O_DIRECT: no page cache either).
        cold: bool,
    },
}

/// The engine of a [`MemkvStorage::Disk`] server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskEngine {
    /// `storage.mode: file`: a data file on the work directory's filesystem.
    File,
    /// `storage.mode: direct`: a raw block device (here a loop device).
    Direct,
}

/// `memory.max_size` of a cold-cache server: the smallest the server accepts.
pub const COLD_CACHE: &str = "1 MiB";

impl MemkvStorage {
    /// `memory`, `file`, `file-cold`, `direct` or `direct-cold`.
    pub fn name(&self) -> &'static str {
        match self {
            MemkvStorage::Memory => "memory",
            MemkvStorage::Disk { engine, cold, .. } => match (engine, cold) {
                (DiskEngine::File, false) => "file",
                (DiskEngine::File, true) => "file-cold",
                (DiskEngine::Direct, false) => "direct",
                (DiskEngine::Direct, true) => "direct-cold",
            },
        }
    }

    /// Parses a `--storage` name; drives get `size` bytes and extents of `block_size`.
    pub fn parse(name: &str, size: u64, block_size: u64) -> Option<MemkvStorage> {
        let (engine, cold) = match name {
            "memory" => return Some(MemkvStorage::Memory),
            "file" => (DiskEngine::File, false),
            "file-cold" => (DiskEngine::File, true),
            "direct" => (DiskEngine::Direct, false),
            "direct-cold" => (DiskEngine::Direct, true),
            _ => return None,
        };
        Some(MemkvStorage::Disk {
            engine,
            size,
            block_size,
            cold,
        })
    }

    /// The tools starting this engine needs, beyond `memkv`.
    pub fn tools(&self) -> &'static [&'static str] {
        match self {
            MemkvStorage::Memory => &[],
            MemkvStorage::Disk {
                engine: DiskEngine::File,
                ..
            } => &["dd"],
            MemkvStorage::Disk {
                engine: DiskEngine::Direct,
                ..
            } => &crate::drives::LOOP_TOOLS,
        }
    }
}

/// The drive under a disk-mode server, removed when dropped (its server stopped first), also
/// when the server failed to start.
#[derive(Debug)]
enum Drive {
    /// A data file (file mode).
    File(PathBuf),
    /// A loop device and its backing file (direct mode), detached and removed when the guard
    /// drops.
    Loop {
        /// Detached on drop.
        device: LoopDevice,
    },
}

impl Drop for Drive {
    fn drop(&mut self) {
        if let Drive::File(f) = self
            && let Err(e) = std::fs::remove_file(&*f)
        {
            tracing::debug!("removing {}: {e}", f.display());
        }
    }
}

/// Starts `memkv start` with `storage` and `integrity`, on an ephemeral loopback port, and
/// waits for its start-up line. `max_size` is `memory.max_size` (the read cache in file mode).
pub fn start_memkv(
    bin: &Path,
    work_dir: &Path,
    integrity: Integrity,
    max_size: &str,
    storage: &MemkvStorage,
) -> Result<ServerProc, ServerError> {
    let key_hex = hex::encode(rand::random::<[u8; 32]>());
    std::fs::create_dir_all(work_dir)?;
    let name = format!("{}-{}", storage.name(), integrity.name());
    let config = work_dir.join(format!("memkv-{name}.yaml"));
    let mut drive = None;
    let storage_yaml = match storage {
        MemkvStorage::Memory => "storage:\n  mode: memory\n".to_owned(),
        MemkvStorage::Disk {
            engine: DiskEngine::File,
            size,
            block_size,
            ..
        } => {
            let data = work_dir.join(format!("memkv-{name}.data"));
            // A fresh data file per run, written in full like fio's and formatted by `memkv
            // setup` (a server left to create it would preallocate it instead).
            drive = Some(Drive::File(data.clone()));
            write_zeros(&data, *size)?;
            format_drive(bin, &data, *block_size)?;
            let yaml = format!(
                "storage:\n  mode: file\n  block_size: {block_size}\n  drives:\n    - media: {}\n      size: {size}\n",
                data.display()
            );
            yaml
        }
        MemkvStorage::Disk {
            engine: DiskEngine::Direct,
            size,
            block_size,
            ..
        } => {
            let dev = LoopDevice::attach(&work_dir.join(format!("memkv-{name}.img")), *size)?;
            format_drive(bin, dev.device(), *block_size)?;
            let yaml = format!(
                "storage:\n  mode: direct\n  block_size: {block_size}\n  drives:\n    - media: {}\n",
                dev.device().display()
            );
            drive = Some(Drive::Loop { device: dev });
            yaml
        }
    };
    std::fs::write(
        &config,
        format!(
            "network:\n  address: 127.0.0.1:0\n  auth_key: \"{key_hex}\"\n  integrity: {}\n{storage_yaml}memory:\n  max_size: {}\n",
            integrity.name(),
            match storage {
                MemkvStorage::Disk { cold: true, .. } => COLD_CACHE,
                _ => max_size,
            }
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("start").arg("--config").arg(&config);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    let (tx, rx) = mpsc::channel::<String>();
    let tx = Mutex::new(Some(tx));
    let label = match storage {
        MemkvStorage::Memory => format!("memkv-{}", integrity.name()),
        MemkvStorage::Disk { .. } => format!("memkv-{}-{}", storage.name(), integrity.name()),
    };
    let (mut guard, log) = spawn_logged(&label, cmd, move |line| {
        if line.starts_with("memkv: listening on")
            && let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(line.to_owned());
            }
    })
    .map_err(|e| match e {
        ServerError::Missing(_) => ServerError::Failed(format!(
            "the memkv binary `{}` was not found: build it with `cargo build --release -p memkv` or pass --memkv-bin",
            bin.display()
        )),
        e => e,
    })?;
    let banner = match rx.recv_timeout(START_TIMEOUT) {
        Ok(l) => l,
        Err(_) => {
            let status = guard.child.try_wait().ok().flatten();
            let out = log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ServerError::Failed(format!(
                "memkv did not report listening (exit {status:?}); its output:\n{out}"
            )));
        }
    };
    let addr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("data="))
        .ok_or_else(|| ServerError::Failed(format!("no data= address in `{banner}`")))?
        .to_owned();
    Ok(ServerProc {
        label,
        addr,
        key_hex: Some(key_hex),
        guard,
        log,
        drive,
    })
}

/// Formats `device` (a block device or a data file) as a one-drive memkv set with extents of `block_size` bytes, with `memkv
/// setup`: the command an operator runs.
fn format_drive(bin: &Path, device: &Path, block_size: u64) -> Result<(), ServerError> {
    let out = Command::new(bin)
        .arg("setup")
        .arg("--drives")
        .arg(device)
        .arg("--shard-size")
        .arg((block_size / 1024).to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ServerError::spawn(&bin.display().to_string(), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ServerError::Failed(format!(
            "`memkv setup --drives {}` failed ({}): {}",
            device.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Waits until `addr` accepts connections, or the process exits, or the start timeout passes.
fn wait_listening(
    guard: &mut ChildGuard,
    log: &Mutex<VecDeque<String>>,
    name: &str,
    addr: &str,
) -> Result<(), ServerError> {
    let start = Instant::now();
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        let exited = guard.child.try_wait().ok().flatten();
        if exited.is_some() || start.elapsed() > START_TIMEOUT {
            let out = log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ServerError::Failed(format!(
                "{name} did not start listening on {addr} (exit {exited:?}); its output:\n{out}"
            )));
        }
        // Polling an observable fact (the port accepts) with a bound; daemons print nothing
        // reliable when they are ready.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `redis-server` with persistence off and `io_threads` I/O threads.
pub fn start_redis(io_threads: usize) -> Result<ServerProc, ServerError> {
    let port = free_port()?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .args(["--daemonize", "no", "--databases", "1"])
        .arg("--io-threads")
        .arg(io_threads.max(1).to_string())
        .args(["--io-threads-do-reads", "yes", "--loglevel", "warning"]);
    let (mut guard, log) = spawn_logged("redis", cmd, |_| {})?;
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&mut guard, &log, "redis-server", &addr)?;
    Ok(ServerProc {
        label: "redis".into(),
        addr,
        key_hex: None,
        guard,
        log,
        drive: None,
    })
}

/// Starts `memcached` with `threads` worker threads, items up to 32 MiB and `mem_mib` of
/// memory.
pub fn start_memcached(threads: usize, mem_mib: u64) -> Result<ServerProc, ServerError> {
    let port = free_port()?;
    let mut cmd = Command::new("memcached");
    cmd.args(["-l", "127.0.0.1", "-U", "0", "-p"])
        .arg(port.to_string())
        .arg("-t")
        .arg(threads.max(1).to_string())
        .args(["-I", "32m", "-c", "4096", "-m"])
        .arg(mem_mib.to_string());
    // memcached refuses to run as root without -u.
    if std::env::var("USER").as_deref() == Ok("root") || is_root() {
        cmd.args(["-u", "root"]);
    }
    let (mut guard, log) = spawn_logged("memcached", cmd, |_| {})?;
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&mut guard, &log, "memcached", &addr)?;
    Ok(ServerProc {
        label: "memcached".into(),
        addr,
        key_hex: None,
        guard,
        log,
        drive: None,
    })
}

/// Whether this process runs as root (real uid 0), from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The `memkv` binary to start: `explicit` if given, else the one next to this executable,
/// else `memkv` on `PATH`.
pub fn locate_memkv(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_owned();
    }
    if let Some(sibling) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("memkv")))
        .filter(|p| p.is_file())
    {
        return sibling;
    }
    find_tool("memkv").unwrap_or_else(|| PathBuf::from("memkv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_the_install_script() {
        let e = require_tools(&["sh", "memkv-bench-no-such-tool"]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`memkv-bench-no-such-tool`"), "{msg}");
        assert!(!msg.contains("`sh`"), "{msg}");
        assert!(msg.contains(INSTALL_SCRIPT), "{msg}");
        assert!(require_tools(&["sh"]).is_ok());
    }

    #[test]
    fn rss_of_this_process_is_read() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
