//! A flag's definition and a raised flag (contract §4).
//!
//! Each definition lives once, in the module of its family under
//! `checks/` (or in `dynamics`); [`crate::checks::CATALOG`] lists them all,
//! and `rollmatch flags` and the analyst guide print that same list.

use crate::model::{Region, ShortText, Text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Mismatch,
    Quality,
    Movement,
    Risk,
    Audit,
    Policy,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Mismatch,
        Kind::Quality,
        Kind::Movement,
        Kind::Risk,
        Kind::Audit,
        Kind::Policy,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::Mismatch => "mismatch",
            Kind::Quality => "quality",
            Kind::Movement => "movement",
            Kind::Risk => "risk",
            Kind::Audit => "audit",
            Kind::Policy => "policy",
        }
    }
}

/// Severity, ordered high first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

/// What a flag is: stable code, Chinese label, kind, severity, the unit it
/// is raised on, the rule, and why it matters.
#[derive(Debug, PartialEq, Eq)]
pub struct FlagDef {
    pub code: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub severity: Severity,
    /// The unit and key, in words.
    pub unit: &'static str,
    /// When it fires (the contract's rule).
    pub rule: &'static str,
    /// Why the bureau cares.
    pub why: &'static str,
    /// A detail sentence as it appears in the report.
    pub example: &'static str,
}

/// [`Flag::poor_household`] of a flag not placed in Q's poor roll.
pub const NOT_PLACED: u32 = u32::MAX;

/// One raised flag: a row of `flags.csv`. `person_id` is the whole number
/// here; masking happens when the report is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub def: &'static FlagDef,
    /// Where: the county, township and village codes are read off it (one
    /// code, not three copies, in every flag).
    pub region: Region,
    /// 16 bytes each (see [`ShortText`]): a household number and a name
    /// fit inline; the ID number (18 characters) does in a `Text`.
    pub dibao_household_id: ShortText,
    pub poor_household_id: ShortText,
    /// The place of that household in Q's poor roll, when the flag was
    /// raised on it there ([`Flag::poor_at`]); [`NOT_PLACED`] otherwise
    /// (a household named by its number alone, or one of Q-1's). The score
    /// stage reads a household's codes by this place instead of looking
    /// every flag's number up (issue #7); it fits in the flag's padding.
    pub poor_household: u32,
    pub person_id: Text,
    pub name: ShortText,
    /// Exactly as long as its text: a formatted `String` kept the spare
    /// capacity of its growth, and a run holds millions of flags.
    pub detail: Box<str>,
}

impl Flag {
    pub fn new(def: &'static FlagDef) -> Flag {
        Flag {
            def,
            region: Region::default(),
            dibao_household_id: ShortText::default(),
            poor_household_id: ShortText::default(),
            poor_household: NOT_PLACED,
            person_id: Text::default(),
            name: ShortText::default(),
            detail: Box::default(),
        }
    }

    pub fn at(mut self, region: &Region) -> Flag {
        self.region = *region;
        self
    }

    /// A flag on a whole county.
    pub fn in_county(mut self, county: &str) -> Flag {
        self.region = Region::new(county);
        self
    }

    pub fn dibao(mut self, household_id: &str) -> Flag {
        self.dibao_household_id = household_id.into();
        self
    }

    pub fn poor(mut self, household_id: &str) -> Flag {
        self.poor_household_id = household_id.into();
        self.poor_household = NOT_PLACED;
        self
    }

    /// On household `h` of Q's poor roll, whose number is `household_id`.
    pub fn poor_at(mut self, household_id: &str, h: usize) -> Flag {
        self.poor_household_id = household_id.into();
        self.poor_household = u32::try_from(h).unwrap_or(NOT_PLACED);
        self
    }

    pub fn person(mut self, id: &str, name: &str) -> Flag {
        self.person_id = id.into();
        self.name = name.into();
        self
    }

    pub fn named(mut self, name: &str) -> Flag {
        self.name = name.into();
        self
    }

    pub fn detail(mut self, detail: String) -> Flag {
        self.detail = detail.into_boxed_str();
        self
    }
}

/// The flag lists of the checks as one vector of exactly their length,
/// in list order. Each list is freed as soon as it is moved, so the flags
/// are held about once, not twice as a concatenation holds them.
pub fn join(lists: Vec<Vec<Flag>>) -> Vec<Flag> {
    let mut all = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    for list in lists {
        all.extend(list);
    }
    all
}

