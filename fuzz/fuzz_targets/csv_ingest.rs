#![no_main]
//! Any bytes as a 低保 roll export: an error or rows, never a panic, and
//! rows read = rows used + rows rejected.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rollmatch::calendar::Date;
use rollmatch::ingest::{Validation, read_dibao_bytes};

fuzz_target!(|data: &[u8]| {
    let v = Validation { quarter_end: Date { year: 2018, month: 9, day: 30 }, hash_files: false };
    if let Ok(loaded) = read_dibao_bytes(Path::new("fuzz.csv"), data.to_vec(), v) {
        let s = &loaded.stats;
        assert_eq!(s.rows_read, s.rows_used + s.rows_rejected);
        assert_eq!(loaded.rows.len() as u64, s.rows_used);
        assert_eq!(loaded.sides.len(), loaded.rows.len());
        assert_eq!(loaded.rejects.len() as u64, s.rows_rejected);
    }
});
