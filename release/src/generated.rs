//! Files the release tool writes into packages itself (`gen:` sources of the declaration):
//! the machine-readable copyright file and the gzip'd Debian changelog.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::manifest::{Generated, PackageMeta};
use crate::tag::ReleaseTag;

/// Writes every generated file into `dir` and returns the path of one.
pub(crate) fn write(
    which: Generated,
    dir: &Path,
    repo: &Path,
    meta: &PackageMeta,
    tag: &ReleaseTag,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (name, bytes) = match which {
        Generated::Copyright => ("copyright", copyright(repo, meta, tag)?.into_bytes()),
        Generated::DebianChangelog => (
            "changelog.gz",
            gzip(debian_changelog(meta, tag).as_bytes())?,
        ),
    };
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A DEP-5 copyright file. The licence text comes from `LICENSE` when the repository has one
/// (AGPL is not among Debian's common licences, so the full text belongs here).
fn copyright(repo: &Path, meta: &PackageMeta, tag: &ReleaseTag) -> Result<String> {
    let year = &tag.date()[..4];
    let mut text = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {name}\n\
         Upstream-Contact: {maintainer}\n\
         Source: {homepage}\n\
         \n\
         Files: *\n\
         Copyright: 2025-{year} {vendor}\n\
         License: {license}\n",
        name = meta.name,
        maintainer = meta.maintainer,
        homepage = meta.homepage,
        vendor = meta.vendor,
        license = meta.license,
    );
    let license_file = repo.join("LICENSE");
    let body = if license_file.is_file() {
        std::fs::read_to_string(&license_file)
            .with_context(|| format!("reading {}", license_file.display()))?
    } else {
        [
            "This program is free software: you can redistribute it and/or modify it under the \
             terms of the GNU Affero General Public License as published by the Free Software \
             Foundation, either version 3 of the License, or (at your option) any later version.",
            "This program is distributed in the hope that it will be useful, but WITHOUT ANY \
             WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS FOR A \
             PARTICULAR PURPOSE. See the GNU Affero General Public License for more details.",
            "The full text of the licence is at https://www.gnu.org/licenses/agpl-3.0.txt",
        ]
        .map(|paragraph| wrap(paragraph, 78).join("\n"))
        .join("\n\n")
    };
    // DEP-5: continuation lines start with a space; an empty line is written " .".
    for line in body.trim_end().lines() {
        if line.trim().is_empty() {
            text.push_str(" .\n");
        } else {
            text.push(' ');
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    Ok(text)
}

/// A one-entry Debian changelog for this release.
fn debian_changelog(meta: &PackageMeta, tag: &ReleaseTag) -> String {
    format!(
        "{name} ({version}) unstable; urgency=medium\n\
         \n\
         \x20 * Release {tag}. The changes are in the release notes,\n\
         \x20   release-notes-{tag}.md.\n\
         \n\
         \x20-- {maintainer}  {date}\n",
        name = meta.name,
        version = tag.package_version(),
        maintainer = meta.maintainer,
        date = tag.rfc2822(),
    )
}

/// gzip with a fixed header (no name, mtime 0) at the best compression, like `gzip -9n`.
pub(crate) fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).context("compressing")?;
    encoder.finish().context("compressing")
}

/// Greedy word wrap; lines that are already short (or hold no spaces) stay as they are.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for source_line in text.lines() {
        let mut line = String::new();
        for word in source_line.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{gzip, wrap};

    #[test]
    fn gzip_output_is_deterministic_and_decodes() {
        let a = gzip(b"hello hello hello").expect("gzip");
        let b = gzip(b"hello hello hello").expect("gzip");
        assert_eq!(a, b);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime must be zero");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&a[..]), &mut out)
            .expect("decodes");
        assert_eq!(out, "hello hello hello");
    }

    #[test]
    fn wrap_breaks_at_width() {
        let lines = wrap("aaa bbb ccc ddd", 7);
        assert_eq!(lines, ["aaa bbb", "ccc ddd"]);
    }
}
