//! `release`: the one command that turns the workspace into `dist/RELEASE.<ts>/`.
//!
//! Steps: plan (declaration + workspace) → compile (glibc, musl) → check every ELF and run
//! every binary's `-V` → copy downloads → packages (nfpm) → OCI image → checksums and
//! signatures → release notes → `BUILDINFO.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::compile::{self, BuildRequest, Built};
use crate::elf;
use crate::external;
use crate::generated;
use crate::keys::{self, SigningKeys};
use crate::manifest::{self, Manifest, Source};
use crate::notes;
use crate::oci;
use crate::packages::{self, Depends, PackageJob, PackageKeys};
use crate::platform::{Arch, Flavor, Format};
use crate::signing;
use crate::tag::ReleaseTag;
use crate::workspace::Inventory;

/// Options of one release run.
#[derive(Debug)]
pub(crate) struct ReleaseOptions {
    pub(crate) tag: ReleaseTag,
    pub(crate) source_date_epoch: i64,
    pub(crate) arches: Vec<Arch>,
    pub(crate) out: PathBuf,
    pub(crate) target_root: PathBuf,
    pub(crate) unsigned: bool,
    /// Cargo profile of the builds (`release` for real releases).
    pub(crate) profile: String,
    pub(crate) download_url: Option<String>,
    /// GitHub release asset URL (flat assets; binaries in per-platform archives).
    pub(crate) github_release_url: Option<String>,
    pub(crate) image_name: String,
    pub(crate) image_repository: String,
}

