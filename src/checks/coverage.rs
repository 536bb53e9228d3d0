//! Coverage mismatches between the rolls: 应保未保, 应扶未扶, a poor
//! household's 低保 attribute that the 低保 roll contradicts, and linked
//! households whose members differ.

use crate::flags::{Flag, FlagDef, Kind, Severity};
use crate::model::{Household, Households, MemberRows};
use crate::rowlists::RowLists;

use super::{QuarterData, in_stretches};

/// What it finds: a poor household still in poverty (未脱贫 or 返贫) that
/// no 低保 household shares a member with, although its income is below
/// its county's 低保 standard.
/// Why it matters: 应保尽保 — the household qualifies for 低保 by income
/// and is not covered.
pub static SHOULD_COVER: FlagDef = FlagDef {
    code: "should_cover",
    label: "应保未保",
    kind: Kind::Mismatch,
    severity: Severity::High,
    unit: "建档立卡户 (poor_household_id)",
    rule: "贫困户状态为未脱贫或返贫,未与任何低保户关联,人均纯收入低于本县低保标准",
    why: "收入已低于低保标准却未纳入低保,是应保尽保的缺口。",
    example: "人均纯收入 2860 元 低于本县低保标准 3450 元,且未纳入低保",
};

/// What it finds: a 低保 household no poor household shares a member with,
/// whose income (monthly × 12) is below the poverty line.
/// Why it matters: 应扶尽扶 — the family is poorer than the line and gets
/// no poverty-alleviation support.
pub static SHOULD_SUPPORT: FlagDef = FlagDef {
    code: "should_support",
    label: "应扶未扶",
    kind: Kind::Mismatch,
    severity: Severity::High,
    unit: "低保户 (dibao_household_id)",
    rule: "未与任何建档立卡户关联,家庭月人均收入×12 低于当年脱贫线",
    why: "收入低于脱贫线却不在建档立卡名册,是应扶尽扶的缺口。",
    example: "年人均收入 2400 元(月人均 200 元×12)低于脱贫线 3208 元,且不在建档立卡名册",
};

/// What it finds: a 低保贫困户 that is not linked to any 低保 household, or
/// a 一般贫困户 that is.
/// Why it matters: the household attribute drives which policies apply;
/// it must agree with the 低保 roll.
pub static ATTR_MISMATCH: FlagDef = FlagDef {
    code: "attr_mismatch",
    label: "贫困户属性与低保不符",
    kind: Kind::Mismatch,
    severity: Severity::Medium,
    unit: "建档立卡户 (poor_household_id)",
    rule: "贫困户属性为低保贫困户但未与低保户关联;或为一般贫困户但已与低保户关联",
    why: "贫困户属性决定适用政策,须与低保名册一致。",
    example: "贫困户属性为低保贫困户,但低保名册中没有该户成员",
};

/// What it finds: a poor household and a 低保 household that share a
/// person but not all their members.
/// Why it matters: the two systems disagree on who lives in the family;
/// one roll is out of date.
pub static MEMBER_MISMATCH: FlagDef = FlagDef {
    code: "member_mismatch",
    label: "两册家庭成员不一致",
    kind: Kind::Mismatch,
    severity: Severity::Low,
    unit: "建档立卡户 + 关联的低保户 (poor_household_id, dibao_household_id)",
    rule: "两户已关联,且一户的某个成员不是另一户的成员",
    why: "两个系统对家庭成员的记录不一致,说明有一方名册未及时更新。",
    example: "建档立卡户 4 人、低保户 3 人,两册共有 3 人;建档立卡户另有 1 人不在该低保户",
};

/// Lists of each kind (poor households, 低保 households, linked pairs) a
/// core checks, so that one core takes over when the other is held.
const LISTS_PER_CORE: usize = 8;

/// The coverage flags: the poor households, then the 低保 households,
/// then the linked pairs, each cut into stretches that make a list each,
/// checked on whichever core is free.
///
/// Why in stretches: this family ran on one core while the other
/// families shared the other, and at 1 M households it ended 0.13 s after
/// them, the flag stage's last step, with one core idle (issue #7). Their
/// order within the lists does not matter: [`crate::flag_order::sorted`]
/// puts every flag in the contract's order. A few long stretches, not
/// many short ones: the sort counts and moves the flags list by list, a
/// table of every bucket for each list (a list of every 16,384
/// households would be about 1,000 lists more at 10 M households).
pub fn check(q: &QuarterData) -> Vec<Vec<Flag>> {
    check_in_stretches(q, rayon::current_num_threads() * LISTS_PER_CORE)
}

/// The flags in at most `lists` lists of each kind.
fn check_in_stretches(q: &QuarterData, lists: usize) -> Vec<Vec<Flag>> {
    let per_list = |count: usize| count.div_ceil(lists.max(1));
    let (poor, (dibao, links)) = rayon::join(
        || {
            let households = &q.poor.households;
            in_stretches(households, per_list(households.len()), |h, hh, out| {
                poor_household(q, h, hh, out)
            })
        },
        || {
            rayon::join(
                || {
                    let households = &q.dibao.households;
                    in_stretches(households, per_list(households.len()), |h, hh, out| {
                        dibao_household(q, h, hh, out)
                    })
                },
                || {
                    let links = &q.matching.links;
                    in_stretches(links, per_list(links.len()), |_, &(dh, ph), out| {
                        linked_pair(q, dh as usize, ph as usize, out)
                    })
                },
            )
        },
    );
    poor.into_iter()
        .chain(dibao)
        .chain(links)
        .filter(|list| !list.is_empty())
        .collect()
}

