//! The package declaration (`packaging/package.toml`): parsing, and resolving it against what
//! the workspace holds into the concrete file list of one package or of the image.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::platform::{Arch, Flavor, Format};
use crate::workspace::{Inventory, normalise_wheel_name};

/// Path of the declaration, relative to the repository root.
pub(crate) const MANIFEST_PATH: &str = "packaging/package.toml";

/// The whole declaration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) package: PackageMeta,
    pub(crate) scripts: Scripts,
    #[serde(rename = "file")]
    pub(crate) files: Vec<FileEntry>,
    pub(crate) image: ImageSpec,
}

/// Package metadata shared by every format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackageMeta {
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) description: String,
    pub(crate) maintainer: String,
    pub(crate) vendor: String,
    pub(crate) homepage: String,
    pub(crate) license: String,
    pub(crate) section: String,
    pub(crate) glibc_floor: String,
}

/// Maintainer scripts, repository-relative paths; one set serves all three formats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scripts {
    pub(crate) postinstall: PathBuf,
    pub(crate) preremove: PathBuf,
    pub(crate) postremove: PathBuf,
}

/// One `[[file]]` or `[[image.file]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEntry {
    pub(crate) src: Source,
    pub(crate) dst: String,
    pub(crate) mode: u32,
    #[serde(default)]
    pub(crate) slot: Option<String>,
    #[serde(default)]
    pub(crate) formats: Option<Vec<Format>>,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<FileKind>,
    /// Which build of a `bin:`/`cdylib:` the image takes (default: musl).
    #[serde(default)]
    pub(crate) flavor: Option<Flavor>,
}

/// `type = "config" | "doc" | "license"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileKind {
    /// A conffile: the admin's edits survive upgrades.
    Config,
    /// rpm `%doc`.
    Doc,
    /// rpm `%license`.
    License,
}

/// The `[image]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImageSpec {
    pub(crate) user: String,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) env: Vec<String>,
    pub(crate) dirs: Vec<DirSpec>,
    #[serde(rename = "file")]
    pub(crate) files: Vec<FileEntry>,
}

/// An empty directory of the image layer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DirSpec {
    pub(crate) path: String,
    pub(crate) mode: u32,
    #[serde(default)]
    pub(crate) owned: bool,
}

/// Where an entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(crate) enum Source {
    Bin(String),
    Cdylib(String),
    Wheel(String),
    Repo(PathBuf),
    Gen(Generated),
}

/// Files the release tool writes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Generated {
    /// Debian machine-readable copyright file.
    Copyright,
    /// gzip'd Debian changelog with this release's entry (`changelog.gz`: a native package).
    DebianChangelog,
}

impl TryFrom<String> for Source {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let (kind, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("`src = {text:?}` has no `kind:` prefix"))?;
        if rest.is_empty() {
            return Err(format!("`src = {text:?}` names nothing after `{kind}:`"));
        }
        match kind {
            "bin" => Ok(Self::Bin(rest.to_owned())),
            "cdylib" => Ok(Self::Cdylib(rest.to_owned())),
            "wheel" => Ok(Self::Wheel(normalise_wheel_name(rest))),
            "repo" => Ok(Self::Repo(PathBuf::from(rest))),
            "gen" => match rest {
                "copyright" => Ok(Self::Gen(Generated::Copyright)),
                "changelog.gz" => Ok(Self::Gen(Generated::DebianChangelog)),
                other => Err(format!(
                    "`gen:{other}` is not a file the release tool writes (copyright, changelog.gz)"
                )),
            },
            other => Err(format!(
                "`src = {text:?}`: unknown kind `{other}` (bin, cdylib, wheel, repo, gen)"
            )),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bin(name) => write!(f, "bin:{name}"),
            Self::Cdylib(name) => write!(f, "cdylib:{name}"),
            Self::Wheel(name) => write!(f, "wheel:{name}"),
            Self::Repo(path) => write!(f, "repo:{}", path.display()),
            Self::Gen(Generated::Copyright) => f.write_str("gen:copyright"),
            Self::Gen(Generated::DebianChangelog) => f.write_str("gen:changelog.gz"),
        }
    }
}

impl Manifest {
    /// Reads and checks the declaration of the repository at `repo`.
    pub(crate) fn load(repo: &Path) -> Result<Self> {
        let path = repo.join(MANIFEST_PATH);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        let manifest: Self = toml::from_str(text)?;
        let mut seen = BTreeSet::new();
        for entry in &manifest.files {
            if !entry.dst.starts_with('/') {
                bail!("`dst = {:?}` must be an absolute path", entry.dst);
            }
            let is_dir = entry.dst.ends_with('/');
            if is_dir != matches!(entry.src, Source::Wheel(_)) {
                bail!(
                    "`dst = {:?}`: wheels go to a directory (ending in /), everything else to a file path",
                    entry.dst
                );
            }
            for format in entry
                .formats
                .clone()
                .unwrap_or_else(|| Format::ALL.to_vec())
            {
                if !is_dir && !seen.insert((format, entry.dst.clone())) {
                    bail!("`{}` is declared twice for {format}", entry.dst);
                }
            }
        }
        Ok(manifest)
    }

