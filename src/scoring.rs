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
    let households = &q.poor.households;
    let own_codes = |h: usize| codes.get(households[h].id.as_str()).unwrap_or(&empty);
    // Households are put in order by a key, then their rows are made in
    // that order. Sorting the rows themselves moved 100-byte rows through
    // a merge sort and compared numbers as strings: about half of this
    // stage's profile samples at 1 M households (issue #7). The key holds
    // the score and the number's first 16 bytes; the whole numbers decide
    // only between numbers that share those, and numbers are unique in a
    // roll.
    let mut order: Vec<(std::cmp::Reverse<u32>, u128, u32)> = (0..households.len())
        .into_par_iter()
        .map(|h| {
            let score = score(own_codes(h).iter().copied(), &q.job.weights);
            (
                std::cmp::Reverse(score),
                prefix_key(households[h].id.as_str()),
                h as u32,
            )
        })
        .collect();
    order.par_sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| {
                households[a.2 as usize]
                    .id
                    .cmp(&households[b.2 as usize].id)
            })
            .then(a.2.cmp(&b.2))
    });
    order
        .par_iter()
        .map(|&(std::cmp::Reverse(score), _, h)| {
            let h = h as usize;
            let hh = &households[h];
            let head = q.poor.head(hh);
            HouseholdRow {
                poor_household_id: hh.id.as_str().into(),
                region: head.member.region,
                status: zh(&Status::ALL, head.status),
                household_type: zh(&HouseholdType::ALL, head.household_type),
                members: hh.member_count() as u32,
                annual_income: head.annual_income,
                dibao_household_ids: linked_dibao_ids(q, h).into(),
                flags: own_codes(h).join(";").into(),
                score,
                tier: tier(score),
            }
        })
        .collect()
}

/// The first 16 bytes of `text` as a number that orders as the text does
/// (shorter texts padded with zero bytes).
fn prefix_key(text: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = text.len().min(16);
    bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_keys_order_as_the_texts_do() {
        let texts = [
            "",
            "0",
            "00",
            "1",
            "10",
            "410322",
            "4103221001",
            "41032210010001",
            "4103221001000100",
            "41032210010001001",
            "41032210010001002",
            "9",
            "户1",
            "户10",
        ];
        for a in texts {
            for b in texts {
                let (ka, kb) = (prefix_key(a), prefix_key(b));
                if ka != kb {
                    assert_eq!(ka.cmp(&kb), a.cmp(b), "{a} vs {b}");
                } else {
                    // Equal keys: the texts share their first 16 bytes.
                    let head = |t: &str| t.as_bytes()[..t.len().min(16)].to_vec();
                    assert_eq!(head(a), head(b), "{a} vs {b}");
                }
            }
        }
    }

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
