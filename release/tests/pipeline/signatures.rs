//! Checksums, signatures, names, versions and notes of the release, checked the way a user
//! would: `sha256sum -c`, `minisign -V`, `gpg --verify`, `<binary> -V`.

use crate::harness::{
    Arch, TAG, VERSION, cmd, output_any, package, published, release, run, scratch, stdout,
};

#[test]
fn sha256sum_checks_every_file_and_catches_tampering() {
    let release = release();
    run(cmd("sha256sum")
        .current_dir(&release.dist)
        .args(["-c", "--strict", "SHA256SUMS"]));
    let files = published(release);
    assert!(files.len() >= 4 * release.arches.len(), "{files:?}");
    for file in &files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        run(cmd("sha256sum")
            .current_dir(file.parent().expect("dir"))
            .args(["-c", "--strict", &format!("{name}.sha256sum")]));
    }
    // A changed byte is caught.
    let tampered = scratch("tampered-sha");
    let file = &files[0];
    let name = file.file_name().expect("name");
    let mut bytes = std::fs::read(file).expect("read");
    bytes[100] ^= 1;
    std::fs::write(tampered.join(name), bytes).expect("write");
    std::fs::copy(
        file.with_file_name(format!("{}.sha256sum", name.to_string_lossy())),
        tampered.join(format!("{}.sha256sum", name.to_string_lossy())),
    )
    .expect("copy");
    let (ok, _) = output_any(
        cmd("sha256sum")
            .current_dir(&tampered)
            .args(["-c", &format!("{}.sha256sum", name.to_string_lossy())]),
    );
    assert!(!ok, "sha256sum accepted a tampered file");
}

#[test]
fn minisign_cli_verifies_every_signature_made_by_the_crate() {
    let release = release();
    let public = std::fs::read_to_string(release.keys.join("minisign.pub")).expect("pub");
    let base64 = public.lines().nth(1).expect("key line").trim().to_owned();
    let mut files = published(release);
    files.push(release.dist.join("SHA256SUMS"));
    for file in &files {
        let text = stdout(cmd("minisign").arg("-Vm").arg(file).args(["-P", &base64]));
        assert!(
            text.contains("Signature and comment signature verified"),
            "{text}"
        );
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            text.contains(&format!("file:{name}")),
            "trusted comment: {text}"
        );
    }
    // The public key file published with the release verifies too.
    run(cmd("minisign")
        .arg("-Vm")
        .arg(&files[0])
        .arg("-p")
        .arg(release.dist.join("memkv-release.minisign.pub")));
    // A tampered file fails.
    let dir = scratch("tampered-minisign");
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut bytes = std::fs::read(&files[0]).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(dir.join(&name), bytes).expect("write");
    std::fs::copy(
        files[0].with_file_name(format!("{name}.minisig")),
        dir.join(format!("{name}.minisig")),
    )
    .expect("copy sig");
    let (ok, text) = output_any(
        cmd("minisign")
            .arg("-Vm")
            .arg(dir.join(&name))
            .args(["-P", &base64]),
    );
    assert!(!ok, "minisign accepted a tampered file: {text}");
}

#[test]
fn gpg_verifies_every_detached_signature() {
    let release = release();
    let home = scratch("gpg-verify");
    run(cmd("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--import"])
        .arg(release.dist.join("memkv-release.gpg.asc")));
    let mut files = published(release);
    files.push(release.dist.join("SHA256SUMS"));
    for file in &files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let (ok, text) = output_any(
            cmd("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--verify"])
                .arg(file.with_file_name(format!("{name}.asc")))
                .arg(file),
        );
        assert!(ok && text.contains("Good signature"), "{name}: {text}");
    }
    let _ = cmd("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "all"])
        .output();
}

#[test]
fn files_are_named_exactly_as_the_original_names_them() {
    let release = release();
    for &arch in &release.arches {
        for format in ["deb", "rpm", "apk"] {
            package(release, arch, format);
        }
        for name in ["memkv", "memkv-image.docker.tar"] {
            assert!(
                arch.dir(release).join(name).is_file(),
                "{arch:?}: {name} missing"
            );
        }
    }
    assert!(
        release
            .dist
            .join(format!("release-notes-{TAG}.md"))
            .is_file()
    );
    assert!(release.dist.join("oci/index.json").is_file());
    // Never a placeholder: an empty slot leaves no file behind.
    for &arch in &release.arches {
        for entry in std::fs::read_dir(arch.dir(release)).expect("list") {
            let path = entry.expect("entry").path();
            let size = path.metadata().expect("stat").len();
            assert!(size > 0, "{} is empty", path.display());
        }
    }
}

#[test]
fn every_host_binary_prints_the_release_tag() {
    let release = release();
    for &arch in release.arches.iter().filter(|a| a.is_host()) {
        let binary = arch.dir(release).join("memkv");
        let text = stdout(cmd(binary.to_str().expect("utf-8")).arg("-V"));
        assert_eq!(text, format!("memkv {TAG}"));
    }
}

