//! Checksums and detached signatures of the release files.
//!
//! For every published file `F`: `F.sha256sum` (one `sha256sum -c` line), `F.minisig`
//! (minisign, made with the `minisign` crate, prehashed as minisign 0.10+ does) and `F.asc`
//! (GPG, armored, SHA-512). The release directory also gets `SHA256SUMS` over every file, signed
//! the same two ways, and the public keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest as _, Sha256};

use crate::external;
use crate::keys::SigningKeys;

/// Hex sha256 of a file.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

fn file_name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned())
}

/// Writes `F.sha256sum` next to each file and `SHA256SUMS` (paths relative to `root`).
pub(crate) fn write_checksums(root: &Path, files: &[PathBuf]) -> Result<PathBuf> {
    let mut lines = Vec::new();
    for file in files {
        let hash = sha256_file(file)?;
        let name = file_name(file)?;
        let sum_path = file.with_file_name(format!("{name}.sha256sum"));
        std::fs::write(&sum_path, format!("{hash}  {name}\n"))
            .with_context(|| format!("writing {}", sum_path.display()))?;
        let relative = file
            .strip_prefix(root)
            .with_context(|| format!("{} is outside {}", file.display(), root.display()))?;
        lines.push(format!("{hash}  {}\n", relative.display()));
    }
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    let sums = root.join("SHA256SUMS");
    std::fs::write(&sums, lines.concat()).with_context(|| format!("writing {}", sums.display()))?;
    Ok(sums)
}

/// Writes `F.minisig` and `F.asc` for each file.
pub(crate) fn sign_files(keys: &SigningKeys, files: &[PathBuf], epoch: i64) -> Result<()> {
    for file in files {
        minisign_file(keys, file, epoch)?;
        gpg_sign(keys, file)?;
    }
    Ok(())
}

fn minisign_file(keys: &SigningKeys, file: &Path, epoch: i64) -> Result<()> {
    let name = file_name(file)?;
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let trusted = format!("timestamp:{epoch}\tfile:{name}\thashed");
    let signature = minisign::sign(
        Some(&keys.minisign_public),
        &keys.minisign_secret,
        reader,
        Some(&trusted),
        Some("signature from the memkv release key"),
    )
    .with_context(|| format!("minisigning {}", file.display()))?;
    let out = file.with_file_name(format!("{name}.minisig"));
    std::fs::write(&out, signature.into_string())
        .with_context(|| format!("writing {}", out.display()))
}

fn gpg_sign(keys: &SigningKeys, file: &Path) -> Result<()> {
    let name = file_name(file)?;
    let out = file.with_file_name(format!("{name}.asc"));
    external::run(
        keys.gpg
            .command()
            .args([
                "--yes",
                "--armor",
                "--detach-sign",
                "--digest-algo",
                "SHA512",
            ])
            .args(["--local-user", &keys.gpg.fingerprint, "--output"])
            .arg(&out)
            .arg(file),
        &format!("GPG-signing {name}"),
    )?;
    Ok(())
}

/// Writes the public halves of the keys into the release directory.
pub(crate) fn write_public_keys(keys: &SigningKeys, root: &Path) -> Result<()> {
    let minisign_pub = keys
        .minisign_public
        .to_box()
        .context("encoding the minisign public key")?
        .into_string();
    for (name, text) in [
        ("memkv-release.minisign.pub", minisign_pub.as_str()),
        ("memkv-release.gpg.asc", keys.gpg.public_armored.as_str()),
        (keys.apk_key_name.as_str(), keys.apk_public_pem.as_str()),
    ] {
        let path = root.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_checksums;

    #[test]
    fn checksum_files_use_sha256sum_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("linux-amd64");
        std::fs::create_dir(&sub).expect("mkdir");
        let file = sub.join("hello");
        std::fs::write(&file, "hello\n").expect("write");
        let sums = write_checksums(dir.path(), std::slice::from_ref(&file)).expect("sums");
        const HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert_eq!(
            std::fs::read_to_string(sub.join("hello.sha256sum")).expect("read"),
            format!("{HELLO}  hello\n")
        );
        assert_eq!(
            std::fs::read_to_string(sums).expect("read"),
            format!("{HELLO}  linux-amd64/hello\n")
        );
    }
}
