//! A file as header + records with physical line numbers, from CSV or
//! Parquet; and the matching of headers to the contract's columns.

use std::path::Path;

use crate::columns::InputColumn;
use crate::error::Error;
use crate::identity::fold_width;

pub fn is_blank<'c>(mut cells: impl Iterator<Item = &'c str>) -> bool {
    // Asked of every record: the fast trim answers at the first cell.
    cells.all(|c| super::values::trim(c).is_empty())
}

/// The header of CSV text: the first record that is not blank, the byte
/// offset just after it, and the physical line of that offset.
pub fn csv_header(path: &Path, text: &str) -> Result<(Vec<String>, usize, u64), Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::data(
                path,
                format!(
                    "line {line}: the CSV header cannot be parsed ({})",
                    csv_reason(&e)
                ),
            )
        })?;
        if !more {
            return Ok((Vec::new(), text.len(), 1));
        }
        if !is_blank(record.iter()) {
            let end = (reader.position().byte() as usize).min(text.len());
            let line = 1 + text.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            return Ok((record.iter().map(str::to_owned).collect(), end, line));
        }
    }
}

/// Where each record of a chunk starts, as physical lines: the csv crate
/// reports where the reader stood before it skipped the previous line
/// break and any blank lines, so the line is found from that offset,
/// counting `\n` incrementally.
pub struct LineCounter<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub fn new(text: &'a str, first_line: u64) -> LineCounter<'a> {
        LineCounter {
            bytes: text.as_bytes(),
            counted_to: 0,
            line: first_line,
        }
    }

    pub fn line_of(&mut self, record: &csv::StringRecord) -> u64 {
        let bytes = self.bytes;
        let mut start = record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(0)
            .min(bytes.len());
        while start < bytes.len() && (bytes[start] == b'\n' || bytes[start] == b'\r') {
            start += 1;
        }
        if start > self.counted_to {
            self.line += bytes[self.counted_to..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.counted_to = start;
        }
        self.line
    }
}

/// Every record of CSV text that is not blank, as its cells, with the
/// physical line it starts on (`first_line` is the line of the text's
/// first byte). Blank lines, and lines of empty cells, are skipped; quoted
/// fields may span lines. The one record loop: each chunk of a roll goes
/// through it.
///
/// Lines without a quote or a lone carriage return are cut at their commas
/// in place: that is what the csv crate makes of them, without copying
/// every cell into a record and checking its UTF-8 again (a quarter of a
/// 1 M household read; issue #7). The commas, line ends, quotes and
/// carriage returns are found in one pass ([`super::structural`]). From
/// the first line that has a quote or a lone carriage return, the rest of
/// the text goes through the csv crate.
///
/// `f` is also told whether the record may hold a character that
/// [`super::values::clean`] folds ([`super::values::may_fold`]): found
/// for the whole text in one pass, so that its cells need not be looked
/// at one by one; always so for records from the csv crate.
pub fn for_each_record(
    path: &Path,
    text: &str,
    first_line: u64,
    mut f: impl FnMut(&[&str], u64, bool),
) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let mut cells: Vec<&str> = Vec::new();
    let mut at = 0;
    let mut line = first_line;
    // Where the bytes that may begin a folded character are, in order:
    // a line may fold when the next one at or after its start is before
    // its end.
    let [e3, ef] = super::values::FOLDABLE_LEADS;
    let mut foldable_at = memchr::memchr2_iter(e3, ef, bytes);
    let mut next_foldable = foldable_at.next().unwrap_or(usize::MAX);
    let mut structurals = super::structural::Structurals::new(bytes);
    while at < bytes.len() {
        cells.clear();
        let mut from = at;
        // The line's end (its line feed, or the text's end) and the end
        // of its last cell (before a carriage return that ends the line).
        let (end, content_end) = loop {
            let Some(p) = structurals.next() else {
                break (bytes.len(), bytes.len());
            };
            match bytes[p] {
                b',' => {
                    // Commas are ASCII, so these are character boundaries.
                    cells.push(&text[from..p]);
                    from = p + 1;
                }
                b'\n' => break (p, p),
                b'\r' if p + 1 == bytes.len() => break (bytes.len(), p),
                b'\r' if bytes[p + 1] == b'\n' => {
                    // The line feed is the next structural byte.
                    let lf = structurals.next();
                    debug_assert_eq!(lf, Some(p + 1));
                    break (p + 1, p);
                }
                // A quote, or a carriage return inside a line.
                _ => return csv_records(path, &text[at..], line, f),
            }
        };
        cells.push(&text[from..content_end]);
        while next_foldable < at {
            next_foldable = foldable_at.next().unwrap_or(usize::MAX);
        }
        let foldable = next_foldable < end;
        if !is_blank(cells.iter().copied()) {
            f(&cells, line, foldable);
        }
        at = end + 1;
        line += 1;
    }
    Ok(())
}

