//! What the workspace holds: which binaries, cdylibs and Python wheel projects exist.
//!
//! The release fills a slot of the package declaration only when the member that produces it
//! is in the workspace; this module answers that from `cargo metadata` and the `pyproject.toml`
//! files of the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::external;

/// The repository root: the nearest ancestor of the current directory holding
/// `packaging/package.toml`, else the checkout this tool was built from.
pub(crate) fn repo_root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    for dir in cwd.ancestors() {
        if dir.join("packaging/package.toml").is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    built_from
        .canonicalize()
        .with_context(|| format!("finding the repository root from {}", built_from.display()))
}

/// The producers found in the workspace.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    /// Binary target name -> the package that builds it.
    pub(crate) bins: BTreeMap<String, String>,
    /// cdylib library name (`plugin_MEMKV`) -> the package that builds it.
    pub(crate) cdylibs: BTreeMap<String, String>,
    /// Python project name (normalised: lower case, `-` -> `_`) -> its directory.
    pub(crate) wheels: BTreeMap<String, PathBuf>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
}

impl Inventory {
    /// Reads the workspace members with `cargo metadata` and finds the wheel projects.
    pub(crate) fn scan(repo: &Path) -> Result<Self> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let json = external::stdout_of(
            Command::new(cargo).current_dir(repo).args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
            ]),
            "listing the workspace members",
        )?;
        let metadata: Metadata =
            serde_json::from_str(&json).context("parsing `cargo metadata` output")?;
        let mut inventory = Self::default();
        for package in metadata.packages {
            for target in package.targets {
                if target.kind.iter().any(|kind| kind == "bin") {
                    inventory.bins.insert(target.name, package.name.clone());
                } else if target.kind.iter().any(|kind| kind == "cdylib") {
                    inventory.cdylibs.insert(target.name, package.name.clone());
                }
            }
        }
        find_wheel_projects(repo, repo, 0, &mut inventory.wheels)?;
        Ok(inventory)
    }
}

/// Normalises a Python project name the way wheel file names spell it.
pub(crate) fn normalise_wheel_name(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

fn find_wheel_projects(
    repo: &Path,
    dir: &Path,
    depth: usize,
    found: &mut BTreeMap<String, PathBuf>,
) -> Result<()> {
    const SKIP: [&str; 5] = ["target", "dist", ".git", "node_modules", ".venv"];
    if depth > 4 {
        return Ok(());
    }
    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() {
        let text = std::fs::read_to_string(&pyproject)
            .with_context(|| format!("reading {}", pyproject.display()))?;
        let value: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", pyproject.display()))?;
        if let Some(name) = value
            .get("project")
            .and_then(|project| project.get("name"))
            .and_then(toml::Value::as_str)
        {
            found.insert(normalise_wheel_name(name), dir.to_path_buf());
        }
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    let mut subdirs: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let skip = SKIP.iter().any(|s| name == *s)
            || (dir == repo && name.to_string_lossy().starts_with('.'));
        if !skip && entry.file_type().is_ok_and(|t| t.is_dir()) {
            subdirs.push(entry.path());
        }
    }
    subdirs.sort();
    for sub in subdirs {
        find_wheel_projects(repo, &sub, depth + 1, found)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalise_wheel_name;

    #[test]
    fn wheel_names_normalise_like_wheel_files() {
        assert_eq!(normalise_wheel_name("memkv-lmcache"), "memkv_lmcache");
        assert_eq!(normalise_wheel_name("MemKV.SGLang"), "memkv_sglang");
    }
}
