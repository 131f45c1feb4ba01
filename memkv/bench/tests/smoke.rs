//! Smoke tests of the `memkv-bench` binary against a real `memkv start` process: a tiny sweep
//! of every workload completes, checks its bytes, and writes valid JSON and an SVG; reads
//! checked against the wrong pattern seed fail the run; the raw pump runs; `compare` runs its
//! disk targets and cleans up after itself when interrupted. No speed is asserted.
//!
//! The `memkv` binary is taken from `MEMKV_BIN`, or from the same target directory as this
//! test (`cargo test --workspace` builds it; alone: `cargo build -p memkv` first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn bench_bin() -> &'static str {
    env!("CARGO_BIN_EXE_memkv-bench")
}

fn memkv_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MEMKV_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/smoke-<hash> -> target/<profile>/memkv
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    let p = dir.join("memkv");
    assert!(
        p.is_file(),
        "the memkv binary is not built at {}: run `cargo build -p memkv` (or `cargo test --workspace`), or set MEMKV_BIN",
        p.display()
    );
    p
}

/// A running `memkv start` on an ephemeral loopback port.
struct Server {
    child: Child,
    addr: String,
    key_hex: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let key_hex = hex::encode(rand::random::<[u8; 32]>());
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "network:\n  address: 127.0.0.1:0\n  auth_key: \"{key_hex}\"\n  integrity: checksum\nstorage:\n  mode: memory\nmemory:\n  max_size: 256 MiB\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(memkv_bin())
            .arg("start")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn memkv");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("memkv: listening on")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line);
                }
            }
        });
        // A bound, not a synchronisation: the test goes on the moment the line appears.
        let banner = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("memkv reports listening");
        let addr = banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("data="))
            .expect("data= in the start-up line")
            .to_owned();
        Server {
            child,
            addr,
            key_hex,
            _dir: dir,
        }
    }

    fn bench(&self, args: &[&str]) -> Output {
        Command::new(bench_bin())
            .arg("--client-threads")
            .arg("2")
            .arg("run")
            .args(["--servers", &self.addr, "--auth-key", &self.key_hex])
            .args(["--integrity", "checksum"])
            // Small data sets: the server's 256 MiB must hold them without evicting.
            .args(["--max-data", "8M"])
            .args(args)
            .env_remove("MEMKV_SERVERS")
            .output()
            .expect("run memkv-bench")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The loop devices whose backing files are in `dir`, as `losetup` lists them. Only this
/// test's own: the tests of this file run in parallel, and another's loop devices come and go.
fn loops_backed_in(dir: &Path) -> Vec<String> {
    let out = Command::new("losetup")
        .args(["--list", "--noheadings", "--output", "NAME,BACK-FILE"])
        .output()
        .expect("losetup runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The kernel names a backing file by its resolved path.
    let dir = std::fs::canonicalize(dir)
        .expect("the work directory exists")
        .display()
        .to_string();
    text(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|f| f.starts_with(&dir))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_tiny_sweep_of_every_workload_checks_bytes_and_writes_json_and_svg() {
    let server = Server::start();
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("run.json");
    let svg = out_dir.path().join("run.svg");
    let out = server.bench(&[
        "--workloads",
        "put,get,mixed,batch-put,batch-get,exists",
        "--sizes",
        "4K,64K,1M",
        "--tasks",
        "2",
        "--connections",
        "2",
        "--batch",
        "4",
        "--ops",
        "24",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{stderr}",
        out.status
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("GiB/s") && stdout.contains("batch-get"),
        "{stdout}"
    );

    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["tool"], "memkv-bench run");
    assert!(doc["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(!doc["machine"]["kernel"].as_str().unwrap().is_empty());
    assert!(doc["command"].as_str().unwrap().contains("--workloads"));
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 6 * 3);
    for r in results {
        assert_eq!(r["mismatches"], 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert_eq!(r["misses"], 0, "{r}");
        assert_eq!(r["calls"], 24, "{r}");
        assert!(r["latency_us"]["p99"].as_f64().unwrap() > 0.0, "{r}");
    }
    // Reads moved every byte they were asked for: 24 gets of 1 MiB each.
    let get_1m = results
        .iter()
        .find(|r| r["op"] == "get" && r["size"] == 1 << 20)
        .unwrap();
    assert_eq!(get_1m["bytes"], 24u64 << 20);

    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg"), "{}", &plot[..plot.len().min(200)]);
    assert!(plot.contains("batch-get") && plot.contains("GiB/s"));
}

#[test]
fn reads_checked_against_another_seed_fail_the_run() {
    let server = Server::start();
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("wrong.json");
    let out = server.bench(&[
        "--workloads",
        "get,batch-get",
        "--sizes",
        "4K",
        "--tasks",
        "1",
        "--ops",
        "8",
        "--seed",
        "1",
        "--verify-seed",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("differ from the key's pattern"),
        "{}",
        text(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["ok"], false);
    // Every value read is wrong, and every one is counted: also the last call's, which a task
    // checks after its loop (a call's values are checked while the next call is in flight).
    for r in doc["results"].as_array().unwrap() {
        assert!(r["items"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["mismatches"], r["items"], "{r}");
    }

    // The same keys, checked against the seed they were written with, are clean.
    let ok = server.bench(&[
        "--workloads",
        "get",
        "--sizes",
        "4K",
        "--tasks",
        "1",
        "--ops",
        "8",
        "--seed",
        "1",
    ]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
}

#[test]
fn the_pump_moves_verified_messages() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pump.json");
    let out = Command::new(bench_bin())
        .args(["pump", "--sizes", "64K", "--streams", "1,2", "--duration"])
        .arg("100ms")
        .args(["--working-set", "128K", "--send-buffer", "kernel"])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2 * 3);
    for r in results {
        assert!(r["messages"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["failures"], 0, "{r}");
        // Two different 64 KiB messages: one per stream with two streams.
        assert_eq!(r["distinct"], 2, "{r}");
        assert_eq!(r["send_buffer"], "kernel", "{r}");
    }
    let out = Command::new(bench_bin())
        .args(["pump", "--send-buffer", "1 MiB"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("`kernel`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn compare_names_a_missing_memkv_binary_and_how_to_build_it() {
    let out = Command::new(bench_bin())
        .args(["compare", "--repeats", "1", "--sizes", "4K"])
        .args(["--no-peers", "--no-iperf", "--no-fio"])
        .args(["--memkv-bin", "/nonexistent/memkv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/memkv") && stderr.contains("cargo build --release -p memkv"),
        "{stderr}"
    );
}

#[test]
fn version_prints_the_build_tag_like_memkv() {
    // `memkv-bench -V` carries the tag `memkv -V` carries (MEMKV_RELEASE_TAG at build time, or
    // DEVELOPMENT.<commit>), so every packaged binary names its release. The release tests
    // check that a release build prints exactly `memkv-bench RELEASE.<ts>`.
    let out = Command::new(bench_bin())
        .arg("-V")
        .output()
        .expect("run memkv-bench -V");
    assert!(out.status.success());
    let bench = text(&out.stdout);
    let tag = bench
        .trim()
        .strip_prefix("memkv-bench ")
        .unwrap_or_else(|| panic!("unexpected -V output: {bench:?}"));
    assert!(
        tag.starts_with("RELEASE.") || tag.starts_with("DEVELOPMENT."),
        "{bench:?}"
    );
}

/// Runs a one-repeat `memkv-bench compare` in `work` with `args` (no peers, no iperf3), checks
/// that it succeeded, and returns its stdout and its JSON result.
/// Runs a small `compare`; its stdout (the summary), its stderr (progress, in run order) and
/// its JSON result.
fn tiny_compare(work: &std::path::Path, args: &[&str]) -> (String, String, serde_json::Value) {
    let json = work.join("compare.json");
    let out = Command::new(bench_bin())
        .args(["compare", "--repeats", "1", "--pump-duration", "100ms"])
        .args(["--no-peers", "--no-iperf"])
        .args(args)
        .arg("--memkv-bin")
        .arg(memkv_bin())
        .arg("--work-dir")
        .arg(work)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{}",
        out.status,
        text(&out.stderr)
    );
    let doc = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (stdout, text(&out.stderr), doc)
}

#[test]
fn compare_runs_memkv_puts_with_two_in_flight_over_one_connection() {
    // With one-client cells in the sweep, memkv's puts also run with two tasks over a client of
    // one connection, against the same one-stream pumps; gets do not, nor do the peers.
    let work = tempfile::tempdir().unwrap();
    let args = "--sizes 64K --concurrency 1 --duration 200ms --storage memory --modes checksum";
    let args: Vec<&str> = args.split(' ').chain(["--no-fio"]).collect();
    let (stdout, _progress, doc) = tiny_compare(work.path(), &args);
    assert!(stdout.contains("put 64K x2 on 1 conn"), "{stdout}");
    let runs = doc["runs"].as_array().unwrap();
    let shared: Vec<&serde_json::Value> = runs
        .iter()
        .map(|r| &r["result"])
        .filter(|r| r["connections"] == 1)
        .collect();
    assert_eq!(shared.len(), 1, "{shared:?}");
    let put = shared[0];
    assert_eq!(put["op"], "put", "{put}");
    assert_eq!(put["tasks"], 2, "{put}");
    assert_eq!(put["target"], "memkv-checksum", "{put}");
    assert!(put["calls"].as_u64().unwrap() > 0, "{put}");
    assert_eq!(put["errors"], 0, "{put}");
    // The client behind those cells opened one connection, and kept it.
    assert_eq!(
        doc["pipelined_connections"],
        serde_json::json!([["memkv-checksum", 1]])
    );
    // Its ratio is taken against the one-stream pump, as the one-client cells' are.
    let row = doc["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cell"]["connections"] == 1)
        .unwrap();
    assert!(row["pumps"]["pump-raw"].as_f64().unwrap() > 0.0, "{row}");
    let one_stream: Vec<f64> = doc["pumps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["result"]["streams"] == 1 && p["result"]["check"] == "raw")
        .filter(|p| p["cached"] == false && p["result"]["acked"] == false)
        .map(|p| p["result"]["gib_per_s"].as_f64().unwrap())
        .collect();
    assert_eq!(one_stream, [row["pumps"]["pump-raw"].as_f64().unwrap()]);
    assert_eq!(doc["ok"], true, "{stdout}");
}

#[test]
fn compare_runs_a_cold_cache_file_server_and_names_its_target() {
    // `--storage file-cold`: a file-mode server with the smallest read cache, so gets read the
    // data file. A tiny run (no peers, iperf3 or fio) checks that the engine starts, serves
    // checked bytes and gets its own column and its storage target line.
    let work = tempfile::tempdir().unwrap();
    let (stdout, _progress, doc) = tiny_compare(
        work.path(),
        &[
            "--sizes",
            "64K",
            "--concurrency",
            "2",
            "--duration",
            "200ms",
            "--storage",
            "file-cold",
            "--modes",
            "checksum",
            "--file-size",
            "256 MiB",
            "--block-size",
            "4 MiB",
            "--no-fio",
        ],
    );
    assert!(stdout.contains("file-cold-checksum"), "{stdout}");
    // The limits move as many distinct messages as the cell has keys (64 MiB of 64 KiB
    // values); the cached raw pump re-sends one per stream (two streams for two clients).
    let pumps = doc["pumps"].as_array().unwrap();
    let distinct = |cached: bool| -> Vec<u64> {
        pumps
            .iter()
            .filter(|p| p["cached"] == cached)
            .map(|p| p["result"]["distinct"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(distinct(true), [2], "{pumps:?}");
    assert_eq!(distinct(false), [1024; 3], "{pumps:?}");
    assert!(
        stdout.contains("file-cold checksum get 4M cold x2 vs fio read QD32"),
        "{stdout}"
    );
    assert_eq!(doc["ok"], true, "{stdout}");
}

#[test]
fn compare_runs_direct_mode_on_loop_devices_with_fio_on_the_same_kind_of_device() {
    // `--storage direct,direct-cold`: each server gets a loop device over a preallocated file,
    // formatted by `memkv setup`; fio measures a loop device made the same way. A tiny run
    // checks that both servers serve checked bytes, that fio ran on both media, that the
    // direct targets are evaluated against the loop device's fio figures, and that every loop
    // device is detached afterwards.
    if !memkv_bench::servers::is_root() {
        println!("skipped: direct mode needs root to attach loop devices");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (stdout, progress, doc) = tiny_compare(
        work.path(),
        &[
            "--sizes",
            "4M",
            "--concurrency",
            "2",
            "--batch-sizes",
            "64K",
            "--batch",
            "4",
            "--batch-tasks",
            "2",
            "--duration",
            "300ms",
            "--fio-duration",
            "1s",
            "--storage",
            "direct,direct-cold",
            "--modes",
            "checksum",
            "--file-size",
            "256 MiB",
            "--block-size",
            "8 MiB",
        ],
    );
    assert!(stdout.contains("direct-cold-checksum"), "{stdout}");
    for medium in ["file", "loop"] {
        for job in [
            "write 4M QD1",
            "write 4M QD32",
            "write 4M QD32 fdatasync/8",
            "read 4M QD1",
            "read 4M QD32",
        ] {
            assert!(stdout.contains(&format!("fio {medium} {job}")), "{stdout}");
        }
    }
    assert_eq!(doc["ok"], true, "{stdout}");
    // fio's jobs take turns with the servers in the cells they are the limit of: the writes
    // among the 4 MiB put cells, the reads among the get cells.
    let line_of = |op: &str| {
        progress.lines().position(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() > 2 && words[0].starts_with("memkv-") && words[1] == op && words[2] == "4M"
        })
    };
    let first_put = line_of("put").expect("a 4 MiB put cell");
    let first_get = line_of("get").expect("a 4 MiB get cell");
    for (n, line) in progress.lines().enumerate() {
        if line.contains("fio loop write") || line.contains("fio file write") {
            assert!(first_put < n && n < first_get, "{progress}");
        } else if line.contains("fio loop read") || line.contains("fio file read") {
            assert!(first_get < n, "{progress}");
        }
    }
    // With a disk engine and 4 MiB values, fio runs in the repeat, next to the cells it is the
    // limit of: 2 media x (write, read) x (QD1, QD32), and a flushing write at QD32.
    let fio = doc["limits"]["fio"].as_array().unwrap();
    assert_eq!(fio.len(), 10, "{fio:?}");
    assert!(fio.iter().all(|f| f["repeat"] == 0), "{fio:?}");
    let flushing: Vec<_> = fio.iter().filter(|f| f["fdatasync_every"] == 8).collect();
    assert_eq!(flushing.len(), 2, "{fio:?}");
    assert!(
        flushing
            .iter()
            .all(|f| f["rw"] == "write" && f["iodepth"] == 32)
    );
    // Each direct server's cells and each fio job on the loop device carry the load of their
    // loop device: the puts' writes reached the device, and so did the cold server's reads
    // (its 1 MiB cache cannot hold a 4 MiB value).
    let loads = |pick: &dyn Fn(&serde_json::Value) -> bool, array: &serde_json::Value| {
        array
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| pick(r))
            .map(|r| r["device"].clone())
            .collect::<Vec<_>>()
    };
    let direct_cell = |target: &'static str, op: &'static str| {
        move |r: &serde_json::Value| {
            r["result"]["target"] == target
                && r["result"]["op"] == op
                && r["result"]["size"] == 4 << 20
        }
    };
    for (target, op, counter) in [
        ("memkv-direct-checksum", "put", "writes"),
        ("memkv-direct-cold-checksum", "put", "writes"),
        ("memkv-direct-cold-checksum", "get", "reads"),
    ] {
        let cells = loads(&direct_cell(target, op), &doc["runs"]);
        assert!(!cells.is_empty(), "no {target} {op} 4M cell");
        for device in cells {
            assert!(
                device["device"].as_str().unwrap().starts_with("loop"),
                "{target} {op}: {device}"
            );
            assert!(
                device[counter].as_u64().unwrap() > 0,
                "{target} {op}: {device}"
            );
        }
    }
    for f in fio.iter().filter(|f| f["medium"] == "loop") {
        let counter = if f["rw"] == "read" { "reads" } else { "writes" };
        assert!(f["device"][counter].as_u64().unwrap() > 0, "{f}");
    }
    // fio's file is measured on its filesystem's device from its first job on (laid out by
    // that job, it did not exist before), or on none where that filesystem has no block
    // device (overlay, tmpfs): never on some jobs and not others.
    let file_jobs: Vec<bool> = fio
        .iter()
        .filter(|f| f["medium"] == "file")
        .map(|f| f.get("device").is_some())
        .collect();
    assert!(
        file_jobs.iter().all(|&m| m == file_jobs[0]),
        "{file_jobs:?}"
    );
    assert!(
        stdout.contains("drive load (medians)")
            && stdout
                .lines()
                .any(|l| l.starts_with("memkv-direct-checksum put 4M x2 ") && l.contains(" loop")),
        "{stdout}"
    );
    let goals = doc["goals"].as_array().unwrap();
    for (target, reference) in [
        ("memkv-direct-checksum", "fio-loop-write-qd32"),
        ("memkv-direct-checksum", "fio-loop-write-qd32-fdatasync8"),
        ("memkv-direct-cold-checksum", "fio-loop-read-qd32"),
    ] {
        let g = goals
            .iter()
            .find(|g| g["goal"]["target"] == target && g["goal"]["reference"] == reference)
            .unwrap_or_else(|| panic!("no goal for {target} against {reference}: {stdout}"));
        assert!(g["measured"].as_f64().unwrap() > 0.0, "{g}");
    }
    // Every loop device the run attached is gone, and so are their backing files.
    assert_eq!(loops_backed_in(work.path()), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "img"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_interrupted_compare_stops_its_servers_and_removes_their_drives() {
    // SIGTERM (as Ctrl-C) in the middle of a run: the harness stops the servers it started
    // and removes their drives and loop devices, instead of leaving them behind.
    let work = tempfile::tempdir().unwrap();
    let storage = if memkv_bench::servers::is_root() {
        "file,direct"
    } else {
        println!("direct mode left out: attaching loop devices needs root");
        "file"
    };
    let mut child = Command::new(bench_bin())
        .args(["compare", "--repeats", "50", "--no-peers", "--no-iperf"])
        .args(["--no-fio", "--sizes", "4M", "--concurrency", "2"])
        .args(["--duration", "1s", "--pump-duration", "100ms"])
        .args(["--file-size", "256 MiB", "--block-size", "8 MiB"])
        .args(["--storage", storage, "--modes", "checksum"])
        .arg("--memkv-bin")
        .arg(memkv_bin())
        .arg("--work-dir")
        .arg(work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Every server is up once the first cell reports.
    let mut addrs = Vec::new();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix("started ") {
            addrs.push(rest.rsplit(' ').next().unwrap().to_owned());
        }
        if line.trim_start().starts_with("memkv-") && line.contains("GiB/s") {
            break;
        }
    }
    assert_eq!(addrs.len(), storage.split(',').count(), "{seen:#?}");
    if storage.contains("direct") {
        assert_eq!(
            loops_backed_in(work.path()).len(),
            1,
            "the direct server's loop device"
        );
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:#?}");
    assert!(
        rest.iter().any(|l| l.starts_with("interrupted")),
        "{rest:#?}"
    );
    for addr in &addrs {
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "a server still listens on {addr}"
        );
    }
    // The data files and loop devices' backing files are gone (the configs stay).
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert!(
        left.iter()
            .all(|p| p.extension().is_none_or(|x| x != "img" && x != "data")),
        "{left:?}"
    );
    assert!(
        left.iter()
            .any(|p| p.extension().is_some_and(|x| x == "yaml")),
        "the check above looked in the wrong place: {left:?}"
    );
    assert_eq!(loops_backed_in(work.path()), Vec::<String>::new());
}
