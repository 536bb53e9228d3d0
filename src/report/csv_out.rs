//! CSV outputs: UTF-8 with a BOM (so Excel shows Chinese), comma-separated,
//! header row (contract §5).
//!
//! Fields are written as the `csv` crate writes them with its defaults
//! (quoted only when they hold a comma, a quote or a line break, quotes
//! doubled, `\n` after each record; a test holds the two to the same
//! bytes), but a block of rows at a time into one buffer, blocks rendered
//! on every core: the crate's writer walked each field through its state
//! machine and buffer checks, and was about a twelfth of the write
//! stage's CPU time at 1 M households (issue #7).

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::files::{Durable, Syncs};

use super::tables::TextTable;

/// Write `table` to `path`, its fsync left to `syncs`; the file's SHA-256.
pub fn write_csv(path: &Path, table: &TextTable, syncs: &Syncs) -> Result<String> {
    let mut out = Durable::create(path)?;
    write_table(&mut out.writer, table).map_err(|e| Error::output(path, e))?;
    out.finish_syncing(syncs)
}

/// Rows rendered by one task: about 1.5 MB of flags.
const BLOCK_ROWS: usize = 8192;

/// The BOM, the header, then the rows, rendered a block at a time on
/// every core ([`super::blocks`]).
fn write_table<W: Write + Send>(out: &mut W, table: &TextTable) -> std::io::Result<()> {
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut header: Vec<u8> = Vec::new();
    write_record(&mut header, table.columns.iter());
    out.write_all(&header)?;
    super::blocks::write_in_blocks(out, table.len(), BLOCK_ROWS, |rows, buf| {
        buf.reserve(rows.len() * 128);
        for r in rows {
            write_record(buf, table.row(r));
        }
    })?;
    out.flush()
}

/// One record and its `\n` appended to `out` (also a reject's raw record,
/// [`crate::ingest::Reject::record`]).
pub(crate) fn write_record<F: AsRef<str>>(out: &mut Vec<u8>, fields: impl Iterator<Item = F>) {
    let mut count = 0;
    let mut only_empty = true;
    for field in fields {
        let field = field.as_ref().as_bytes();
        if count > 0 {
            out.push(b',');
        }
        count += 1;
        only_empty &= field.is_empty();
        write_field(out, field);
    }
    // A record of one empty field is written `""`: a bare line break
    // would read back as no field at all.
    if count == 1 && only_empty {
        out.extend_from_slice(b"\"\"");
    }
    out.push(b'\n');
}

fn write_field(out: &mut Vec<u8>, field: &[u8]) {
    if !needs_quotes(field) {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for (i, piece) in field.split(|&b| b == b'"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(piece);
    }
    out.push(b'"');
}

/// Whether a field holds a comma, a quote or a line break, looked for
/// eight bytes at a time: the byte-by-byte test, four comparisons and a
/// branch for every byte of every field, was about 1.2 % of a run's
/// instructions at 100 k households (issue #7).
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A high bit for each byte of `word` equal to `b` (and none when no
    // byte is: the test is exact for "any", which is all it answers).
    let holds = |word: u64, b: u8| {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut words = field.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_ne_bytes(word.try_into().unwrap_or_default());
        if holds(word, b',') | holds(word, b'"') | holds(word, b'\n') | holds(word, b'\r') != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same records through the `csv` crate's writer with its
    /// defaults, as this module used it (`flexible` only lets the test's
    /// records differ in length; it changes no byte).
    fn by_the_csv_crate(records: &[Vec<String>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        for record in records {
            w.write_record(record).unwrap();
        }
        w.into_inner().unwrap()
    }

    fn by_this_module(records: &[Vec<String>]) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            write_record(&mut out, record.iter());
        }
        out
    }

    #[test]
    fn fields_are_quoted_as_the_csv_crate_quotes_them() {
        let records: Vec<Vec<String>> = [
            vec!["410322", "", "P1000727380320", "董鹏霞"],
            vec!["a,b", "say \"hi\"", "two\nlines", "cr\rhere"],
            vec!["\"", "\"\"", ",", "", "末尾"],
            vec![""],
            vec!["", ""],
            vec!["1 名成员未参加城乡居民基本医疗保险;饮水不安全"],
        ]
        .iter()
        .map(|r| r.iter().map(|f| f.to_string()).collect())
        .collect();
        assert_eq!(
            String::from_utf8(by_this_module(&records)).unwrap(),
            String::from_utf8(by_the_csv_crate(&records)).unwrap()
        );
    }

    proptest! {
        #[test]
        fn any_records_are_written_as_the_csv_crate_writes_them(
            records in proptest::collection::vec(
                // Up to 30 characters: fields longer than a word of eight
                // bytes, with the bytes sought anywhere in it.
                proptest::collection::vec("[a-z,\"\r\n 户编号;#']{0,30}", 1..5),
                0..8,
            ),
        ) {
            prop_assert_eq!(by_this_module(&records), by_the_csv_crate(&records));
        }
    }

    #[test]
    fn quotes_are_needed_exactly_when_a_field_holds_a_comma_quote_or_line_break() {
        for len in 0..20 {
            let plain = "户".repeat(len / 3) + &"a".repeat(len % 3);
            assert!(!needs_quotes(plain.as_bytes()), "{len}");
            for at in 0..=plain.len() {
                if !plain.is_char_boundary(at) {
                    continue;
                }
                for b in [",", "\"", "\n", "\r"] {
                    let field = format!("{}{b}{}", &plain[..at], &plain[at..]);
                    assert!(needs_quotes(field.as_bytes()), "{len} {at} {b:?}");
                }
            }
        }
        // Bytes one away from those sought, and high bytes, need none.
        assert!(!needs_quotes(b"+-!#\x0b\x0c\x0e\x09\xff\x80+-!#"));
    }

    #[test]
    fn a_table_is_written_with_its_bom_header_and_rows() {
        let rows = vec![
            vec!["1".to_string(), "甲,乙".to_string()],
            vec!["2".to_string(), String::new()],
        ];
        let table = TextTable::of_rows(vec!["members", "detail"], &rows);
        let mut out = Vec::new();
        write_table(&mut out, &table).unwrap();
        assert_eq!(out, "\u{feff}members,detail\n1,\"甲,乙\"\n2,\n".as_bytes());
    }
}
