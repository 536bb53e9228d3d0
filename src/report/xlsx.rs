//! `report.xlsx`: 概览, 风险户, and one sheet per flag kind, written in
//! rust_xlsxwriter's constant-memory mode. Chinese headers, frozen header
//! row, autofilter, widths that fit Chinese text; IDs always as text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::files::Durable;
use crate::flags::Kind;
use crate::job::Job;

use super::labels as zh;
use super::tables::TextTable;

/// Data rows a sheet holds below its header.
pub const ROWS_PER_SHEET: usize = 1_048_575;

/// Columns written as numbers in the 风险户 sheet.
const NUMERIC: [&str; 3] = ["members", "annual_income", "score"];

fn xe(path: &Path) -> impl Fn(XlsxError) -> Error + '_ {
    move |e| Error::output(path, e)
}

/// Excel holds at most 32,767 characters in a cell; longer text is cut
/// with a visible marker (the CSV and Parquet files keep it whole).
const MAX_CELL_CHARS: usize = 32_767;

fn fit(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.len() <= MAX_CELL_CHARS || cell.chars().count() <= MAX_CELL_CHARS {
        return std::borrow::Cow::Borrowed(cell);
    }
    let marker = super::labels::TRUNCATED;
    let keep = MAX_CELL_CHARS - marker.chars().count();
    std::borrow::Cow::Owned(cell.chars().take(keep).collect::<String>() + marker)
}

/// Display width: CJK characters count twice.
fn width(s: &str) -> f64 {
    s.chars()
        .map(|c| if (c as u32) < 0x2E80 { 1.0 } else { 2.0 })
        .sum()
}

fn widths(table: &TextTable) -> Vec<f64> {
    (0..table.columns.len())
        .map(|i| {
            let head = width(zh::header(table.columns[i]));
            let data = (0..table.len().min(2000))
                .map(|r| width(&table.cell(r, i)))
                .fold(0.0, f64::max);
            (head.max(data) + 2.0).clamp(6.0, 60.0)
        })
        .collect()
}

/// One sheet to fill: the index of its worksheet in the workbook, and the
/// rows of `table` it holds.
struct SheetFill<'a, 't> {
    sheet: usize,
    table: &'a TextTable<'t>,
    rows: &'a [usize],
    tier_formats: Option<&'a BTreeMap<&'a str, Format>>,
    /// Column widths, set only once the rows are written: see [`fill`].
    widths: Vec<f64>,
}

/// Add the sheets a table needs (`name`, `name(2)`, …) with their header,
/// frozen row and filter; their rows are written by [`fill`], and their
/// widths set after it.
fn add_table_sheets<'a, 't>(
    wb: &mut Workbook,
    path: &Path,
    name: &str,
    table: &'a TextTable<'t>,
    rows: &'a [usize],
    tier_formats: Option<&'a BTreeMap<&'a str, Format>>,
    header_format: &Format,
) -> Result<Vec<SheetFill<'a, 't>>> {
    let widths = widths(table);
    let chunks: Vec<&[usize]> = if rows.is_empty() {
        vec![&[][..]]
    } else {
        rows.chunks(ROWS_PER_SHEET).collect()
    };
    let mut fills = Vec::new();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let ws: &mut Worksheet = wb.add_worksheet_with_constant_memory().map_err(xe(path))?;
        let sheet_name = if n == 0 {
            name.to_owned()
        } else {
            format!("{name}({})", n + 1)
        };
        ws.set_name(sheet_name).map_err(xe(path))?;
        for (c, col) in table.columns.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, zh::header(col), header_format)
                .map_err(xe(path))?;
        }
        ws.set_freeze_panes(1, 0).map_err(xe(path))?;
        let last_col = table.columns.len().saturating_sub(1) as u16;
        ws.autofilter(0, 0, chunk.len() as u32, last_col)
            .map_err(xe(path))?;
        fills.push(SheetFill {
            sheet: wb.worksheets().len() - 1,
            table,
            rows: chunk,
            tier_formats,
            widths: widths.clone(),
        });
    }
    Ok(fills)
}

