//! Cell values (contract §2): trimming, full-width folding, decimals,
//! dates, booleans, enums and division codes.

use crate::calendar::Date;
use crate::identity::fold_width;
use crate::money::Cents;

/// Trim any Unicode white space (U+3000 and NBSP included) and fold
/// full-width ASCII forms.
/// Borrowed when nothing needs folding, which is nearly every cell: one
/// allocation per cell was a large part of reading a roll (issue #7).
pub fn clean(cell: &str) -> std::borrow::Cow<'_, str> {
    // Only U+3000 (E3 80 80) and U+FF01–U+FF5E (EF BC 81 – EF BD 9E) fold:
    // a cell with neither lead byte, as every ASCII cell and nearly every
    // Chinese one is, needs no decoding (decoding every character of every
    // Chinese cell was 3 % of a read; issue #7).
    // (memchr2, and a loop that never stops early, both cost more
    // instructions on cells this short.)
    let [e3, ef] = FOLDABLE_LEADS;
    let may_fold = cell.as_bytes().iter().any(|&b| b == e3 || b == ef);
    if !may_fold || cell.chars().all(|c| fold_width(c) == c) {
        return std::borrow::Cow::Borrowed(trim(cell));
    }
    std::borrow::Cow::Owned(
        cell.chars()
            .map(fold_width)
            .collect::<String>()
            .trim()
            .to_owned(),
    )
}

/// The bytes that begin every character [`clean`] folds: E3 (U+3000 is
/// E3 80 80) and EF (U+FF01–U+FF5E are EF BC 81 – EF BD 9E).
pub const FOLDABLE_LEADS: [u8; 2] = [0xE3, 0xEF];

/// Whether a text may hold a character that [`clean`] folds (a byte of
/// [`FOLDABLE_LEADS`]). A text without one cleans to its trim.
pub fn may_fold(text: &[u8]) -> bool {
    let [e3, ef] = FOLDABLE_LEADS;
    memchr::memchr2(e3, ef, text).is_some()
}

/// [`clean`] for a cell of a record whose bytes were looked at whole:
/// with `foldable` false (no byte of the record is E3 or EF, see
/// [`may_fold`]) the cell is only trimmed, without a look at each of its
/// bytes; otherwise it is cleaned. Looking at every byte of every cell
/// for those two was most of [`clean`]'s time, a tenth of reading a roll
/// (issue #7); a record's line is looked at once for them with SIMD.
pub fn clean_in(cell: &str, foldable: bool) -> std::borrow::Cow<'_, str> {
    if foldable {
        clean(cell)
    } else {
        std::borrow::Cow::Borrowed(trim(cell))
    }
}

/// Trim only (for names and free text, which keep their characters).
pub fn trim(cell: &str) -> &str {
    // Nearly every cell starts and ends with a character that cannot be
    // white space, and is returned whole after a look at its two ends:
    // the Unicode trim (which must see U+3000, the full-width space), and
    // then decoding the end characters of Chinese cells to ask Unicode's
    // tables, were 4 % and then 3 % of a read (issue #7).
    let bytes = cell.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return cell;
    };
    // The last character's first byte: continuation bytes are 10xxxxxx.
    let last_lead = bytes
        .iter()
        .rev()
        .take(4)
        .find(|&&b| b & 0xC0 != 0x80)
        .copied()
        .unwrap_or(last);
    if cannot_be_space(first) && cannot_be_space(last_lead) {
        return cell;
    }
    cell.trim()
}

/// Whether a character whose UTF-8 encoding starts with `lead` is surely
/// not white space. Unicode's white space is ASCII's, U+0085 and U+00A0
/// (lead C2), U+1680 (E1), U+2000–U+205F (E2) and U+3000 (E3); a lead of
/// E4 or above is U+4000 or above, where there is none.
fn cannot_be_space(lead: u8) -> bool {
    lead.is_ascii_graphic() || lead >= 0xE4 || matches!(lead, 0xC3..=0xE0)
}

pub fn decimal(v: &str) -> Option<Cents> {
    Cents::parse(v)
}

pub fn integer(v: &str) -> Option<i32> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// `YYYY-MM-DD`, `YYYY/MM/DD` (one-digit month and day accepted),
/// `YYYYMMDD`, `YYYY年M月D日`.
pub fn date(v: &str) -> Option<Date> {
    let num = |s: &str, max_len: usize| -> Option<u32> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let parts: Vec<&str> = if let Some(rest) = v.strip_suffix('日') {
        let (y, rest) = rest.split_once('年')?;
        let (m, d) = rest.split_once('月')?;
        vec![y, m, d]
    } else if v.contains('-') {
        v.split('-').collect()
    } else if v.contains('/') {
        v.split('/').collect()
    } else if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) {
        // Digits checked before slicing: `20170期` is 8 bytes too.
        vec![&v[..4], &v[4..6], &v[6..]]
    } else {
        return None;
    };
    if parts.len() != 3 || parts[0].len() != 4 {
        return None;
    }
    Date::new(
        num(parts[0], 4)? as i32,
        num(parts[1], 2)?,
        num(parts[2], 2)?,
    )
}

