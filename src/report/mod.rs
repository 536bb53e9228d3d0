//! The only code that writes report files (contract §5). Everything is
//! written into a staging directory; [`publish`] swaps it into place.

pub mod blocks;
pub mod csv_out;
pub mod html;
pub mod labels;
pub mod parquet_out;
pub mod publish;
pub mod spreadsheet;
pub mod summary;
pub mod tables;
pub mod xlsx;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;
use tracing::warn;

use crate::error::{Error, Result};
use crate::files::{Syncs, write_private_syncing};
use crate::job::Job;
use crate::pipeline::{Analysis, QuarterInputs, Timings};

use tables::IdPolicy;

/// Data files of the report set, in the order written. `manifest.json`
/// comes last and lists their hashes.
pub const DATA_FILES: [&str; 8] = [
    "flags.csv",
    "flags.parquet",
    "households.csv",
    "households.parquet",
    "rejects.csv",
    "summary.json",
    "report.xlsx",
    "report.html",
];

/// The ID policy of the job: masking, and the HMAC key if its variable is set.
pub fn id_policy(job: &Job) -> IdPolicy {
    let token_key = job.output.person_token_key_env.as_ref().and_then(|var| match std::env::var(var) {
        Ok(k) if !k.is_empty() => Some(k.into_bytes()),
        _ => {
            warn!(variable = %var, "person_token_key_env names a variable that is not set: no person_token column");
            None
        }
    });
    IdPolicy {
        mask: job.output.mask_ids,
        token_key,
    }
}

/// Write the whole report set into a new staging directory beside the
/// output directory and return its path.
pub fn write_all(
    job: &Job,
    inputs: &QuarterInputs,
    analysis: &Analysis,
    timings: &Timings,
    started: SystemTime,
) -> Result<PathBuf> {
    let dir = publish::staging_dir(&job.output.dir)?;
    let quarter = job.quarter.to_string();
    let ids = id_policy(job);
    let tables_started = std::time::Instant::now();
    let flags = tables::flag_table(&quarter, &analysis.flags, &ids);
    let households = tables::household_table(&quarter, &analysis.households);
    let rejects = tables::reject_table(&inputs.rejects, job.output.mask_ids);
    let summary = summary::summary(job, inputs, analysis);
    tracing::debug!(
        seconds = tables_started.elapsed().as_secs_f64(),
        "report tables built"
    );

    // The workbook is the slowest file by far (every cell is XML): it is
    // written on one thread while the others are written on the other.
    // Each file is hashed for the manifest as it is written (`f` gives
    // its SHA-256): hashing them all at the end took half a second of one
    // core at 1 M households, and the large ones are written past the
    // page cache, so reading them back would read the disk (issue #7).
    // Each file's fsync runs beside the next file's writing; all have
    // ended before this function returns, so before anything is published.
    let syncs = Syncs::default();
    let write = |name: &str, f: &dyn Fn(&Path) -> Result<String>| -> Result<(String, String)> {
        let started = std::time::Instant::now();
        let hash = f(&dir.join(name))?;
        tracing::debug!(
            file = name,
            seconds = started.elapsed().as_secs_f64(),
            "report file written"
        );
        Ok((name.to_owned(), hash))
    };
    let (workbooks, rest) = rayon::join(
        || -> Result<Vec<(String, String)>> {
            let mut hashes = vec![write("report.xlsx", &|p| {
                xlsx::write_workbook(p, job, &summary, &flags, &households, None, &syncs)
            })?];
            if job.output.split_by_county {
                hashes.extend(xlsx::write_county_workbooks(
                    &dir,
                    job,
                    &summary,
                    &flags,
                    &households,
                    &syncs,
                )?);
            }
            Ok(hashes)
        },
        || -> Result<Vec<(String, String)>> {
            Ok(vec![
                write("flags.csv", &|p| csv_out::write_csv(p, &flags, &syncs))?,
                write("flags.parquet", &|p| {
                    parquet_out::write_parquet(p, &flags, &syncs)
                })?,
                write("households.csv", &|p| {
                    csv_out::write_csv(p, &households, &syncs)
                })?,
                write("households.parquet", &|p| {
                    parquet_out::write_parquet(p, &households, &syncs)
                })?,
                write("rejects.csv", &|p| csv_out::write_csv(p, &rejects, &syncs))?,
                write("summary.json", &|p| write_json(p, &summary, &syncs))?,
                write("report.html", &|p| {
                    html::write_page(p, job, &summary, analysis, &syncs)
                })?,
            ])
        },
    );
    let (rest, workbooks) = (rest?, workbooks?);

    // In the order of DATA_FILES, then the county workbooks as written.
    let mut outputs = serde_json::Map::new();
    for name in DATA_FILES {
        let (_, hash) = rest
            .iter()
            .chain(&workbooks)
            .find(|(n, _)| n == name)
            .ok_or_else(|| Error::Internal(format!("{name} was not written")))?;
        outputs.insert(name.to_owned(), json!(hash));
    }
    for (name, hash) in &workbooks[1..] {
        outputs.insert(name.clone(), json!(hash));
    }
    let job_sha = crate::files::sha256_file(&job.file)
        .map_err(|_| Error::Usage(format!("{}: job file unreadable", job.file.display())))?;
    let manifest = json!({
        "program": { "name": "rollmatch", "version": env!("CARGO_PKG_VERSION") },
        "job": { "path": job.file.display().to_string(), "sha256": job_sha },
        "quarter": quarter,
        "inputs": inputs.stats.iter().map(|s| json!({
            "input": s.input,
            "path": s.path.display().to_string(),
            "sha256": s.sha256,
            "rows": s.rows_read,
        })).collect::<Vec<_>>(),
        "outputs": outputs,
        "started_at": crate::calendar::timestamp_utc(started),
        "finished_at": crate::calendar::timestamp_utc(SystemTime::now()),
        "stages": timings.0.iter().map(|(s, t)| json!({ "stage": s, "seconds": t })).collect::<Vec<_>>(),
    });
    write_json(&dir.join("manifest.json"), &manifest, &syncs)?;
    syncs.wait()?;
    Ok(dir)
}

/// Text for HTML and XML, in content and in quoted attributes alike.
pub fn escape_markup(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Write `value` as pretty JSON, its fsync left to `syncs`; the file's
/// SHA-256.
pub fn write_json(path: &Path, value: &serde_json::Value, syncs: &Syncs) -> Result<String> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    text.push('\n');
    write_private_syncing(path, text.as_bytes(), syncs)
}
