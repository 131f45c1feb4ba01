//! The drives of the harness's disk servers and of its fio reference, made like a real drive:
//! every block written once before use ([`write_zeros`]), so that neither memkv nor fio pays
//! for the filesystem allocating blocks or converting preallocated ones on a first write (fio
//! lays out its own file the same way). `direct` mode runs on a [`LoopDevice`] over such a
//! file, attached with `losetup --direct-io=on` (so neither memkv nor fio goes through the
//! backing file's page cache), detached and removed when its guard drops.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::servers::{ServerError, is_root};

/// The tools a loop device needs (`losetup` from Debian's `mount`, `dd` from `coreutils`).
pub const LOOP_TOOLS: [&str; 2] = ["losetup", "dd"];

/// Writes `size` bytes of zeros to `path` (created or overwritten), with O_DIRECT so that the
/// page cache is left alone. `size` is rounded up to whole MiB. On failure the file is removed.
pub fn write_zeros(path: &Path, size: u64) -> Result<(), ServerError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    run(Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", path.display()))
        .arg("bs=1M")
        .arg(format!("count={}", size.div_ceil(1 << 20)))
        .args(["oflag=direct", "status=none"]))
    .map(drop)
    .map_err(|e| {
        // A partly written file is of no use and may be large.
        let _ = std::fs::remove_file(path);
        ServerError::Failed(format!(
            "writing {size} bytes to {}: {e} (is there room in the work directory?)",
            path.display()
        ))
    })
}

/// An attached loop device; detached, and its backing file removed, on drop.
#[derive(Debug)]
pub struct LoopDevice {
    device: PathBuf,
    backing: PathBuf,
}

impl LoopDevice {
    /// Writes `backing` in full ([`write_zeros`], `size` bytes) and attaches it to a free loop
    /// device.
    pub fn attach(backing: &Path, size: u64) -> Result<LoopDevice, ServerError> {
        if !is_root() {
            return Err(ServerError::Failed(
                "the direct storage mode runs on loop devices, and attaching one needs root: run as root, or leave `direct` out of --storage".into(),
            ));
        }
        write_zeros(backing, size)?;
        let out = run(Command::new("losetup")
            .args(["--find", "--show", "--direct-io=on"])
            .arg(backing));
        let device = match out {
            Ok(stdout) => PathBuf::from(stdout.trim()),
            Err(e) => {
                let _ = std::fs::remove_file(backing);
                return Err(ServerError::Failed(format!(
                    "attaching {} to a loop device: {e}",
                    backing.display()
                )));
            }
        };
        Ok(LoopDevice {
            device,
            backing: backing.to_owned(),
        })
    }

    /// `/dev/loopN`.
    pub fn device(&self) -> &Path {
        &self.device
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new("losetup").arg("--detach").arg(&self.device)) {
            tracing::warn!("detaching {}: {e}", self.device.display());
        }
        if let Err(e) = std::fs::remove_file(&self.backing) {
            tracing::debug!("removing {}: {e}", self.backing.display());
        }
    }
}

/// Runs `cmd`; its stdout on success, else what it printed on stderr.
fn run(cmd: &mut Command) -> Result<String, ServerError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| ServerError::spawn(&program, e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ServerError::Failed(format!(
            "`{program}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
