//! Typed rows of each input: the 低保 roll, the poor roll and the two
//! registers. Rows are parsed in parallel (rayon) and keep file order.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::columns::{self as col, InputColumn};
use crate::error::Result;
use crate::model::*;

use super::sink::{Sink, append_in_order, fill_in_order};
use super::values::{self, clean};
use super::{InputStats, Loaded, Reject, Validation, match_headers};
use crate::vocab::Shared;

/// Why a row is rejected: the column and a reason code.
type Fault = (&'static InputColumn, &'static str);

/// Cells of one record, looked up by the contract's columns.
struct Cells<'a> {
    record: &'a [&'a str],
    line: u64,
    /// Each input column's position in the record, by its slot.
    slots: &'a Slots,
    /// Optional cells that failed to parse, by column (for the summary).
    unparsed: Vec<&'static str>,
}

impl<'a> Cells<'a> {
    fn position(&self, c: &InputColumn) -> Option<usize> {
        *self.slots.get(c.slot as usize)?
    }

    fn raw(&self, c: &InputColumn) -> &'a str {
        self.position(c)
            .and_then(|i| self.record.get(i).copied())
            .unwrap_or("")
    }

    /// A required cell, cleaned; empty is a fault.
    fn required(&self, c: &'static InputColumn) -> Result<std::borrow::Cow<'a, str>, Fault> {
        let v = clean(self.raw(c));
        if v.is_empty() {
            Err((c, "missing_value"))
        } else {
            Ok(v)
        }
    }

    /// A required cell, trimmed but otherwise as written (names, ids).
    fn required_text(&self, c: &'static InputColumn) -> Result<Text, Fault> {
        let v = values::trim(self.raw(c));
        if v.is_empty() {
            Err((c, "missing_value"))
        } else {
            Ok(v.into())
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

    /// An optional cell of few distinct values, trimmed, from the run's
    /// shared table.
    fn optional_shared(&self, c: &'static InputColumn) -> Option<Shared> {
        let v = values::trim(self.raw(c));
        (!v.is_empty()).then(|| Shared::new(v))
    }

    fn optional_text(&self, c: &'static InputColumn) -> Option<Text> {
        let v = values::trim(self.raw(c));
        (!v.is_empty()).then(|| v.into())
    }

    fn member(&self, v: Validation) -> Result<Member, Fault> {
        let region = self.parse(&col::REGION_CODE, "bad_region_code", values::region_code)?;
        let household_id = self.required(&col::HOUSEHOLD_ID)?;
        let name = self.required_text(&col::NAME)?;
        let id_given = self.required_text(&col::ID_NUMBER)?;
        let relation = self.required(&col::RELATION)?;
        Ok(Member {
            // Past four billion lines (no roll has them) the number stays
            // at the largest; the row is read all the same.
            line: u32::try_from(self.line).unwrap_or(u32::MAX),
            region: Region::new(&region),
            household_id: Text::from(&*household_id),
            name,
            id: PersonId::new(id_given, v.quarter_end),
            is_head: values::is_head(&relation),
        })
    }
}

/// Records are parsed in chunks of about this many bytes, in parallel.
const CHUNK_BYTES: usize = 4 << 20;

/// Parquet rows are parsed in ranges of this many rows, in parallel.
const PARQUET_ROWS: usize = 50_000;

/// Parquet files are decoded in stretches of whole row groups of at least
/// this many rows (a poor roll's text columns take about 300 bytes a row).
const PARQUET_STRETCH_ROWS: usize = 500_000;

/// What one chunk of records gave besides its rows (which go to the
/// chunk's [`Sink`]).
#[derive(Default)]
struct Parsed {
    rejects: Vec<Reject>,
    read: u64,
    unparsed: Vec<&'static str>,
}

/// The rules every reader shares: field counts, then the row parser.
struct RowRules<'a, P> {
    file: &'a str,
    width: usize,
    slots: Slots,
    parse: &'a P,
}

/// Where each input column is in a record, indexed by the column's slot.
type Slots = [Option<usize>; col::INPUT_SLOTS];

/// The positions `match_headers` found for `columns`, by slot.
fn slots(columns: &[InputColumn], index: &[Option<usize>]) -> Slots {
    let mut slots = [None; col::INPUT_SLOTS];
    for (c, &i) in columns.iter().zip(index) {
        slots[c.slot as usize] = i;
    }
    slots
}

impl<P> RowRules<'_, P> {
    fn apply<T>(&self, record: &[&str], line: u64, rows: &mut Sink<T>, out: &mut Parsed)
    where
        P: Fn(&mut Cells) -> Result<T, Fault>,
    {
        out.read += 1;
        let mut cells = Cells {
            record,
            line,
            slots: &self.slots,
            unparsed: Vec::new(),
        };
        let extra_filled = record
            .iter()
            .skip(self.width)
            .any(|c| !values::trim(c).is_empty());
        let outcome = if record.len() < self.width {
            Err((&ROW, "too_few_fields"))
        } else if extra_filled {
            Err((&ROW, "too_many_fields"))
        } else {
            (self.parse)(&mut cells)
        };
        match outcome {
            Ok(row) => {
                rows.push(row);
                out.unparsed.extend(cells.unparsed);
            }
            Err((column, reason)) => out.rejects.push(Reject {
                file: self.file.to_owned(),
                line,
                column: column.zh.to_owned(),
                reason: reason.to_owned(),
                cells: record.iter().map(|c| (*c).to_owned()).collect(),
            }),
        }
    }
}

