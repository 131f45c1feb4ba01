//! The `memkv` binary: server (`start`), admin client (`admin`), key-value client (`kv`),
//! bundled documentation server (`doc`) and the raw-drive tools (`setup`, `drive`).
//!
//! `main` parses the command line (clap exits 2 on usage errors, 0 after `--help`/`-V`),
//! sets up logging to stderr (filter from `RUST_LOG`, default `info`), dispatches to the
//! command's module under `cmd/` and turns its error into the exit status (see `exit.rs`:
//! 0 success, 1 runtime failure, 2 usage or configuration error).

mod cli;
#[cfg(test)]
mod cli_reference;
mod cmd;
mod docs_site;
mod exit;
mod http_client;
mod version;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::version::VERSION;

/// jemalloc on every build. A stored value is usually freed by another worker thread than the
/// one that allocated it (the put that replaces it runs wherever its connection's task does):
/// glibc's malloc then takes the allocating thread's arena lock, and for values above its
/// per-thread cache (1 KiB) it did so for every value of a batch put, about a fifth of the
/// server's CPU with futex waits among it; jemalloc's thread caches take such blocks back
/// without a lock. musl's malloc is slower still. Measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    exit::report(dispatch(cli))
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start(args) => cmd::start::run(args, VERSION),
        Command::Admin(args) => cmd::admin::run(args),
        Command::Kv(args) => cmd::kv::run(args),
        Command::Doc(args) => cmd::doc::run(args),
        Command::Setup(args) => cmd::setup::run(args),
        Command::Drive(args) => cmd::drive::run(args),
    }
}

/// Logs go to stderr so stdout stays clean for command output (tables, JSON, values).
fn init_logging() {
    use std::io::IsTerminal as _;

    use tracing_subscriber::EnvFilter;

    let (filter, bad_filter) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(e) => (
            EnvFilter::new("info"),
            std::env::var("RUST_LOG").ok().map(|value| (value, e)),
        ),
    };
    // Colours only for a person at a terminal; log files and pipes get plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    if let Some((value, e)) = bad_filter.filter(|(value, _)| !value.is_empty()) {
        tracing::warn!("ignoring RUST_LOG={value:?} ({e}); logging at info");
    }
}
