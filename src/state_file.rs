//! The file format of a saved roll (state format 3): blocks of rows, each
//! block's columns laid end to end and compressed with LZ4, so that a
//! quarter's rolls are saved and read back block by block on every core.
//!
//! Formats 1 and 2 were Parquet written through polars. At 1 M households
//! saving them took 2.3 CPU-s of a 19 CPU-s run (polars' dictionary
//! encoding, its cardinality estimates, zstd), and reading them back was
//! one thread building rows from the columns: 2.6 s, longer than parsing
//! the quarter's CSV files (issue #7). Nothing but rollmatch reads the
//! state, so it has a format of its own.
//!
//! Layout, every integer little-endian:
//! - the magic `RMSTATE\0`, `u32` length of the schema and the schema's
//!   text: the roll and its columns in order (a file of another schema is
//!   refused, never misread);
//! - blocks, each `u32` rows (at least one), `u32` length of the block's
//!   bytes, `u32` length stored, then the stored bytes (an LZ4 block);
//! - `u32` 0 and `u64` the rows of all blocks, so that a cut file shows.
//!
//! A block's bytes hold its columns one after the other, each laid out by
//! its kind (see [`BlockWriter`]). Readers never index without a bounds
//! check: a damaged file is [`Damaged`], never a panic. The state marker
//! keeps each file's SHA-256 as well; the reader hashes the file as it
//! decodes it, and its rows are used only if the two agree.

use std::io::{self, Read, Write};
use std::ops::Range;

use rayon::prelude::*;

use crate::buffer_pool::BufferPool;
use crate::ingest::sink::{Sink, append_in_order};
use crate::vocab::Shared;

const MAGIC: &[u8; 8] = b"RMSTATE\0";

/// Rows per block: about 25 MB of a poor roll's columns before
/// compression, so that blocks in flight stay small beside the roll.
pub const BLOCK_ROWS: usize = 1 << 18;

/// Bytes reserved per row for a block's columns before it is encoded:
/// above a saved row's usual size (about 90 bytes), so that a block is
/// not grown and copied as it is written; only what is written is ever
/// touched, so the spare room costs no memory.
const ROW_BYTES_HINT: usize = 160;

/// Blocks are encoded and decoded this many at a time, in parallel; the
/// next window starts when the last is written (or its rows are moved
/// into place), so no more than a window is ever held twice.
const WINDOW_BLOCKS: usize = 8;

/// A block bigger than this is damaged (or was not written by rollmatch).
const MAX_BLOCK_BYTES: usize = 1 << 30;

/// Any fault in a state file's bytes: cut short, a length past its end, a
/// code outside its table, text that is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

/// The columns of one block, appended one at a time. Every column holds
/// exactly the block's number of rows.
#[derive(Default)]
pub struct BlockWriter {
    raw: Vec<u8>,
}

impl BlockWriter {
    pub fn u8s(&mut self, values: impl Iterator<Item = u8>) {
        self.raw.extend(values);
    }