/// Read any input with a row parser; the shared part of the four readers.
fn read_input<T: Send>(
    input: &str,
    path: &Path,
    v: Validation,
    columns: &'static [InputColumn],
    parse: impl Fn(&mut Cells) -> Result<T, Fault> + Sync,
) -> Result<Loaded<T>> {
    rows_of(input, path, super::read_bytes(path)?, v, columns, parse)
}

fn rows_of<T: Send>(
    input: &str,
    path: &Path,
    bytes: Vec<u8>,
    v: Validation,
    columns: &'static [InputColumn],
    parse: impl Fn(&mut Cells) -> Result<T, Fault> + Sync,
) -> Result<Loaded<T>> {
    use sha2::{Digest, Sha256};
    let file = path.display().to_string();
    // The file's hash is computed beside the parse, not before it.
    let (sha256, parsed) = rayon::join(
        || {
            if v.hash_files {
                hex::encode(Sha256::digest(&bytes))
            } else {
                String::new()
            }
        },
        || parse_parts(path, &file, &bytes, columns, &parse, PARQUET_STRETCH_ROWS),
    );
    // The file's bytes are freed as soon as every chunk is parsed.
    drop(bytes);
    let (rows, parts, format, encoding) = parsed?;
    let mut stats = InputStats {
        input: input.to_owned(),
        path: path.to_path_buf(),
        sha256,
        format: format.into(),
        encoding,
        ..Default::default()
    };
    let mut rejects = Vec::new();
    for part in parts {
        stats.rows_read += part.read;
        for r in &part.rejects {
            *stats.reject_reasons.entry(r.reason.clone()).or_default() += 1;
        }
        rejects.extend(part.rejects);
        for c in part.unparsed {
            *stats.optional_unparsed.entry(c.to_owned()).or_default() += 1;
        }
    }
    if rows.len() >= crate::model::MAX_ROWS_PER_ROLL {
        return Err(crate::error::Error::data(
            path,
            format!(
                "{} rows or more: rows are numbered in 30 bits; split the roll by county",
                crate::model::MAX_ROWS_PER_ROLL
            ),
        ));
    }
    stats.rows_used = rows.len() as u64;
    stats.rows_rejected = rejects.len() as u64;
    Ok(Loaded {
        rows,
        stats,
        rejects,
    })
}

