//! What `BUILDINFO.json` says about the release, checked against the release itself: the empty
//! slots (members not in the workspace yet) are named there and in the notes and ship nowhere,
//! and the glibc the binaries need is the one the packages depend on, at or below the floor.

use std::collections::BTreeSet;
use std::path::Path;

use crate::harness::{Arch, Release, TAG, cmd, package, release, repo, stdout};

fn buildinfo(release: &Release) -> serde_json::Value {
    let text = std::fs::read_to_string(release.dist.join("BUILDINFO.json")).expect("BUILDINFO");
    serde_json::from_str(&text).expect("BUILDINFO.json is JSON")
}

/// The cdylib target names and the (normalised) Python project names the workspace holds,
/// found the way the release tool finds them (release/src/workspace.rs): `cargo metadata
/// --no-deps`, and `pyproject.toml` files up to four levels down outside build outputs.
fn workspace_members() -> (BTreeSet<String>, BTreeSet<String>) {
    let json = stdout(
        cmd(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .current_dir(repo())
            .args(["metadata", "--no-deps", "--format-version", "1"]),
    );
    let metadata: serde_json::Value = serde_json::from_str(&json).expect("cargo metadata");
    let mut cdylibs = BTreeSet::new();
    for package in metadata["packages"].as_array().expect("packages") {
        for target in package["targets"].as_array().expect("targets") {
            if target["kind"]
                .as_array()
                .expect("kind")
                .iter()
                .any(|k| k == "cdylib")
            {
                cdylibs.insert(target["name"].as_str().expect("name").to_owned());
            }
        }
    }
    let mut wheels = BTreeSet::new();
    find_pyprojects(&repo(), 0, &mut wheels);
    (cdylibs, wheels)
}

fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

fn find_pyprojects(dir: &Path, depth: usize, found: &mut BTreeSet<String>) {
    if depth > 4 {
        return;
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("pyproject.toml")) {
        let value: toml::Table = toml::from_str(&text).expect("pyproject.toml parses");
        if let Some(name) = value
            .get("project")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
        {
            found.insert(normalise(name));
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = ["target", "dist", ".git", "node_modules", ".venv"].contains(&name.as_str())
            || (depth == 0 && name.starts_with('.'));
        if !skip && entry.file_type().is_ok_and(|t| t.is_dir()) {
            find_pyprojects(&entry.path(), depth + 1, found);
        }
    }
}

/// A slot of the declaration that the release must treat as empty or present.
struct Slot {
    /// As BUILDINFO.json and the notes spell it: `NIXL plugin (cdylib:plugin_MEMKV)`.
    label: String,
    src: String,
    /// Package paths (`/usr/lib/memkv/libplugin_MEMKV.so`, or `/usr/share/memkv/wheels/<name>-`
    /// as a prefix for wheels).
    paths: Vec<String>,
    exists: bool,
}

/// The NIXL plugin, the LD_PRELOAD shim and the wheels, from packaging/package.toml.
fn declared_slots() -> Vec<Slot> {
    let declaration: toml::Table = toml::from_str(
        &std::fs::read_to_string(repo().join("packaging/package.toml")).expect("package.toml"),
    )
    .expect("package.toml parses");
    let (cdylibs, wheels) = workspace_members();
    let mut slots: Vec<Slot> = Vec::new();
    for entry in declaration["file"].as_array().expect("[[file]]") {
        let src = entry["src"].as_str().expect("src");
        let dst = entry["dst"].as_str().expect("dst");
        let Some(slot) = entry.get("slot").and_then(toml::Value::as_str) else {
            continue;
        };
        let (path, exists) = if let Some(name) = src.strip_prefix("cdylib:") {
            (dst.to_owned(), cdylibs.contains(name))
        } else if let Some(name) = src.strip_prefix("wheel:") {
            let name = normalise(name);
            (format!("{dst}{name}-"), wheels.contains(&name))
        } else {
            continue;
        };
        let label = format!("{slot} ({src})");
        match slots.iter_mut().find(|s| s.label == label) {
            Some(known) => known.paths.push(path),
            None => slots.push(Slot {
                label,
                src: src.to_owned(),
                paths: vec![path],
                exists,
            }),
        }
    }
    let names: Vec<&str> = slots.iter().map(|s| s.src.as_str()).collect();
    assert_eq!(
        names,
        [
            "cdylib:plugin_MEMKV",
            "cdylib:memkv_preload",
            "wheel:memkv_lmcache",
            "wheel:memkv_sglang",
            "wheel:memkv_vllm"
        ],
        "the declaration's member slots changed: update this test"
    );
    slots
}

/// Every path a package lists: `dpkg-deb -c` and `rpm -qpl`.
fn package_paths(release: &Release, arch: Arch) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    let deb = stdout(cmd("dpkg-deb").arg("-c").arg(package(release, arch, "deb")));
    for line in deb.lines() {
        let name = line.split(" -> ").next().unwrap_or(line);
        let path = name.split_whitespace().last().expect("a path");
        paths.push(("deb".to_owned(), path.trim_start_matches('.').to_owned()));
    }
    let rpm = stdout(cmd("rpm").arg("-qpl").arg(package(release, arch, "rpm")));
    for path in rpm.lines() {
        paths.push(("rpm".to_owned(), path.to_owned()));
    }
    paths
}

#[test]
fn empty_slots_are_named_in_buildinfo_and_notes_and_ship_nowhere() {
    let release = release();
    let info = buildinfo(release);
    let empty: Vec<&str> = info["empty_slots"]
        .as_array()
        .expect("empty_slots is a list")
        .iter()
        .map(|v| v.as_str().expect("a slot"))
        .collect();
    let notes = std::fs::read_to_string(release.dist.join(format!("release-notes-{TAG}.md")))
        .expect("release notes");
    let listed: Vec<(Arch, Vec<(String, String)>)> = release
        .arches
        .iter()
        .map(|&arch| (arch, package_paths(release, arch)))
        .collect();
    for slot in declared_slots() {
        if slot.exists {
            // The member has landed: its slot is filled, and the packages hold it.
            assert!(
                !empty.contains(&slot.label.as_str()),
                "{} exists but BUILDINFO.json calls its slot empty: {empty:?}",
                slot.src
            );
            continue;
        }
        assert!(
            empty.contains(&slot.label.as_str()),
            "BUILDINFO.json empty_slots lacks {:?}: {empty:?}",
            slot.label
        );
        assert!(
            notes.contains(&slot.label),
            "the release notes do not list the empty slot {:?}",
            slot.label
        );
        for (arch, paths) in &listed {
            for path in &slot.paths {
                let shipped: Vec<_> = paths.iter().filter(|(_, p)| p.starts_with(path)).collect();
                assert!(
                    shipped.is_empty(),
                    "{arch:?}: empty slot {} ships {shipped:?}",
                    slot.label
                );
            }
        }
        for &arch in &release.arches {
            let downloads: Vec<String> = std::fs::read_dir(arch.dir(release))
                .expect("platform dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            let file = match slot.src.split_once(':') {
                Some(("cdylib", name)) => format!("lib{name}.so"),
                Some((_, name)) => format!("{}-", normalise(name)),
                None => unreachable!(),
            };
            let found: Vec<&String> = downloads.iter().filter(|f| f.starts_with(&file)).collect();
            assert!(
                found.is_empty(),
                "{arch:?}: empty slot {} has files {found:?}",
                slot.label
            );
        }
    }
    // No shared library at all is published while neither cdylib member exists.
    if declared_slots()
        .iter()
        .filter(|s| s.src.starts_with("cdylib:"))
        .all(|s| !s.exists)
    {
        for &arch in &release.arches {
            let libs: Vec<String> = std::fs::read_dir(arch.dir(release))
                .expect("platform dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|f| f.starts_with("lib") && f.contains(".so"))
                .collect();
            assert!(libs.is_empty(), "{arch:?}: {libs:?}");
        }
    }
}

/// `X.Y` as numbers.
fn version(text: &str) -> Vec<u32> {
    text.split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("{text:?} is not X.Y")))
        .collect()
}

