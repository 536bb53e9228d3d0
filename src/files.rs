//! Private, durable files: everything the job writes is readable by the
//! owner only (0600, directories 0700) and fsynced before it counts.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Create `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::output(dir, e))
}

/// Create (or truncate) a file with mode 0600.
pub fn create_private_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::output(path, e))
}

/// Write a whole file (0600) and fsync it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_private_file(path)?;
    f.write_all(bytes).map_err(|e| Error::output(path, e))?;
    f.sync_all().map_err(|e| Error::output(path, e))
}

/// A buffered private file that is fsynced on [`Durable::finish`].
pub struct Durable<'a> {
    pub path: &'a Path,
    pub writer: BufWriter<File>,
}

impl<'a> Durable<'a> {
    pub fn create(path: &'a Path) -> Result<Durable<'a>> {
        Ok(Durable {
            path,
            writer: BufWriter::with_capacity(1 << 20, create_private_file(path)?),
        })
    }

    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let file = self
            .writer
            .into_inner()
            .map_err(|e| Error::output(path, e.error()))?;
        file.sync_all().map_err(|e| Error::output(path, e))
    }
}

/// fsync a directory, so that renames inside it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::output(dir, e))
}

/// The SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = File::open(path).map_err(|e| Error::output(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::output(path, e))?;
    Ok(hex::encode(h.finalize()))
}
