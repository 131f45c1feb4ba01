//! Compiling the release binaries with cargo-zigbuild.
//!
//! Three builds:
//! - glibc: every binary and cdylib for `<arch>-unknown-linux-gnu.<floor>`, so no symbol newer
//!   than the declaration's glibc floor is linked (zig provides the old glibc stubs);
//! - musl: the binaries, static (`crt-static`, the default), for the .apk and the image;
//! - musl cdylibs: with `-crt-static`, so Alpine can load them (only when cdylibs exist), in
//!   their own target directory because their flags differ.
//!
//! glibc and musl share one target directory, so build scripts and proc macros are compiled
//! once; while no cdylib exists they are one cargo invocation (one job queue for both).
//!
//! Every build uses the cargo profile of [`BuildRequest::profile`] (`release` for real
//! releases; the tests use the cheap `release-test`), sets `MEMKV_RELEASE_TAG` (stamped into
//! `memkv -V`), strips symbols and remaps the cargo-home and target paths, so two builds from
//! different checkouts are identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::external;
use crate::manifest::{Plan, Source};
use crate::platform::{Arch, Flavor};
use crate::tag::ReleaseTag;

/// What to build.
#[derive(Debug)]
pub(crate) struct BuildRequest<'a> {
    pub(crate) repo: &'a Path,
    pub(crate) tag: &'a ReleaseTag,
    pub(crate) source_date_epoch: i64,
    pub(crate) arches: &'a [Arch],
    pub(crate) plan: &'a Plan,
    pub(crate) glibc_floor: &'a str,
    /// Parent of the per-build target directories.
    pub(crate) target_root: &'a Path,
    /// The cargo profile (`release`, or a profile of the workspace `Cargo.toml`).
    pub(crate) profile: &'a str,
}

/// The built files, by flavour, architecture and declared source.
#[derive(Debug, Default)]
pub(crate) struct Built {
    pub(crate) files: BTreeMap<(Flavor, Arch, Source), PathBuf>,
}

impl Built {
    pub(crate) fn get(&self, flavor: Flavor, arch: Arch, source: &Source) -> Result<&Path> {
        self.files
            .get(&(flavor, arch, source.clone()))
            .map(PathBuf::as_path)
            .with_context(|| format!("no {} {arch} build of {source}", flavor.name()))
    }
}

/// Runs the builds and returns where the artifacts are.
pub(crate) fn build(request: &BuildRequest<'_>) -> Result<Built> {
    let plan = request.plan;
    let mut built = Built::default();
    let all_packages: Vec<&String> = plan
        .bin_packages
        .iter()
        .chain(&plan.cdylib_packages)
        .collect();
    let bin_packages: Vec<&String> = plan.bin_packages.iter().collect();

    let shared_dir = request.target_root.join("build");
    let glibc_targets: Vec<String> = request
        .arches
        .iter()
        .map(|arch| format!("{}.{}", arch.triple(Flavor::Glibc), request.glibc_floor))
        .collect();
    let musl_targets: Vec<String> = request
        .arches
        .iter()
        .map(|arch| arch.triple(Flavor::Musl))
        .collect();
    if plan.cdylib_packages.is_empty() {
        // Same packages for both flavours: one invocation, so cargo schedules all of it at once.
        let targets: Vec<String> = glibc_targets.iter().chain(&musl_targets).cloned().collect();
        zigbuild(
            request,
            &shared_dir,
            &bin_packages,
            &targets,
            &[],
            "glibc and musl",
        )?;
    } else {
        zigbuild(
            request,
            &shared_dir,
            &all_packages,
            &glibc_targets,
            &[],
            "glibc",
        )?;
        zigbuild(
            request,
            &shared_dir,
            &bin_packages,
            &musl_targets,
            &["--bins"],
            "musl",
        )?;
    }
    collect(request, &shared_dir, Flavor::Glibc, true, true, &mut built)?;
    collect(request, &shared_dir, Flavor::Musl, true, false, &mut built)?;

    if !plan.cdylib_packages.is_empty() {
        let dylib_dir = request.target_root.join("musl-dylib");
        let cdylib_packages: Vec<&String> = plan.cdylib_packages.iter().collect();
        zigbuild(
            request,
            &dylib_dir,
            &cdylib_packages,
            &musl_targets,
            &["--lib"],
            "musl cdylib",
        )?;
        collect(request, &dylib_dir, Flavor::Musl, false, true, &mut built)?;
    }
    Ok(built)
}

