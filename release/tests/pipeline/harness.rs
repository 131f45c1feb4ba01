//! Shared fixtures: the one release every test checks, throwaway keys, running commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The tag of the test release (fixed, so file names are known).
pub(crate) const TAG: &str = "RELEASE.2026-11-25T12-00-00Z";
/// `YYYYMMDDHHMMSS.0.0` of [`TAG`].
pub(crate) const VERSION: &str = "20261125120000.0.0";
/// `SOURCE_DATE_EPOCH` of the test release: the tag's own time.
pub(crate) const EPOCH: &str = "1795608000";

/// The cargo profile of the test releases: `release-test` (root `Cargo.toml`: the release
/// profile without LTO and optimisation, so the binaries build in a fraction of the time), or
/// `MEMKV_RELEASE_TEST_PROFILE` (the release workflow proves the real `release` profile).
pub(crate) fn profile() -> String {
    match std::env::var("MEMKV_RELEASE_TEST_PROFILE") {
        Ok(profile) if !profile.is_empty() => profile,
        _ => "release-test".to_owned(),
    }
}

/// A release built for the tests.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) dist: PathBuf,
    pub(crate) keys: PathBuf,
    pub(crate) arches: Vec<Arch>,
    /// Where the test release's cargo builds live (shared with the reproducibility run).
    pub(crate) target_root: PathBuf,
    /// sha256 over the sources the release was built from (see [`source_fingerprint`]).
    pub(crate) sources: String,
}

/// sha256 over the names and contents of the files git would commit in `checkout`, outside
/// `release/` (the tool itself is not part of the release). Tells a reproducibility failure
/// apart from a tree someone edited while the tests ran.
pub(crate) fn source_fingerprint(checkout: &Path) -> String {
    use sha2::Digest as _;
    let listing =
        stdout(
            cmd("git")
                .arg("-C")
                .arg(checkout)
                .args(["ls-files", "-co", "--exclude-standard"]),
        );
    let mut files: Vec<&str> = listing
        .lines()
        .filter(|f| !f.starts_with("release/"))
        .collect();
    files.sort_unstable();
    let mut hasher = sha2::Sha256::new();
    for file in files {
        if let Ok(bytes) = std::fs::read(checkout.join(file)) {
            hasher.update(file.as_bytes());
            hasher.update([0]);
            hasher.update(&bytes);
        }
    }
    hex::encode(hasher.finalize())
}

/// A release architecture and its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub(crate) fn debian(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    pub(crate) fn machine(self) -> &'static str {
        match self {
            Self::Amd64 => "x86_64",
            Self::Arm64 => "aarch64",
        }
    }

    pub(crate) fn dir(self, release: &Release) -> PathBuf {
        release.dist.join(format!("linux-{}", self.debian()))
    }

    pub(crate) fn is_host(self) -> bool {
        std::env::consts::ARCH == self.machine()
    }
}

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// Scratch space that survives the test process (inspectable after a failure), under the
/// repository's ignored `target/`.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = repo().join("target").join("release-tests").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clearing scratch dir");
    }
    std::fs::create_dir_all(&dir).expect("creating scratch dir");
    dir
}

