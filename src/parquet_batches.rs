//! Parquet files written a row group at a time: the columns of one group
//! are built as Arrow arrays, encoded and freed before the next group's
//! are built.
//!
//! A whole frame built first held a second copy of every row as polars
//! columns: about 400 MB for the state and 300 MB for the flag and
//! household tables at 1 M households, all alive while the workbook was
//! written (issue #7). The groups are encoded here through polars'
//! Parquet crate rather than handed to polars' writer as frames, so that
//! the caller chooses each column's encoding: polars' writer estimates
//! every text column's distinct values and hashes its texts to decide on
//! a dictionary, which the callers already know (see
//! [`crate::report::parquet_out`]).

use std::io::Write;
use std::ops::Range;

use polars::prelude::*;
use polars_arrow::array::Array;
use polars_parquet::write::{
    CompressedPage, Encoding, ParquetType, Version, WriteOptions, array_to_columns, compress,
};
use rayon::prelude::*;

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

/// One column of a file: its name and type in the schema, and the
/// encoding asked of its arrays. A dictionary array is written as a
/// dictionary whatever is asked; `RleDictionary` on any other array is
/// polars' choice (a dictionary when it seems to pay), `Plain` none.
pub struct ColumnSpec {
    pub name: &'static str,
    pub dtype: DataType,
    pub encoding: Encoding,
}

/// Write `rows` rows to `out`, `ROW_GROUP_ROWS` at a time; `group` builds
/// the arrays (one per column, in `columns`' order) of the rows in its
/// range. The schema is the one polars writes for a frame of `columns`'
/// types. No rows still write one empty group, so the file has its
/// columns.
///
/// The next group is built while the last one is encoded (its columns in
/// parallel) and written: building a group's columns (one pass over its
/// rows) and encoding them took turns on one thread, and the Parquet
/// reports were the longer side of the write stage at 1 M households
/// (issue #7). Two groups' arrays are held at most.
pub fn write(
    out: &mut (impl Write + Send),
    columns: &[ColumnSpec],
    rows: usize,
    statistics: StatisticsOptions,
    mut group: impl FnMut(Range<usize>) -> PolarsResult<Vec<Box<dyn Array>>> + Send,
) -> PolarsResult<()> {
    let schema: Schema = columns
        .iter()
        .map(|c| Field::new(c.name.into(), c.dtype.clone()))
        .collect();
    let compression = compression();
    let mut writer = ParquetWriter::new(&mut *out)
        .with_compression(compression)
        .with_statistics(statistics)
        .batched(&schema)?;
    let types: Vec<ParquetType> = writer.parquet_schema().fields().to_vec();
    let options = WriteOptions {
        statistics,
        version: Version::V1,
        compression: compression.into(),
        data_page_size: None,
    };

    let range_from = |start: usize| start..(start + ROW_GROUP_ROWS).min(rows);
    let mut arrays = group(range_from(0))?;
    let mut start = range_from(0).end;
    loop {
        let following = (start < rows).then(|| range_from(start));
        let (written, built) = rayon::join(
            || -> PolarsResult<()> {
                if arrays.len() != columns.len() {
                    polars_bail!(ShapeMismatch: "a row group of {} columns for {} in the schema", arrays.len(), columns.len());
                }
                let pages = arrays
                    .par_iter()
                    .zip(&types)
                    .zip(columns)
                    .map(|((array, type_), column)| {
                        encode_column(array.as_ref(), type_, column.encoding, options)
                    })
                    .collect::<PolarsResult<Vec<_>>>()?;
                let height = arrays.first().map_or(0, |a| a.len());
                writer.write_row_group(height as u64, &pages)
            },
            || following.clone().map(&mut group).transpose(),
        );
        written?;
        match (built?, following) {
            (Some(next), Some(range)) => {
                arrays = next;
                start = range.end;
            }
            _ => break,
        }
    }
    writer.finish().map(|_| ())
}

/// A column's pages, encoded and compressed.
fn encode_column(
    array: &dyn Array,
    type_: &ParquetType,
    encoding: Encoding,
    options: WriteOptions,
) -> PolarsResult<Vec<CompressedPage>> {
    let mut pages = Vec::new();
    for column in array_to_columns(array, type_.clone(), options, &[encoding])? {
        for page in column {
            pages.push(compress(page?, Vec::new(), options.compression)?);
        }
    }
    Ok(pages)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use polars_arrow::array::{PrimitiveArray, Utf8ViewArray};

    /// A Parquet file's bytes read back whole.
    pub(crate) fn read(bytes: Vec<u8>) -> DataFrame {
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap()
    }

    const COLUMNS: [ColumnSpec; 2] = [
        ColumnSpec {
            name: "n",
            dtype: DataType::Int64,
            encoding: Encoding::RleDictionary,
        },
        ColumnSpec {
            name: "t",
            dtype: DataType::String,
            encoding: Encoding::Plain,
        },
    ];

    fn numbers(range: Range<usize>) -> PolarsResult<Vec<Box<dyn Array>>> {
        let n: Vec<i64> = range.clone().map(|i| i as i64).collect();
        let t: Vec<String> = range.map(|i| format!("r{i}")).collect();
        Ok(vec![
            PrimitiveArray::from_vec(n).boxed(),
            Utf8ViewArray::from_slice_values(&t).boxed(),
        ])
    }

    #[test]
    fn rows_across_several_groups_read_back_whole_and_in_order() {
        let rows = 2 * ROW_GROUP_ROWS + 17;
        let mut ranges = Vec::new();
        let mut bytes = Vec::new();
        write(
            &mut bytes,
            &COLUMNS,
            rows,
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
            &COLUMNS,
            0,
            StatisticsOptions::default(),
            numbers,
        )
        .unwrap();
        let df = read(bytes);
        assert_eq!(df.height(), 0);
        assert_eq!(df.get_column_names(), ["n", "t"]);
        assert_eq!(df.dtypes(), [DataType::Int64, DataType::String]);
    }

    #[test]
    fn a_failing_group_stops_the_file() {
        let mut bytes = Vec::new();
        let err = write(
            &mut bytes,
            &COLUMNS,
            ROW_GROUP_ROWS + 1,
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

    #[test]
    fn a_group_of_other_columns_than_the_schemas_is_an_error() {
        let mut bytes = Vec::new();
        let err = write(&mut bytes, &COLUMNS, 3, StatisticsOptions::empty(), |r| {
            numbers(r).map(|mut arrays| {
                arrays.pop();
                arrays
            })
        });
        assert!(err.is_err());
    }
}