/// Write a sheet's data rows, then set its column widths. Sheets are
/// filled in parallel: each writes its own temporary file, and every
/// format it uses was registered with the workbook beforehand, so the file
/// does not depend on thread timing.
///
/// The widths come last because a sheet with column settings looks each
/// cell's column up in a SipHash map, twice (about a fifth of the
/// workbook's CPU at 1 M households; issue #7); the `<cols>` element is
/// written when the workbook is saved, so the file is the same.
fn fill(ws: &mut Worksheet, job: &SheetFill) -> std::result::Result<(), XlsxError> {
    fill_rows(ws, job)?;
    for (c, w) in job.widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    Ok(())
}

fn fill_rows(ws: &mut Worksheet, job: &SheetFill) -> std::result::Result<(), XlsxError> {
    let table = job.table;
    // What each column is, decided once per sheet rather than per cell.
    let numeric: Vec<bool> = table.columns.iter().map(|c| NUMERIC.contains(c)).collect();
    let tiered: Vec<bool> = table.columns.iter().map(|c| *c == "tier").collect();
    for (i, &r) in job.rows.iter().enumerate() {
        let row = (i + 1) as u32;
        for c in 0..table.columns.len() {
            let text = table.cell(r, c);
            let cell = fit(&text);
            let number = if numeric[c] {
                cell.parse::<f64>().ok()
            } else {
                None
            };
            let tier = job
                .tier_formats
                .and_then(|t| tiered[c].then(|| t.get(cell.as_ref())).flatten());
            match (number, tier) {
                (Some(v), _) => ws.write_number(row, c as u16, v).map(|_| ()),
                (None, Some(f)) => ws
                    .write_string_with_format(row, c as u16, cell, f)
                    .map(|_| ()),
                (None, None) => ws.write_string(row, c as u16, cell).map(|_| ()),
            }?;
        }
    }
    Ok(())
}

