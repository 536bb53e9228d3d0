//! Private, durable files: everything the job writes is readable by the
//! owner only (0600, directories 0700) and fsynced before it counts.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

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

/// Write a whole file (0600) and fsync it; its SHA-256 (hex).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<String> {
    let mut f = create_private_file(path)?;
    f.write_all(bytes).map_err(|e| Error::output(path, e))?;
    f.sync_all().map_err(|e| Error::output(path, e))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// A private file written through [`FileWriter`], fsynced on
/// [`Durable::finish`], which gives the SHA-256 of what was written.
pub struct Durable<'a> {
    pub path: &'a Path,
    pub writer: FileWriter,
}

impl<'a> Durable<'a> {
    pub fn create(path: &'a Path) -> Result<Durable<'a>> {
        Ok(Durable {
            path,
            writer: FileWriter::create(path, true).map_err(|e| Error::output(path, e))?,
        })
    }

    /// Write what is left, fsync, and give the file's SHA-256 (hex).
    pub fn finish(self) -> Result<String> {
        let path = self.path;
        self.writer.finish().map_err(|e| Error::output(path, e))
    }
}

/// Bytes a direct write's address, offset and length are multiples of: the
/// page size, a multiple of every common device's logical block.
const DIRECT_ALIGN: usize = 4096;

/// Bytes gathered before each write: 4 MiB, a few milliseconds of the disk.
const CHUNK: usize = 4 << 20;

/// A new file written a chunk at a time past the page cache (`O_DIRECT`),
/// hashing what passes through it.
///
/// Why: a report written through the page cache was copied by the kernel
/// into pages it first had to find, and this machine's kernel spent 0.6–0.9
/// CPU-seconds on each 220 MB `flags.csv` so (`dd ... conv=fsync`, five
/// runs), against 0.03–0.08 s written direct (`oflag=direct`); every file
/// was fsynced anyway, so the disk's time was paid either way. In a 1 M
/// household run that copy was 7.9 % of the CPU samples (issue #7). The
/// file is hashed as it is written: read back for its hash it would come
/// from the disk, no longer from the cache.
///
/// The chunks go through a second handle opened with `O_DIRECT`; the last
/// partial block goes through the ordinary handle, which also fsyncs. A
/// filesystem that refuses `O_DIRECT` (tmpfs, some overlays), at the open
/// or at the first write, gets every byte through the ordinary handle.
pub struct FileWriter {
    file: File,
    direct: Option<File>,
    /// `CHUNK + DIRECT_ALIGN` bytes; the chunk is the aligned window
    /// `buffer[start..start + CHUNK]`.
    buffer: Vec<u8>,
    start: usize,
    /// Bytes in the chunk.
    pending: usize,
    /// Bytes on file.
    written: u64,
    hash: Sha256,
}

impl FileWriter {
    /// Create (or truncate) `path` with mode 0600; `direct` asks for
    /// `O_DIRECT` where the system has it.
    pub fn create(path: &Path, direct: bool) -> io::Result<FileWriter> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        let direct = if direct { open_direct(path) } else { None };
        let buffer = vec![0u8; CHUNK + DIRECT_ALIGN];
        let start = buffer.as_ptr().align_offset(DIRECT_ALIGN);
        Ok(FileWriter {
            file,
            direct,
            buffer,
            start,
            pending: 0,
            written: 0,
            hash: Sha256::new(),
        })
    }

