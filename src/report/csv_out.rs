//! CSV outputs: UTF-8 with a BOM (so Excel shows Chinese), comma-separated,
//! header row (contract §5).

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::files::Durable;

use super::tables::TextTable;

pub fn write_csv(path: &Path, table: &TextTable) -> Result<()> {
    let mut out = Durable::create(path)?;
    out.writer
        .write_all(b"\xEF\xBB\xBF")
        .map_err(|e| Error::output(path, e))?;
    {
        let mut w = csv::WriterBuilder::new().from_writer(&mut out.writer);
        w.write_record(&table.columns)
            .map_err(|e| Error::output(path, e))?;
        for r in 0..table.len() {
            for cell in table.row(r) {
                w.write_field(cell.as_bytes())
                    .map_err(|e| Error::output(path, e))?;
            }
            w.write_record(None::<&[u8]>)
                .map_err(|e| Error::output(path, e))?;
        }
        w.flush().map_err(|e| Error::output(path, e))?;
    }
    out.finish()
}
