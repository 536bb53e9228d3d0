//! The planted truth: which flags each generated quarter must raise.
//!
//! This is a second reading of the contract's rules, written against the
//! generator's own rows (what it wrote, which numbers it made valid, which
//! typos it planted) rather than against parsed files and the matcher.
//! Where the pipeline and this oracle disagree, one of them misreads the
//! contract or the pipeline misreads the files; the truth test finds both.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::{Health, HouseholdType, Labor, Status, Text};

use super::render::GQuarter;

/// Policy figures of the generated job.
#[derive(Clone, Debug)]
pub struct TruthPolicy {
    pub line: i64,
    pub default_std: i64,
    pub std: BTreeMap<String, i64>,
    pub multiplier: f64,
    pub income_drop_ratio: f64,
    pub benefit_change_ratio: f64,
    pub elderly_age: i32,
}

impl TruthPolicy {
    fn std(&self, county: &str) -> i64 {
        self.std.get(county).copied().unwrap_or(self.default_std)
    }
    fn watch(&self) -> i64 {
        (self.line as f64 * self.multiplier).round() as i64
    }
}

/// One expected flag, by its key columns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub flag: &'static str,
    pub dibao_household_id: Text,
    pub poor_household_id: Text,
    pub person_id: Text,
    pub county_code: Text,
}

fn e(flag: &'static str, d: &str, p: &str, person: &str, county: &str) -> Expected {
    Expected {
        flag,
        dibao_household_id: d.into(),
        poor_household_id: p.into(),
        person_id: person.into(),
        county_code: county.into(),
    }
}

fn groups<T>(rows: &[T], hh: impl Fn(&T) -> &str) -> Vec<(Text, Vec<usize>)> {
    let mut order: Vec<(Text, Vec<usize>)> = Vec::new();
    let mut index: HashMap<Text, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let k = Text::from(hh(r));
        let n = *index.entry(k.clone()).or_insert_with(|| {
            order.push((k, Vec::new()));
            order.len() - 1
        });
        order[n].1.push(i);
    }
    order
}

fn whole(change: i64, base: i64, ratio: f64) -> bool {
    // change ≥ ratio × base, decided on integers (ratios have ≤ 6 decimals).
    i128::from(change) * 1_000_000 >= (ratio * 1_000_000.0).round() as i128 * i128::from(base)
}

