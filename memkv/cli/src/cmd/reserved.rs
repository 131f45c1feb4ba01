//! `memkv setup` and `memkv drive`: names reserved for raw-drive storage, which arrives with
//! the persistent storage engines. They exist so `--help` shows the full command set; running
//! them is a usage error (exit code 2).

use crate::cli::ReservedArgs;
use crate::exit::usage;

/// Fails with "`memkv <command>` is not available in this build: ...".
pub(crate) fn run(command: &str, args: &ReservedArgs) -> anyhow::Result<()> {
    tracing::debug!(?args.args, "arguments of an unavailable command ignored");
    Err(usage(anyhow::anyhow!(
        "`memkv {command}` is not available in this build: raw-drive storage arrives with the \
         persistent storage engines"
    )))
}
