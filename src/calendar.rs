//! Civil dates and quarters: the small calendar the job needs.
//!
//! A hand-written type rather than a date crate because the job needs only
//! three things: validating birth dates inside ID numbers, whole-year ages at
//! a quarter's end, and quarter arithmetic (`2018Q1` − 1 = `2017Q4`).

use std::fmt;
use std::str::FromStr;

/// A proleptic Gregorian date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// A date if `year-month-day` exists in the calendar.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            year,
            month: month as u8,
            day: day as u8,
        })
    }

    /// Whole years from `self` (a birth date) to `at`.
    pub fn age_at(self, at: Date) -> i32 {
        let mut age = at.year - self.year;
        if (at.month, at.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A calendar quarter such as `2018Q3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    /// 1 to 4.
    pub q: u8,
}

impl Quarter {
    pub fn previous(self) -> Quarter {
        if self.q == 1 {
            Quarter {
                year: self.year - 1,
                q: 4,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q - 1,
            }
        }
    }

    pub fn next(self) -> Quarter {
        if self.q == 4 {
            Quarter {
                year: self.year + 1,
                q: 1,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q + 1,
            }
        }
    }

    pub fn first_day(self) -> Date {
        Date {
            year: self.year,
            month: (self.q - 1) * 3 + 1,
            day: 1,
        }
    }

    pub fn last_day(self) -> Date {
        let month = u32::from(self.q) * 3;
        Date {
            year: self.year,
            month: month as u8,
            day: days_in_month(self.year, month) as u8,
        }
    }

    /// The quarter that contains `date`.
    pub fn containing(date: Date) -> Quarter {
        Quarter {
            year: date.year,
            q: (date.month - 1) / 3 + 1,
        }
    }

    /// The last quarter completed before `today`.
    pub fn last_completed_before(today: Date) -> Quarter {
        Quarter::containing(today).previous()
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a quarter is written like 2018Q3 (year, Q, 1 to 4)")]
pub struct QuarterParseError;

impl FromStr for Quarter {
    type Err = QuarterParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (year, q) = s.split_once(['Q', 'q']).ok_or(QuarterParseError)?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(QuarterParseError);
        }
        let year: i32 = year.parse().map_err(|_| QuarterParseError)?;
        let q: u8 = match q {
            "1" => 1,
            "2" => 2,
            "3" => 3,
            "4" => 4,
            _ => return Err(QuarterParseError),
        };
        Ok(Quarter { year, q })
    }
}

/// Today's date in UTC, from the system clock.
pub fn today_utc() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Date::from_days_since_epoch(secs.div_euclid(86_400))
}

/// An RFC 3339 UTC timestamp with milliseconds, for the manifest.
pub fn timestamp_utc(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let date = Date::from_days_since_epoch(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_of_first_quarter_is_last_of_last_year() {
        let q: Quarter = "2018Q1".parse().unwrap();
        assert_eq!(q.previous().to_string(), "2017Q4");
        assert_eq!(q.previous().next(), q);
    }

    #[test]
    fn quarter_bounds() {
        let q: Quarter = "2018Q3".parse().unwrap();
        assert_eq!(q.first_day().to_string(), "2018-07-01");
        assert_eq!(q.last_day().to_string(), "2018-09-30");
        let q: Quarter = "2020Q1".parse().unwrap();
        assert_eq!(q.last_day().to_string(), "2020-03-31");
    }

    #[test]
    fn bad_quarters_are_refused() {
        for s in ["2018Q5", "2018Q0", "18Q1", "2018-3", "", "2018Q"] {
            assert!(s.parse::<Quarter>().is_err(), "{s}");
        }
    }

    #[test]
    fn last_completed_quarter() {
        let today = Date::new(2026, 11, 30).unwrap();
        assert_eq!(Quarter::last_completed_before(today).to_string(), "2026Q3");
        let today = Date::new(2026, 1, 1).unwrap();
        assert_eq!(Quarter::last_completed_before(today).to_string(), "2025Q4");
    }

    #[test]
    fn epoch_days_round_trip() {
        for days in [-800_000, -1, 0, 1, 17_000, 20_000, 2_000_000] {
            let d = Date::from_days_since_epoch(days);
            assert_eq!(d.days_since_epoch(), days);
        }
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
    }

    #[test]
    fn ages_count_whole_years() {
        let birth = Date::new(2000, 9, 30).unwrap();
        assert_eq!(birth.age_at(Date::new(2018, 9, 30).unwrap()), 18);
        assert_eq!(birth.age_at(Date::new(2018, 9, 29).unwrap()), 17);
        assert!(Date::new(2019, 2, 29).is_none());
        assert!(Date::new(2020, 2, 29).is_some());
    }
}
