//! The normalized rolls: what ingestion produces and every later stage reads.

use std::cell::Cell;

use rayon::prelude::*;

use crate::calendar::Date;
use crate::identity::{IdCheck, InvalidReason, ValidId, check_id};
use crate::money::Cents;
pub use crate::money::PackedCents;
use crate::vocab::{Shared, same_text};

/// Short text of a cell: codes, ids, names. Inline up to 24 bytes, so the
/// millions of cells of a roll cost no heap allocation each (issue #7).
pub use compact_str::CompactString as Text;

pub use crate::person_name::Name;
pub use crate::short_text::ShortText;

/// Which roll a person or household is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RollKind {
    Dibao,
    Poor,
}

impl RollKind {
    pub fn label(self) -> &'static str {
        match self {
            RollKind::Dibao => "低保名册",
            RollKind::Poor => "建档立卡名册",
        }
    }
}

/// Rows of one roll are numbered in `u32` throughout (household member
/// lists, partner lists), and the movement count packs the roll into the
/// top two bits of that number: a roll holds fewer rows than this. A
/// whole nation's poor roll is about 140 M.
pub const MAX_ROWS_PER_ROLL: usize = 1 << 30;

/// A division code as given (6 to 12 digits). A roll names a few
/// thousand villages over millions of rows, so the code is held in the
/// run's table of shared texts: 4 bytes a row instead of 24.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(Shared);

thread_local! {
    /// The last code this thread made a region of, with its text: a
    /// household's rows are together in a roll and share their code, so
    /// about two of every three rows find it here, without a lookup in
    /// the table of shared texts (which, holding a nation's 600,000
    /// village codes, is not in the cache; issue #7).
    static LAST_REGION: Cell<Option<(&'static str, Region)>> = const { Cell::new(None) };
}

impl Region {
    pub fn new(code: &str) -> Region {
        LAST_REGION.with(|last| {
            if let Some((text, region)) = last.get()
                && same_text(text, code)
            {
                return region;
            }
            let region = Region(Shared::new(code));
            last.set(Some((region.as_str(), region)));
            region
        })
    }

    /// The code's handle in the table of shared texts.
    pub fn shared(self) -> Shared {
        self.0
    }

    pub fn from_shared(code: Shared) -> Region {
        Region(code)
    }

    /// The code as given.
    pub fn as_str(&self) -> &'static str {
        self.0.as_str()
    }

    /// First six digits.
    pub fn county(&self) -> &'static str {
        let c = self.as_str();
        // Codes are ASCII digits when read; `get` keeps a damaged state
        // file from panicking on a character boundary.
        c.get(..6).unwrap_or(c)
    }

    /// First nine digits when the code is at least a township's and is not
    /// a county code padded with zeros.
    pub fn township(&self) -> &'static str {
        let c = self.as_str();
        if c.len() >= 9 && c.get(6..9).is_some_and(|t| t != "000") {
            &c[..9]
        } else {
            ""
        }
    }

    /// The whole 12 digits when the code is a village's.
    pub fn village(&self) -> &'static str {
        let c = self.as_str();
        if c.len() == 12 && c.get(9..12).is_some_and(|v| v != "000") && !self.township().is_empty()
        {
            c
        } else {
            ""
        }
    }
}

/// The distinct regions among `regions` (the codes of millions of rows;
/// a nation names about 600,000), in the order of their handles. Each
/// worker marks a bit for each handle of the run's table of shared texts,
/// 75 KB for a nation's villages, which stays in the cache where a lookup
/// of each row's code in that table does not (issue #7).
pub fn distinct_regions(regions: impl ParallelIterator<Item = Region>) -> Vec<Region> {
    let words = crate::vocab::made() / 64 + 1;
    let mark = |mut bits: Vec<u64>, region: Region| {
        let i = region.shared().index();
        if i / 64 >= bits.len() {
            bits.resize(i / 64 + 1, 0);
        }
        bits[i / 64] |= 1 << (i % 64);
        bits
    };
    let merge = |mut a: Vec<u64>, b: Vec<u64>| {
        if b.len() > a.len() {
            a.resize(b.len(), 0);
        }
        a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
        a
    };
    let marked = regions
        .fold(|| vec![0; words], mark)
        .reduce(|| vec![0; words], merge);
    (0..marked.len() * 64)
        .filter(|&i| marked[i / 64] >> (i % 64) & 1 == 1)
        .filter_map(|i| u32::try_from(i).ok().filter(|&i| i > 0))
        .map(|i| Region(Shared::from_index(i)))
        .collect()
}

impl Default for Region {
    fn default() -> Region {
        Region::new("")
    }
}

