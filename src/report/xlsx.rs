//! `report.xlsx`: 概览, 风险户, and one sheet per flag kind: which sheets,
//! which rows, which cells. Chinese headers, frozen header row,
//! autofilter, widths that fit Chinese text; IDs always as text. The
//! package itself is written by [`super::spreadsheet`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::files::{Durable, Syncs};
use crate::flags::Kind;
use crate::job::Job;

use super::labels as zh;
use super::spreadsheet::{self, MAX_CELL_UNITS, Properties, RowXml, Sheet, Style};
use super::tables::{self, TextTable};

/// Data rows a sheet holds below its header.
pub const ROWS_PER_SHEET: usize = 1_048_575;

/// Columns written as numbers in the 风险户 sheet.
const NUMERIC: [&str; 3] = ["members", "annual_income", "score"];

/// [`fit`] for a table's cell, borrowed where the cell is.
fn fit_cell(cell: tables::Cell<'_>) -> Cow<'_, str> {
    match cell {
        tables::Cell::Borrowed(text) => fit(text),
        tables::Cell::Made(text) => Cow::Owned(fit(&text).into_owned()),
    }
}

/// Excel holds at most 32,767 UTF-16 units in a cell; longer text is cut
/// with a visible marker (the CSV and Parquet files keep it whole).
fn fit(cell: &str) -> Cow<'_, str> {
    // UTF-8 never takes fewer bytes than UTF-16 takes units.
    if cell.len() <= MAX_CELL_UNITS || cell.encode_utf16().count() <= MAX_CELL_UNITS {
        return Cow::Borrowed(cell);
    }
    let marker = super::labels::TRUNCATED;
    let mut room = MAX_CELL_UNITS - marker.encode_utf16().count();
    let mut kept = String::new();
    for c in cell.chars() {
        if c.len_utf16() > room {
            break;
        }
        room -= c.len_utf16();
        kept.push(c);
    }
    Cow::Owned(kept + marker)
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

/// Columns whose texts come from short fixed lists (the catalog's codes
/// and labels, kinds, severities, statuses, types, tiers, the quarter):
/// their cells are written as shared strings ([`RowXml::shared`]), found
/// by key where the table keys the column ([`TextTable::key`], as the
/// flag and household tables key all of them) and by text where it does
/// not.
const VOCABULARY_COLUMNS: [&str; 8] = [
    "quarter",
    "flag",
    "label",
    "kind",
    "severity",
    "status",
    "household_type",
    "tier",
];

/// The workbook's shared strings: every text a [`VOCABULARY_COLUMNS`]
/// cell can hold, each once, then the texts of the tables' keyed cells
/// ([`Vocabulary::add_keyed`]). A vocabulary cell whose text is not here
/// (a quarter other than the job's, say) is written inline as any other.
pub struct Vocabulary {
    texts: Vec<String>,
    places: rustc_hash::FxHashMap<String, u32>,
}

impl Vocabulary {
    /// The quarter is the one text not known when the program is built.
    pub fn new(quarter: &str) -> Vocabulary {
        let mut vocabulary = Vocabulary {
            texts: Vec::new(),
            places: rustc_hash::FxHashMap::default(),
        };
        let mut fixed: Vec<&str> = vec![quarter];
        for def in crate::checks::CATALOG {
            fixed.extend([def.code, def.label]);
        }
        fixed.extend(Kind::ALL.iter().map(|k| k.code()));
        fixed.extend(crate::flags::Severity::ALL.iter().map(|s| s.code()));
        fixed.extend(crate::model::Status::ALL.iter().map(|(_, zh, _)| *zh));
        fixed.extend(
            crate::model::HouseholdType::ALL
                .iter()
                .map(|(_, zh, _)| *zh),
        );
        fixed.extend(crate::scoring::TIERS);
        for text in fixed {
            vocabulary.add(text);
        }
        vocabulary
    }

    /// The place of `text`, added if it is new; none for empty text,
    /// which a cell does not hold.
    fn add(&mut self, text: &str) -> Option<u32> {
        if text.is_empty() {
            return None;
        }
        if let Some(&place) = self.places.get(text) {
            return Some(place);
        }
        let place = self.texts.len() as u32;
        self.texts.push(text.to_owned());
        self.places.insert(text.to_owned(), place);
        Some(place)
    }

    pub fn texts(&self) -> Vec<&str> {
        self.texts.iter().map(String::as_str).collect()
    }

    fn place(&self, text: &str) -> Option<u32> {
        self.places.get(text).copied()
    }

    /// The text at `place`.
    fn text(&self, place: u32) -> &str {
        self.texts.get(place as usize).map_or("", String::as_str)
    }

    /// Add the texts of `table`'s keyed cells in the lists `rows` (a few
    /// thousand place codes, flag sets and fixed texts, where the cells
    /// number millions) and
    /// give, for each column, the place of each key. The texts go in
    /// sorted, column by column, so that the package does not depend on
    /// the order in which the run handed its keys out.
    pub fn add_keyed(&mut self, table: &TextTable, rows: &[&[u32]]) -> KeyedPlaces {
        let keyed = table.keyed_columns();
        let pieces: Vec<&[u32]> = rows.iter().flat_map(|list| list.chunks(1 << 16)).collect();
        let dense_below = KeyMap::dense_bound();
        let empty = || vec![KeyMap::new(dense_below); keyed.len()];
        // Each key of each keyed column, with a row that has it.
        let found = pieces
            .par_iter()
            .fold(empty, |mut found, piece| {
                for &r in *piece {
                    for (seen, &c) in found.iter_mut().zip(keyed) {
                        if let Some(key) = table.key(r as usize, c) {
                            seen.insert_first(key, r);
                        }
                    }
                }
                found
            })
            .reduce(empty, |mut all, part| {
                for (seen, more) in all.iter_mut().zip(part) {
                    for (key, r) in more.iter() {
                        seen.insert_first(key, r);
                    }
                }
                all
            });
        let mut places = KeyedPlaces(vec![None; table.columns.len()]);
        for (seen, &c) in found.into_iter().zip(keyed) {
            // Place codes are borrowed from the run's texts, not copied,
            // and the county and township columns' keys (a region's
            // handle, as the village's) share far fewer texts (a nation's
            // 3,000 counties and 40,000 townships), each added once:
            // copied and added key by key, the three place columns of the
            // national world's 600,000 villages took some 0.8 CPU-s at 1 M
            // households (issue #7). They are sorted by each text's first
            // bytes held beside it, so that a comparison seldom reads the
            // texts themselves, which lie all over the run's memory.
            let mut texts: Vec<(u128, Cow<'_, str>, u64)> = seen
                .iter()
                .map(|(key, r)| {
                    let text = fit_cell(table.cell(r as usize, c));
                    (crate::vocab::leading_bytes(&text), text, key)
                })
                .collect();
            drop(seen);
            texts.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            let mut column = KeyMap::new(dense_below);
            let mut last: Option<(&str, Option<u32>)> = None;
            for (_, text, key) in &texts {
                let place = match last {
                    Some((last_text, place)) if last_text == text => place,
                    _ => self.add(text),
                };
                last = Some((text, place));
                if let Some(place) = place {
                    column.insert_first(*key, place);
                }
            }
            places.0[c] = Some(column);
        }
        places
    }
}

/// A value for each key of a keyed column. Keys below the number of
/// shared texts made so far (place codes are keyed by their text's
/// handle; kinds, statuses and tiers by small numbers) index a vector,
/// other keys (a definition's address) go in a map. At 600,000 villages
/// (a nation's) each place column's map held 600,000 keys in about 18 MB,
/// and the workbook kept six of them, and made more on each core while it
/// found the keys: the national world's peak at 10 M households (issue
/// #7). The vector takes 4 bytes a key up to the largest key seen.
#[derive(Clone)]
struct KeyMap {
    dense_below: u64,
    /// The value of each small key, [`KeyMap::NONE`] where there is none.
    dense: Vec<u32>,
    sparse: rustc_hash::FxHashMap<u64, u32>,
}

impl KeyMap {
    const NONE: u32 = u32::MAX;

    /// Keys below this go in the vector: one past the highest handle of
    /// the run's table of shared texts.
    fn dense_bound() -> u64 {
        crate::vocab::made() as u64 + 1
    }

    fn new(dense_below: u64) -> KeyMap {
        KeyMap {
            dense_below,
            dense: Vec::new(),
            sparse: rustc_hash::FxHashMap::default(),
        }
    }

    /// Sets `key`'s value unless it has one. `value` is a row or a
    /// shared string's place, both far below [`KeyMap::NONE`].
    fn insert_first(&mut self, key: u64, value: u32) {
        debug_assert!(value != Self::NONE);
        if key < self.dense_below {
            let at = key as usize;
            if at >= self.dense.len() {
                self.dense.resize(at + 1, Self::NONE);
            }
            if self.dense[at] == Self::NONE {
                self.dense[at] = value;
            }
        } else {
            self.sparse.entry(key).or_insert(value);
        }
    }

    fn get(&self, key: u64) -> Option<u32> {
        if key < self.dense_below {
            self.dense
                .get(key as usize)
                .copied()
                .filter(|&v| v != Self::NONE)
        } else {
            self.sparse.get(&key).copied()
        }
    }

    /// Every key with its value: the small keys in order, then the others.
    fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|&(_, &v)| v != Self::NONE)
            .map(|(key, &v)| (key as u64, v));
        dense.chain(self.sparse.iter().map(|(&key, &v)| (key, v)))
    }
}

