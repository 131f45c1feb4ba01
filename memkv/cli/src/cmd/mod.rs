//! One module per `memkv` command; each exposes `run(args) -> anyhow::Result<()>`.

pub(crate) mod admin;
pub(crate) mod doc;
pub(crate) mod drive;
pub(crate) mod kv;
pub(crate) mod setup;
pub(crate) mod start;

use std::io::Write as _;

/// Writes `text` to standard output. A closed pipe (`memkv admin status | head -1`) is not an
/// error; other write failures are.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("failed to write to standard output"))
        }
        _ => Ok(()),
    }
}