fn overview(
    wb: &mut Workbook,
    path: &Path,
    job: &Job,
    summary: &Value,
    county: Option<&str>,
) -> Result<()> {
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet_with_constant_memory().map_err(xe(path))?;
    ws.set_name(zh::SHEET_OVERVIEW).map_err(xe(path))?;
    ws.set_column_width(0, 34).map_err(xe(path))?;
    for c in 1..8u16 {
        ws.set_column_width(c, 14).map_err(xe(path))?;
    }
    let mut row = 0u32;
    let mut line = |ws: &mut Worksheet, cells: &[Cell], bold_row: bool| -> Result<()> {
        for (c, cell) in cells.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(s) if bold_row => {
                    ws.write_string_with_format(row, c, s, &bold).map(|_| ())
                }
                Cell::Text(s) => ws.write_string(row, c, s).map(|_| ()),
                Cell::Num(v) => ws.write_number(row, c, *v).map(|_| ()),
            }
            .map_err(xe(path))?;
        }
        row += 1;
        Ok(())
    };
    use Cell::*;
    let n = |v: &Value| Num(v.as_f64().unwrap_or(0.0));
    line(ws, &[Text(zh::TITLE.into())], true)?;
    line(ws, &[Text(zh::JOB.into()), Text(job.name.clone())], false)?;
    line(
        ws,
        &[Text(zh::QUARTER.into()), Text(job.quarter.to_string())],
        false,
    )?;
    if let Some(c) = county {
        line(ws, &[Text(zh::COUNTY.into()), Text(c.to_owned())], false)?;
    }
    line(
        ws,
        &[
            Text(zh::DIBAO_HOUSEHOLDS.into()),
            n(&summary["rolls"]["dibao"]["households"]),
        ],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::DIBAO_PERSONS.into()),
            n(&summary["rolls"]["dibao"]["persons"]),
        ],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::POOR_HOUSEHOLDS.into()),
            n(&summary["rolls"]["poor"]["households"]),
        ],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::POOR_PERSONS.into()),
            n(&summary["rolls"]["poor"]["persons"]),
        ],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::EXACT_MATCHES.into()),
            n(&summary["matches"]["exact"]),
        ],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::PROBABLE_MATCHES.into()),
            n(&summary["matches"]["probable"]),
        ],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::LINKED_PAIRS.into()),
            n(&summary["matches"]["linked_household_pairs"]),
        ],
        false,
    )?;
    line(
        ws,
        &[Text(zh::FLAGS_TOTAL.into()), n(&summary["flags"]["total"])],
        false,
    )?;
    line(
        ws,
        &[
            Text(zh::HIGH_RISK.into()),
            n(&summary["risk"]["tiers"]["高"]),
        ],
        false,
    )?;
    line(
        ws,
        &[Text(zh::REJECTS.into()), n(&summary["rejects"])],
        false,
    )?;
    line(ws, &[], false)?;
    line(
        ws,
        &[Text(zh::BY_FLAG.into()), Text(zh::COUNT.into())],
        true,
    )?;
    for def in crate::checks::CATALOG.iter() {
        let count = &summary["flags"]["by_flag"][def.code];
        line(
            ws,
            &[Text(format!("{}({})", def.label, def.code)), n(count)],
            false,
        )?;
    }
    line(ws, &[], false)?;
    line(
        ws,
        &[Text(zh::BY_SEVERITY.into()), Text(zh::COUNT.into())],
        true,
    )?;
    for s in crate::flags::Severity::ALL {
        line(
            ws,
            &[
                Text(zh::severity_label(s).into()),
                n(&summary["flags"]["by_severity"][s.code()]),
            ],
            false,
        )?;
    }
    line(ws, &[], false)?;
    line(ws, &[Text(zh::MOVEMENTS.into())], true)?;
    match &summary["movements"] {
        Value::Object(m) => {
            line(ws, &[Text(zh::TRANSITIONS.into())], true)?;
            let states = crate::dynamics::RollState::ALL;
            let mut head = vec![Text(format!("{}\\本季度", zh::PREVIOUS))];
            head.extend(states.iter().map(|s| Text(s.label().into())));
            line(ws, &head, true)?;
            for from in states {
                let mut cells = vec![Text(from.label().into())];
                cells.extend(
                    states
                        .iter()
                        .map(|to| n(&m["transitions"]["total"][from.code()][to.code()])),
                );
                line(ws, &cells, false)?;
            }
        }
        _ => {
            let reason = summary["movements_skipped_reason"].as_str().unwrap_or("");
            line(
                ws,
                &[Text(zh::MOVEMENTS_SKIPPED.into()), Text(reason.into())],
                false,
            )?;
        }
    }
    line(ws, &[], false)?;
    line(ws, &[Text(zh::BY_COUNTY.into())], true)?;
    let mut head = vec![Text(zh::COUNTY.into()), Text(zh::TOTAL.into())];
    head.extend(Kind::ALL.iter().map(|k| Text(zh::kind_label(*k).into())));
    line(ws, &head, true)?;
    if let Some(counties) = summary["flags"]["by_county"].as_object() {
        for (code, counts) in counties {
            let mut by_kind: BTreeMap<Kind, f64> = BTreeMap::new();
            let mut total = 0.0;
            for (flag, v) in counts.as_object().into_iter().flatten() {
                let v = v.as_f64().unwrap_or(0.0);
                total += v;
                if let Some(def) = crate::checks::lookup(flag) {
                    *by_kind.entry(def.kind).or_default() += v;
                }
            }
            let mut cells = vec![
                Text(if code.is_empty() {
                    "—".into()
                } else {
                    crate::divisions::county_label(code)
                }),
                Num(total),
            ];
            cells.extend(
                Kind::ALL
                    .iter()
                    .map(|k| Num(by_kind.get(k).copied().unwrap_or(0.0))),
            );
            line(ws, &cells, false)?;
        }
    }
    Ok(())
}

enum Cell {
    Text(String),
    Num(f64),
}

/// Zip level of the workbook: 1 (fastest) instead of the default 6.
/// rust_xlsxwriter's table puts level 1 at 0.45 of level 6's save time;
/// at 1 M households the file grew from 125 MB to 202 MB, which analysts
/// open all the same (the README's Performance section).
const ZIP_LEVEL: u8 = 1;

