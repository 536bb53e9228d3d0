//! Typed rows of each input: the 低保 roll, the poor roll and the two
//! registers. Rows are parsed in parallel (rayon) and keep file order.

use std::collections::BTreeMap;
use std::path::Path;

use crate::columns::{self as col, InputColumn};
use crate::error::Result;
use crate::model::*;

use super::sink::{Filled, Sink, append_in_order, fill_in_order, try_reserve};
use super::values::{self, clean};
use super::{InputStats, Loaded, Reject, Validation, match_headers};
use crate::vocab::Shared;

/// Why a row is rejected: the column and a reason code.
type Fault = (&'static InputColumn, &'static str);

/// Cells of one record, looked up by the contract's columns.
struct Cells<'a> {
    record: &'a [&'a str],
    line: u64,
    /// Each input column's position in the record, by its slot.
    slots: &'a Slots,
    /// Optional cells that failed to parse, by column (for the summary).
    unparsed: Vec<&'static str>,
    /// Whether the record may hold a character to fold
    /// ([`values::clean_in`]).
    foldable: bool,
}

impl<'a> Cells<'a> {
    fn position(&self, c: &InputColumn) -> Option<usize> {
        *self.slots.get(c.slot as usize)?
    }

    fn raw(&self, c: &InputColumn) -> &'a str {
        self.position(c)
            .and_then(|i| self.record.get(i).copied())
            .unwrap_or("")
    }

    /// A required cell, cleaned; empty is a fault.
    fn required(&self, c: &'static InputColumn) -> Result<std::borrow::Cow<'a, str>, Fault> {
        let v = values::clean_in(self.raw(c), self.foldable);
        if v.is_empty() {
            Err((c, "missing_value"))
        } else {
            Ok(v)
        }
    }

    /// A required cell, trimmed but otherwise as written (names, ids).
    fn required_text(&self, c: &'static InputColumn) -> Result<Text, Fault> {
        let v = values::trim(self.raw(c));
        if v.is_empty() {
            Err((c, "missing_value"))
        } else {
            Ok(v.into())
        }
    }

    fn parse<T>(
        &self,
        c: &'static InputColumn,
        reason: &'static str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, Fault> {
        f(&self.required(c)?).ok_or((c, reason))
    }

    /// An optional cell: empty stays `None`; unparseable becomes `None`
    /// and is counted.
    fn optional<T>(&mut self, c: &'static InputColumn, f: impl Fn(&str) -> Option<T>) -> Option<T> {
        let v = values::clean_in(self.raw(c), self.foldable);
        if v.is_empty() {
            return None;
        }
        let parsed = f(&v);
        if parsed.is_none() {
            self.unparsed.push(c.zh);
        }
        parsed
    }

    /// An optional cell of few distinct values, trimmed, from the run's
    /// shared table.
    fn optional_shared(&self, c: &'static InputColumn) -> Option<Shared> {
        let v = values::trim(self.raw(c));
        (!v.is_empty()).then(|| Shared::new(v))
    }

    fn optional_text(&self, c: &'static InputColumn) -> Option<Text> {
        let v = values::trim(self.raw(c));
        (!v.is_empty()).then(|| v.into())
    }

    /// A roll row's person fields and its household number.
    fn member(&self, v: Validation) -> Result<(Member, ShortText), Fault> {
        let region = self.parse(&col::REGION_CODE, "bad_region_code", values::region_code)?;
        let household_id = self.required(&col::HOUSEHOLD_ID)?;
        let name = self.required_text(&col::NAME)?;
        let id_given = self.required_text(&col::ID_NUMBER)?;
        let relation = self.required(&col::RELATION)?;
        let member = Member {
            // Past two billion lines (no roll has them) the number stays
            // at the largest; the row is read all the same.
            line_and_head: LineAndHead::new(self.line, values::is_head(&relation)),
            region: Region::new(&region),
            name: Name::new(&name),
            id: PersonId::new(id_given, v.quarter_end),
        };
        Ok((member, ShortText::new(&household_id)))
    }
}

/// Records are parsed in chunks of about this many bytes, in parallel.
const CHUNK_BYTES: usize = 4 << 20;

/// Parquet rows are parsed in ranges of this many rows, in parallel.
const PARQUET_ROWS: usize = 50_000;

/// Parquet files are decoded in stretches of whole row groups of at least
/// this many rows (a poor roll's text columns take about 300 bytes a row).
const PARQUET_STRETCH_ROWS: usize = 500_000;

/// What one chunk of records gave besides its rows (which go to the
/// chunk's [`Sink`]).
#[derive(Default)]
struct Parsed {
    rejects: Vec<Reject>,
    read: u64,
    unparsed: Vec<&'static str>,
}

/// The rules every reader shares: field counts, then the row parser.
struct RowRules<'a, P> {
    file: &'a str,
    width: usize,
    slots: Slots,
    parse: &'a P,
}

