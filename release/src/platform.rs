//! The architectures, C library flavours and package formats of a release, and the names each
//! ecosystem uses for them.

use std::fmt;

use anyhow::{Result, bail};
use serde::Deserialize;

/// A CPU architecture the release is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub(crate) const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// The architecture of the machine running the tool.
    pub(crate) fn host() -> Result<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Ok(Self::Amd64),
            "aarch64" => Ok(Self::Arm64),
            other => bail!("the host architecture {other} is not a release architecture"),
        }
    }

    /// Debian and OCI name (`amd64`, `arm64`).
    pub(crate) fn debian(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// Kernel, rpm and Alpine name (`x86_64`, `aarch64`).
    pub(crate) fn machine(self) -> &'static str {
        match self {
            Self::Amd64 => "x86_64",
            Self::Arm64 => "aarch64",
        }
    }

    /// The download directory, `linux-amd64`.
    pub(crate) fn platform_dir(self) -> String {
        format!("linux-{}", self.debian())
    }

    /// The Rust target triple for a flavour (without cargo-zigbuild's glibc suffix).
    pub(crate) fn triple(self, flavor: Flavor) -> String {
        let libc = match flavor {
            Flavor::Glibc => "gnu",
            Flavor::Musl => "musl",
        };
        format!("{}-unknown-linux-{libc}", self.machine())
    }

    /// The ELF machine number (`e_machine`).
    pub(crate) fn elf_machine(self) -> object::elf::Machine {
        match self {
            Self::Amd64 => object::elf::EM_X86_64,
            Self::Arm64 => object::elf::EM_AARCH64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.debian())
    }
}

/// Which C library a build links against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Flavor {
    /// glibc, with the symbol-version floor of the declaration (downloads, .deb, .rpm).
    Glibc,
    /// musl, binaries static (.apk, the image).
    Musl,
}

impl Flavor {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Glibc => "glibc",
            Self::Musl => "musl",
        }
    }
}

/// A package format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Deb,
    Rpm,
    Apk,
}

impl Format {
    pub(crate) const ALL: [Format; 3] = [Format::Deb, Format::Rpm, Format::Apk];

    /// nfpm's packager name.
    pub(crate) fn packager(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
        }
    }

    /// The C library the packaged binaries use.
    pub(crate) fn flavor(self) -> Flavor {
        match self {
            Self::Deb | Self::Rpm => Flavor::Glibc,
            Self::Apk => Flavor::Musl,
        }
    }

    /// The file name, exactly as the original names its packages.
    pub(crate) fn file_name(self, name: &str, version: &str, arch: Arch) -> String {
        match self {
            Self::Deb => format!("{name}_{version}_{}.deb", arch.debian()),
            Self::Rpm => format!("{name}-{version}-1.{}.rpm", arch.machine()),
            Self::Apk => format!("{name}_{version}_{}.apk", arch.machine()),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.packager())
    }
}

#[cfg(test)]
mod tests {
    use super::{Arch, Format};

    #[test]
    fn package_file_names_match_the_original() {
        let v = "20260607151142.0.0";
        assert_eq!(
            Format::Deb.file_name("memkv", v, Arch::Amd64),
            "memkv_20260607151142.0.0_amd64.deb"
        );
        assert_eq!(
            Format::Deb.file_name("memkv", v, Arch::Arm64),
            "memkv_20260607151142.0.0_arm64.deb"
        );
        assert_eq!(
            Format::Rpm.file_name("memkv", v, Arch::Amd64),
            "memkv-20260607151142.0.0-1.x86_64.rpm"
        );
        assert_eq!(
            Format::Rpm.file_name("memkv", v, Arch::Arm64),
            "memkv-20260607151142.0.0-1.aarch64.rpm"
        );
        assert_eq!(
            Format::Apk.file_name("memkv", v, Arch::Amd64),
            "memkv_20260607151142.0.0_x86_64.apk"
        );
        assert_eq!(
            Format::Apk.file_name("memkv", v, Arch::Arm64),
            "memkv_20260607151142.0.0_aarch64.apk"
        );
    }
}
