//! Splitting CSV text into chunks of whole records, so that chunks can be
//! parsed in parallel and turned into rows without first holding every
//! record of the file in memory.
//!
//! Record boundaries are found with a small state machine that follows
//! the csv crate's quoting: a quote opens a quoted field only at the start
//! of a field, `""` inside one is a literal quote, and a line break inside
//! a quoted field does not end the record.

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// One chunk: its text and the physical line (1-based) its first byte is on.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    pub text: &'a str,
    pub first_line: u64,
}

/// Split `text[start..]` into chunks of about `target` bytes, each ending
/// just after a record's line break. `start_line` is the line of `start`.
/// `quoted` is whether the text may hold a quote ([`contains_byte`]): the
/// caller has often looked already, and a window of 64 MiB looked through
/// twice held a core idle (issue #7). Quote-free text split as quoted is
/// split the same, only slower.
pub fn split(
    text: &str,
    start: usize,
    start_line: u64,
    target: usize,
    quoted: bool,
) -> Vec<Chunk<'_>> {
    if !quoted {
        split_unquoted(text, start, start_line, target)
    } else {
        split_quoted(text, start, start_line, target)
    }
}

/// Without a quote in the text every line feed ends a record: cut after
/// the first line feed past each `target` bytes, then count each chunk's
/// lines in parallel. This is the common case (exports rarely quote) and
/// runs at memory speed; the state machine below took a tenth of a read.
fn split_unquoted(text: &str, start: usize, start_line: u64, target: usize) -> Vec<Chunk<'_>> {
    use rayon::prelude::*;
    let bytes = text.as_bytes();
    let mut bounds = vec![start];
    let mut at = start;
    while at < bytes.len() {
        let probe = (at + target.max(1)).min(bytes.len()) - 1;
        let end = memchr::memchr(b'\n', &bytes[probe..]).map_or(bytes.len(), |i| probe + i + 1);
        bounds.push(end);
        at = end;
    }
    let lines: Vec<u64> = bounds
        .par_windows(2)
        .map(|w| memchr::memchr_iter(b'\n', &bytes[w[0]..w[1]]).count() as u64)
        .collect();
    let mut first_line = start_line;
    bounds
        .windows(2)
        .zip(lines)
        .map(|(w, n)| {
            // Cuts are just after b'\n' (ASCII), so on character boundaries.
            let chunk = Chunk {
                text: &text[w[0]..w[1]],
                first_line,
            };
            first_line += n;
            chunk
        })
        .collect()
}

/// Whether `bytes` hold `byte`, looked for a piece at a time on every
/// core: a look through a 64 MiB window on one thread held the other core
/// idle (issue #7).
pub fn contains_byte(bytes: &[u8], byte: u8) -> bool {
    use rayon::prelude::*;
    bytes
        .par_chunks(1 << 20)
        .any(|piece| memchr::memchr(byte, piece).is_some())
}

/// The most records each chunk can hold ([`record_bound`]), found on
/// every core.
pub fn record_bounds(chunks: &[Chunk]) -> Vec<usize> {
    use rayon::prelude::*;
    chunks
        .par_iter()
        .map(|chunk| record_bound(chunk.text))
        .collect()
}

/// The most records a chunk of whole records can hold: one for each line
/// break (`\n`, `\r\n` or `\r`, as the csv crate ends records) and one
/// for a last record without a break (a file's end). Exact for a chunk
/// without blank lines or quoted line breaks, which make it larger; never
/// smaller. A chunk's rows are written into a stretch of this many slots,
/// and the stretches are then closed up: with a slot to spare in every
/// chunk, closing them up moved every row of the roll once more, on one
/// thread (issue #7).
pub fn record_bound(text: &str) -> usize {
    let bytes = text.as_bytes();
    let feeds = memchr::memchr_iter(b'\n', bytes).count();
    let returns = if memchr::memchr(b'\r', bytes).is_none() {
        0
    } else {
        // Each \r not followed by \n ends a record of its own.
        memchr::memchr_iter(b'\r', bytes)
            .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
            .count()
    };
    let unended = !matches!(bytes.last(), None | Some(b'\n' | b'\r'));
    feeds + returns + usize::from(unended)
}

/// Where the last whole record in `bytes` ends (just after its line
/// break), or 0 if no record ends in them; `bytes` start at a record's
/// start. A window of a file is cut here, the rest carried to the next.
/// `quoted` is whether `bytes` may hold a quote, as for [`split`].
pub fn whole_records_end(bytes: &[u8], quoted: bool) -> usize {
    if !quoted {
        return memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
    }
    let mut state = State::FieldStart;
    let mut end = 0;
    for (i, &b) in bytes.iter().enumerate() {
        state = next_state(state, b);
        if b == b'\n' && state == State::FieldStart {
            end = i + 1;
        }
    }
    end
}