/// [`for_each_record`] through the csv crate: quoted fields, and lines
/// broken by a lone carriage return.
fn csv_records(
    path: &Path,
    text: &str,
    first_line: u64,
    mut f: impl FnMut(&[&str], u64, bool),
) -> Result<(), Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut lines = LineCounter::new(text, first_line);
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| {
        Error::data(
            path,
            format!(
                "near line {first_line}: the CSV text cannot be parsed ({})",
                csv_reason(&e)
            ),
        )
    })? {
        let line = lines.line_of(&record);
        if !is_blank(record.iter()) {
            let cells: Vec<&str> = record.iter().collect();
            f(&cells, line, true);
        }
    }
    Ok(())
}

pub fn csv_reason(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid text",
        csv::ErrorKind::UnequalLengths { .. } => "unequal field counts",
        _ => "malformed CSV",
    }
}

/// Rows of a Parquet file, a stretch of the file at a time, with every
/// column cast to text, so the same parsing rules apply as for CSV.
/// Records are made on demand, a range at a time, so that a roll is never
/// held as one record per row (issue #7).
pub struct ParquetText {
    pub headers: Vec<String>,
    columns: Vec<polars::prelude::StringChunked>,
    /// The file's row index of this stretch's first row.
    first_row: usize,
    height: usize,
}

impl ParquetText {
    /// The file's rows this stretch holds.
    pub fn rows(&self) -> std::ops::Range<usize> {
        self.first_row..self.first_row + self.height
    }

    /// Each record of the file's rows `range` (within [`Self::rows`])
    /// that is not blank, with its "line": the row's index + 2, as if the
    /// file had a header line.
    /// Each record may hold a character to fold (see the CSV reader's
    /// [`for_each_record`]): Parquet's cells are not one text to look
    /// at in one pass.
    pub fn for_each_record(
        &self,
        range: std::ops::Range<usize>,
        mut f: impl FnMut(&[&str], u64, bool),
    ) {
        let mut cells: Vec<&str> = Vec::with_capacity(self.columns.len());
        for i in range {
            cells.clear();
            cells.extend(
                self.columns
                    .iter()
                    .map(|c| c.get(i - self.first_row).unwrap_or("")),
            );
            if !is_blank(cells.iter().copied()) {
                f(&cells, i as u64 + 2, true);
            }
        }
    }
}

fn unreadable(path: &Path, e: &polars::prelude::PolarsError) -> Error {
    Error::data(
        path,
        format!("not a readable Parquet file ({})", polars_reason(e)),
    )
}

/// The file's rows cut into stretches of whole row groups of about
/// `target` rows or more; a file of one row group is one stretch. Text
/// columns take several times the file's size in memory, so a roll is
/// decoded a stretch at a time (issue #7). An empty file gives one empty
/// stretch, so that its header is still read and checked.
pub fn parquet_stretches(
    path: &Path,
    bytes: &[u8],
    target: usize,
) -> Result<Vec<std::ops::Range<usize>>, Error> {
    use polars::prelude::*;
    let mut reader = ParquetReader::new(std::io::Cursor::new(bytes));
    let metadata = reader.get_metadata().map_err(|e| unreadable(path, &e))?;
    let mut stretches = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for group in &metadata.row_groups {
        end += group.num_rows();
        if end - start >= target {
            stretches.push(start..end);
            start = end;
        }
    }
    if start < end || stretches.is_empty() {
        stretches.push(start..end);
    }
    Ok(stretches)
}

