//! Running the external programs the release uses (cargo, cargo-zigbuild, nfpm, gpg, qemu).
//!
//! Each call site says what it was doing; a failure names the program, its arguments and the
//! tail of its output, and says how to install a missing program. Programs are looked up on
//! `PATH` and then in the release tools venv (`target/release-tools/venv/bin`, where
//! `scripts/install-release-tools` puts the PyPI tools).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// Where `scripts/install-release-tools` creates its Python venv, relative to the repository.
pub(crate) const TOOLS_VENV: &str = "target/release-tools/venv";

/// Finds a program on `PATH` or in the tools venv of `repo`.
pub(crate) fn find(repo: &Path, program: &str) -> Option<PathBuf> {
    let venv_bin = repo.join(TOOLS_VENV).join("bin");
    search_path()
        .into_iter()
        .chain(std::iter::once(venv_bin))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Like [`find`], but a missing program is an error that says how to install it.
pub(crate) fn require(repo: &Path, program: &str) -> Result<PathBuf> {
    find(repo, program).with_context(|| {
        format!(
            "`{program}` is not installed (looked on PATH and in {TOOLS_VENV}/bin); run \
             scripts/install-release-tools, which installs every tool the release uses"
        )
    })
}

/// `PATH` with the tools venv first, for child processes (cargo-zigbuild finds zig through
/// `python3 -m ziglang`, so the venv's python must come first).
pub(crate) fn path_with_venv(repo: &Path) -> Result<OsString> {
    let mut dirs = vec![repo.join(TOOLS_VENV).join("bin")];
    dirs.extend(search_path());
    std::env::join_paths(dirs).context("a PATH entry contains a ':'")
}

fn search_path() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Runs `command` to completion with stdin closed; fails unless it exits 0. Returns its output.
pub(crate) fn run(command: &mut Command, doing: &str) -> Result<Output> {
    command.stdin(Stdio::null());
    let shown = describe(command);
    tracing::debug!("running {shown}");
    let output = command
        .output()
        .with_context(|| format!("{doing}: could not start {shown}"))?;
    if !output.status.success() {
        bail!(
            "{doing}: {shown} failed ({}):\n{}",
            output.status,
            tail(&output)
        );
    }
    Ok(output)
}

/// Runs `command` with its stdout and stderr passed through (long builds show progress).
pub(crate) fn run_inherit(command: &mut Command, doing: &str) -> Result<()> {
    command.stdin(Stdio::null());
    let shown = describe(command);
    tracing::debug!("running {shown}");
    let status = command
        .status()
        .with_context(|| format!("{doing}: could not start {shown}"))?;
    if !status.success() {
        bail!("{doing}: {shown} failed ({status}); its output is above");
    }
    Ok(())
}

/// Runs `command` and returns its trimmed stdout as UTF-8.
pub(crate) fn stdout_of(command: &mut Command, doing: &str) -> Result<String> {
    let output = run(command, doing)?;
    let text = String::from_utf8(output.stdout)
        .with_context(|| format!("{doing}: the output is not UTF-8"))?;
    Ok(text.trim().to_owned())
}

/// The first line a program prints for `args` (its version), or `unknown`.
pub(crate) fn version_line(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|line| !line.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    let args: Vec<String> = command
        .get_args()
        .map(OsStr::to_string_lossy)
        .map(|arg| arg.into_owned())
        .collect();
    format!("`{program} {}`", args.join(" "))
}

fn tail(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    lines[start..].join("\n")
}
