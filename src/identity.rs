//! ID numbers (GB 11643 居民身份证号) and names: pure functions, no polars.
//!
//! Every rule here comes from the contract, section 3. The person key is
//! a `u64` so that joins run on integers rather than 18-byte strings.

use crate::calendar::Date;
use crate::model::Text;

/// MOD 11-2 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// Why a present ID number is not a valid one. Stable codes: they reach
/// `summary.json`, the `check` report and flag details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InvalidReason {
    /// Excel turned the number into scientific notation (`4.10324E+17`).
    ExcelScientific,
    /// 18 digits ending in `000` that fail the check: Excel kept 15 digits.
    ExcelTrailingZeros,
    /// Neither 18 nor 15 characters after normalization.
    BadLength,
    /// A character other than digits (and a final `X`).
    BadCharacters,
    /// The first two digits are not a province code.
    BadProvince,
    /// The birth date is not a real date.
    BadBirthDate,
    /// The birth date is after the quarter's end.
    FutureBirthDate,
    /// The MOD 11-2 check character does not match.
    BadCheckDigit,
}

impl InvalidReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::ExcelScientific => "excel_scientific",
            Self::ExcelTrailingZeros => "excel_trailing_zeros",
            Self::BadLength => "bad_length",
            Self::BadCharacters => "bad_characters",
            Self::BadProvince => "bad_province",
            Self::BadBirthDate => "bad_birth_date",
            Self::FutureBirthDate => "future_birth_date",
            Self::BadCheckDigit => "bad_check_digit",
        }
    }

    /// The Chinese sentence analysts read in a flag's detail.
    pub fn label(self) -> &'static str {
        match self {
            Self::ExcelScientific => "号码被Excel转为科学计数法,后几位已丢失",
            Self::ExcelTrailingZeros => "号码末三位为000且校验不符,疑似被Excel截断为15位有效数字",
            Self::BadLength => "号码位数不是18位或15位",
            Self::BadCharacters => "号码含有数字和末位X以外的字符",
            Self::BadProvince => "前两位不是有效的省级代码",
            Self::BadBirthDate => "出生日期不是有效日期",
            Self::FutureBirthDate => "出生日期晚于本季度末",
            Self::BadCheckDigit => "校验码不符",
        }
    }

    pub const ALL: [InvalidReason; 8] = [
        Self::ExcelScientific,
        Self::ExcelTrailingZeros,
        Self::BadLength,
        Self::BadCharacters,
        Self::BadProvince,
        Self::BadBirthDate,
        Self::FutureBirthDate,
        Self::BadCheckDigit,
    ];
}

/// A valid ID number, as its integer key; the birth date and sex are
/// read off the key's digits, not stored beside it (every roll row holds
/// one of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidId {
    /// The 17-digit body × 11 + the check value (X = 10).
    pub key: u64,
}

impl ValidId {
    /// The 17-digit body.
    fn body(self) -> u64 {
        self.key / 11
    }

    /// Digits 7–14, YYYYMMDD, checked to be a real date when the number
    /// was validated.
    /// The key of a number already known to be valid and in normal form
    /// (17 ASCII digits, then a digit or `X`).
    pub fn of_normal_form(id: &[u8; 18]) -> ValidId {
        let check = if id[17] == b'X' {
            10
        } else {
            u64::from(id[17] - b'0')
        };
        ValidId {
            key: seventeen_digits(id) * 11 + check,
        }
    }

    pub fn birth(self) -> Date {
        let ymd = self.body() / 1_000 % 100_000_000;
        Date {
            year: (ymd / 10_000) as i32,
            month: (ymd / 100 % 100) as u8,
            day: (ymd % 100) as u8,
        }
    }

    /// Digit 17: odd for men.
    pub fn male(self) -> bool {
        self.body() % 2 == 1
    }
}

/// The outcome of reading one ID cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdCheck {
    /// The normalized string: trimmed, no inner spaces, ASCII, upper-case X,
    /// 15-digit numbers widened to 18. Cross-quarter identity uses it.
    pub normalized: Text,
    pub verdict: Result<ValidId, InvalidReason>,
}

/// Full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space to
/// their ASCII counterparts; every other character unchanged.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Trim, drop inner white space, full-width to ASCII, `x` to `X`.
pub fn normalize_id_text(raw: &str) -> Text {
    // Fast path: a clean ASCII cell (nearly all of them) is copied inline.
    if raw.bytes().all(|b| b.is_ascii_graphic() && b != b'x') {
        return Text::from(raw);
    }
    raw.chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == 'x' { 'X' } else { c })
        .collect()
}

fn is_province(code: u32) -> bool {
    matches!(code, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82)
}