/// The file's rows `stretch` (from [`parquet_stretches`]), decoded as
/// stored: the one place a Parquet file is read a stretch at a time, for
/// the inputs here and for the saved state.
pub fn read_parquet_stretch(
    bytes: &[u8],
    stretch: std::ops::Range<usize>,
) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    use polars::prelude::*;
    ParquetReader::new(std::io::Cursor::new(bytes))
        .with_slice(Some((stretch.start, stretch.len())))
        .finish()
}

/// The file's rows `stretch` as text columns.
pub fn read_parquet(
    path: &Path,
    bytes: &[u8],
    stretch: std::ops::Range<usize>,
) -> Result<ParquetText, Error> {
    use polars::prelude::*;
    let df = read_parquet_stretch(bytes, stretch.clone()).map_err(|e| unreadable(path, &e))?;
    let headers: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut columns = Vec::with_capacity(headers.len());
    for column in df.columns() {
        let text = column.cast(&DataType::String).map_err(|e| {
            Error::data(
                path,
                format!("column cannot be read as text ({})", polars_reason(&e)),
            )
        })?;
        let text = text
            .str()
            .map_err(|e| Error::Internal(format!("{}: {}", path.display(), polars_reason(&e))))?;
        // One chunk, so that `get` is a direct lookup.
        columns.push(text.rechunk().into_owned());
    }
    Ok(ParquetText {
        headers,
        columns,
        first_row: stretch.start,
        height: df.height(),
    })
}

/// The kind of a polars error, without its message: polars quotes the
/// offending value, which may be an ID number.
fn polars_reason(e: &polars::prelude::PolarsError) -> &'static str {
    use polars::prelude::PolarsError as P;
    match e {
        P::ColumnNotFound(_) => "column not found",
        P::ComputeError(_) => "compute error",
        P::InvalidOperation(_) => "invalid operation",
        P::IO { .. } => "I/O error",
        P::SchemaMismatch(_) => "schema mismatch",
        P::ShapeMismatch(_) => "shape mismatch",
        _ => "unreadable data",
    }
}

