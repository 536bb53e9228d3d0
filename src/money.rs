//! Amounts in 元, held as whole cents so that comparisons with the poverty
//! line and the 低保 standard are exact.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "f64")]
pub struct Cents(pub i64);

impl Cents {
    pub fn from_yuan(yuan: f64) -> Cents {
        Cents((yuan * 100.0).round() as i64)
    }

    pub fn yuan(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// Parse a plain decimal: an optional sign, digits with optional
    /// thousands commas, up to two decimals (more are rounded half away
    /// from zero). Full-width digits are folded by the caller.
    pub fn parse(s: &str) -> Option<Cents> {
        Cents::parse_plain(s.as_bytes()).or_else(|| Cents::parse_any(s))
    }

    /// The form nearly every amount on a roll takes — digits, then
    /// optionally a point and one or two decimals — read in one pass;
    /// `None` for anything else, which [`Cents::parse_any`] reads. The
    /// general reading's searches and trims were about 300 instructions an
    /// amount, 1.7 % of a run's (issue #7).
    fn parse_plain(b: &[u8]) -> Option<Cents> {
        let digit = |b: u8| b.is_ascii_digit().then(|| i64::from(b - b'0'));
        let whole_len = b.iter().take_while(|b| b.is_ascii_digit()).count();
        // Fifteen digits and their cents stay far inside an i64.
        if whole_len == 0 || whole_len > 15 {
            return None;
        }
        let whole = b[..whole_len]
            .iter()
            .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
        let cents = match b[whole_len..] {
            [] => 0,
            [b'.', d] => digit(d)? * 10,
            [b'.', d1, d2] => digit(d1)? * 10 + digit(d2)?,
            _ => return None,
        };
        Some(Cents(whole * 100 + cents))
    }

    fn parse_any(s: &str) -> Option<Cents> {
        let s = s.trim();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !valid_grouping(int_part) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut whole: i64 = 0;
        for b in int_part.bytes().filter(|b| *b != b',') {
            whole = whole.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        }
        let f = frac_part.as_bytes();
        let digit = |i: usize| f.get(i).map_or(0, |b| i64::from(b - b'0'));
        let mut cents = whole
            .checked_mul(100)?
            .checked_add(digit(0) * 10 + digit(1))?;
        if digit(2) >= 5 {
            cents += 1;
        }
        Some(Cents(if negative { -cents } else { cents }))
    }
}

/// Digits, optionally grouped by commas in threes (`1,200`, `12,345,678`).
fn valid_grouping(s: &str) -> bool {
    if !s.contains(',') {
        return s.bytes().all(|b| b.is_ascii_digit());
    }
    let groups: Vec<&str> = s.split(',').collect();
    let first = groups[0];
    !first.is_empty()
        && first.len() <= 3
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups[1..]
            .iter()
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

impl From<Cents> for f64 {
    fn from(c: Cents) -> f64 {
        c.yuan()
    }
}

/// `2860`, `2860.5`, `2860.25`: no trailing zeros, as analysts write amounts.
impl fmt::Display for Cents {
    /// Written in one piece: `write!` of a sign, the yuan and the cents
    /// was about 1.6 % of a run's instructions, every amount of the
    /// household reports (issue #7).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 100, (abs % 100) as u8);
        // A sign, at most 18 digits of yuan, a point and two decimals.
        let mut text = [0u8; 24];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            text[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        if self.0 < 0 {
            put(b"-");
        }
        put(itoa::Buffer::new().format(whole).as_bytes());
        if frac != 0 {
            put(&[b'.', b'0' + frac / 10]);
            if frac % 10 != 0 {
                put(&[b'0' + frac % 10]);
            }
        }
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
}

/// An amount as a roll row holds it: 4 bytes, where [`Cents`] takes 8
/// (issue #7: a 低保 row holds two amounts, a poor row one, Q-1's rows
/// one each; 38 M rows a quarter at 10 M households). Every amount from
/// −10,737,418.24 to 21,474,836.47 元 (far past any benefit or income on
/// a roll) is held in the word itself; a larger one, as a damaged cell
/// may hold, is kept once for the run in a table apart and the word holds
/// its place there, so that no amount is changed or refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackedCents(i32);

/// Words from this up hold their amount; below it, a place in [`LARGE`].
const FIRST_HELD: i32 = -(1 << 30);

/// Amounts past a word's, each once, and their places (see
/// [`PackedCents`]). It only grows, as the shared texts' table does.
static LARGE: std::sync::Mutex<Large> = std::sync::Mutex::new(Large {
    amounts: Vec::new(),
    places: std::collections::HashMap::with_hasher(rustc_hash::FxBuildHasher),
});

struct Large {
    amounts: Vec<i64>,
    places: std::collections::HashMap<i64, u32, rustc_hash::FxBuildHasher>,
}

fn large() -> std::sync::MutexGuard<'static, Large> {
    // An insert leaves the table whole at every step but the last, which
    // cannot panic: a poisoned lock is taken as it is.
    LARGE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PackedCents {
    pub fn new(amount: Cents) -> PackedCents {
        match i32::try_from(amount.0) {
            Ok(held) if held >= FIRST_HELD => PackedCents(held),
            _ => {
                let mut large = large();
                let Large { amounts, places } = &mut *large;
                let place = *places.entry(amount.0).or_insert_with(|| {
                    amounts.push(amount.0);
                    // 2^30 distinct amounts past ten million 元 would take
                    // more memory than the rows that held them.
                    u32::try_from(amounts.len() - 1)
                        .ok()
                        .filter(|&p| p < 1 << 30)
                        .expect("fewer than 2^30 distinct large amounts")
                });
                PackedCents(i32::MIN + place as i32)
            }
        }
    }

    pub fn get(self) -> Cents {
        if self.0 >= FIRST_HELD {
            Cents(i64::from(self.0))
        } else {
            // A place is only made by `new`, which filled it first.
            let place = (i64::from(self.0) - i64::from(i32::MIN)) as usize;
            Cents(large().amounts[place])
        }
    }
}

impl From<Cents> for PackedCents {
    fn from(amount: Cents) -> PackedCents {
        PackedCents::new(amount)
    }
}

impl fmt::Debug for PackedCents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_amounts_read_back_whatever_their_size() {
        for amount in [
            0,
            1,
            -1,
            286_000,
            i64::from(FIRST_HELD),
            i64::from(FIRST_HELD) - 1,
            i64::from(i32::MAX),
            i64::from(i32::MAX) + 1,
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
            123_456_789_012,
        ] {
            let packed = PackedCents::new(Cents(amount));
            assert_eq!(packed.get(), Cents(amount), "{amount}");
            // The same amount is the same word, held or kept apart.
            assert_eq!(packed, PackedCents::new(Cents(amount)));
        }
        assert_ne!(
            PackedCents::new(Cents(i64::MAX)),
            PackedCents::new(Cents(i64::MAX - 1))
        );
        assert_eq!(std::mem::size_of::<PackedCents>(), 4);
    }

    #[test]
    fn parses_plain_and_grouped_decimals() {
        assert_eq!(Cents::parse("1200"), Some(Cents(120_000)));
        assert_eq!(Cents::parse("1,200"), Some(Cents(120_000)));
        assert_eq!(Cents::parse("1,200.5"), Some(Cents(120_050)));
        assert_eq!(Cents::parse("0.125"), Some(Cents(13)));
        assert_eq!(Cents::parse(".5"), Some(Cents(50)));
        assert_eq!(Cents::parse("-3"), Some(Cents(-300)));
        for bad in ["", "abc", "1,20", "12,00,000", "1.2.3", "1e3", ".", "1 200"] {
            assert_eq!(Cents::parse(bad), None, "{bad}");
        }
    }

    fn written_by_format(c: Cents) -> String {
        let sign = if c.0 < 0 { "-" } else { "" };
        let abs = c.0.unsigned_abs();
        let (whole, frac) = (abs / 100, abs % 100);
        match frac {
            0 => format!("{sign}{whole}"),
            f10 if f10 % 10 == 0 => format!("{sign}{whole}.{}", f10 / 10),
            _ => format!("{sign}{whole}.{frac:02}"),
        }
    }

    proptest::proptest! {
        /// The one-pass reading gives what the general one gives, for
        /// every text it takes.
        #[test]
        fn plain_amounts_read_as_the_general_reading_reads_them(
            text in "[0-9]{0,17}(\\.[0-9]{0,3})?|[-+ 0-9.,]{0,12}"
        ) {
            if let Some(plain) = Cents::parse_plain(text.as_bytes()) {
                proptest::prop_assert_eq!(Some(plain), Cents::parse_any(&text));
            }
            proptest::prop_assert_eq!(Cents::parse(&text), Cents::parse_any(&text));
        }

        #[test]
        fn amounts_are_written_as_format_writes_them(cents in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(Cents(cents).to_string(), written_by_format(Cents(cents)));
        }
    }

    #[test]
    fn displays_without_trailing_zeros() {
        assert_eq!(Cents(286_000).to_string(), "2860");
        assert_eq!(Cents(286_050).to_string(), "2860.5");
        assert_eq!(Cents(286_025).to_string(), "2860.25");
        assert_eq!(Cents(-5).to_string(), "-0.05");
    }
}
