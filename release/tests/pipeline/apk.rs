//! The .apk, checked without apk-tools (Debian has none): its three gzip segments, the RSA
//! signature over the control segment (`openssl dgst -verify` with the published key), the
//! `.PKGINFO` fields and `datahash`, each file's `APK-TOOLS.checksum.SHA1`, and the static musl
//! server inside, which runs and serves a put/get.

use std::io::Read as _;
use std::path::Path;

use sha1::Digest as _;

use crate::harness::{TAG, VERSION, cmd, package, release, run, scratch, stdout};
use crate::server;

/// Splits concatenated gzip members, returning each member's compressed bytes.
pub(crate) fn gzip_members(bytes: &[u8]) -> Vec<&[u8]> {
    let mut members = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let mut sink = Vec::new();
        decoder.read_to_end(&mut sink).expect("a gzip member");
        let remaining = decoder.into_inner();
        let used = rest.len() - remaining.len();
        members.push(&rest[..used]);
        rest = remaining;
    }
    members
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Entries of a tar fragment (apk's first segments have no end-of-archive blocks).
fn tar_entries(mut data: Vec<u8>) -> Vec<(String, Vec<u8>, Option<String>)> {
    data.extend_from_slice(&[0u8; 1024]);
    let mut archive = tar::Archive::new(data.as_slice());
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let checksum = entry
            .pax_extensions()
            .expect("pax")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .find(|ext| ext.key() == Ok("APK-TOOLS.checksum.SHA1"))
            .map(|ext| ext.value().expect("utf-8").to_owned());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("content");
        out.push((path, content, checksum));
    }
    out
}

#[test]
fn apk_segments_signature_pkginfo_and_checksums_are_valid() {
    let release = release();
    for &arch in &release.arches {
        let apk = package(release, arch, "apk");
        let bytes = std::fs::read(&apk).expect("read apk");
        let members = gzip_members(&bytes);
        assert_eq!(members.len(), 3, "signature, control and data segments");

        // 1. Signature over the compressed control segment.
        let sig = tar_entries(gunzip(members[0]));
        assert_eq!(sig.len(), 1);
        assert_eq!(sig[0].0, ".SIGN.RSA.memkv-release.rsa.pub");
        let dir = scratch(&format!("apk-{}", arch.debian()));
        std::fs::write(dir.join("sig"), &sig[0].1).expect("sig");
        std::fs::write(dir.join("control.tar.gz"), members[1]).expect("control");
        let verified = stdout(
            cmd("openssl")
                .args(["dgst", "-sha1", "-verify"])
                .arg(release.dist.join("memkv-release.rsa.pub"))
                .arg("-signature")
                .arg(dir.join("sig"))
                .arg(dir.join("control.tar.gz")),
        );
        assert_eq!(verified, "Verified OK");

        // 2. Control: .PKGINFO and the scripts.
        let control = tar_entries(gunzip(members[1]));
        let pkginfo = control
            .iter()
            .find(|(p, _, _)| p == ".PKGINFO")
            .map(|(_, c, _)| String::from_utf8_lossy(c).into_owned())
            .expect(".PKGINFO");
        for needle in [
            "pkgname = memkv".to_owned(),
            format!("pkgver = {VERSION}"),
            format!("arch = {}", arch.machine()),
            "license = AGPL-3.0-or-later".to_owned(),
        ] {
            assert!(pkginfo.contains(&needle), "{pkginfo}");
        }
        assert!(control.iter().any(|(p, _, _)| p == ".post-install"));
        assert!(control.iter().any(|(p, _, _)| p == ".pre-deinstall"));
        let datahash = pkginfo
            .lines()
            .find_map(|l| l.strip_prefix("datahash = "))
            .expect("datahash");
        assert_eq!(datahash, hex::encode(sha2::Sha256::digest(members[2])));

        // 3. Data: every file's SHA1, and the static server runs.
        let data = tar_entries(gunzip(members[2]));
        let mut files = 0;
        for (path, content, checksum) in &data {
            if path.ends_with('/') || content.is_empty() && checksum.is_none() {
                continue;
            }
            let want = checksum
                .as_deref()
                .unwrap_or_else(|| panic!("{path} has no checksum"));
            assert_eq!(want, hex::encode(sha1::Sha1::digest(content)), "{path}");
            files += 1;
        }
        assert!(files >= 4, "{data:?}");
        let memkv = data
            .iter()
            .find(|(p, _, _)| p == "usr/bin/memkv")
            .map(|(_, c, _)| c.clone())
            .expect("usr/bin/memkv in the apk");
        let binary = dir.join("memkv");
        std::fs::write(&binary, memkv).expect("write");
        run(cmd("chmod").arg("755").arg(&binary));
        if arch.is_host() {
            assert_eq!(
                stdout(cmd(binary.to_str().expect("utf-8")).arg("-V")),
                format!("memkv {TAG}")
            );
            let port = server::free_port();
            let config = server::loopback_config(&dir, port);
            let mut start = cmd(binary.to_str().expect("utf-8"));
            start.args(["start", "--config"]).arg(&config);
            let _running = server::start(start);
            server::put_get(Path::new(&binary), &format!("127.0.0.1:{port}"), None);
        }
    }
}
