//! Parquet files written a row group at a time: the columns of one group
//! are built, encoded and freed before the next group's are built.
//!
//! A whole frame built first held a second copy of every row as polars
//! columns: about 400 MB for the state and 300 MB for the flag and
//! household tables at 1 M households, all alive while the workbook was
//! written (issue #7).

use std::io::Write;
use std::ops::Range;

use polars::prelude::*;

/// Rows per row group. At polars' own default (512 × 512 rows) the two
/// groups in flight of the flag table's thirteen text columns, and their
/// encoded pages, made the write stage the run's peak at 10 M households
/// (4,291 MiB, 300 above the rows held; issue #7); with a quarter of that
/// the stage stayed below the movements' 4,183 MiB, for files 1–6 %
/// larger that read the same.
pub const ROW_GROUP_ROWS: usize = 1 << 16;

/// The compression of every Parquet file rollmatch writes: zstd at level
/// one. At polars' default, level 3, zstd took 3–5 % of a 1 M household
/// run's CPU, writing the state and the two Parquet reports (issue #7);
/// level one reads the same and costs less to write, for files a few per
/// cent larger.
pub fn compression() -> ParquetCompression {
    ParquetCompression::Zstd(polars_utils::compression::ZstdLevel::try_new(1).ok())
}

/// Write `rows` rows to `out`, `ROW_GROUP_ROWS` at a time; `group` builds
/// the frame of the rows in its range. No rows still write one empty
/// group, so the file has its columns.
///
/// The next group is built while the last one is encoded and written:
/// building a group's columns (one pass over its rows) and encoding them
/// took turns on one thread, and the Parquet reports were the longer side
/// of the write stage at 1 M households (issue #7). Two groups' frames are
/// held at most.
pub fn write(
    out: &mut (impl Write + Send),
    rows: usize,
    compression: ParquetCompression,
    statistics: StatisticsOptions,
    mut group: impl FnMut(Range<usize>) -> PolarsResult<DataFrame> + Send,
) -> PolarsResult<()> {
    let range_from = |start: usize| start..(start + ROW_GROUP_ROWS).min(rows);
    let mut df = group(range_from(0))?;
    let mut writer = ParquetWriter::new(&mut *out)
        .with_compression(compression)
        .with_statistics(statistics)
        .batched(df.schema())?;
    let mut start = range_from(0).end;
    loop {
        let following = (start < rows).then(|| range_from(start));
        let (written, built) = rayon::join(
            || writer.write_batch(&df),
            || following.clone().map(&mut group).transpose(),
        );
        written?;
        match (built?, following) {
            (Some(next), Some(range)) => {
                df = next;
                start = range.end;
            }
            _ => break,
        }
    }
    writer.finish().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: Vec<u8>) -> DataFrame {
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap()
    }

    fn numbers(range: Range<usize>) -> PolarsResult<DataFrame> {
        let n: Vec<i64> = range.clone().map(|i| i as i64).collect();
        let t: Vec<String> = range.map(|i| format!("r{i}")).collect();
        DataFrame::new(
            n.len(),
            vec![Column::new("n".into(), n), Column::new("t".into(), t)],
        )
    }

    #[test]
    fn rows_across_several_groups_read_back_whole_and_in_order() {
        let rows = 2 * ROW_GROUP_ROWS + 17;
        let mut ranges = Vec::new();
        let mut bytes = Vec::new();
        write(
            &mut bytes,
            rows,
            ParquetCompression::Zstd(None),
            StatisticsOptions::empty(),
            |r| {
                ranges.push(r.clone());
                numbers(r)
            },
        )
        .unwrap();
        assert_eq!(
            ranges,
            vec![
                0..ROW_GROUP_ROWS,
                ROW_GROUP_ROWS..2 * ROW_GROUP_ROWS,
                2 * ROW_GROUP_ROWS..rows
            ]
        );
        let df = read(bytes);
        assert_eq!(df.height(), rows);
        let n = df.column("n").unwrap().i64().unwrap();
        assert!(
            n.into_no_null_iter()
                .enumerate()
                .all(|(i, v)| v == i as i64)
        );
        let t = df.column("t").unwrap().str().unwrap();
        assert_eq!(t.get(rows - 1), Some(format!("r{}", rows - 1).as_str()));
    }

    #[test]
    fn no_rows_still_write_the_columns() {
        let mut bytes = Vec::new();
        write(
            &mut bytes,
            0,
            ParquetCompression::Zstd(None),
            StatisticsOptions::default(),
            numbers,
        )
        .unwrap();
        let df = read(bytes);
        assert_eq!(df.height(), 0);
        assert_eq!(df.get_column_names(), ["n", "t"]);
    }

    #[test]
    fn a_failing_group_stops_the_file() {
        let mut bytes = Vec::new();
        let err = write(
            &mut bytes,
            ROW_GROUP_ROWS + 1,
            ParquetCompression::Zstd(None),
            StatisticsOptions::empty(),
            |r| {
                if r.start > 0 {
                    Err(PolarsError::ComputeError("broken".into()))
                } else {
                    numbers(r)
                }
            },
        );
        assert!(err.is_err());
    }
}
