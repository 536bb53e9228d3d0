//! Audits against outside registers: the dead still enrolled, and public
//! employees drawing 低保. Raised only when the register is given.

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::flags::{Flag, FlagDef, Kind, Severity};
use crate::identity::key_to_string;
use crate::model::{Member, RollKind};

use super::QuarterData;

/// What it finds: a person on either roll whose death (police or household
/// register) is dated before the quarter's first day.
/// Why it matters: benefits paid after death must stop and be recovered.
pub static DECEASED_ENROLLED: FlagDef = FlagDef {
    code: "deceased_enrolled",
    label: "死亡人员仍在册",
    kind: Kind::Audit,
    severity: Severity::High,
    unit: "人员 + 名册 (person_id, 所在名册的户编号)",
    rule: "人员在任一名册中,且死亡人员名单登记的死亡日期早于本季度第一天",
    why: "已死亡人员仍在册领取待遇,须停发并追回。",
    example: "死亡人员名单登记死亡日期 2018-03-02,仍在低保名册中",
};

/// What it finds: a person on the 低保 roll who is on the register of
/// people paid from public funds (财政供养人员).
/// Why it matters: public employees' families are normally not eligible
/// for 低保; each case needs review.
pub static PUBLIC_EMPLOYEE: FlagDef = FlagDef {
    code: "public_employee",
    label: "财政供养人员享受低保",
    kind: Kind::Audit,
    severity: Severity::High,
    unit: "人员 (person_id)",
    rule: "人员在低保名册中,且在财政供养人员名单中",
    why: "财政供养人员家庭原则上不符合低保条件,须逐一核查。",
    example: "财政供养人员名单登记工作单位:某镇卫生院",
};

pub fn check<'a>(q: &QuarterData<'a>, out: &mut Vec<Flag>) {
    if let Some(deaths) = q.deaths {
        let first_day = q.job.quarter.first_day();
        // The earliest registered death of each person key.
        let mut died: HashMap<u64, crate::calendar::Date> = HashMap::default();
        for d in deaths {
            if let Some(k) = d.id.key() {
                died.entry(k)
                    .and_modify(|e| *e = (*e).min(d.death_date))
                    .or_insert(d.death_date);
            }
        }
        for roll in [RollKind::Dibao, RollKind::Poor] {
            // The rows of persons who died before the quarter, found on
            // every core and in file order: the register is small, the
            // rolls are walked once against it (on one thread, and through
            // a list of every row's member, before issue #7).
            let died_before = |(r, m): (usize, &'a Member)| {
                let k = m.id.key()?;
                let &date = died.get(&k)?;
                (date < first_day).then_some((r, m, k, date))
            };
            let found: Vec<(usize, &Member, u64, crate::calendar::Date)> = q
                .members(roll)
                .enumerate()
                .filter_map(died_before)
                .collect();
            // One flag per (person, roll): the first row in file order.
            let mut flagged: HashSet<u64> = HashSet::default();
            for (r, m, k, date) in found {
                if !flagged.insert(k) {
                    continue;
                }
                let flag = Flag::new(&DECEASED_ENROLLED)
                    .at(&m.region)
                    .person(&key_to_string(k), m.name)
                    .detail(format!(
                        "死亡人员名单登记死亡日期 {date},仍在{}中",
                        roll.label()
                    ));
                out.push(match roll {
                    RollKind::Dibao => flag.dibao(q.household_id(roll, r)),
                    RollKind::Poor => q.on_poor_row(flag, r),
                });
            }
        }
    }
    if let Some(employees) = q.employees {
        let mut employers: HashMap<u64, Option<&str>> = HashMap::default();
        for e in employees {
            if let Some(k) = e.id.key() {
                let entry = employers.entry(k).or_insert(None);
                if entry.is_none() {
                    *entry = e.employer.as_deref();
                }
            }
        }
        // The rows of listed persons, found on every core, in file order.
        let found: Vec<(usize, &Member, u64, &Option<&str>)> = q
            .members(RollKind::Dibao)
            .enumerate()
            .filter_map(|(r, m)| {
                let k = m.id.key()?;
                employers.get(&k).map(|e| (r, m, k, e))
            })
            .collect();
        let mut flagged: HashSet<u64> = HashSet::default();
        for (r, m, k, employer) in found {
            if !flagged.insert(k) {
                continue;
            }
            let detail = match employer {
                Some(e) => format!("在财政供养人员名单中(工作单位:{e}),仍在低保名册中"),
                None => "在财政供养人员名单中,仍在低保名册中".to_owned(),
            };
            out.push(
                Flag::new(&PUBLIC_EMPLOYEE)
                    .at(&m.region)
                    .dibao(q.household_id(RollKind::Dibao, r))
                    .person(&key_to_string(k), m.name)
                    .detail(detail),
            );
        }
    }
}
