//! State for the next quarter: after a successful run, the normalized
//! persons of Q are saved under `state_dir`, so that next quarter's run
//! needs only next quarter's files.
//!
//! Layout (format version 2), all files 0600:
//! - `Q-dibao.parquet`, `Q-poor.parquet`: one row per person row of each
//!   roll, in file order, with the values the flags read (money in cents,
//!   dates as days since 1970-01-01, the poor roll's enumerations as their
//!   position in the model's table, `Int32`);
//! - `Q.state.json`: `{"format_version": 2, "quarter": "Q", "files": …}`,
//!   written last, so a run killed while saving leaves no state behind
//!   that looks complete.
//!
//! ID validity is not stored: it is recomputed from the number as given
//! against Q's own end, exactly as the run for Q did.

use std::path::Path;

use polars::prelude::*;
use serde_json::json;

use crate::calendar::Quarter;
use crate::dynamics::Previous;
use crate::error::{Error, Result};
use crate::files::{Durable, create_private_dir, sync_dir, write_private};
use crate::ingest::values;
use crate::model::*;
use crate::money::Cents;
use crate::vocab::Shared;

pub const FORMAT_VERSION: u64 = 2;

/// Versions this rollmatch reads. Version 1 wrote dates and enumerations
/// as text; version 2 writes them as integers, so that saving them makes
/// no string per row and leaves polars no dictionary to build (issue #7).
/// A state saved by version 1 is still read.
const READS_VERSIONS: [u64; 2] = [1, 2];

fn marker(dir: &Path, q: Quarter) -> std::path::PathBuf {
    dir.join(format!("{q}.state.json"))
}

/// Write a state file durably to `path`'s `.tmp` beside it, a row group
/// of `rows` at a time (`columns` builds a group's columns); the rename
/// into place is [`PreparedState::commit`]'s.
fn write_frame<R>(path: &Path, rows: &[R], columns: impl Fn(&[R]) -> Vec<Column>) -> Result<()> {
    let tmp = tmp_of(path);
    let mut out = Durable::create(&tmp)?;
    // No column statistics: the state is always read whole, never
    // filtered by them.
    crate::parquet_batches::write(
        &mut out.writer,
        rows.len(),
        crate::parquet_batches::compression(),
        StatisticsOptions::empty(),
        |range| DataFrame::new(range.len(), columns(&rows[range])),
    )
    .map_err(|e| Error::output(path, e))?;
    out.finish()
}

fn tmp_of(path: &Path) -> std::path::PathBuf {
    path.with_extension("parquet.tmp")
}

/// Q's state written but not yet in place: made while the reports are
/// written (it needs only the rolls), committed after they are published.
/// Dropped uncommitted, it removes its files.
pub struct PreparedState {
    dir: std::path::PathBuf,
    quarter: Quarter,
    files: [String; 2],
    rows: [usize; 2],
    committed: bool,
}

impl PreparedState {
    /// Rename the files into place and write the marker that makes them
    /// Q's state. Called only after the report set is published.
    pub fn commit(mut self) -> Result<()> {
        let mark = marker(&self.dir, self.quarter);
        let _ = std::fs::remove_file(&mark);
        for f in &self.files {
            let path = self.dir.join(f);
            std::fs::rename(tmp_of(&path), &path).map_err(|e| Error::output(&path, e))?;
        }
        self.committed = true;
        crate::faults::point("state_files");
        let meta = json!({
            "format_version": FORMAT_VERSION,
            "quarter": self.quarter.to_string(),
            "files": { "dibao": self.files[0], "poor": self.files[1] },
            "rows": { "dibao": self.rows[0], "poor": self.rows[1] },
        });
        let text =
            serde_json::to_string_pretty(&meta).map_err(|e| Error::Internal(e.to_string()))?;
        write_private(&mark, text.as_bytes())?;
        sync_dir(&self.dir)
    }
}

impl Drop for PreparedState {
    fn drop(&mut self) {
        if !self.committed {
            for f in &self.files {
                let _ = std::fs::remove_file(tmp_of(&self.dir.join(f)));
            }
        }
    }
}