/// Runs the release; returns the release directory.
pub(crate) fn run(repo: &Path, options: &ReleaseOptions) -> Result<PathBuf> {
    let started = Instant::now();
    let mut timings: BTreeMap<&str, f64> = BTreeMap::new();
    let tag = &options.tag;
    let epoch = options.source_date_epoch;

    let manifest = Manifest::load(repo)?;
    let inventory = Inventory::scan(repo)?;
    let plan = manifest.plan(repo, &inventory)?;
    for slot in &plan.empty_slots {
        tracing::warn!("slot empty, not in this release: {slot}");
    }
    let floor = elf::parse_floor(&manifest.package.glibc_floor)?;

    let work = options.target_root.join(format!("work-{tag}"));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    // Unique per run: gpg-agent's socket is named after the keyring path, so a stale agent of
    // an interrupted earlier run must never answer for this one.
    let private = work.join(format!("private-{}", std::process::id()));
    let keys = if options.unsigned {
        tracing::warn!("--unsigned: no signatures; packages are unsigned");
        None
    } else {
        Some(keys::load(repo, &private)?.context(
            "no signing keys: set MEMKV_MINISIGN_KEY_FILE, MEMKV_GPG_KEY_FILE and \
             MEMKV_APK_KEY_FILE (docs/release.md, \"Keys\"; `cargo xtask keygen` makes throwaway \
             ones), or pass --unsigned",
        )?)
    };
    // Fail fast on missing tools, before the long compile.
    for tool in ["cargo-zigbuild", "nfpm"] {
        external::require(repo, tool)?;
    }

    let step = Instant::now();
    let built = compile::build(&BuildRequest {
        repo,
        tag,
        source_date_epoch: epoch,
        arches: &options.arches,
        plan: &plan,
        glibc_floor: &manifest.package.glibc_floor,
        target_root: &options.target_root,
        profile: &options.profile,
    })?;
    timings.insert("compile_s", step.elapsed().as_secs_f64());

    let facts = check_artifacts(&built, &floor)?;
    check_versions(repo, &built, tag)?;

    let dist = options.out.join(tag.to_string());
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("clearing {}", dist.display()))?;
    }
    let mut published: Vec<PathBuf> = Vec::new();

    // Downloads: the glibc builds of every binary and cdylib.
    let mut binaries: Vec<String> = Vec::new();
    for name in plan.bins() {
        binaries.push(name.to_owned());
    }
    for name in plan.cdylibs() {
        binaries.push(format!("lib{name}.so"));
    }
    for &arch in &options.arches {
        let dir = dist.join(arch.platform_dir());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for source in &plan.present {
            let (name, mode) = match source {
                Source::Bin(name) => (name.clone(), 0o755),
                Source::Cdylib(name) => (format!("lib{name}.so"), 0o755),
                _ => continue,
            };
            let dst = dir.join(&name);
            copy_with_mode(built.get(Flavor::Glibc, arch, source)?, &dst, mode)?;
            published.push(dst);
        }
    }

    // Packages.
    let step = Instant::now();
    let gen_dir = work.join("generated");
    let mut generated_files: BTreeMap<manifest::Generated, PathBuf> = BTreeMap::new();
    for source in &plan.present {
        if let Source::Gen(which) = source {
            let path = generated::write(*which, &gen_dir, repo, &manifest.package, tag)?;
            generated_files.insert(*which, path);
        }
    }
    // Repository files are copied once, so every package and the image get the same bytes even
    // if the checkout is edited while the release runs.
    let snapshot = work.join("snapshot");
    for source in &plan.present {
        if let Source::Repo(path) = source {
            let dst = snapshot.join(path);
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::copy(repo.join(path), &dst)
                .with_context(|| format!("copying {} into the release", path.display()))?;
        }
    }
    let locate = |source: &Source, flavor: Flavor, arch: Arch| -> Result<Vec<PathBuf>> {
        match source {
            Source::Bin(_) | Source::Cdylib(_) => {
                Ok(vec![built.get(flavor, arch, source)?.to_path_buf()])
            }
            Source::Repo(path) => Ok(vec![snapshot.join(path)]),
            Source::Gen(which) => Ok(vec![
                generated_files
                    .get(which)
                    .with_context(|| format!("{source} was not generated"))?
                    .clone(),
            ]),
            Source::Wheel(name) => bail!("wheel {name}: no wheel builder yet"),
        }
    };
    let depends = Depends {
        glibc: facts
            .glibc
            .as_deref()
            .map(elf::version_string)
            .unwrap_or_else(|| manifest.package.glibc_floor.clone()),
        libgcc: facts.libgcc,
        musl_dylibs: plan.cdylibs().next().is_some(),
    };
    let package_keys = match &keys {
        Some(keys) => Some(package_keys(keys)?),
        None => None,
    };
    let mut package_files: Vec<(String, Arch, String)> = Vec::new();
    for &arch in &options.arches {
        for format in Format::ALL {
            let files = manifest::resolve(&manifest.files, &plan, Some(format), arch, &locate)?;
            let out_dir = dist.join(arch.platform_dir());
            let path = packages::build(&PackageJob {
                repo,
                manifest: &manifest,
                tag,
                source_date_epoch: epoch,
                format,
                arch,
                files,
                depends: &depends,
                keys: package_keys.as_ref(),
                work: &work,
                out_dir: &out_dir,
            })?;
            let label = format.packager().to_ascii_uppercase();
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            package_files.push((label, arch, file));
            published.push(path);
        }
    }
    timings.insert("packages_s", step.elapsed().as_secs_f64());

    // Container image.
    let step = Instant::now();
    let revision = git_revision(repo);
    let mut arch_images = Vec::new();
    for &arch in &options.arches {
        arch_images.push(oci::ArchImage {
            arch,
            files: manifest::resolve(&manifest.image.files, &plan, None, arch, &locate)?,
        });
    }
    let image = oci::build(
        &oci::ImageMeta {
            spec: &manifest.image,
            package: &manifest.package,
            tag,
            revision: &revision,
            source_date_epoch: epoch,
            image_name: &options.image_name,
        },
        &arch_images,
        &dist,
    )?;
    published.extend(image.docker_archives.iter().map(|(_, path)| path.clone()));
    tracing::info!("image layout written to {}", image.layout_dir.display());
    timings.insert("image_s", step.elapsed().as_secs_f64());

    // Checksums and signatures.
    let step = Instant::now();
    published.sort();
    let sums = signing::write_checksums(&dist, &published)?;
    if let Some(keys) = &keys {
        let mut to_sign = published.clone();
        to_sign.push(sums);
        signing::sign_files(keys, &to_sign, epoch)?;
        signing::write_public_keys(keys, &dist)?;
    }
    timings.insert("sign_s", step.elapsed().as_secs_f64());

    // Release notes.
    let changes_path = repo.join("CHANGES.md");
    let changes = std::fs::read_to_string(&changes_path)
        .with_context(|| format!("reading {}", changes_path.display()))?;
    let text = notes::render(&notes::NotesInput {
        tag,
        changes: notes::section_for(&changes, tag)?,
        arches: &options.arches,
        binaries: binaries.clone(),
        packages: package_files,
        empty_slots: plan.empty_slots.iter().cloned().collect(),
        has_wheels: plan.present.iter().any(|s| matches!(s, Source::Wheel(_))),
        has_plugin: plan
            .present
            .contains(&Source::Cdylib("plugin_MEMKV".to_owned())),
        glibc: depends.glibc.clone(),
        links: match (&options.github_release_url, &options.download_url) {
            (Some(base), _) => notes::Links::GithubRelease(base),
            (None, Some(base)) => notes::Links::Tree(base),
            (None, None) => notes::Links::Relative,
        },
        image_repository: &options.image_repository,
        image_name: &options.image_name,
        minisign_public: keys.as_ref().map(|k| k.minisign_public.to_base64()),
        gpg_fingerprint: keys.as_ref().map(|k| k.gpg.fingerprint.clone()),
        homepage: &manifest.package.homepage,
    })?;
    let notes_path = dist.join(format!("release-notes-{tag}.md"));
    std::fs::write(&notes_path, text)
        .with_context(|| format!("writing {}", notes_path.display()))?;

    timings.insert("total_s", started.elapsed().as_secs_f64());
    let buildinfo = json!({
        "tag": tag.to_string(),
        "source_date_epoch": epoch,
        "revision": revision,
        "arches": options.arches.iter().map(|a| a.debian()).collect::<Vec<_>>(),
        "signed": keys.is_some(),
        "profile": options.profile,
        "glibc_needed": depends.glibc,
        "glibc_floor": manifest.package.glibc_floor,
        "empty_slots": plan.empty_slots,
        "present": plan.present.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "image_references": image.references,
        "tools": tool_versions(repo),
        "timings": timings,
    });
    let info_path = dist.join("BUILDINFO.json");
    std::fs::write(&info_path, serde_json::to_string_pretty(&buildinfo)? + "\n")
        .with_context(|| format!("writing {}", info_path.display()))?;

    if let Some(keys) = &keys {
        keys.gpg.shutdown();
    }
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    tracing::info!(
        "release {tag} written to {} in {:.0} s",
        dist.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(dist)
}