/// Where each input column is in a record, indexed by the column's slot.
type Slots = [Option<usize>; col::INPUT_SLOTS];

/// The positions `match_headers` found for `columns`, by slot.
fn slots(columns: &[InputColumn], index: &[Option<usize>]) -> Slots {
    let mut slots = [None; col::INPUT_SLOTS];
    for (c, &i) in columns.iter().zip(index) {
        slots[c.slot as usize] = i;
    }
    slots
}

impl<P> RowRules<'_, P> {
    fn apply<T, S>(
        &self,
        record: &[&str],
        line: u64,
        foldable: bool,
        rows: &mut Sink<T, S>,
        out: &mut Parsed,
    ) where
        P: Fn(&mut Cells) -> Result<(T, S), Fault>,
    {
        out.read += 1;
        let mut cells = Cells {
            record,
            line,
            slots: &self.slots,
            unparsed: Vec::new(),
            foldable,
        };
        let extra_filled = record
            .iter()
            .skip(self.width)
            .any(|c| !values::trim(c).is_empty());
        let outcome = if record.len() < self.width {
            Err((&ROW, "too_few_fields"))
        } else if extra_filled {
            Err((&ROW, "too_many_fields"))
        } else {
            (self.parse)(&mut cells)
        };
        match outcome {
            Ok((row, side)) => {
                rows.push(row, side);
                out.unparsed.extend(cells.unparsed);
            }
            Err((column, reason)) => out.rejects.push(Reject {
                file: self.file.to_owned(),
                line,
                column: column.zh.to_owned(),
                reason: reason.to_owned(),
                cells: record.iter().map(|c| (*c).to_owned()).collect(),
            }),
        }
    }
}

/// Read any input with a row parser; the shared part of the four readers.
fn read_input<T: Send, S: Send>(
    input: &str,
    path: &Path,
    v: Validation,
    columns: &'static [InputColumn],
    parse: impl Fn(&mut Cells) -> Result<(T, S), Fault> + Sync,
) -> Result<Loaded<T, S>> {
    if let Some(loaded) = read_csv_by_windows(input, path, v, columns, &parse, WINDOW_BYTES)? {
        return Ok(loaded);
    }
    rows_of(input, path, super::read_bytes(path)?, v, columns, parse)
}

/// A CSV file larger than this is read a window of this many bytes at a
/// time (see [`read_csv_by_windows`]).
const WINDOW_BYTES: usize = 64 << 20;

