//! Building the .deb, .rpm and .apk of one architecture with nfpm, from the declaration.
//!
//! For each format the declaration is resolved to concrete files and rendered as an nfpm
//! configuration (JSON, which nfpm reads as YAML) in the work directory; nfpm then writes the
//! package under its exact release name. Every time inside a package is the release's
//! `SOURCE_DATE_EPOCH`, so two runs give identical bytes. rpm and apk packages are signed
//! inside when keys are given (rpm with the GPG key, apk with the RSA key).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::external;
use crate::generated::wrap;
use crate::manifest::{FileKind, Manifest, ResolvedFile};
use crate::platform::{Arch, Format};
use crate::tag::{self, ReleaseTag};

/// Dependencies derived from the built binaries.
#[derive(Debug, Clone)]
pub(crate) struct Depends {
    /// The newest glibc the glibc artifacts need (e.g. `2.28`).
    pub(crate) glibc: String,
    /// Whether any glibc artifact needs libgcc_s.
    pub(crate) libgcc: bool,
    /// Whether the apk holds musl shared objects (which need musl's libc).
    pub(crate) musl_dylibs: bool,
}

/// In-package signing keys (files in the private work directory).
#[derive(Debug)]
pub(crate) struct PackageKeys {
    /// Armored OpenPGP secret key for rpm signatures.
    pub(crate) rpm_gpg_key: PathBuf,
    pub(crate) rpm_passphrase: Option<String>,
    /// RSA private key (PEM) for the apk signature, and the public key's file name on
    /// Alpine machines (`/etc/apk/keys/<name>`).
    pub(crate) apk_rsa_key: PathBuf,
    pub(crate) apk_key_name: String,
}

/// One package to build.
#[derive(Debug)]
pub(crate) struct PackageJob<'a> {
    pub(crate) repo: &'a Path,
    pub(crate) manifest: &'a Manifest,
    pub(crate) tag: &'a ReleaseTag,
    pub(crate) source_date_epoch: i64,
    pub(crate) format: Format,
    pub(crate) arch: Arch,
    pub(crate) files: Vec<ResolvedFile>,
    pub(crate) depends: &'a Depends,
    pub(crate) keys: Option<&'a PackageKeys>,
    /// Private scratch directory for this release.
    pub(crate) work: &'a Path,
    /// Directory the package is written to.
    pub(crate) out_dir: &'a Path,
}

