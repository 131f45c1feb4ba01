//! No secret in the repository: no file git would commit holds private key material (PEM or
//! PGP private key blocks, minisign secret keys). The release keys' secret halves live outside
//! the tree (GitHub secrets); `packaging/keys/` holds only the public halves.

use crate::harness::{cmd, repo, stdout};

/// Markers of private key material, assembled at run time so this file does not match itself.
fn markers() -> Vec<String> {
    let dashes = "-".repeat(5);
    let mut markers: Vec<String> = ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "]
        .iter()
        .map(|kind| format!("{dashes}BEGIN {kind}PRIVATE KEY{dashes}"))
        .collect();
    markers.push(format!("{dashes}BEGIN PGP PRIVATE KEY BLOCK{dashes}"));
    // minisign secret key files: base64 of "Ed" + "Sc" (scrypt-encrypted) or "\0\0" + "B2".
    markers.push(["RWRT", "Y0Iy"].concat());
    markers.push(["RWQA", "AEIy"].concat());
    markers
}

#[test]
fn no_private_key_material_is_in_the_tree() {
    let repo = repo();
    let files =
        stdout(
            cmd("git")
                .arg("-C")
                .arg(&repo)
                .args(["ls-files", "-co", "--exclude-standard"]),
        );
    let markers = markers();
    let mut found = Vec::new();
    for file in files.lines() {
        let Ok(bytes) = std::fs::read(repo.join(file)) else {
            continue; // deleted in the working tree
        };
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            let line = line.trim_start();
            if markers.iter().any(|m| line.starts_with(m.as_str())) {
                found.push(file.to_owned());
                break;
            }
        }
    }
    assert!(
        found.is_empty(),
        "private key material in files git would commit (keep secret keys outside the \
         repository; see docs/release.md, \"Keys\"): {found:?}"
    );
    // The published public keys are there, and are public.
    for key in [
        "memkv-release.minisign.pub",
        "memkv-release.gpg.asc",
        "memkv-release.rsa.pub",
    ] {
        let path = repo.join("packaging/keys").join(key);
        assert!(path.is_file(), "{} is missing", path.display());
    }
}