/// Normalize a header for matching: trimmed, full-width folded.
fn header_key(h: &str) -> String {
    h.trim_start_matches('\u{FEFF}')
        .chars()
        .map(fold_width)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// For each wanted column, the index of the header that names it.
pub fn match_headers(
    path: &Path,
    headers: &[String],
    wanted: &[InputColumn],
) -> Result<Vec<Option<usize>>, Error> {
    let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
    let mut found = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for col in wanted {
        let hits: Vec<usize> = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.as_str() == col.zh || k.eq_ignore_ascii_case(col.en))
            .map(|(i, _)| i)
            .collect();
        if hits.len() > 1 {
            return Err(Error::data(
                path,
                format!(
                    "column {} ({}) appears {} times in the header",
                    col.zh,
                    col.en,
                    hits.len()
                ),
            ));
        }
        if hits.is_empty() && col.required {
            missing.push(format!("{} ({})", col.zh, col.en));
        }
        found.push(hits.first().copied());
    }
    if !missing.is_empty() {
        let shown: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", truncate(k, 40)))
            .collect();
        return Err(Error::data(
            path,
            format!(
                "missing required columns: {}; headers found: {}",
                missing.join(", "),
                shown.join(", ")
            ),
        ));
    }
    Ok(found)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::DIBAO_COLUMNS;

    #[test]
    fn blank_lines_are_skipped_and_lines_counted() {
        let text = "a,b\r\n\r\n1,2\r\n,\r\n\"3\n3\",4\n5,6\n";
        let (headers, start, first_line) = csv_header(Path::new("x.csv"), text).unwrap();
        assert_eq!(headers, vec!["a", "b"]);
        let mut lines = Vec::new();
        for_each_record(
            Path::new("x.csv"),
            &text[start..],
            first_line,
            |_, line, _| lines.push(line),
        )
        .unwrap();
        assert_eq!(lines, vec![3, 5, 7]);
    }

    fn records(text: &str, via_csv: bool) -> Vec<(Vec<String>, u64)> {
        let mut out = Vec::new();
        let keep = |cells: &[&str], line: u64, foldable: bool| {
            // A record said to have nothing to fold has none.
            assert!(
                foldable
                    || cells
                        .iter()
                        .all(|c| !super::super::values::may_fold(c.as_bytes()))
            );
            out.push((cells.iter().map(|c| c.to_string()).collect(), line))
        };
        if via_csv {
            csv_records(Path::new("x.csv"), text, 7, keep).unwrap();
        } else {
            for_each_record(Path::new("x.csv"), text, 7, keep).unwrap();
        }
        out
    }

    #[test]
    fn a_line_may_fold_exactly_when_it_holds_a_byte_e3_or_ef() {
        // U+3000 (E3 80 80), U+FF11 (EF BC 91), U+4DBF (E4 B6 BF: not
        // foldable), plain Chinese, ASCII; the last line has no break.
        let text = "a,\u{3000}b\n王,五\n１,2\n\u{4dbf},c\nx,y\r\nz,\u{3000}";
        let mut seen = Vec::new();
        for_each_record(Path::new("x.csv"), text, 2, |_, line, foldable| {
            seen.push((line, foldable))
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (2, true),
                (3, false),
                (4, true),
                (5, false),
                (6, false),
                (7, true)
            ]
        );
    }

    #[test]
    fn lines_cut_in_place_then_handed_to_the_csv_crate() {
        let text = "a,b\r\n\r\n,\n王,\"x,y\"\nc,\"1\n2\"\nd,e";
        assert_eq!(records(text, false), records(text, true));
        let lines: Vec<u64> = records(text, false).iter().map(|r| r.1).collect();
        assert_eq!(lines, vec![7, 10, 11, 13]);
    }

    proptest::proptest! {
        /// Whatever the text, cutting lines in place finds the records, cells
        /// and lines that the csv crate finds.
        #[test]
        fn in_place_cutting_agrees_with_the_csv_crate(
            text in "[a王, \"\r\n]{0,40}"
        ) {
            proptest::prop_assert_eq!(records(&text, false), records(&text, true));
        }

        /// Mostly lines cut in place: quotes are rare, lone CRs too.
        #[test]
        fn in_place_cutting_agrees_on_long_plain_texts(
            plain in "[a王, \n]{0,200}",
            tail in "[a, \"\r\n]{0,20}"
        ) {
            let text = plain + &tail;
            proptest::prop_assert_eq!(records(&text, false), records(&text, true));
        }
    }

    #[test]
    fn headers_match_chinese_or_english_any_case() {
        let headers: Vec<String> = [
            " 区划代码 ",
            "HOUSEHOLD_ID",
            "姓名",
            "Id_Number",
            "与户主关系",
            "月保障金",
            "家庭月人均收入",
            "extra",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = match_headers(Path::new("x.csv"), &headers, DIBAO_COLUMNS).unwrap();
        assert_eq!(m[0], Some(0));
        assert_eq!(m[1], Some(1));
        assert_eq!(m[5], None); // 保障类别 is optional
    }

    #[test]
    fn missing_columns_are_named_with_the_headers_found() {
        let headers: Vec<String> = ["姓名", "身份证号"].iter().map(|s| s.to_string()).collect();
        let e = match_headers(Path::new("d.csv"), &headers, DIBAO_COLUMNS).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("d.csv") && m.contains("区划代码") && m.contains("\"姓名\""),
            "{m}"
        );
        assert_eq!(e.exit_code(), 65);
    }
}