    /// The members and files this workspace provides, and the slots left empty.
    pub(crate) fn plan(&self, repo: &Path, inventory: &Inventory) -> Result<Plan> {
        let mut plan = Plan::default();
        for entry in self.files.iter().chain(&self.image.files) {
            let present = match &entry.src {
                Source::Bin(name) => inventory.bins.contains_key(name),
                Source::Cdylib(name) => inventory.cdylibs.contains_key(name),
                Source::Wheel(name) => inventory.wheels.contains_key(name),
                Source::Repo(path) => repo.join(path).is_file(),
                Source::Gen(_) => true,
            };
            match (present, &entry.slot) {
                (true, _) => {
                    plan.present.insert(entry.src.clone());
                }
                (false, Some(slot)) => {
                    plan.empty_slots.insert(format!("{slot} ({})", entry.src));
                }
                (false, None) => bail!(
                    "{MANIFEST_PATH} lists `{}` for {} but the workspace does not provide it; \
                     build it, fix the entry, or mark it with `slot = \"...\"` if its member has \
                     not landed yet",
                    entry.src,
                    entry.dst
                ),
            }
        }
        for source in &plan.present {
            match source {
                Source::Bin(name) => plan.bin_packages.extend(inventory.bins.get(name).cloned()),
                Source::Cdylib(name) => {
                    plan.cdylib_packages
                        .extend(inventory.cdylibs.get(name).cloned());
                }
                Source::Wheel(name) => bail!(
                    "the wheel project `{name}` is in the workspace ({}), but the release tool \
                     does not build wheels yet: add a wheel builder to release/src/compile.rs \
                     (maturin with --zig, manylinux 2_28) before releasing",
                    inventory
                        .wheels
                        .get(name)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                Source::Repo(_) | Source::Gen(_) => {}
            }
        }
        Ok(plan)
    }
}

/// What the release builds and packages, decided from the workspace.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Every source that exists (a declared entry whose source is missing is a slot or an error).
    pub(crate) present: BTreeSet<Source>,
    /// Slot descriptions of entries left out, e.g. `NIXL plugin (cdylib:plugin_MEMKV)`.
    pub(crate) empty_slots: BTreeSet<String>,
    /// Cargo packages to build for binaries.
    pub(crate) bin_packages: BTreeSet<String>,
    /// Cargo packages to build for cdylibs.
    pub(crate) cdylib_packages: BTreeSet<String>,
}

impl Plan {
    /// The binaries (`bin:` names) present, in declaration-independent order.
    pub(crate) fn bins(&self) -> impl Iterator<Item = &str> {
        self.present.iter().filter_map(|source| match source {
            Source::Bin(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The cdylibs (`cdylib:` names) present.
    pub(crate) fn cdylibs(&self) -> impl Iterator<Item = &str> {
        self.present.iter().filter_map(|source| match source {
            Source::Cdylib(name) => Some(name.as_str()),
            _ => None,
        })
    }
}

/// One file of a package or of the image, ready to be packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedFile {
    pub(crate) src: PathBuf,
    pub(crate) dst: String,
    pub(crate) mode: u32,
    pub(crate) kind: Option<FileKind>,
}

/// Maps a present source and the flavour wanted to the files on disk.
pub(crate) type Locate<'a> = dyn Fn(&Source, Flavor, Arch) -> Result<Vec<PathBuf>> + 'a;

/// Resolves the entries that apply to `format` (or to the image when `None`) for `arch`.
/// `locate` maps a present source and the flavour wanted to the files on disk.
pub(crate) fn resolve(
    entries: &[FileEntry],
    plan: &Plan,
    format: Option<Format>,
    arch: Arch,
    locate: &Locate<'_>,
) -> Result<Vec<ResolvedFile>> {
    let mut files = Vec::new();
    for entry in entries {
        if let (Some(format), Some(formats)) = (format, &entry.formats)
            && !formats.contains(&format)
        {
            continue;
        }
        if !plan.present.contains(&entry.src) {
            continue;
        }
        let flavor = match format {
            Some(format) => format.flavor(),
            None => entry.flavor.unwrap_or(Flavor::Musl),
        };
        for src in locate(&entry.src, flavor, arch)? {
            let dst = if entry.dst.ends_with('/') {
                let name = src
                    .file_name()
                    .with_context(|| format!("{} has no file name", src.display()))?;
                format!("{}{}", entry.dst, name.to_string_lossy())
            } else {
                entry.dst.clone()
            };
            files.push(ResolvedFile {
                src,
                dst,
                mode: entry.mode,
                kind: entry.kind,
            });
        }
    }
    files.sort_by(|a, b| a.dst.cmp(&b.dst));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::{Manifest, Source};

    #[test]
    fn the_repository_declaration_parses() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = Manifest::load(&repo).expect("packaging/package.toml parses");
        assert_eq!(manifest.package.name, "memkv");
        assert!(
            manifest
                .files
                .iter()
                .any(|f| f.src == Source::Bin("memkv".into()) && f.dst == "/usr/bin/memkv")
        );
    }

    #[test]
    fn bad_sources_are_rejected_with_the_reason() {
        for (src, why) in [
            ("memkv", "no `kind:` prefix"),
            ("bin:", "names nothing"),
            ("exe:memkv", "unknown kind"),
            ("gen:readme", "not a file the release tool writes"),
        ] {
            let text = format!(
                "[package]\nname='x'\nsummary='s'\ndescription='d'\nmaintainer='m'\nvendor='v'\n\
                 homepage='h'\nlicense='l'\nsection='net'\nglibc_floor='2.28'\n\
                 [scripts]\npostinstall='b'\npreremove='c'\npostremove='d'\n\
                 [[file]]\nsrc='{src}'\ndst='/x'\nmode=0o644\n\
                 [image]\nuser='1'\nentrypoint=[]\ncmd=[]\nports=[]\nenv=[]\ndirs=[]\nfile=[]\n"
            );
            let err = format!("{:#}", Manifest::parse(&text).expect_err(src));
            assert!(err.contains(why), "{src}: {err}");
        }
    }
}
