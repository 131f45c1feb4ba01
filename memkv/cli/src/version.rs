//! The build's version identity, stamped by `build.rs`.
//!
//! `VERSION` is the release tag (`RELEASE.YYYY-MM-DDTHH-MM-SSZ`, from `MEMKV_RELEASE_TAG` at
//! build time) or `DEVELOPMENT.<git short commit>[-dirty]` (`DEVELOPMENT.unknown` without git).
//! `memkv -V` prints `memkv <VERSION>`; `memkv --version` adds the commit and the compiler.

/// The version tag of this build; passed to the server so `/v1/status` reports it.
pub(crate) const VERSION: &str = env!("MEMKV_BUILD_TAG");

/// What `--version` prints after `memkv `.
pub(crate) const LONG_VERSION: &str = concat!(
    env!("MEMKV_BUILD_TAG"),
    "\ncommit: ",
    env!("MEMKV_BUILD_COMMIT"),
    "\ncompiler: ",
    env!("MEMKV_BUILD_RUSTC"),
);

#[cfg(test)]
#[path = "../build/release_tag.rs"]
mod release_tag;

#[cfg(test)]
mod tests {
    use super::{LONG_VERSION, VERSION};

    const COMMIT: &str = env!("MEMKV_BUILD_COMMIT");

    #[test]
    fn version_is_a_release_or_development_tag() {
        let release = VERSION.strip_prefix("RELEASE.").is_some();
        if release {
            assert_eq!(super::release_tag::validate_release_tag(VERSION), Ok(()));
        } else {
            let rest = VERSION
                .strip_prefix("DEVELOPMENT.")
                .unwrap_or_else(|| panic!("unexpected version tag {VERSION:?}"));
            let commit = rest.strip_suffix("-dirty").unwrap_or(rest);
            assert!(
                commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()),
                "{VERSION:?}"
            );
            if commit != "unknown" {
                assert!(COMMIT.starts_with(commit), "{COMMIT} vs {VERSION}");
            }
        }
        assert!(!VERSION.contains(char::is_whitespace));
        assert!(LONG_VERSION.starts_with(VERSION));
        assert!(
            LONG_VERSION.contains("\ncompiler: rustc "),
            "{LONG_VERSION}"
        );
    }
}