/// What the artifact checks learned.
struct Facts {
    glibc: Option<Vec<u32>>,
    libgcc: bool,
}

fn check_artifacts(built: &Built, floor: &[u32]) -> Result<Facts> {
    let mut facts = Facts {
        glibc: None,
        libgcc: false,
    };
    for ((flavor, arch, source), path) in &built.files {
        let elf = elf::inspect(path)?;
        let what = format!("{} {arch} build of {source}", flavor.name());
        let shared = matches!(source, Source::Cdylib(_));
        match flavor {
            Flavor::Glibc => {
                elf.check(&what, arch.elf_machine(), Some(floor), shared)?;
                if let Some(version) = &elf.glibc
                    && facts.glibc.as_ref().is_none_or(|best| version > best)
                {
                    facts.glibc = Some(version.clone());
                }
                facts.libgcc |= elf.needed.iter().any(|n| n.starts_with("libgcc_s"));
            }
            Flavor::Musl => elf.check(&what, arch.elf_machine(), None, shared)?,
        }
        tracing::info!(
            "{what}: {}",
            match (&elf.glibc, elf.is_static) {
                (Some(v), _) => format!("needs glibc {}", elf::version_string(v)),
                (None, true) => "static".to_owned(),
                (None, false) => format!("needs {}", elf.needed.join(", ")),
            }
        );
    }
    Ok(facts)
}

/// Runs `<bin> -V` for every built binary (arm64 under qemu-aarch64 when it is installed) and
/// checks that it prints `<bin> <tag>`.
fn check_versions(repo: &Path, built: &Built, tag: &ReleaseTag) -> Result<()> {
    let host = Arch::host()?;
    let qemu = external::find(repo, "qemu-aarch64-static")
        .or_else(|| external::find(repo, "qemu-aarch64"));
    for ((flavor, arch, source), path) in &built.files {
        let Source::Bin(name) = source else { continue };
        let mut command = if *arch == host {
            Command::new(path)
        } else if let Some(qemu) = &qemu {
            let mut command = Command::new(qemu);
            if *flavor == Flavor::Glibc {
                // The glibc build needs an aarch64 sysroot; the tests provide one. Here only
                // the static musl build runs.
                continue;
            }
            command.arg(path);
            command
        } else {
            tracing::warn!("{name} ({arch}): not run, no qemu-aarch64 on this machine");
            continue;
        };
        let output =
            external::stdout_of(command.arg("-V"), &format!("running {name} -V ({arch})"))?;
        let expected = format!("{name} {tag}");
        if output != expected {
            bail!(
                "the {} {arch} build of {name} prints {output:?} for -V, expected {expected:?}: \
                 the binary must stamp MEMKV_RELEASE_TAG into its version",
                flavor.name()
            );
        }
    }
    Ok(())
}

fn package_keys(keys: &SigningKeys) -> Result<PackageKeys> {
    Ok(PackageKeys {
        rpm_gpg_key: keys.gpg.secret_file.clone(),
        rpm_passphrase: keys.gpg.passphrase.clone(),
        apk_rsa_key: keys.apk_key.clone(),
        apk_key_name: keys.apk_key_name.clone(),
    })
}

fn copy_with_mode(src: &Path, dst: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::copy(src, dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", dst.display()))
}

/// The checked-out commit (`unknown` without git).
pub(crate) fn git_revision(repo: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn tool_versions(repo: &Path) -> BTreeMap<&'static str, String> {
    let mut versions = BTreeMap::new();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    versions.insert("rustc", external::version_line(Path::new(&rustc), &["-V"]));
    for (name, args) in [
        ("cargo-zigbuild", &["--version"][..]),
        ("nfpm", &["--version"][..]),
        ("python3", &["-m", "ziglang", "version"][..]),
    ] {
        let version = match external::find(repo, name) {
            Some(path) => external::version_line(&path, args),
            None => "not installed".to_owned(),
        };
        versions.insert(if name == "python3" { "zig" } else { name }, version);
    }
    versions
}

/// The host-only or two-architecture list.
pub(crate) fn arches(host_only: bool) -> Result<Vec<Arch>> {
    if host_only {
        Ok(vec![Arch::host()?])
    } else {
        Ok(Arch::ALL.to_vec())
    }
}
