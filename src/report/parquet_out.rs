//! Parquet outputs beside the CSVs: the same rows and columns. Numeric
//! household columns are typed; everything else is text.
//!
//! The columns are built as Arrow arrays and encoded through polars'
//! Parquet crate a row group at a time, not as a polars frame handed to
//! polars' writer: that writer decides for every text column whether to
//! dictionary-encode it by estimating its distinct values and then
//! hashing every text (76 of the 276 `perf` samples of writing the two
//! files at 1 M households, issue #7). Here the table says which columns
//! come from a small set and gives each such cell a key
//! ([`TextTable::key`]), so a keyed column is a dictionary made from its
//! keys (each key's text rendered once a group) and the other text
//! columns, nearly all distinct, are written plainly. The schema is the one polars writes
//! for a frame of these columns (text as `String`), so readers see the
//! same types as before.

use std::hash::BuildHasher;
use std::ops::Range;
use std::path::Path;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use polars::prelude::*;
use polars_arrow::array::{Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray};
use polars_arrow::datatypes::{ArrowDataType, IntegerType};
use polars_parquet::write::Encoding;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::error::{Error, Result};
use crate::files::{Durable, Syncs};
use crate::parquet_batches::{self, ColumnSpec};

use super::tables::TextTable;

/// Columns written as numbers rather than text.
const INTEGER_COLUMNS: [&str; 3] = ["members", "score", "line"];
const DECIMAL_COLUMNS: [&str; 1] = ["annual_income"];

/// How a column is written.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Text from a small set: a dictionary made from the cells' keys.
    Keyed,
    /// Text, nearly every cell its own: written plainly.
    Text,
    Integer,
    Decimal,
}

impl Kind {
    fn of(table: &TextTable, col: usize) -> Kind {
        let name = table.columns[col];
        if INTEGER_COLUMNS.contains(&name) {
            Kind::Integer
        } else if DECIMAL_COLUMNS.contains(&name) {
            Kind::Decimal
        } else if table.keyed_columns().contains(&col) {
            Kind::Keyed
        } else {
            Kind::Text
        }
    }

    /// The column's type in the file's schema.
    fn dtype(self) -> DataType {
        match self {
            Kind::Keyed | Kind::Text => DataType::String,
            Kind::Integer => DataType::Int64,
            Kind::Decimal => DataType::Float64,
        }
    }

    /// The Parquet encoding asked of the column's array (see
    /// [`ColumnSpec`]): numbers keep polars' choice, a dictionary when
    /// their range is small, decided from the minimum and maximum without
    /// hashing.
    fn encoding(self) -> Encoding {
        match self {
            Kind::Text => Encoding::Plain,
            Kind::Keyed | Kind::Integer | Kind::Decimal => Encoding::RleDictionary,
        }
    }
}

/// A keyed column being filled: each cell's index into the group's
/// texts, found by its key.
#[derive(Default)]
struct Dictionary {
    index_of_key: FxHashMap<u64, u32>,
    /// The texts' own indices by the texts' hashes, so that two keys with
    /// one text (places under one county) share an entry. The texts are
    /// compared where the group keeps them: a map by owned strings made a
    /// copy of each text of each group, and a nation's village codes are
    /// nearly all distinct within a group (issue #7).
    index_of_text: HashTable<u32>,
    texts: MutableBinaryViewArray<str>,
    indices: Vec<u32>,
}

impl Dictionary {
    fn push(&mut self, table: &TextTable, row: usize, col: usize) {
        let index = match table.key(row, col) {
            Some(key) => match self.index_of_key.get(&key) {
                Some(&index) => index,
                None => {
                    let index = self.index_of_text(&table.cell(row, col));
                    self.index_of_key.insert(key, index);
                    index
                }
            },
            // Every cell of a keyed column has a key; were one without,
            // its text would still find its entry.
            None => self.index_of_text(&table.cell(row, col)),
        };
        self.indices.push(index);
    }

