//! Relapse-risk flags of quarter Q (返贫风险): households that left
//! poverty on thin ground, or that lack the three guarantees.
//! `income_drop` needs Q-1 and lives in `dynamics`.

use rayon::prelude::*;

use crate::flags::{Flag, FlagDef, Kind, Severity};
use crate::model::{Health, Household, OUT_OF_SCHOOL};
use crate::vocab::Shared;

use super::QuarterData;

/// What it finds: an exited household (已脱贫) whose income is below the
/// monitoring line (poverty line × monitoring_multiplier).
/// Why it matters: it left poverty by a small margin and may fall back.
pub static UNSTABLE_EXIT: FlagDef = FlagDef {
    code: "unstable_exit",
    label: "脱贫不稳定",
    kind: Kind::Risk,
    severity: Severity::High,
    unit: "建档立卡户 (poor_household_id)",
    rule: "贫困户状态为已脱贫,人均纯收入低于监测线(脱贫线×监测倍数)",
    why: "脱贫户收入仅略高于脱贫线,稍有变故即可能返贫。",
    example: "已脱贫,人均纯收入 4000 元 低于监测线 4812 元",
};

/// What it finds: a 低保 household not on the poor roll whose income is at
/// or above the poverty line but below the monitoring line.
/// Why it matters: 边缘易致贫户 — not poor on paper, one shock away.
pub static EDGE_POVERTY: FlagDef = FlagDef {
    code: "edge_poverty",
    label: "边缘易致贫",
    kind: Kind::Risk,
    severity: Severity::Medium,
    unit: "低保户 (dibao_household_id)",
    rule: "未与任何建档立卡户关联,脱贫线 ≤ 年人均收入 < 监测线",
    why: "收入刚过脱贫线且不在建档立卡名册,属边缘易致贫户,应纳入监测。",
    example: "年人均收入 3600 元,介于脱贫线 3208 元与监测线 4812 元之间,且不在建档立卡名册",
};

/// What it finds: an exited household with a member seriously ill or
/// disabled that has no 低保.
/// Why it matters: illness and disability are the commonest causes of
/// relapse; without 低保 nothing catches the family.
pub static ILLNESS_DISABILITY: FlagDef = FlagDef {
    code: "illness_disability",
    label: "因病因残返贫风险",
    kind: Kind::Risk,
    severity: Severity::Medium,
    unit: "建档立卡户 (poor_household_id)",
    rule: "贫困户状态为已脱贫,有成员患有大病或残疾,且未纳入低保",
    why: "因病因残是返贫的主要原因,未纳入低保则缺少兜底。",
    example: "已脱贫,1 名成员患有大病、1 名成员残疾,未纳入低保",
};

/// What it finds: an exited household with no member able to work
/// (普通劳动力 or 技能劳动力) and no 低保.
/// Why it matters: without labor income or 低保 the family has no floor.
pub static NO_LABOR: FlagDef = FlagDef {
    code: "no_labor",
    label: "缺劳力无兜底",
    kind: Kind::Risk,
    severity: Severity::Medium,
    unit: "建档立卡户 (poor_household_id)",
    rule: "贫困户状态为已脱贫,没有普通劳动力或技能劳动力成员,且未纳入低保",
    why: "家中无劳动力收入又无低保兜底。",
    example: "已脱贫,3 名成员中无普通劳动力或技能劳动力,未纳入低保",
};

/// What it finds: a household with a school-age member (6–15) out of
/// school, a member without basic medical insurance, or unsafe housing or
/// water.
/// Why it matters: 两不愁三保障 — compulsory education, basic medical care
/// and safe housing and water are the guarantees every household must have.
pub static ASSURANCE_GAP: FlagDef = FlagDef {
    code: "assurance_gap",
    label: "三保障缺口",
    kind: Kind::Risk,
    severity: Severity::High,
    unit: "建档立卡户 (poor_household_id)",
    rule: "有 6–15 岁成员失学辍学,或有成员未参加城乡居民基本医疗保险,或住房、饮水不安全(详情列明)",
    why: "义务教育、基本医疗、住房和饮水安全是“三保障”的底线要求。",
    example: "1 名6–15岁成员失学辍学;住房不安全",
};

/// What it finds: a household whose every member is at least
/// `elderly_age` years old (ages from valid ID numbers) and has no 低保.
/// Why it matters: an elderly-only family has no labor and needs a floor.
pub static ELDERLY_ONLY: FlagDef = FlagDef {
    code: "elderly_only",
    label: "老年户无兜底",
    kind: Kind::Risk,
    severity: Severity::Low,
    unit: "建档立卡户 (poor_household_id)",
    rule: "全部成员年龄均不低于 elderly_age(按有效身份证号计算),且未纳入低保",
    why: "纯老年户无劳动能力,未纳入低保则缺少兜底。",
    example: "全部 2 名成员年龄均在 60 岁及以上,未纳入低保",
};

/// Poor households whose risk flags make one list.
const HOUSEHOLDS_PER_LIST: usize = 16_384;

/// The risk flags, in household order: a list for each stretch of
/// [`HOUSEHOLDS_PER_LIST`] poor households, then the 低保 households'.
///
/// The stretches are shared among the workers (one thread walked 10 M
/// households here) and their lists are kept apart: the flags of every
/// household collected into one list (`par_extend`) held the workers'
/// pieces beside the list they were moved into, and [`crate::flag_order::sorted`]
/// moves the flags into one list once anyway (issue #7).
pub fn check(q: &QuarterData) -> Vec<Vec<Flag>> {
    check_in_stretches(q, HOUSEHOLDS_PER_LIST)
}