/// The columns every roll's state has, borrowed from the rows (no clone
/// of the roll is made to save it).
fn members<'a>(rows: impl Iterator<Item = &'a Member>) -> Vec<Column> {
    let mut line = Vec::new();
    let mut region = Vec::new();
    let mut household = Vec::new();
    let mut name = Vec::new();
    let mut id = Vec::new();
    let mut head = Vec::new();
    for m in rows {
        line.push(m.line as i64);
        region.push(m.region.as_str());
        household.push(m.household_id.as_str());
        name.push(m.name.as_str());
        id.push(m.id.given());
        head.push(m.is_head);
    }
    vec![
        Column::new("line".into(), line),
        Column::new("region_code".into(), region),
        Column::new("household_id".into(), household),
        Column::new("name".into(), name),
        Column::new("id_number".into(), id),
        Column::new("is_head".into(), head),
    ]
}

/// The columns of `rows` of the 低保 roll's state.
fn dibao_columns(rows: &[DibaoRow]) -> Vec<Column> {
    let mut cols = members(rows.iter().map(|r| &r.member));
    cols.push(Column::new(
        "category".into(),
        rows.iter()
            .map(|r| r.category.map(Shared::as_str))
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "monthly_benefit_cents".into(),
        rows.iter().map(|r| r.monthly_benefit.0).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "monthly_income_cents".into(),
        rows.iter().map(|r| r.monthly_income.0).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "enrolled_on".into(),
        rows.iter()
            .map(|r| r.enrolled_on.map(|d| d.days_since_epoch() as i32))
            .collect::<Vec<_>>(),
    ));
    cols
}

/// The columns of `rows` of the poor roll's state.
fn poor_columns(rows: &[PoorRow]) -> Vec<Column> {
    let mut cols = members(rows.iter().map(|r| &r.member));
    // Enumerations are written as their position in the model's table.
    let code = |f: &dyn Fn(&PoorRow) -> i32| rows.iter().map(f).collect::<Vec<i32>>();
    cols.push(Column::new(
        "household_type".into(),
        code(&|r| code_of(&HouseholdType::ALL, r.household_type)),
    ));
    cols.push(Column::new(
        "status".into(),
        code(&|r| code_of(&Status::ALL, r.status)),
    ));
    cols.push(Column::new(
        "exit_year".into(),
        rows.iter()
            .map(|r| r.exit_year.map(i64::from))
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "cause".into(),
        rows.iter()
            .map(|r| r.cause.map(Shared::as_str))
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "annual_income_cents".into(),
        rows.iter().map(|r| r.annual_income.0).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "labor".into(),
        code(&|r| code_of(&Labor::ALL, r.labor)),
    ));
    cols.push(Column::new(
        "health".into(),
        code(&|r| code_of(&Health::ALL, r.health)),
    ));
    cols.push(Column::new(
        "schooling".into(),
        rows.iter()
            .map(|r| r.schooling.map(Shared::as_str))
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "medical_insured".into(),
        rows.iter().map(|r| r.medical_insured).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "housing_safe".into(),
        rows.iter().map(|r| r.housing_safe).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "water_safe".into(),
        rows.iter().map(|r| r.water_safe).collect::<Vec<_>>(),
    ));
    cols
}

/// The position of `v` in its enumeration's table: its code in the state.
fn code_of<T: PartialEq + Copy>(table: &[(T, &'static str, &'static str)], v: T) -> i32 {
    let at = table.iter().position(|(x, _, _)| *x == v);
    // Every value is in its own table (the tables are the enumerations'
    // lists of every variant); the fallback, which no table reads back,
    // keeps this total.
    at.and_then(|i| i32::try_from(i).ok()).unwrap_or(-1)
}

/// Write Q's rolls beside their final names; nothing is replaced until
/// [`PreparedState::commit`].
pub fn prepare(
    dir: &Path,
    q: Quarter,
    dibao: &DibaoRoll,
    poor: &PoorRoll,
) -> Result<PreparedState> {
    create_private_dir(dir)?;

    // Made first, so that a failure on the way removes what was written.
    let prepared = PreparedState {
        dir: dir.to_path_buf(),
        quarter: q,
        files: [format!("{q}-dibao.parquet"), format!("{q}-poor.parquet")],
        rows: [dibao.rows.len(), poor.rows.len()],
        committed: false,
    };
    write_frame(&dir.join(&prepared.files[0]), &dibao.rows, dibao_columns)?;
    write_frame(&dir.join(&prepared.files[1]), &poor.rows, poor_columns)?;
    Ok(prepared)
}