/// Read a CSV file a window at a time: each window's whole records
/// are parsed in parallel chunks and appended to the rows, the partial
/// record at its end carried into the next window. The whole file was
/// held in memory while it was parsed: at 10 M households the poor
/// roll's 4.4 GB (×2 with Q-1's) made the read stage's peak, and every
/// page of it was a fresh page fault (issue #7).
///
/// GB18030 windows are cut after a line feed, which is never a byte of a
/// GB18030 character, and transcoded as the whole-file read does.
///
/// `None` when the file must be read whole instead, with the same
/// result as before: a small file, Parquet, UTF-16, a header that does
/// not end in the first window, a window with a NUL byte (binary data,
/// which the whole-file read reports), or a window that is not UTF-8 in
/// a file whose first window was; rows read so far are then dropped and
/// the file read again.
fn read_csv_by_windows<T: Send, S: Send>(
    input: &str,
    path: &Path,
    v: Validation,
    columns: &'static [InputColumn],
    parse: &(impl Fn(&mut Cells) -> Result<(T, S), Fault> + Sync),
    window: usize,
) -> Result<Option<Loaded<T, S>>> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| super::open_error(path, e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file_len <= window as u64 {
        return Ok(None);
    }
    let file_name = path.display().to_string();
    let mut hasher = v.hash_files.then(Sha256::new);
    // Room for a window and the partial record left before it: appending
    // a window to a buffer of one window's room reallocated it, and the
    // allocator copied its whole room, touched or not (64 MB and as many
    // new pages for each file, a tenth of a 1 M household run's page
    // faults; issue #7). Room never touched costs no memory.
    let mut buf: Vec<u8> = Vec::with_capacity(2 * window);
    // The buffer the next window is read into while this one is parsed.
    let mut spare: Vec<u8> = Vec::new();
    let mut rows: Filled<T, S> = (Vec::new(), Vec::new());
    let mut parts: Vec<Parsed> = Vec::new();
    // Set from the first window: the rules, whether it had a BOM, the
    // line of the next window's first byte.
    let mut rules: Option<RowRules<'_, _>> = None;
    let mut encoding = super::Encoding::Utf8;
    let mut next_line = 1u64;
    // Appends up to `want` bytes of the file to `to`; true at its end.
    // The bytes read leave the page cache ([`super::forget_cached`]).
    let read_more = |file: &mut std::fs::File, to: &mut Vec<u8>, want: usize| {
        use std::io::Seek;
        to.reserve(want);
        let at_end = file
            .take(want as u64)
            .read_to_end(to)
            .map(|got| got < want)
            .map_err(|e| super::open_error(path, e))?;
        if let Ok(read) = file.stream_position() {
            super::forget_cached(file, read);
        }
        Ok(at_end)
    };
    let mut at_end = read_more(&mut file, &mut buf, window)?;
    loop {
        let first = rules.is_none();
        if first && (super::is_parquet_start(&buf) || super::decode::is_utf16(&buf)) {
            return Ok(None);
        }
        // One look for a quote serves the cut and the split: a quote
        // past the cut only sends the window's records down the quoted
        // path, which reads quote-free text alike.
        let quoted = super::chunks::contains_byte(&buf, b'"');
        let end = if at_end {
            buf.len()
        } else {
            super::chunks::whole_records_end(&buf, quoted)
        };
        if end == 0 && !at_end {
            // Not one whole record yet: the window grows.
            let more = window.max(buf.len());
            at_end = read_more(&mut file, &mut buf, more)?;
            continue;
        }
        let whole = &buf[..end];
        let bom = if first && whole.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        // Every pass over a window that runs on one thread holds up the
        // parse that follows it: this one runs in parallel pieces.
        if super::chunks::contains_byte(whole, 0) {
            return Ok(None);
        }
        // A file is GB18030 when it is not UTF-8 (as `decode` decides): a
        // first window that is not UTF-8 decides it. A later window that
        // is not UTF-8 after a first that was sends the file to the
        // whole-file read, which decides on all of it.
        let utf8 = match encoding {
            super::Encoding::Gb18030 => None,
            _ => super::decode::utf8_text(&whole[bom..]),
        };
        if utf8.is_none() && first && bom == 0 {
            encoding = super::Encoding::Gb18030;
        }
        let text: std::borrow::Cow<'_, str> = match (utf8, encoding) {
            (Some(text), _) => text.into(),
            (None, super::Encoding::Gb18030) => super::decode::gb18030_text(whole)
                .map_err(|e| crate::error::Error::data(path, e))?
                .into(),
            (None, _) => return Ok(None),
        };
        let text = text.as_ref();
        let mut start = 0;
        if first {
            let (headers, header_end, line) = super::table::csv_header(path, text)?;
            if headers.is_empty() {
                return Ok(None);
            }
            let index = match_headers(path, &headers, columns)?;
            rules = Some(RowRules {
                file: &file_name,
                width: headers.len(),
                slots: slots(columns, &index),
                parse,
            });
            if bom == 3 {
                encoding = super::Encoding::Utf8Bom;
            }
            // Rows are about as many per byte in the rest of the file as
            // in its first window; capacity that is not used is never
            // touched, so the guess is generous. If the system refuses it
            // (a file of millions of empty lines), the rows grow as read.
            let records = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
            let guess = (file_len as f64 / end.max(1) as f64 * records as f64 * 1.25) as usize;
            try_reserve(&mut rows, guess.min(crate::model::MAX_ROWS_PER_ROLL) + 1024);
            (start, next_line) = (header_end, line);
        }
        let Some(rules) = rules.as_ref() else {
            return Ok(None);
        };
        let chunks = super::chunks::split(text, start, next_line, CHUNK_BYTES, quoted);
        let bounds = super::chunks::record_bounds(&chunks);
        // The hash of this window and the read of the next beside its
        // parse: the next window goes into the other buffer, after this
        // window's partial last record. Read after the parse, the copy
        // from the page cache held up both cores while one worked (about
        // 10 ms a window, 170 windows at 10 M households, where the
        // poor roll is read alone for most of each quarter). Measured in
        // alternated runs (issue #7): 10 M households' run about 0.8 s
        // faster (77.29/77.75 s, 76.33/77.40 s), 1 M unchanged, peak
        // memory up by the one spare window at 1 M (≈ +40 MB).
        let (next, window_parts) = rayon::join(
            || {
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..end]);
                }
                if at_end {
                    return Ok(true);
                }
                if spare.capacity() == 0 {
                    spare.reserve(2 * window);
                }
                spare.clear();
                spare.extend_from_slice(&buf[end..]);
                read_more(&mut file, &mut spare, window)
            },
            || {
                append_in_order(&mut rows, &bounds, |i, sink| {
                    let chunk = &chunks[i];
                    let mut out = Parsed::default();
                    super::table::for_each_record(
                        path,
                        chunk.text,
                        chunk.first_line,
                        |record, line, foldable| {
                            rules.apply(record, line, foldable, sink, &mut out)
                        },
                    )
                    .map(|()| out)
                })
            },
        );
        for part in window_parts {
            parts.push(part?);
        }
        // The next window's first line: the last chunk's first line and
        // its line feeds (the chunks' lines were counted in parallel).
        if let Some(last) = chunks.last() {
            next_line =
                last.first_line + memchr::memchr_iter(b'\n', last.text.as_bytes()).count() as u64;
        }
        // At the end the window was parsed to its last byte.
        if at_end {
            break;
        }
        at_end = next?;
        std::mem::swap(&mut buf, &mut spare);
    }
    let sha256 = hasher
        .map(|h| hex::encode(h.finalize()))
        .unwrap_or_default();
    finish(
        input,
        path,
        sha256,
        "csv",
        encoding.name().to_owned(),
        rows,
        parts,
    )
    .map(Some)
}

