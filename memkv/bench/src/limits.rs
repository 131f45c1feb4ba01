//! The machine's own limits, measured with tools outside memkv: memcpy bandwidth, loopback TCP
//! with `iperf3`, and sequential O_DIRECT file I/O with `fio`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::diskstats::{BlockDevice, DeviceLoad};
use crate::servers::{ChildGuard, ServerError, free_port};

/// `iperf3` over loopback.
#[derive(Debug, Clone, Serialize)]
pub struct IperfResult {
    /// Parallel streams (`-P`).
    pub streams: usize,
    /// Received GiB/s.
    pub gib_per_s: f64,
}

/// One `fio` job.
#[derive(Debug, Clone, Serialize)]
pub struct FioResult {
    /// What it ran on: `file` (a file in the work directory, as file mode's data file) or
    /// `loop` (a loop device made like direct mode's drives).
    pub medium: String,
    /// `write` or `read` (sequential).
    pub rw: String,
    /// Queue depth.
    pub iodepth: usize,
    /// Block size in bytes.
    pub block_size: usize,
    /// An `fdatasync` after every this many writes (`0`: none, fio's default). A durable put
    /// waits for one; a write cache in the host or the drive makes writes without one much
    /// faster than writes that reach stable storage.
    pub fdatasync_every: usize,
    /// GiB/s.
    pub gib_per_s: f64,
    /// The harness repeat it was measured in (`None`: once, before the sweep).
    pub repeat: Option<usize>,
    /// The load on the device under the medium meanwhile (see [`crate::diskstats`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceLoad>,
}

const GIB: f64 = (1u64 << 30) as f64;

/// How a fio job's flushes are named in the output: nothing, or ` fdatasync/N`.
pub fn fdatasync_label(every: usize) -> String {
    if every == 0 {
        String::new()
    } else {
        format!(" fdatasync/{every}")
    }
}

/// Copies a `buf_size` buffer into another repeatedly for about `duration`; GiB/s copied.
pub fn memcpy_gib_per_s(buf_size: usize, duration: Duration) -> f64 {
    let src = crate::pattern::generate(1, b"memcpy", buf_size);
    let mut dst = vec![1u8; buf_size];
    // One untimed pass so neither buffer faults in the timed loop.
    dst.copy_from_slice(&src);
    let start = Instant::now();
    let mut copied = 0u64;
    while start.elapsed() < duration {
        dst.copy_from_slice(&src);
        copied += buf_size as u64;
        std::hint::black_box(&mut dst);
    }
    copied as f64 / start.elapsed().as_secs_f64() / GIB
}

/// Runs `iperf3` over loopback with `streams` parallel streams for `secs` seconds.
pub fn iperf3(streams: usize, secs: u64) -> Result<IperfResult, ServerError> {
    let port = free_port()?;
    let child = Command::new("iperf3")
        .args(["-s", "-1", "--forceflush", "-B", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ServerError::spawn("iperf3", e))?;
    let mut server = ChildGuard::new("iperf3", child);
    let stdout = server
        .child
        .stdout
        .take()
        .ok_or_else(|| ServerError::Failed("iperf3: no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("Server listening") => break,
            Some(Ok(_)) => {}
            _ => {
                return Err(ServerError::Failed(
                    "the iperf3 server exited before listening".into(),
                ));
            }
        }
    }
    let out = Command::new("iperf3")
        .args(["-c", "127.0.0.1", "-J", "-p"])
        .arg(port.to_string())
        .arg("-t")
        .arg(secs.to_string())
        .arg("-P")
        .arg(streams.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ServerError::spawn("iperf3", e))?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        ServerError::Failed(format!(
            "iperf3 printed no JSON result ({e}); is it iperf3 3.x?"
        ))
    })?;
    if let Some(err) = doc.get("error").and_then(|e| e.as_str()) {
        return Err(ServerError::Failed(format!("iperf3: {err}")));
    }
    let bps = doc
        .pointer("/end/sum_received/bits_per_second")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| ServerError::Failed("iperf3 result has no end.sum_received".into()))?;
    drop(lines);
    server.wait();
    Ok(IperfResult {
        streams,
        gib_per_s: bps / 8.0 / GIB,
    })
}

/// One sequential O_DIRECT `fio` job: `rw` (`write` or `read`) at `iodepth` with `block_size`
/// blocks, with an `fdatasync` after every `fdatasync_every` writes (`0`: none).
#[derive(Debug, Clone, Copy)]
pub struct FioJob<'a> {
    /// `write` or `read`.
    pub rw: &'a str,
    /// Queue depth.
    pub iodepth: usize,
    /// Block size in bytes.
    pub block_size: usize,
    /// Writes per `fdatasync` (`0`: none).
    pub fdatasync_every: usize,
}

/// Runs `job` on `file` (a file or a block device, named `medium` in the result) for `secs`
/// seconds, over its first `file_size` bytes (a file is laid out to that size first).
pub fn fio(
    medium: &str,
    file: &Path,
    file_size: u64,
    job: FioJob<'_>,
    secs: u64,
) -> Result<FioResult, ServerError> {
    let FioJob {
        rw,
        iodepth,
        block_size,
        fdatasync_every,
    } = job;
    let before = BlockDevice::of(file).and_then(|d| d.snapshot());
    let mut cmd = Command::new("fio");
    if fdatasync_every > 0 {
        cmd.arg(format!("--fdatasync={fdatasync_every}"));
    }
    let out = cmd
        .arg("--name=memkv-bench")
        .arg(format!("--filename={}", file.display()))
        .arg(format!("--size={file_size}"))
        .arg(format!("--bs={block_size}"))
        .arg(format!("--rw={rw}"))
        .arg(format!("--iodepth={iodepth}"))
        .args(["--direct=1", "--ioengine=libaio", "--time_based"])
        .arg(format!("--runtime={secs}"))
        .args(["--output-format=json", "--group_reporting"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ServerError::spawn("fio", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // fio may print notes before the JSON document.
    let json = text.find('{').map_or("", |i| &text[i..]);
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|_| {
        ServerError::Failed(format!(
            "fio failed (exit {}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    })?;
    let job = doc
        .pointer("/jobs/0")
        .ok_or_else(|| ServerError::Failed("fio result has no job".into()))?;
    if let Some(code) = job.get("error").and_then(serde_json::Value::as_i64)
        && code != 0
    {
        return Err(ServerError::Failed(format!(
            "fio job failed with errno {code} (does the filesystem under {} support O_DIRECT?)",
            file.display()
        )));
    }
    let bw = job
        .pointer(&format!("/{rw}/bw_bytes"))
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| ServerError::Failed(format!("fio result has no {rw}.bw_bytes")))?;
    Ok(FioResult {
        medium: medium.to_owned(),
        rw: rw.to_owned(),
        iodepth,
        block_size,
        fdatasync_every,
        gib_per_s: bw / GIB,
        repeat: None,
        device: before.and_then(|b| b.load()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcpy_moves_bytes() {
        assert!(memcpy_gib_per_s(1 << 20, Duration::from_millis(20)) > 0.0);
    }
}
