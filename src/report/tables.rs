//! `flags`, `households` and `rejects` as rows of text: the one rendering
//! that both the CSV and the Parquet writers use, so they cannot differ.

use crate::columns::{FLAG_COLUMNS, HOUSEHOLD_COLUMNS, PERSON_TOKEN, REJECT_COLUMNS};
use crate::flags::{Flag, FlagDef};
use crate::identity::mask_id;
use crate::ingest::Reject;
use crate::model::Text;
use crate::scoring::HouseholdRows;
use rayon::prelude::*;

/// A cell's text: borrowed from the findings where it can be, and
/// otherwise made in the cell itself. A masked number, a name, a count or
/// an amount fits in [`Text`]'s 24 bytes, so that writing the millions of
/// such cells (each writer asks for its own) allocates nothing; as
/// `String`s they were an allocation each (issue #7).
#[derive(Clone, Debug)]
pub enum Cell<'a> {
    Borrowed(&'a str),
    Made(Text),
}

impl Cell<'_> {
    pub fn into_owned(self) -> String {
        match self {
            Cell::Borrowed(text) => text.to_owned(),
            Cell::Made(text) => text.into_string(),
        }
    }
}

impl std::ops::Deref for Cell<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Cell::Borrowed(text) => text,
            Cell::Made(text) => text,
        }
    }
}

impl AsRef<str> for Cell<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

impl PartialEq<&str> for Cell<'_> {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

/// A number or amount, written as `Display` writes it.
fn made(value: impl std::fmt::Display) -> Cell<'static> {
    use compact_str::ToCompactString;
    Cell::Made(value.to_compact_string())
}

/// A table of text cells with its header, rendered on demand from the
/// findings: each writer asks for the cells it writes, so the report set
/// never holds a second copy of every flag and household as text (that
/// copy was about 700 MB at 1 M households; issue #7).
pub struct TextTable<'a> {
    pub columns: Vec<&'static str>,
    len: usize,
    cell: Box<dyn Fn(usize, usize) -> Cell<'a> + Sync + 'a>,
    /// The columns whose texts come from a small set (the quarter, a
    /// flag's code, label, kind and severity, place codes, a household's
    /// status, type and set of flag codes), and a key of each such cell:
    /// within a column, cells of equal keys hold equal texts. The
    /// workbook writes these cells as shared strings ([`super::xlsx`]).
    keyed: &'static [usize],
    key: KeyOf<'a>,
}

/// The key of a cell of a keyed column (see [`TextTable::key`]).
type KeyOf<'a> = Box<dyn Fn(usize, usize) -> Option<u64> + Sync + 'a>;

/// No column keyed.
fn no_key<'a>() -> KeyOf<'a> {
    Box::new(|_, _| None)
}

impl<'a> TextTable<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Row `row`, column `col`.
    pub fn cell(&self, row: usize, col: usize) -> Cell<'a> {
        (self.cell)(row, col)
    }

    /// The key of row `row`'s cell in column `col`, when the column is
    /// one of [`TextTable::keyed_columns`]: cells of a column with equal
    /// keys hold equal texts (two keys may still share a text).
    pub fn key(&self, row: usize, col: usize) -> Option<u64> {
        (self.key)(row, col)
    }

    /// The columns that have keys.
    pub fn keyed_columns(&self) -> &'static [usize] {
        self.keyed
    }

    /// The cells of row `row`, in column order.
    pub fn row(&self, row: usize) -> impl Iterator<Item = Cell<'a>> + '_ {
        (0..self.columns.len()).map(move |c| self.cell(row, c))
    }

    /// The position of a column, if the table has it.
    pub fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| *c == column)
    }

    /// A table of given text, for tests of the writers.
    #[cfg(test)]
    pub fn of_rows(columns: Vec<&'static str>, rows: &'a [Vec<String>]) -> TextTable<'a> {
        TextTable {
            columns,
            len: rows.len(),
            cell: Box::new(move |r, c| Cell::Borrowed(rows[r][c].as_str())),
            keyed: &[],
            key: no_key(),
        }
    }

    /// A table of given text whose columns `keyed` are keyed by
    /// `key`, for tests of the writers.
    #[cfg(test)]
    pub fn of_keyed_rows(
        columns: Vec<&'static str>,
        rows: &'a [Vec<String>],
        keyed: &'static [usize],
        key: impl Fn(usize, usize) -> Option<u64> + Sync + 'a,
    ) -> TextTable<'a> {
        TextTable {
            keyed,
            key: Box::new(key),
            ..TextTable::of_rows(columns, rows)
        }
    }
}