fn rows_of<T: Send, S: Send>(
    input: &str,
    path: &Path,
    bytes: Vec<u8>,
    v: Validation,
    columns: &'static [InputColumn],
    parse: impl Fn(&mut Cells) -> Result<(T, S), Fault> + Sync,
) -> Result<Loaded<T, S>> {
    use sha2::{Digest, Sha256};
    let file = path.display().to_string();
    // The file's hash is computed beside the parse, not before it.
    let (sha256, parsed) = rayon::join(
        || {
            if v.hash_files {
                hex::encode(Sha256::digest(&bytes))
            } else {
                String::new()
            }
        },
        || parse_parts(path, &file, &bytes, columns, &parse, PARQUET_STRETCH_ROWS),
    );
    // The file's bytes are freed as soon as every chunk is parsed.
    drop(bytes);
    let (rows, parts, format, encoding) = parsed?;
    finish(input, path, sha256, format, encoding, rows, parts)
}

/// A file's figures and rejects from what its chunks gave.
fn finish<T, S>(
    input: &str,
    path: &Path,
    sha256: String,
    format: &str,
    encoding: String,
    (rows, sides): Filled<T, S>,
    parts: Vec<Parsed>,
) -> Result<Loaded<T, S>> {
    let mut stats = InputStats {
        input: input.to_owned(),
        path: path.to_path_buf(),
        sha256,
        format: format.into(),
        encoding,
        ..Default::default()
    };
    let mut rejects = Vec::new();
    for part in parts {
        stats.rows_read += part.read;
        for r in &part.rejects {
            *stats.reject_reasons.entry(r.reason.clone()).or_default() += 1;
        }
        rejects.extend(part.rejects);
        for c in part.unparsed {
            *stats.optional_unparsed.entry(c.to_owned()).or_default() += 1;
        }
    }
    if rows.len() >= crate::model::MAX_ROWS_PER_ROLL {
        return Err(crate::error::Error::data(
            path,
            format!(
                "{} rows or more: rows are numbered in 30 bits; split the roll by county",
                crate::model::MAX_ROWS_PER_ROLL
            ),
        ));
    }
    stats.rows_used = rows.len() as u64;
    stats.rows_rejected = rejects.len() as u64;
    Ok(Loaded {
        rows,
        sides,
        stats,
        rejects,
    })
}

