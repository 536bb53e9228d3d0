//! Policy checks on the job's own figures: a county whose 低保 standard
//! does not stay above the poverty line.

use rayon::prelude::*;

use crate::flags::{Flag, FlagDef, Kind, Severity};
use crate::model::distinct_regions;

use super::QuarterData;

/// What it finds: a county on either roll whose annual 低保 standard is at
/// or below the year's poverty line.
/// Why it matters: the plan requires the 低保 standard to stay above the
/// poverty line, so that 低保 alone lifts a family out of poverty.
pub static STANDARD_BELOW_LINE: FlagDef = FlagDef {
    code: "standard_below_line",
    label: "低保标准低于脱贫线",
    kind: Kind::Policy,
    severity: Severity::High,
    unit: "县区 (county_code)",
    rule: "名册中出现的县区,其年低保标准不高于当年脱贫线",
    why: "低保标准应高于脱贫线,才能以低保兜住脱贫底线。",
    example: "本县年低保标准 3000 元,不高于当年脱贫线 3208 元",
};

pub fn check(q: &QuarterData, out: &mut Vec<Flag>) {
    // The rows' distinct regions first, by their handles, and only then
    // their counties: a county's code looked up at every row missed the
    // cache at nearly every row among a nation's 600,000 village codes,
    // 4.3 CPU-s of the national world's run at 10 M households (issue #7).
    let regions = distinct_regions(
        q.dibao
            .rows
            .par_iter()
            .map(|r| r.member.region)
            .chain(q.poor.rows.par_iter().map(|r| r.member.region)),
    );
    let mut counties: Vec<&str> = regions.iter().map(|r| r.county()).collect();
    counties.sort_unstable();
    counties.dedup();
    let line = q.job.policy.poverty_line;
    for county in counties {
        let std = q.job.policy.standard(county);
        if std <= line {
            out.push(
                Flag::new(&STANDARD_BELOW_LINE)
                    .in_county(county)
                    .detail(format!(
                        "本县年低保标准 {std} 元,不高于当年脱贫线 {line} 元"
                    )),
            );
        }
    }
}