/// A file's rows in file order, what each chunk gave besides, its format
/// and (for CSV) its encoding.
type Parts<T> = (Vec<T>, Vec<Parsed>, &'static str, String);

fn parse_parts<T: Send>(
    path: &Path,
    file: &str,
    bytes: &[u8],
    columns: &'static [InputColumn],
    parse: &(impl Fn(&mut Cells) -> Result<T, Fault> + Sync),
    stretch_rows: usize,
) -> Result<Parts<T>> {
    if super::is_parquet(bytes) {
        let stretches = super::parquet_stretches(path, bytes, stretch_rows)?;
        let height = stretches.last().map_or(0, |s| s.end);
        let mut rows: Vec<T> = Vec::new();
        // Reserved once for the whole file: the stretches are appended
        // without the vector ever moving.
        rows.reserve_exact(height);
        let mut stretches = stretches.into_iter();
        let Some(first) = stretches.next() else {
            return Ok((Vec::new(), Vec::new(), "parquet", String::new()));
        };
        let table = super::read_parquet(path, bytes, first)?;
        if table.headers.is_empty() {
            return Ok((Vec::new(), Vec::new(), "parquet", String::new()));
        }
        // The file has one schema: its first stretch's headers are all.
        let index = match_headers(path, &table.headers, columns)?;
        let rules = RowRules {
            file,
            width: table.headers.len(),
            slots: slots(columns, &index),
            parse,
        };
        let parse_stretch = |table: &super::ParquetText, rows: &mut Vec<T>| {
            let all = table.rows();
            let ranges: Vec<std::ops::Range<usize>> = all
                .clone()
                .step_by(PARQUET_ROWS)
                .map(|start| start..(start + PARQUET_ROWS).min(all.end))
                .collect();
            let bounds: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
            append_in_order(rows, &bounds, |i, sink| {
                let mut out = Parsed::default();
                table.for_each_record(ranges[i].clone(), |record, line| {
                    rules.apply(record, line, sink, &mut out)
                });
                out
            })
        };
        let mut parts = parse_stretch(&table, &mut rows);
        drop(table);
        for stretch in stretches {
            let table = super::read_parquet(path, bytes, stretch)?;
            parts.extend(parse_stretch(&table, &mut rows));
        }
        Ok((rows, parts, "parquet", String::new()))
    } else {
        let (text, encoding) =
            super::decode(bytes).map_err(|e| crate::error::Error::data(path, e))?;
        let encoding = encoding.name().to_owned();
        let (headers, start, first_line) = super::table::csv_header(path, &text)?;
        if headers.is_empty() {
            return Ok((Vec::new(), Vec::new(), "csv", encoding));
        }
        let index = match_headers(path, &headers, columns)?;
        let rules = RowRules {
            file,
            width: headers.len(),
            slots: slots(columns, &index),
            parse,
        };
        let chunks = super::chunks::split(&text, start, first_line, CHUNK_BYTES);
        // Every record but a chunk's last ends in a line break, and each
        // break holds a \r or a \n: their count + 1 bounds the records
        // (a quoted line break only makes it an overestimate).
        let bounds: Vec<usize> = chunks
            .par_iter()
            .map(|chunk| memchr::memchr2_iter(b'\n', b'\r', chunk.text.as_bytes()).count() + 1)
            .collect();
        let (rows, parts) = fill_in_order(&bounds, |i, sink| {
            let chunk = &chunks[i];
            let mut out = Parsed::default();
            super::table::for_each_record(path, chunk.text, chunk.first_line, |record, line| {
                rules.apply(record, line, sink, &mut out)
            })
            .map(|()| out)
        });
        let parts = parts.into_iter().collect::<Result<Vec<Parsed>>>()?;
        Ok((rows, parts, "csv", encoding))
    }
}

/// Stands for "the whole row" in a fault (the column is left empty).
static ROW: InputColumn = InputColumn {
    slot: u8::MAX,
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
    read_dibao_bytes(path, super::read_bytes(path)?, v)
}

/// A 低保 roll from bytes in memory; `path` only names it in messages
/// (the fuzz target's entry).
pub fn read_dibao_bytes(path: &Path, bytes: Vec<u8>, v: Validation) -> Result<Loaded<DibaoRow>> {
    let mut loaded = rows_of("dibao", path, bytes, v, col::DIBAO_COLUMNS, |c| {
        Ok(DibaoRow {
            member: c.member(v)?,
            monthly_benefit: c.parse(&col::MONTHLY_BENEFIT, "bad_decimal", values::decimal)?,
            monthly_income: c.parse(&col::MONTHLY_INCOME, "bad_decimal", values::decimal)?,
            category: c.optional_shared(&col::CATEGORY),
            enrolled_on: c.optional(&col::ENROLLED_ON, values::date),
        })
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.member.id));
    Ok(loaded)
}

pub fn read_poor(path: &Path, v: Validation) -> Result<Loaded<PoorRow>> {
    let mut loaded = read_input("poor", path, v, col::POOR_COLUMNS, |c| {
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
            cause: c.optional_shared(&col::CAUSE),
            schooling: c
                .optional_text(&col::SCHOOLING)
                .map(|s| Shared::new(&clean(&s))),
        })
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.member.id));
    Ok(loaded)
}