/// By the code, as the reports sort.
impl Ord for Region {
    fn cmp(&self, other: &Region) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Region {
    fn partial_cmp(&self, other: &Region) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The key no person's number has (keys are below 2^61): it sorts after
/// every key, so that lists of (key, row) made straight from every row
/// cut the keyless rows off their end after sorting (issue #7).
pub const NO_KEY: u64 = u64::MAX;

/// A person's ID cell after normalization.
///
/// Every roll row holds one, so it is one word (it was 56 bytes, then
/// 24): a cell that is already a valid number in normal form, as nearly
/// all are, is held as its key (`ValidId::key`: the 17-digit body × 11 +
/// the check value), and its text is rebuilt from the key when asked. Any
/// other cell (invalid, or written otherwise: spaces, a lower-case x, 15
/// digits) keeps the cell as given, its normalized form and its verdict in
/// a box of its own, which the word points to (issue #7: 16 bytes a row,
/// 1.2 GB at 10 M households).
///
/// The word's lowest bit tells the two apart: a key is stored shifted up
/// by one bit (keys are below 1.1 × 10^18 < 2^61), a box's address, which
/// is a multiple of its alignment, with the bit set.
pub struct PersonId(Word);

/// A 64-bit word kept as two halves, aligned to 4 bytes rather than 8:
/// in a row whose other fields are of 4 bytes or less, a `u64` rounds the
/// row up to a multiple of 8 (issue #7: Q-1's rows were 24 bytes for 18
/// of fields, Q's poor rows 48 for 44).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Word([u32; 2]);

impl Word {
    pub(crate) fn new(word: u64) -> Word {
        Word([word as u32, (word >> 32) as u32])
    }
    pub(crate) fn get(self) -> u64 {
        u64::from(self.0[0]) | u64::from(self.0[1]) << 32
    }
}

/// The two forms of a [`PersonId`], as read from its word.
enum IdCell<'a> {
    Clean(u64),
    Other(&'a OtherId),
}

/// A cell that is not a valid number in normal form.
#[derive(Clone, Debug)]
struct OtherId {
    given: Text,
    /// The normalized string where it is not `given` itself.
    normalized: Option<Box<str>>,
    verdict: Result<ValidId, InvalidReason>,
    /// The normalized string packed as a key when it has a number's shape
    /// (17 digits, then a digit or `X`), valid or not: so that it is equal
    /// to the same number held clean (see [`IdKey`]).
    packed: Option<u64>,
}

impl OtherId {
    fn normalized(&self) -> &str {
        self.normalized.as_deref().unwrap_or(&self.given)
    }
}

const OTHER_BIT: u64 = 1;
// A box's address must leave the lowest bit free.
const _: () = assert!(std::mem::align_of::<OtherId>() >= 2);

impl PersonId {
    /// Normalize and validate the trimmed cell `given` against the
    /// quarter's end (`identity::check_id`).
    pub fn new(given: Text, quarter_end: Date) -> PersonId {
        if crate::identity::is_valid_normal_form(&given, quarter_end)
            && let Ok(clean) = <[u8; 18]>::try_from(given.as_bytes())
        {
            return PersonId::clean(ValidId::of_normal_form(&clean).key);
        }
        let IdCheck {
            normalized,
            verdict,
        } = check_id(&given, quarter_end);
        if let Ok(valid) = verdict
            && normalized == given
            && given.len() == 18
        {
            return PersonId::clean(valid.key);
        }
        let packed = crate::identity::shaped_key(&normalized);
        PersonId::other(OtherId {
            normalized: (normalized != given).then(|| normalized.as_str().into()),
            given,
            verdict,
            packed,
        })
    }

    fn clean(key: u64) -> PersonId {
        debug_assert!(key < 1 << 62);
        PersonId(Word::new(key << 1))
    }

    fn other(other: OtherId) -> PersonId {
        let address = Box::into_raw(Box::new(other)).expose_provenance() as u64;
        debug_assert_eq!(address & OTHER_BIT, 0);
        PersonId(Word::new(address | OTHER_BIT))
    }

    fn cell(&self) -> IdCell<'_> {
        let word = self.0.get();
        if word & OTHER_BIT == 0 {
            IdCell::Clean(word >> 1)
        } else {
            let address = (word & !OTHER_BIT) as usize;
            // SAFETY: a word with the bit set is only made by `other`, from
            // a box this `PersonId` owns until it is dropped; the box is
            // never freed or moved while `self` is borrowed.
            IdCell::Other(unsafe { &*std::ptr::with_exposed_provenance::<OtherId>(address) })
        }
    }

    pub fn key(&self) -> Option<u64> {
        self.valid().map(|v| v.key)
    }

    /// The key, or [`NO_KEY`] for a number without one: a list of every
    /// row's key then sorts the keyless rows last, to be cut off.
    pub fn key_or_none(&self) -> u64 {
        self.key().unwrap_or(NO_KEY)
    }
    pub fn valid(&self) -> Option<ValidId> {
        match self.cell() {
            IdCell::Clean(key) => Some(ValidId { key }),
            IdCell::Other(other) => other.verdict.ok(),
        }
    }
    pub fn invalid_reason(&self) -> Option<InvalidReason> {
        match self.cell() {
            IdCell::Clean(_) => None,
            IdCell::Other(other) => other.verdict.err(),
        }
    }
    /// The cell as given, trimmed (for `invalid_id` rows).
    pub fn given(&self) -> IdText<'_> {
        match self.cell() {
            IdCell::Clean(key) => IdText::of_key(key),
            IdCell::Other(other) => IdText(TextRepr::Kept(&other.given)),
        }
    }
    /// Trimmed, no inner spaces, ASCII, upper-case X, 15 digits widened
    /// to 18: cross-quarter identity uses it.
    pub fn normalized(&self) -> IdText<'_> {
        match self.cell() {
            IdCell::Clean(key) => IdText::of_key(key),
            IdCell::Other(other) => IdText(TextRepr::Kept(other.normalized())),
        }
    }
    /// The normalized number as a key for sets and maps: equal, ordered
    /// and hashed as the normalized string is, without building it.
    pub fn normalized_key(&self) -> IdKey<'_> {
        match self.cell() {
            IdCell::Clean(key) => IdKey(KeyRepr::Number(key)),
            IdCell::Other(other) => match other.packed {
                Some(key) => IdKey(KeyRepr::Number(key)),
                None => IdKey(KeyRepr::Text(other)),
            },
        }
    }
    pub fn birth(&self) -> Option<Date> {
        self.valid().map(|v| v.birth())
    }
}

impl Drop for PersonId {
    fn drop(&mut self) {
        let word = self.0.get();
        if word & OTHER_BIT != 0 {
            let address = (word & !OTHER_BIT) as usize;
            // SAFETY: the box was made by `other` and is owned by `self`
            // alone (`clone` boxes a copy); it is freed once, here.
            drop(unsafe {
                Box::from_raw(std::ptr::with_exposed_provenance_mut::<OtherId>(address))
            });
        }
    }
}

impl Clone for PersonId {
    fn clone(&self) -> PersonId {
        match self.cell() {
            IdCell::Clean(key) => PersonId::clean(key),
            IdCell::Other(other) => PersonId::other(other.clone()),
        }
    }
}

impl std::fmt::Debug for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell() {
            IdCell::Clean(key) => f.debug_tuple("Clean").field(&key).finish(),
            IdCell::Other(other) => f.debug_tuple("Other").field(other).finish(),
        }
    }
}

/// The text of an ID: rebuilt from its key, or borrowed from the cell.
/// Reads as `&str`.
#[derive(Clone, Copy)]
pub struct IdText<'a>(TextRepr<'a>);

#[derive(Clone, Copy)]
enum TextRepr<'a> {
    Rebuilt([u8; 18]),
    Kept(&'a str),
}

impl IdText<'_> {
    fn of_key(key: u64) -> IdText<'static> {
        IdText(TextRepr::Rebuilt(crate::identity::key_digits(key)))
    }
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TextRepr::Rebuilt(digits) => {
                debug_assert!(digits.is_ascii());
                // SAFETY: `key_digits` writes ASCII digits and `X` only.
                unsafe { std::str::from_utf8_unchecked(digits) }
            }
            TextRepr::Kept(text) => text,
        }
    }
}

impl std::ops::Deref for IdText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for IdText<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for IdText<'_> {
    fn eq(&self, other: &IdText<'_>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for IdText<'_> {}

impl Ord for IdText<'_> {
    fn cmp(&self, other: &IdText<'_>) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for IdText<'_> {
    fn partial_cmp(&self, other: &IdText<'_>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for IdText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A normalized number as a key (see [`PersonId::normalized_key`]): 16
/// bytes, a number's key compared and hashed as an integer. Two keys are
/// equal, and ordered, as their normalized strings are.
#[derive(Clone, Copy)]
pub struct IdKey<'a>(KeyRepr<'a>);

#[derive(Clone, Copy)]
enum KeyRepr<'a> {
    /// A string with a number's shape, packed (never held as `Text`).
    Number(u64),
    /// Any other normalized string.
    Text(&'a OtherId),
}

impl<'a> IdKey<'a> {
    /// The key of a string with a number's shape, as an integer (below
    /// 2^61); `None` for any other string.
    pub fn packed(&self) -> Option<u64> {
        match self.0 {
            KeyRepr::Number(key) => Some(key),
            KeyRepr::Text(_) => None,
        }
    }

    /// The normalized string.
    pub fn text(&self) -> IdText<'a> {
        match self.0 {
            KeyRepr::Number(key) => IdText::of_key(key),
            KeyRepr::Text(other) => IdText(TextRepr::Kept(other.normalized())),
        }
    }
}

impl PartialEq for IdKey<'_> {
    fn eq(&self, other: &IdKey<'_>) -> bool {
        match (self.0, other.0) {
            (KeyRepr::Number(a), KeyRepr::Number(b)) => a == b,
            (KeyRepr::Text(a), KeyRepr::Text(b)) => a.normalized() == b.normalized(),
            _ => false,
        }
    }
}

impl Eq for IdKey<'_> {}

impl std::hash::Hash for IdKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.0 {
            KeyRepr::Number(key) => state.write_u64(key),
            KeyRepr::Text(other) => other.normalized().hash(state),
        }
    }
}

impl Ord for IdKey<'_> {
    /// As the strings: for two numbers, the order of their keys is that of
    /// their digits (the same length, the check value of `X` above 9).
    fn cmp(&self, other: &IdKey<'_>) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (KeyRepr::Number(a), KeyRepr::Number(b)) => a.cmp(&b),
            _ => self.text().as_str().cmp(other.text().as_str()),
        }
    }
}

impl PartialOrd for IdKey<'_> {
    fn partial_cmp(&self, other: &IdKey<'_>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for IdKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.text().as_str(), f)
    }
}

