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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 100, abs % 100);
        match frac {
            0 => write!(f, "{sign}{whole}"),
            f10 if f10 % 10 == 0 => write!(f, "{sign}{whole}.{}", f10 / 10),
            _ => write!(f, "{sign}{whole}.{frac:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn displays_without_trailing_zeros() {
        assert_eq!(Cents(286_000).to_string(), "2860");
        assert_eq!(Cents(286_050).to_string(), "2860.5");
        assert_eq!(Cents(286_025).to_string(), "2860.25");
        assert_eq!(Cents(-5).to_string(), "-0.05");
    }
}
