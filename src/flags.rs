//! A flag's definition and a raised flag (contract §4).
//!
//! Each definition lives once, in the module of its family under
//! `checks/` (or in `dynamics`); [`crate::checks::CATALOG`] lists them all,
//! and `rollmatch flags` and the analyst guide print that same list.

use crate::detail_text::Detail;
use crate::model::{Name, Region, ShortText};
use crate::short_text::SparseText;

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

/// [`Flag::poor_household`] of a flag on a household of Q-1's poor roll
/// that is not on Q's ([`Flag::poor_of_previous`]): no Q household has
/// its number, so the score stage passes it by.
pub const PREVIOUS_ONLY: u32 = u32::MAX - 1;

/// One raised flag: a row of `flags.csv`. `person_id` is the whole number
/// here; masking happens when the report is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub def: &'static FlagDef,
    /// Where: the county, township and village codes are read off it (one
    /// code, not three copies, in every flag).
    pub region: Region,
    /// 16 bytes each (see [`ShortText`]): a household number fits inline.
    pub dibao_household_id: ShortText,
    pub poor_household_id: ShortText,
    /// The place of that household in Q's poor roll, when the flag was
    /// raised on it there ([`Flag::poor_at`]); [`PREVIOUS_ONLY`] for a
    /// household of Q-1's only; [`NOT_PLACED`] otherwise (a household
    /// named by its number alone). The score stage reads a household's
    /// codes by this place instead of looking every flag's number up
    /// (issue #7); it fits in the flag's padding.
    pub poor_household: u32,
    pub person_id: SparseText,
    /// 8 bytes (see [`Name`]; as a [`ShortText`] the flag was 80 bytes,
    /// not 72: 92 MB at 10 M households, held from the flags to the
    /// reports; issue #7).
    pub name: Name,
    /// A handle into the run's table of sentences (4 bytes, in the flag's
    /// padding): few of the millions of flags have a sentence of their own.
    pub detail: Detail,
}

impl Flag {
    pub fn new(def: &'static FlagDef) -> Flag {
        Flag {
            def,
            region: Region::default(),
            dibao_household_id: ShortText::default(),
            poor_household_id: ShortText::default(),
            poor_household: NOT_PLACED,
            person_id: SparseText::default(),
            name: Name::default(),
            detail: Detail::default(),
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

    /// On a household of Q-1's poor roll that is not on Q's.
    pub fn poor_of_previous(mut self, household_id: &str) -> Flag {
        self.poor_household_id = household_id.into();
        self.poor_household = PREVIOUS_ONLY;
        self
    }

    /// On household `h` of Q's poor roll, whose number is `household_id`.
    pub fn poor_at(mut self, household_id: &str, h: usize) -> Flag {
        self.poor_household_id = household_id.into();
        self.poor_household = u32::try_from(h).unwrap_or(NOT_PLACED);
        self
    }

    /// The person's number and name. A roll's [`Name`] is taken as it is;
    /// a text is packed as a roll's names are.
    pub fn person(mut self, id: &str, name: impl Into<Name>) -> Flag {
        self.person_id = id.into();
        self.name = name.into();
        self
    }

    pub fn named(mut self, name: impl Into<Name>) -> Flag {
        self.name = name.into();
        self
    }

    pub fn detail(mut self, detail: String) -> Flag {
        self.detail = Detail::new(&detail);
        self
    }
}