    pub fn u32s(&mut self, values: impl Iterator<Item = u32>) {
        for v in values {
            self.raw.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn i32s(&mut self, values: impl Iterator<Item = i32>) {
        for v in values {
            self.raw.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn i64s(&mut self, values: impl Iterator<Item = i64>) {
        for v in values {
            self.raw.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Text: `u32` length of all the texts, a `u32` length per row, then
    /// the texts end to end. Written in one pass over `values`: the
    /// lengths' room is set aside first and filled as each text is
    /// appended, so that a text made on the fly (a packed name's) is made
    /// once, not once for the total, once for its length and once for its
    /// bytes (issue #7).
    pub fn texts<T: AsRef<str>>(&mut self, values: impl ExactSizeIterator<Item = T>) {
        let rows = values.len();
        let head = self.raw.len();
        let lengths = head + 4;
        self.raw.resize(lengths + 4 * rows, 0);
        let texts = self.raw.len();
        let mut written = 0;
        for (i, v) in values.take(rows).enumerate() {
            let text = v.as_ref().as_bytes();
            self.raw.extend_from_slice(text);
            let at = lengths + 4 * i;
            self.raw[at..at + 4].copy_from_slice(&len_u32(text.len()).to_le_bytes());
            written += 1;
        }
        // An iterator that gave fewer texts than it said leaves lengths
        // of 0, which would read as empty texts: refuse to write such a
        // block rather than save rows that are not the roll's.
        assert_eq!(written, rows, "a text column gave fewer rows than it said");
        let total = self.raw.len() - texts;
        self.raw[head..lengths].copy_from_slice(&len_u32(total).to_le_bytes());
    }

    /// Shared texts (division codes, categories): the block's distinct
    /// texts once, as [`BlockWriter::texts`] after a `u32` count, then a
    /// `u32` per row: 0 for none, else the text's place in that list + 1.
    pub fn shared(&mut self, values: impl Iterator<Item = Option<Shared>> + Clone) {
        let mut places: rustc_hash::FxHashMap<Shared, u32> = Default::default();
        let mut distinct = Vec::new();
        for v in values.clone().flatten() {
            places.entry(v).or_insert_with(|| {
                distinct.push(v.as_str());
                len_u32(distinct.len())
            });
        }
        self.raw
            .extend_from_slice(&len_u32(distinct.len()).to_le_bytes());
        self.texts(distinct.iter().copied());
        self.u32s(values.map(|v| v.and_then(|v| places.get(&v).copied()).unwrap_or(0)));
    }
}

/// Lengths in a block are `u32`: a block is far under 4 GiB, and a text
/// that is not is cut to the limit rather than wrapped (the block then
/// fails its length checks when read, and the state is refused).
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The columns of one block, read back in the order they were written.
pub struct BlockReader<'a> {
    raw: &'a [u8],
    at: usize,
    rows: usize,
}

impl<'a> BlockReader<'a> {
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Damaged> {
        let end = self.at.checked_add(n).ok_or(Damaged)?;
        let bytes = self.raw.get(self.at..end).ok_or(Damaged)?;
        self.at = end;
        Ok(bytes)
    }

    fn take_u32(&mut self) -> Result<u32, Damaged> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fixed<const N: usize>(&mut self) -> Result<Fixed<'a, N>, Damaged> {
        let n = self.rows.checked_mul(N).ok_or(Damaged)?;
        Ok(Fixed(self.take(n)?))
    }

    pub fn u8s(&mut self) -> Result<&'a [u8], Damaged> {
        self.take(self.rows)
    }

    pub fn u32s(&mut self) -> Result<Fixed<'a, 4>, Damaged> {
        self.fixed()
    }

    pub fn i32s(&mut self) -> Result<Fixed<'a, 4>, Damaged> {
        self.fixed()
    }

    pub fn i64s(&mut self) -> Result<Fixed<'a, 8>, Damaged> {
        self.fixed()
    }

