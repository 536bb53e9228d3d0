//! Reading the inputs (contract §2): files to typed rows, with every row
//! that cannot be used sent to the rejects table, never dropped.
//!
//! For every file, rows read = rows used + rows rejected.

mod chunks;
mod decode;
mod rows;
pub(crate) mod sink;
mod structural;
mod table;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::calendar::Date;
use crate::error::{Error, Result};

pub use decode::{DecodeError, Encoding, decode};
pub use rows::{read_deaths, read_dibao, read_dibao_bytes, read_employees, read_poor};
pub use table::{
    ParquetText, match_headers, parquet_stretches, read_parquet, read_parquet_stretch,
};

/// A row that takes no further part, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    /// The contract's Chinese column name, or empty for a whole-row fault.
    pub column: String,
    pub reason: String,
    /// The raw cells of the record.
    pub cells: Vec<String>,
}

impl Reject {
    /// The raw record as one CSV line; with `mask`, every cell that looks
    /// like an ID number is masked like `person_id`.
    pub fn record(&self, mask: bool) -> String {
        let cells = self.cells.iter().map(|c| {
            if mask && looks_like_id(c) {
                crate::identity::mask_id(c.trim()).into()
            } else {
                c.clone()
            }
        });
        // Quoted as the CSV reports quote their fields.
        let mut line = Vec::new();
        crate::report::csv_out::write_record(&mut line, cells);
        line.pop();
        // Whole UTF-8 cells, commas and quotes: UTF-8.
        String::from_utf8(line).unwrap_or_default()
    }
}

/// 15 or more characters that are digits (or X), once normalized, or a
/// number in scientific notation: anything that may be an ID number.
fn looks_like_id(cell: &str) -> bool {
    let n = crate::identity::normalize_id_text(cell);
    let digits = n.bytes().filter(u8::is_ascii_digit).count();
    (n.len() >= 15 && n.bytes().all(|b| b.is_ascii_digit() || b == b'X'))
        || (digits >= 5
            && n.contains(['E', 'e'])
            && n.bytes()
                .all(|b| b.is_ascii_digit() || b"Ee+.,".contains(&b)))
}

/// What one input file gave.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct InputStats {
    pub input: String,
    pub path: PathBuf,
    pub sha256: String,
    pub format: String,
    pub encoding: String,
    pub rows_read: u64,
    pub rows_used: u64,
    pub rows_rejected: u64,
    /// Rejected rows by reason code.
    pub reject_reasons: BTreeMap<String, u64>,
    /// Optional cells that could not be parsed and were read as empty, by column.
    pub optional_unparsed: BTreeMap<String, u64>,
    /// Present but invalid ID numbers, by reason code.
    pub invalid_ids: BTreeMap<String, u64>,
}

/// Rows of one input with its figures and rejects. `sides[i]` is row
/// `i`'s side value: a roll row's household number, which the roll keeps
/// once per household (`()` for the registers).
#[derive(Debug)]
pub struct Loaded<T, S = ()> {
    pub rows: Vec<T>,
    pub sides: Vec<S>,
    pub stats: InputStats,
    pub rejects: Vec<Reject>,
}

/// The bytes of an input file, or exit 66 naming it.
/// Its pages then leave the page cache ([`forget_cached`]).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| open_error(path, e))?;
    forget_cached(&file, bytes.len() as u64);
    Ok(bytes)
}

/// Drop from the page cache the pages of `file` that hold its first
/// `read` bytes, once those bytes are in the run's own memory. An input is
/// read once a run, and the page cache would keep it only for a second
/// read that a quarterly job never makes. Dropped at once, the pages go
/// back to the kernel's free lists just as the read asks for memory for
/// the rows it parses from them, so the rows land in memory the machine
/// has just used: on the VM of issue #7, memory that nothing has touched
/// for a while costs several times as much to touch again
/// (`benches/first_touch.py`). Advice only: a kernel or file system that
/// ignores it changes nothing.
pub(crate) fn forget_cached(file: &std::fs::File, read: u64) {
    use std::os::fd::AsRawFd;
    // Always from the file's start: the kernel drops only whole folios
    // inside the range, and a folio can be larger than a page (ext4's
    // are), so one cut by the last call's end goes with this call. The
    // pages already dropped cost the kernel next to nothing to pass over.
    // A range that ends at the file's end takes its last, partial page.
    // (A length of 0 would mean "to the end of the file".)
    let Ok(len) = libc::off_t::try_from(read) else {
        return;
    };
    if len == 0 {
        return;
    }
    // SAFETY: `posix_fadvise` reads no memory of ours; the descriptor is
    // open for as long as `file` is borrowed.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, len, libc::POSIX_FADV_DONTNEED);
    }
}

/// Exit 66 naming an input file that cannot be opened or read.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::MissingInput(format!("{}: input file not found", path.display()))
        }
        std::io::ErrorKind::PermissionDenied => Error::MissingInput(format!(
            "{}: input file cannot be opened (permission denied)",
            path.display()
        )),
        std::io::ErrorKind::IsADirectory => Error::MissingInput(format!(
            "{}: input path is a directory, not a file",
            path.display()
        )),
        _ => Error::MissingInput(format!(
            "{}: input file cannot be read ({e})",
            path.display()
        )),
    }
}

/// Whether a file's first bytes may be Parquet's (the whole-file read
/// decides).
fn is_parquet_start(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PAR1")
}

/// Parquet by its magic bytes at both ends; anything else is CSV text.
pub fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")
}

/// Stop on an empty roll and on too many rejects (contract §2.4).
pub fn enforce_limits(stats: &InputStats, is_roll: bool, max_reject_ratio: f64) -> Result<()> {
    if is_roll && stats.rows_read == 0 {
        return Err(Error::data(
            &stats.path,
            "the roll has no data rows (an empty file or a header only); a broken export must never be read as everyone leaving",
        ));
    }
    if stats.rows_read > 0 {
        let ratio = stats.rows_rejected as f64 / stats.rows_read as f64;
        if ratio > max_reject_ratio {
            return Err(Error::data(
                &stats.path,
                format!(
                    "{} of {} rows rejected ({:.2}%), more than max_reject_ratio {}; see the rejects for lines and reasons",
                    stats.rows_rejected,
                    stats.rows_read,
                    ratio * 100.0,
                    max_reject_ratio
                ),
            ));
        }
    }
    Ok(())
}

/// How one quarter's files are read: the context for validating ID
/// numbers, and whether each file's SHA-256 is computed.
#[derive(Clone, Copy, Debug)]
pub struct Validation {
    pub quarter_end: Date,
    /// Q's inputs are hashed for the manifest. Q-1's are not: nothing
    /// reports them, and hashing its 0.5 GB took 0.3 CPU-s at 1 M
    /// households (issue #7).
    pub hash_files: bool,
}