pub fn expected(q: &GQuarter, prev: Option<&GQuarter>, pol: &TruthPolicy) -> Vec<Expected> {
    let mut out = Vec::new();
    let end = q.quarter.last_day();
    let first_day = q.quarter.first_day();
    let dh = groups(&q.dibao, |r| &r.hh);
    let ph = groups(&q.poor, |r| &r.hh);
    let county = |region: &str| region[..6].to_owned();

    // Links: same valid number, or a planted typo pair.
    let typos: HashSet<(&str, &str)> = q
        .typos
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut poor_rows_by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in q.poor.iter().enumerate() {
        poor_rows_by_id.entry(r.id.as_str()).or_default().push(i);
    }
    let typo_poor: HashMap<&str, &str> = q
        .typos
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let same = |d: usize, p: usize| -> bool {
        let (dr, pr) = (&q.dibao[d], &q.poor[p]);
        (dr.valid && pr.valid && dr.id == pr.id)
            || typos.contains(&(dr.id.as_str(), pr.id.as_str()))
    };
    let mut d_hh_of = vec![0; q.dibao.len()];
    for (h, (_, rows)) in dh.iter().enumerate() {
        for &r in rows {
            d_hh_of[r] = h;
        }
    }
    let mut p_hh_of = vec![0; q.poor.len()];
    for (h, (_, rows)) in ph.iter().enumerate() {
        for &r in rows {
            p_hh_of[r] = h;
        }
    }
    let mut links: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (d, dr) in q.dibao.iter().enumerate() {
        let target = if dr.valid {
            Some(dr.id.as_str())
        } else {
            typo_poor.get(dr.id.as_str()).copied()
        };
        if let Some(t) = target {
            for &p in poor_rows_by_id.get(t).into_iter().flatten() {
                if same(d, p) {
                    links.insert((d_hh_of[d], p_hh_of[p]));
                }
            }
        }
    }
    let d_linked: HashSet<usize> = links.iter().map(|l| l.0).collect();
    let p_linked: HashSet<usize> = links.iter().map(|l| l.1).collect();

    // Coverage.
    for (h, (id, rows)) in ph.iter().enumerate() {
        let head = &q.poor[rows[0]];
        let c = county(&head.region);
        let linked = p_linked.contains(&h);
        if head.status.is_poor() && !linked && head.income < pol.std(&c) {
            out.push(e("should_cover", "", id, "", &c));
        }
        if (head.household_type == HouseholdType::Dibao && !linked)
            || (head.household_type == HouseholdType::General && linked)
        {
            out.push(e("attr_mismatch", "", id, "", &c));
        }
        let members: Vec<_> = rows.iter().map(|&r| &q.poor[r]).collect();
        let exited = head.status == Status::Exited;
        if exited && head.income < pol.watch() {
            out.push(e("unstable_exit", "", id, "", &c));
        }
        if exited
            && !linked
            && members
                .iter()
                .any(|m| matches!(m.health, Health::SeriousIllness | Health::Disabled))
        {
            out.push(e("illness_disability", "", id, "", &c));
        }
        if exited
            && !linked
            && !members
                .iter()
                .any(|m| matches!(m.labor, Labor::Ordinary | Labor::Skilled))
        {
            out.push(e("no_labor", "", id, "", &c));
        }
        let dropout = members.iter().any(|m| {
            m.schooling == "失学辍学" && m.valid && (6..=15).contains(&m.birth.age_at(end))
        });
        if dropout || members.iter().any(|m| !m.insured) || !head.housing_safe || !head.water_safe {
            out.push(e("assurance_gap", "", id, "", &c));
        }
        if !linked
            && members
                .iter()
                .all(|m| m.valid && m.birth.age_at(end) >= pol.elderly_age)
        {
            out.push(e("elderly_only", "", id, "", &c));
        }
    }
    for (h, (id, rows)) in dh.iter().enumerate() {
        let head = &q.dibao[rows[0]];
        let c = county(&head.region);
        let income = head.income * 12;
        if !d_linked.contains(&h) && income < pol.line {
            out.push(e("should_support", id, "", "", &c));
        }
        if !d_linked.contains(&h) && pol.line <= income && income < pol.watch() {
            out.push(e("edge_poverty", id, "", "", &c));
        }
    }
    for &(d, p) in &links {
        let drows = &dh[d].1;
        let prows = &ph[p].1;
        let all_d = drows.iter().all(|&x| prows.iter().any(|&y| same(x, y)));
        let all_p = prows.iter().all(|&y| drows.iter().any(|&x| same(x, y)));
        if !all_d || !all_p {
            out.push(e(
                "member_mismatch",
                &dh[d].0,
                &ph[p].0,
                "",
                &county(&q.poor[prows[0]].region),
            ));
        }
    }

    // People.
    let mut d_by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in q.dibao.iter().enumerate().filter(|(_, r)| r.valid) {
        d_by_id.entry(&r.id).or_default().push(i);
    }
    let mut p_by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in q.poor.iter().enumerate().filter(|(_, r)| r.valid) {
        p_by_id.entry(&r.id).or_default().push(i);
    }
    for (id, ds) in &d_by_id {
        if let Some(ps) = p_by_id.get(id) {
            if ds
                .iter()
                .any(|&d| ps.iter().any(|&p| q.dibao[d].name != q.poor[p].name))
            {
                out.push(e("name_conflict", "", "", id, ""));
            }
            if ds.iter().any(|&d| {
                ps.iter()
                    .any(|&p| q.dibao[d].region[..6] != q.poor[p].region[..6])
            }) {
                out.push(e("region_mismatch", "", "", id, ""));
            }
        }
    }
    let ids: BTreeSet<&str> = d_by_id.keys().chain(p_by_id.keys()).copied().collect();
    for id in ids {
        let dset: BTreeSet<&str> = d_by_id
            .get(id)
            .into_iter()
            .flatten()
            .map(|&i| q.dibao[i].hh.as_str())
            .collect();
        let pset: BTreeSet<&str> = p_by_id
            .get(id)
            .into_iter()
            .flatten()
            .map(|&i| q.poor[i].hh.as_str())
            .collect();
        if dset.len() >= 2 || pset.len() >= 2 {
            out.push(e("duplicate_enrollment", "", "", id, ""));
        }
    }
    let mut typo_households: BTreeSet<(Text, Text)> = BTreeSet::new();
    for (d, dr) in q.dibao.iter().enumerate() {
        if let Some(t) = typo_poor.get(dr.id.as_str()) {
            for &p in poor_rows_by_id.get(t).into_iter().flatten() {
                typo_households.insert((q.dibao[d].hh.clone(), q.poor[p].hh.clone()));
            }
        }
    }
    for (d, p) in typo_households {
        out.push(e("id_conflict", &d, &p, "", ""));
    }
    let mut invalid: BTreeSet<(bool, Text, Text)> = BTreeSet::new();
    for r in q.dibao.iter().filter(|r| !r.valid) {
        invalid.insert((true, r.hh.clone(), r.id.clone()));
    }
    for r in q.poor.iter().filter(|r| !r.valid) {
        invalid.insert((false, r.hh.clone(), r.id.clone()));
    }
    for (dibao, hh, id) in invalid {
        if dibao {
            out.push(e("invalid_id", &hh, "", &id, ""));
        } else {
            out.push(e("invalid_id", "", &hh, &id, ""));
        }
    }

    // Registers.
    let mut died: HashMap<&str, crate::calendar::Date> = HashMap::new();
    for (id, d) in &q.deaths {
        let e = died.entry(id.as_str()).or_insert(*d);
        *e = (*e).min(*d);
    }
    for (id, rows) in &d_by_id {
        if died.get(id).is_some_and(|d| *d < first_day) {
            out.push(e("deceased_enrolled", &q.dibao[rows[0]].hh, "", id, ""));
        }
    }
    for (id, rows) in &p_by_id {
        if died.get(id).is_some_and(|d| *d < first_day) {
            out.push(e("deceased_enrolled", "", &q.poor[rows[0]].hh, id, ""));
        }
    }
    let employees: HashSet<&str> = q.employees.iter().map(Text::as_str).collect();
    for id in d_by_id.keys() {
        if employees.contains(id) {
            out.push(e("public_employee", "", "", id, ""));
        }
    }
    let counties: BTreeSet<String> = q
        .dibao
        .iter()
        .map(|r| county(&r.region))
        .chain(q.poor.iter().map(|r| county(&r.region)))
        .collect();
    for c in counties {
        if pol.std(&c) <= pol.line {
            out.push(e("standard_below_line", "", "", "", &c));
        }
    }

    if let Some(prev) = prev {
        movements(q, prev, pol, &ph, &dh, &mut out);
    }
    out.sort();
    out
}

