//! Rows rendered a block at a time on every core and written in order:
//! while one window of blocks is written on this thread, the next is
//! rendered on the others. The workbook's sheets and the CSV reports are
//! written so.
//!
//! A report written row by row on one thread left the other core idle
//! whenever the other writers had finished: at 1 M households the CSV and
//! Parquet reports, written one after the other beside the workbook, were
//! the write stage's longer side (issue #7).

use std::io::{self, Write};
use std::ops::Range;

use rayon::prelude::*;

use crate::buffer_pool::BufferPool;

/// Render rows `0..rows` in blocks of `block_rows` with `render` (which
/// appends the XML or text of a block's rows to the buffer it is given)
/// and write the blocks to `out` in row order. At most two windows of
/// blocks, two blocks a thread each, are held at once.
pub fn write_in_blocks<W: Write + Send>(
    out: &mut W,
    rows: usize,
    block_rows: usize,
    render: impl Fn(Range<usize>, &mut Vec<u8>) + Sync,
) -> io::Result<()> {
    let block_rows = block_rows.max(1);
    let blocks: Vec<Range<usize>> = (0..rows)
        .step_by(block_rows)
        .map(|start| start..(start + block_rows).min(rows))
        .collect();
    let window = 2 * rayon::current_num_threads().max(1);
    // A written block's buffer renders a later block: buffers made for
    // each block and freed were about a tenth of a 1 M household run's
    // page faults (see `buffer_pool`).
    let buffers = BufferPool::default();
    let render_block = |rows: &Range<usize>| -> Vec<u8> {
        let mut buf = buffers.take();
        render(rows.clone(), &mut buf);
        buf
    };
    let write_window = |out: &mut W, rendered: Vec<Vec<u8>>| -> io::Result<()> {
        for b in rendered {
            out.write_all(&b)?;
            buffers.give(b);
        }
        Ok(())
    };
    let mut rendered: Vec<Vec<u8>> = Vec::new();
    for group in blocks.chunks(window) {
        let (written, next) = rayon::join(
            || write_window(out, rendered),
            || group.par_iter().map(render_block).collect::<Vec<_>>(),
        );
        written?;
        rendered = next;
    }
    write_window(out, rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_written_whole_and_in_row_order() {
        for (rows, block_rows) in [(0, 3), (1, 3), (7, 3), (1000, 7), (64, 1), (5, 100)] {
            let mut out = Vec::new();
            write_in_blocks(&mut out, rows, block_rows, |range, buf| {
                assert!(range.len() <= block_rows);
                for i in range {
                    buf.extend_from_slice(format!("{i};").as_bytes());
                }
            })
            .unwrap();
            let expected: String = (0..rows).map(|i| format!("{i};")).collect();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{rows} rows");
        }
    }
}