/// For each keyed column of a table, the shared string of each key whose
/// text is not empty (see [`Vocabulary::add_keyed`]).
pub struct KeyedPlaces(Vec<Option<KeyMap>>);

impl KeyedPlaces {
    /// No column keyed.
    pub fn none() -> KeyedPlaces {
        KeyedPlaces(Vec::new())
    }

    /// The shared string of row `r`'s cell in column `c`, if the column
    /// is keyed and the cell's text is not empty.
    fn place(&self, table: &TextTable, r: usize, c: usize) -> Option<u32> {
        let column = self.0.get(c)?.as_ref()?;
        column.get(table.key(r, c)?)
    }
}

/// The sheets a table needs (`name`, `name(2)`, …, each under Excel's
/// row limit), each with its header, frozen row and filter.
fn table_sheets<'a, 't: 'a>(
    name: &str,
    table: &'a TextTable<'t>,
    rows: &'a [u32],
    tiered: bool,
    rows_per_sheet: usize,
    vocabulary: &'a Vocabulary,
    keyed: &'a KeyedPlaces,
) -> Vec<Sheet<'a>> {
    let widths = widths(table);
    let chunks: Vec<&[u32]> = if rows.is_empty() {
        vec![&[][..]]
    } else {
        rows.chunks(rows_per_sheet).collect()
    };
    // What each column is, decided once per table rather than per cell.
    let numeric: Vec<bool> = table.columns.iter().map(|c| NUMERIC.contains(c)).collect();
    let shared: Vec<bool> = table
        .columns
        .iter()
        .map(|c| VOCABULARY_COLUMNS.contains(c))
        .collect();
    let tier_column = table.position("tier").filter(|_| tiered);
    chunks
        .into_iter()
        .enumerate()
        .map(|(n, chunk)| {
            let numeric = numeric.clone();
            let shared = shared.clone();
            Sheet {
                name: if n == 0 {
                    name.to_owned()
                } else {
                    format!("{name}({})", n + 1)
                },
                columns: table.columns.len(),
                rows: chunk.len() + 1,
                widths: widths.clone(),
                header_row: true,
                render: Box::new(move |i, row: &mut RowXml| {
                    if i == 0 {
                        for (c, column) in table.columns.iter().enumerate() {
                            row.text(c, zh::header(column), Style::Header);
                        }
                        return;
                    }
                    let r = chunk[i - 1] as usize;
                    for (c, &number) in numeric.iter().enumerate() {
                        // A keyed cell (a place code, a set of flag
                        // codes, a fixed text): a shared string found by
                        // its key, the text neither made nor hashed.
                        // Written inline, the place codes and flag sets
                        // were about a sixth of the workbook's XML at 1 M
                        // households (#7).
                        if let Some(place) = keyed.place(table, r, c) {
                            // A tier's fill is chosen by its text.
                            let style = if tier_column == Some(c) {
                                tier_style(vocabulary.text(place))
                            } else {
                                Style::Normal
                            };
                            row.shared(c, place, style);
                            continue;
                        }
                        let text = table.cell(r, c);
                        let cell = fit(&text);
                        if number && row.decimal(c, &cell, Style::Normal) {
                            continue;
                        }
                        let style = if tier_column == Some(c) {
                            tier_style(&cell)
                        } else {
                            Style::Normal
                        };
                        match shared[c].then(|| vocabulary.place(&cell)).flatten() {
                            Some(place) => row.shared(c, place, style),
                            None => row.text(c, &cell, style),
                        }
                    }
                }),
            }
        })
        .collect()
}

