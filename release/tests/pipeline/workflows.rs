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