pub fn boolean(v: &str) -> Option<bool> {
    // Compared in place: lower-casing a copy of every cell was an
    // allocation per yes/no cell, three per poor-roll row (issue #7).
    let is = |words: [&str; 5]| words.iter().any(|w| w.eq_ignore_ascii_case(v));
    if is(["是", "y", "yes", "1", "true"]) {
        Some(true)
    } else if is(["否", "n", "no", "0", "false"]) {
        Some(false)
    } else {
        None
    }
}

/// An enum value by its Chinese name or English alias (any case).
pub fn enumerated<T: Copy>(v: &str, table: &[(T, &'static str, &'static str)]) -> Option<T> {
    // The Chinese names first, as rolls write them (compared in place:
    // through `==`, a call of `memcmp` for each name of the value's length
    // was 3.5 % of reading a roll; issue #7), then the English aliases.
    table
        .iter()
        .find(|(_, zh, _)| crate::vocab::same_text(zh, v))
        .or_else(|| table.iter().find(|(_, _, en)| en.eq_ignore_ascii_case(v)))
        .map(|(t, _, _)| *t)
}

/// 6 to 12 digits.
pub fn region_code(v: &str) -> Option<crate::model::Text> {
    if (6..=12).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) {
        Some(v.into())
    } else {
        None
    }
}

/// 户主 (or the English `head`) marks the household head.
pub fn is_head(relation: &str) -> bool {
    relation == "户主" || relation.eq_ignore_ascii_case("head")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn trim_is_the_unicode_trim() {
        for cell in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "王",
            " 王 ",
            "\u{3000}王\u{3000}",
            "a\u{3000}",
            "\u{3000}a",
            "a b",
            "\u{a0}1\u{a0}",
            "1\u{2003}",
            "王\u{3000}",
            "\u{3000}王",
            "王 ",
            "\u{2003}",
            "王五",
        ] {
            assert_eq!(trim(cell), cell.trim(), "{cell:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn trim_and_clean_are_their_plain_definitions(
            cell in "[ \t\r\u{85}\u{a0}\u{1680}\u{2003}\u{205f}\u{3000}\u{feff}a-z0-9王五\u{ff11}\u{ff41}\u{4dbf}\u{ffe5}\u{10000}\u{e9}]{0,8}"
        ) {
            proptest::prop_assert_eq!(trim(&cell), cell.trim());
            let folded: String = cell.chars().map(fold_width).collect();
            let cleaned = clean(&cell);
            proptest::prop_assert_eq!(cleaned.as_ref(), folded.trim());
            // A cell of a record known to have nothing to fold cleans to
            // what `clean` gives it; one that may, to `clean` itself.
            proptest::prop_assert_eq!(clean_in(&cell, true), clean(&cell));
            if !may_fold(cell.as_bytes()) {
                proptest::prop_assert_eq!(clean_in(&cell, false), clean(&cell));
            }
        }
    }

    #[test]
    fn four_date_forms() {
        let want = Date::new(2018, 7, 5);
        for s in [
            "2018-07-05",
            "2018/07/05",
            "20180705",
            "2018年7月5日",
            "2018-7-5",
        ] {
            assert_eq!(date(s), want, "{s}");
        }
        for s in [
            "2018-02-30",
            "18-07-05",
            "2018.07.05",
            "201807051",
            "2018年7月",
            "",
        ] {
            assert_eq!(date(s), None, "{s}");
        }
    }

    #[test]
    fn booleans_and_enums() {
        assert_eq!(boolean("是"), Some(true));
        assert_eq!(boolean("N"), Some(false));
        assert_eq!(boolean("TRUE"), Some(true));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(enumerated("已脱贫", &Status::ALL), Some(Status::Exited));
        assert_eq!(enumerated("Relapsed", &Status::ALL), Some(Status::Relapsed));
        assert_eq!(enumerated("脱贫", &Status::ALL), None);
    }

    #[test]
    fn cleaning_folds_width_and_trims_unicode_space() {
        assert_eq!(clean("\u{3000}１２００\u{a0}"), "1200");
        assert_eq!(decimal(&clean("１,２００")), Some(Cents(120_000)));
    }

    #[test]
    fn region_codes_are_six_to_twelve_digits() {
        assert!(region_code("410322").is_some());
        assert!(region_code("410322102203").is_some());
        assert!(region_code("41032").is_none());
        assert!(region_code("4103221022031").is_none());
        assert!(region_code("41032A").is_none());
    }
}