/// The contract's order: severity (high first), flag, county_code,
/// poor_household_id, dibao_household_id, person_id — the person ID as
/// written (masked or not), the whole number breaking ties — then every
/// other field, so that the order is total and the same on every run.
///
/// Sorted in place: a stable sort, or a sort of (key, flag) pairs, held
/// the flags twice, and that was a run's peak memory (issue #7). The
/// masked ID is computed only for the few comparisons that reach it; an
/// ID number's masked form fits in 24 bytes and so does not allocate.
pub fn sort_flags(flags: &mut [Flag], mask: bool) {
    use rayon::prelude::*;
    use std::cmp::Ordering;
    let written = |id: &str| {
        if mask {
            crate::identity::mask_id(id)
        } else {
            Text::default()
        }
    };
    // Flags compared in a sort mostly share their definition: one
    // definition has one severity and one code, so those are compared
    // only when the definitions differ (the code's text was compared
    // every time). Counties are compared as ranks (see [`CountyRanks`]).
    // The sort of 12 M flags at 10 M households took 15.0–16.3 CPU-s
    // before and 13.4 after the first; issue #7.
    let counties = CountyRanks::of_flags(flags);
    flags.par_sort_unstable_by(|a, b| {
        let same_def = std::ptr::eq(a.def, b.def);
        let by_def = || {
            a.def
                .severity
                .cmp(&b.def.severity)
                .then_with(|| a.def.code.cmp(b.def.code))
        };
        (if same_def { Ordering::Equal } else { by_def() })
            .then_with(|| counties.rank(a.region).cmp(&counties.rank(b.region)))
            .then_with(|| a.poor_household_id.cmp(&b.poor_household_id))
            .then_with(|| a.dibao_household_id.cmp(&b.dibao_household_id))
            .then_with(|| written(&a.person_id).cmp(&written(&b.person_id)))
            .then_with(|| a.person_id.cmp(&b.person_id))
            .then_with(|| a.detail.cmp(&b.detail))
            .then_with(|| a.region.cmp(&b.region))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// The county of each flag's region as its rank in county order, by
/// region handle: the sort compares two numbers where it looked both
/// codes up in the run's table of shared texts, which at 600,000 villages
/// (the national world) missed the cache at nearly every lookup (the
/// sort of its 12 M flags took 19.6 s at 10 M households; issue #7).
struct CountyRanks(Vec<u32>);

impl CountyRanks {
    fn of_flags(flags: &[Flag]) -> CountyRanks {
        use rayon::prelude::*;
        let mut regions: Vec<Region> = flags.par_iter().map(|f| f.region).collect();
        regions.par_sort_unstable_by_key(|r| r.shared().index());
        regions.dedup();
        regions.par_sort_unstable_by(|a, b| a.county().cmp(b.county()));
        let handles = regions.iter().map(|r| r.shared().index() + 1).max();
        let mut rank = vec![0; handles.unwrap_or(0)];
        let mut current = 0;
        for (i, region) in regions.iter().enumerate() {
            if i > 0 && regions[i - 1].county() != region.county() {
                current += 1;
            }
            rank[region.shared().index()] = current;
        }
        CountyRanks(rank)
    }

    /// The rank of `region`'s county; `region` is a flag's of those the
    /// ranks were made of.
    fn rank(&self, region: Region) -> u32 {
        self.0.get(region.shared().index()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_sort_by_county_text_whatever_the_order_regions_were_shared_in() {
        // Codes shared in the reverse of their counties' order, several
        // villages to a county, and two definitions.
        let codes = [
            "990009001001",
            "990009001002",
            "990005002001",
            "990005",
            "99000",
            "990001003001",
            "990001003002",
        ];
        let defs = [crate::checks::CATALOG[0], crate::checks::CATALOG[3]];
        let mut flags: Vec<Flag> = Vec::new();
        for i in 0..140usize {
            let region = Region::new(codes[i * 5 % codes.len()]);
            flags.push(
                Flag::new(defs[i % 2])
                    .at(&region)
                    .poor(&format!("P{:03}", i * 37 % 101))
                    .detail(format!("{i}")),
            );
        }
        let mut expected = flags.clone();
        expected.sort_by(|a, b| {
            a.def
                .severity
                .cmp(&b.def.severity)
                .then_with(|| a.def.code.cmp(b.def.code))
                .then_with(|| a.region.county().cmp(b.region.county()))
                .then_with(|| a.poor_household_id.cmp(&b.poor_household_id))
                .then_with(|| a.detail.cmp(&b.detail))
        });
        sort_flags(&mut flags, true);
        let key = |f: &Flag| (f.def.code, f.region.as_str(), f.detail.to_string());
        assert_eq!(
            flags.iter().map(key).collect::<Vec<_>>(),
            expected.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn joined_lists_keep_their_order_in_a_vector_of_their_exact_length() {
        let list = |n: usize, tag: &str| -> Vec<Flag> {
            (0..n)
                .map(|i| Flag::new(crate::checks::CATALOG[0]).detail(format!("{tag}{i}")))
                .collect()
        };
        // Spare capacity in the lists must not carry over.
        let mut first = Vec::with_capacity(100);
        first.extend(list(3, "a"));
        let all = join(vec![first, Vec::new(), list(2, "b"), list(1, "c")]);
        let details: Vec<&str> = all.iter().map(|f| &*f.detail).collect();
        assert_eq!(details, ["a0", "a1", "a2", "b0", "b1", "c0"]);
        assert_eq!(all.capacity(), all.len());
        assert!(join(Vec::new()).is_empty());
    }
}