    /// Whether chunks still go past the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Write the first `len` bytes of the chunk at the file's end: direct
    /// when `len` is whole blocks and the filesystem takes it.
    fn write_out(&mut self, len: usize) -> io::Result<()> {
        let bytes = &self.buffer[self.start..self.start + len];
        if len.is_multiple_of(DIRECT_ALIGN)
            && let Some(direct) = &self.direct
        {
            match direct.write_all_at(bytes, self.written) {
                Ok(()) => {
                    self.written += len as u64;
                    return Ok(());
                }
                // Refused for this filesystem: everything goes through
                // the page cache from now on.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        self.file.write_all_at(bytes, self.written)?;
        self.written += len as u64;
        Ok(())
    }

    /// Write the rest, fsync, and give the SHA-256 of every byte (hex).
    pub fn finish(mut self) -> io::Result<String> {
        let whole = self.pending - self.pending % DIRECT_ALIGN;
        if whole > 0 {
            self.write_out(whole)?;
            self.buffer
                .copy_within(self.start + whole..self.start + self.pending, self.start);
        }
        let tail = self.pending - whole;
        if tail > 0 {
            self.file
                .write_all_at(&self.buffer[self.start..self.start + tail], self.written)?;
        }
        self.file.sync_all()?;
        Ok(hex::encode(self.hash.finalize()))
    }
}

impl Write for FileWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(CHUNK - self.pending);
        let at = self.start + self.pending;
        self.buffer[at..at + n].copy_from_slice(&bytes[..n]);
        self.hash.update(&bytes[..n]);
        self.pending += n;
        if self.pending == CHUNK {
            self.write_out(CHUNK)?;
            self.pending = 0;
        }
        Ok(n)
    }

    /// Chunks are written when full; what is pending waits for
    /// [`FileWriter::finish`], as a direct write must be whole blocks.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A second handle on `path` that writes past the page cache, or `None`
/// where the system or the filesystem has no such thing.
fn open_direct(path: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
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
    let mut f = File::open(path).map_err(|e| Error::output(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::output(path, e))?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Bytes that differ from block to block, so that a block written at
    /// the wrong offset or twice shows.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    /// Write `bytes` in pieces of `piece` bytes; the file's bytes, its
    /// reported hash and whether it still wrote direct at the end.
    fn round_trip(
        bytes: &[u8],
        piece: usize,
        direct: bool,
        misalign: bool,
    ) -> (Vec<u8>, String, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut w = FileWriter::create(&path, direct).unwrap();
        if misalign {
            // A chunk one byte off its block: a direct write of it is
            // refused, and the writer must go on through the page cache.
            w.start += 1;
        }
        for part in bytes.chunks(piece) {
            w.write_all(part).unwrap();
        }
        let still_direct = w.is_direct();
        let hash = w.finish().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        (std::fs::read(&path).unwrap(), hash, still_direct)
    }

    #[test]
    fn every_byte_lands_once_in_order_with_its_hash() {
        let sizes = [
            0,
            1,
            DIRECT_ALIGN - 1,
            DIRECT_ALIGN,
            DIRECT_ALIGN + 1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK + 3 * DIRECT_ALIGN + 17,
        ];
        for direct in [true, false] {
            for &len in &sizes {
                let bytes = pattern(len);
                let expected = hex::encode(Sha256::digest(&bytes));
                // Pieces smaller than a block, odd-sized, and larger than
                // a chunk.
                for piece in [1000, 65_537, 3 * CHUNK] {
                    if piece == 1000 && len > CHUNK + 1 {
                        continue;
                    }
                    let (written, hash, _) = round_trip(&bytes, piece, direct, false);
                    assert!(written == bytes, "{len} bytes in {piece}s, direct {direct}");
                    assert_eq!(hash, expected, "{len} bytes in {piece}s, direct {direct}");
                }
            }
        }
    }

    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() {
        let bytes = pattern(2 * CHUNK + 5);
        // Where the filesystem checks alignment (ext4, xfs: the temporary
        // directory here and in CI) the first chunk is refused and every
        // byte goes through the page cache; tmpfs takes the chunks as they
        // are. Either way every byte must land.
        let (written, hash, _) = round_trip(&bytes, 1 << 20, true, true);
        assert!(written == bytes);
        assert_eq!(hash, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn a_file_that_cannot_be_made_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.bin");
        assert!(FileWriter::create(&path, true).is_err());
    }
}