/// Fields every roll row has. The household number is not here: it is
/// held once per household in the roll's [`Households`], each row's
/// household found by [`Households::of_row`]. On every row it was 16 of
/// a roll row's 80 bytes (issue #7).
#[derive(Clone, Debug)]
pub struct Member {
    /// The line in the file, and whether the row is the household's head.
    pub line_and_head: LineAndHead,
    pub region: Region,
    /// 8 bytes (see [`Name`]).
    pub name: Name,
    pub id: PersonId,
}

/// A row's physical line in its file (header = 1) and whether it is the
/// household's head (户主), in one `u32`: the line in the low 31 bits, the
/// head in the top one. A separate `bool` made `Member` 72 bytes instead
/// of 64, and so every roll row 8 bytes larger (600 MB at 10 M households;
/// issue #7). Two billion lines are past any roll (a roll holds at most
/// [`MAX_ROWS_PER_ROLL`] rows); a line past them is kept as the largest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineAndHead(u32);

impl LineAndHead {
    const HEAD: u32 = 1 << 31;
    pub const MAX_LINE: u32 = Self::HEAD - 1;

    pub fn new(line: u64, is_head: bool) -> LineAndHead {
        let line = u32::try_from(line.min(u64::from(Self::MAX_LINE))).unwrap_or(Self::MAX_LINE);
        LineAndHead(line | if is_head { Self::HEAD } else { 0 })
    }
    pub fn line(self) -> u32 {
        self.0 & Self::MAX_LINE
    }
    pub fn is_head(self) -> bool {
        self.0 & Self::HEAD != 0
    }
}

/// Q's 低保 row: 40 bytes. The date of enrolment, which no check reads
/// and the state carries to the next quarter, is held in 4 bytes
/// ([`OptionalDate`]); as an `Option<Date>` it took 12 and the row 64
/// (80 MB at 10 M households, held from the read to the reports; issue
/// #7). The amounts are 4 bytes each ([`PackedCents`]; as [`Cents`] the
/// row was 48), the name 8 ([`Name`]; as a [`ShortText`], 56).
#[derive(Clone, Debug)]
pub struct DibaoRow {
    pub member: Member,
    pub category: Option<Shared>,
    pub monthly_benefit: PackedCents,
    pub monthly_income: PackedCents,
    pub enrolled_on: OptionalDate,
}

/// An `Option<i32>` in 4 bytes, where `Option<i32>` takes 8: `i32::MIN`,
/// which no cell is read as (cells are read as years of at most nine
/// digits, and dates as days of four-digit years), stands for none, as
/// it does in the state file (format 3's `NONE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionalI32(i32);

impl OptionalI32 {
    /// `Some(i32::MIN)` is held as none (see the type).
    pub fn new(value: Option<i32>) -> OptionalI32 {
        OptionalI32(value.unwrap_or(i32::MIN))
    }

    pub fn get(self) -> Option<i32> {
        (self.0 != i32::MIN).then_some(self.0)
    }
}

impl std::fmt::Debug for OptionalI32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.get(), f)
    }
}

/// An optional date in 4 bytes, as days since 1970-01-01 (`Option<Date>`
/// takes 12). A date of a four-digit year, as every date a roll holds
/// is, lies within a few million days of 1970; one past `i32` days
/// (millions of years away) is held as none, as the state file has
/// always stored it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionalDate(OptionalI32);

impl OptionalDate {
    pub fn new(date: Option<Date>) -> OptionalDate {
        OptionalDate::from_day_number(date.and_then(|d| i32::try_from(d.days_since_epoch()).ok()))
    }

    /// From days since 1970-01-01.
    pub fn from_day_number(days: Option<i32>) -> OptionalDate {
        OptionalDate(OptionalI32::new(days))
    }

    /// Days since 1970-01-01.
    pub fn day_number(self) -> Option<i32> {
        self.0.get()
    }

    pub fn get(self) -> Option<Date> {
        self.day_number()
            .map(|d| Date::from_days_since_epoch(i64::from(d)))
    }
}

impl std::fmt::Debug for OptionalDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.get(), f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HouseholdType {
    General,
    Dibao,
    Tekun,
}