/// Builds the package and returns its path.
pub(crate) fn build(job: &PackageJob<'_>) -> Result<PathBuf> {
    let meta = &job.manifest.package;
    let version = job.tag.package_version();
    let file_name = job.format.file_name(&meta.name, &version, job.arch);
    let out = job.out_dir.join(&file_name);
    let dir = job
        .work
        .join(format!("nfpm-{}-{}", job.format, job.arch.debian()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let config = render(job, &dir)?;
    let config_path = dir.join("nfpm.yaml");
    let text = serde_json::to_string_pretty(&config).context("rendering the nfpm config")?;
    std::fs::write(&config_path, text)
        .with_context(|| format!("writing {}", config_path.display()))?;

    let nfpm = external::require(job.repo, "nfpm")?;
    let mut command = Command::new(nfpm);
    command
        .current_dir(&dir)
        .args(["package", "--config"])
        .arg(&config_path)
        .args(["--packager", job.format.packager(), "--target"])
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", job.source_date_epoch.to_string());
    if let Some(keys) = job.keys
        && let Some(passphrase) = &keys.rpm_passphrase
    {
        command.env("NFPM_RPM_PASSPHRASE", passphrase);
    }
    external::run(&mut command, &format!("packaging {file_name}"))?;
    tracing::info!("packaged {file_name}");
    Ok(out)
}

/// The nfpm configuration of one package.
fn render(job: &PackageJob<'_>, dir: &Path) -> Result<Value> {
    let meta = &job.manifest.package;
    let mtime = tag::rfc3339(job.source_date_epoch);
    let format = job.format;

    let contents: Vec<Value> = job
        .files
        .iter()
        .map(|file| {
            let mut entry = json!({
                "src": file.src,
                "dst": file.dst,
                "file_info": {
                    "mode": file.mode,
                    "owner": "root",
                    "group": "root",
                    "mtime": mtime,
                },
            });
            let kind = match (file.kind, format) {
                (Some(FileKind::Config), Format::Rpm) => Some("config|noreplace"),
                (Some(FileKind::Config), _) => Some("config"),
                (Some(FileKind::Doc), Format::Rpm) => Some("doc"),
                (Some(FileKind::License), Format::Rpm) => Some("license"),
                _ => None,
            };
            if let Some(kind) = kind {
                entry["type"] = json!(kind);
            }
            entry
        })
        .collect();

    let scripts = copy_scripts(job, dir)?;
    // apk's pkgdesc is one line; deb and rpm carry the summary plus a wrapped description.
    let description = match format {
        Format::Apk => meta.summary.clone(),
        Format::Deb | Format::Rpm => {
            let mut text = meta.summary.clone();
            for line in wrap(&meta.description, 72) {
                text.push('\n');
                text.push_str(&line);
            }
            text
        }
    };

    let mut depends: Vec<String> = Vec::new();
    match format {
        Format::Deb => {
            depends.push(format!("libc6 (>= {})", job.depends.glibc));
            if job.depends.libgcc {
                depends.push("libgcc-s1".to_owned());
            }
        }
        Format::Rpm => {
            depends.push(format!("glibc >= {}", job.depends.glibc));
            if job.depends.libgcc {
                depends.push("libgcc".to_owned());
            }
        }
        Format::Apk => {
            if job.depends.musl_dylibs {
                depends.push("musl".to_owned());
            }
        }
    }

    let mut config = json!({
        "name": meta.name,
        "arch": job.arch.debian(),
        "platform": "linux",
        "version": job.tag.package_version(),
        "version_schema": "none",
        "section": meta.section,
        "priority": "optional",
        "maintainer": meta.maintainer,
        "description": description,
        "vendor": meta.vendor,
        "homepage": meta.homepage,
        "license": meta.license,
        "mtime": mtime,
        "umask": 0o022,
        "depends": depends,
        "contents": contents,
        "scripts": scripts,
    });
    match format {
        Format::Deb => {
            config["deb"] = json!({ "compression": "gzip" });
        }
        Format::Rpm => {
            config["release"] = json!("1");
            let mut rpm = json!({
                "summary": meta.summary,
                "group": "Applications/Databases",
                "packager": meta.maintainer,
                "buildhost": "memkv-release",
                "compression": "xz",
            });
            if let Some(keys) = job.keys {
                rpm["signature"] = json!({ "key_file": keys.rpm_gpg_key });
            }
            config["rpm"] = rpm;
            config["changelog"] = json!(rpm_changelog(job, dir)?);
        }
        Format::Apk => {
            if let Some(keys) = job.keys {
                config["apk"] = json!({
                    "signature": {
                        "key_file": keys.apk_rsa_key,
                        "key_name": keys.apk_key_name,
                    }
                });
            }
        }
    }
    Ok(config)
}

/// A one-entry changelog in nfpm's (chglog) format, for the rpm `%changelog`.
fn rpm_changelog(job: &PackageJob<'_>, dir: &Path) -> Result<PathBuf> {
    let entry = json!([{
        // version-release, as rpm compares the changelog entry with the package.
        "semver": format!("{}-1", job.tag.package_version()),
        "date": tag::rfc3339(job.tag.epoch()),
        "packager": job.manifest.package.maintainer,
        "changes": [{
            "note": format!(
                "Release {}. The changes are in release-notes-{}.md.",
                job.tag, job.tag
            ),
        }],
    }]);
    let path = dir.join("changelog.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&entry)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Copies the maintainer scripts next to the config with their mtime set to the release time
/// (nfpm's apk writer takes the scripts' own mtimes, ignoring `mtime`).
fn copy_scripts(job: &PackageJob<'_>, dir: &Path) -> Result<Value> {
    let scripts = &job.manifest.scripts;
    let mut out = serde_json::Map::new();
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(
            u64::try_from(job.source_date_epoch).context("SOURCE_DATE_EPOCH is negative")?,
        );
    for (key, path) in [
        ("postinstall", &scripts.postinstall),
        ("preremove", &scripts.preremove),
        ("postremove", &scripts.postremove),
    ] {
        let src = job.repo.join(path);
        let dst = dir.join(format!("{key}.sh"));
        std::fs::copy(&src, &dst)
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        let file = std::fs::File::options()
            .write(true)
            .open(&dst)
            .with_context(|| format!("opening {}", dst.display()))?;
        file.set_modified(time)
            .with_context(|| format!("setting the mtime of {}", dst.display()))?;
        out.insert(key.to_owned(), json!(dst));
    }
    Ok(Value::Object(out))
}
