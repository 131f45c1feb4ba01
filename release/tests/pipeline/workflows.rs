//! The GitHub workflows are valid and locked down: they validate against the workflow JSON
//! schema (check-jsonschema's vendored copy), zizmor finds nothing, every action is pinned by a
//! full commit SHA, every workflow declares `permissions:`, and the release workflow runs the
//! same release command and checks the tag against the binaries.

use crate::harness::{cmd, output_any, repo};

fn workflows() -> Vec<std::path::PathBuf> {
    let dir = repo().join(".github/workflows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect(".github/workflows")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    files
}

#[test]
fn workflows_match_the_github_workflow_schema() {
    for file in workflows() {
        let (ok, text) = output_any(
            cmd("check-jsonschema")
                .args(["--builtin-schema", "vendor.github-workflows"])
                .arg(&file),
        );
        assert!(ok, "{}: {text}", file.display());
    }
}

#[test]
fn zizmor_finds_nothing() {
    let (ok, text) = output_any(
        cmd("zizmor")
            .args(["--offline", "--no-progress"])
            .arg(repo().join(".github/workflows")),
    );
    assert!(ok && text.contains("No findings"), "zizmor:\n{text}");
}

#[test]
fn actions_are_pinned_by_sha_and_permissions_are_declared() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.lines().any(|l| l.starts_with("permissions:")),
            "{}: no top-level permissions",
            file.display()
        );
        for line in text.lines() {
            let Some(uses) = line.trim().trim_start_matches("- ").strip_prefix("uses:") else {
                continue;
            };
            let reference = uses.split('#').next().unwrap_or("").trim();
            let (_, pin) = reference
                .split_once('@')
                .unwrap_or_else(|| panic!("{}: unpinned {reference}", file.display()));
            assert!(
                pin.len() == 40 && pin.chars().all(|c| c.is_ascii_hexdigit()),
                "{}: {reference} is not pinned by a commit SHA",
                file.display()
            );
        }
    }
    let release =
        std::fs::read_to_string(repo().join(".github/workflows/release.yml")).expect("release.yml");
    assert!(release.contains("cargo xtask release --tag \"$TAG\""));
    assert!(release.contains("tags: [\"RELEASE.*\"]"));
    assert!(release.contains("test \"$got\" = \"memkv $TAG\""));
    let ci = std::fs::read_to_string(repo().join(".github/workflows/ci.yml")).expect("ci.yml");
    assert!(ci.contains("bash .ci/run"));
}

/// The `run: |` block of the release.yml step named `name`, dedented: the block-scalar lines
/// indented deeper than the `run:` key (release.yml writes every multi-line `run` this way).
fn release_step_run(name: &str) -> String {
    let text =
        std::fs::read_to_string(repo().join(".github/workflows/release.yml")).expect("release.yml");
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != format!("- name: {name}"));
    assert!(lines.next().is_some(), "release.yml has no step {name:?}");
    let run_line = lines
        .by_ref()
        .find(|l| l.trim_start().starts_with("run:") || l.trim_start().starts_with("- "))
        .unwrap_or_else(|| panic!("step {name:?} has no run:"));
    assert_eq!(
        run_line.trim(),
        "run: |",
        "step {name:?}: expected a `run: |` block"
    );
    let key_indent = run_line.len() - run_line.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .expect("a non-empty run block");
    let mut script: String = body
        .iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    script.push('\n');
    script
}

/// The release workflow's tag check, run as GitHub runs a `run:` step (`bash -e`), against
/// stub binaries: a wrong tag from either architecture fails the step, the right one passes.
#[test]
fn release_tag_check_step_fails_on_a_wrong_tag_and_passes_on_the_right_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let script = release_step_run("The tag equals the version baked into the binaries");
    assert!(
        !script.contains("${{"),
        "the step must read the tag from env, not expand expressions into the script:\n{script}"
    );
    let tag = "RELEASE.2026-11-25T12-00-00Z";
    let write_exec = |path: &std::path::Path, text: &str| {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write stub");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    for (case, amd64, arm64, should_pass) in [
        ("both right", tag, tag, true),
        ("amd64 wrong", "RELEASE.2026-11-25T11-59-59Z", tag, false),
        ("arm64 wrong", tag, "RELEASE.2026-11-25T11-59-59Z", false),
        ("a stub version", "0.1.0", "0.1.0", false),
    ] {
        let dir = crate::harness::scratch(&format!("tag-check-{}", case.replace(' ', "-")));
        for (arch, printed) in [("amd64", amd64), ("arm64", arm64)] {
            write_exec(
                &dir.join(format!("dist/{tag}/linux-{arch}/memkv")),
                &format!("#!/bin/sh\n[ \"$1\" = -V ] || exit 2\necho \"memkv {printed}\"\n"),
            );
        }
        // The step runs the arm64 binary under qemu-aarch64-static -L <sysroot>: a stand-in
        // that drops `-L <dir>` and runs the (shell) stub directly.
        let bin = dir.join("bin");
        write_exec(
            &bin.join("qemu-aarch64-static"),
            "#!/bin/sh\n[ \"$1\" = -L ] || exit 2\nshift 2\nexec \"$@\"\n",
        );
        std::fs::write(dir.join("step.sh"), &script).expect("write step");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let (ok, text) = output_any(
            cmd("bash")
                .args(["--noprofile", "--norc", "-e", "step.sh"])
                .current_dir(&dir)
                .env("TAG", tag)
                .env("PATH", path),
        );
        assert_eq!(
            ok,
            should_pass,
            "{case}: the step {}:\n{text}",
            if ok { "passed" } else { "failed" }
        );
        if should_pass {
            assert!(
                text.contains(&format!("linux-amd64: memkv {tag}"))
                    && text.contains(&format!("linux-arm64: memkv {tag}")),
                "{case}: {text}"
            );
        }
    }
}

/// The GitHub release's links work: the notes are rendered with `--github-release-url` for this
/// repository and tag, so they name the flat assets `gh release create` uploads, and the
/// per-platform archives they link the binaries to are made, under the name the tool links
/// (`memkv-<tag>-linux-<arch>.tar.gz`), in the build job, before upload-artifact drops the
/// executable bits.
#[test]
fn release_notes_link_the_assets_the_release_uploads() {
    let text =
        std::fs::read_to_string(repo().join(".github/workflows/release.yml")).expect("release.yml");
    assert!(
        text.contains("--github-release-url \"https://github.com/$REPO/releases/download/$TAG\""),
        "release.yml does not render the notes for the GitHub release's assets"
    );
    assert!(text.contains("REPO: ${{ github.repository }}"));
    let build = text.split("\n  publish:").next().expect("build job");
    let archive = build
        .find("tar --sort=name --owner=0 --group=0 --numeric-owner -czf \"memkv-$TAG-$dir.tar.gz\" \"$dir\"")
        .expect("the build job archives each platform directory as memkv-$TAG-linux-<arch>.tar.gz");
    let upload = build
        .find("actions/upload-artifact@")
        .expect("the build job uploads the artifact");
    assert!(
        archive < upload,
        "the archives must be made before the upload"
    );
    let publish = text.split("\n  publish:").nth(1).expect("publish job");
    for asset in [
        "memkv-*.tar.gz",
        "linux-*/*.deb*",
        "linux-*/*.rpm*",
        "linux-*/*.apk*",
    ] {
        assert!(
            publish.contains(asset),
            "gh release create does not upload {asset}"
        );
    }
    assert!(
        !publish.contains("tar -c"),
        "the publish job must not re-archive the downloaded (mode-less) files"
    );
}