/// A file's rows in file order, what each chunk gave besides, its format
/// and (for CSV) its encoding.
type Parts<T, S> = (Filled<T, S>, Vec<Parsed>, &'static str, String);

fn parse_parts<T: Send, S: Send>(
    path: &Path,
    file: &str,
    bytes: &[u8],
    columns: &'static [InputColumn],
    parse: &(impl Fn(&mut Cells) -> Result<(T, S), Fault> + Sync),
    stretch_rows: usize,
) -> Result<Parts<T, S>> {
    if super::is_parquet(bytes) {
        let stretches = super::parquet_stretches(path, bytes, stretch_rows)?;
        let height = stretches.last().map_or(0, |s| s.end);
        let mut rows: Filled<T, S> = (Vec::new(), Vec::new());
        // Reserved once for the whole file: the stretches are appended
        // without the vectors ever moving.
        try_reserve(&mut rows, height);
        let mut stretches = stretches.into_iter();
        let Some(first) = stretches.next() else {
            return Ok((
                (Vec::new(), Vec::new()),
                Vec::new(),
                "parquet",
                String::new(),
            ));
        };
        let table = super::read_parquet(path, bytes, first)?;
        if table.headers.is_empty() {
            return Ok((
                (Vec::new(), Vec::new()),
                Vec::new(),
                "parquet",
                String::new(),
            ));
        }
        // The file has one schema: its first stretch's headers are all.
        let index = match_headers(path, &table.headers, columns)?;
        let rules = RowRules {
            file,
            width: table.headers.len(),
            slots: slots(columns, &index),
            parse,
        };
        let parse_stretch = |table: &super::ParquetText, rows: &mut Filled<T, S>| {
            let all = table.rows();
            let ranges: Vec<std::ops::Range<usize>> = all
                .clone()
                .step_by(PARQUET_ROWS)
                .map(|start| start..(start + PARQUET_ROWS).min(all.end))
                .collect();
            let bounds: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
            append_in_order(rows, &bounds, |i, sink| {
                let mut out = Parsed::default();
                table.for_each_record(ranges[i].clone(), |record, line, foldable| {
                    rules.apply(record, line, foldable, sink, &mut out)
                });
                out
            })
        };
        let mut parts = parse_stretch(&table, &mut rows);
        drop(table);
        for stretch in stretches {
            let table = super::read_parquet(path, bytes, stretch)?;
            parts.extend(parse_stretch(&table, &mut rows));
        }
        Ok((rows, parts, "parquet", String::new()))
    } else {
        let (text, encoding) =
            super::decode(bytes).map_err(|e| crate::error::Error::data(path, e))?;
        let encoding = encoding.name().to_owned();
        let (headers, start, first_line) = super::table::csv_header(path, &text)?;
        if headers.is_empty() {
            return Ok(((Vec::new(), Vec::new()), Vec::new(), "csv", encoding));
        }
        let index = match_headers(path, &headers, columns)?;
        let rules = RowRules {
            file,
            width: headers.len(),
            slots: slots(columns, &index),
            parse,
        };
        let quoted = super::chunks::contains_byte(&text.as_bytes()[start..], b'"');
        let chunks = super::chunks::split(&text, start, first_line, CHUNK_BYTES, quoted);
        let bounds = super::chunks::record_bounds(&chunks);
        let (rows, parts) = fill_in_order(&bounds, |i, sink| {
            let chunk = &chunks[i];
            let mut out = Parsed::default();
            super::table::for_each_record(
                path,
                chunk.text,
                chunk.first_line,
                |record, line, foldable| rules.apply(record, line, foldable, sink, &mut out),
            )
            .map(|()| out)
        });
        let parts = parts.into_iter().collect::<Result<Vec<Parsed>>>()?;
        Ok((rows, parts, "csv", encoding))
    }
}

/// Stands for "the whole row" in a fault (the column is left empty).
static ROW: InputColumn = InputColumn {
    slot: u8::MAX,
    zh: "",
    en: "",
    required: true,
};

fn count_invalid<'a>(stats: &mut InputStats, ids: impl Iterator<Item = &'a PersonId>) {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for id in ids {
        if let Some(r) = id.invalid_reason() {
            *counts.entry(r.code().to_owned()).or_default() += 1;
        }
    }
    stats.invalid_ids = counts;
}