/// The fill of a risk tier's cell.
fn tier_style(tier: &str) -> Style {
    match tier {
        "高" => Style::High,
        "中" => Style::Medium,
        "低" => Style::Low,
        _ => Style::Normal,
    }
}

fn overview(job: &Job, summary: &Value, county: Option<&str>) -> Result<Sheet<'static>> {
    let mut lines: Vec<(Vec<Cell>, bool)> = Vec::new();
    let mut line = |cells: &[Cell], bold: bool| -> Result<()> {
        lines.push((cells.to_vec(), bold));
        Ok(())
    };
    use Cell::*;
    let n = |v: &Value| Num(v.as_f64().unwrap_or(0.0));
    line(&[Text(zh::TITLE.into())], true)?;
    line(&[Text(zh::JOB.into()), Text(job.name.clone())], false)?;
    line(
        &[Text(zh::QUARTER.into()), Text(job.quarter.to_string())],
        false,
    )?;
    if let Some(c) = county {
        line(&[Text(zh::COUNTY.into()), Text(c.to_owned())], false)?;
    }
    line(
        &[
            Text(zh::DIBAO_HOUSEHOLDS.into()),
            n(&summary["rolls"]["dibao"]["households"]),
        ],
        false,
    )?;
    line(
        &[
            Text(zh::DIBAO_PERSONS.into()),
            n(&summary["rolls"]["dibao"]["persons"]),
        ],
        false,
    )?;
    line(
        &[
            Text(zh::POOR_HOUSEHOLDS.into()),
            n(&summary["rolls"]["poor"]["households"]),
        ],
        false,
    )?;
    line(
        &[
            Text(zh::POOR_PERSONS.into()),
            n(&summary["rolls"]["poor"]["persons"]),
        ],
        false,
    )?;
    line(
        &[
            Text(zh::EXACT_MATCHES.into()),
            n(&summary["matches"]["exact"]),
        ],
        false,
    )?;
    line(
        &[
            Text(zh::PROBABLE_MATCHES.into()),
            n(&summary["matches"]["probable"]),
        ],
        false,
    )?;
    line(
        &[
            Text(zh::LINKED_PAIRS.into()),
            n(&summary["matches"]["linked_household_pairs"]),
        ],
        false,
    )?;
    line(
        &[Text(zh::FLAGS_TOTAL.into()), n(&summary["flags"]["total"])],
        false,
    )?;
    line(
        &[
            Text(zh::HIGH_RISK.into()),
            n(&summary["risk"]["tiers"]["高"]),
        ],
        false,
    )?;
    line(&[Text(zh::REJECTS.into()), n(&summary["rejects"])], false)?;
    line(&[], false)?;
    line(&[Text(zh::BY_FLAG.into()), Text(zh::COUNT.into())], true)?;
    for def in crate::checks::CATALOG.iter() {
        let count = &summary["flags"]["by_flag"][def.code];
        line(
            &[Text(format!("{}({})", def.label, def.code)), n(count)],
            false,
        )?;
    }
    line(&[], false)?;
    line(
        &[Text(zh::BY_SEVERITY.into()), Text(zh::COUNT.into())],
        true,
    )?;
    for s in crate::flags::Severity::ALL {
        line(
            &[
                Text(zh::severity_label(s).into()),
                n(&summary["flags"]["by_severity"][s.code()]),
            ],
            false,
        )?;
    }
    line(&[], false)?;
    line(&[Text(zh::MOVEMENTS.into())], true)?;
    match &summary["movements"] {
        Value::Object(m) => {
            line(&[Text(zh::TRANSITIONS.into())], true)?;
            let states = crate::dynamics::RollState::ALL;
            let mut head = vec![Text(format!("{}\\本季度", zh::PREVIOUS))];
            head.extend(states.iter().map(|s| Text(s.label().into())));
            line(&head, true)?;
            for from in states {
                let mut cells = vec![Text(from.label().into())];
                cells.extend(
                    states
                        .iter()
                        .map(|to| n(&m["transitions"]["total"][from.code()][to.code()])),
                );
                line(&cells, false)?;
            }
        }
        _ => {
            let reason = summary["movements_skipped_reason"].as_str().unwrap_or("");
            line(
                &[Text(zh::MOVEMENTS_SKIPPED.into()), Text(reason.into())],
                false,
            )?;
        }
    }
    line(&[], false)?;
    line(&[Text(zh::BY_COUNTY.into())], true)?;
    let mut head = vec![Text(zh::COUNTY.into()), Text(zh::TOTAL.into())];
    head.extend(Kind::ALL.iter().map(|k| Text(zh::kind_label(*k).into())));
    line(&head, true)?;
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
            line(&cells, false)?;
        }
    }
    let columns = lines
        .iter()
        .map(|(cells, _)| cells.len())
        .max()
        .unwrap_or(1);
    let mut widths = vec![34.0];
    widths.extend([14.0; 7]);
    Ok(Sheet {
        name: zh::SHEET_OVERVIEW.to_owned(),
        columns,
        rows: lines.len(),
        widths,
        header_row: false,
        render: Box::new(move |i, row: &mut RowXml| {
            let (cells, bold) = &lines[i];
            let style = if *bold { Style::Bold } else { Style::Normal };
            for (c, cell) in cells.iter().enumerate() {
                match cell {
                    Cell::Text(s) => row.text(c, s, style),
                    Cell::Num(v) => row.number(c, *v, Style::Normal),
                }
            }
        }),
    })
}

