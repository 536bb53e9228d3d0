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

pub fn write_parquet(path: &Path, table: &TextTable) -> Result<()> {
    let height = table.len();
    let mut columns = Vec::with_capacity(table.columns.len());
    for (i, name) in table.columns.iter().enumerate() {
        // One column's cells at a time.
        let owned: Vec<super::tables::Cell> = (0..height).map(|r| table.cell(r, i)).collect();
        let cells = owned.iter().map(|c| c.as_ref());
        let column = if INTEGER_COLUMNS.contains(name) {
            let v: Vec<Option<i64>> = cells.map(|c| c.parse().ok()).collect();
            Column::new((*name).into(), v)
        } else if DECIMAL_COLUMNS.contains(name) {
            let v: Vec<Option<f64>> = cells.map(|c| c.parse().ok()).collect();
            Column::new((*name).into(), v)
        } else {
            let v: Vec<&str> = cells.collect();
            Column::new((*name).into(), v)
        };
        columns.push(column);
    }
    let mut df = DataFrame::new(height, columns)
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
    let mut out = Durable::create(path)?;
    ParquetWriter::new(&mut out.writer)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df)
        .map_err(|e| Error::output(path, e))?;
    out.finish()
}