fn movements(
    q: &GQuarter,
    prev: &GQuarter,
    pol: &TruthPolicy,
    ph: &[(Text, Vec<usize>)],
    dh: &[(Text, Vec<usize>)],
    out: &mut Vec<Expected>,
) {
    let prev_dh = groups(&prev.dibao, |r| &r.hh);
    let prev_ph = groups(&prev.poor, |r| &r.hh);
    let prev_dibao_ids: HashSet<&str> = prev.dibao.iter().map(|r| r.id.as_str()).collect();
    let now_dibao_ids: HashSet<&str> = q.dibao.iter().map(|r| r.id.as_str()).collect();
    for (id, rows) in dh {
        if rows
            .iter()
            .all(|&r| !prev_dibao_ids.contains(q.dibao[r].id.as_str()))
        {
            out.push(e("dibao_entry", id, "", "", ""));
        }
    }
    let mut poor_by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (h, (_, rows)) in ph.iter().enumerate() {
        for &r in rows {
            poor_by_id.entry(q.poor[r].id.as_str()).or_default().push(h);
        }
    }
    for (id, rows) in &prev_dh {
        if rows
            .iter()
            .any(|&r| now_dibao_ids.contains(prev.dibao[r].id.as_str()))
        {
            continue;
        }
        out.push(e("dibao_exit", id, "", "", ""));
        let eligible = rows.iter().any(|&r| {
            poor_by_id
                .get(prev.dibao[r].id.as_str())
                .into_iter()
                .flatten()
                .any(|&h| {
                    let head = &q.poor[ph[h].1[0]];
                    head.status.is_poor() && head.income < pol.std(&head.region[..6])
                })
        });
        if eligible {
            out.push(e("exit_while_eligible", id, "", "", ""));
        }
    }
    let prev_p: HashMap<&str, &Vec<usize>> = prev_ph.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let now_p: HashSet<&str> = ph.iter().map(|(k, _)| k.as_str()).collect();
    for (id, rows) in ph {
        let now = &q.poor[rows[0]];
        let Some(prows) = prev_p.get(id.as_str()) else {
            out.push(e("poor_entry", "", id, "", ""));
            continue;
        };
        let before = &prev.poor[prows[0]];
        if before.status.is_poor() && now.status == Status::Exited {
            out.push(e("poverty_exit", "", id, "", ""));
        }
        if before.status == Status::Exited && now.status.is_poor() {
            out.push(e("relapse", "", id, "", ""));
        }
        if before.income > 0
            && now.income < before.income
            && whole(
                before.income - now.income,
                before.income,
                pol.income_drop_ratio,
            )
        {
            out.push(e("income_drop", "", id, "", ""));
        }
        let a: HashSet<&str> = prows.iter().map(|&r| prev.poor[r].id.as_str()).collect();
        let b: HashSet<&str> = rows.iter().map(|&r| q.poor[r].id.as_str()).collect();
        if a != b {
            out.push(e("household_changed", "", id, "", ""));
        }
    }
    for (id, _) in &prev_ph {
        if !now_p.contains(id.as_str()) {
            out.push(e("poor_removed", "", id, "", ""));
        }
    }
    let prev_d: HashMap<&str, &Vec<usize>> = prev_dh.iter().map(|(k, v)| (k.as_str(), v)).collect();
    for (id, rows) in dh {
        let Some(prows) = prev_d.get(id.as_str()) else {
            continue;
        };
        let a: HashSet<&str> = prows.iter().map(|&r| prev.dibao[r].id.as_str()).collect();
        let b: HashSet<&str> = rows.iter().map(|&r| q.dibao[r].id.as_str()).collect();
        if a != b {
            out.push(e("household_changed", id, "", "", ""));
        }
        let (before, now) = (prev.dibao[prows[0]].benefit, q.dibao[rows[0]].benefit);
        let change = (now - before).abs();
        if change > 0 && whole(change, before, pol.benefit_change_ratio) {
            out.push(e("benefit_changed", id, "", "", ""));
        }
    }
}
