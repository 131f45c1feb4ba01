//! Build script for the `memkv-bench` binary: stamps `memkv-bench -V` with the build's version
//! tag exactly as `memkv -V` is stamped (`MEMKV_RELEASE_TAG`, validated, or
//! `DEVELOPMENT.<git commit>[-dirty]`), by sharing the `memkv` binary's build modules, so
//! every packaged binary carries the release tag.

#[path = "../cli/build/release_tag.rs"]
mod release_tag;
#[path = "../cli/build/version.rs"]
mod version;

fn main() {
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        eprintln!("error: cargo did not set CARGO_MANIFEST_DIR");
        std::process::exit(1);
    };
    if let Err(message) = version::emit(std::path::Path::new(&manifest_dir)) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