#[derive(Clone)]
enum Cell {
    Text(String),
    Num(f64),
}

/// The whole workbook; with `county`, only that county's rows. Its SHA-256;
/// its fsync is left to `syncs`.
pub fn write_workbook<'t>(
    path: &Path,
    job: &Job,
    summary: &Value,
    flags: &TextTable<'t>,
    households: &TextTable<'t>,
    county: Option<&str>,
    syncs: &Syncs,
) -> Result<String> {
    let in_county = |table: &TextTable, column: Option<usize>, row: usize| -> bool {
        county.is_none_or(|c| column.is_some_and(|i| table.cell(row, i) == c))
    };
    let (flag_county, household_county) = (
        flags.position("county_code"),
        households.position("county_code"),
    );
    // Rows as `u32` (a table of 2^32 flags would be hundreds of GB before
    // it reached here), and each list made to its size: as growing lists
    // of `usize` they took up to 280 MB at 10 M households while the
    // workbook was written, the run's peak (issue #7).
    let household_rows: Vec<u32> = (0..households.len())
        .into_par_iter()
        .filter(|&i| in_county(households, household_county, i))
        .map(|i| i as u32)
        .collect();
    // Each flag's row goes to its kind's sheets, in the flags' order.
    let kind_col = flags.position("kind").unwrap_or(3);
    let kind_of = |i: usize| -> Option<usize> {
        let kind = flags.cell(i, kind_col);
        Kind::ALL
            .iter()
            .position(|k| kind == k.code())
            .filter(|_| in_county(flags, flag_county, i))
    };
    let kinds: Vec<Option<u8>> = (0..flags.len())
        .into_par_iter()
        .map(|i| kind_of(i).map(|k| k as u8))
        .collect();
    let mut counts = [0usize; Kind::ALL.len()];
    for &k in kinds.iter().flatten() {
        counts[usize::from(k)] += 1;
    }
    let mut kind_rows: Vec<Vec<u32>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
    for (i, kind) in kinds.into_iter().enumerate() {
        if let Some(k) = kind {
            kind_rows[usize::from(k)].push(i as u32);
        }
    }

    let quarter = job.quarter.to_string();
    let mut vocabulary = Vocabulary::new(&quarter);
    let placed = std::time::Instant::now();
    let household_places = vocabulary.add_keyed(households, &[&household_rows]);
    let flag_rows: Vec<&[u32]> = kind_rows.iter().map(Vec::as_slice).collect();
    let flag_places = vocabulary.add_keyed(flags, &flag_rows);
    crate::memory::debug_step(placed, "workbook: keyed cells' shared strings placed");
    let mut sheets = vec![overview(job, summary, county)?];
    sheets.extend(table_sheets(
        zh::SHEET_HOUSEHOLDS,
        households,
        &household_rows,
        true,
        ROWS_PER_SHEET,
        &vocabulary,
        &household_places,
    ));
    for (kind, rows) in Kind::ALL.iter().zip(&kind_rows) {
        sheets.extend(table_sheets(
            zh::kind_label(*kind),
            flags,
            rows,
            false,
            ROWS_PER_SHEET,
            &vocabulary,
            &flag_places,
        ));
    }
    let end = job.quarter.last_day();
    let properties = Properties {
        title: zh::TITLE,
        created: (end.year, end.month, end.day),
    };
    let started = std::time::Instant::now();
    let mut out = Durable::create(path)?;
    spreadsheet::write(&mut out.writer, &properties, &sheets, &vocabulary.texts())
        .map_err(|e| Error::output(path, e))?;
    let hash = out.finish_syncing(syncs)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "workbook written"
    );
    Ok(hash)
}