#[test]
fn release_notes_follow_the_seed_layout() {
    let release = release();
    let notes = std::fs::read_to_string(release.dist.join(format!("release-notes-{TAG}.md")))
        .expect("notes");
    let public = std::fs::read_to_string(release.keys.join("minisign.pub")).expect("pub");
    let base64 = public.lines().nth(1).expect("key line").trim();
    for needle in [
        format!("# memkv {TAG}"),
        "Released: 2026-11-25".to_owned(),
        "## Downloads".to_owned(),
        "### Server Binary".to_owned(),
        "### Packages".to_owned(),
        "### Container Image".to_owned(),
        "### Verification".to_owned(),
        format!("minisign -Vm memkv -P {base64}"),
        "sha256sum -c memkv.sha256sum".to_owned(),
        "## Documentation".to_owned(),
    ] {
        assert!(notes.contains(&needle), "notes lack {needle:?}:\n{notes}");
    }
    for &arch in &release.arches {
        let link = format!("(linux-{}/memkv)", arch.debian());
        assert!(notes.contains(&link), "notes lack {link}");
        let deb = format!("[memkv\\_{VERSION}_{}.deb]", arch.debian());
        assert!(notes.contains(&deb), "notes lack {deb}");
        let rpm = format!("memkv-{VERSION}-1.{}.rpm", arch.machine());
        assert!(notes.contains(&rpm), "notes lack {rpm}");
    }
    if release.arches.contains(&Arch::Arm64) {
        assert!(notes.contains("| Linux    | arm64"));
    }
}

/// `memkv-release notes` copies the built release's notes (it does not render them again): the
/// copy is byte for byte the file in the release directory; a tag never built is an error.
#[test]
fn notes_command_copies_the_release_notes() {
    let release = release();
    let tool = env!("CARGO_BIN_EXE_memkv-release");
    let out = scratch("notes-command");
    let dist = release.dist.parent().expect("the --out directory");
    let printed = stdout(
        cmd(tool)
            .current_dir(crate::harness::repo())
            .args(["notes", "--tag", TAG, "--dist"])
            .arg(dist)
            .arg("--out")
            .arg(&out),
    );
    let name = format!("release-notes-{TAG}.md");
    assert_eq!(printed, out.join(&name).display().to_string());
    assert_eq!(
        std::fs::read(out.join(&name)).expect("copied notes"),
        std::fs::read(release.dist.join(&name)).expect("release notes")
    );
    let (ok, text) = output_any(
        cmd(tool)
            .current_dir(crate::harness::repo())
            .args(["notes", "--tag", "RELEASE.2000-01-01T00-00-00Z", "--dist"])
            .arg(dist)
            .arg("--out")
            .arg(&out),
    );
    assert!(!ok && text.contains("does not exist"), "{text}");
}

/// The README publishes the real release keys: its minisign public key and key id are those of
/// packaging/keys/memkv-release.minisign.pub, its GPG fingerprint that of
/// packaging/keys/memkv-release.gpg.asc (as `gpg --show-keys` reads it).
#[test]
fn readme_key_fingerprints_match_packaging_keys() {
    let repo = crate::harness::repo();
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let section = readme
        .split("## Verifying downloads")
        .nth(1)
        .expect("README has a `## Verifying downloads` section");
    let section = section.split("\n## ").next().unwrap_or(section);

    let minisign = std::fs::read_to_string(repo.join("packaging/keys/memkv-release.minisign.pub"))
        .expect("minisign public key");
    let mut lines = minisign.lines();
    let key_id = lines
        .next()
        .and_then(|l| l.strip_prefix("untrusted comment: minisign public key "))
        .expect("the minisign .pub comment names the key id")
        .trim();
    let public = lines.next().expect("the key line").trim();
    // The key id in the comment is the one inside the key (bytes 2..10, little endian).
    let bytes = stdout(cmd("sh").args([
        "-c",
        "printf %s \"$1\" | base64 -d | od -An -tx1 -v",
        "sh",
        public,
    ]));
    let bytes: Vec<&str> = bytes.split_whitespace().collect();
    assert_eq!(
        bytes.len(),
        42,
        "a minisign public key is 42 bytes: {public}"
    );
    let inside: String = bytes[2..10].iter().rev().copied().collect();
    assert_eq!(
        inside.to_ascii_uppercase(),
        key_id,
        "the .pub comment's key id"
    );
    assert!(
        section.contains(&format!("minisign -Vm memkv -P {public}")),
        "README's minisign command does not use {public}"
    );
    assert!(
        section.contains(&format!("`{public}` (key id `{key_id}`)")),
        "README's key table lacks `{public}` (key id `{key_id}`)"
    );

    let colons = stdout(
        cmd("gpg")
            .args(["--show-keys", "--with-colons"])
            .arg(repo.join("packaging/keys/memkv-release.gpg.asc")),
    );
    let fingerprint = colons
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| !f.is_empty()))
        .expect("a fingerprint");
    assert_eq!(fingerprint.len(), 40, "{fingerprint}");
    // The README groups it as gpg prints it: 10 groups of 4, two spaces in the middle.
    let groups: Vec<&str> = (0..10).map(|i| &fingerprint[i * 4..i * 4 + 4]).collect();
    let printed = format!("{}  {}", groups[..5].join(" "), groups[5..].join(" "));
    assert!(
        section.contains(&format!("`{printed}`")),
        "README's GPG fingerprint is not `{printed}` (packaging/keys/memkv-release.gpg.asc)"
    );
    assert!(
        colons
            .lines()
            .any(|l| l.starts_with("pub:") && l.split(':').nth(2) == Some("4096")),
        "the GPG key is not RSA 4096 as the README says:\n{colons}"
    );
}