fn check_in_stretches(q: &QuarterData, households_per_list: usize) -> Vec<Vec<Flag>> {
    let policy = &q.job.policy;
    let line = policy.poverty_line;
    let watch = policy.watch_line();
    let mut lists = super::in_stretches(&q.poor.households, households_per_list, |h, hh, found| {
        poor_household_flags(q, h, hh, found)
    });
    let mut out = Vec::new();
    out.par_extend(
        q.dibao
            .households
            .par_iter()
            .enumerate()
            .filter_map(|(h, hh)| {
                let income = q.dibao.annual_income(hh);
                (q.matching.dibao_linked.get(h).is_empty() && line <= income && income < watch)
                    .then(|| {
                        q.dibao_flag(&EDGE_POVERTY, h).detail(format!(
                            "年人均收入 {income} 元,介于脱贫线 {line} 元与监测线 {watch} 元之间,且不在建档立卡名册"
                        ))
                    })
            }),
    );
    lists.push(out);
    lists
}

/// The risk flags of poor household `h`.
fn poor_household_flags(q: &QuarterData, h: usize, hh: &Household, out: &mut Vec<Flag>) {
    let policy = &q.job.policy;
    let watch = policy.watch_line();
    let end = q.job.quarter.last_day();
    let head = q.poor.head(hh);
    let exited = head.status == crate::model::Status::Exited;
    let has_dibao = q.has_dibao(h);
    // The household's rows, walked again by each check: no list
    // allocated per household.
    let members = q.poor.households.members(hh).map(|r| &q.poor.rows[r]);

    if exited && head.annual_income.get() < watch {
        out.push(q.poor_flag(&UNSTABLE_EXIT, h).detail(format!(
            "已脱贫,人均纯收入 {} 元 低于监测线 {} 元",
            head.annual_income.get(),
            watch
        )));
    }
    if exited && !has_dibao {
        let ill = members
            .clone()
            .filter(|m| m.health() == Health::SeriousIllness)
            .count();
        let disabled = members
            .clone()
            .filter(|m| m.health() == Health::Disabled)
            .count();
        if ill + disabled > 0 {
            let mut parts = Vec::new();
            if ill > 0 {
                parts.push(format!("{ill} 名成员患有大病"));
            }
            if disabled > 0 {
                parts.push(format!("{disabled} 名成员残疾"));
            }
            out.push(
                q.poor_flag(&ILLNESS_DISABILITY, h)
                    .detail(format!("已脱贫,{},未纳入低保", parts.join("、"))),
            );
        }
        if !members.clone().any(|m| m.labor().can_work()) {
            out.push(q.poor_flag(&NO_LABOR, h).detail(format!(
                "已脱贫,{} 名成员中无普通劳动力或技能劳动力,未纳入低保",
                members.len()
            )));
        }
    }

    let out_of_school = members
        .clone()
        .filter(|m| m.schooling.map(Shared::as_str) == Some(OUT_OF_SCHOOL))
        .filter(|m| {
            m.member
                .id
                .birth()
                .is_some_and(|b| (6..=15).contains(&b.age_at(end)))
        })
        .count();
    let uninsured = members.clone().filter(|m| !m.medical_insured()).count();
    let mut gaps = Vec::new();
    if out_of_school > 0 {
        gaps.push(format!("{out_of_school} 名6–15岁成员失学辍学"));
    }
    if uninsured > 0 {
        gaps.push(format!("{uninsured} 名成员未参加城乡居民基本医疗保险"));
    }
    if !head.housing_safe() {
        gaps.push("住房不安全".to_owned());
    }
    if !head.water_safe() {
        gaps.push("饮水不安全".to_owned());
    }
    if !gaps.is_empty() {
        out.push(q.poor_flag(&ASSURANCE_GAP, h).detail(gaps.join(";")));
    }

    let all_elderly = members.clone().all(|m| {
        m.member
            .id
            .birth()
            .is_some_and(|b| b.age_at(end) >= policy.elderly_age)
    });
    if all_elderly && !has_dibao {
        out.push(q.poor_flag(&ELDERLY_ONLY, h).detail(format!(
            "全部 {} 名成员年龄均在 {} 岁及以上,未纳入低保",
            members.len(),
            policy.elderly_age
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many households a list holds, the flags are the same, in
    /// the same order (the bundled fixtures).
    #[test]
    fn risk_flags_do_not_depend_on_the_stretches() {
        let fixture = crate::checks::FixtureQuarter::read();
        let q = fixture.data();
        let whole: Vec<Flag> = check_in_stretches(&q, usize::MAX)
            .into_iter()
            .flatten()
            .collect();
        assert!(whole.len() > 100, "{} risk flags", whole.len());
        for households_per_list in [1, 7, 1000] {
            let lists = check_in_stretches(&q, households_per_list);
            assert_eq!(
                lists.len(),
                q.poor.households.len().div_ceil(households_per_list) + 1
            );
            let flags: Vec<Flag> = lists.into_iter().flatten().collect();
            assert_eq!(flags, whole, "{households_per_list}");
        }
    }
}