    pub fn texts(&mut self) -> Result<Texts<'a>, Damaged> {
        let rows = self.rows;
        self.texts_of(rows)
    }

    fn texts_of(&mut self, count: usize) -> Result<Texts<'a>, Damaged> {
        let total = self.take_u32()? as usize;
        let lengths = Fixed::<4>(self.take(count.checked_mul(4).ok_or(Damaged)?)?);
        let text = std::str::from_utf8(self.take(total)?).map_err(|_| Damaged)?;
        let mut starts = Vec::with_capacity(count + 1);
        let mut at = 0usize;
        starts.push(0);
        for i in 0..count {
            at = at.checked_add(lengths.u32(i)? as usize).ok_or(Damaged)?;
            starts.push(at);
        }
        if at != total {
            return Err(Damaged);
        }
        Ok(Texts { text, starts })
    }

    /// Shared texts, each distinct one made a [`Shared`] once.
    pub fn shared(&mut self) -> Result<SharedColumn<'a>, Damaged> {
        let count = self.take_u32()? as usize;
        if count > self.rows {
            return Err(Damaged);
        }
        let texts = self.texts_of(count)?;
        let table = (0..count)
            .map(|i| texts.get(i).map(Shared::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SharedColumn {
            table,
            codes: self.u32s()?,
        })
    }

    /// The block's rows and their side values, made one by one by `row`
    /// and pushed into `sink`: the block's own stretch of the vectors that
    /// hold the whole file's rows. A vector of each block's rows, copied
    /// into those after, was a second copy of every row made and freed
    /// (about 145 MB of fresh pages reading a 1 M household state; issue
    /// #7).
    pub fn push_rows<T, S>(
        &self,
        sink: &mut Sink<T, S>,
        mut row: impl FnMut(usize) -> Result<(T, S), Damaged>,
    ) -> Result<(), Damaged> {
        for i in 0..self.rows {
            let (made, side) = row(i)?;
            sink.push(made, side);
        }
        Ok(())
    }

    /// Every byte of the block was read: a column more or less than the
    /// schema says shows here.
    pub fn finish(&self) -> Result<(), Damaged> {
        if self.at == self.raw.len() {
            Ok(())
        } else {
            Err(Damaged)
        }
    }
}

/// A column of fixed-width little-endian values.
#[derive(Clone, Copy)]
pub struct Fixed<'a, const N: usize>(&'a [u8]);

impl<const N: usize> Fixed<'_, N> {
    fn bytes(&self, i: usize) -> Result<[u8; N], Damaged> {
        let at = i.checked_mul(N).ok_or(Damaged)?;
        let b = self
            .0
            .get(at..at.checked_add(N).ok_or(Damaged)?)
            .ok_or(Damaged)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }
}

impl Fixed<'_, 4> {
    pub fn u32(&self, i: usize) -> Result<u32, Damaged> {
        self.bytes(i).map(u32::from_le_bytes)
    }

    pub fn i32(&self, i: usize) -> Result<i32, Damaged> {
        self.bytes(i).map(i32::from_le_bytes)
    }
}

impl Fixed<'_, 8> {
    pub fn i64(&self, i: usize) -> Result<i64, Damaged> {
        self.bytes(i).map(i64::from_le_bytes)
    }
}

/// A column of texts.
pub struct Texts<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Texts<'a> {
    pub fn get(&self, i: usize) -> Result<&'a str, Damaged> {
        let (start, end) = (
            *self.starts.get(i).ok_or(Damaged)?,
            *self.starts.get(i + 1).ok_or(Damaged)?,
        );
        // A length that splits a character is damage too.
        self.text.get(start..end).ok_or(Damaged)
    }
}

/// A column of shared texts.
pub struct SharedColumn<'a> {
    table: Vec<Shared>,
    codes: Fixed<'a, 4>,
}

impl SharedColumn<'_> {
    pub fn get(&self, i: usize) -> Result<Option<Shared>, Damaged> {
        match self.codes.u32(i)? {
            0 => Ok(None),
            code => self
                .table
                .get(code as usize - 1)
                .copied()
                .map(Some)
                .ok_or(Damaged),
        }
    }
}

/// Write `rows` rows to `out` in blocks of [`BLOCK_ROWS`], `encode`
/// appending the columns of the rows in its range. Blocks are encoded and
/// compressed in parallel, a window at a time, and written in order.
pub fn write(
    out: &mut impl Write,
    schema: &str,
    rows: usize,
    encode: impl Fn(Range<usize>, &mut BlockWriter) + Sync,
) -> io::Result<()> {
    write_in_blocks(out, schema, rows, BLOCK_ROWS, encode)
}