/// `PATH` with the release tools venv first.
pub(crate) fn path_env() -> std::ffi::OsString {
    let mut dirs = vec![repo().join("target/release-tools/venv/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH")
}

/// A command with the tools venv on `PATH`.
pub(crate) fn cmd(program: &str) -> Command {
    let mut command = Command::new(program);
    command.env("PATH", path_env()).stdin(Stdio::null());
    command
}

/// Runs a command; panics with its output unless it exits 0.
pub(crate) fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a command and returns stdout (trimmed).
pub(crate) fn stdout(command: &mut Command) -> String {
    String::from_utf8_lossy(&run(command).stdout)
        .trim()
        .to_owned()
}

/// Runs a command and returns stdout + stderr, whatever the exit status.
pub(crate) fn output_any(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The architectures of the test release: both (the default, so `cargo test` proves the arm64
/// binaries under qemu too), or only this machine's with `MEMKV_RELEASE_TEST_ARCHES=host`
/// (quicker local runs). Any other value is an error, not a silent fallback.
fn test_arches() -> Vec<Arch> {
    match std::env::var("MEMKV_RELEASE_TEST_ARCHES").as_deref() {
        Err(_) | Ok("" | "all") => vec![Arch::Amd64, Arch::Arm64],
        Ok("host") => {
            let host = [Arch::Amd64, Arch::Arm64]
                .into_iter()
                .find(|a| a.is_host())
                .expect("the host is amd64 or arm64");
            vec![host]
        }
        Ok(other) => panic!("MEMKV_RELEASE_TEST_ARCHES={other:?}: expected `all` or `host`"),
    }
}

/// Runs the release tool with the given keys env file (None: `--unsigned`).
pub(crate) fn run_release(
    tool: &Path,
    checkout: &Path,
    out: &Path,
    target_root: &Path,
    keys_env: Option<&Path>,
    arches: &[Arch],
) {
    let mut command = cmd(tool.to_str().expect("utf-8 path"));
    command
        .current_dir(checkout)
        .args(["release", "--tag", TAG, "--out"])
        .arg(out)
        .arg("--target-dir")
        .arg(target_root)
        .args(["--profile", &profile()])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for var in [
        "MEMKV_MINISIGN_KEY",
        "MEMKV_GPG_KEY",
        "MEMKV_APK_KEY",
        "MEMKV_MINISIGN_KEY_FILE",
        "MEMKV_GPG_KEY_FILE",
        "MEMKV_APK_KEY_FILE",
    ] {
        command.env_remove(var);
    }
    if arches.len() == 1 {
        command.arg("--host-only");
    }
    match keys_env {
        Some(env_file) => {
            let text = std::fs::read_to_string(env_file).expect("keys env file");
            for line in text.lines() {
                let (key, value) = line.split_once('=').expect("KEY=value");
                command.env(key, value);
            }
        }
        None => {
            command.arg("--unsigned");
        }
    }
    let status = command.status().expect("starting memkv-release");
    assert!(status.success(), "memkv-release release failed: {status}");
}

/// The signed test release, built once per test process.
pub(crate) fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let tool = PathBuf::from(env!("CARGO_BIN_EXE_memkv-release"));
        let root = scratch("release");
        let keys = root.join("keys");
        run(cmd(tool.to_str().expect("utf-8"))
            .current_dir(repo())
            .args(["keygen", "--dir"])
            .arg(&keys));
        let out = root.join("dist");
        let target_root = repo().join("target").join("dist");
        let arches = test_arches();
        let sources = source_fingerprint(&repo());
        run_release(
            &tool,
            &repo(),
            &out,
            &target_root,
            Some(&keys.join("env")),
            &arches,
        );
        Release {
            dist: out.join(TAG),
            keys,
            arches,
            target_root,
            sources,
        }
    })
}

/// Every file the release publishes with checksums and signatures.
pub(crate) fn published(release: &Release) -> Vec<PathBuf> {
    let sums = std::fs::read_to_string(release.dist.join("SHA256SUMS")).expect("SHA256SUMS");
    sums.lines()
        .map(|line| release.dist.join(&line[66..]))
        .collect()
}

/// The package file of a format.
pub(crate) fn package(release: &Release, arch: Arch, format: &str) -> PathBuf {
    let name = match format {
        "deb" => format!("memkv_{VERSION}_{}.deb", arch.debian()),
        "rpm" => format!("memkv-{VERSION}-1.{}.rpm", arch.machine()),
        "apk" => format!("memkv_{VERSION}_{}.apk", arch.machine()),
        other => panic!("unknown format {other}"),
    };
    let path = arch.dir(release).join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// The qemu user-mode emulator for aarch64.
pub(crate) fn qemu_aarch64() -> String {
    for name in ["qemu-aarch64-static", "qemu-aarch64"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!("qemu-aarch64 is not installed: run scripts/install-release-tools")
}
