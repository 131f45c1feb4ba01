//! Generated documentation: the package contents table in docs/release.md (from the
//! declaration) and copying a release's notes into `notes/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::manifest::{FileEntry, Manifest};
use crate::platform::Format;
use crate::tag::ReleaseTag;

const BEGIN: &str = "<!-- BEGIN GENERATED: package contents (cargo xtask docs) -->";
const END: &str = "<!-- END GENERATED: package contents -->";
const DOC: &str = "docs/release.md";

/// The markdown table of what each package and the image hold.
pub(crate) fn render_table(manifest: &Manifest) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "| path | from | deb | rpm | apk | filled by |")?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for entry in &manifest.files {
        let has = |format: Format| {
            if entry.formats.as_ref().is_none_or(|f| f.contains(&format)) {
                "yes"
            } else {
                ""
            }
        };
        writeln!(
            out,
            "| `{}`{} | `{}` | {} | {} | {} | {} |",
            entry.dst,
            match entry.kind {
                Some(crate::manifest::FileKind::Config) => " (conffile)",
                _ => "",
            },
            entry.src,
            has(Format::Deb),
            has(Format::Rpm),
            has(Format::Apk),
            slot(entry)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "The OCI image (user `{}`):\n", manifest.image.user)?;
    writeln!(out, "| path | from | filled by |")?;
    writeln!(out, "|---|---|---|")?;
    for entry in &manifest.image.files {
        writeln!(
            out,
            "| `{}` | `{}` | {} |",
            entry.dst,
            entry.src,
            slot(entry)
        )?;
    }
    Ok(out)
}

fn slot(entry: &FileEntry) -> String {
    entry.slot.clone().unwrap_or_else(|| "always".to_owned())
}

/// Rewrites (or with `check`, verifies) the generated block of docs/release.md.
pub(crate) fn contents_table(repo: &Path, check: bool) -> Result<()> {
    let manifest = Manifest::load(repo)?;
    let path = repo.join(DOC);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let updated = splice(&text, &render_table(&manifest)?)?;
    if updated == text {
        return Ok(());
    }
    if check {
        bail!("{DOC} is stale: run `cargo xtask docs` to regenerate its package contents table");
    }
    std::fs::write(&path, updated).with_context(|| format!("writing {}", path.display()))
}

/// Replaces the text between the markers.
pub(crate) fn splice(text: &str, table: &str) -> Result<String> {
    let start = text
        .find(BEGIN)
        .with_context(|| format!("{DOC} has no `{BEGIN}` marker"))?
        + BEGIN.len();
    let end = text
        .find(END)
        .with_context(|| format!("{DOC} has no `{END}` marker"))?;
    if end < start {
        bail!("{DOC}: the END marker comes before the BEGIN marker");
    }
    Ok(format!("{}\n{table}{}", &text[..start], &text[end..]))
}

/// Copies `<dist>/<tag>/release-notes-<tag>.md` (written by `release` from CHANGES.md) into
/// `out` (`notes/` in the repository by default).
pub(crate) fn write_notes(dist: &Path, out: &Path, tag: &ReleaseTag) -> Result<PathBuf> {
    let name = format!("release-notes-{tag}.md");
    let from = dist.join(tag.to_string()).join(&name);
    if !from.is_file() {
        bail!(
            "{} does not exist: run `cargo xtask release --tag {tag}` first (the notes name the \
             files and keys of the built release)",
            from.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let to = out.join(&name);
    std::fs::copy(&from, &to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::{DOC, render_table, splice};
    use crate::manifest::Manifest;

    /// docs/release.md's table matches packaging/package.toml; `MEMKV_UPDATE_DOCS=1`
    /// regenerates it (the workspace convention for generated references).
    #[test]
    fn release_doc_contents_table_is_fresh() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = Manifest::load(&repo).expect("declaration");
        let path = repo.join(DOC);
        let text = std::fs::read_to_string(&path).expect("docs/release.md");
        let fresh = splice(&text, &render_table(&manifest).expect("table")).expect("markers");
        if std::env::var_os("MEMKV_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &fresh).expect("write docs/release.md");
            return;
        }
        assert!(
            fresh == text,
            "{DOC} is stale: run `cargo xtask docs` or MEMKV_UPDATE_DOCS=1 cargo test -p memkv-release"
        );
    }
}
