//! Atomic publishing: the report set is written into a staging directory
//! beside the target (same filesystem), fsynced, then swapped into place.
//! A killed run leaves the previous set (or none), never a partial one.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::files::{create_private_dir, sync_dir};

const STAGING_MARK: &str = ".rollmatch-staging-";
const RETIRED_MARK: &str = ".rollmatch-retired-";

fn target_name(target: &Path) -> Result<String> {
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::Output(format!(
                "{}: the output directory needs a name",
                target.display()
            ))
        })
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn pid_alive(pid: u32) -> bool {
    // Signal 0 checks existence without sending anything.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// Create a fresh staging directory beside `target`, after removing the
/// ones that killed runs left behind.
pub fn staging_dir(target: &Path) -> Result<PathBuf> {
    let parent = parent_of(target);
    create_private_dir(&parent)?;
    let name = target_name(target)?;
    clean_stale(&parent, &name);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = parent.join(format!(
        "{STAGING_MARK}{name}-{}-{nanos}",
        std::process::id()
    ));
    create_private_dir(&dir)?;
    Ok(dir)
}

/// Remove staging and retired directories of `name` whose run is gone.
fn clean_stale(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let rest = file_name
            .strip_prefix(STAGING_MARK)
            .or_else(|| file_name.strip_prefix(RETIRED_MARK))
            .and_then(|r| r.strip_prefix(name))
            .and_then(|r| r.strip_prefix('-'));
        let Some(rest) = rest else { continue };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| p != std::process::id() && !pid_alive(p)) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    info!(dir = %entry.path().display(), "removed a staging directory left by a killed run")
                }
                Err(e) => {
                    warn!(dir = %entry.path().display(), error = %e, "could not remove a stale staging directory")
                }
            }
        }
    }
}

/// Swap the staged directory into `target`.
pub fn publish(staged: &Path, target: &Path) -> Result<()> {
    sync_dir(staged)?;
    let parent = parent_of(target);
    if target.exists() {
        if exchange(staged, target).is_ok() {
            // `staged` now holds the previous set.
            sync_dir(&parent)?;
            let _ = std::fs::remove_dir_all(staged);
            return Ok(());
        }
        // No atomic exchange on this filesystem: retire, then rename.
        let retired = parent.join(format!(
            "{RETIRED_MARK}{}-{}",
            target_name(target)?,
            std::process::id()
        ));
        std::fs::rename(target, &retired).map_err(|e| Error::output(target, e))?;
        std::fs::rename(staged, target).map_err(|e| Error::output(target, e))?;
        sync_dir(&parent)?;
        let _ = std::fs::remove_dir_all(&retired);
        return Ok(());
    }
    std::fs::rename(staged, target).map_err(|e| Error::output(target, e))?;
    sync_dir(&parent)
}

/// `renameat2(RENAME_EXCHANGE)`: both names swap in one step.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
