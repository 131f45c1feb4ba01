//! Exit codes and the typed error that selects them.
//!
//! | Code | Meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | runtime failure: the command ran and failed (a server unreachable or unhealthy, an I/O error, the server stopped on an error) |
//! | 2 | usage or configuration error: bad flags or arguments (reported by clap), an unreadable or invalid config file or certificate, a command not available in this build |
//!
//! Commands return `anyhow::Result`; an error is a usage/configuration error (exit 2) when a
//! [`UsageError`] is anywhere in its chain, otherwise a runtime failure (exit 1).

use std::process::ExitCode;

/// Exit status for success.
pub(crate) const SUCCESS: u8 = 0;
/// Exit status for a runtime failure.
pub(crate) const FAILURE: u8 = 1;
/// Exit status for a usage or configuration error (clap uses the same for bad flags).
pub(crate) const USAGE: u8 = 2;

/// Marks an error as the user's to fix in the invocation or configuration: exit code 2.
///
/// Wrap with [`usage`]; `Display` shows the wrapped error's whole chain.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub(crate) struct UsageError(anyhow::Error);

/// Turns any error into a usage/configuration error (exit code 2).
pub(crate) fn usage(err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(UsageError(err.into()))
}

/// The exit code for a command's error.
pub(crate) fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<UsageError>()) {
        USAGE
    } else {
        FAILURE
    }
}

/// Converts a command's outcome into the process exit code, printing the error to stderr.
pub(crate) fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::from(SUCCESS),
        Err(err) => {
            eprintln!("memkv: error: {}", message(&err));
            ExitCode::from(code_for(&err))
        }
    }
}

/// The error and its causes, joined with `: `, leaving out a cause whose text an outer
/// message already quotes (library errors often embed their source in their own message).
pub(crate) fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::{FAILURE, USAGE, code_for, message, usage};

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the storage engine: {0}")]
    struct Quoting(#[from] std::io::Error);

    #[test]
    fn a_cause_that_the_message_already_quotes_is_printed_once() {
        let err = anyhow::Error::new(Quoting(std::io::Error::other(
            "drive d0 is from another set",
        )));
        assert_eq!(
            message(&err),
            "cannot open the storage engine: drive d0 is from another set"
        );
        let err = anyhow::Error::new(std::io::Error::other("no such file")).context("reading x");
        assert_eq!(message(&err), "reading x: no such file");
    }

    #[test]
    fn usage_errors_exit_2_even_under_context() {
        let err = usage(anyhow::anyhow!("bad key `foo`")).context("failed to load config");
        assert_eq!(code_for(&err), USAGE);
        assert_eq!(format!("{err:#}"), "failed to load config: bad key `foo`");
    }

    #[test]
    fn other_errors_exit_1() {
        let err: anyhow::Result<()> =
            Err(std::io::Error::other("connection reset")).context("failed to query server");
        assert_eq!(code_for(&err.unwrap_err()), FAILURE);
    }
}