/// The directory cargo writes a profile's output to (`dev` → `debug`).
pub(crate) fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// `CARGO_PROFILE_<NAME>_` for overriding a profile's settings from the environment.
fn profile_env_prefix(profile: &str) -> String {
    format!(
        "CARGO_PROFILE_{}_",
        profile.to_ascii_uppercase().replace('-', "_")
    )
}

fn zigbuild(
    request: &BuildRequest<'_>,
    target_dir: &Path,
    packages: &[&String],
    targets: &[String],
    extra: &[&str],
    what: &str,
) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let repo = request.repo;
    let zigbuild = external::require(repo, "cargo-zigbuild")?;
    let mut command = Command::new(zigbuild);
    command
        .current_dir(repo)
        .args([
            "zigbuild",
            "--profile",
            request.profile,
            "--locked",
            "--target-dir",
        ])
        .arg(target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    for target in targets {
        command.args(["--target", target]);
    }
    command.args(extra);
    let mut rustflags = remap_flags(request.target_root)?;
    if what == "musl cdylib" {
        rustflags.push("-Ctarget-feature=-crt-static".to_owned());
    }
    let profile_env = profile_env_prefix(request.profile);
    command
        .env("PATH", external::path_with_venv(repo)?)
        .env("MEMKV_RELEASE_TAG", request.tag.to_string())
        .env("SOURCE_DATE_EPOCH", request.source_date_epoch.to_string())
        .env(format!("{profile_env}DEBUG"), "false")
        .env(format!("{profile_env}STRIP"), "symbols")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
        // jemalloc (the server's allocator) takes the page size from its build machine, and a
        // cross build cannot ask the target: arm64 kernels run with 4, 16 or 64 KiB pages, and
        // a jemalloc built for smaller pages than the kernel's refuses to start. 64 KiB works
        // on all three.
        .env("AARCH64_UNKNOWN_LINUX_GNU_JEMALLOC_SYS_WITH_LG_PAGE", "16")
        .env("AARCH64_UNKNOWN_LINUX_MUSL_JEMALLOC_SYS_WITH_LG_PAGE", "16")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    tracing::info!(
        "building {what} for {} with profile {} (packages: {})",
        targets.join(", "),
        request.profile,
        packages
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    external::run_inherit(
        &mut command,
        &format!("building the {what} release binaries"),
    )
}

/// `--remap-path-prefix` flags that keep machine-specific paths out of the binaries: cargo home
/// (registry sources in panic locations) and the target directory (generated code included
/// from `OUT_DIR`). Workspace sources need none: cargo names them relative to the workspace
/// root, so a checkout in another directory builds the same bytes, and the flags stay the same
/// there (no rebuild of the dependencies).
fn remap_flags(target_root: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(target_root)
        .with_context(|| format!("creating {}", target_root.display()))?;
    let target_root = target_root
        .canonicalize()
        .with_context(|| format!("resolving {}", target_root.display()))?;
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
    };
    Ok(vec![
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
        format!("--remap-path-prefix={}=/target", target_root.display()),
    ])
}

fn collect(
    request: &BuildRequest<'_>,
    target_dir: &Path,
    flavor: Flavor,
    bins: bool,
    cdylibs: bool,
    built: &mut Built,
) -> Result<()> {
    for &arch in request.arches {
        let out = target_dir
            .join(arch.triple(flavor))
            .join(profile_dir(request.profile));
        let mut wanted: Vec<(Source, PathBuf)> = Vec::new();
        if bins {
            wanted.extend(
                request
                    .plan
                    .bins()
                    .map(|name| (Source::Bin(name.to_owned()), out.join(name))),
            );
        }
        if cdylibs {
            wanted.extend(request.plan.cdylibs().map(|name| {
                (
                    Source::Cdylib(name.to_owned()),
                    out.join(format!("lib{name}.so")),
                )
            }));
        }
        for (source, path) in wanted {
            if !path.is_file() {
                anyhow::bail!(
                    "the {} {arch} build finished but {} is missing",
                    flavor.name(),
                    path.display()
                );
            }
            built.files.insert((flavor, arch, source), path);
        }
    }
    Ok(())
}
