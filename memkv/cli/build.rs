//! Build script for the `memkv` binary.
//!
//! Two jobs, each in its own module under `build/`:
//! - `version`: stamps the build with its version tag (`MEMKV_RELEASE_TAG`, validated, or
//!   `DEVELOPMENT.<git commit>[-dirty]`), the git commit and the rustc version;
//! - `docs`: renders the repository's `docs/` Markdown to HTML and generates the Rust table that
//!   `memkv doc` serves, so the binary needs no docs directory at run time.
//!
//! A failure prints a message saying what is wrong and how to fix it, and fails the build.

#[path = "build/docs.rs"]
mod docs;
#[path = "build/release_tag.rs"]
mod release_tag;
#[path = "build/version.rs"]
mod version;

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env_var("OUT_DIR"));

    if let Err(message) = version::emit(&manifest_dir) {
        fail(&message);
    }
    let docs_dir = manifest_dir.join("..").join("..").join("docs");
    if let Err(message) = docs::generate(&docs_dir, &out_dir) {
        fail(&message);
    }
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