/// Columns of a state frame, read by name.
struct Frame {
    df: DataFrame,
    path: std::path::PathBuf,
}

/// State files are decoded this many rows or more at a time (whole row
/// groups): a whole file decoded at once held every column of Q-1 beside
/// its rows, the run's peak with Q-1 from state (issue #7).
const STATE_STRETCH_ROWS: usize = 500_000;

impl Frame {
    /// The rows of a state file, each stretch of its row groups turned
    /// into rows by `build` and the stretch freed before the next.
    fn read_rows<T>(path: &Path, build: impl Fn(&Frame) -> Result<Vec<T>>) -> Result<Vec<T>> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Data(format!(
                "{}: state file cannot be read ({e})",
                path.display()
            ))
        })?;
        let unreadable = || {
            Error::Data(format!(
                "{}: state file is not readable Parquet",
                path.display()
            ))
        };
        let stretches = crate::ingest::parquet_stretches(path, &bytes, STATE_STRETCH_ROWS)
            .map_err(|_| unreadable())?;
        let mut rows = Vec::with_capacity(stretches.last().map_or(0, |s| s.end));
        for stretch in stretches {
            let df =
                crate::ingest::read_parquet_stretch(&bytes, stretch).map_err(|_| unreadable())?;
            let frame = Frame {
                df,
                path: path.to_path_buf(),
            };
            rows.extend(build(&frame)?);
        }
        Ok(rows)
    }

    fn bad(&self, column: &str) -> Error {
        Error::Data(format!(
            "{}: state file column {column} is missing or of the wrong type",
            self.path.display()
        ))
    }

    // Columns are read in place, one chunk each so that a row is a direct
    // lookup: copying every column into vectors of cells first held the
    // state twice while the rows were built (issue #7).

    fn text(&self, column: &str) -> Result<StringChunked> {
        let c = self.df.column(column).map_err(|_| self.bad(column))?;
        let s = c
            .as_materialized_series()
            .str()
            .map_err(|_| self.bad(column))?;
        Ok(s.rechunk().into_owned())
    }

    fn int(&self, column: &str) -> Result<Int64Chunked> {
        let c = self.df.column(column).map_err(|_| self.bad(column))?;
        let s = c
            .as_materialized_series()
            .i64()
            .map_err(|_| self.bad(column))?;
        Ok(s.rechunk().into_owned())
    }

    /// The column if it holds `Int32` (format 2's codes and dates), else
    /// `None` (format 1 wrote them as text).
    fn int32(&self, column: &str) -> Result<Option<Int32Chunked>> {
        let c = self.df.column(column).map_err(|_| self.bad(column))?;
        Ok(c.as_materialized_series()
            .i32()
            .ok()
            .map(|s| s.rechunk().into_owned()))
    }

    fn boolean(&self, column: &str) -> Result<BooleanChunked> {
        let c = self.df.column(column).map_err(|_| self.bad(column))?;
        let s = c
            .as_materialized_series()
            .bool()
            .map_err(|_| self.bad(column))?;
        Ok(s.rechunk().into_owned())
    }

    fn members(&self, q: Quarter) -> Result<Vec<Member>> {
        let end = q.last_day();
        let line = self.int("line")?;
        let region = self.text("region_code")?;
        let household = self.text("household_id")?;
        let name = self.text("name")?;
        let id = self.text("id_number")?;
        let head = self.boolean("is_head")?;
        Ok((0..self.df.height())
            .map(|i| Member {
                line: line.get(i).and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
                region: Region::new(region.get(i).unwrap_or_default()),
                household_id: household.get(i).unwrap_or_default().into(),
                name: name.get(i).unwrap_or_default().into(),
                id: PersonId::new(id.get(i).unwrap_or_default().into(), end),
                is_head: head.get(i).unwrap_or(false),
            })
            .collect())
    }
}

/// An enumeration's column: codes (format 2) or Chinese names (format 1).
fn enum_of<T: Copy>(
    frame: &Frame,
    column: &str,
    table: &[(T, &'static str, &'static str)],
) -> Result<Vec<T>> {
    if let Some(codes) = frame.int32(column)? {
        return codes
            .iter()
            .map(|v| {
                v.and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| table.get(i).map(|(x, _, _)| *x))
                    .ok_or_else(|| frame.bad(column))
            })
            .collect();
    }
    frame
        .text(column)?
        .iter()
        .map(|v| {
            v.and_then(|s| values::enumerated(s, table))
                .ok_or_else(|| frame.bad(column))
        })
        .collect()
}

