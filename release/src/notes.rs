//! Release notes, generated from the changes file (`CHANGES.md`) in the seed release notes'
//! layout: title and summary, downloads tables, container image, verification, changes,
//! documentation, support.
//!
//! `CHANGES.md` holds one `## <heading>` section per release, newest first: `## Unreleased`
//! while work goes on, renamed `## RELEASE.<timestamp>` when the release is cut. A section
//! starts with a one-paragraph summary, then `### <category>` lists. The notes of a tag use
//! the section named by the tag, else `## Unreleased`.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::platform::Arch;
use crate::tag::ReleaseTag;

/// One section of the changes file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangesSection {
    pub(crate) summary: String,
    /// The `###` sub-sections, verbatim (heading line included).
    pub(crate) body: String,
    /// The heading of the next older release section, if any.
    pub(crate) previous: Option<String>,
}

/// Finds the section for `tag` in the changes file text.
pub(crate) fn section_for(changes: &str, tag: &ReleaseTag) -> Result<ChangesSection> {
    let tag = tag.to_string();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in changes.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.push((heading.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let position = sections
        .iter()
        .position(|(heading, _)| *heading == tag)
        .or_else(|| sections.iter().position(|(h, _)| h == "Unreleased"))
        .with_context(|| {
            format!("CHANGES.md has neither a `## {tag}` nor a `## Unreleased` section")
        })?;
    let (_, body) = &sections[position];
    let previous = sections[position + 1..]
        .iter()
        .map(|(heading, _)| heading)
        .find(|heading| heading.starts_with("RELEASE."))
        .cloned();
    let body = body.trim();
    let (summary, rest) = match body.find("\n### ") {
        Some(at) => (body[..at].trim(), body[at..].trim()),
        None if body.starts_with("### ") => ("", body),
        None => (body, ""),
    };
    if summary.is_empty() {
        bail!("the CHANGES.md section for {tag} has no summary paragraph before its first ###");
    }
    Ok(ChangesSection {
        summary: summary.to_owned(),
        body: rest.to_owned(),
        previous,
    })
}

/// What the release holds, for the downloads tables.
#[derive(Debug)]
pub(crate) struct NotesInput<'a> {
    pub(crate) tag: &'a ReleaseTag,
    pub(crate) changes: ChangesSection,
    pub(crate) arches: &'a [Arch],
    /// Per-architecture downloadable files (`memkv`, `libplugin_MEMKV.so`, …).
    pub(crate) binaries: Vec<String>,
    /// Per-architecture package file names, as (format label, arch, file).
    pub(crate) packages: Vec<(String, Arch, String)>,
    /// Members not in this release (empty slots), as the declaration names them.
    pub(crate) empty_slots: Vec<String>,
    pub(crate) has_wheels: bool,
    pub(crate) has_plugin: bool,
    pub(crate) glibc: String,
    pub(crate) links: Links<'a>,
    pub(crate) image_repository: &'a str,
    pub(crate) image_name: &'a str,
    pub(crate) minisign_public: Option<String>,
    pub(crate) gpg_fingerprint: Option<String>,
    pub(crate) homepage: &'a str,
}

/// Where the notes' download links point.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Links<'a> {
    /// Relative to the release directory (`linux-amd64/memkv`).
    Relative,
    /// A mirror of the release directory tree at this base URL (`--download-url`).
    Tree(&'a str),
    /// The flat assets of a GitHub release at this base URL (`--github-release-url`):
    /// packages by file name; binaries, which share names across architectures, in the
    /// per-platform archive [`platform_archive`].
    GithubRelease(&'a str),
}

/// The per-platform archive a GitHub release holds instead of the loose binaries (the release
/// workflow makes it: `memkv-$TAG-linux-<arch>.tar.gz`).
pub(crate) fn platform_archive(tag: &ReleaseTag, arch: Arch) -> String {
    format!("memkv-{tag}-{}.tar.gz", arch.platform_dir())
}

/// The link to a package (a file whose name is unique across architectures).
fn link(input: &NotesInput<'_>, arch: Arch, file: &str) -> String {
    let path = format!("{}/{file}", arch.platform_dir());
    match input.links {
        Links::Relative => path,
        Links::Tree(base) => format!("{}/{path}", base.trim_end_matches('/')),
        Links::GithubRelease(base) => format!("{}/{file}", base.trim_end_matches('/')),
    }
}

/// The link to a binary: on a GitHub release, the platform archive that holds it.
fn binary_link(input: &NotesInput<'_>, arch: Arch, file: &str) -> String {
    match input.links {
        Links::GithubRelease(base) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            platform_archive(input.tag, arch)
        ),
        _ => link(input, arch, file),
    }
}

fn title(name: &str) -> &str {
    match name {
        "memkv" => "Server Binary",
        "memkv-bench" => "Benchmark (`memkv-bench`)",
        "libplugin_MEMKV.so" => "NIXL Plugin (for Dynamo / KVBM integrations)",
        "libmemkv_preload.so" => "LD_PRELOAD Shim (for MLPerf-Storage kvcache workloads)",
        other => other,
    }
}

/// Renders the notes.
pub(crate) fn render(input: &NotesInput<'_>) -> Result<String> {
    let tag = input.tag;
    let mut out = String::new();
    writeln!(out, "# memkv {tag}\n")?;
    writeln!(out, "Released: {}\n", tag.date())?;
    writeln!(out, "{}\n", input.changes.summary)?;
    writeln!(out, "---\n")?;
    writeln!(out, "## Downloads\n")?;
    for binary in &input.binaries {
        writeln!(out, "### {}\n", title(binary))?;
        writeln!(out, "| Platform | Architecture | Download |")?;
        writeln!(out, "| -------- | ------------ | -------- |")?;
        for &arch in input.arches {
            writeln!(
                out,
                "| Linux    | {:<12} | [{binary}]({}) |",
                arch.debian(),
                binary_link(input, arch, binary)
            )?;
        }
        writeln!(out)?;
    }
    if let Links::GithubRelease(_) = input.links {
        writeln!(
            out,
            "The binaries of each platform, with their `.sha256sum`, `.minisig` and `.asc` files, \
             come in one archive per platform (`{}`, ...).\n",
            platform_archive(tag, Arch::Amd64)
        )?;
    }
    writeln!(
        out,
        "The glibc builds need glibc {} or newer (RHEL 8, Ubuntu 20.04, Debian 10 and later).\n",
        input.glibc
    )?;
    if !input.empty_slots.is_empty() {
        writeln!(
            out,
            "Not in this release yet: {}.\n",
            input.empty_slots.join("; ")
        )?;
    }

    writeln!(out, "### Packages\n")?;
    let bundled = bundle_sentence(input);
    writeln!(
        out,
        "`.deb`, `.rpm`, and `.apk` packages bundle {bundled} into a single per-arch install. The \
         systemd unit `memkv.service` is installed but not enabled.\n"
    )?;
    writeln!(out, "| Format | Architecture | Download |")?;
    writeln!(out, "| ------ | ------------ | -------- |")?;
    for (format, arch, file) in &input.packages {
        writeln!(
            out,
            "| {format:<6} | {:<12} | [{}]({}) |",
            arch.debian(),
            escape_emphasis(file),
            link(input, *arch, file)
        )?;
    }
    writeln!(out)?;
    if input.has_wheels {
        writeln!(
            out,
            "After installing the deb/rpm, the Python plugin wheels land at \
             `/usr/share/memkv/wheels/`:\n\n```bash\npip install /usr/share/memkv/wheels/memkv_lmcache-*.whl\n\
             pip install /usr/share/memkv/wheels/memkv_sglang-*.whl\npip install /usr/share/memkv/wheels/memkv_vllm-*.whl\n```\n"
        )?;
    }
    if input.has_plugin {
        writeln!(
            out,
            "The NIXL plugin is auto-symlinked to `/opt/nvidia/nvda_nixl/lib/plugins/` when that \
             directory exists (postinstall hook).\n"
        )?;
    }

    writeln!(out, "### Container Image\n")?;
    writeln!(
        out,
        "```bash\ndocker pull {repo}:{tag}\ndocker pull {repo}:latest\n\n# or, from the release files:\n\
         docker load -i {amd}\n```\n",
        repo = input.image_repository,
        amd = match input.links {
            // Inside the unpacked platform archive.
            Links::GithubRelease(_) => format!(
                "{}/{}-image.docker.tar",
                Arch::Amd64.platform_dir(),
                input.image_name
            ),
            _ => link(
                input,
                Arch::Amd64,
                &format!("{}-image.docker.tar", input.image_name)
            ),
        }
    )?;
    let plugin = if input.has_plugin {
        " + the NIXL plugin (under `/usr/local/lib/plugins/`)"
    } else {
        ""
    };
    let platforms: Vec<String> = input
        .arches
        .iter()
        .map(|arch| format!("linux/{}", arch.debian()))
        .collect();
    writeln!(
        out,
        "The image ({}) ships the static server{plugin}, runs as a non-root user, and starts \
         `memkv start` with `/etc/memkv/config.yaml`: listening on port 9900 (admin API 9901) on \
         all interfaces, which needs an auth key, so mount your own config (with \
         `network.auth_key`) at that path. The LD_PRELOAD shim and Python wheels are not in the \
         image; use the deb/rpm for those.\n",
        platforms.join(", ")
    )?;

    writeln!(out, "### Verification\n")?;
    writeln!(
        out,
        "Each binary and package is signed with both minisign (preferred) and GPG; sha256sums are \
         published alongside, and `SHA256SUMS` lists every file.\n"
    )?;
    let minisign_key = input
        .minisign_public
        .clone()
        .unwrap_or_else(|| "<unsigned build: no minisign key>".to_owned());
    writeln!(
        out,
        "```bash\n# minisign\nminisign -Vm memkv -P {minisign_key}\n\n# sha256\nsha256sum -c memkv.sha256sum\n\n\
         # GPG\ngpg --verify memkv.asc memkv\n```\n"
    )?;
    if let Some(fingerprint) = &input.gpg_fingerprint {
        writeln!(out, "GPG key fingerprint: `{fingerprint}`\n")?;
    }
    writeln!(out, "---\n")?;
    match &input.changes.previous {
        Some(previous) => writeln!(out, "## Changes since {previous}\n")?,
        None => writeln!(out, "## Changes\n")?,
    }
    if !input.changes.body.is_empty() {
        writeln!(out, "{}\n", input.changes.body)?;
    }
    writeln!(out, "---\n")?;
    writeln!(out, "## Documentation\n")?;
    writeln!(out, "- Repository and docs: <{}>", input.homepage)?;
    writeln!(
        out,
        "- Embedded docs (in the binary): `memkv doc` serves the same pages locally.\n"
    )?;
    writeln!(out, "## Support\n")?;
    writeln!(
        out,
        "- Security disclosures: <{}/security/advisories/new>",
        input.homepage
    )?;
    Ok(out)
}

/// Escapes the first `_` when a pair could start emphasis (the seed writes `memkv\_..._amd64`).
fn escape_emphasis(name: &str) -> String {
    if name.matches('_').count() >= 2 {
        name.replacen('_', "\\_", 1)
    } else {
        name.to_owned()
    }
}

fn bundle_sentence(input: &NotesInput<'_>) -> String {
    let mut parts = vec!["the server".to_owned()];
    let sidecars: Vec<&str> = input
        .binaries
        .iter()
        .filter(|b| b.ends_with(".so"))
        .map(String::as_str)
        .collect();
    if !sidecars.is_empty() {
        parts.push(format!("the `.so` sidecars ({})", sidecars.join(", ")));
    }
    if input.binaries.iter().any(|b| b == "memkv-bench") {
        parts.push("`memkv-bench`".to_owned());
    }
    if input.has_wheels {
        parts.push("the Python wheels".to_owned());
    }
    match parts.len() {
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Links, NotesInput, render, section_for};
    use crate::platform::Arch;
    use crate::tag::ReleaseTag;

    /// On a GitHub release every link names an asset the workflow uploads: a package by its
    /// own name, a binary by its platform archive; nothing points into a `linux-*/` tree.
    #[test]
    fn github_release_links_name_flat_assets() {
        let tag = ReleaseTag::parse("RELEASE.2026-06-07T15-11-42Z").expect("tag");
        let base = "https://github.com/memkv/memkv/releases/download/RELEASE.2026-06-07T15-11-42Z";
        let deb = "memkv_20260607151142.0.0_amd64.deb".to_owned();
        let notes = render(&NotesInput {
            tag: &tag,
            changes: section_for(CHANGES, &tag).expect("section"),
            arches: &[Arch::Amd64, Arch::Arm64],
            binaries: vec!["memkv".to_owned()],
            packages: vec![("DEB".to_owned(), Arch::Amd64, deb.clone())],
            empty_slots: Vec::new(),
            has_wheels: false,
            has_plugin: false,
            glibc: "2.28".to_owned(),
            links: Links::GithubRelease(base),
            image_repository: "ghcr.io/memkv/memkv",
            image_name: "memkv",
            minisign_public: None,
            gpg_fingerprint: None,
            homepage: "https://github.com/memkv/memkv",
        })
        .expect("notes");
        for link in [
            format!("({base}/memkv-{tag}-linux-amd64.tar.gz)"),
            format!("({base}/memkv-{tag}-linux-arm64.tar.gz)"),
            format!("({base}/{deb})"),
        ] {
            assert!(notes.contains(&link), "no {link}:\n{notes}");
        }
        assert!(!notes.contains("/linux-amd64/"), "{notes}");
        assert!(!notes.contains("](linux-"), "{notes}");
    }

    const CHANGES: &str = "# memkv changes\n\nintro\n\n## Unreleased\n\nWork in progress.\n\n### Bug Fixes\n\n- b\n\n\
        ## RELEASE.2026-06-07T15-11-42Z\n\nHardens things.\n\n### New Features\n\n- a\n\n\
        ## RELEASE.2026-06-04T21-53-48Z\n\nFirst.\n";

    #[test]
    fn a_tagged_section_names_the_previous_release() {
        let tag = ReleaseTag::parse("RELEASE.2026-06-07T15-11-42Z").expect("tag");
        let section = section_for(CHANGES, &tag).expect("section");
        assert_eq!(section.summary, "Hardens things.");
        assert_eq!(section.body, "### New Features\n\n- a");
        assert_eq!(
            section.previous.as_deref(),
            Some("RELEASE.2026-06-04T21-53-48Z")
        );
    }

    #[test]
    fn an_untagged_release_uses_unreleased() {
        let tag = ReleaseTag::parse("RELEASE.2026-07-01T00-00-00Z").expect("tag");
        let section = section_for(CHANGES, &tag).expect("section");
        assert_eq!(section.summary, "Work in progress.");
        assert_eq!(
            section.previous.as_deref(),
            Some("RELEASE.2026-06-07T15-11-42Z")
        );
    }
}
