//! Reading the state of formats 1 and 2: Parquet files written through
//! polars by earlier rollmatch versions, still read so that a bureau that
//! upgrades keeps its last quarter. Format 3 ([`super::format3`]) replaced
//! them (issue #7).
//!
//! Files (`Q-dibao.parquet`, `Q-poor.parquet`): one row per person row of
//! each roll, in file order, money in cents; format 2 writes dates as
//! days since 1970-01-01 and the poor roll's enumerations as their
//! position in the model's table (`Int32`), format 1 wrote them as text.

use std::path::Path;

use polars::prelude::*;

use crate::calendar::Quarter;
use crate::error::{Error, Result};
use crate::ingest::values;
use crate::model::*;
use crate::money::Cents;
use crate::short_text::ShortText;
use crate::vocab::Shared;

/// The rolls saved in `dibao` and `poor` by a run for `q`.
/// Rows and their household numbers, index for index.
type RowsAndHouseholds<T, S> = (Vec<T>, Vec<S>);
/// Rows read whole as `T`, each kept as `R`, and what rides beside them.
type KeptRows<R, T> = RowsAndHouseholds<R, <R as Kept<T>>::Side>;

/// Each row kept as `D` or `P`, stretch by stretch (see
/// [`super::load_as`]).
pub fn load<D: Kept<DibaoRow>, P: Kept<PoorRow>>(
    dibao: &Path,
    poor: &Path,
    q: Quarter,
) -> Result<(KeptRows<D, DibaoRow>, KeptRows<P, PoorRow>)> {
    Ok((
        Frame::read_rows(dibao, |f| dibao_rows(f, q).map(super::kept_as))?,
        Frame::read_rows(poor, |f| poor_rows(f, q).map(super::kept_as))?,
    ))
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
    fn read_rows<T, S>(
        path: &Path,
        build: impl Fn(&Frame) -> Result<Vec<(T, S)>>,
    ) -> Result<RowsAndHouseholds<T, S>> {
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
        let height = stretches.last().map_or(0, |s| s.end);
        let mut rows = (Vec::with_capacity(height), Vec::with_capacity(height));
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

    fn members(&self, q: Quarter) -> Result<Vec<(Member, ShortText)>> {
        let end = q.last_day();
        let line = self.int("line")?;
        let region = self.text("region_code")?;
        let household = self.text("household_id")?;
        let name = self.text("name")?;
        let id = self.text("id_number")?;
        let head = self.boolean("is_head")?;
        Ok((0..self.df.height())
            .map(|i| {
                let member = Member {
                    line_and_head: LineAndHead::new(
                        line.get(i).and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
                        head.get(i).unwrap_or(false),
                    ),
                    region: Region::new(region.get(i).unwrap_or_default()),
                    name: name.get(i).unwrap_or_default().into(),
                    id: PersonId::new(id.get(i).unwrap_or_default().into(), end),
                };
                (member, household.get(i).unwrap_or_default().into())
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
fn dates_of(frame: &Frame, column: &str) -> Result<Vec<OptionalDate>> {
    if let Some(days) = frame.int32(column)? {
        return Ok(days.iter().map(OptionalDate::from_day_number).collect());
    }
    Ok(frame
        .text(column)?
        .iter()
        .map(|v| OptionalDate::new(v.and_then(values::date)))
        .collect())
}

/// The 低保 rows of one stretch of a state file.
fn dibao_rows(f: &Frame, q: Quarter) -> Result<Vec<(DibaoRow, ShortText)>> {
    let members = f.members(q)?;
    let category = f.text("category")?;
    let benefit = f.int("monthly_benefit_cents")?;
    let income = f.int("monthly_income_cents")?;
    let enrolled = dates_of(f, "enrolled_on")?;
    Ok(members
        .into_iter()
        .enumerate()
        .map(|(i, (member, household_id))| {
            let row = DibaoRow {
                member,
                category: category.get(i).map(Shared::new),
                monthly_benefit: Cents(benefit.get(i).unwrap_or(0)).into(),
                monthly_income: Cents(income.get(i).unwrap_or(0)).into(),
                enrolled_on: enrolled[i],
            };
            (row, household_id)
        })
        .collect())
}

/// The poor rows of one stretch of a state file.
fn poor_rows(f: &Frame, q: Quarter) -> Result<Vec<(PoorRow, ShortText)>> {
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
        .map(|(i, (member, household_id))| {
            let row = PoorRow {
                member,
                household_type: types[i],
                status: status[i],
                exit_year: OptionalI32::new(exit_year.get(i).map(|y| y as i32)),
                cause: cause.get(i).map(Shared::new),
                annual_income: Cents(income.get(i).unwrap_or(0)).into(),
                circumstances: Circumstances::new(
                    labor[i],
                    health[i],
                    insured.get(i).unwrap_or(false),
                    housing.get(i).unwrap_or(false),
                    water.get(i).unwrap_or(false),
                ),
                schooling: schooling.get(i).map(Shared::new),
            };
            (row, household_id)
        })
        .collect())
}

/// Format 2's writer, as the last rollmatch that wrote it: the tests
/// save states in it to show that they are still read.
#[cfg(test)]
pub mod writer {
    use super::*;

    /// Save `dibao` and `poor` as a format-2 state of quarter `q` in `dir`,
    /// marker included.
    pub fn save_format2(dir: &Path, q: Quarter, dibao: &DibaoRoll, poor: &PoorRoll) {
        let files = [format!("{q}-dibao.parquet"), format!("{q}-poor.parquet")];
        write_frame(&dir.join(&files[0]), dibao.rows.len(), |range| {
            dibao_columns(dibao, range)
        });
        write_frame(&dir.join(&files[1]), poor.rows.len(), |range| {
            poor_columns(poor, range)
        });
        let meta = serde_json::json!({
            "format_version": 2,
            "quarter": q.to_string(),
            "files": { "dibao": files[0], "poor": files[1] },
            "rows": { "dibao": dibao.rows.len(), "poor": poor.rows.len() },
        });
        std::fs::write(
            dir.join(format!("{q}.state.json")),
            serde_json::to_string_pretty(&meta).unwrap(),
        )
        .unwrap();
    }

    /// A state file as formats 1 and 2 were written: a polars frame, in
    /// row groups of `ROW_GROUP_ROWS`.
    fn write_frame(
        path: &Path,
        rows: usize,
        columns: impl Fn(std::ops::Range<usize>) -> Vec<Column> + Sync,
    ) {
        let mut out = std::fs::File::create(path).unwrap();
        let mut frame = DataFrame::new(rows, columns(0..rows)).unwrap();
        ParquetWriter::new(&mut out)
            .with_compression(crate::parquet_batches::compression())
            .with_statistics(StatisticsOptions::empty())
            .with_row_group_size(Some(crate::parquet_batches::ROW_GROUP_ROWS))
            .finish(&mut frame)
            .unwrap();
    }

    /// The columns every roll's state has, borrowed from the rows (no clone
    /// of the roll is made to save it).
    fn members<'a>(
        rows: impl Iterator<Item = &'a Member>,
        households: impl Iterator<Item = &'a str>,
    ) -> Vec<Column> {
        let mut line = Vec::new();
        let mut region = Vec::new();
        let mut household = Vec::new();
        let mut name = Vec::new();
        let mut id = Vec::new();
        let mut head = Vec::new();
        for (m, h) in rows.zip(households) {
            line.push(i64::from(m.line()));
            region.push(m.region.as_str());
            household.push(h);
            name.push(m.name.to_string());
            id.push(m.id.given().to_string());
            head.push(m.is_head());
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
    fn dibao_columns(roll: &DibaoRoll, range: std::ops::Range<usize>) -> Vec<Column> {
        let rows = &roll.rows[range.clone()];
        let households = range.map(|r| roll.household_id(r).as_str());
        let mut cols = members(rows.iter().map(|r| &r.member), households);
        cols.push(Column::new(
            "category".into(),
            rows.iter()
                .map(|r| r.category.map(Shared::as_str))
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "monthly_benefit_cents".into(),
            rows.iter()
                .map(|r| r.monthly_benefit.get().0)
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "monthly_income_cents".into(),
            rows.iter()
                .map(|r| r.monthly_income.get().0)
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "enrolled_on".into(),
            rows.iter()
                .map(|r| r.enrolled_on.day_number())
                .collect::<Vec<_>>(),
        ));
        cols
    }

    /// The columns of `rows` of the poor roll's state.
    fn poor_columns(roll: &PoorRoll, range: std::ops::Range<usize>) -> Vec<Column> {
        let rows = &roll.rows[range.clone()];
        let households = range.map(|r| roll.household_id(r).as_str());
        let mut cols = members(rows.iter().map(|r| &r.member), households);
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
                .map(|r| r.exit_year.get().map(i64::from))
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
            rows.iter()
                .map(|r| r.annual_income.get().0)
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "labor".into(),
            code(&|r| code_of(&Labor::ALL, r.labor())),
        ));
        cols.push(Column::new(
            "health".into(),
            code(&|r| code_of(&Health::ALL, r.health())),
        ));
        cols.push(Column::new(
            "schooling".into(),
            rows.iter()
                .map(|r| r.schooling.map(Shared::as_str))
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "medical_insured".into(),
            rows.iter().map(|r| r.medical_insured()).collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "housing_safe".into(),
            rows.iter().map(|r| r.housing_safe()).collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "water_safe".into(),
            rows.iter().map(|r| r.water_safe()).collect::<Vec<_>>(),
        ));
        cols
    }

    /// Format 2's code of `v`: its position in its enumeration's table,
    /// as format 3 numbers it.
    fn code_of<T: PartialEq + Copy>(table: &[(T, &'static str, &'static str)], v: T) -> i32 {
        i32::from(crate::model::code_of(table, v))
    }
}
