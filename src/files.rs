//! Private, durable files: everything the job writes is readable by the
//! owner only (0600, directories 0700) and fsynced before it counts.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SendError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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
    open_private(path).map_err(|e| Error::output(path, e))
}

fn open_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Write a whole file (0600) and fsync it; its SHA-256 (hex).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<String> {
    let f = write_whole(path, bytes)?;
    f.sync_all().map_err(|e| Error::output(path, e))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Write a whole file (0600), its fsync left to `syncs`; its SHA-256 (hex).
pub fn write_private_syncing(path: &Path, bytes: &[u8], syncs: &Syncs) -> Result<String> {
    syncs.sync(path, write_whole(path, bytes)?)?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Create (or truncate) a file with mode 0600 and write `bytes` to it.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<File> {
    let mut f = create_private_file(path)?;
    f.write_all(bytes).map_err(|e| Error::output(path, e))?;
    Ok(f)
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
        let (file, hash) = self.written()?;
        file.sync_all().map_err(|e| Error::output(path, e))?;
        Ok(hash)
    }

    /// Write what is left and give the file's SHA-256 (hex); its fsync is
    /// left to `syncs`.
    pub fn finish_syncing(self, syncs: &Syncs) -> Result<String> {
        let path = self.path;
        let (file, hash) = self.written()?;
        syncs.sync(path, file)?;
        Ok(hash)
    }

    /// Write what is left; the file, not yet fsynced, and its SHA-256. A
    /// debug line tells how long the writer waited for the disk, if it
    /// did: the disk, not the work, set the file's pace for so long.
    fn written(self) -> Result<(File, String)> {
        let path = self.path;
        let waited = self.writer.disk_wait();
        let written = self
            .writer
            .finish_writing()
            .map_err(|e| Error::output(path, e))?;
        if !waited.is_zero() {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            tracing::debug!(file = %file, seconds = waited.as_secs_f64(), "waited for the disk");
        }
        Ok(written)
    }
}

/// Files written whose fsyncs are still on their way: each runs on a
/// thread of its own while the caller goes on, and [`Syncs::wait`] returns
/// once every one has ended.
///
/// Why: an fsync here waits for the disk to take every byte of the file
/// (this machine's disk took 0.2 s for each 200 MB written direct, 0.007 s
/// for a small file), and a report's fsync held a rayon worker, one of the
/// two cores, for that long: at 1 M households the cores dipped to 0.3–0.7
/// busy as each large report ended. Twelve alternated pairs of 1 M runs
/// with Q-1 from the state: the write stage 3.84 s with each fsync where
/// the file ends, 3.44 s with the fsyncs on their own threads (issue #7).
#[derive(Default)]
pub struct Syncs {
    pending: Mutex<Vec<(PathBuf, JoinHandle<io::Result<()>>)>>,
}

impl Syncs {
    /// Start `file`'s fsync; where no thread can be made, fsync it here.
    fn sync(&self, path: &Path, file: File) -> Result<()> {
        // Shared, so that a thread never made gives the handle back.
        let file = Arc::new(file);
        let on_thread = Arc::clone(&file);
        match std::thread::Builder::new()
            .name("fsync".into())
            .spawn(move || on_thread.sync_all())
        {
            Ok(thread) => {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.push((path.to_path_buf(), thread));
                Ok(())
            }
            Err(_) => file.sync_all().map_err(|e| Error::output(path, e)),
        }
    }

    /// Wait for every fsync started; the first that failed, as an error.
    pub fn wait(self) -> Result<()> {
        let pending = self.pending.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut first_error = None;
        for (path, thread) in pending {
            let outcome = thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if let Err(e) = outcome {
                first_error.get_or_insert(Error::output(&path, e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Bytes a direct write's address, offset and length are multiples of: the
/// page size, a multiple of every common device's logical block.
const DIRECT_ALIGN: usize = 4096;

/// Bytes gathered before each write: 4 MiB, a few milliseconds of the disk.
const CHUNK: usize = 4 << 20;

/// Chunks a file has at most: one filling, the others written or waiting
/// to be, 12 MiB on their way. A chunk is made only when none is free, so
/// a file takes this many only while the disk falls behind.
///
/// Why: this disk sometimes takes no write for a few tenths of a second
/// (while another file's fsync runs: 0.2 s for 200 MB here), and with two
/// chunks a file's writer, a rayon worker rendering the reports, waited
/// for it: 0.2–1.5 s in all in eight 1 M household runs with Q-1 from the
/// state, once with the cores at 0.2 busy for 0.3 s. With four chunks
/// they waited 0–0.15 s in six such runs, with eight 0 s in nine; at 10 M
/// households 0.1–1.1 s with four, 0.06–0.55 s with eight (three runs
/// each). Not eight: with four, the national world's 10 M write stage
/// was that run's peak (4,265 MiB, 17 above the transitions count; 59
/// bytes a row, the budget 60), and each chunk more is 4 MiB more for
/// every file written at once (issue #7).
const CHUNKS: usize = 4;

/// A new file written a chunk at a time past the page cache (`O_DIRECT`)
/// by a thread of its own, hashing what passes through it.
///
/// Why: a report written through the page cache was copied by the kernel
/// into pages it first had to find, and this machine's kernel spent 0.3–1.0
/// CPU-seconds on each 220 MB `flags.csv` so (`dd ... conv=fsync`), against
/// 0.03–0.08 s written direct (`oflag=direct`); every file was fsynced
/// anyway, so the disk's time was paid either way. In a 1 M household run
/// that copy was 7.9 % of the CPU samples (issue #7). A direct write waits
/// for the disk, so chunks are written by a thread of the file's own while
/// the next chunk fills: [`CHUNKS`] at most, one filling and the others on
/// their way. The file is hashed as it is written: read back for its hash
/// it would come from the disk, no longer from the cache.
///
/// The chunks go through a second handle opened with `O_DIRECT`; the last
/// partial block goes through the ordinary handle, which also fsyncs. A
/// filesystem that refuses `O_DIRECT` (some overlays), at the open or at
/// any write, gets every byte through the ordinary handle.
pub struct FileWriter {
    chunk: Chunk,
    /// Bytes in the chunk.
    pending: usize,
    hash: Sha256,
    out: Output,
}

/// Where full chunks go.
enum Output {
    /// Written on the caller's thread (when no thread could be made).
    Here(Disk),
    Thread {
        full: SyncSender<(Chunk, usize)>,
        /// Chunks written and free again, or the write's error.
        free: Receiver<io::Result<Chunk>>,
        /// Chunks made so far: [`CHUNKS`] at most.
        made: usize,
        /// Time spent waiting for a chunk the disk had not yet taken.
        waited: std::time::Duration,
        /// Gives the disk back, or `None` if it never got it.
        writer: JoinHandle<Option<Disk>>,
    },
}

/// A chunk of `CHUNK` bytes aligned for a direct write: the window
/// `bytes[start..start + CHUNK]` of a buffer `DIRECT_ALIGN` bytes larger.
struct Chunk {
    bytes: Vec<u8>,
    start: usize,
}

impl Chunk {
    fn new() -> Chunk {
        let bytes = vec![0u8; CHUNK + DIRECT_ALIGN];
        let start = bytes.as_ptr().align_offset(DIRECT_ALIGN);
        Chunk { bytes, start }
    }

    fn window(&self) -> &[u8] {
        &self.bytes[self.start..self.start + CHUNK]
    }

    fn window_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + CHUNK]
    }
}

/// The file's two handles and how much is on it.
struct Disk {
    file: File,
    direct: Option<File>,
    written: u64,
}

impl Disk {
    /// Append `bytes` (from a chunk, so aligned in memory): direct when
    /// they are whole blocks and the filesystem takes them.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len().is_multiple_of(DIRECT_ALIGN)
            && let Some(direct) = &self.direct
        {
            match direct.write_all_at(bytes, self.written) {
                Ok(()) => {
                    self.written += bytes.len() as u64;
                    return Ok(());
                }
                // Refused for this filesystem: everything goes through
                // the page cache from now on. (Positional writes: the
                // same bytes written again land where they belong.)
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        self.file.write_all_at(bytes, self.written)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

impl FileWriter {
    /// Create (or truncate) `path` with mode 0600; `direct` asks for
    /// `O_DIRECT` where the system has it.
    pub fn create(path: &Path, direct: bool) -> io::Result<FileWriter> {
        let file = open_private(path)?;
        let direct = if direct { open_direct(path) } else { None };
        let disk = Disk {
            file,
            direct,
            written: 0,
        };
        Ok(FileWriter {
            chunk: Chunk::new(),
            pending: 0,
            hash: Sha256::new(),
            out: Output::start(disk),
        })
    }

    /// Hand the chunk's first `len` bytes on; the chunk to fill next.
    fn hand_on(&mut self, len: usize) -> io::Result<()> {
        match &mut self.out {
            Output::Here(disk) => disk.append(&self.chunk.window()[..len]),
            Output::Thread {
                full,
                free,
                made,
                waited,
                ..
            } => {
                let next = match free.try_recv() {
                    Ok(written) => written?,
                    Err(TryRecvError::Empty) if *made < CHUNKS => {
                        *made += 1;
                        Chunk::new()
                    }
                    Err(TryRecvError::Empty) => {
                        let started = std::time::Instant::now();
                        let written = free.recv().map_err(|_| writer_gone());
                        *waited += started.elapsed();
                        written??
                    }
                    Err(TryRecvError::Disconnected) => return Err(writer_gone()),
                };
                let filled = std::mem::replace(&mut self.chunk, next);
                // The thread stops at its first error: that error, not
                // the closed channel, is the cause.
                full.send((filled, len)).map_err(|_| {
                    free.try_iter()
                        .find_map(Result::err)
                        .unwrap_or_else(writer_gone)
                })
            }
        }
    }

    /// Time the writer has waited for the disk to take a chunk, so far
    /// (the last chunks, written by [`FileWriter::finish`], not counted).
    fn disk_wait(&self) -> std::time::Duration {
        match &self.out {
            Output::Here(_) => std::time::Duration::ZERO,
            Output::Thread { waited, .. } => *waited,
        }
    }

    /// Write the rest, fsync, and give the SHA-256 of every byte (hex).
    pub fn finish(self) -> io::Result<String> {
        let (file, hash) = self.finish_writing()?;
        file.sync_all()?;
        Ok(hash)
    }

    /// Write the rest and give the file's handle, not yet fsynced, with
    /// the SHA-256 of every byte (hex).
    fn finish_writing(mut self) -> io::Result<(File, String)> {
        let whole = self.pending - self.pending % DIRECT_ALIGN;
        let tail = self.pending - whole;
        let mut last = [0u8; DIRECT_ALIGN];
        last[..tail].copy_from_slice(&self.chunk.window()[whole..self.pending]);
        if whole > 0 {
            self.hand_on(whole)?;
        }
        let disk = match self.out {
            Output::Here(disk) => disk,
            Output::Thread {
                full, free, writer, ..
            } => {
                drop(full);
                // Every chunk's outcome, the last one's error included.
                for outcome in free.iter() {
                    outcome?;
                }
                writer
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    .ok_or_else(writer_gone)?
            }
        };
        if tail > 0 {
            disk.file.write_all_at(&last[..tail], disk.written)?;
        }
        Ok((disk.file, hex::encode(self.hash.finalize())))
    }
}

impl Output {
    /// A thread that writes the chunks it is sent in order and sends each
    /// back; after an error it sends the error and stops. Without a thread
    /// (resource limits), chunks are written on the caller's.
    fn start(disk: Disk) -> Output {
        // Room for every chunk in either channel: a send never waits.
        let (full, chunks) = sync_channel::<(Chunk, usize)>(CHUNKS);
        let (done, free) = sync_channel::<io::Result<Chunk>>(CHUNKS);
        // The disk goes to the thread by a channel: if no thread is made,
        // the send fails and gives it back.
        let (hand_over, handed) = sync_channel::<Disk>(1);
        let spawned = std::thread::Builder::new()
            .name("file-writer".into())
            .spawn(move || {
                let mut disk = handed.recv().ok()?;
                for (chunk, len) in chunks {
                    let outcome = disk.append(&chunk.window()[..len]).map(|()| chunk);
                    let failed = outcome.is_err();
                    if done.send(outcome).is_err() || failed {
                        break;
                    }
                }
                Some(disk)
            });
        match (spawned, hand_over.send(disk)) {
            (Ok(writer), Ok(())) => Output::Thread {
                full,
                free,
                made: 1,
                waited: std::time::Duration::ZERO,
                writer,
            },
            (_, Err(SendError(disk))) => Output::Here(disk),
            // The disk was sent, so the thread was made.
            (Err(_), Ok(())) => unreachable!("a disk sent to a thread never made"),
        }
    }
}

fn writer_gone() -> io::Error {
    io::Error::other("the file's writer thread stopped")
}

impl Write for FileWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(CHUNK - self.pending);
        let at = self.pending;
        self.chunk.window_mut()[at..at + n].copy_from_slice(&bytes[..n]);
        self.hash.update(&bytes[..n]);
        self.pending += n;
        if self.pending == CHUNK {
            self.hand_on(CHUNK)?;
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

    /// Write `bytes` in pieces of `piece` bytes; the file's bytes and its
    /// reported hash.
    fn round_trip(bytes: &[u8], piece: usize, direct: bool, misalign: bool) -> (Vec<u8>, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut w = FileWriter::create(&path, direct).unwrap();
        if misalign {
            // A chunk one byte off its block: a direct write of it is
            // refused, and the writer must go on through the page cache.
            w.chunk.start += 1;
        }
        for part in bytes.chunks(piece) {
            w.write_all(part).unwrap();
        }
        let hash = w.finish().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        (std::fs::read(&path).unwrap(), hash)
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
            // Past every chunk a writer makes: chunks written are used again.
            (CHUNKS + 2) * CHUNK + 5,
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
                    let (written, hash) = round_trip(&bytes, piece, direct, false);
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
        let (written, hash) = round_trip(&bytes, 1 << 20, true, true);
        assert!(written == bytes);
        assert_eq!(hash, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_hang() {
        // /dev/full refuses every write with ENOSPC: the writer thread's
        // error must come back, from a later write or from `finish`.
        let mut w = FileWriter::create(Path::new("/dev/full"), true).expect("/dev/full");
        // More chunks than a writer makes: the error may come back as a
        // free chunk is sought, as a chunk is sent, or at the end.
        let bytes = pattern((CHUNKS + 3) * CHUNK + 5);
        let outcome = w.write_all(&bytes).and_then(|()| w.finish().map(drop));
        let error = outcome.expect_err("a full disk");
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "{error}");
    }

    #[test]
    fn files_left_to_syncs_are_whole_once_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let syncs = Syncs::default();
        let mut expected = Vec::new();
        for (i, len) in [0, 17, CHUNK + 5, 2 * CHUNK].into_iter().enumerate() {
            let path = dir.path().join(format!("big{i}.bin"));
            let bytes = pattern(len);
            let mut out = Durable::create(&path).unwrap();
            out.writer.write_all(&bytes).unwrap();
            let hash = out.finish_syncing(&syncs).unwrap();
            assert_eq!(hash, hex::encode(Sha256::digest(&bytes)));
            expected.push((path, bytes));
        }
        let path = dir.path().join("small.json");
        let hash = write_private_syncing(&path, b"{}\n", &syncs).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(b"{}\n")));
        expected.push((path, b"{}\n".to_vec()));
        assert_eq!(syncs.pending.lock().unwrap().len(), expected.len());
        syncs.wait().unwrap();
        for (path, bytes) in expected {
            assert!(std::fs::read(&path).unwrap() == bytes, "{}", path.display());
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_file_that_cannot_be_made_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.bin");
        assert!(FileWriter::create(&path, true).is_err());
    }
}
