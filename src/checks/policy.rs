//! Policy checks on the job's own figures: a county whose 低保 standard
//! does not stay above the poverty line.

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::flags::{Flag, FlagDef, Kind, Severity};

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

/// The distinct codes among millions of rows (a few hundred counties): a
/// hash set per worker, merged; an ordered set compared every row's code.
fn distinct<'a>(codes: impl ParallelIterator<Item = &'a str>) -> FxHashSet<&'a str> {
    codes
        .fold(FxHashSet::default, |mut set, code| {
            set.insert(code);
            set
        })
        .reduce(FxHashSet::default, |mut a, b| {
            a.extend(b);
            a
        })
}

pub fn check(q: &QuarterData, out: &mut Vec<Flag>) {
    let mut counties = distinct(q.dibao.rows.par_iter().map(|r| r.member.region.county()));
    counties.extend(distinct(
        q.poor.rows.par_iter().map(|r| r.member.region.county()),
    ));
    let mut counties: Vec<&str> = counties.into_iter().collect();
    counties.sort_unstable();
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