/// The check character for 17 ASCII digits.
pub fn check_char(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn looks_like_scientific(s: &str) -> bool {
    // 4.10324E+17, 4.10324e17, 4,10324E+17 (a comma decimal in some locales)
    let Some((mantissa, exponent)) = s.split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// The value of the first 17 bytes of `id`, all ASCII digits: the first
/// digit, then two runs of eight read as one word each. The key of every
/// row is computed from its digits whenever it is asked for (it is not
/// stored, to keep a row small), millions of times a run; digit by digit
/// this was 4 % of the analysis' CPU (issue #7).
fn seventeen_digits(id: &[u8; 18]) -> u64 {
    let word = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&id[at..at + 8]);
        eight_digits(u64::from_le_bytes(bytes))
    };
    u64::from(id[0] - b'0') * 10_000_000_000_000_000 + word(1) * 100_000_000 + word(9)
}

/// Eight ASCII digits, the first in the lowest byte, as their value: pairs,
/// then fours, then the eight, each step one multiply (the SWAR method of
/// Lemire's "Faster parsing of integers").
fn eight_digits(word: u64) -> u64 {
    let v = word - 0x3030_3030_3030_3030;
    let v = (v * 10) + (v >> 8);
    ((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32
}

fn digits_value(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'))
}

/// Normalize and validate one ID cell against the quarter's end.
pub fn check_id(raw: &str, quarter_end: Date) -> IdCheck {
    let mut normalized = normalize_id_text(raw);
    if looks_like_scientific(&normalized) {
        return IdCheck {
            normalized,
            verdict: Err(InvalidReason::ExcelScientific),
        };
    }
    if normalized.len() == 15 && normalized.bytes().all(|b| b.is_ascii_digit()) {
        normalized = widen_legacy(&normalized);
    }
    let verdict = validate18(&normalized, quarter_end);
    IdCheck {
        normalized,
        verdict,
    }
}

/// A 15-digit number widened to 18: `19` inserted after the six-digit
/// region, the check character computed (contract §3). Sequences 996–999
/// were once reserved for people born in the 1800s, for whom `19` gives
/// the wrong century; the contract widens them all the same, and such a
/// person would be over 110 by 2018.
fn widen_legacy(s: &str) -> Text {
    let b = s.as_bytes();
    let mut body = Vec::with_capacity(18);
    body.extend_from_slice(&b[..6]);
    body.extend_from_slice(b"19");
    body.extend_from_slice(&b[6..]);
    let check = check_char(&body);
    body.push(check);
    Text::from_utf8(body).expect("ASCII digits")
}

fn validate18(s: &str, quarter_end: Date) -> Result<ValidId, InvalidReason> {
    let b = s.as_bytes();
    // Characters first, lengths second: a full-width digit is three bytes,
    // so a byte length alone would let "４１０３…" pass as 18 characters.
    if !s.is_ascii() {
        return Err(InvalidReason::BadCharacters);
    }
    if b.len() != 18 {
        return Err(if b.iter().all(|c| c.is_ascii_digit() || *c == b'X') {
            InvalidReason::BadLength
        } else {
            InvalidReason::BadCharacters
        });
    }
    let Some(id) = number_shape(s) else {
        return Err(InvalidReason::BadCharacters);
    };
    if !is_province(digits_value(&b[..2]) as u32) {
        return Err(InvalidReason::BadProvince);
    }
    let year = digits_value(&b[6..10]) as i32;
    let month = digits_value(&b[10..12]) as u32;
    let day = digits_value(&b[12..14]) as u32;
    let birth = Date::new(year, month, day).ok_or(InvalidReason::BadBirthDate)?;
    if birth > quarter_end {
        return Err(InvalidReason::FutureBirthDate);
    }
    if check_char(&b[..17]) != b[17] {
        return Err(if s.ends_with("000") {
            InvalidReason::ExcelTrailingZeros
        } else {
            InvalidReason::BadCheckDigit
        });
    }
    Ok(ValidId::of_normal_form(id))
}

/// `s` as its 18 bytes when it has a number's shape: 17 ASCII digits, then
/// a digit or `X`.
fn number_shape(s: &str) -> Option<&[u8; 18]> {
    let b: &[u8; 18] = s.as_bytes().try_into().ok()?;
    (b[..17].iter().all(u8::is_ascii_digit) && (b[17].is_ascii_digit() || b[17] == b'X'))
        .then_some(b)
}

/// The key (body × 11 + check value, as [`ValidId`]) of a string with a
/// number's shape, valid or not.
pub fn shaped_key(s: &str) -> Option<u64> {
    number_shape(s).map(|id| ValidId::of_normal_form(id).key)
}

/// Whether `cell` is a valid number exactly in normal form (18 ASCII
/// characters, digits then a digit or `X`): what [`check_id`] finds for
/// nearly every cell of a roll, decided without making its normalized
/// copy (making that copy, checking it and comparing it with the cell
/// took about 940 instructions an ID; this path saves about 630 of them,
/// by callgrind; issue #7).
pub fn is_valid_normal_form(cell: &str, quarter_end: Date) -> bool {
    cell.len() == 18 && validate18(cell, quarter_end).is_ok()
}

/// The 18-character string of a person key.
pub fn key_to_string(key: u64) -> String {
    String::from_utf8_lossy(&key_digits(key)).into_owned()
}

/// The 18 characters of a key (body × 11 + check value): the body's 17
/// digits, then the check digit or `X`. Keys read back from a held number
/// on every comparison and report row, so no formatting machinery.
pub fn key_digits(key: u64) -> [u8; 18] {
    let mut out = [b'0'; 18];
    let check = key % 11;
    out[17] = if check == 10 {
        b'X'
    } else {
        b'0' + check as u8
    };
    let mut body = key / 11;
    for slot in out[..17].iter_mut().rev() {
        *slot = b'0' + (body % 10) as u8;
        body /= 10;
    }
    out
}

/// Names compared across rolls: trimmed, no inner spaces, full-width to
/// half-width, the middle-dot variants folded to `·`.
pub fn normalize_name(raw: &str) -> Text {
    normalized_name_chars(raw).collect()
}

/// The characters of [`normalize_name`], one by one: matching hashes them
/// without building the name (issue #7).
pub fn normalized_name_chars(raw: &str) -> impl Iterator<Item = char> + '_ {
    raw.chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{00B7}' | '\u{2022}' | '\u{2027}' | '\u{FF0E}' | '.' | '\u{30FB}' | '\u{FF65}' => {
                '\u{00B7}'
            }
            _ => c,
        })
}

