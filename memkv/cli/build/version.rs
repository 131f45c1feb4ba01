//! Build-time version stamping for `memkv -V` / `--version`.
//!
//! Emits three compile-time environment variables for the crate:
//! - `MEMKV_BUILD_TAG`: `MEMKV_RELEASE_TAG` when it is set (and well formed:
//!   `RELEASE.YYYY-MM-DDTHH-MM-SSZ`), otherwise `DEVELOPMENT.<git short commit>` with `-dirty`
//!   appended when git reports uncommitted changes, or `DEVELOPMENT.unknown` without git;
//! - `MEMKV_BUILD_COMMIT`: the full git commit (or `unknown`);
//! - `MEMKV_BUILD_RUSTC`: the output of `rustc -V` for the compiler building the crate.

use std::path::Path;
use std::process::Command;

use crate::release_tag::validate_release_tag;

const RELEASE_TAG_ENV: &str = "MEMKV_RELEASE_TAG";

pub(crate) fn emit(manifest_dir: &Path) -> Result<(), String> {
    println!("cargo:rerun-if-env-changed={RELEASE_TAG_ENV}");
    let git = GitInfo::probe(manifest_dir);

    let release_tag = std::env::var(RELEASE_TAG_ENV).unwrap_or_default();
    let tag = if release_tag.is_empty() {
        let commit = git.short_commit.as_deref().unwrap_or("unknown");
        let dirty = if git.dirty { "-dirty" } else { "" };
        format!("DEVELOPMENT.{commit}{dirty}")
    } else {
        validate_release_tag(&release_tag).map_err(|why| {
            format!(
                "{RELEASE_TAG_ENV}={release_tag:?} is not a release tag: {why}. Expected \
                 RELEASE.YYYY-MM-DDTHH-MM-SSZ (UTC), e.g. RELEASE.2026-06-07T15-11-42Z; unset \
                 {RELEASE_TAG_ENV} for a development build"
            )
        })?;
        release_tag
    };

    println!("cargo:rustc-env=MEMKV_BUILD_TAG={tag}");
    println!(
        "cargo:rustc-env=MEMKV_BUILD_COMMIT={}",
        git.commit.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rustc-env=MEMKV_BUILD_RUSTC={}", rustc_version());
    Ok(())
}

/// What git says about the checkout the crate is built from; every field is optional because
/// the build must work from a source tarball or on a machine without git.
struct GitInfo {
    commit: Option<String>,
    short_commit: Option<String>,
    dirty: bool,
}

impl GitInfo {
    fn probe(dir: &Path) -> Self {
        let commit = git(dir, &["rev-parse", "HEAD"]);
        let short_commit = git(dir, &["rev-parse", "--short=12", "HEAD"]);
        let dirty = commit.is_some()
            && git(dir, &["status", "--porcelain"]).is_some_and(|out| !out.is_empty());
        if let Some(git_dir) = git(dir, &["rev-parse", "--absolute-git-dir"]) {
            // Re-stamp when HEAD moves, a branch ref is updated or the index changes. Only
            // watch files that exist: cargo reruns the script every build for missing ones.
            let git_dir = Path::new(&git_dir);
            let mut watched = vec![git_dir.join("HEAD"), git_dir.join("index")];
            watched.push(git_dir.join("packed-refs"));
            if let Some(head_ref) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
                watched.push(git_dir.join(head_ref));
            }
            for path in watched.iter().filter(|path| path.is_file()) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        Self {
            commit,
            short_commit,
            dirty,
        }
    }
}

/// Runs git in `dir`; `None` when git is missing, fails, or prints non-UTF-8.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    // `--no-optional-locks`: never rewrite the index (which would retrigger this script).
    let output = Command::new("git")
        .arg("--no-optional-locks")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()
        .map(|out| out.trim().to_owned())
}

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|out| out.trim().to_owned())
        .filter(|out| !out.is_empty())
        .unwrap_or_else(|| "rustc unknown".to_owned())
}