/// The dates of a column: days since 1970-01-01 (format 2) or text
/// (format 1).
fn dates_of(frame: &Frame, column: &str) -> Result<Vec<Option<crate::calendar::Date>>> {
    if let Some(days) = frame.int32(column)? {
        return Ok(days
            .iter()
            .map(|d| d.map(|d| crate::calendar::Date::from_days_since_epoch(i64::from(d))))
            .collect());
    }
    Ok(frame
        .text(column)?
        .iter()
        .map(|v| v.and_then(values::date))
        .collect())
}

/// The saved rolls of quarter `q`, if a run for `q` saved them.
pub fn load(dir: &Path, q: Quarter) -> Result<Option<Previous>> {
    let mark = marker(dir, q);
    let Ok(text) = std::fs::read_to_string(&mark) else {
        return Ok(None);
    };
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        Error::Data(format!(
            "{}: state marker is not valid JSON",
            mark.display()
        ))
    })?;
    let version = meta["format_version"].as_u64().unwrap_or(0);
    if !READS_VERSIONS.contains(&version) {
        return Err(Error::Data(format!(
            "{}: state was written in format version {version}; this rollmatch reads version {FORMAT_VERSION}. Move the state directory aside and give the previous quarter's files instead",
            mark.display()
        )));
    }
    let file = |k: &str| dir.join(meta["files"][k].as_str().unwrap_or(""));

    let dibao_rows = Frame::read_rows(&file("dibao"), |f| dibao_rows(f, q))?;
    let poor_rows = Frame::read_rows(&file("poor"), |f| poor_rows(f, q))?;
    Ok(Some(Previous {
        dibao: DibaoRoll::new(dibao_rows),
        poor: PoorRoll::new(poor_rows),
        source: "state",
    }))
}

/// The 低保 rows of one stretch of a state file.
fn dibao_rows(f: &Frame, q: Quarter) -> Result<Vec<DibaoRow>> {
    let members = f.members(q)?;
    let category = f.text("category")?;
    let benefit = f.int("monthly_benefit_cents")?;
    let income = f.int("monthly_income_cents")?;
    let enrolled = dates_of(f, "enrolled_on")?;
    Ok(members
        .into_iter()
        .enumerate()
        .map(|(i, member)| DibaoRow {
            member,
            category: category.get(i).map(Shared::new),
            monthly_benefit: Cents(benefit.get(i).unwrap_or(0)),
            monthly_income: Cents(income.get(i).unwrap_or(0)),
            enrolled_on: enrolled[i],
        })
        .collect())
}

