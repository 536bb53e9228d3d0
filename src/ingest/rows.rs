//! Typed rows of each input: the 低保 roll, the poor roll and the two
//! registers. Rows are parsed in parallel (rayon) and keep file order.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::columns::{self as col, InputColumn};
use crate::error::Result;
use crate::identity::check_id;
use crate::model::*;

use super::values::{self, clean};
use super::{InputStats, Loaded, Record, Reject, Validation, load_table, match_headers};

/// Why a row is rejected: the column and a reason code.
type Fault = (&'static InputColumn, &'static str);

/// Cells of one record, looked up by the contract's columns.
struct Cells<'a> {
    record: &'a Record,
    index: &'a [Option<usize>],
    columns: &'a [InputColumn],
    /// Optional cells that failed to parse, by column (for the summary).
    unparsed: Vec<&'static str>,
}

impl<'a> Cells<'a> {
    fn position(&self, c: &InputColumn) -> Option<usize> {
        let i = self.columns.iter().position(|x| x == c)?;
        self.index[i]
    }

    fn raw(&self, c: &InputColumn) -> &'a str {
        self.position(c)
            .and_then(|i| self.record.cells.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// A required cell, cleaned; empty is a fault.
    fn required(&self, c: &'static InputColumn) -> Result<String, Fault> {
        let v = clean(self.raw(c));
        if v.is_empty() {
            Err((c, "missing_value"))
        } else {
            Ok(v)
        }
    }

    /// A required cell, trimmed but otherwise as written (names, ids).
    fn required_text(&self, c: &'static InputColumn) -> Result<String, Fault> {
        let v = values::trim(self.raw(c));
        if v.is_empty() {
            Err((c, "missing_value"))
        } else {
            Ok(v.to_owned())
        }
    }

    fn parse<T>(
        &self,
        c: &'static InputColumn,
        reason: &'static str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, Fault> {
        f(&self.required(c)?).ok_or((c, reason))
    }

    /// An optional cell: empty stays `None`; unparseable becomes `None`
    /// and is counted.
    fn optional<T>(&mut self, c: &'static InputColumn, f: impl Fn(&str) -> Option<T>) -> Option<T> {
        let v = clean(self.raw(c));
        if v.is_empty() {
            return None;
        }
        let parsed = f(&v);
        if parsed.is_none() {
            self.unparsed.push(c.zh);
        }
        parsed
    }

    fn optional_text(&self, c: &'static InputColumn) -> Option<String> {
        let v = values::trim(self.raw(c));
        (!v.is_empty()).then(|| v.to_owned())
    }

    fn member(&self, v: Validation) -> Result<Member, Fault> {
        let region = self.parse(&col::REGION_CODE, "bad_region_code", values::region_code)?;
        let household_id = self.required(&col::HOUSEHOLD_ID)?;
        let name = self.required_text(&col::NAME)?;
        let id_given = self.required_text(&col::ID_NUMBER)?;
        let relation = self.required(&col::RELATION)?;
        Ok(Member {
            line: self.record.line,
            region: Region(region),
            household_id,
            name_norm: crate::identity::normalize_name(&name),
            name,
            id: PersonId {
                check: check_id(&id_given, v.quarter_end),
                given: id_given,
            },
            is_head: values::is_head(&relation),
        })
    }
}

/// Read any input with a row parser; the shared part of the four readers.
fn read_input<T: Send>(
    input: &str,
    path: &Path,
    columns: &'static [InputColumn],
    parse: impl Fn(&mut Cells) -> Result<T, Fault> + Sync,
) -> Result<Loaded<T>> {
    let (table, mut stats) = load_table(path)?;
    stats.input = input.to_owned();
    if table.headers.is_empty() {
        return Ok(Loaded {
            rows: Vec::new(),
            stats,
            rejects: Vec::new(),
        });
    }
    let index = match_headers(path, &table.headers, columns)?;
    let width = table.headers.len();
    let file = path.display().to_string();
    let outcomes: Vec<(Result<T, Fault>, Vec<&'static str>)> = table
        .records
        .par_iter()
        .map(|record| {
            let mut cells = Cells {
                record,
                index: &index,
                columns,
                unparsed: Vec::new(),
            };
            let extra_filled = record
                .cells
                .iter()
                .skip(width)
                .any(|c| !c.trim().is_empty());
            let outcome = if record.cells.len() < width {
                Err((&ROW, "too_few_fields"))
            } else if extra_filled {
                Err((&ROW, "too_many_fields"))
            } else {
                parse(&mut cells)
            };
            (outcome, cells.unparsed)
        })
        .collect();
    let mut rows = Vec::with_capacity(outcomes.len());
    let mut rejects = Vec::new();
    for (record, (outcome, unparsed)) in table.records.iter().zip(outcomes) {
        match outcome {
            Ok(row) => {
                rows.push(row);
                for c in unparsed {
                    *stats.optional_unparsed.entry(c.to_owned()).or_default() += 1;
                }
            }
            Err((column, reason)) => {
                *stats.reject_reasons.entry(reason.to_owned()).or_default() += 1;
                rejects.push(Reject {
                    file: file.clone(),
                    line: record.line,
                    column: column.zh.to_owned(),
                    reason: reason.to_owned(),
                    cells: record.cells.clone(),
                });
            }
        }
    }
    stats.rows_used = rows.len() as u64;
    stats.rows_rejected = rejects.len() as u64;
    Ok(Loaded {
        rows,
        stats,
        rejects,
    })
}

/// Stands for "the whole row" in a fault (the column is left empty).
static ROW: InputColumn = InputColumn {
    zh: "",
    en: "",
    required: true,
};

fn count_invalid<'a>(stats: &mut InputStats, ids: impl Iterator<Item = &'a PersonId>) {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for id in ids {
        if let Some(r) = id.invalid_reason() {
            *counts.entry(r.code().to_owned()).or_default() += 1;
        }
    }
    stats.invalid_ids = counts;
}

pub fn read_dibao(path: &Path, v: Validation) -> Result<Loaded<DibaoRow>> {
    let mut loaded = read_input("dibao", path, col::DIBAO_COLUMNS, |c| {
        Ok(DibaoRow {
            member: c.member(v)?,
            monthly_benefit: c.parse(&col::MONTHLY_BENEFIT, "bad_decimal", values::decimal)?,
            monthly_income: c.parse(&col::MONTHLY_INCOME, "bad_decimal", values::decimal)?,
            category: c.optional_text(&col::CATEGORY),
            enrolled_on: c.optional(&col::ENROLLED_ON, values::date),
        })
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.member.id));
    Ok(loaded)
}

pub fn read_poor(path: &Path, v: Validation) -> Result<Loaded<PoorRow>> {
    let mut loaded = read_input("poor", path, col::POOR_COLUMNS, |c| {
        Ok(PoorRow {
            member: c.member(v)?,
            household_type: c.parse(&col::HOUSEHOLD_TYPE, "bad_enum", |s| {
                values::enumerated(s, &HouseholdType::ALL)
            })?,
            status: c.parse(&col::STATUS, "bad_enum", |s| {
                values::enumerated(s, &Status::ALL)
            })?,
            annual_income: c.parse(&col::ANNUAL_INCOME, "bad_decimal", values::decimal)?,
            labor: c.parse(&col::LABOR, "bad_enum", |s| {
                values::enumerated(s, &Labor::ALL)
            })?,
            health: c.parse(&col::HEALTH, "bad_enum", |s| {
                values::enumerated(s, &Health::ALL)
            })?,
            medical_insured: c.parse(&col::MEDICAL_INSURED, "bad_bool", values::boolean)?,
            housing_safe: c.parse(&col::HOUSING_SAFE, "bad_bool", values::boolean)?,
            water_safe: c.parse(&col::WATER_SAFE, "bad_bool", values::boolean)?,
            exit_year: c.optional(&col::EXIT_YEAR, values::integer),
            cause: c.optional_text(&col::CAUSE),
            schooling: c.optional_text(&col::SCHOOLING).map(|s| clean(&s)),
        })
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.member.id));
    Ok(loaded)
}

pub fn read_deaths(path: &Path, v: Validation) -> Result<Loaded<DeathRow>> {
    let mut loaded = read_input("deaths", path, col::DEATHS_COLUMNS, |c| {
        let id_given = c.required_text(&col::ID_NUMBER)?;
        Ok(DeathRow {
            line: c.record.line,
            death_date: c.parse(&col::DEATH_DATE, "bad_date", values::date)?,
            id: PersonId {
                check: check_id(&id_given, v.quarter_end),
                given: id_given,
            },
        })
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.id));
    Ok(loaded)
}

pub fn read_employees(path: &Path, v: Validation) -> Result<Loaded<EmployeeRow>> {
    let mut loaded = read_input(
        "public_employees",
        path,
        col::PUBLIC_EMPLOYEES_COLUMNS,
        |c| {
            let id_given = c.required_text(&col::ID_NUMBER)?;
            Ok(EmployeeRow {
                line: c.record.line,
                employer: c.optional_text(&col::EMPLOYER),
                id: PersonId {
                    check: check_id(&id_given, v.quarter_end),
                    given: id_given,
                },
            })
        },
    )?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.id));
    Ok(loaded)
}