/// The whole workbook; with `county`, only that county's rows.
pub fn write_workbook<'t>(
    path: &Path,
    job: &Job,
    summary: &Value,
    flags: &TextTable<'t>,
    households: &TextTable<'t>,
    county: Option<&str>,
) -> Result<()> {
    let mut wb = Workbook::new();
    // Deflating the sheet XML was the slowest part of writing a 1 M
    // household workbook; see ZIP_LEVEL.
    wb.set_zip_compression_level(ZIP_LEVEL);
    let end = job.quarter.last_day();
    let created = ExcelDateTime::from_ymd(end.year as u16, end.month, end.day).map_err(xe(path))?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(zh::TITLE)
            .set_creation_datetime(&created),
    );
    overview(&mut wb, path, job, summary, county)?;

    let in_county = |table: &TextTable, column: Option<usize>, row: usize| -> bool {
        county.is_none_or(|c| column.is_some_and(|i| table.cell(row, i) == c))
    };
    let (flag_county, household_county) = (
        flags.position("county_code"),
        households.position("county_code"),
    );
    let tiers: BTreeMap<&str, Format> = [
        (
            "高",
            Format::new().set_background_color(Color::RGB(0xF8CBAD)),
        ),
        (
            "中",
            Format::new().set_background_color(Color::RGB(0xFFE699)),
        ),
        (
            "低",
            Format::new().set_background_color(Color::RGB(0xC6EFCE)),
        ),
    ]
    .into_iter()
    .collect();
    let header_format = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDEBF7));
    // Every format a cell uses gets its index here, in a fixed order,
    // before the sheets are filled in parallel.
    wb.register_format(&header_format);
    for f in tiers.values() {
        wb.register_format(f);
    }
    let household_rows: Vec<usize> = (0..households.len())
        .filter(|&i| in_county(households, household_county, i))
        .collect();
    let kind_col = flags.position("kind").unwrap_or(3);
    let kind_rows: Vec<Vec<usize>> = Kind::ALL
        .iter()
        .map(|kind| {
            (0..flags.len())
                .filter(|&i| {
                    flags.cell(i, kind_col) == kind.code() && in_county(flags, flag_county, i)
                })
                .collect()
        })
        .collect();
    let mut fills = add_table_sheets(
        &mut wb,
        path,
        zh::SHEET_HOUSEHOLDS,
        households,
        &household_rows,
        Some(&tiers),
        &header_format,
    )?;
    for (kind, rows) in Kind::ALL.iter().zip(&kind_rows) {
        fills.extend(add_table_sheets(
            &mut wb,
            path,
            zh::kind_label(*kind),
            flags,
            rows,
            None,
            &header_format,
        )?);
    }
    let sheets = wb.worksheets_mut();
    let mut slots: Vec<Option<&mut Worksheet>> = sheets.iter_mut().map(Some).collect();
    let work: Vec<(&mut Worksheet, &SheetFill)> = fills
        .iter()
        .filter_map(|f| {
            slots
                .get_mut(f.sheet)
                .and_then(Option::take)
                .map(|ws| (ws, f))
        })
        .collect();
    let started = std::time::Instant::now();
    work.into_par_iter()
        .map(|(ws, f)| fill(ws, f))
        .collect::<std::result::Result<Vec<()>, XlsxError>>()
        .map_err(xe(path))?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "workbook sheets filled"
    );
    let started = std::time::Instant::now();
    let mut out = Durable::create(path)?;
    wb.save_to_writer(&mut out.writer).map_err(xe(path))?;
    out.finish()?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "workbook saved");
    Ok(())
}

/// `report-<county>.xlsx` for each county with households or flags.
pub fn write_county_workbooks<'t>(
    dir: &Path,
    job: &Job,
    summary: &Value,
    flags: &TextTable<'t>,
    households: &TextTable<'t>,
) -> Result<Vec<String>> {
    let mut counties: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let fc = flags.position("county_code").unwrap_or(5);
    let hc = households.position("county_code").unwrap_or(2);
    counties.extend(
        (0..flags.len())
            .map(|r| flags.cell(r, fc).into_owned())
            .filter(|c| !c.is_empty()),
    );
    counties.extend(
        (0..households.len())
            .map(|r| households.cell(r, hc).into_owned())
            .filter(|c| !c.is_empty()),
    );
    let mut names = Vec::new();
    for c in counties {
        let name = format!("report-{c}.xlsx");
        let path: PathBuf = dir.join(&name);
        write_workbook(&path, job, summary, flags, households, Some(&c))?;
        names.push(name);
    }
    Ok(names)
}