impl HouseholdType {
    pub const ALL: [(Self, &'static str, &'static str); 3] = [
        (Self::General, "一般贫困户", "general"),
        (Self::Dibao, "低保贫困户", "dibao"),
        (Self::Tekun, "特困供养贫困户", "tekun"),
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Poor,
    Exited,
    Relapsed,
}

impl Status {
    pub const ALL: [(Self, &'static str, &'static str); 3] = [
        (Self::Poor, "未脱贫", "poor"),
        (Self::Exited, "已脱贫", "exited"),
        (Self::Relapsed, "返贫", "relapsed"),
    ];
    /// 未脱贫 or 返贫.
    pub fn is_poor(self) -> bool {
        matches!(self, Status::Poor | Status::Relapsed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Labor {
    Ordinary,
    Skilled,
    Weak,
    Lost,
    None,
}

impl Labor {
    pub const ALL: [(Self, &'static str, &'static str); 5] = [
        (Self::Ordinary, "普通劳动力", "ordinary"),
        (Self::Skilled, "技能劳动力", "skilled"),
        (Self::Weak, "弱劳动力或半劳动力", "weak"),
        (Self::Lost, "丧失劳动力", "lost"),
        (Self::None, "无劳动力", "none"),
    ];
    pub fn can_work(self) -> bool {
        matches!(self, Labor::Ordinary | Labor::Skilled)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    Healthy,
    Chronic,
    SeriousIllness,
    Disabled,
}

impl Health {
    pub const ALL: [(Self, &'static str, &'static str); 4] = [
        (Self::Healthy, "健康", "healthy"),
        (Self::Chronic, "长期慢性病", "chronic"),
        (Self::SeriousIllness, "患有大病", "serious_illness"),
        (Self::Disabled, "残疾", "disabled"),
    ];
}

/// The Chinese label of an enum value from its table.
pub fn zh<T: PartialEq + Copy>(table: &[(T, &'static str, &'static str)], v: T) -> &'static str {
    table
        .iter()
        .find(|(x, _, _)| *x == v)
        .map(|(_, zh, _)| *zh)
        .unwrap_or("")
}

/// The position of `v` in its enumeration's table: its code in the state
/// and its bits in [`Circumstances`].
pub fn code_of<T: PartialEq + Copy>(table: &[(T, &'static str, &'static str)], v: T) -> u8 {
    // Every value is in its own table (the tables list every variant);
    // the fallback, which no table reads back, keeps this total.
    table
        .iter()
        .position(|(x, _, _)| *x == v)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// The 失学辍学 value of 在校生状况.
pub const OUT_OF_SCHOOL: &str = "失学辍学";

/// Q's poor row: 44 bytes (with a 16-byte name, 8-byte income and the
/// number aligned to 8 bytes, 56). The exit year, which no check reads and the
/// state carries, is held in 4 bytes ([`OptionalI32`]), and the labor,
/// health and three yes/no answers in one ([`Circumstances`]): with an
/// `Option<i32>` and five fields of a byte the row was 64 bytes (220 MB
/// at 10 M households, held from the read to the reports; issue #7).
#[derive(Clone, Debug)]
pub struct PoorRow {
    pub member: Member,
    pub household_type: HouseholdType,
    pub status: Status,
    pub exit_year: OptionalI32,
    pub cause: Option<Shared>,
    pub annual_income: PackedCents,
    pub circumstances: Circumstances,
    pub schooling: Option<Shared>,
}

impl PoorRow {
    pub fn labor(&self) -> Labor {
        self.circumstances.labor()
    }
    pub fn health(&self) -> Health {
        self.circumstances.health()
    }
    pub fn medical_insured(&self) -> bool {
        self.circumstances.medical_insured()
    }
    pub fn housing_safe(&self) -> bool {
        self.circumstances.housing_safe()
    }
    pub fn water_safe(&self) -> bool {
        self.circumstances.water_safe()
    }
}

/// A poor row's 劳动技能 and 健康状况 and its three yes/no answers
/// (medical insurance, safe housing, safe water) in one byte: the labor's
/// place in [`Labor::ALL`] in the low three bits, the health's in
/// [`Health::ALL`] in the next two, then one bit for each answer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Circumstances(u8);

impl Circumstances {
    const HEALTH_SHIFT: u32 = 3;
    const INSURED: u8 = 1 << 5;
    const HOUSING_SAFE: u8 = 1 << 6;
    const WATER_SAFE: u8 = 1 << 7;

    pub fn new(
        labor: Labor,
        health: Health,
        medical_insured: bool,
        housing_safe: bool,
        water_safe: bool,
    ) -> Circumstances {
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        // Masked: each table lists every variant of its enumeration, so
        // the masks only keep `code_of`'s unreachable fallback in place.
        Circumstances(
            code_of(&Labor::ALL, labor) & 0b111
                | (code_of(&Health::ALL, health) & 0b11) << Self::HEALTH_SHIFT
                | bit(medical_insured, Self::INSURED)
                | bit(housing_safe, Self::HOUSING_SAFE)
                | bit(water_safe, Self::WATER_SAFE),
        )
    }

    pub fn labor(self) -> Labor {
        // The place was written from the table: always within it.
        Labor::ALL[usize::from(self.0 & 0b111) % Labor::ALL.len()].0
    }
    pub fn health(self) -> Health {
        Health::ALL[usize::from(self.0 >> Self::HEALTH_SHIFT & 0b11)].0
    }
    pub fn medical_insured(self) -> bool {
        self.0 & Self::INSURED != 0
    }
    pub fn housing_safe(self) -> bool {
        self.0 & Self::HOUSING_SAFE != 0
    }
    pub fn water_safe(self) -> bool {
        self.0 & Self::WATER_SAFE != 0
    }
}

impl std::fmt::Debug for Circumstances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Circumstances")
            .field("labor", &self.labor())
            .field("health", &self.health())
            .field("medical_insured", &self.medical_insured())
            .field("housing_safe", &self.housing_safe())
            .field("water_safe", &self.water_safe())
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct DeathRow {
    pub line: u64,
    pub id: PersonId,
    pub death_date: Date,
}

#[derive(Clone, Debug)]
pub struct EmployeeRow {
    pub line: u64,
    pub id: PersonId,
    pub employer: Option<Text>,
}

impl Member {
    /// Physical line in the file (header = 1).
    pub fn line(&self) -> u32 {
        self.line_and_head.line()
    }
    pub fn is_head(&self) -> bool {
        self.line_and_head.is_head()
    }
    /// The name as compared across rolls. Computed when asked (only
    /// unmatched rows and exact pairs ask), not stored on every row.
    pub fn name_norm(&self) -> Text {
        crate::identity::normalize_name(&self.name.text())
    }
    /// Its number, region, head mark and name, as Q-1's rows keep them
    /// (no line).
    fn into_parts(self) -> (PersonId, Region, bool, Name) {
        let is_head = self.is_head();
        (self.id, self.region, is_head, self.name)
    }
}

/// One roll household: where its members' rows are (see
/// [`Households`]), and the row its household values come from (the 户主,
/// else the first row).
#[derive(Clone, Debug)]
pub struct Household {
    pub id: ShortText,
    /// Its first row when its rows are one stretch of the roll; else,
    /// marked by [`LISTED`], where its rows start in the roll's list of
    /// the households listed apart.
    first: u32,
    /// How many rows it has (fewer than 2^30, as a roll's rows), and in
    /// the top two bits which of them its values come from: the first,
    /// second or third, or ([`FAR`]) one further on, found in
    /// [`Households`]' list of them. The 户主 is nearly always among a
    /// household's first rows. With the row in a field of its own a
    /// household was 32 bytes, not 24: 225 MB at 10 M households, both
    /// quarters' rolls held through matching (issue #7).
    members_and_value: u32,
}

/// The mark of a household whose rows are not one stretch. Rows are fewer
/// than 2^30 (MAX_ROWS_PER_ROLL), so the mark never meets a row index.
const LISTED: u32 = 1 << 31;

/// Where the member count ends in [`Household::members_and_value`], and
/// the value row's place among the members begins.
const VALUE_SHIFT: u32 = 30;
const MEMBERS: u32 = (1 << VALUE_SHIFT) - 1;
/// The value row's place when it is past the first three rows.
const FAR: u32 = 3;

impl Household {
    /// How many rows the household has.
    pub fn member_count(&self) -> usize {
        (self.members_and_value & MEMBERS) as usize
    }
}

/// A roll's households in order of first appearance, and each row's
/// household, 4 bytes per row.
///
/// Exports list a household's rows together, so nearly every household's
/// rows are one stretch of the roll, named by its first row and count.
/// Only the households some of whose rows are listed apart have their
/// rows listed, end to end in one list. A list of every household's rows
/// took 4 bytes a row, 300 MB at 10 M households, held with both quarters
/// through the run's highest points (issue #7); a `Vec` per household
/// had cost 56 bytes and an allocation.
#[derive(Clone, Debug, Default)]
pub struct Households {
    list: Vec<Household>,
    listed_rows: Vec<u32>,
    row_household: Vec<u32>,
    /// The value row of each household whose value row is past its first
    /// three rows, by the household's `first` (unique to it).
    far_value_rows: rustc_hash::FxHashMap<u32, u32>,
}

/// The row indices of one household, in file order.
#[derive(Clone, Debug)]
pub enum MemberRows<'a> {
    Stretch(std::ops::Range<usize>),
    Listed(std::slice::Iter<'a, u32>),
}

impl Iterator for MemberRows<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            MemberRows::Stretch(rows) => rows.next(),
            MemberRows::Listed(rows) => rows.next().map(|&r| r as usize),
        }
    }
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            MemberRows::Stretch(rows) => rows.size_hint(),
            MemberRows::Listed(rows) => rows.size_hint(),
        }
    }
}

impl ExactSizeIterator for MemberRows<'_> {}

impl std::ops::Deref for Households {
    type Target = [Household];
    fn deref(&self) -> &[Household] {
        &self.list
    }
}

impl Households {
    /// The row indices of `hh`, one of these households, in file order.
    pub fn members(&self, hh: &Household) -> MemberRows<'_> {
        let count = hh.member_count();
        if hh.first & LISTED == 0 {
            let start = hh.first as usize;
            MemberRows::Stretch(start..start + count)
        } else {
            let start = (hh.first & !LISTED) as usize;
            MemberRows::Listed(
                self.listed_rows
                    .get(start..start + count)
                    .unwrap_or(&[])
                    .iter(),
            )
        }
    }

    /// The row `hh`'s household values come from: its 户主's, else its
    /// first row's.
    pub fn value_row(&self, hh: &Household) -> usize {
        let place = hh.members_and_value >> VALUE_SHIFT;
        if place == FAR {
            return self
                .far_value_rows
                .get(&hh.first)
                .map_or(0, |&r| r as usize);
        }
        let place = place as usize;
        if hh.first & LISTED == 0 {
            hh.first as usize + place
        } else {
            let start = (hh.first & !LISTED) as usize;
            self.listed_rows
                .get(start + place)
                .map_or(0, |&r| r as usize)
        }
    }

    /// The household of row `row`.
    pub fn of_row(&self, row: usize) -> &Household {
        &self.list[self.row_household[row] as usize]
    }

    /// The index in this list of row `row`'s household.
    pub fn index_of_row(&self, row: usize) -> usize {
        self.row_household[row] as usize
    }
}

