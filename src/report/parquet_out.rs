//! Parquet outputs beside the CSVs: the same rows and columns. Numeric
//! household columns are typed; everything else is text.

use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::files::Durable;

use super::tables::TextTable;

/// Columns written as numbers rather than text.
const INTEGER_COLUMNS: [&str; 3] = ["members", "score", "line"];
const DECIMAL_COLUMNS: [&str; 1] = ["annual_income"];

/// One output column being filled.
enum Builder {
    Text(StringChunkedBuilder),
    Integer(Vec<Option<i64>>),
    Decimal(Vec<Option<f64>>),
}

impl Builder {
    fn new(name: &str, height: usize) -> Builder {
        if INTEGER_COLUMNS.contains(&name) {
            Builder::Integer(Vec::with_capacity(height))
        } else if DECIMAL_COLUMNS.contains(&name) {
            Builder::Decimal(Vec::with_capacity(height))
        } else {
            Builder::Text(StringChunkedBuilder::new(name.into(), height))
        }
    }

    fn push(&mut self, cell: &str) {
        match self {
            Builder::Text(b) => b.append_value(cell),
            Builder::Integer(v) => v.push(cell.parse().ok()),
            Builder::Decimal(v) => v.push(cell.parse().ok()),
        }
    }

    fn finish(self, name: &str) -> Column {
        match self {
            Builder::Text(b) => b.finish().into_column(),
            Builder::Integer(v) => Column::new(name.into(), v),
            Builder::Decimal(v) => Column::new(name.into(), v),
        }
    }
}

/// Write `table` to `path`; the file's SHA-256.
pub fn write_parquet(path: &Path, table: &TextTable) -> Result<String> {
    let mut out = Durable::create(path)?;
    crate::parquet_batches::write(
        &mut out.writer,
        table.len(),
        crate::parquet_batches::compression(),
        StatisticsOptions::default(),
        |rows| {
            let mut builders: Vec<Builder> = table
                .columns
                .iter()
                .map(|name| Builder::new(name, rows.len()))
                .collect();
            // Row by row, in one pass: a row's findings are read once, not
            // once per column (thirteen passes over the flags missed the
            // cache; #7).
            for r in rows.clone() {
                for (c, builder) in builders.iter_mut().enumerate() {
                    builder.push(&table.cell(r, c));
                }
            }
            let columns: Vec<Column> = builders
                .into_iter()
                .zip(&table.columns)
                .map(|(b, name)| b.finish(name))
                .collect();
            DataFrame::new(rows.len(), columns)
        },
    )
    .map_err(|e| Error::output(path, e))?;
    out.finish()
}
