//! Facts about a built ELF file: its machine, whether it is static, the shared libraries it
//! needs and the newest glibc symbol version it references.
//!
//! The release checks every artifact with these before packaging (right architecture; glibc
//! builds within the declared floor; musl binaries static) and writes the facts into the
//! packages' dependencies and the release notes.

use std::path::Path;

use anyhow::{Context, Result, bail};
use object::Endianness;
use object::elf::{DT_NEEDED, FileHeader64, PT_INTERP};
use object::read::elf::{Dyn as _, FileHeader as _, ProgramHeader as _};

/// What [`inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfFacts {
    pub(crate) machine: object::elf::Machine,
    /// `true` when there is no program interpreter and no `DT_NEEDED` entry.
    pub(crate) is_static: bool,
    pub(crate) needed: Vec<String>,
    /// The highest `GLIBC_x.y[.z]` version needed, as numbers; `None` when glibc is not used.
    pub(crate) glibc: Option<Vec<u32>>,
}

/// Reads the ELF headers of `path`.
pub(crate) fn inspect(path: &Path) -> Result<ElfFacts> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    inspect_bytes(&data).with_context(|| format!("{} is not a 64-bit ELF file", path.display()))
}

fn inspect_bytes(data: &[u8]) -> Result<ElfFacts> {
    let header = FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    let machine = header.e_machine(endian);
    let has_interp = header
        .program_headers(endian, data)?
        .iter()
        .any(|ph| ph.p_type(endian) == PT_INTERP);
    let sections = header.sections(endian, data)?;

    let mut needed = Vec::new();
    if let Some((entries, strings_index)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, strings_index)?;
        for entry in entries {
            if entry.d_tag(endian) == DT_NEEDED {
                let name = entry.string(endian, strings)?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }

    let mut glibc: Option<Vec<u32>> = None;
    if let Some((mut verneed, strings_index)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, strings_index)?;
        while let Some((_need, mut aux)) = verneed.next()? {
            while let Some(vernaux) = aux.next()? {
                let name = vernaux.name(endian, strings)?;
                if let Some(version) = parse_glibc_version(name) {
                    glibc = Some(match glibc {
                        Some(best) if best >= version => best,
                        _ => version,
                    });
                }
            }
        }
    }
    Ok(ElfFacts {
        machine,
        is_static: !has_interp && needed.is_empty(),
        needed,
        glibc,
    })
}

/// `GLIBC_2.28` -> `[2, 28]`; `None` for other names such as `GLIBC_PRIVATE`.
fn parse_glibc_version(name: &[u8]) -> Option<Vec<u32>> {
    let text = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    text.split('.').map(|part| part.parse().ok()).collect()
}

/// Parses a floor such as `2.28`.
pub(crate) fn parse_floor(floor: &str) -> Result<Vec<u32>> {
    floor
        .split('.')
        .map(|part| part.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .with_context(|| format!("glibc_floor {floor:?} is not a version such as 2.28"))
}

/// Formats `[2, 28]` as `2.28`.
pub(crate) fn version_string(version: &[u32]) -> String {
    version
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl ElfFacts {
    /// Checks the machine, and for glibc builds the floor, for musl builds static linking
    /// (binaries) or at most musl's libc (shared objects).
    pub(crate) fn check(
        &self,
        what: &str,
        machine: object::elf::Machine,
        glibc_floor: Option<&[u32]>,
        shared_object: bool,
    ) -> Result<()> {
        if self.machine != machine {
            bail!(
                "{what} is built for ELF machine {} instead of {machine}",
                self.machine
            );
        }
        match glibc_floor {
            Some(floor) => {
                if let Some(version) = &self.glibc
                    && version.as_slice() > floor
                {
                    bail!(
                        "{what} needs glibc {} but the declared floor is {}: a newer symbol was \
                         linked; build with cargo-zigbuild's `.{}` target suffix",
                        version_string(version),
                        version_string(floor),
                        version_string(floor)
                    );
                }
            }
            None if shared_object => {
                if let Some(other) = self.needed.iter().find(|n| !n.starts_with("libc.")) {
                    bail!("{what} (musl) needs {other}; only musl's libc may be needed");
                }
            }
            None => {
                if !self.is_static {
                    bail!(
                        "{what} should be a static musl binary but needs {:?}",
                        self.needed
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{inspect, parse_floor, parse_glibc_version, version_string};

    #[test]
    fn glibc_version_names_parse_and_compare() {
        assert_eq!(parse_glibc_version(b"GLIBC_2.28"), Some(vec![2, 28]));
        assert_eq!(parse_glibc_version(b"GLIBC_2.2.5"), Some(vec![2, 2, 5]));
        assert_eq!(parse_glibc_version(b"GLIBC_PRIVATE"), None);
        assert_eq!(parse_glibc_version(b"GCC_3.0"), None);
        assert!(vec![2, 2, 5] < vec![2, 28]);
        assert!(vec![2, 34] > parse_floor("2.28").expect("floor"));
        assert_eq!(version_string(&[2, 28]), "2.28");
    }

    #[test]
    fn the_running_test_binary_is_a_dynamic_glibc_elf() {
        let exe = std::env::current_exe().expect("test binary path");
        let facts = inspect(&exe).expect("the test binary is ELF");
        assert!(!facts.is_static);
        assert!(facts.needed.iter().any(|n| n.starts_with("libc.so")));
        assert!(facts.glibc.is_some());
    }
}