/// Group rows by household number, households in order of first
/// appearance: `sides[i]` holds row `i`'s household number, `is_head(i)`
/// whether it is the household's head.
///
/// Exports list a household's rows together, so the rows are first cut
/// into runs of one number, on every core; the runs' numbers then go into
/// a map built on every core ([`crate::sharded::ShardedMap`]), which
/// names the few runs whose number an earlier run has (rows listed apart
/// from their household's others). Grouped on one thread through one
/// table of every household, Q's poor roll held a core idle for about six
/// seconds at the end of the read at 10 M households, its inserts missing
/// the cache (issue #7).
pub fn group_households<S: HouseholdSide + Sync>(
    sides: &[S],
    is_head: impl Fn(usize) -> bool + Sync,
) -> Households {
    group_households_in_pieces(sides, is_head, 1 << 16)
}

/// [`group_households`], each row's household marked `runs_a_piece`
/// runs at a time (a test's small pieces reach every piece's edge).
fn group_households_in_pieces<S: HouseholdSide + Sync>(
    sides: &[S],
    is_head: impl Fn(usize) -> bool + Sync,
    runs_a_piece: usize,
) -> Households {
    let id = |i: usize| sides[i].household_id();
    use crate::sharded::ShardedPlaces;
    use rayon::prelude::*;
    let rows = sides.len();
    // Each run's first row.
    let starts: Vec<u32> = (0..rows)
        .into_par_iter()
        .filter(|&i| i == 0 || id(i) != id(i - 1))
        .map(|i| i as u32)
        .collect();
    let runs = starts.len();
    let run_rows =
        |r: usize| starts[r] as usize..starts.get(r + 1).map_or(rows, |&next| next as usize);
    // The runs whose number an earlier run has (rows listed apart from
    // their household's others: rare), each with that earlier run. The
    // table holds runs, each number read from the run's first row: with
    // a copy of each number in the table (keys pointing into `ids` had
    // sent every insert to a random place in hundreds of megabytes),
    // grouping the poor roll held 660 MB more while the table was built
    // at 10 M households, beside both quarters' rows and numbers, the
    // read's peak and the run's (issue #7). A new number is compared with
    // another only when their 7-bit tags in the table match.
    let mut repeats: Vec<(u32, u32)> = {
        let repeats = std::sync::Mutex::new(Vec::new());
        ShardedPlaces::build(
            runs,
            |r| id(starts[r] as usize),
            |first, later| {
                // A poisoned lock still holds every pair pushed.
                let mut list = repeats.lock().unwrap_or_else(|e| e.into_inner());
                list.push((later, first));
            },
        );
        repeats.into_inner().unwrap_or_else(|e| e.into_inner())
    };
    repeats.sort_unstable();
    // Households are numbered in order of their first run: a run that is
    // not a repeat is household `r` less the repeats before it, and a
    // repeat is its earlier run's household. Each run's household is
    // found where it is needed, on every core: made run by run on one
    // thread, with each household's rows marked as it went, the grouping
    // held a core idle for about a second at the end of each quarter's
    // read at 10 M households, most of it the first touch of the
    // households' memory (issue #7).
    let repeats_before = |r: usize| repeats.partition_point(|&(later, _)| (later as usize) < r);
    let household_of_first_run = |r: usize| r - repeats_before(r);
    // The run that makes household `h`: the `h`-th run that is not a
    // repeat. A repeat `k` comes before it when fewer than `h + 1` runs
    // that are not repeats come before the repeat, and that count grows
    // with `k`.
    let first_run_of = |h: usize| {
        let mut low = 0;
        let mut high = repeats.len();
        while low < high {
            let k = (low + high) / 2;
            if repeats[k].0 as usize - k <= h {
                low = k + 1;
            } else {
                high = k;
            }
        }
        h + low
    };
    let first_head = |span: std::ops::Range<usize>| span.into_iter().find(|&i| is_head(i));
    // Each household's first run makes it: its number, first row and
    // rows so far, and its value row (the run's first head row, else its
    // first row) marked by whether a head was found (the mark is taken
    // off where the value rows are read, below). Made straight into the
    // two lists, on every core.
    const HEAD_FOUND: u32 = 1 << 31;
    let households = runs - repeats.len();
    let mut list: Vec<Household> = Vec::new();
    let mut value_rows: Vec<u32> = Vec::new();
    (0..households)
        .into_par_iter()
        .map(|h| {
            let span = run_rows(first_run_of(h));
            let household = Household {
                id: id(span.start).clone(),
                first: span.start as u32,
                // Households are fewer than rows, and rows fewer than
                // 2^30 (MAX_ROWS_PER_ROLL).
                members_and_value: span.len() as u32,
            };
            let value_row = match first_head(span.clone()) {
                Some(head) => head as u32 | HEAD_FOUND,
                None => span.start as u32,
            };
            (household, value_row)
        })
        .unzip_into_vecs(&mut list, &mut value_rows);
    // The repeated runs (rare) join their households in row order, so
    // that a household's value row is the first head row of all its
    // runs; their households have rows listed apart from their first
    // run's.
    let mut apart: Vec<bool> = vec![false; households];
    for &(later, first) in &repeats {
        let h = household_of_first_run(first as usize);
        apart[h] = true;
        let span = run_rows(later as usize);
        list[h].members_and_value += span.len() as u32;
        if value_rows[h] & HEAD_FOUND == 0
            && let Some(head) = first_head(span)
        {
            value_rows[h] = head as u32 | HEAD_FOUND;
        }
    }
    // Each row's household, a stretch of runs at a time on every core.
    let mut row_household: Vec<u32> = vec![0; rows];
    {
        let mut pieces = Vec::with_capacity(runs.div_ceil(runs_a_piece));
        let mut rest: &mut [u32] = &mut row_household;
        for first_run in (0..runs).step_by(runs_a_piece) {
            let piece_runs = first_run..(first_run + runs_a_piece).min(runs);
            let piece_rows = run_rows(first_run).start..run_rows(piece_runs.end - 1).end;
            let (piece, after) = std::mem::take(&mut rest).split_at_mut(piece_rows.len());
            pieces.push((piece_runs, piece_rows.start, piece));
            rest = after;
        }
        pieces
            .into_par_iter()
            .for_each(|(piece_runs, base, piece)| {
                let mut before = repeats_before(piece_runs.start);
                for r in piece_runs {
                    let h = match repeats.get(before) {
                        Some(&(later, first)) if later as usize == r => {
                            before += 1;
                            household_of_first_run(first as usize)
                        }
                        _ => r - before,
                    };
                    let span = run_rows(r);
                    piece[span.start - base..span.end - base].fill(h as u32);
                }
            });
    }
    // A household of one run is that stretch of rows. Those of more than
    // one get a stretch of the list each, filled with their runs' rows in
    // row order.
    let mut listed_rows: Vec<u32> = Vec::new();
    let mut next: rustc_hash::FxHashMap<u32, u32> = Default::default();
    for (h, hh) in list.iter_mut().enumerate() {
        if apart[h] {
            let start = listed_rows.len() as u32;
            next.insert(h as u32, start);
            hh.first = start | LISTED;
            listed_rows.resize(listed_rows.len() + hh.member_count(), 0);
        }
    }
    if !next.is_empty() {
        for r in 0..runs {
            let span = run_rows(r);
            if let Some(slot) = next.get_mut(&row_household[span.start]) {
                for row in span {
                    listed_rows[*slot as usize] = row as u32;
                    *slot += 1;
                }
            }
        }
    }
    // Each value row noted by its place among its household's rows.
    let far_value_rows = list
        .par_iter_mut()
        .zip(value_rows.par_iter())
        .filter_map(|(hh, &marked)| {
            let row = marked & !HEAD_FOUND;
            let place = if hh.first & LISTED == 0 {
                Some(row - hh.first)
            } else {
                let start = (hh.first & !LISTED) as usize;
                listed_rows[start..start + hh.member_count()]
                    .iter()
                    .position(|&r| r == row)
                    .map(|p| p as u32)
            };
            match place {
                Some(place) if place < FAR => {
                    hh.members_and_value |= place << VALUE_SHIFT;
                    None
                }
                _ => {
                    hh.members_and_value |= FAR << VALUE_SHIFT;
                    Some((hh.first, row))
                }
            }
        })
        .collect();
    Households {
        list,
        listed_rows,
        row_household,
        far_value_rows,
    }
}