    fn index_of_text(&mut self, text: &str) -> u32 {
        let texts = &self.texts;
        let hash = FxBuildHasher.hash_one(text);
        let entry = self.index_of_text.entry(
            hash,
            |&i| texts.value(i as usize) == text,
            |&i| FxBuildHasher.hash_one(texts.value(i as usize)),
        );
        match entry {
            Entry::Occupied(found) => *found.get(),
            Entry::Vacant(room) => {
                let index = texts.len() as u32;
                room.insert(index);
                self.texts.push_value(text);
                index
            }
        }
    }

    fn finish(self) -> PolarsResult<Box<dyn Array>> {
        let dtype = ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        );
        let array = DictionaryArray::try_new(
            dtype,
            PrimitiveArray::from_vec(self.indices),
            self.texts.freeze().boxed(),
        )?;
        Ok(array.boxed())
    }
}

/// One output column being filled.
enum Builder {
    Keyed(Dictionary),
    Text(MutableBinaryViewArray<str>),
    Integer(Vec<Option<i64>>),
    Decimal(Vec<Option<f64>>),
}

impl Builder {
    fn new(kind: Kind, height: usize) -> Builder {
        match kind {
            Kind::Keyed => Builder::Keyed(Dictionary {
                indices: Vec::with_capacity(height),
                ..Dictionary::default()
            }),
            Kind::Text => Builder::Text(MutableBinaryViewArray::with_capacity(height)),
            Kind::Integer => Builder::Integer(Vec::with_capacity(height)),
            Kind::Decimal => Builder::Decimal(Vec::with_capacity(height)),
        }
    }

    fn push(&mut self, table: &TextTable, row: usize, col: usize) {
        match self {
            Builder::Keyed(d) => d.push(table, row, col),
            Builder::Text(b) => b.push_value(&*table.cell(row, col)),
            Builder::Integer(v) => v.push(table.cell(row, col).parse().ok()),
            Builder::Decimal(v) => v.push(table.cell(row, col).parse().ok()),
        }
    }

    fn finish(self) -> PolarsResult<Box<dyn Array>> {
        match self {
            Builder::Keyed(d) => d.finish(),
            Builder::Text(b) => Ok(b.freeze().boxed()),
            Builder::Integer(v) => Ok(PrimitiveArray::from(v).boxed()),
            Builder::Decimal(v) => Ok(PrimitiveArray::from(v).boxed()),
        }
    }
}

/// The arrays of the rows in `rows`, one per column.
fn build_group(
    table: &TextTable,
    kinds: &[Kind],
    rows: Range<usize>,
) -> PolarsResult<Vec<Box<dyn Array>>> {
    let mut builders: Vec<Builder> = kinds.iter().map(|&k| Builder::new(k, rows.len())).collect();
    // Row by row, in one pass: a row's findings are read once, not once
    // per column (thirteen passes over the flags missed the cache; #7).
    for r in rows {
        for (c, builder) in builders.iter_mut().enumerate() {
            builder.push(table, r, c);
        }
    }
    builders.into_iter().map(Builder::finish).collect()
}

/// Write `table` to `path`, its fsync left to `syncs`; the file's SHA-256.
pub fn write_parquet(path: &Path, table: &TextTable, syncs: &Syncs) -> Result<String> {
    let mut out = Durable::create(path)?;
    write_table(&mut out.writer, table).map_err(|e| Error::output(path, e))?;
    out.finish_syncing(syncs)
}

