//! The risk score of every poor household (contract §4): the sum of the
//! weights of its risk flags and of `relapse`, capped at 100, and its tier.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::checks::QuarterData;
use crate::checks::coverage::linked_dibao_ids;
use crate::flags::Flag;
use crate::job::RiskWeights;
use crate::model::{HouseholdType, Status, zh};
use crate::model::{Region, Text};
use crate::money::Cents;

/// One row of `households.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct HouseholdRow {
    pub poor_household_id: Text,
    /// The head's region: county, township and village codes are read
    /// off it.
    pub region: Region,
    pub status: &'static str,
    pub household_type: &'static str,
    pub members: u32,
    pub annual_income: Cents,
    pub dibao_household_ids: Text,
    /// `;`-joined flag codes, sorted.
    pub flags: Text,
    pub score: u32,
    pub tier: &'static str,
}

pub fn tier(score: u32) -> &'static str {
    match score {
        60.. => "高",
        30.. => "中",
        _ => "低",
    }
}

/// The score of a household from the set of its flag codes.
pub fn score<'a>(codes: impl IntoIterator<Item = &'a str>, weights: &RiskWeights) -> u32 {
    let sum: u32 = codes.into_iter().filter_map(|c| weights.weight(c)).sum();
    sum.min(100)
}

/// One row per poor household, sorted by score descending then id.
pub fn household_rows(q: &QuarterData, flags: &[Flag]) -> Vec<HouseholdRow> {
    let mut codes: FxHashMap<&str, Vec<&'static str>> = FxHashMap::default();
    for f in flags {
        if !f.poor_household_id.is_empty() {
            codes
                .entry(f.poor_household_id.as_str())
                .or_default()
                .push(f.def.code);
        }
    }
    // Each household's codes once, in code order (as the set gave them).
    codes.par_iter_mut().for_each(|(_, c)| {
        c.sort_unstable();
        c.dedup();
    });
    let empty = Vec::new();
    let mut rows: Vec<HouseholdRow> = q
        .poor
        .households
        .par_iter()
        .enumerate()
        .map(|(h, hh)| {
            let head = q.poor.head(hh);
            let own = codes.get(hh.id.as_str()).unwrap_or(&empty);
            let score = score(own.iter().copied(), &q.job.weights);
            HouseholdRow {
                poor_household_id: hh.id.clone(),
                region: head.member.region,
                status: zh(&Status::ALL, head.status),
                household_type: zh(&HouseholdType::ALL, head.household_type),
                members: hh.member_count() as u32,
                annual_income: head.annual_income,
                dibao_household_ids: linked_dibao_ids(q, h).into(),
                flags: own.join(";").into(),
                score,
                tier: tier(score),
            }
        })
        .collect();
    rows.par_sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.poor_household_id.cmp(&b.poor_household_id))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_weights_sum_and_cap() {
        let w = RiskWeights(
            RiskWeights::SCORED
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        );
        assert_eq!(score(["unstable_exit", "income_drop"], &w), 55);
        assert_eq!(score(["should_cover", "member_mismatch"], &w), 0);
        assert_eq!(
            score(["relapse", "unstable_exit", "income_drop", "no_labor"], &w),
            100
        );
        assert_eq!(
            (tier(60), tier(59), tier(30), tier(29)),
            ("高", "中", "中", "低")
        );
    }
}