/// How person IDs are written: masked or whole, with an optional keyed
/// pseudonym.
pub struct IdPolicy {
    pub mask: bool,
    pub token_key: Option<Vec<u8>>,
}

impl IdPolicy {
    /// HMAC-SHA256 of the normalized number under the job's key, hex.
    pub fn token(&self, id: &str) -> Option<String> {
        use hmac::{Hmac, Mac};
        let key = self.token_key.as_ref()?;
        if id.is_empty() {
            return Some(String::new());
        }
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
        mac.update(crate::identity::normalize_id_text(id).as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

pub fn flag_table<'a>(quarter: &'a str, flags: &'a [Flag], ids: &'a IdPolicy) -> TextTable<'a> {
    let mut columns: Vec<&'static str> = FLAG_COLUMNS.to_vec();
    // A masked number is made when its cell is written, by each writer
    // (a few characters starred): a masked copy of every flag's number,
    // made once for the three writers, was 24 bytes a flag held through
    // the write stage, the run's peak at 10 M households (issue #7).
    // A token (a keyed hash) is computed once per flag.
    let tokens: Option<Vec<String>> = ids.token_key.is_some().then(|| {
        flags
            .par_iter()
            .map(|f| ids.token(&f.person_id).unwrap_or_default())
            .collect()
    });
    if tokens.is_some() {
        columns.push(PERSON_TOKEN);
    }
    TextTable {
        columns,
        len: flags.len(),
        cell: Box::new(move |r, c| {
            let f = &flags[r];
            match c {
                0 => Cell::Borrowed(quarter),
                1 => Cell::Borrowed(f.def.code),
                2 => Cell::Borrowed(f.def.label),
                3 => Cell::Borrowed(f.def.kind.code()),
                4 => Cell::Borrowed(f.def.severity.code()),
                5 => Cell::Borrowed(f.region.county()),
                6 => Cell::Borrowed(f.region.township()),
                7 => Cell::Borrowed(f.region.village()),
                8 => Cell::Borrowed(f.dibao_household_id.as_str()),
                9 => Cell::Borrowed(f.poor_household_id.as_str()),
                10 if f.person_id.is_empty() || !ids.mask => Cell::Borrowed(f.person_id.as_str()),
                10 => Cell::Made(mask_id(&f.person_id)),
                11 => Cell::Made(Text::from(&*f.name.text())),
                12 => Cell::Borrowed(f.detail.as_str()),
                _ => Cell::Made(
                    tokens
                        .as_ref()
                        .map(|t| Text::from(t[r].as_str()))
                        .unwrap_or_default(),
                ),
            }
        }),
        // The quarter (one text); the code and label by the flag's
        // definition, the kind and severity by theirs; the three place
        // codes by the handle of the flag's place code.
        keyed: &[0, 1, 2, 3, 4, 5, 6, 7],
        key: Box::new(move |r, c| {
            let f = &flags[r];
            match c {
                0 => Some(0),
                1 | 2 => Some(definition_key(f.def)),
                3 => Some(f.def.kind as u64),
                4 => Some(f.def.severity as u64),
                5..=7 => Some(f.region.shared().index() as u64),
                _ => None,
            }
        }),
    }
}

/// A flag definition's key: its address. Two flags whose definitions
/// have one address have one definition, and so one code and one label;
/// no lookup per cell. (Every definition is a static of
/// `checks::CATALOG`, so each also has one address.)
fn definition_key(def: &'static FlagDef) -> u64 {
    std::ptr::from_ref(def) as usize as u64
}

pub fn household_table<'a>(quarter: &'a str, households: &'a HouseholdRows) -> TextTable<'a> {
    TextTable {
        columns: HOUSEHOLD_COLUMNS.to_vec(),
        len: households.rows.len(),
        cell: Box::new(move |r, c| {
            let h = &households.rows[r];
            match c {
                0 => Cell::Borrowed(quarter),
                1 => Cell::Borrowed(h.poor_household_id.as_str()),
                2 => Cell::Borrowed(h.region.county()),
                3 => Cell::Borrowed(h.region.township()),
                4 => Cell::Borrowed(h.region.village()),
                5 => Cell::Borrowed(h.status_name()),
                6 => Cell::Borrowed(h.household_type_name()),
                7 => made(h.members),
                8 => made(h.annual_income),
                9 => Cell::Borrowed(households.dibao_household_ids(h)),
                10 => Cell::Made(h.flags.joined()),
                11 => made(h.score),
                _ => Cell::Borrowed(h.tier()),
            }
        }),
        // The quarter (one text); the place codes by the handle of the
        // household's place code; status, type and tier by what they
        // are; the flag codes by their set.
        keyed: &[0, 2, 3, 4, 5, 6, 10, 12],
        key: Box::new(move |r, c| {
            let h = &households.rows[r];
            match c {
                0 => Some(0),
                2..=4 => Some(h.region.shared().index() as u64),
                5 => Some(h.status as u64),
                6 => Some(h.household_type as u64),
                10 => Some(u64::from(h.flags.bits())),
                12 => Some(h.tier_rank() as u64),
                _ => None,
            }
        }),
    }
}

pub fn reject_table<'a>(rejects: &'a [Reject], mask: bool) -> TextTable<'a> {
    TextTable {
        columns: REJECT_COLUMNS.to_vec(),
        len: rejects.len(),
        cell: Box::new(move |r, c| {
            let j = &rejects[r];
            match c {
                0 => Cell::Borrowed(j.file.as_str()),
                1 => made(j.line),
                2 => Cell::Borrowed(j.column.as_str()),
                3 => Cell::Borrowed(j.reason.as_str()),
                _ => Cell::Made(j.record(mask).into()),
            }
        }),
        keyed: &[],
        key: no_key(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;
    use std::collections::HashMap;

    #[test]
    fn made_cells_read_as_the_texts_they_were_made_from() {
        // A name, a masked number and counts as the writers see them; a
        // long text (beyond a cell's inline room) reads back whole too.
        let long = "一个比二十四个字节长得多的句子";
        let flags = [Flag::new(crate::checks::CATALOG[0])
            .person("410322194703229694", "张三丰")
            .detail(long.to_owned())];
        let ids = IdPolicy {
            mask: true,
            token_key: None,
        };
        let table = flag_table("2018Q3", &flags, &ids);
        let at = |name: &str| table.position(name).unwrap();
        assert_eq!(&*table.cell(0, at("name")), "张三丰");
        assert_eq!(&*table.cell(0, at("person_id")), "410322********9694");
        assert_eq!(table.cell(0, at("detail")).into_owned(), long);
        assert!(table.cell(0, at("quarter")) == "2018Q3");
        assert_eq!(&*made(1234), "1234");
        assert_eq!(
            &*made(crate::money::Cents::parse("2271.15").unwrap()),
            "2271.15"
        );
    }

    #[test]
    fn a_flag_tables_equal_keys_hold_equal_texts() {
        let regions = ["410322001001", "410322002003", "410323001001", ""].map(Region::new);
        let flags: Vec<Flag> = crate::checks::CATALOG
            .iter()
            .zip(regions.iter().cycle())
            .flat_map(|(def, region)| [Flag::new(def).at(region), Flag::new(def)])
            .collect();
        let ids = IdPolicy {
            mask: true,
            token_key: None,
        };
        let table = flag_table("2018Q3", &flags, &ids);
        for &c in table.keyed_columns() {
            let mut text_of: HashMap<u64, String> = HashMap::new();
            for r in 0..table.len() {
                let key = table.key(r, c).expect("a keyed column's cells have keys");
                let text = table.cell(r, c).into_owned();
                assert_eq!(
                    text_of.entry(key).or_insert_with(|| text.clone()),
                    &text,
                    "column {}",
                    table.columns[c]
                );
            }
        }
        // The code column's keys tell every definition apart.
        let code = table.position("flag").unwrap();
        let keys: std::collections::HashSet<u64> = (0..table.len())
            .filter_map(|r| table.key(r, code))
            .collect();
        assert_eq!(keys.len(), crate::checks::CATALOG.len());
        // Unkeyed columns have no keys.
        let name = table.position("name").unwrap();
        assert!(!table.keyed_columns().contains(&name));
        assert_eq!(table.key(0, name), None);
    }
}