pub fn read_deaths(path: &Path, v: Validation) -> Result<Loaded<DeathRow>> {
    let mut loaded = read_input("deaths", path, v, col::DEATHS_COLUMNS, |c| {
        let id_given = c.required_text(&col::ID_NUMBER)?;
        Ok(DeathRow {
            line: c.line,
            death_date: c.parse(&col::DEATH_DATE, "bad_date", values::date)?,
            id: PersonId::new(id_given, v.quarter_end),
        })
    })?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.id));
    Ok(loaded)
}

pub fn read_employees(path: &Path, v: Validation) -> Result<Loaded<EmployeeRow>> {
    let mut loaded = read_input(
        "public_employees",
        path,
        v,
        col::PUBLIC_EMPLOYEES_COLUMNS,
        |c| {
            let id_given = c.required_text(&col::ID_NUMBER)?;
            Ok(EmployeeRow {
                line: c.line,
                employer: c.optional_text(&col::EMPLOYER),
                id: PersonId::new(id_given, v.quarter_end),
            })
        },
    )?;
    count_invalid(&mut loaded.stats, loaded.rows.iter().map(|r| &r.id));
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_column_has_its_own_slot() {
        for list in [
            col::DIBAO_COLUMNS,
            col::POOR_COLUMNS,
            col::DEATHS_COLUMNS,
            col::PUBLIC_EMPLOYEES_COLUMNS,
        ] {
            let index: Vec<Option<usize>> = (0..list.len()).map(Some).collect();
            let slots = slots(list, &index);
            for (i, c) in list.iter().enumerate() {
                assert!((c.slot as usize) < col::INPUT_SLOTS, "{}", c.en);
                assert_eq!(slots[c.slot as usize], Some(i), "{} shares a slot", c.en);
            }
        }
    }

    #[test]
    fn parquet_read_a_stretch_of_row_groups_at_a_time_gives_the_rows_of_one_read() {
        use polars::prelude::*;
        let n = 10;
        let cell = |c: &InputColumn, i: usize| -> String {
            if i == 7 {
                return String::new(); // a blank row: skipped, not read
            }
            match c.en {
                "region_code" => "410322102203".into(),
                "household_id" => format!("H{}", i / 3),
                "name" if i == 4 => String::new(), // rejected: no name
                "name" => format!("张{i}"),
                "id_number" => format!("41032219800101{i:04}"),
                "relation" if i.is_multiple_of(3) => "户主".into(),
                "relation" => "子女".into(),
                "category" => "一类".into(),
                "enrolled_on" => "2018-01-01".into(),
                _ => "100".into(),
            }
        };
        let columns: Vec<Column> = col::DIBAO_COLUMNS
            .iter()
            .map(|c| {
                let values: Vec<String> = (0..n).map(|i| cell(c, i)).collect();
                Column::new(c.zh.into(), values)
            })
            .collect();
        let mut df = DataFrame::new(n, columns).unwrap();
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes)
            .with_row_group_size(Some(3))
            .finish(&mut df)
            .unwrap();
        let path = Path::new("t.parquet");
        assert!(
            super::super::parquet_stretches(path, &bytes, 1)
                .unwrap()
                .len()
                > 1
        );
        let v = Validation {
            quarter_end: crate::calendar::Date::new(2018, 9, 30).unwrap(),
            hash_files: true,
        };
        let parse = |c: &mut Cells| c.member(v);
        let read_with = |stretch_rows| {
            let (rows, parts, ..) = parse_parts(
                path,
                "t.parquet",
                &bytes,
                col::DIBAO_COLUMNS,
                &parse,
                stretch_rows,
            )
            .unwrap();
            let rows: Vec<(u32, String)> =
                rows.iter().map(|m| (m.line, m.name.to_string())).collect();
            let rejects: Vec<u64> = parts
                .iter()
                .flat_map(|p| p.rejects.iter().map(|r| r.line))
                .collect();
            let read: u64 = parts.iter().map(|p| p.read).sum();
            (rows, rejects, read)
        };
        let (rows, rejects, read) = read_with(1);
        assert_eq!((rows.clone(), rejects.clone(), read), read_with(usize::MAX));
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[4], (7, "张5".to_string()));
        assert_eq!((rejects, read), (vec![6], 9));
    }
}