/// A roll row as the grouping into households and the movement checks
/// read it: Q's whole rows and Q-1's kept ones alike.
pub trait RollRow: Sync {
    fn id(&self) -> &PersonId;
    fn region(&self) -> &Region;
    fn is_head(&self) -> bool;
}

/// [`RollRow`] for rows that hold a [`Member`] (Q's), or its person fields
/// as fields of their own (Q-1's).
macro_rules! roll_row {
    (member: $($row:ty),+) => {$(
        impl RollRow for $row {
            fn id(&self) -> &PersonId {
                &self.member.id
            }
            fn region(&self) -> &Region {
                &self.member.region
            }
            fn is_head(&self) -> bool {
                self.member.is_head()
            }
        }
    )+};
    (fields: $($row:ty),+) => {$(
        impl RollRow for $row {
            fn id(&self) -> &PersonId {
                &self.id
            }
            fn region(&self) -> &Region {
                &self.region
            }
            fn is_head(&self) -> bool {
                self.is_head
            }
        }
    )+};
}

roll_row!(member: DibaoRow, PoorRow);
roll_row!(fields: PreviousDibaoRow, PreviousPoorRow);

/// How a row read whole (`T`) is kept in a roll: whole for Q, as the
/// movement checks read it for Q-1. Each row is kept as it is parsed or
/// decoded, so the whole rows of Q-1 are never all held; what the kept
/// row leaves out but its household needs rides beside it (`Side`) until
/// the roll's households are grouped.
pub trait Kept<T>: RollRow + Sized {
    type Side: Send + Sync + HouseholdSide;
    fn keep(row: T, household_id: ShortText) -> (Self, Self::Side);
}

impl Kept<DibaoRow> for DibaoRow {
    type Side = ShortText;
    fn keep(row: DibaoRow, household_id: ShortText) -> (Self, ShortText) {
        (row, household_id)
    }
}

impl Kept<PoorRow> for PoorRow {
    type Side = ShortText;
    fn keep(row: PoorRow, household_id: ShortText) -> (Self, ShortText) {
        (row, household_id)
    }
}

/// What rides beside a row until its roll's households are grouped: the
/// household number, and for Q-1 the person's name (kept for heads only).
pub trait HouseholdSide {
    /// Whether it holds the row's name (the row does not).
    const NAMED: bool;
    fn household_id(&self) -> &ShortText;
    /// The name, when the row does not hold it.
    fn name(&self) -> Option<Name>;
}

impl HouseholdSide for ShortText {
    const NAMED: bool = false;
    fn household_id(&self) -> &ShortText {
        self
    }
    fn name(&self) -> Option<Name> {
        None
    }
}

/// A Q-1 row's household number and name.
pub struct HouseholdAndName {
    pub household_id: ShortText,
    pub name: Name,
}

impl HouseholdSide for HouseholdAndName {
    const NAMED: bool = true;
    fn household_id(&self) -> &ShortText {
        &self.household_id
    }
    fn name(&self) -> Option<Name> {
        Some(self.name)
    }
}

/// Q-1's 低保 row as the movement checks read it: the person's number,
/// region and whether the row is the head's, and the monthly benefit, 20
/// bytes where Q's rows are 40 and 44 (24 with the amount in 8 bytes and
/// the number aligned to 8). Q-1 is held beside Q through matching and
/// the movements, where the run's memory peaks at 10 M households (issue
/// #7). The line is not kept (no check reports a line of Q-1), and the
/// name is kept for the household's head only, in the roll's
/// [`Roll::head_names`]: the movement checks name only the heads of the
/// households that entered or left. With every name and line the row was
/// 40 bytes.
#[derive(Clone, Debug)]
pub struct PreviousDibaoRow {
    pub id: PersonId,
    pub monthly_benefit: PackedCents,
    pub region: Region,
    pub is_head: bool,
}

impl Kept<DibaoRow> for PreviousDibaoRow {
    type Side = HouseholdAndName;
    fn keep(row: DibaoRow, household_id: ShortText) -> (Self, HouseholdAndName) {
        let (id, region, is_head, name) = row.member.into_parts();
        let kept = PreviousDibaoRow {
            id,
            monthly_benefit: row.monthly_benefit,
            region,
            is_head,
        };
        (kept, HouseholdAndName { household_id, name })
    }
}

/// Q-1's poor row as the movement checks read it (see
/// [`PreviousDibaoRow`]): the person, the household's status and income,
/// 20 bytes (see there).
#[derive(Clone, Debug)]
pub struct PreviousPoorRow {
    pub id: PersonId,
    pub annual_income: PackedCents,
    pub region: Region,
    pub status: Status,
    pub is_head: bool,
}

impl Kept<PoorRow> for PreviousPoorRow {
    type Side = HouseholdAndName;
    fn keep(row: PoorRow, household_id: ShortText) -> (Self, HouseholdAndName) {
        let (id, region, is_head, name) = row.member.into_parts();
        let kept = PreviousPoorRow {
            id,
            annual_income: row.annual_income,
            region,
            status: row.status,
            is_head,
        };
        (kept, HouseholdAndName { household_id, name })
    }
}

/// A roll: its rows in file order and its households.
#[derive(Clone, Debug)]
pub struct Roll<R> {
    pub rows: Vec<R>,
    pub households: Households,
    /// The name of each household's head (its value row), by household:
    /// filled only for rolls whose rows do not hold names (Q-1's, see
    /// [`PreviousDibaoRow`]); empty for Q's.
    pub head_names: Vec<Name>,
}

// Not derived: a derived `Default` would ask `R: Default`.
impl<R> Default for Roll<R> {
    fn default() -> Self {
        Roll {
            rows: Vec::new(),
            households: Households::default(),
            head_names: Vec::new(),
        }
    }
}

/// Q's 低保 roll, every column read.
pub type DibaoRoll = Roll<DibaoRow>;
/// Q's 建档立卡 roll, every column read.
pub type PoorRoll = Roll<PoorRow>;
/// Q-1's 低保 roll, as the movement checks read it.
pub type PreviousDibaoRoll = Roll<PreviousDibaoRow>;
/// Q-1's 建档立卡 roll, as the movement checks read it.
pub type PreviousPoorRoll = Roll<PreviousPoorRow>;

impl<R: RollRow> Roll<R> {
    /// The roll of `rows`, `sides[i]` what rides beside row `i`: its
    /// household number, and for Q-1 its name (read beside the rows, and
    /// dropped here once grouped, the heads' names kept).
    pub fn new<S: HouseholdSide + Sync>(rows: Vec<R>, sides: Vec<S>) -> Roll<R> {
        assert_eq!(rows.len(), sides.len(), "a household number per row");
        let households = group_households(&sides, |r| rows[r].is_head());
        let head_names = if S::NAMED {
            use rayon::prelude::*;
            households
                .list
                .par_iter()
                .map(|h| sides[households.value_row(h)].name().unwrap_or_default())
                .collect()
        } else {
            Vec::new()
        };
        Roll {
            rows,
            households,
            head_names,
        }
    }
    /// The household number of row `r`.
    pub fn household_id(&self, r: usize) -> &ShortText {
        &self.households.of_row(r).id
    }
    /// The row a household's values come from.
    pub fn head(&self, h: &Household) -> &R {
        &self.rows[self.households.value_row(h)]
    }
    /// A household's rows, in roll order.
    pub fn members_of<'a>(
        &'a self,
        h: &'a Household,
    ) -> impl ExactSizeIterator<Item = &'a R> + Clone + 'a {
        self.households.members(h).map(|r| &self.rows[r])
    }
}

