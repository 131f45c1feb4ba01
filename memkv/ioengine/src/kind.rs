//! [`EngineKind`]: which engine to run, chosen from `MEMKV_IO_ENGINE` or by probing.

use std::fmt;
use std::str::FromStr;

use crate::error::EngineError;

/// The environment variable that picks the engine: `io_uring` or `std`.
pub const ENV_VAR: &str = "MEMKV_IO_ENGINE";

/// An I/O engine implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// io_uring (Linux 5.6+): one submission thread per engine owns the ring and submits
    /// queued operations in batches.
    IoUring,
    /// Plain `pread`/`pwrite`/`fdatasync` on a small pool of worker threads. Works
    /// everywhere; the fallback when io_uring is missing or disabled.
    StdFs,
}

/// The outcome of choosing an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineChoice {
    /// The engine to use.
    pub kind: EngineKind,
    /// Why io_uring was not chosen, when the choice fell back to [`EngineKind::StdFs`]
    /// because io_uring is unavailable. `None` when io_uring works or the user asked for
    /// `std`.
    pub fallback_reason: Option<String>,
}

impl EngineKind {
    /// Both kinds, io_uring first.
    pub const ALL: [EngineKind; 2] = [EngineKind::IoUring, EngineKind::StdFs];

    /// The name used in `MEMKV_IO_ENGINE`, `/v1/status` and metrics labels: `io_uring` or
    /// `std`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::IoUring => "io_uring",
            EngineKind::StdFs => "std",
        }
    }

    /// The engine named by `MEMKV_IO_ENGINE`, or [`best_available`](Self::best_available)
    /// when it is unset or empty. An explicit `io_uring` is not probed here: if it does not
    /// work, [`IoEngine::new`](crate::IoEngine::new) fails and says why, rather than quietly
    /// running something else.
    pub fn from_env() -> Result<EngineChoice, EngineError> {
        match std::env::var(ENV_VAR) {
            Ok(value) if !value.trim().is_empty() => Ok(EngineChoice {
                kind: value.parse()?,
                fallback_reason: None,
            }),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(EngineKind::best_available()),
            Err(std::env::VarError::NotUnicode(value)) => Err(EngineError::UnknownKind {
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }

    /// io_uring if this kernel and process can use it, else [`EngineKind::StdFs`] with the
    /// reason (also logged as a warning).
    pub fn best_available() -> EngineChoice {
        match crate::uring::probe() {
            Ok(()) => EngineChoice {
                kind: EngineKind::IoUring,
                fallback_reason: None,
            },
            Err(e) => {
                let reason = error_chain(&e);
                tracing::warn!(reason = %reason, "io_uring is unavailable; using the pread/pwrite I/O engine");
                EngineChoice {
                    kind: EngineKind::StdFs,
                    fallback_reason: Some(reason),
                }
            }
        }
    }

    /// Checks that this kind can run here: always true for [`EngineKind::StdFs`]; for
    /// [`EngineKind::IoUring`], creates a small ring and checks the operations the engine
    /// uses.
    pub fn probe(self) -> Result<(), EngineError> {
        match self {
            EngineKind::IoUring => crate::uring::probe(),
            EngineKind::StdFs => Ok(()),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EngineKind {
    type Err = EngineError;

    /// Parses `io_uring` or `std` (ASCII case-insensitive, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<EngineKind, EngineError> {
        let value = s.trim();
        if value.eq_ignore_ascii_case("io_uring") {
            Ok(EngineKind::IoUring)
        } else if value.eq_ignore_ascii_case("std") {
            Ok(EngineKind::StdFs)
        } else {
            Err(EngineError::UnknownKind {
                value: s.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EngineKind::ALL {
            assert_eq!(kind.as_str().parse::<EngineKind>().expect("parse"), kind);
        }
        assert_eq!(
            " IO_URING ".parse::<EngineKind>().expect("parse"),
            EngineKind::IoUring
        );
    }

    #[test]
    fn unknown_name_is_a_typed_error() {
        let err = "uring".parse::<EngineKind>().expect_err("not a kind");
        assert!(matches!(err, EngineError::UnknownKind { ref value } if value == "uring"));
    }
}
