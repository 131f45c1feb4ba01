//! The release pipeline, end to end, checked with the tools its users use.
//!
//! One test binary: the first test that needs the release runs `memkv-release release` once
//! (amd64 and arm64, or only the host with `MEMKV_RELEASE_TEST_ARCHES=host`) with throwaway keys, and
//! every module then checks what it produced: checksums and signatures (`sha256sum`,
//! `minisign`, `gpg`), the .deb (`dpkg-deb`, `lintian`, `dpkg -i` + a put/get + `dpkg -r`), the
//! .rpm (`rpm`, `rpmlint`, an install into a scratch root), the .apk (its segments, signature
//! and checksums), the image (`skopeo`, `umoci` + chroot, `docker load` + `docker run` + a
//! put/get from the host), arm64 binaries under `qemu-aarch64`, reproducibility (a second
//! build from another checkout directory), and the GitHub workflows (zizmor, the workflow
//! schema, SHA pinning).
//!
//! The tools are installed by `scripts/install-release-tools` (run by `scripts/test-all`).

mod apk;
mod arm64;
mod buildinfo;
mod deb;
mod harness;
mod image;
mod reproducible;
mod rpm;
mod scripts;
mod secrets;
mod server;
mod signatures;
mod workflows;