/// A 低保 roll's rows, each kept as `R`: the whole row, or what Q-1's
/// movement checks read of it (made row by row, so the whole rows are
/// never all held).
pub fn read_dibao<R: Kept<DibaoRow> + Send>(
    path: &Path,
    v: Validation,
) -> Result<Loaded<R, R::Side>> {
    let mut loaded = read_input("dibao", path, v, col::DIBAO_COLUMNS, |c| {
        dibao_row(c, v).map(|(row, household_id)| R::keep(row, household_id))
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(RollRow::id));
    Ok(loaded)
}

/// A 低保 roll from bytes in memory; `path` only names it in messages
/// (the fuzz target's entry).
pub fn read_dibao_bytes(
    path: &Path,
    bytes: Vec<u8>,
    v: Validation,
) -> Result<Loaded<DibaoRow, ShortText>> {
    let mut loaded = rows_of("dibao", path, bytes, v, col::DIBAO_COLUMNS, |c| {
        dibao_row(c, v)
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.member.id));
    Ok(loaded)
}

fn dibao_row(c: &mut Cells, v: Validation) -> Result<(DibaoRow, ShortText), Fault> {
    let (member, household_id) = c.member(v)?;
    let row = DibaoRow {
        member,
        monthly_benefit: c
            .parse(&col::MONTHLY_BENEFIT, "bad_decimal", values::decimal)?
            .into(),
        monthly_income: c
            .parse(&col::MONTHLY_INCOME, "bad_decimal", values::decimal)?
            .into(),
        category: c.optional_shared(&col::CATEGORY),
        enrolled_on: OptionalDate::new(c.optional(&col::ENROLLED_ON, values::date)),
    };
    Ok((row, household_id))
}

/// A poor roll's rows, each kept as `R` (see [`read_dibao`]).
pub fn read_poor<R: Kept<PoorRow> + Send>(
    path: &Path,
    v: Validation,
) -> Result<Loaded<R, R::Side>> {
    let mut loaded = read_input("poor", path, v, col::POOR_COLUMNS, |c| {
        let (member, household_id) = c.member(v)?;
        let row = PoorRow {
            member,
            household_type: c.parse(&col::HOUSEHOLD_TYPE, "bad_enum", |s| {
                values::enumerated(s, &HouseholdType::ALL)
            })?,
            status: c.parse(&col::STATUS, "bad_enum", |s| {
                values::enumerated(s, &Status::ALL)
            })?,
            annual_income: c
                .parse(&col::ANNUAL_INCOME, "bad_decimal", values::decimal)?
                .into(),
            circumstances: Circumstances::new(
                c.parse(&col::LABOR, "bad_enum", |s| {
                    values::enumerated(s, &Labor::ALL)
                })?,
                c.parse(&col::HEALTH, "bad_enum", |s| {
                    values::enumerated(s, &Health::ALL)
                })?,
                c.parse(&col::MEDICAL_INSURED, "bad_bool", values::boolean)?,
                c.parse(&col::HOUSING_SAFE, "bad_bool", values::boolean)?,
                c.parse(&col::WATER_SAFE, "bad_bool", values::boolean)?,
            ),
            exit_year: OptionalI32::new(c.optional(&col::EXIT_YEAR, values::integer)),
            cause: c.optional_shared(&col::CAUSE),
            schooling: c
                .optional_text(&col::SCHOOLING)
                .map(|s| Shared::new(&clean(&s))),
        };
        Ok(R::keep(row, household_id))
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(RollRow::id));
    Ok(loaded)
}

pub fn read_deaths(path: &Path, v: Validation) -> Result<Loaded<DeathRow>> {
    let mut loaded = read_input("deaths", path, v, col::DEATHS_COLUMNS, |c| {
        let id_given = c.required_text(&col::ID_NUMBER)?;
        let row = DeathRow {
            line: c.line,
            death_date: c.parse(&col::DEATH_DATE, "bad_date", values::date)?,
            id: PersonId::new(id_given, v.quarter_end),
        };
        Ok((row, ()))
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.id));
    Ok(loaded)
}

pub fn read_employees(path: &Path, v: Validation) -> Result<Loaded<EmployeeRow>> {
    let mut loaded = read_input(
        "public_employees",
        path,
        v,
        col::PUBLIC_EMPLOYEES_COLUMNS,
        |c| {
            let id_given = c.required_text(&col::ID_NUMBER)?;
            let row = EmployeeRow {
                line: c.line,
                employer: c.optional_text(&col::EMPLOYER),
                id: PersonId::new(id_given, v.quarter_end),
            };
            Ok((row, ()))
        },
    )?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.id));
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The validation of a 2018Q3 roll, its files hashed or not.
    fn third_quarter_2018(hash_files: bool) -> Validation {
        Validation {
            quarter_end: crate::calendar::Date::new(2018, 9, 30).unwrap(),
            hash_files,
        }
    }

    #[test]
    fn every_input_column_has_its_own_slot() {
        for list in [
            col::DIBAO_COLUMNS,
            col::POOR_COLUMNS,
            col::DEATHS_COLUMNS,
            col::PUBLIC_EMPLOYEES_COLUMNS,
        ] {
            let index: Vec<Option<usize>> = (0..list.len()).map(Some).collect();
            let slots = slots(list, &index);
            for (i, c) in list.iter().enumerate() {
                assert!((c.slot as usize) < col::INPUT_SLOTS, "{}", c.en);
                assert_eq!(slots[c.slot as usize], Some(i), "{} shares a slot", c.en);
            }
        }
    }

    #[test]
    fn parquet_read_a_stretch_of_row_groups_at_a_time_gives_the_rows_of_one_read() {
        use polars::prelude::*;
        let n = 10;
        let cell = |c: &InputColumn, i: usize| -> String {
            if i == 7 {
                return String::new(); // a blank row: skipped, not read
            }
            match c.en {
                "region_code" => "410322102203".into(),
                "household_id" => format!("H{}", i / 3),
                "name" if i == 4 => String::new(), // rejected: no name
                "name" => format!("张{i}"),
                "id_number" => format!("41032219800101{i:04}"),
                "relation" if i.is_multiple_of(3) => "户主".into(),
                "relation" => "子女".into(),
                "category" => "一类".into(),
                "enrolled_on" => "2018-01-01".into(),
                _ => "100".into(),
            }
        };
        let columns: Vec<Column> = col::DIBAO_COLUMNS
            .iter()
            .map(|c| {
                let values: Vec<String> = (0..n).map(|i| cell(c, i)).collect();
                Column::new(c.zh.into(), values)
            })
            .collect();
        let mut df = DataFrame::new(n, columns).unwrap();
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes)
            .with_row_group_size(Some(3))
            .finish(&mut df)
            .unwrap();
        let path = Path::new("t.parquet");
        assert!(
            super::super::parquet_stretches(path, &bytes, 1)
                .unwrap()
                .len()
                > 1
        );
        let v = third_quarter_2018(true);
        let parse = |c: &mut Cells| c.member(v);
        let read_with = |stretch_rows| {
            let ((rows, households), parts, ..) = parse_parts(
                path,
                "t.parquet",
                &bytes,
                col::DIBAO_COLUMNS,
                &parse,
                stretch_rows,
            )
            .unwrap();
            let rows: Vec<(u32, String, String)> = rows
                .iter()
                .zip(&households)
                .map(|(m, h)| (m.line(), m.name.to_string(), h.to_string()))
                .collect();
            let rejects: Vec<u64> = parts
                .iter()
                .flat_map(|p| p.rejects.iter().map(|r| r.line))
                .collect();
            let read: u64 = parts.iter().map(|p| p.read).sum();
            (rows, rejects, read)
        };
        let (rows, rejects, read) = read_with(1);
        assert_eq!((rows.clone(), rejects.clone(), read), read_with(usize::MAX));
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[4], (7, "张5".to_string(), "H1".to_string()));
        assert_eq!((rejects, read), (vec![6], 9));
    }

    /// The 低保 roll's header line, its Chinese column names in order.
    fn dibao_header() -> String {
        let names: Vec<&str> = col::DIBAO_COLUMNS.iter().map(|c| c.zh).collect();
        names.join(",")
    }

    /// Pages of `path` in the page cache, and the file's pages.
    fn cached_pages(path: &std::path::Path) -> (usize, usize) {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        let pages = len.div_ceil(4096);
        let mut resident = vec![0u8; pages];
        // SAFETY: a read-only shared map of `len` bytes of an open file,
        // never dereferenced: `mincore` only reports which of its pages
        // are in memory, into a vector of one byte per page; unmapped
        // before `file` is closed.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            assert_eq!(libc::mincore(map, len, resident.as_mut_ptr()), 0);
            libc::munmap(map, len);
        }
        (resident.iter().filter(|&&b| b & 1 == 1).count(), pages)
    }

    /// A file read by windows leaves the page cache as it is read, and a
    /// file read whole once it is read: a quarter's rolls are read once,
    /// and the pages they free give the rows memory the machine has just
    /// used (issue #7). Where the file system ignores the advice (tmpfs
    /// keeps its pages), there is nothing to test.
    #[test]
    fn a_file_read_by_windows_leaves_the_page_cache() {
        let v = third_quarter_2018(true);
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("{}\n", dibao_header());
        for i in 0..20_000 {
            text.push_str(&format!(
                "410322102203,H{},张三,41032219800101{:04},户主,一类,100,50,2018-01-01\n",
                i / 3,
                i % 10_000
            ));
        }
        let write_cached = |name: &str| {
            let path = dir.path().join(name);
            let mut file = std::fs::File::create(&path).unwrap();
            std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
            // Written back, so that its pages are clean and may be dropped.
            file.sync_all().unwrap();
            drop(file);
            std::fs::read(&path).unwrap();
            path
        };
        let probe = write_cached("probe.csv");
        let (before, pages) = cached_pages(&probe);
        let probe_file = std::fs::File::open(&probe).unwrap();
        super::super::forget_cached(&probe_file, probe_file.metadata().unwrap().len());
        if before == 0 || cached_pages(&probe).0 == before {
            eprintln!("this file system keeps its pages; nothing to test");
            return;
        }
        let path = write_cached("dibao.csv");
        assert_eq!(cached_pages(&path), (pages, pages));
        let parse = |c: &mut Cells| c.member(v);
        let loaded = read_csv_by_windows("t", &path, v, col::DIBAO_COLUMNS, &parse, 64 << 10)
            .unwrap()
            .unwrap();
        assert_eq!(loaded.rows.len(), 20_000);
        assert!(pages > 16, "{pages} pages: more than one window");
        assert_eq!(cached_pages(&path), (0, pages));
        // A file read whole (Parquet, a small file) leaves it too.
        let whole = write_cached("whole.csv");
        assert_eq!(super::super::read_bytes(&whole).unwrap(), text.as_bytes());
        assert_eq!(cached_pages(&whole), (0, pages));
    }

    /// The windowed read gives what the whole-file read gives (rows,
    /// rejects, figures, or the error) for every fixture and for quoted
    /// text with line breaks in cells, whatever the window; where it
    /// cannot (GB18030, a small file) it says so and the file is read
    /// whole.
    #[test]
    fn a_file_read_by_windows_gives_what_the_whole_file_gives() {
        let v = third_quarter_2018(true);
        let dir = tempfile::tempdir().unwrap();
        let mut quoted = format!("\u{feff}{}\r\n", dibao_header());
        for i in 0..40 {
            let name = match i % 5 {
                0 => "\"张,三\"".to_owned(),
                1 => "\"李\n四\"".to_owned(),
                2 => "\"王\"\"五\"\"\"".to_owned(),
                3 => String::new(),
                _ => format!("赵{}", "六".repeat(i * 3)),
            };
            quoted.push_str(&format!(
                "410322102203,H{},{name},41032219800101{i:04},户主,一类,100,50,2018-01-01\r\n",
                i / 2
            ));
            if i % 7 == 0 {
                quoted.push_str("\r\n,,,\n");
            }
        }
        let quoted_path = dir.path().join("quoted.csv");
        std::fs::write(&quoted_path, &quoted).unwrap();
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut files = vec![quoted_path];
        for sub in ["edge", "luoyang/2018Q3"] {
            for entry in std::fs::read_dir(fixtures.join(sub)).unwrap() {
                files.push(entry.unwrap().path());
            }
        }
        let parse = |c: &mut Cells| c.member(v);
        let describe = |r: Result<Loaded<Member, ShortText>>| match r {
            Ok(l) => format!(
                "{:?}\n{:?}\n{:?}\n{:?}",
                l.rows, l.sides, l.rejects, l.stats
            ),
            Err(e) => format!("error: {e}"),
        };
        let mut windowed = 0;
        for file in &files {
            for columns in [col::DIBAO_COLUMNS, col::POOR_COLUMNS] {
                let whole = describe(rows_of(
                    "t",
                    file,
                    std::fs::read(file).unwrap(),
                    v,
                    columns,
                    parse,
                ));
                for window in [16, 97, 1000, 4096] {
                    match read_csv_by_windows("t", file, v, columns, &parse, window) {
                        Ok(None) => {}
                        by_windows => {
                            windowed += 1;
                            let by_windows = describe(by_windows.map(|l| l.unwrap()));
                            assert_eq!(by_windows, whole, "{} window {window}", file.display());
                        }
                    }
                }
            }
        }
        assert!(windowed > 20, "only {windowed} reads by windows");
        // The quoted file was read, not refused: its rows and its rejects.
        let quoted = read_csv_by_windows("t", &files[0], v, col::DIBAO_COLUMNS, &parse, 97)
            .unwrap()
            .unwrap();
        assert_eq!((quoted.rows.len(), quoted.rejects.len()), (32, 8));
        assert!(quoted.rows.iter().any(|m| m.name == "李\n四"));
        // GB18030 text is read by windows too.
        let gb = fixtures.join("edge/dibao_gb18030.csv");
        assert!(
            read_csv_by_windows("t", &gb, v, col::DIBAO_COLUMNS, &parse, 16)
                .unwrap()
                .is_some()
        );
        // A file whose first window is UTF-8 and a later one not is read
        // whole, and is GB18030 there.
        let mut mixed = std::fs::read(&files[0]).unwrap();
        let (gbk, _, _) = encoding_rs::GBK
            .encode("410322102203,H1,张三,410322198001010001,户主,一类,100,50,2018-01-01\n");
        mixed.extend_from_slice(&gbk);
        let mixed_path = dir.path().join("mixed.csv");
        std::fs::write(&mixed_path, &mixed).unwrap();
        assert!(
            read_csv_by_windows("t", &mixed_path, v, col::DIBAO_COLUMNS, &parse, 64)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn full_width_cells_are_folded_on_the_lines_that_have_them() {
        let v = third_quarter_2018(false);
        let dir = tempfile::tempdir().unwrap();
        let wide = |text: &str| -> String {
            text.chars()
                .map(|c| match c {
                    '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
                    c => c,
                })
                .collect()
        };
        let (mut plain, mut mixed) = (String::new(), String::new());
        for text in [&mut plain, &mut mixed] {
            text.push_str(&dibao_header());
            text.push('\n');
        }
        for i in 0..60 {
            let line = format!(
                "410322102203,H{},张{i},41032219800101{i:04},户主,一类,100,50,2018-01-01\n",
                i / 3
            );
            plain.push_str(&line);
            // Every third line's cells padded with ideographic spaces and
            // written in full-width forms, but for the name and the ID
            // number, which keep their characters (and are trimmed).
            if i % 3 == 1 {
                let cells: Vec<String> = line
                    .trim_end()
                    .split(',')
                    .enumerate()
                    .map(|(k, c)| match k {
                        2 | 3 => format!("\u{3000}{c}\u{3000}"),
                        _ => format!("\u{3000}{}\u{3000}", wide(c)),
                    })
                    .collect();
                mixed.push_str(&cells.join(","));
                mixed.push('\n');
            } else {
                mixed.push_str(&line);
            }
        }
        let (plain_path, mixed_path) = (dir.path().join("plain.csv"), dir.path().join("mixed.csv"));
        std::fs::write(&plain_path, &plain).unwrap();
        std::fs::write(&mixed_path, &mixed).unwrap();
        let parse = |c: &mut Cells| dibao_row(c, v);
        let describe = |l: Loaded<DibaoRow, ShortText>| {
            assert!(l.rejects.is_empty());
            format!("{:?}\n{:?}", l.rows, l.sides)
        };
        let read = |path: &std::path::Path, window: Option<usize>| {
            describe(match window {
                Some(w) => read_csv_by_windows("t", path, v, col::DIBAO_COLUMNS, &parse, w)
                    .unwrap()
                    .unwrap(),
                None => rows_of(
                    "t",
                    path,
                    std::fs::read(path).unwrap(),
                    v,
                    col::DIBAO_COLUMNS,
                    parse,
                )
                .unwrap(),
            })
        };
        let expected = read(&plain_path, None);
        assert_eq!(read(&mixed_path, None), expected);
        assert_eq!(read(&mixed_path, Some(200)), expected);
    }
}