/// `report-<county>.xlsx` for each county with households or flags; each
/// file's name and SHA-256; their fsyncs are left to `syncs`.
pub fn write_county_workbooks<'t>(
    dir: &Path,
    job: &Job,
    summary: &Value,
    flags: &TextTable<'t>,
    households: &TextTable<'t>,
    syncs: &Syncs,
) -> Result<Vec<(String, String)>> {
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
        let hash = write_workbook(&path, job, summary, flags, households, Some(&c), syncs)?;
        names.push((name, hash));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};

    fn text(rows: &[Vec<Data>]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|d| match d {
                        Data::String(s) => s.clone(),
                        Data::Float(f) => f.to_string(),
                        Data::Empty => String::new(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_table_over_the_row_limit_continues_on_numbered_sheets() {
        let cells: Vec<Vec<String>> = (0..7)
            .map(|i| {
                vec![
                    format!("P{i}"),
                    (i * 10).to_string(),
                    ["高", "中", "低"][i % 3].into(),
                ]
            })
            .collect();
        let table = TextTable::of_rows(vec!["household_id", "score", "tier"], &cells);
        // Rows 1..7 without row 4 (as if of another county), 3 to a sheet.
        let rows = [1, 2, 3, 5, 6];
        let vocabulary = Vocabulary::new("2018Q3");
        let keyed = KeyedPlaces::none();
        let sheets = table_sheets(
            zh::SHEET_HOUSEHOLDS,
            &table,
            &rows,
            true,
            3,
            &vocabulary,
            &keyed,
        );
        let names: Vec<&str> = sheets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["风险户", "风险户(2)"]);
        let properties = Properties {
            title: "t",
            created: (2018, 9, 30),
        };
        let bytes = spreadsheet::write(
            std::io::Cursor::new(Vec::new()),
            &properties,
            &sheets,
            &vocabulary.texts(),
        )
        .unwrap()
        .into_inner();
        let mut wb = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let mut rows_of = |name: &str| -> Vec<Vec<Data>> {
            let range = wb.worksheet_range(name).unwrap();
            range.rows().map(<[Data]>::to_vec).collect()
        };
        let (first, second) = (rows_of("风险户"), rows_of("风险户(2)"));
        let header: Vec<String> = ["household_id", "score", "tier"]
            .iter()
            .map(|c| zh::header(c).to_owned())
            .collect();
        let row = |i: usize| {
            vec![
                format!("P{i}"),
                (i * 10).to_string(),
                ["高", "中", "低"][i % 3].to_owned(),
            ]
        };
        assert_eq!(text(&first), [header.clone(), row(1), row(2), row(3)]);
        assert_eq!(text(&second), [header, row(5), row(6)]);
        // The score is a number cell, the ID text.
        assert_eq!(first[1][1], Data::Float(10.0));
        assert_eq!(first[1][0], Data::String("P1".into()));
    }

    /// The package of `table`'s rows as one sheet, its cells keyed or not.
    fn package(table: &TextTable, keyed: bool) -> Vec<u8> {
        let rows: Vec<u32> = (0..table.len() as u32).collect();
        let mut vocabulary = Vocabulary::new("2018Q3");
        let places = if keyed {
            vocabulary.add_keyed(table, &[&rows[..2], &rows[2..]])
        } else {
            KeyedPlaces::none()
        };
        let sheets = table_sheets(
            zh::SHEET_HOUSEHOLDS,
            table,
            &rows,
            true,
            ROWS_PER_SHEET,
            &vocabulary,
            &places,
        );
        let properties = Properties {
            title: "t",
            created: (2018, 9, 30),
        };
        spreadsheet::write(
            std::io::Cursor::new(Vec::new()),
            &properties,
            &sheets,
            &vocabulary.texts(),
        )
        .unwrap()
        .into_inner()
    }

    fn cells(package: Vec<u8>) -> Vec<Vec<Data>> {
        let mut wb = Xlsx::new(std::io::Cursor::new(package)).unwrap();
        let range = wb.worksheet_range(zh::SHEET_HOUSEHOLDS).unwrap();
        range.rows().map(<[Data]>::to_vec).collect()
    }

    fn part(package: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    }

    #[test]
    fn keyed_cells_are_shared_strings_that_read_back_as_their_text() {
        let cells_of = |texts: [&str; 3]| texts.map(str::to_owned).to_vec();
        let rows = vec![
            cells_of(["410322", "a_b;c", "高"]),
            cells_of(["410323", "", "中"]),
            cells_of(["410322", "a_b;c", "低"]),
            cells_of(["", "x<y", "高"]),
            cells_of(["410323", "2018Q3", "中"]),
        ];
        let columns = vec!["county_code", "flags", "tier"];
        // Keys as a run might hand them out: rows 0 and 2 share a county
        // key, rows 1 and 4 hold the same county under two keys; the tier
        // column has keys too, but a tier's cell is filled by its text.
        let keys = [[7, 1, 1], [3, 2, 2], [7, 1, 3], [9, 4, 4], [5, 6, 5]];
        let table =
            TextTable::of_keyed_rows(columns.clone(), &rows, &[0, 1, 2], |r, c| Some(keys[r][c]));
        let keyed = package(&table, true);
        let inline = package(&TextTable::of_rows(columns.clone(), &rows), false);
        assert_eq!(cells(keyed.clone()), cells(inline.clone()));
        // Each keyed text once among the shared strings (the quarter was
        // one already), none inline; the tiers still filled.
        let shared = part(&keyed, "xl/sharedStrings.xml");
        for text in ["410322", "410323", "a_b;c", "x&lt;y"] {
            assert_eq!(
                shared.matches(&format!("<t>{text}</t>")).count(),
                1,
                "{text}"
            );
        }
        assert_eq!(shared.matches("<t>2018Q3</t>").count(), 1);
        let sheet = part(&keyed, "xl/worksheets/sheet1.xml");
        assert!(!sheet.contains("<t>410322</t>"));
        assert_eq!(sheet.matches(" s=\"3\" t=\"s\"").count(), 2);
        assert!(sheet.len() < part(&inline, "xl/worksheets/sheet1.xml").len());
    }

    #[test]
    fn key_maps_keep_the_first_value_of_small_and_large_keys_alike() {
        // Keys below 100 in the vector, the others in the map.
        let mut map = KeyMap::new(100);
        for (key, value) in [
            (7, 1),
            (99, 2),
            (100, 3),
            (u64::MAX, 4),
            (7, 5),
            (100, 6),
            (0, 7),
        ] {
            map.insert_first(key, value);
        }
        assert_eq!(map.get(7), Some(1));
        assert_eq!(map.get(99), Some(2));
        assert_eq!(map.get(100), Some(3));
        assert_eq!(map.get(u64::MAX), Some(4));
        assert_eq!(map.get(0), Some(7));
        // Never set, inside the vector, past its end, and in the map's range.
        assert_eq!(map.get(8), None);
        assert_eq!(map.get(50_000), None);
        assert_eq!(map.get(101), None);
        let mut all: Vec<(u64, u32)> = map.iter().collect();
        all.sort_unstable();
        assert_eq!(all, [(0, 7), (7, 1), (99, 2), (100, 3), (u64::MAX, 4)]);
        // Only as long as the largest small key seen.
        assert_eq!(map.dense.len(), 100);
    }

    #[test]
    fn the_package_does_not_depend_on_how_keys_were_numbered() {
        let rows: Vec<Vec<String>> = (0..40)
            .map(|i| vec![format!("4103{:02}", i % 7), format!("f{}", i % 3)])
            .collect();
        let columns = vec!["county_code", "flags"];
        let text_key = |r: usize, c: usize, salt: u32| -> u32 {
            let text = &rows[r][c];
            text.bytes()
                .fold(salt, |k, b| k.wrapping_mul(31).wrapping_add(u32::from(b)))
        };
        let one = TextTable::of_keyed_rows(columns.clone(), &rows, &[0, 1], |r, c| {
            Some(u64::from(text_key(r, c, 1)))
        });
        let other = TextTable::of_keyed_rows(columns.clone(), &rows, &[0, 1], |r, c| {
            Some(u64::from(text_key(r, c, 977).rotate_left(13)))
        });
        assert_eq!(package(&one, true), package(&other, true));
    }

    #[test]
    fn long_text_is_cut_to_excels_cell_limit_in_utf16_units() {
        let short = "低保".repeat(100);
        assert_eq!(fit(&short), short.as_str());
        // Astral characters take two UTF-16 units each.
        let astral = "𠀀".repeat(20_000);
        let cut = fit(&astral);
        assert!(cut.ends_with(super::zh::TRUNCATED));
        assert!(cut.encode_utf16().count() <= MAX_CELL_UNITS);
        assert!(cut.encode_utf16().count() > MAX_CELL_UNITS - 2);
        let exact = "a".repeat(MAX_CELL_UNITS);
        assert_eq!(fit(&exact), exact.as_str());
    }
}
