//! `rollmatch check JOB`: read and validate every input of the quarter,
//! print per input rows read / used / rejected with the reasons, and the
//! invalid IDs by reason. Writes nothing; exits as `run` would.
//!
//! The listing names lines, columns and reason codes, never a value:
//! it is read on terminals and in mail from cron.

use std::fmt::Write as _;
use std::io::Write;

use crate::error::Result;
use crate::job::Job;
use crate::pipeline::{enforce_limits, read_quarter};

/// Rejected lines listed per input before the rest are summarized.
const LISTED: usize = 20;

pub fn run(job: &Job) -> Result<i32> {
    let inputs = read_quarter(job, job.quarter, true)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} {}: checking {} inputs",
        job.name,
        job.quarter,
        inputs.stats.len()
    );
    for s in &inputs.stats {
        let _ = writeln!(
            text,
            "\n{} {} ({}{})",
            s.input,
            s.path.display(),
            s.format,
            if s.encoding.is_empty() {
                String::new()
            } else {
                format!(", {}", s.encoding)
            }
        );
        let _ = writeln!(
            text,
            "  rows read {}, used {}, rejected {}{}",
            s.rows_read,
            s.rows_used,
            s.rows_rejected,
            if s.rows_read == s.rows_used + s.rows_rejected {
                ""
            } else {
                "  (MISMATCH)"
            }
        );
        if !s.reject_reasons.is_empty() {
            let reasons: Vec<String> = s
                .reject_reasons
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let _ = writeln!(text, "  rejected by reason: {}", reasons.join(", "));
            let file = s.path.display().to_string();
            let mine: Vec<_> = inputs.rejects.iter().filter(|r| r.file == file).collect();
            for r in mine.iter().take(LISTED) {
                let column = if r.column.is_empty() {
                    "(row)"
                } else {
                    r.column.as_str()
                };
                let _ = writeln!(text, "    line {}: {} {}", r.line, column, r.reason);
            }
            if mine.len() > LISTED {
                let _ = writeln!(text, "    … and {} more", mine.len() - LISTED);
            }
        }
        if !s.invalid_ids.is_empty() {
            let ids: Vec<String> = s
                .invalid_ids
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let _ = writeln!(
                text,
                "  invalid ID numbers (kept, flagged invalid_id): {}",
                ids.join(", ")
            );
        }
        if !s.optional_unparsed.is_empty() {
            let cols: Vec<String> = s
                .optional_unparsed
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            let _ = writeln!(
                text,
                "  optional values unreadable (read as empty): {}",
                cols.join(", ")
            );
        }
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    enforce_limits(job, &inputs)?;
    Ok(0)
}
