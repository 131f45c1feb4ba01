//! Starting a released `memkv` server and doing a put/get round trip against it with the
//! released client (`memkv kv put/get`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{cmd, run, stdout};

/// A running server, stopped (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding an ephemeral port")
}

/// A config file for a loopback server on `port` (no auth key needed on loopback).
pub(crate) fn loopback_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!("network:\n  address: 127.0.0.1:{port}\nstorage:\n  mode: memory\n"),
    )
    .expect("writing config");
    path
}

/// Starts `command` (which runs `memkv start ...`) and waits for its start-up line.
pub(crate) fn start(mut command: Command) -> Server {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let stderr = child.stderr.take().expect("stderr piped");
    let mut seen = Vec::new();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let ready = line.contains("memkv: listening on");
                seen.push(line);
                if ready {
                    break;
                }
            }
            _ => {
                let status = child.wait();
                panic!(
                    "{command:?} exited before listening ({status:?}); stderr:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child }
}

/// `memkv kv put` then `memkv kv get` of a fresh key through `client`, against `servers`.
pub(crate) fn put_get(client: &Path, servers: &str, auth_key: Option<&str>) {
    put_get_with(cmd(client.to_str().expect("utf-8")), servers, auth_key);
}

/// Like [`put_get`], with the client command given (e.g. under qemu).
pub(crate) fn put_get_with(base: Command, servers: &str, auth_key: Option<&str>) {
    let value = format!("released-{}", std::process::id());
    let key = format!("release-test-{}", free_port());
    let with_env = |mut command: Command| {
        command.env("MEMKV_SERVERS", servers);
        match auth_key {
            Some(key) => command.env("MEMKV_AUTH_KEY", key),
            None => command.env_remove("MEMKV_AUTH_KEY"),
        };
        command.env_remove("MEMKV_CONFIG");
        command
    };
    let rebuild = |base: &Command| {
        let mut command = Command::new(base.get_program());
        command.args(base.get_args());
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => command.env(k, v),
                None => command.env_remove(k),
            };
        }
        command
    };
    let mut put = with_env(rebuild(&base));
    put.args(["kv", "put", &key, &value]);
    run(&mut put);
    let mut get = with_env(rebuild(&base));
    get.args(["kv", "get", &key]);
    assert_eq!(stdout(&mut get), value, "kv get returned something else");
}