/// Write `table` to `out`, a row group at a time.
fn write_table(out: &mut (impl std::io::Write + Send), table: &TextTable) -> PolarsResult<()> {
    let kinds: Vec<Kind> = (0..table.columns.len())
        .map(|c| Kind::of(table, c))
        .collect();
    let columns: Vec<ColumnSpec> = table
        .columns
        .iter()
        .zip(&kinds)
        .map(|(&name, kind)| ColumnSpec {
            name,
            dtype: kind.dtype(),
            encoding: kind.encoding(),
        })
        .collect();
    parquet_batches::write(
        out,
        &columns,
        table.len(),
        StatisticsOptions::default(),
        |rows| build_group(table, &kinds, rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parquet_batches::ROW_GROUP_ROWS;
    use crate::parquet_batches::tests::read;

    fn written(table: &TextTable) -> DataFrame {
        let mut bytes = Vec::new();
        write_table(&mut bytes, table).unwrap();
        read(bytes)
    }

    const COLUMNS: [&str; 5] = ["county_code", "name", "members", "annual_income", "flag"];

    /// Rows over several row groups: a keyed place column whose keys
    /// (villages) share texts (counties), a name column, numbers with
    /// blanks, and a keyed column whose cells have no keys.
    fn rows(n: usize) -> Vec<Vec<String>> {
        (0..n)
            .map(|i| {
                vec![
                    format!("41032{}", i % 7 % 3),
                    format!("名字{i}"),
                    if i % 11 == 0 {
                        String::new()
                    } else {
                        (i % 9).to_string()
                    },
                    if i % 13 == 0 {
                        String::new()
                    } else {
                        format!("{}.5", i % 1000)
                    },
                    format!("F{}", i % 4),
                ]
            })
            .collect()
    }

    #[test]
    fn a_table_reads_back_whole_with_the_types_polars_would_write() {
        let rows = rows(2 * ROW_GROUP_ROWS + 17);
        let table = TextTable::of_keyed_rows(COLUMNS.to_vec(), &rows, &[0, 4], |r, c| {
            (c == 0).then_some((r % 7) as u64)
        });
        let df = written(&table);
        assert_eq!(df.height(), rows.len());
        let types: Vec<DataType> = df.dtypes();
        assert_eq!(
            types,
            [
                DataType::String,
                DataType::String,
                DataType::Int64,
                DataType::Float64,
                DataType::String
            ]
        );
        let text = |c: &str| -> Vec<String> {
            let col = df.column(c).unwrap().str().unwrap();
            col.iter()
                .map(|v| v.expect("no missing texts").to_owned())
                .collect()
        };
        for (c, name) in [(0, "county_code"), (1, "name"), (4, "flag")] {
            let expected: Vec<String> = rows.iter().map(|r| r[c].clone()).collect();
            assert_eq!(text(name), expected, "{name}");
        }
        let members: Vec<Option<i64>> = df
            .column("members")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect();
        let income: Vec<Option<f64>> = df
            .column("annual_income")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(members[i], row[2].parse().ok(), "row {i}");
            assert_eq!(income[i], row[3].parse().ok(), "row {i}");
        }
    }

    #[test]
    fn a_keyed_columns_dictionary_holds_each_text_once() {
        let rows = rows(1000);
        let table = TextTable::of_keyed_rows(COLUMNS.to_vec(), &rows, &[0], |r, c| {
            (c == 0).then_some((r % 7) as u64)
        });
        let kinds: Vec<Kind> = (0..COLUMNS.len()).map(|c| Kind::of(&table, c)).collect();
        assert_eq!(
            kinds,
            [
                Kind::Keyed,
                Kind::Text,
                Kind::Integer,
                Kind::Decimal,
                Kind::Text
            ]
        );
        let arrays = build_group(&table, &kinds, 0..rows.len()).unwrap();
        let places = arrays[0]
            .as_any()
            .downcast_ref::<DictionaryArray<u32>>()
            .unwrap();
        // Seven keys, three county texts.
        assert_eq!(places.values().len(), 3);
        assert_eq!(places.len(), rows.len());
    }

    #[test]
    fn no_rows_still_write_the_columns() {
        let rows: Vec<Vec<String>> = Vec::new();
        let table = TextTable::of_keyed_rows(COLUMNS.to_vec(), &rows, &[0], |_, _| Some(0));
        let df = written(&table);
        assert_eq!(df.height(), 0);
        assert_eq!(df.get_column_names(), COLUMNS.to_vec());
        assert_eq!(df.dtypes()[0], DataType::String);
    }
}
