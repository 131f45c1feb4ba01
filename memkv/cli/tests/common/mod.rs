//! Test harness shared by the integration tests: starts the real `memkv` binary on ephemeral
//! loopback ports, learns its addresses from the start-up line, and stops it on drop.
#![allow(dead_code, unreachable_pub)]

pub mod raw;
pub mod storage;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Path of the binary under test.
pub fn memkv_bin() -> &'static str {
    env!("CARGO_BIN_EXE_memkv")
}

/// A fresh random auth key, hex encoded.
pub fn random_key_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// How long a test waits for the server to report that it is listening. A bound, not a
/// synchronisation: the test proceeds the moment the line appears.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server process.
pub struct Server {
    child: Child,
    /// Data-plane address.
    pub data: SocketAddr,
    /// Admin API address.
    pub admin: SocketAddr,
    /// The auth key, hex encoded.
    pub key_hex: String,
    /// The start-up line.
    pub banner: String,
    stderr: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
    _dir: tempfile::TempDir,
    /// Path of the config file used.
    pub config_path: PathBuf,
}

/// Server settings used by tests unless overridden.
pub struct ServerOptions {
    /// Extra YAML lines under `network:` (indented by the caller with two spaces).
    pub network_extra: String,
    /// `memory.max_size`.
    pub max_size: String,
    /// Integrity mode.
    pub integrity: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            network_extra: String::new(),
            max_size: "256 MiB".into(),
            integrity: "mac".into(),
        }
    }
}

impl Server {
    /// Starts a server with default test options.
    pub fn start() -> Server {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with `opts`.
    pub fn start_with(opts: ServerOptions) -> Server {
        let key_hex = random_key_hex();
        let yaml = format!(
            "network:\n  address: 127.0.0.1:0\n  auth_key: \"{key_hex}\"\n  integrity: {}\n{}\nmemory:\n  max_size: {}\nstorage:\n  mode: memory\n",
            opts.integrity, opts.network_extra, opts.max_size
        );
        Self::start_yaml(&yaml, key_hex)
    }

    /// Starts a server from a complete config text.
    pub fn start_yaml(yaml: &str, key_hex: String) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, yaml).unwrap();
        let mut cmd = Command::new(memkv_bin());
        cmd.arg("start")
            .arg("--config")
            .arg(&config_path)
            .env_remove("MEMKV_AUTH_KEY")
            .env_remove("MEMKV_AUTH_KEY_FILE");
        Self::spawn(cmd, key_hex, dir, config_path)
    }

    /// Spawns `cmd` (a `memkv start ...`) and waits for its start-up line.
    pub fn spawn(
        mut cmd: Command,
        key_hex: String,
        dir: tempfile::TempDir,
        config_path: PathBuf,
    ) -> Server {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd.spawn().expect("spawn memkv");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
                if line.starts_with("memkv: listening on")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line.clone());
                }
            }
        });
        let banner = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "memkv did not report listening (exit {status:?}); stderr:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        let field = |name: &str| -> SocketAddr {
            let start = banner.find(&format!("{name}=")).expect("field in banner") + name.len() + 1;
            let rest = &banner[start..];
            let rest = rest
                .strip_prefix("http://")
                .or(rest.strip_prefix("https://"))
                .unwrap_or(rest);
            rest.split_whitespace()
                .next()
                .unwrap()
                .parse()
                .expect("address in banner")
        };
        Server {
            data: field("data"),
            admin: field("admin"),
            key_hex,
            banner,
            stderr: log,
            exited: None,
            child,
            _dir: dir,
            config_path,
        }
    }

    /// The auth key.
    pub fn key(&self) -> memkv_proto::AuthKey {
        memkv_proto::AuthKey::from_hex(&self.key_hex).unwrap()
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        let s = self.child.wait().unwrap();
        self.exited = Some(s);
        s
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.wait();
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Resident memory of the server process in bytes (from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    /// `GET path` on the admin API over plain HTTP: (status code, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path)
    }

    /// The value of one sample in `/v1/metrics` (name with labels, exactly as exposed), or 0.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.admin_get("/v1/metrics");
        body.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A minimal HTTP/1.0 GET: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to admin API");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}