/// First 6 and last 4 characters kept, the rest `*`.
pub fn mask_id(id: &str) -> Text {
    let n = id.chars().count();
    if n <= 10 {
        return "*".repeat(n).into();
    }
    id.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { c } else { '*' })
        .collect()
}

/// Two ID strings of the same length that differ in exactly one position,
/// or by one swap of adjacent characters (contract section 3, probable).
pub fn one_typo_apart(a: &str, b: &str) -> Option<TypoKind> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return None;
    }
    // One pass that stops at the third difference: most pairs tested are
    // different persons of one block, apart in many places (this ran on
    // every candidate pair, about 7 % of matching's CPU; issue #7).
    let (mut first, mut second) = (None, None);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            if first.is_none() {
                first = Some(i);
            } else if second.is_none() {
                second = Some(i);
            } else {
                return None;
            }
        }
    }
    match (first?, second) {
        (first, None) => Some(TypoKind::Substitution(first)),
        (first, Some(second))
            if second == first + 1 && a[first] == b[second] && a[second] == b[first] =>
        {
            Some(TypoKind::AdjacentSwap(first))
        }
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypoKind {
    /// 0-based position of the differing character.
    Substitution(usize),
    /// 0-based position of the first of the swapped pair.
    AdjacentSwap(usize),
}

impl TypoKind {
    pub fn describe(self) -> String {
        match self {
            Self::Substitution(i) => format!("第{}位不同", i + 1),
            Self::AdjacentSwap(i) => format!("第{}、{}位前后颠倒", i + 1, i + 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_2018q3() -> Date {
        Date::new(2018, 9, 30).unwrap()
    }

    #[test]
    fn published_examples_are_valid() {
        for id in ["11010519491231002X", "440524188001010014"] {
            let c = check_id(id, end_2018q3());
            assert!(c.verdict.is_ok(), "{id}: {:?}", c.verdict);
            assert_eq!(key_to_string(c.verdict.unwrap().key), id);
        }
    }

    #[test]
    fn legacy_fifteen_digits_widen() {
        let c = check_id("110105491231002", end_2018q3());
        assert_eq!(c.normalized, "11010519491231002X");
        assert!(c.verdict.is_ok());
    }

    #[test]
    fn every_valid_fifteen_digit_number_is_widened_with_19() {
        // Sequence 997 (once reserved for the 1800s) is widened like any other.
        let c = check_id("110105491231997", end_2018q3());
        assert_eq!(&c.normalized[..8], "11010519");
        assert!(c.verdict.is_ok());
    }

    #[test]
    fn full_width_lower_x_and_spaces_normalize() {
        let c = check_id("　１１０１０５ 19491231002ｘ\u{a0}", end_2018q3());
        assert_eq!(c.normalized, "11010519491231002X");
        assert!(c.verdict.is_ok());
    }

    #[test]
    fn six_full_width_digits_do_not_pass_as_eighteen_bytes() {
        // 6 full-width digits are 18 bytes; a byte-length check would slice them.
        let c = check_id("４１０３２４", end_2018q3());
        assert_eq!(c.normalized, "410324");
        assert_eq!(c.verdict, Err(InvalidReason::BadLength));
        let c = check_id("四一〇三二四一九九八一一二三〇一", end_2018q3());
        assert_eq!(c.verdict, Err(InvalidReason::BadCharacters));
    }

    #[test]
    fn excel_damage_is_named() {
        let c = check_id("4.10324E+17", end_2018q3());
        assert_eq!(c.verdict, Err(InvalidReason::ExcelScientific));
        let c = check_id("410324198811230000", end_2018q3());
        assert_eq!(c.verdict, Err(InvalidReason::ExcelTrailingZeros));
    }

    #[test]
    fn each_rule_has_its_reason() {
        let q = end_2018q3();
        assert_eq!(
            check_id("99010519491231002X", q).verdict,
            Err(InvalidReason::BadProvince)
        );
        assert_eq!(
            check_id("110105194913310021", q).verdict,
            Err(InvalidReason::BadBirthDate)
        );
        assert_eq!(
            check_id("110105201812310021", q).verdict,
            Err(InvalidReason::FutureBirthDate)
        );
        assert_eq!(
            check_id("110105194912310021", q).verdict,
            Err(InvalidReason::BadCheckDigit)
        );
        assert_eq!(
            check_id("1101051949123100", q).verdict,
            Err(InvalidReason::BadLength)
        );
        assert_eq!(
            check_id("11010519491231002Y", q).verdict,
            Err(InvalidReason::BadCharacters)
        );
    }

    #[test]
    fn birth_on_quarter_end_is_valid_and_a_day_later_is_not() {
        let body = b"41032420180930001";
        let mut id = body.to_vec();
        id.push(check_char(body));
        let id = String::from_utf8(id).unwrap();
        assert!(check_id(&id, end_2018q3()).verdict.is_ok());
        assert_eq!(
            check_id(&id, Date::new(2018, 9, 29).unwrap()).verdict,
            Err(InvalidReason::FutureBirthDate)
        );
    }

    #[test]
    fn sex_and_birth_come_from_the_number() {
        let v = check_id("11010519491231002X", end_2018q3())
            .verdict
            .unwrap();
        assert_eq!(v.birth(), Date::new(1949, 12, 31).unwrap());
        assert!(!v.male());
        let v = check_id("440524188001010014", end_2018q3())
            .verdict
            .unwrap();
        assert!(v.male());
        assert_eq!(v.birth(), Date::new(1880, 1, 1).unwrap());
        // A 15-digit number: the date of its widened form.
        let v = check_id("110105491231002", end_2018q3()).verdict.unwrap();
        assert_eq!(v.birth(), Date::new(1949, 12, 31).unwrap());
        assert!(!v.male());
    }

    #[test]
    fn names_fold_dots_spaces_and_width() {
        assert_eq!(normalize_name(" 买买提 • 艾力 "), "买买提·艾力");
        assert_eq!(normalize_name("阿依古丽．买买提"), "阿依古丽·买买提");
        assert_eq!(normalize_name("张\u{3000}三"), "张三");
        assert_eq!(normalize_name("ＡＢＣ"), "ABC");
        assert_eq!(normalize_name("A・B"), normalize_name("A.B"));
    }

    #[test]
    fn masking_keeps_first_six_and_last_four() {
        assert_eq!(mask_id("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id("123"), "***");
    }

    #[test]
    fn seventeen_digits_read_as_one_by_one() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut ids: Vec<[u8; 18]> = vec![*b"00000000000000000X", *b"999999999999999999"];
        for _ in 0..10_000 {
            let mut id = [0u8; 18];
            for b in &mut id {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = b'0' + (state % 10) as u8;
            }
            ids.push(id);
        }
        for id in ids {
            assert_eq!(seventeen_digits(&id), digits_value(&id[..17]), "{id:?}");
        }
    }

    #[test]
    fn typo_distance() {
        assert_eq!(
            one_typo_apart("12345", "12045"),
            Some(TypoKind::Substitution(2))
        );
        assert_eq!(
            one_typo_apart("12345", "13245"),
            Some(TypoKind::AdjacentSwap(1))
        );
        assert_eq!(one_typo_apart("12345", "12345"), None);
        assert_eq!(one_typo_apart("12345", "13254"), None);
        assert_eq!(one_typo_apart("12345", "1234"), None);
        assert_eq!(one_typo_apart("12345", "32145"), None);
    }
}