#[test]
fn glibc_needed_is_at_or_below_the_floor_and_is_what_the_packages_depend_on() {
    let release = release();
    let info = buildinfo(release);
    let floor = info["glibc_floor"].as_str().expect("glibc_floor");
    let needed = info["glibc_needed"].as_str().expect("glibc_needed");
    assert_eq!(
        floor, "2.28",
        "the declared floor changed: RHEL 8 has glibc 2.28"
    );
    assert!(
        version(needed) <= version(floor),
        "BUILDINFO.json: glibc_needed {needed} is newer than the floor {floor}"
    );
    for &arch in &release.arches {
        // Every glibc binary published for download, read with readelf, not the tool's parser.
        let mut newest: Vec<u32> = Vec::new();
        for entry in std::fs::read_dir(arch.dir(release)).expect("platform dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let is_elf = std::fs::read(&path).is_ok_and(|b| b.starts_with(b"\x7fELF"));
            if !is_elf {
                continue;
            }
            let versions = stdout(cmd("readelf").arg("--version-info").arg(&path));
            let mut own: Vec<Vec<u32>> = versions
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("GLIBC_"))
                .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .map(version)
                .collect();
            own.sort();
            let own = own
                .pop()
                .unwrap_or_else(|| panic!("{name}: no GLIBC_ version"));
            assert!(
                own <= version(floor),
                "{arch:?} {name} needs glibc {own:?}, above the floor {floor}"
            );
            newest = newest.max(own);
        }
        assert_eq!(
            newest,
            version(needed),
            "{arch:?}: BUILDINFO.json's glibc_needed is not the newest the binaries need"
        );
        let depends = stdout(
            cmd("dpkg-deb")
                .args(["-f"])
                .arg(package(release, arch, "deb"))
                .arg("Depends"),
        );
        let libc6: Vec<&str> = depends
            .split(',')
            .map(str::trim)
            .filter(|d| d.starts_with("libc6"))
            .collect();
        assert_eq!(
            libc6,
            [format!("libc6 (>= {needed})")],
            "{arch:?}: Depends: {depends}"
        );
        let requires = stdout(cmd("rpm").arg("-qpR").arg(package(release, arch, "rpm")));
        assert!(
            requires
                .lines()
                .any(|l| l.trim() == format!("glibc >= {needed}")),
            "{arch:?}: rpm Requires: {requires}"
        );
    }
}