impl DibaoRoll {
    /// Household's annual per-capita income: monthly × 12.
    pub fn annual_income(&self, h: &Household) -> Cents {
        Cents(self.head(h).monthly_income.get().0 * 12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distinct regions of many rows are each region once, whatever
    /// the rows' order and however many workers saw them.
    #[test]
    fn distinct_regions_are_each_rows_region_once() {
        let codes: Vec<String> = (0..3000)
            .map(|i| format!("41032{}{:06}", i % 7, i % 1000))
            .collect();
        let rows: Vec<Region> = codes
            .iter()
            .rev()
            .chain(&codes)
            .map(|c| Region::new(c))
            .collect();
        let mut found: Vec<&str> = distinct_regions(rows.par_iter().copied())
            .iter()
            .map(|r| r.as_str())
            .collect();
        found.sort_unstable();
        let mut expected: Vec<&str> = codes.iter().map(String::as_str).collect();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(found, expected);
        assert!(distinct_regions(Vec::<Region>::new().into_par_iter()).is_empty());
    }

    /// A region made of the code the thread made last, of another code
    /// between, or on another thread is the one handle of that code.
    #[test]
    fn a_region_is_its_codes_handle_however_it_is_made() {
        let codes = [
            "410322001001",
            "410322001001",
            "410323001001",
            "410322001001",
            "4103",
        ];
        let made: Vec<Region> = codes.iter().map(|c| Region::new(c)).collect();
        for (code, region) in codes.iter().zip(&made) {
            assert_eq!(region.shared(), Shared::new(code));
            assert_eq!(region.as_str(), *code);
        }
        assert_eq!(made[0], made[1]);
        assert_eq!(made[0], made[3]);
        assert_ne!(made[0], made[2]);
        let there = std::thread::spawn(|| Region::new("410323001001"))
            .join()
            .unwrap();
        assert_eq!(there, made[2]);
        assert_eq!(Region::new("").as_str(), "");
    }

    /// A roll kept as Q-1 keeps its heads' names, by household: the 户主's
    /// wherever it stands among its household's rows, else the first row's.
    #[test]
    fn a_kept_roll_names_each_households_head() {
        let end = crate::calendar::Date::new(2018, 6, 30).expect("a date");
        // (household, name, head): A's head second and its rows apart, B
        // without a head, C's head its sixth row (past the first three).
        let given = [
            ("A", "甲", false),
            ("A", "乙", true),
            ("B", "丙", false),
            ("B", "丁", false),
            ("A", "戊", false),
            ("C", "己", false),
            ("C", "庚", false),
            ("C", "辛", false),
            ("C", "壬", false),
            ("C", "癸", false),
            ("C", "子", true),
        ];
        let (rows, sides): (Vec<PreviousDibaoRow>, Vec<HouseholdAndName>) = given
            .iter()
            .map(|&(household, name, is_head)| {
                let row = PreviousDibaoRow {
                    id: PersonId::new("".into(), end),
                    monthly_benefit: Cents(0).into(),
                    region: Region::new("410322"),
                    is_head,
                };
                let side = HouseholdAndName {
                    household_id: household.into(),
                    name: name.into(),
                };
                (row, side)
            })
            .unzip();
        let roll = Roll::new(rows, sides);
        let names: Vec<String> = roll.head_names.iter().map(Name::to_string).collect();
        assert_eq!(names, ["乙", "丙", "子"]);
        // Q's rolls hold their names in their rows.
        let q: Roll<PreviousDibaoRow> = Roll::new(Vec::new(), Vec::<ShortText>::new());
        assert!(q.head_names.is_empty());
    }

    #[test]
    fn household_values_come_from_the_head_else_the_first_row() {
        let ids: Vec<ShortText> = ["A", "A", "B", "B", "A"].map(ShortText::new).to_vec();
        let heads = [false, true, false, false, true];
        let hs = group_households(&ids, |r| heads[r]);
        assert_eq!(hs.len(), 2);
        assert_eq!(hs.value_row(&hs[0]), 1);
        assert_eq!(hs.value_row(&hs[1]), 2);
        assert_eq!(hs.members(&hs[1]).collect::<Vec<_>>(), vec![2, 3]);
        // A member listed apart from the rest still joins its household.
        assert_eq!(hs.members(&hs[0]).collect::<Vec<_>>(), vec![0, 1, 4]);
        assert_eq!((hs[0].member_count(), hs[1].member_count()), (3, 2));
        let of_rows: Vec<&str> = (0..5).map(|r| hs.of_row(r).id.as_str()).collect();
        assert_eq!(of_rows, ["A", "A", "B", "B", "A"]);
        assert_eq!(hs.index_of_row(3), 1);
    }

    /// Many households, some rows listed apart from their household's
    /// others: the grouping is that of a plain map from number to rows.
    #[test]
    fn households_are_grouped_as_a_map_of_their_numbers_would() {
        let mut ids: Vec<(bool, String)> = Vec::new();
        for h in 0..5000 {
            // Heads at every place from the first to the seventh row, and
            // households without one: values from the rows near the
            // start and from the far ones.
            for k in 0..(1 + h % 7) {
                ids.push((k == (h / 7) % 8, format!("H{h}")));
            }
            if h % 7 == 0 {
                // A member of an earlier household, listed apart, now and
                // then its head.
                ids.push((h % 3 == 0, format!("H{}", h / 2)));
            }
        }
        let numbers: Vec<ShortText> = ids.iter().map(|(_, id)| ShortText::new(id)).collect();
        let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
        let mut at: std::collections::HashMap<&str, usize> = Default::default();
        for (row, (_, id)) in ids.iter().enumerate() {
            let h = *at.entry(id.as_str()).or_insert_with(|| {
                expected.push((id.clone(), Vec::new()));
                expected.len() - 1
            });
            expected[h].1.push(row);
        }
        // Rows marked a few runs at a time too, so that pieces start
        // after repeated runs and in the middle of a household's runs.
        for runs_a_piece in [1 << 16, 1, 3, 64] {
            let hs = group_households_in_pieces(&numbers, |r| ids[r].0, runs_a_piece);
            assert_eq!(hs.len(), expected.len());
            for (hh, (id, rows)) in hs.iter().zip(&expected) {
                assert_eq!(hh.id.as_str(), id);
                assert_eq!(&hs.members(hh).collect::<Vec<_>>(), rows);
                let head = rows.iter().find(|&&r| ids[r].0).unwrap_or(&rows[0]);
                assert_eq!(hs.value_row(hh), *head);
                assert!(rows.iter().all(|&r| hs.of_row(r).id.as_str() == id));
            }
        }
    }

    #[test]
    fn region_levels() {
        let r = Region::new("410322102203");
        assert_eq!(
            (r.county(), r.township(), r.village()),
            ("410322", "410322102", "410322102203")
        );
        let r = Region::new("410322000000");
        assert_eq!((r.county(), r.township(), r.village()), ("410322", "", ""));
        let r = Region::new("410322102");
        assert_eq!(
            (r.county(), r.township(), r.village()),
            ("410322", "410322102", "")
        );
    }

    /// Whether a cell is kept inline or boxed, every accessor answers as
    /// `check_id` does on the cell.
    /// `body` (17 digits) with its check character.
    fn with_check(body: &str) -> String {
        let mut id = body.to_owned();
        id.push(char::from(crate::identity::check_char(body.as_bytes())));
        id
    }

    /// A valid number, and a valid number whose check character is `X`.
    fn clean_and_x_checked() -> (String, String) {
        let x_body = (0..1000)
            .map(|n| format!("41032419800101{n:03}"))
            .find(|b| crate::identity::check_char(b.as_bytes()) == b'X')
            .unwrap();
        (with_check("41032419800101123"), with_check(&x_body))
    }

    #[test]
    fn person_ids_answer_as_check_id_whatever_their_form() {
        let end = Date::new(2018, 9, 30).unwrap();
        let (clean, x_upper) = clean_and_x_checked();
        let cells = [
            clean.clone(),
            x_upper.clone(),
            x_upper.to_lowercase(),
            format!("{} {}", &clean[..6], &clean[6..]),
            "410324800101123".to_owned(),
            format!("{}0", &clean[..17]),
            with_check("41032420190101123"),
            "4.10324E+17".to_owned(),
            "41032419800101".to_owned(),
            String::new(),
        ];
        let mut inline = 0;
        for cell in cells {
            let id = PersonId::new(cell.as_str().into(), end);
            let check = check_id(&cell, end);
            assert_eq!(id.given().as_str(), cell);
            assert_eq!(
                id.normalized().as_str(),
                check.normalized.as_str(),
                "{cell}"
            );
            assert_eq!(id.valid(), check.verdict.ok(), "{cell}");
            assert_eq!(id.key(), check.verdict.ok().map(|v| v.key), "{cell}");
            assert_eq!(id.invalid_reason(), check.verdict.err(), "{cell}");
            assert_eq!(id.birth(), check.verdict.ok().map(|v| v.birth()), "{cell}");
            inline += usize::from(matches!(id.cell(), IdCell::Clean(_)));
            // A copy answers alike, and owns its own box.
            let copy = id.clone();
            drop(id);
            assert_eq!(copy.given().as_str(), cell.as_str(), "{cell}");
        }
        // The two valid numbers in normal form, and only they.
        assert_eq!(inline, 2);
    }

    /// Keys are equal, ordered and hashed as the normalized strings are,
    /// whichever form each cell is held in and whatever its verdict (a
    /// birth date in the future at one quarter's end is not at a later
    /// one's).
    #[test]
    fn id_keys_compare_as_the_normalized_strings() {
        use std::hash::BuildHasher;
        let (clean, x_upper) = clean_and_x_checked();
        let future = with_check("41032420190101123");
        let cells = [
            clean.clone(),
            format!("{} {}", &clean[..6], &clean[6..]),
            x_upper.clone(),
            x_upper.to_lowercase(),
            "410324800101123".to_owned(),
            format!("{}0", &clean[..17]),
            format!("{}X", &clean[..17]),
            future.clone(),
            "4.10324E+17".to_owned(),
            "41032419800101".to_owned(),
            "4103241980010112345".to_owned(),
            String::new(),
        ];
        let ends = [
            Date::new(2018, 9, 30).unwrap(),
            Date::new(2019, 3, 31).unwrap(),
        ];
        let ids: Vec<PersonId> = ends
            .iter()
            .flat_map(|&end| {
                cells
                    .iter()
                    .map(move |c| PersonId::new(c.as_str().into(), end))
            })
            .collect();
        let hasher = rustc_hash::FxBuildHasher;
        for a in &ids {
            for b in &ids {
                let (ka, kb) = (a.normalized_key(), b.normalized_key());
                let (ta, tb) = (a.normalized(), b.normalized());
                assert_eq!(ka == kb, ta == tb, "{ta:?} {tb:?}");
                assert_eq!(ka.cmp(&kb), ta.as_str().cmp(tb.as_str()), "{ta:?} {tb:?}");
                if ka == kb {
                    assert_eq!(hasher.hash_one(ka), hasher.hash_one(kb));
                }
                assert_eq!(ka.text(), ta);
            }
        }
        // The future-born number: invalid at the first end, valid at the
        // second, one key.
        let born = |end| PersonId::new(future.as_str().into(), end);
        let (before, after) = (born(ends[0]), born(ends[1]));
        assert!(before.valid().is_none() && after.valid().is_some());
        assert!(before.normalized_key() == after.normalized_key());
    }

    #[test]
    fn key_digits_are_the_number() {
        for id in [
            "410324198001011234",
            "11010519491231002X",
            "000000000000000000",
        ] {
            let key = ValidId::of_normal_form(id.as_bytes().try_into().unwrap()).key;
            assert_eq!(&crate::identity::key_digits(key), id.as_bytes());
            assert_eq!(crate::identity::key_to_string(key), id);
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn a_line_and_its_head_mark_are_kept_apart() {
        for line in [0, 1, 2, 1 << 30, u64::from(LineAndHead::MAX_LINE)] {
            for head in [false, true] {
                let both = LineAndHead::new(line, head);
                assert_eq!(u64::from(both.line()), line);
                assert_eq!(both.is_head(), head);
            }
        }
        // Past the largest line the number stays there; the mark is kept.
        for line in [
            u64::from(LineAndHead::MAX_LINE) + 1,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let both = LineAndHead::new(line, true);
            assert_eq!(both.line(), LineAndHead::MAX_LINE);
            assert!(both.is_head());
        }
    }

    /// Every labor, health and answer a poor row can hold reads back as
    /// given from its one byte, and an optional year or date as given
    /// from its four.
    #[test]
    fn packed_row_fields_read_back_as_given() {
        for &(labor, _, _) in &Labor::ALL {
            for &(health, _, _) in &Health::ALL {
                for answers in 0..8u8 {
                    let (insured, housing, water) =
                        (answers & 1 != 0, answers & 2 != 0, answers & 4 != 0);
                    let c = Circumstances::new(labor, health, insured, housing, water);
                    assert_eq!(
                        (
                            c.labor(),
                            c.health(),
                            c.medical_insured(),
                            c.housing_safe(),
                            c.water_safe()
                        ),
                        (labor, health, insured, housing, water)
                    );
                }
            }
        }
        for year in [None, Some(0), Some(2019), Some(999_999_999), Some(-1)] {
            assert_eq!(OptionalI32::new(year).get(), year);
        }
        for date in [
            None,
            Date::new(1970, 1, 1),
            Date::new(1969, 12, 31),
            Date::new(2018, 2, 28),
            Date::new(9999, 12, 31),
            Date::new(0, 1, 1),
        ] {
            assert_eq!(OptionalDate::new(date).get(), date);
        }
    }

    /// A roll is millions of these: every byte here is megabytes of peak
    /// memory at national scale (issue #7). Grow them only on purpose.
    #[test]
    fn rows_stay_within_their_memory_budget() {
        use std::mem::size_of;
        let sizes = [
            ("Member", size_of::<Member>(), 24),
            // Held for every row of Q through the whole run.
            ("DibaoRow", size_of::<DibaoRow>(), 40),
            ("PoorRow", size_of::<PoorRow>(), 44),
            ("OptionalDate", size_of::<OptionalDate>(), 4),
            ("Circumstances", size_of::<Circumstances>(), 1),
            ("PreviousDibaoRow", size_of::<PreviousDibaoRow>(), 20),
            ("PreviousPoorRow", size_of::<PreviousPoorRow>(), 20),
            ("PersonId", size_of::<PersonId>(), 8),
            ("IdKey", size_of::<IdKey>(), 16),
            // 12 M flags at 10 M households, held until the reports.
            ("Flag", size_of::<crate::flags::Flag>(), 72),
            ("Household", size_of::<Household>(), 24),
            (
                "HouseholdRow",
                size_of::<crate::scoring::HouseholdRow>(),
                48,
            ),
        ];
        for (name, size, budget) in sizes {
            assert!(size <= budget, "{name}: {size} bytes, budget {budget}");
        }
    }
}