/// 应保未保 and the household attribute, for poor household `h`.
fn poor_household(q: &QuarterData, h: usize, hh: &Household, out: &mut Vec<Flag>) {
    let head = q.poor.head(hh);
    let linked = q.has_dibao(h);
    // The standard only where it can matter: a county's code, looked up
    // at every household, missed the cache at nearly every lookup among a
    // nation's 600,000 village codes (issue #7).
    if head.status.is_poor() && !linked {
        let std = q.job.policy.standard(head.member.region.county());
        if head.annual_income.get() < std {
            out.push(q.poor_flag(&SHOULD_COVER, h).detail(format!(
                "人均纯收入 {} 元 低于本县低保标准 {} 元,且未纳入低保",
                head.annual_income.get(),
                std
            )));
        }
    }
    use crate::model::HouseholdType::*;
    match (head.household_type, linked) {
        (Dibao, false) => out.push(
            q.poor_flag(&ATTR_MISMATCH, h)
                .detail("贫困户属性为低保贫困户,但低保名册中没有该户成员".into()),
        ),
        (General, true) => {
            let ids = linked_dibao_ids(q, h);
            out.push(q.poor_flag(&ATTR_MISMATCH, h).detail(format!(
                "贫困户属性为一般贫困户,但该户成员在低保名册中(低保户编号 {ids})"
            )))
        }
        _ => {}
    }
}

/// 应扶未扶, for 低保 household `h`.
fn dibao_household(q: &QuarterData, h: usize, hh: &Household, out: &mut Vec<Flag>) {
    let line = q.job.policy.poverty_line;
    let income = q.dibao.annual_income(hh);
    if q.matching.dibao_linked.get(h).is_empty() && income < line {
        out.push(q.dibao_flag(&SHOULD_SUPPORT, h).detail(format!(
            "年人均收入 {} 元(月人均 {} 元×12)低于脱贫线 {} 元,且不在建档立卡名册",
            income,
            q.dibao.head(hh).monthly_income.get(),
            line
        )));
    }
}

/// Members that 低保 household `dh` and poor household `ph`, linked, do
/// not share.
fn linked_pair(q: &QuarterData, dh: usize, ph: usize, out: &mut Vec<Flag>) {
    let d_rows = q.dibao.households.members(&q.dibao.households[dh]);
    let p_rows = q.poor.households.members(&q.poor.households[ph]);
    let shared_by_poor = members_in(
        p_rows.clone(),
        &q.matching.poor_partner,
        &q.dibao.households,
        dh,
    );
    let shared_by_dibao = members_in(
        d_rows.clone(),
        &q.matching.dibao_partner,
        &q.poor.households,
        ph,
    );
    let poor_only = p_rows.len() - shared_by_poor;
    let dibao_only = d_rows.len() - shared_by_dibao;
    if poor_only > 0 || dibao_only > 0 {
        out.push(q.poor_flag(&MEMBER_MISMATCH, ph).dibao(&q.dibao.households[dh].id).detail(format!(
            "建档立卡户 {} 人、低保户 {} 人,两册共有 {} 人;建档立卡户另有 {} 人不在该低保户,低保户另有 {} 人不在该建档立卡户",
            p_rows.len(),
            d_rows.len(),
            shared_by_poor,
            poor_only,
            dibao_only
        )));
    }
}

/// How many of one household's member rows `rows` have a partner among
/// the members of household `other` of the other roll, whose households
/// are `other_roll`.
fn members_in(
    rows: MemberRows,
    partners: &RowLists,
    other_roll: &Households,
    other: usize,
) -> usize {
    rows.filter(|&row| {
        partners
            .get(row)
            .iter()
            .any(|&partner| other_roll.index_of_row(partner as usize) == other)
    })
    .count()
}

/// The `;`-joined ids of the 低保 households linked to poor household `h`,
/// sorted.
pub fn linked_dibao_ids(q: &QuarterData, h: usize) -> crate::model::Text {
    let id = |d: u32| q.dibao.households[d as usize].id.as_str();
    match q.matching.poor_linked.get(h) {
        // One linked household, by far the most: its number as it is,
        // with no list and no joined string made and freed (issue #7).
        &[d] => id(d).into(),
        linked => {
            let mut ids: Vec<&str> = linked.iter().map(|&d| id(d)).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.join(";").into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many lists the households and pairs are cut into, the
    /// flags are the same, in the same order (the bundled fixtures).
    #[test]
    fn coverage_flags_do_not_depend_on_the_stretches() {
        let fixture = crate::checks::FixtureQuarter::read();
        let q = fixture.data();
        let whole: Vec<Flag> = check_in_stretches(&q, 1).into_iter().flatten().collect();
        let codes = |code: &str| whole.iter().filter(|f| f.def.code == code).count();
        for def in [
            &SHOULD_COVER,
            &SHOULD_SUPPORT,
            &ATTR_MISMATCH,
            &MEMBER_MISMATCH,
        ] {
            assert!(codes(def.code) > 0, "no {} flag in the fixtures", def.code);
        }
        assert!(check_in_stretches(&q, 1).len() <= 3);
        for lists in [2, 7, 1000, usize::MAX] {
            let made = check_in_stretches(&q, lists);
            assert!(made.iter().all(|list| !list.is_empty()));
            let flags: Vec<Flag> = made.into_iter().flatten().collect();
            assert_eq!(flags, whole, "{lists}");
        }
    }
}
