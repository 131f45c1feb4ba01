//! Test harness: running `memkv`, a guard that kills child processes, and a raw HTTP/1.1 GET.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A `memkv` command with a predictable environment (no MEMKV_SERVERS from the caller).
pub(crate) fn memkv() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_memkv"));
    command
        .env_remove("MEMKV_SERVERS")
        .env_remove("MEMKV_CONFIG")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// Runs `memkv args...` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    memkv()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("failed to run memkv {args:?}: {e}"))
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Kills and reaps the child when dropped, so a failing test leaves no process behind.
#[derive(Debug)]
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `memkv doc --address 127.0.0.1:0` in `dir` and returns it with the address it
/// announced on stderr.
pub(crate) fn spawn_doc(dir: &Path) -> (ChildGuard, SocketAddr) {
    let mut child = ChildGuard(
        memkv()
            .args(["doc", "--address", "127.0.0.1:0"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to spawn memkv doc"),
    );
    let stderr = child.0.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let address = loop {
        let line = match lines.next() {
            Some(Ok(line)) => line,
            _ => panic!("memkv doc exited before announcing its address; stderr: {seen:#?}"),
        };
        if let Some(rest) = line.strip_prefix("memkv doc: serving documentation at http://") {
            let address = rest.strip_suffix('/').expect("URL ends with /");
            break address
                .parse::<SocketAddr>()
                .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
        }
        seen.push(line);
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: String,
}

/// `GET path` over a fresh connection with `Connection: close`, read to the end.
pub(crate) fn http_get(address: SocketAddr, path: &str) -> HttpResponse {
    let mut stream = TcpStream::connect(address).expect("connect to the server");
    // A safety net against a hung server, not a synchronization device.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    HttpResponse {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}
