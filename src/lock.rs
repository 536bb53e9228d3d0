//! One run per job at a time: an OS file lock in the state directory.
//!
//! The lock file records the holder's pid and start time so that a
//! second run can say who holds it; the OS releases the lock when the
//! holder dies, however it dies.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use fs2::FileExt;

use crate::error::{Error, Result};
use crate::files::create_private_dir;

pub const LOCK_FILE: &str = "rollmatch.lock";

/// Held for as long as it lives.
pub struct JobLock {
    _file: File,
}

pub fn acquire(state_dir: &Path) -> Result<JobLock> {
    create_private_dir(state_dir)?;
    let path = state_dir.join(LOCK_FILE);
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::output(&path, e))?
    };
    if file.try_lock_exclusive().is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let holder = if holder.is_empty() {
            "unknown holder".to_owned()
        } else {
            holder.to_owned()
        };
        return Err(Error::Locked(format!(
            "{}: another run of this job holds the lock ({holder})",
            path.display()
        )));
    }
    let note = format!(
        "pid {} since {}",
        std::process::id(),
        crate::calendar::timestamp_utc(std::time::SystemTime::now())
    );
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.write_all(note.as_bytes());
    let _ = file.sync_all();
    Ok(JobLock { _file: file })
}
