//! `memkv drive info|check|wipe`: offline maintenance of formatted drives (server stopped).

use std::fmt::Write as _;

use anyhow::Context as _;
use memkv_store::disk::inspect::{check_drive, drive_superblock, wipe_drives};

use crate::cli::{DriveArgs, DriveCommand};
use crate::cmd::setup::hex;

pub(crate) fn run(args: DriveArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    rt.block_on(async {
        match args.command {
            DriveCommand::Info { paths } => {
                let mut out = String::new();
                for path in &paths {
                    let sb = drive_superblock(path).await?;
                    let report = check_drive(path, false).await?;
                    let _ = writeln!(out, "{}:", path.display());
                    let _ = writeln!(out, "  format version:   {}", sb.version);
                    let _ = writeln!(out, "  set:              {}", hex(&sb.set_uuid));
                    let _ = writeln!(
                        out,
                        "  drive:            {} ({} of {})",
                        hex(&sb.drive_uuid),
                        sb.drive_index + 1,
                        sb.drive_count
                    );
                    let _ = writeln!(out, "  size:             {} bytes", sb.drive_size);
                    let _ = writeln!(out, "  block size:       {} bytes (extent)", sb.extent_size);
                    let _ = writeln!(
                        out,
                        "  extents:          {} ({} in use, {} free)",
                        sb.extent_count, report.segments, report.free
                    );
                    let _ = writeln!(out, "  sealed segments:  {}", report.sealed);
                    let _ = writeln!(out, "  stripe parts:     {}", report.parts);
                    let _ = writeln!(out, "  records:          {}", report.records);
                    let _ = writeln!(out, "  value bytes:      {}", report.value_bytes);
                    let _ = writeln!(out, "  logical block:    {} bytes", sb.logical_block_size);
                    let _ = writeln!(out, "  shard size:       {} KiB", sb.shard_size_kib);
                }
                super::print_stdout(&out)
            }
            DriveCommand::Check { paths, repair } => {
                let mut out = String::new();
                let mut damaged = 0usize;
                for path in &paths {
                    let report = check_drive(path, repair).await?;
                    let _ = writeln!(
                        out,
                        "{}: {} segments, {} records, {} corrupt values, {} problems",
                        path.display(),
                        report.segments,
                        report.records,
                        report.corrupt_values,
                        report.problems.len()
                    );
                    for p in &report.problems {
                        let _ = writeln!(out, "  problem: {p}");
                    }
                    for r in &report.repairs {
                        let _ = writeln!(out, "  repaired: {r}");
                    }
                    if report.problems.len() > report.repairs.len() {
                        damaged += 1;
                    }
                }
                super::print_stdout(&out)?;
                if damaged > 0 {
                    anyhow::bail!(
                        "{damaged} drive(s) have damage; damaged values are served as misses. \
                         `memkv drive check --repair` rebuilds damaged summaries"
                    );
                }
                Ok(())
            }
            DriveCommand::Wipe { paths, force } => {
                if !force && !confirmed(&paths)? {
                    anyhow::bail!(
                        "not confirmed; nothing was changed (pass --force to skip the question)"
                    );
                }
                let reports = wipe_drives(&paths).await?;
                let mut out = String::new();
                for r in &reports {
                    let _ = writeln!(
                        out,
                        "{}: wiped{}",
                        r.path.display(),
                        if r.discarded { " and discarded" } else { "" }
                    );
                }
                super::print_stdout(&out)
            }
        }
    })
}

/// Asks on stderr and reads the answer from stdin: only `yes` confirms.
fn confirmed(paths: &[std::path::PathBuf]) -> anyhow::Result<bool> {
    use std::io::{BufRead as _, Write as _};
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "This erases all memkv data on:");
    for p in paths {
        let _ = writeln!(err, "  {}", p.display());
    }
    let _ = write!(err, "Type yes to continue: ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("could not read the confirmation from stdin")?;
    Ok(answer.trim() == "yes")
}