/// The poor rows of one stretch of a state file.
fn poor_rows(f: &Frame, q: Quarter) -> Result<Vec<PoorRow>> {
    let members = f.members(q)?;
    let types = enum_of(f, "household_type", &HouseholdType::ALL)?;
    let status = enum_of(f, "status", &Status::ALL)?;
    let labor = enum_of(f, "labor", &Labor::ALL)?;
    let health = enum_of(f, "health", &Health::ALL)?;
    let exit_year = f.int("exit_year")?;
    let cause = f.text("cause")?;
    let income = f.int("annual_income_cents")?;
    let schooling = f.text("schooling")?;
    let insured = f.boolean("medical_insured")?;
    let housing = f.boolean("housing_safe")?;
    let water = f.boolean("water_safe")?;
    Ok(members
        .into_iter()
        .enumerate()
        .map(|(i, member)| PoorRow {
            member,
            household_type: types[i],
            status: status[i],
            exit_year: exit_year.get(i).map(|y| y as i32),
            cause: cause.get(i).map(Shared::new),
            annual_income: Cents(income.get(i).unwrap_or(0)),
            labor: labor[i],
            health: health[i],
            schooling: schooling.get(i).map(Shared::new),
            medical_insured: insured.get(i).unwrap_or(false),
            housing_safe: housing.get(i).unwrap_or(false),
            water_safe: water.get(i).unwrap_or(false),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count()
    }

    #[test]
    fn prepared_state_is_q_state_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let q: Quarter = "2018Q3".parse().unwrap();
        let (dibao, poor) = (DibaoRoll::default(), PoorRoll::default());

        // A run that fails after preparing leaves no state and no files.
        let prepared = prepare(dir.path(), q, &dibao, &poor).unwrap();
        assert_eq!(tmp_files(dir.path()), 2);
        assert!(load(dir.path(), q).unwrap().is_none());
        drop(prepared);
        assert_eq!(tmp_files(dir.path()), 0);
        assert!(load(dir.path(), q).unwrap().is_none());

        prepare(dir.path(), q, &dibao, &poor)
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(tmp_files(dir.path()), 0);
        let saved = load(dir.path(), q).unwrap().expect("committed state loads");
        assert_eq!((saved.dibao.rows.len(), saved.poor.rows.len()), (0, 0));
    }

    /// Rewrite a saved file with `f` applied to its frame.
    fn rewrite(path: &Path, f: impl Fn(&mut DataFrame)) {
        let mut df = ParquetReader::new(std::fs::File::open(path).unwrap())
            .finish()
            .unwrap();
        f(&mut df);
        ParquetWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut df)
            .unwrap();
    }

    /// Column `name` of `df` replaced by the text `f` makes of each value.
    fn as_text(df: &mut DataFrame, name: &str, f: impl Fn(i32) -> String) {
        let text: Vec<Option<String>> = df
            .column(name)
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .map(|v| v.map(&f))
            .collect();
        df.replace(name, Column::new(name.into(), text)).unwrap();
    }

    #[test]
    fn state_round_trips_and_format_1_text_columns_still_read() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/luoyang/2018Q2");
        let q: Quarter = "2018Q2".parse().unwrap();
        let v = crate::ingest::Validation {
            quarter_end: q.last_day(),
            hash_files: false,
        };
        let mut dibao_rows = crate::ingest::read_dibao(&fixtures.join("dibao.csv"), v)
            .unwrap()
            .rows;
        // The fixture gives no 纳入日期; some rows get one, some stay empty.
        for (i, r) in dibao_rows.iter_mut().enumerate().step_by(3) {
            r.enrolled_on =
                crate::calendar::Date::new(2010 + (i % 8) as i32, 1 + (i % 12) as u32, 28);
        }
        let dibao = DibaoRoll::new(dibao_rows);
        let poor = PoorRoll::new(
            crate::ingest::read_poor(&fixtures.join("poor.csv"), v)
                .unwrap()
                .rows,
        );
        assert!(dibao.rows.iter().any(|r| r.enrolled_on.is_some()));
        let shown = |d: &DibaoRoll, p: &PoorRoll| format!("{:?}{:?}", d.rows, p.rows);
        let read = shown(&dibao, &poor);

        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), q, &dibao, &poor)
            .unwrap()
            .commit()
            .unwrap();
        let saved = load(dir.path(), q).unwrap().unwrap();
        assert_eq!(shown(&saved.dibao, &saved.poor), read);

        // The same state as format 1 wrote it: dates and enumerations as
        // text.
        let date = |d: i32| crate::calendar::Date::from_days_since_epoch(i64::from(d)).to_string();
        rewrite(&dir.path().join("2018Q2-dibao.parquet"), |df| {
            as_text(df, "enrolled_on", date)
        });
        fn name<T: Copy>(table: &[(T, &'static str, &'static str)]) -> impl Fn(i32) -> String {
            |i| table[i as usize].1.to_owned()
        }
        rewrite(&dir.path().join("2018Q2-poor.parquet"), |df| {
            as_text(df, "household_type", name(&HouseholdType::ALL));
            as_text(df, "status", name(&Status::ALL));
            as_text(df, "labor", name(&Labor::ALL));
            as_text(df, "health", name(&Health::ALL));
        });
        let mark = marker(dir.path(), q);
        let text = std::fs::read_to_string(&mark).unwrap().replace(
            &format!("\"format_version\": {FORMAT_VERSION}"),
            "\"format_version\": 1",
        );
        std::fs::write(&mark, text).unwrap();
        let saved = load(dir.path(), q).unwrap().unwrap();
        assert_eq!(shown(&saved.dibao, &saved.poor), read);
    }
}