/// The quoting state after byte `b`, as the csv crate reads.
fn next_state(state: State, b: u8) -> State {
    match (state, b) {
        (State::Quoted, b'"') => State::QuoteInQuoted,
        (State::Quoted, _) => State::Quoted,
        (State::QuoteInQuoted, b'"') => State::Quoted,
        (State::FieldStart, b'"') => State::Quoted,
        (_, b',' | b'\n' | b'\r') => State::FieldStart,
        _ => State::Unquoted,
    }
}

fn split_quoted(text: &str, start: usize, start_line: u64, target: usize) -> Vec<Chunk<'_>> {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut state = State::FieldStart;
    let (mut chunk_start, mut chunk_line, mut line) = (start, start_line, start_line);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        state = next_state(state, b);
        if b == b'\n' {
            line += 1;
            if state == State::FieldStart && i + 1 - chunk_start >= target {
                chunks.push(Chunk {
                    text: &text[chunk_start..i + 1],
                    first_line: chunk_line,
                });
                chunk_start = i + 1;
                chunk_line = line;
            }
        }
    }
    if chunk_start < bytes.len() {
        chunks.push(Chunk {
            text: &text[chunk_start..],
            first_line: chunk_line,
        });
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Records as the csv crate reads them (blank lines skipped).
    fn csv_records(text: &str) -> usize {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .count()
    }

    proptest! {
        /// A chunk's bound is never below its records, whatever its line
        /// breaks, and is exactly their number without blank lines.
        #[test]
        fn record_bound_holds_every_record(
            lines in proptest::collection::vec(("[a-z0-9,]{0,6}", 0..3usize), 0..12),
            ended in any::<bool>(),
        ) {
            let breaks = ["\n", "\r\n", "\r"];
            let mut text = String::new();
            for (i, (line, brk)) in lines.iter().enumerate() {
                text.push_str(line);
                if ended || i + 1 < lines.len() {
                    text.push_str(breaks[*brk]);
                }
            }
            let records = csv_records(&text);
            prop_assert!(record_bound(&text) >= records);
            if lines.iter().all(|(line, _)| !line.is_empty()) {
                prop_assert_eq!(record_bound(&text), records);
            }
        }
    }

    #[test]
    fn unquoted_text_splits_like_the_state_machine() {
        let text = "a,b\n1,x\n\n2,\r\n3,z\n4,5\n6,7";
        for target in 1..30 {
            let fast: Vec<(&str, u64)> = split_unquoted(text, 4, 2, target)
                .iter()
                .map(|c| (c.text, c.first_line))
                .collect();
            let slow: Vec<(&str, u64)> = split_quoted(text, 4, 2, target)
                .iter()
                .map(|c| (c.text, c.first_line))
                .collect();
            assert_eq!(fast, slow, "target {target}");
        }
    }

    #[test]
    fn chunks_end_on_record_boundaries_only() {
        let text = "a,b\n1,\"x\ny\"\n2,\"q\"\"\n\"\n3,z\"w\n4,5\n";
        for target in 1..12 {
            let chunks = split(text, 4, 2, target, contains_byte(text.as_bytes(), b'"'));
            let joined: String = chunks.iter().map(|c| c.text).collect();
            assert_eq!(joined, &text[4..]);
            for c in &chunks {
                // Every chunk parses to whole records.
                let mut r = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(c.text.as_bytes());
                for rec in r.records() {
                    assert_eq!(rec.unwrap().len(), 2, "target {target}: {:?}", c.text);
                }
            }
            let lines: Vec<u64> = chunks.iter().map(|c| c.first_line).collect();
            assert_eq!(lines[0], 2);
            for c in &chunks {
                let start = text.len() - text[4..].len()
                    + (c.text.as_ptr() as usize - text[4..].as_ptr() as usize);
                assert_eq!(c.first_line, 1 + text[..start].matches('\n').count() as u64);
            }
        }
    }

    #[test]
    fn a_window_is_cut_after_its_last_whole_record() {
        let text = "a,b\n1,\"x\ny\"\n2,\"q\"\"\n\"\n3,z\"w\r\n4,5\n6";
        // Every record boundary, as the chunk splitter finds them.
        let ends: Vec<usize> = split(text, 0, 1, 1, true)
            .iter()
            .filter(|c| c.text.ends_with('\n'))
            .map(|c| c.text.as_ptr() as usize - text.as_ptr() as usize + c.text.len())
            .collect();
        for len in 0..=text.len() {
            let expected = ends
                .iter()
                .copied()
                .filter(|&e| e <= len)
                .max()
                .unwrap_or(0);
            let prefix = &text.as_bytes()[..len];
            let quoted = contains_byte(prefix, b'"');
            assert_eq!(whole_records_end(prefix, quoted), expected, "{len}");
        }
        assert_eq!(whole_records_end(b"1,2\n3,4\n5", false), 8);
        assert_eq!(whole_records_end(b"1,2", false), 0);
    }
}