fn write_in_blocks(
    out: &mut impl Write,
    schema: &str,
    rows: usize,
    block_rows: usize,
    encode: impl Fn(Range<usize>, &mut BlockWriter) + Sync,
) -> io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&len_u32(schema.len()).to_le_bytes())?;
    out.write_all(schema.as_bytes())?;
    let block_rows = block_rows.clamp(1, BLOCK_ROWS);
    let blocks: Vec<Range<usize>> = (0..rows)
        .step_by(block_rows)
        .map(|start| start..(start + block_rows).min(rows))
        .collect();
    // Each block's columns are encoded into, compressed through, and
    // stored in buffers taken from pools and given back, so that later
    // blocks use the room of earlier ones: each block's bytes grown from
    // nothing, and each LZ4 output zeroed to its bound, were a fifth of
    // the page faults of a 1 M household run from saved state, the memory
    // freed after one block and faulted in again for the next (issue #7).
    // A pool for each use: a buffer of another's size would be grown,
    // which copies it whole.
    let pools = BlockPools::default();
    for window in blocks.chunks(WINDOW_BLOCKS) {
        let stored = window
            .par_iter()
            .map(|range| {
                let mut w = BlockWriter {
                    raw: pools.raw.take(),
                };
                w.raw.reserve(range.len() * ROW_BYTES_HINT);
                encode(range.clone(), &mut w);
                let raw_len = w.raw.len();
                let stored = compress(&w.raw, &pools);
                pools.raw.give(w.raw);
                Ok((range.len(), raw_len, stored?))
            })
            .collect::<io::Result<Vec<_>>>()?;
        for (rows, raw_len, stored) in stored {
            out.write_all(&len_u32(rows).to_le_bytes())?;
            out.write_all(&len_u32(raw_len).to_le_bytes())?;
            out.write_all(&len_u32(stored.len()).to_le_bytes())?;
            out.write_all(&stored)?;
            pools.stored.give(stored);
        }
    }
    out.write_all(&0u32.to_le_bytes())?;
    out.write_all(&(rows as u64).to_le_bytes())
}

/// The buffers of a state file's blocks in flight: their columns and the
/// bytes stored.
#[derive(Default)]
struct BlockPools {
    raw: BufferPool,
    stored: BufferPool,
}

/// `raw` compressed as one LZ4 block (`LZ4_compress_default`, as
/// `lz4::block::compress_to_buffer` calls it) straight into the spare
/// room of a stored buffer. LZ4 must be given room for its bound, a
/// little over the block's own size, where it writes about two fifths of
/// that: the bound's room zeroed in a buffer of its own and the output
/// copied out of it were 11,000–18,000 page faults and the 126 MB of a
/// 1 M household state copied (issue #7). Room reserved and not written
/// is never touched.
fn compress(raw: &[u8], pools: &BlockPools) -> io::Result<Vec<u8>> {
    if raw.len() > MAX_BLOCK_BYTES {
        return Err(io::Error::other("a state block is over 1 GiB"));
    }
    let bound = lz4::block::compress_bound(raw.len())?;
    let too_long = |_| io::Error::other("a state block is too long for LZ4");
    let (raw_len, room) = (
        std::ffi::c_int::try_from(raw.len()).map_err(too_long)?,
        std::ffi::c_int::try_from(bound).map_err(too_long)?,
    );
    let mut stored = pools.stored.take();
    stored.try_reserve_exact(bound).map_err(io::Error::other)?;
    // SAFETY: LZ4 reads the `raw_len` bytes of `raw` and writes at most
    // `room` bytes from the start of `stored`, whose length is 0 and whose
    // capacity is at least `bound` (reserved above); it returns the count
    // written, all of them initialized, or 0 if it failed.
    let written = unsafe {
        lz4::liblz4::LZ4_compress_default(
            raw.as_ptr().cast(),
            stored.as_mut_ptr().cast(),
            raw_len,
            room,
        )
    };
    match usize::try_from(written) {
        Ok(n) if n > 0 && n <= bound => {
            // SAFETY: LZ4 wrote the first `n` bytes, within the capacity.
            unsafe { stored.set_len(n) };
            Ok(stored)
        }
        _ => {
            pools.stored.give(stored);
            Err(io::Error::other("LZ4 could not compress a state block"))
        }
    }
}

/// One block as read from the file, not yet decompressed.
struct StoredBlock {
    rows: usize,
    raw_len: usize,
    stored: Vec<u8>,
}

