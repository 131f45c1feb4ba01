//! Reproducibility: a second, unsigned release with the same tag and `SOURCE_DATE_EPOCH`, built
//! from a copy of the checkout in another directory, gives byte-identical binaries, packages,
//! docker archives and OCI blobs. The signed packages of the first run differ only by their
//! signatures: the apk minus its signature segment, and the rpm after its signature header,
//! equal the unsigned ones.
//!
//! The second build shares the first one's cargo target directory: the compiler flags are the
//! same, so dependencies are reused and the workspace crates are recompiled from the other
//! path. With `MEMKV_REPRO_FRESH_TARGET=1` (the release workflow) it builds everything from
//! scratch in a new target directory.

use std::path::{Path, PathBuf};

use crate::harness::{TAG, cmd, release, run, run_release, scratch, stdout};

/// Bytes of an rpm after its lead and signature header (the main header and the payload).
fn rpm_without_signature(bytes: &[u8]) -> &[u8] {
    let sig = &bytes[96..];
    assert_eq!(&sig[..3], &[0x8e, 0xad, 0xe8], "rpm signature header magic");
    let nindex = u32::from_be_bytes(sig[8..12].try_into().expect("4 bytes")) as usize;
    let hsize = u32::from_be_bytes(sig[12..16].try_into().expect("4 bytes")) as usize;
    let len = 16 + 16 * nindex + hsize;
    let padded = len.div_ceil(8) * 8;
    &sig[padded..]
}

fn copy_checkout(to: &Path) {
    let repo = crate::harness::repo();
    let files =
        stdout(
            cmd("git")
                .arg("-C")
                .arg(&repo)
                .args(["ls-files", "-co", "--exclude-standard"]),
        );
    for file in files.lines() {
        let from = repo.join(file);
        if !from.is_file() {
            continue;
        }
        let dst = to.join(file);
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&from, &dst).expect("copying a source file");
    }
    // The build stamps the commit: the copy needs the same git metadata.
    run(cmd("cp")
        .arg("-a")
        .arg(repo.join(".git"))
        .arg(to.join(".git")));
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_second_build_elsewhere_is_byte_identical() {
    let first = release();
    let root = scratch("reproducible");
    let checkout = root.join("elsewhere").join("memkv-copy");
    copy_checkout(&checkout);
    assert_eq!(
        crate::harness::source_fingerprint(&checkout),
        first.sources,
        "the working tree changed while the tests ran (someone edited it): the two builds \
         would not share their sources, so this run cannot judge reproducibility"
    );
    let target_root = if std::env::var_os("MEMKV_REPRO_FRESH_TARGET").is_some() {
        root.join("target")
    } else {
        first.target_root.clone()
    };
    let out = root.join("dist");
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_memkv-release"));
    run_release(&tool, &checkout, &out, &target_root, None, &first.arches);
    let second = out.join(TAG);

    let mut compared = 0;
    let mut differences = Vec::new();
    for file in files_under(&second) {
        let relative = file.strip_prefix(&second).expect("inside").to_path_buf();
        let name = relative.to_string_lossy().into_owned();
        if name == "BUILDINFO.json"
            || name.ends_with(".md")
            || name == "SHA256SUMS"
            || name.ends_with(".sha256sum")
        {
            continue; // timings, and sums over the (signed) packages
        }
        let Ok(a) = std::fs::read(first.dist.join(&relative)) else {
            differences.push(format!("{name} (only in the second build)"));
            continue;
        };
        let b = std::fs::read(&file).expect("read");
        let same = if name.ends_with(".apk") {
            let members = crate::apk::gzip_members(&a);
            let unsigned_part = &a[members[0].len()..];
            unsigned_part == b.as_slice()
        } else if name.ends_with(".rpm") {
            rpm_without_signature(&a) == rpm_without_signature(&b)
        } else {
            a == b
        };
        if !same {
            differences.push(name);
        }
        compared += 1;
    }
    assert!(compared >= 8, "compared only {compared} files");
    assert!(differences.is_empty(), "not reproducible: {differences:?}");
}