fn read_u32(input: &mut impl Read) -> Result<u32, Damaged> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b).map_err(|_| Damaged)?;
    Ok(u32::from_le_bytes(b))
}

/// `n` bytes, or damage if the file ends first. The buffer grows as the
/// bytes arrive, so a damaged length allocates no more than the file
/// holds.
fn read_bytes(input: &mut impl Read, n: usize) -> Result<Vec<u8>, Damaged> {
    let mut buf = Vec::new();
    read_bytes_into(input, n, &mut buf)?;
    Ok(buf)
}

/// [`read_bytes`] into `buf`, an empty buffer whose room is used again.
fn read_bytes_into(input: &mut impl Read, n: usize, buf: &mut Vec<u8>) -> Result<(), Damaged> {
    buf.try_reserve(n.min(1 << 26)).map_err(|_| Damaged)?;
    input
        .by_ref()
        .take(n as u64)
        .read_to_end(buf)
        .map_err(|_| Damaged)?;
    if buf.len() != n {
        return Err(Damaged);
    }
    Ok(())
}

/// The rows of the state file `input`, written with `schema`, and a side
/// value of each (a roll row's household number; `()` for none) in a
/// second vector, index for index; `decode` pushes the rows of one block
/// into its sink; `rows_hint` (the marker's count) sizes the vectors
/// once. The file is read a window of blocks at a time, each window
/// decompressed and decoded in parallel, every block straight into its
/// place in file order ([`append_in_order`]), so the file's bytes are
/// never held whole: at 10 M households they were 1.29 GB beside both
/// quarters' rows (issue #7).
pub fn read<T: Send, S: Send>(
    input: &mut impl Read,
    rows_hint: usize,
    schema: &str,
    decode: impl Fn(&mut BlockReader, &mut Sink<T, S>) -> Result<(), Damaged> + Sync,
) -> Result<(Vec<T>, Vec<S>), Damaged> {
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic).map_err(|_| Damaged)?;
    let schema_len = read_u32(input)? as usize;
    if &magic != MAGIC
        || schema_len != schema.len()
        || read_bytes(input, schema_len)? != schema.as_bytes()
    {
        return Err(Damaged);
    }
    let mut out: (Vec<T>, Vec<S>) = (Vec::new(), Vec::new());
    // A count no memory holds is damage, not an abort.
    out.0.try_reserve_exact(rows_hint).map_err(|_| Damaged)?;
    out.1.try_reserve_exact(rows_hint).map_err(|_| Damaged)?;
    let mut total = 0usize;
    let mut window: Vec<StoredBlock> = Vec::with_capacity(WINDOW_BLOCKS);
    // The stored bytes of a window's blocks, their room used again by the
    // next window's, and the buffers blocks are decompressed into, one a
    // block in flight (see `write_in_blocks`).
    let stored_buffers = BufferPool::default();
    let scratch = BufferPool::default();
    loop {
        let rows = read_u32(input)? as usize;
        let last = rows == 0;
        if !last {
            let raw_len = read_u32(input)? as usize;
            let stored_len = read_u32(input)? as usize;
            // LZ4 never stores a block in more than about 1/255 over its
            // length.
            if rows > BLOCK_ROWS || raw_len > MAX_BLOCK_BYTES || stored_len > 2 * MAX_BLOCK_BYTES {
                return Err(Damaged);
            }
            let mut stored = stored_buffers.take();
            read_bytes_into(input, stored_len, &mut stored)?;
            window.push(StoredBlock {
                rows,
                raw_len,
                stored,
            });
            total += rows;
        }
        if window.len() == WINDOW_BLOCKS || (last && !window.is_empty()) {
            let bounds: Vec<usize> = window.iter().map(|b| b.rows).collect();
            let decoded = append_in_order(&mut out, &bounds, |i, sink| {
                let b = &window[i];
                let mut raw = scratch.take_sized(b.raw_len).map_err(|_| Damaged)?;
                let done = decode_block(b, &mut raw, &decode, sink);
                scratch.give(raw);
                done
            });
            for b in window.drain(..) {
                stored_buffers.give(b.stored);
            }
            decoded.into_iter().collect::<Result<(), Damaged>>()?;
        }
        if last {
            break;
        }
    }
    let mut claimed = [0u8; 8];
    input.read_exact(&mut claimed).map_err(|_| Damaged)?;
    // Nothing may follow the count.
    let mut more = [0u8; 1];
    if u64::from_le_bytes(claimed) != total as u64 || !matches!(input.read(&mut more), Ok(0)) {
        return Err(Damaged);
    }
    Ok(out)
}

/// Block `b`'s rows pushed into `sink`, its bytes decompressed into
/// `raw`, a buffer of exactly their length (whose old bytes are all
/// written over: the length decompressed is checked).
fn decode_block<T, S>(
    b: &StoredBlock,
    raw: &mut [u8],
    decode: &impl Fn(&mut BlockReader, &mut Sink<T, S>) -> Result<(), Damaged>,
    sink: &mut Sink<T, S>,
) -> Result<(), Damaged> {
    let raw_len = i32::try_from(b.raw_len).map_err(|_| Damaged)?;
    let written =
        lz4::block::decompress_to_buffer(&b.stored, Some(raw_len), raw).map_err(|_| Damaged)?;
    if written != b.raw_len {
        return Err(Damaged);
    }
    let mut reader = BlockReader {
        raw,
        at: 0,
        rows: b.rows,
    };
    decode(&mut reader, sink)?;
    reader.finish()?;
    if sink.pushed() != b.rows {
        return Err(Damaged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy roll: a number, a text, an optional shared text, a byte.
    type Row = (i64, String, Option<&'static str>, u8);

    const SCHEMA: &str = "toy: n, text, shared, byte";

    fn encode(rows: &[Row]) -> Vec<u8> {
        encode_in_blocks(rows, BLOCK_ROWS)
    }

    fn encode_in_blocks(rows: &[Row], block_rows: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_in_blocks(&mut out, SCHEMA, rows.len(), block_rows, |range, w| {
            let rows = &rows[range];
            w.i64s(rows.iter().map(|r| r.0));
            w.texts(rows.iter().map(|r| r.1.as_str()));
            w.shared(rows.iter().map(|r| r.2.map(Shared::new)));
            w.u8s(rows.iter().map(|r| r.3));
        })
        .unwrap();
        out
    }

    fn decode(mut bytes: &[u8]) -> Result<Vec<Row>, Damaged> {
        read(&mut bytes, 0, SCHEMA, |r, sink| {
            let n = r.i64s()?;
            let text = r.texts()?;
            let shared = r.shared()?;
            let byte = r.u8s()?;
            r.push_rows(sink, |i| {
                let row = (
                    n.i64(i)?,
                    text.get(i)?.to_owned(),
                    shared.get(i)?.map(Shared::as_str),
                    *byte.get(i).ok_or(Damaged)?,
                );
                Ok((row, ()))
            })
        })
        .map(|(rows, _)| rows)
    }

    fn toy(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| {
                (
                    i as i64 * 7 - 3,
                    "张三李四".chars().cycle().take(i % 5).collect(),
                    ["410322", "410323001", ""].get(i % 4).copied(),
                    (i % 251) as u8,
                )
            })
            .collect()
    }

    /// The layout that state files already saved hold, byte for byte:
    /// the texts' total length, each text's length, then the texts.
    #[test]
    fn a_text_column_is_its_total_then_each_length_then_the_bytes() {
        let mut w = BlockWriter::default();
        w.u8s([9].into_iter());
        w.texts(["ab", "", "张"].into_iter());
        let mut expected = vec![9, 5, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0];
        expected.extend_from_slice("ab张".as_bytes());
        assert_eq!(w.raw, expected);
    }

    #[test]
    fn rows_round_trip_across_blocks() {
        for n in [0, 1, 5, BLOCK_ROWS, BLOCK_ROWS + 3] {
            let rows = toy(n);
            assert_eq!(decode(&encode(&rows)).unwrap(), rows, "{n} rows");
        }
    }

    #[test]
    fn many_windows_of_small_blocks_keep_file_order_whatever_the_hint() {
        let rows = toy(100);
        // 34 blocks of 3 rows: several windows, the last one short.
        let bytes = encode_in_blocks(&rows, 3);
        for hint in [0, 7, 100, 1000] {
            let read_back = read(&mut &bytes[..], hint, SCHEMA, |r, sink| {
                let n = r.i64s()?;
                let _ = (r.texts()?, r.shared()?, r.u8s()?);
                r.push_rows(sink, |i| Ok((n.i64(i)?, ())))
            });
            let expected: Vec<i64> = rows.iter().map(|r| r.0).collect();
            assert_eq!(read_back.unwrap().0, expected, "hint {hint}");
        }
        assert_eq!(decode(&bytes).unwrap(), rows);
    }

    /// Rows decoded with a side value land in two vectors, index for
    /// index, across blocks and windows.
    #[test]
    fn rows_with_side_values_are_split_as_they_are_appended() {
        let rows = toy(100);
        let bytes = encode_in_blocks(&rows, 3);
        let (numbers, texts): (Vec<i64>, Vec<String>) =
            read(&mut &bytes[..], 10, SCHEMA, |r, sink| {
                let n = r.i64s()?;
                let text = r.texts()?;
                let _ = (r.shared()?, r.u8s()?);
                r.push_rows(sink, |i| Ok((n.i64(i)?, text.get(i)?.to_owned())))
            })
            .unwrap();
        assert_eq!(numbers, rows.iter().map(|r| r.0).collect::<Vec<_>>());
        assert_eq!(texts, rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>());
    }

    /// A block whose decoder gives one row fewer or one more than the
    /// block holds is damage, whichever block of which window it is.
    #[test]
    fn a_block_decoded_to_another_count_of_rows_is_damage() {
        let rows = toy(40);
        // 10 blocks of 4 rows; block `b` starts with row 4b, whose number
        // is 28b - 3.
        let bytes = encode_in_blocks(&rows, 4);
        for odd_block in [0, 5, 9] {
            for change in [-1, 1] {
                let read_back = read(&mut &bytes[..], 0, SCHEMA, |r, sink| {
                    let n = r.i64s()?;
                    let _ = (r.texts()?, r.shared()?, r.u8s()?);
                    let odd = n.i64(0)? == odd_block * 28 - 3;
                    let count = if odd {
                        r.rows() as i64 + change
                    } else {
                        r.rows() as i64
                    };
                    for i in 0..count as usize {
                        sink.push(n.i64(i.min(r.rows() - 1))?, ());
                    }
                    Ok(())
                });
                assert_eq!(
                    read_back.unwrap_err(),
                    Damaged,
                    "block {odd_block}, {change:+}"
                );
            }
        }
        // Unchanged, the same decoder reads every row.
        let whole = read(&mut &bytes[..], 0, SCHEMA, |r, sink| {
            let n = r.i64s()?;
            let _ = (r.texts()?, r.shared()?, r.u8s()?);
            r.push_rows(sink, |i| Ok((n.i64(i)?, ())))
        });
        assert_eq!(whole.unwrap().0.len(), 40);
    }

    #[test]
    fn another_schema_is_refused() {
        let bytes = encode(&toy(3));
        let other: Result<(Vec<Row>, Vec<()>), Damaged> =
            read(&mut &bytes[..], 0, "toy: n", |_, _| Ok(()));
        assert_eq!(other.unwrap_err(), Damaged);
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_damage_or_rows_never_a_panic() {
        let rows = toy(40);
        // 10 blocks: more than a window.
        let bytes = encode_in_blocks(&rows, 4);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Err(Damaged), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(Damaged), "a byte after the end");
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] ^= flip;
                // Some flips land in a value and still decode (the marker's
                // SHA-256 catches those); none may panic.
                let _ = decode(&bad);
            }
        }
    }
}
