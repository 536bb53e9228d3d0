//! Quarter over quarter (有进有出): who entered and left each roll, who
//! left or fell back into poverty, whose family or money changed, and the
//! two-roll transition table.
//!
//! Across quarters a person is the same when the normalized ID string is
//! the same; each quarter was validated against its own end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::sharded::ShardedPlaces;

use crate::checks::QuarterData;
use crate::flags::{Flag, FlagDef, Kind, Severity};
use crate::model::{IdKey, PersonId, PreviousDibaoRoll, PreviousPoorRoll, RollRow, Status, zh};

/// The rolls of Q-1 and where they came from.
pub struct Previous {
    pub dibao: PreviousDibaoRoll,
    pub poor: PreviousPoorRoll,
    /// `"state"` or `"files"`.
    pub source: &'static str,
}

macro_rules! movement {
    ($name:ident, $code:literal, $label:literal, $sev:ident, $unit:literal, $rule:literal, $why:literal, $example:literal) => {
        #[doc = concat!("What it finds: ", $rule, ". Why it matters: ", $why)]
        pub static $name: FlagDef = FlagDef {
            code: $code,
            label: $label,
            kind: Kind::Movement,
            severity: Severity::$sev,
            unit: $unit,
            rule: $rule,
            why: $why,
            example: $example,
        };
    };
}

movement!(
    DIBAO_ENTRY,
    "dibao_entry",
    "新纳入低保",
    Info,
    "本季度低保户 (dibao_household_id)",
    "该户没有任何成员在上季度低保名册中",
    "新纳入对象须核实审批材料齐全(有进)。",
    "本季度新纳入低保,3 名成员上季度均不在低保名册"
);
movement!(
    DIBAO_EXIT,
    "dibao_exit",
    "退出低保",
    Info,
    "上季度低保户 (dibao_household_id)",
    "该户没有任何成员在本季度低保名册中",
    "退出对象须核实退出原因和程序(有出)。",
    "上季度低保户,3 名成员本季度均不在低保名册"
);
movement!(
    POOR_ENTRY,
    "poor_entry",
    "新识别贫困户",
    Info,
    "本季度建档立卡户 (poor_household_id)",
    "户编号不在上季度建档立卡名册中",
    "新识别贫困户须核实识别程序。",
    "户编号上季度不在建档立卡名册"
);
movement!(
    POOR_REMOVED,
    "poor_removed",
    "贫困户减少",
    Info,
    "上季度建档立卡户 (poor_household_id)",
    "户编号不在本季度建档立卡名册中",
    "脱贫户应保留在册,户编号消失须核实是否被误删。",
    "户编号本季度不在建档立卡名册(上季度状态:未脱贫)"
);
movement!(
    POVERTY_EXIT,
    "poverty_exit",
    "本季度脱贫",
    Info,
    "建档立卡户 (poor_household_id)",
    "上季度状态为未脱贫或返贫,本季度为已脱贫",
    "脱贫户须核实收入和“两不愁三保障”是否真正达标。",
    "贫困户状态由未脱贫变为已脱贫,人均纯收入 5200 元"
);
movement!(
    RELAPSE,
    "relapse",
    "返贫",
    High,
    "建档立卡户 (poor_household_id)",
    "上季度状态为已脱贫,本季度为未脱贫或返贫",
    "返贫户须及时落实帮扶措施。",
    "贫困户状态由已脱贫变为返贫,人均纯收入由 5200 元降至 3000 元"
);
movement!(
    HOUSEHOLD_CHANGED,
    "household_changed",
    "家庭成员变动",
    Low,
    "任一名册的户 (按户编号)",
    "该户两个季度均在册,成员构成不同",
    "家庭人口变动影响人均收入和保障金额度,须核实。",
    "低保户成员由 4 人变为 3 人:减少 1 人,新增 0 人"
);
movement!(
    BENEFIT_CHANGED,
    "benefit_changed",
    "保障金大幅变动",
    Low,
    "低保户 (按户编号)",
    "两个季度均在册,月保障金变化幅度不低于上季度的 benefit_change_ratio",
    "保障金大幅变动须有收入或人口变化作依据。",
    "月保障金由 600 元变为 400 元(变动 33.3%)"
);
movement!(
    INCOME_DROP_DEF,
    "income_drop",
    "收入骤降",
    Medium,
    "建档立卡户 (按户编号)",
    "人均纯收入较上季度下降幅度不低于 income_drop_ratio",
    "收入骤降是返贫的先兆,应及早帮扶。",
    "人均纯收入由 5200 元降至 3400 元(降幅 34.6%)"
);

/// `income_drop` is a risk flag (it feeds the score) measured across
/// quarters; its kind is risk, not movement.
pub static INCOME_DROP: FlagDef = FlagDef {
    kind: Kind::Risk,
    ..INCOME_DROP_DEF
};

/// What it finds: a 低保 household of Q-1 that left 低保 while one of its
/// members is on the poor roll in Q, still poor, with income below the
/// 低保 standard. Why it matters: 退保未脱困 — the family lost its floor
/// while still in need.
pub static EXIT_WHILE_ELIGIBLE: FlagDef = FlagDef {
    code: "exit_while_eligible",
    label: "退保未脱困",
    kind: Kind::Risk,
    severity: Severity::High,
    unit: "上季度低保户 (dibao_household_id)",
    rule: "退出低保,且有成员在本季度建档立卡名册中,状态为未脱贫或返贫,所在贫困户人均纯收入低于本县低保标准",
    why: "仍处贫困、收入低于低保标准却被退出低保,失去兜底。",
    example: "退出低保,但成员所在建档立卡户 P001 仍为未脱贫,人均纯收入 2800 元 低于本县低保标准 3450 元",
};

/// A ratio as parts per million, so that "changed by at least r of the
/// old value" is decided in exact integers.
fn ppm(ratio: f64) -> i128 {
    (ratio * 1_000_000.0).round() as i128
}

/// `|change| ≥ ratio × base`, exactly.
fn at_least(change: i64, base: i64, ratio: f64) -> bool {
    i128::from(change) * 1_000_000 >= ppm(ratio) * i128::from(base)
}

fn percent(change: i64, base: i64) -> String {
    if base == 0 {
        "—".into()
    } else {
        format!("{:.1}%", change as f64 * 100.0 / base as f64)
    }
}

/// Whether each 低保 row's person is on the other quarter's 低保 roll,
/// row by row: Q-1's rows against Q's roll (for the exits) and Q's rows
/// against Q-1's (for the entries). Found by [`transitions`], which has
/// every person's rows side by side as it counts them. The entries and
/// exits looked up every member's number in a set of the other quarter's
/// numbers instead, built for them: two sets of 10 M numbers at 10 M
/// households, 1.8–2.8 s of the movement stage there (issue #7).
pub struct DibaoPresence {
    prev_on_q: Bits,
    q_on_prev: Bits,
    /// (Q-1 低保 row, Q poor row) of each person who left the 低保 roll and
    /// is on Q's poor roll, sorted: for exit_while_eligible, which looked
    /// up every Q poor row's number among the leavers' (about 0.55 s at
    /// 10 M households).
    leavers_on_poor: Vec<(u32, u32)>,
}

impl DibaoPresence {
    fn new(prev: &Previous, q: &QuarterData) -> DibaoPresence {
        DibaoPresence {
            prev_on_q: Bits::new(prev.dibao.rows.len()),
            q_on_prev: Bits::new(q.dibao.rows.len()),
            leavers_on_poor: Vec::new(),
        }
    }

    /// Whether the person of Q-1's 低保 row `r` is on Q's 低保 roll.
    fn prev_on_q(&self, r: usize) -> bool {
        self.prev_on_q.get(r)
    }

    /// Whether the person of Q's 低保 row `r` was on Q-1's 低保 roll.
    fn q_on_prev(&self, r: usize) -> bool {
        self.q_on_prev.get(r)
    }

    /// Q's poor rows of the person of Q-1's 低保 row `r`, if that person
    /// left the 低保 roll.
    fn poor_rows_of_leaver(&self, r: usize) -> impl Iterator<Item = usize> + '_ {
        let r = r as u32;
        let from = self.leavers_on_poor.partition_point(|&(l, _)| l < r);
        self.leavers_on_poor[from..]
            .iter()
            .take_while(move |&&(l, _)| l == r)
            .map(|&(_, p)| p as usize)
    }

    /// Marks one person's 低保 rows of both quarters when they are on both
    /// 低保 rolls, and adds to `leavers` their (Q-1 低保 row, Q poor row)
    /// pairs when they left the 低保 roll for Q's poor roll. `on` is as in
    /// [`RollState::of`], `rows` the person's (slot, row), both in
    /// [`transitions`]' slot order.
    fn mark(
        &self,
        on: [bool; 4],
        rows: impl Iterator<Item = (usize, usize)> + Clone,
        leavers: &mut Vec<(u32, u32)>,
    ) {
        if on[0] && on[2] {
            for (slot, r) in rows {
                match slot {
                    0 => self.prev_on_q.set(r),
                    2 => self.q_on_prev.set(r),
                    _ => {}
                }
            }
        } else if on[0] && on[3] {
            let of = |wanted: usize| {
                rows.clone()
                    .filter(move |&(slot, _)| slot == wanted)
                    .map(|(_, r)| r as u32)
            };
            for was in of(0) {
                leavers.extend(of(3).map(|is| (was, is)));
            }
        }
    }
}

/// One bit a row, set from any worker. A person's rows are in one run of
/// the transitions' sort, so each bit is set by one worker, but two
/// workers' rows may share a word.
struct Bits(Vec<AtomicU64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits((0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }
    fn set(&self, i: usize) {
        self.0[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }
}

/// A household's members' normalized IDs, sorted and once each.
/// A household's persons last quarter and now, as sorted distinct numbers,
/// when they differ as sets (`household_changed`). Households listed
/// alike, as nearly all are, are equal without sorting two lists of
/// numbers per household (most of the movement checks' time; issue #7).
fn changed_members<'a>(
    was: impl Iterator<Item = &'a PersonId> + Clone,
    is: impl Iterator<Item = &'a PersonId> + Clone,
) -> Option<(Vec<IdKey<'a>>, Vec<IdKey<'a>>)> {
    if was
        .clone()
        .map(PersonId::normalized_key)
        .eq(is.clone().map(PersonId::normalized_key))
    {
        return None;
    }
    fn sorted<'a>(members: impl Iterator<Item = &'a PersonId>) -> Vec<IdKey<'a>> {
        let mut ids: Vec<IdKey> = members.map(PersonId::normalized_key).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
    let (was, is) = (sorted(was), sorted(is));
    (was != is).then_some((was, is))
}

/// The roll household count guard (contract §2.4).
pub fn shrink_check(prev: &Previous, q: &QuarterData) -> Option<String> {
    let ratio = q.job.policy.max_shrink_ratio;
    for (roll, before, now) in [
        (
            "dibao",
            prev.dibao.households.len(),
            q.dibao.households.len(),
        ),
        ("poor", prev.poor.households.len(), q.poor.households.len()),
    ] {
        if before > 0 && now < before && ((before - now) as f64) > ratio * before as f64 {
            return Some(format!(
                "the {roll} roll has {now} households against {before} in {}: it fell by {:.1}%, more than max_shrink_ratio {}; a truncated export would read as thousands of exits (run with --allow-shrink if the fall is real)",
                q.job.quarter.previous(),
                (before - now) as f64 * 100.0 / before as f64,
                ratio
            ));
        }
    }
    None
}

/// Households by their number, for finding a household across quarters
/// (a number is one household of a roll).
///
/// The table holds each household's place only, and a lookup reads the
/// number from the household: with a copy of every number beside its
/// place, the index of Q-1's poor households was the run's peak at 10 M
/// households (issue #7). Most lookups never reach the table (see
/// [`Counterparts`]).
fn by_id(households: &[crate::model::Household]) -> ShardedPlaces<'_, str> {
    ShardedPlaces::build(households.len(), |h| households[h].id.as_str(), |_, _| {})
}

/// The Q-1 household with a Q household's number, found by [`by_id`]'s
/// map or, first, by a guess: rolls are exported in the same order
/// quarter after quarter (by region, then number), so a household's
/// counterpart is most often the one after the last counterpart found,
/// and reading that one costs less than a lookup in a map of millions of
/// numbers, which missed the cache at nearly every lookup at 10 M
/// households (issue #7). A guess is taken only when its number is the
/// same, and a number is one household in a roll: the result is the
/// map's either way.
struct Counterparts<'a, 'h> {
    households: &'a [crate::model::Household],
    by_id: &'a ShardedPlaces<'h, str>,
}

impl Counterparts<'_, '_> {
    /// The Q-1 household numbered `id`; `last` is the last one found
    /// before it in a walk over Q's households in order.
    fn find(&self, id: &str, last: &mut Option<usize>) -> Option<usize> {
        let next = last.map(|l| l + 1);
        let is_next = |g: usize| self.households.get(g).is_some_and(|hh| hh.id == id);
        let found = match next {
            Some(g) if is_next(g) => Some(g),
            _ => self.by_id.get(id),
        };
        if found.is_some() {
            *last = found;
        }
        found
    }
}

/// Every movement flag, as lists added to `out`. Each household is looked
/// at on its own, so the households are shared among the workers; each
/// list holds one worker's flags of one check, in household order, and
/// the flag stage sorts every list into one vector.
pub fn check(prev: &Previous, q: &QuarterData, presence: &DibaoPresence, out: &mut Vec<Vec<Flag>>) {
    // Each index is built just before the check that reads it and freed
    // after it, one at a time: all five at once were 1.3 GB at 10 M
    // households, and the two of a pair side by side (the poor roll's
    // households of both quarters, 840 MB) were still the run's peak
    // there (issue #7). The flags come out in the order they did. The
    // 低保 entries and exits need no index: [`transitions`] found which
    // 低保 rows' persons are on the other quarter's roll.
    let started = std::time::Instant::now();
    let step = |what: &str| crate::memory::debug_step(started, what);
    dibao_entries(q, presence, out);
    step("movement: dibao entries found");
    dibao_exits(prev, q, presence, out);
    step("movement: dibao exits found");
    {
        // Each Q-1 household is marked when a Q household finds it: the
        // unmarked ones are the removals. An index of Q's households for
        // them was the movement checks' highest point at 10 M households
        // (issue #7).
        let found_in_q: Vec<AtomicBool> = (0..prev.poor.households.len())
            .map(|_| AtomicBool::new(false))
            .collect();
        let prev_poor = by_id(&prev.poor.households);
        step("movement: Q-1 poor households indexed");
        let counterparts = Counterparts {
            households: &prev.poor.households,
            by_id: &prev_poor,
        };
        poor_changes(prev, q, &counterparts, &found_in_q, out);
        step("movement: poor changes found");
        drop(prev_poor);
        poor_removals(prev, &found_in_q, out);
        step("movement: poor removals found");
    }
    {
        let prev_dibao = by_id(&prev.dibao.households);
        step("movement: Q-1 dibao households indexed");
        let counterparts = Counterparts {
            households: &prev.dibao.households,
            by_id: &prev_dibao,
        };
        dibao_changes(prev, q, &counterparts, out);
        step("movement: dibao changes found");
    }
}

/// The flags a check found, as the lists its workers made them in. Moved
/// into one vector here, they were copied on one thread into a vector
/// grown for them, its fresh pages zeroed on that thread too, while the
/// other core waited: "poor changes found" ran at 1.6 cores at 10 M
/// households (issue #7). The flag stage moves every list into the
/// sorted vector anyway.
fn gather(out: &mut Vec<Vec<Flag>>, flags: impl ParallelIterator<Item = Flag>) {
    out.extend(flags.collect_vec_list());
}

/// dibao_entry: a 低保 household none of whose members was on Q-1's roll.
fn dibao_entries(q: &QuarterData, presence: &DibaoPresence, out: &mut Vec<Vec<Flag>>) {
    gather(
        out,
        q.dibao
            .households
            .par_iter()
            .enumerate()
            .filter_map(|(h, hh)| {
                let mut members = q.dibao.households.members(hh);
                members.all(|r| !presence.q_on_prev(r)).then(|| {
                    q.dibao_flag(&DIBAO_ENTRY, h).detail(format!(
                        "本季度新纳入低保,{} 名成员上季度均不在低保名册",
                        hh.member_count()
                    ))
                })
            }),
    );
}

/// dibao_exit and exit_while_eligible: a Q-1 低保 household none of whose
/// members is on Q's roll.
fn dibao_exits(
    prev: &Previous,
    q: &QuarterData,
    presence: &DibaoPresence,
    out: &mut Vec<Vec<Flag>>,
) {
    let policy = &q.job.policy;
    let exits: Vec<(usize, &crate::model::Household)> = prev
        .dibao
        .households
        .par_iter()
        .enumerate()
        .filter(|(_, hh)| {
            prev.dibao
                .households
                .members(hh)
                .all(|r| !presence.prev_on_q(r))
        })
        .collect();
    gather(
        out,
        exits.par_iter().flat_map_iter(|&(h, hh)| {
            let head = prev.dibao.head(hh);
            let head_name = &prev.dibao.head_names[h];
            let flag = Flag::new(&DIBAO_EXIT)
                .at(&head.region)
                .dibao(&hh.id)
                .named(*head_name);
            let exit = flag.detail(format!(
                "上季度低保户,{} 名成员本季度均不在低保名册",
                hh.member_count()
            ));
            // exit_while_eligible: a member still poor, below the
            // standard, in Q's poor households of its members.
            let mut still_poor: Vec<usize> = prev
                .dibao
                .households
                .members(hh)
                .flat_map(|r| presence.poor_rows_of_leaver(r))
                .map(|pr| q.poor.households.index_of_row(pr))
                .filter(|&ph| {
                    let p = q.poor.head(&q.poor.households[ph]);
                    p.status.is_poor()
                        && p.annual_income.get() < policy.standard(p.member.region.county())
                })
                .collect();
            still_poor.sort_unstable();
            let eligible = still_poor.first().map(|&ph| {
                let p = q.poor.head(&q.poor.households[ph]);
                let flag = Flag::new(&EXIT_WHILE_ELIGIBLE)
                    .at(&head.region)
                    .dibao(&hh.id)
                    .named(*head_name);
                flag.detail(format!(
                "退出低保,但成员所在建档立卡户 {} 仍为{},人均纯收入 {} 元 低于本县低保标准 {} 元",
                q.poor.households[ph].id,
                zh(&Status::ALL, p.status),
                p.annual_income.get(),
                policy.standard(p.member.region.county())
            ))
            });
            std::iter::once(exit).chain(eligible)
        }),
    );
}

/// poor_entry, poverty_exit, relapse, income_drop and household_changed,
/// by household id.
fn poor_changes(
    prev: &Previous,
    q: &QuarterData,
    prev_poor: &Counterparts,
    found_in_q: &[AtomicBool],
    out: &mut Vec<Vec<Flag>>,
) {
    let policy = &q.job.policy;
    gather(
        out,
        q.poor
            .households
            .par_iter()
            .enumerate()
            .map_init(
                || None,
                |last, (h, hh)| (h, hh, prev_poor.find(hh.id.as_str(), last)),
            )
            .flat_map_iter(|(h, hh, ph)| {
                let mut found = Vec::new();
                let now = q.poor.head(hh);
                let Some(ph) = ph else {
                    found.push(
                        q.poor_flag(&POOR_ENTRY, h)
                            .detail("户编号上季度不在建档立卡名册".into()),
                    );
                    return found;
                };
                found_in_q[ph].store(true, Ordering::Relaxed);
                let prev_hh = &prev.poor.households[ph];
                let before = prev.poor.head(prev_hh);
                let status_change = || {
                    format!(
                        "贫困户状态由{}变为{}",
                        zh(&Status::ALL, before.status),
                        zh(&Status::ALL, now.status)
                    )
                };
                if before.status.is_poor() && now.status == Status::Exited {
                    found.push(q.poor_flag(&POVERTY_EXIT, h).detail(format!(
                        "{},人均纯收入 {} 元",
                        status_change(),
                        now.annual_income.get()
                    )));
                }
                if before.status == Status::Exited && now.status.is_poor() {
                    found.push(q.poor_flag(&RELAPSE, h).detail(format!(
                        "{},人均纯收入由 {} 元变为 {} 元",
                        status_change(),
                        before.annual_income.get(),
                        now.annual_income.get()
                    )));
                }
                let (b, n) = (before.annual_income.get().0, now.annual_income.get().0);
                if b > 0 && n < b && at_least(b - n, b, policy.income_drop_ratio) {
                    found.push(q.poor_flag(&INCOME_DROP, h).detail(format!(
                        "人均纯收入由 {} 元降至 {} 元(降幅 {})",
                        before.annual_income.get(),
                        now.annual_income.get(),
                        percent(b - n, b)
                    )));
                }
                if let Some((was, is)) = changed_members(
                    prev.poor.members_of(prev_hh).map(RollRow::id),
                    q.poor.members_of(hh).map(RollRow::id),
                ) {
                    found.push(q.poor_flag(&HOUSEHOLD_CHANGED, h).detail(member_change(
                        "建档立卡户",
                        &was,
                        &is,
                    )));
                }
                found
            }),
    );
}

/// poor_removed: a Q-1 household number that is not on Q's roll, that is
/// one no Q household found in [`poor_changes`] (household numbers are
/// unique in a roll: they group its rows).
fn poor_removals(prev: &Previous, found_in_q: &[AtomicBool], out: &mut Vec<Vec<Flag>>) {
    gather(
        out,
        prev.poor
            .households
            .par_iter()
            .zip(found_in_q.par_iter())
            .zip(prev.poor.head_names.par_iter())
            .filter(|((_, found), _)| !found.load(Ordering::Relaxed))
            .map(|((hh, _), head_name)| {
                let head = prev.poor.head(hh);
                let flag = Flag::new(&POOR_REMOVED)
                    .at(&head.region)
                    .poor_of_previous(&hh.id)
                    .named(*head_name);
                flag.detail(format!(
                    "户编号本季度不在建档立卡名册(上季度状态:{})",
                    zh(&Status::ALL, head.status)
                ))
            }),
    );
}

/// household_changed and benefit_changed on the 低保 roll, by household id.
fn dibao_changes(
    prev: &Previous,
    q: &QuarterData,
    prev_dibao: &Counterparts,
    out: &mut Vec<Vec<Flag>>,
) {
    let policy = &q.job.policy;
    gather(
        out,
        q.dibao
            .households
            .par_iter()
            .enumerate()
            .map_init(
                || None,
                |last, (h, hh)| (h, hh, prev_dibao.find(hh.id.as_str(), last)),
            )
            .flat_map_iter(|(h, hh, ph)| {
                let mut found = Vec::new();
                let Some(ph) = ph else {
                    return found;
                };
                let prev_hh = &prev.dibao.households[ph];
                if let Some((was, is)) = changed_members(
                    prev.dibao.members_of(prev_hh).map(RollRow::id),
                    q.dibao.members_of(hh).map(RollRow::id),
                ) {
                    found.push(q.dibao_flag(&HOUSEHOLD_CHANGED, h).detail(member_change(
                        "低保户",
                        &was,
                        &is,
                    )));
                }
                let (b, n) = (
                    prev.dibao.head(prev_hh).monthly_benefit.get(),
                    q.dibao.head(hh).monthly_benefit.get(),
                );
                let change = (n.0 - b.0).abs();
                if change > 0 && at_least(change, b.0, policy.benefit_change_ratio) {
                    found.push(q.dibao_flag(&BENEFIT_CHANGED, h).detail(format!(
                        "月保障金由 {b} 元变为 {n} 元(变动 {})",
                        percent(change, b.0)
                    )));
                }
                found
            }),
    );
}

fn member_change(what: &str, was: &[IdKey], is: &[IdKey]) -> String {
    let left = was.iter().filter(|m| is.binary_search(m).is_err()).count();
    let joined = is.iter().filter(|m| was.binary_search(m).is_err()).count();
    format!(
        "{what}成员由 {} 人变为 {} 人:减少 {left} 人,新增 {joined} 人",
        was.len(),
        is.len(),
    )
}

/// A person's place in a quarter: on both rolls, one, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RollState {
    Both,
    DibaoOnly,
    PoorOnly,
    Neither,
}

impl RollState {
    pub const ALL: [RollState; 4] = [
        RollState::Both,
        RollState::DibaoOnly,
        RollState::PoorOnly,
        RollState::Neither,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RollState::Both => "both",
            RollState::DibaoOnly => "dibao_only",
            RollState::PoorOnly => "poor_only",
            RollState::Neither => "neither",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RollState::Both => "两册均在",
            RollState::DibaoOnly => "仅低保",
            RollState::PoorOnly => "仅建档立卡",
            RollState::Neither => "均不在",
        }
    }

    fn of(dibao: bool, poor: bool) -> RollState {
        match (dibao, poor) {
            (true, true) => RollState::Both,
            (true, false) => RollState::DibaoOnly,
            (false, true) => RollState::PoorOnly,
            (false, false) => RollState::Neither,
        }
    }
}

/// county → (state in Q-1, state in Q) → persons. Persons are counted,
/// not households: the two rolls number households differently, and a
/// person's normalized ID is the one identity both quarters share.
pub type Transitions = BTreeMap<String, BTreeMap<(RollState, RollState), u64>>;

/// The transition table, and for [`check`] what the same walk over each
/// person's rows found: which 低保 rows' persons are on the other
/// quarter's 低保 roll, and the 低保 leavers' rows on Q's poor roll.
pub fn transitions(prev: &Previous, q: &QuarterData) -> (Transitions, DibaoPresence) {
    let total =
        prev.dibao.rows.len() + prev.poor.rows.len() + q.dibao.rows.len() + q.poor.rows.len();
    transitions_in_shares(
        prev,
        q,
        rows_per_share(total),
        crate::bucketed::BUCKET_ENTRIES,
    )
}

fn transitions_in_shares(
    prev: &Previous,
    q: &QuarterData,
    rows_per_share: usize,
    rows_per_bucket: usize,
) -> (Transitions, DibaoPresence) {
    let started = std::time::Instant::now();
    let mut presence = DibaoPresence::new(prev, q);
    // Rolls in the order a person's county is settled: Q-1 first, then Q,
    // so that the county is the latest known.
    fn person<R: RollRow>(row: &R) -> (&PersonId, &crate::model::Region) {
        (row.id(), row.region())
    }
    let member = |slot: usize, i: usize| -> (&PersonId, &crate::model::Region) {
        match slot {
            0 => person(&prev.dibao.rows[i]),
            1 => person(&prev.poor.rows[i]),
            2 => person(&q.dibao.rows[i]),
            _ => person(&q.poor.rows[i]),
        }
    };
    let lens = [
        prev.dibao.rows.len(),
        prev.poor.rows.len(),
        q.dibao.rows.len(),
        q.poor.rows.len(),
    ];
    // Valid numbers by their integer key, sorted: a person's rows are a
    // run, in roll and row order. (A table of every person by string was
    // most of the movement stage and ran on one core.) Rows without a key
    // are counted by string, apart; so is any person whose number was
    // invalid in one quarter only (a birth date after Q-1's end, the one
    // check that depends on the quarter): all their rows go by string.
    let far_future = crate::calendar::Date::new(9999, 12, 31).expect("a valid date");
    // A pass over every row of both quarters: on every core (on one, it
    // was a second of the stage at 10 M households).
    let by_string: HashSet<u64> = (0..4)
        .into_par_iter()
        .flat_map(|slot| {
            (0..lens[slot])
                .into_par_iter()
                .map(move |i| member(slot, i).0)
        })
        .filter(|id| id.invalid_reason() == Some(crate::identity::InvalidReason::FutureBirthDate))
        .filter_map(|id| {
            let check = crate::identity::check_id(&id.normalized(), far_future);
            check.verdict.ok().map(|v| v.key)
        })
        .collect();
    crate::memory::debug_step(started, "transitions: numbers invalid in one quarter found");
    // Whether a number's rows are counted by its integer key.
    let counted_by_key = |key: &u64| !by_string.contains(key);
    let keyed_of = |(id, _): (&PersonId, _)| id.key().filter(counted_by_key);
    // (key, roll and row, region) of each keyed row: the roll in the top
    // two bits of the row number, so the sort still orders a person's rows
    // by roll, then row. The region rides along, so that the pass over
    // the runs reads no row again (those reads, in key order, missed the
    // cache; issue #7).
    const SLOT_SHIFT: u32 = 30;
    const _: () = assert!(crate::model::MAX_ROWS_PER_ROLL == 1 << SLOT_SHIFT);
    const ROW_MASK: u32 = (1 << SLOT_SHIFT) - 1;
    // Persons are counted a share of the keys at a time, each share's rows
    // keyed and sorted apart: every row's entry at once was 1.2 GB at
    // 10 M households, the run's peak (issue #7). A person's rows share
    // one key and so one share; at 1 M households there is one share.
    let total: usize = lens.iter().sum();
    let shares = total.div_ceil(rows_per_share).clamp(1, u32::MAX as usize) as u64;
    // The top half of a mix of the key, scaled to `0..shares` by a
    // multiplication, not a division (`%`): it runs for every row in
    // every share's pass (seven passes over 76 M rows at 10 M households).
    let share_of = |key: u64| ((key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) * shares) >> 32;
    // Each share's table is filled in place, a piece of rows to a
    // stretch of it: the pieces' rows of each share are counted first, in
    // one pass. Collected with `par_extend`, a share's table was held
    // twice for a moment (each thread's part, then the whole), and that
    // was the movement stage's peak at 10 M households (issue #7).
    let pieces: Vec<(usize, std::ops::Range<usize>)> = lens
        .iter()
        .enumerate()
        .flat_map(|(slot, &len)| {
            crate::bucketed::pieces(len)
                .into_iter()
                .map(move |rows| (slot, rows))
        })
        .collect();
    // Each share's rows are put in buckets of their key as they are
    // written, then each bucket is sorted apart, on every core
    // ([`crate::bucketed`]): sorting the whole share at once (7.6 M rows
    // at 1 M households) compared rows far apart in memory, and was two
    // thirds of this step's time (issue #7). A bucket, about
    // `rows_per_bucket` rows, is sorted in the cache.
    // A person's rows share one key, so one bucket; the buckets' order is
    // not the keys', which nothing below needs: the runs are counted
    // whatever their order.
    let shares_n = shares as usize;
    let buckets = crate::bucketed::bucket_count(total.div_ceil(shares_n), rows_per_bucket);
    let bucket_bits = buckets.trailing_zeros();
    // Other bits of another mix than the share's, so that the rows of one
    // share spread over all its buckets.
    let bucket_of = |key: u64| -> usize {
        if bucket_bits == 0 {
            return 0;
        }
        ((key ^ (key >> 31)).wrapping_mul(0xD6E8_FEB8_6659_FD93) >> (64 - bucket_bits)) as usize
    };
    // Rows of each piece in each share and bucket, piece by piece.
    let per_piece = shares_n * buckets;
    let piece_counts: Vec<u32> = pieces
        .par_iter()
        .flat_map_iter(|(slot, rows)| {
            let mut counts = vec![0u32; per_piece];
            for i in rows.clone() {
                if let Some(key) = keyed_of(member(*slot, i)) {
                    counts[share_of(key) as usize * buckets + bucket_of(key)] += 1;
                }
            }
            counts
        })
        .collect();
    // Persons are counted by (county, states), the county as its rank: a
    // nation's 3,000 counties, so that the counts stay small and each
    // person's count hashes two small integers. Counted by region, the
    // tables grew with the villages: at 600,000 (a nation's) they were
    // the national world's peak at 10 M households (issue #7). Every row's
    // region was shared when it was read, so it has a rank.
    let ranks = crate::county_ranks::CountyRanks::of_shared_texts();
    let mut by_county: HashMap<(u32, [bool; 4]), u64> = HashMap::default();
    let mut leavers_on_poor: Vec<(u32, u32)> = Vec::new();
    for share in 0..shares {
        let mut keyed = crate::bucketed::gather(
            pieces.len(),
            buckets,
            |piece, bucket| {
                piece_counts[piece * per_piece + share as usize * buckets + bucket] as usize
            },
            |piece, out| {
                let (slot, rows) = &pieces[piece];
                for i in rows.clone() {
                    let m = member(*slot, i);
                    // The share first: most rows are in another, and are
                    // then not looked up among the numbers counted by
                    // string.
                    let key = m.0.key().filter(|&k| share_of(k) == share);
                    if let Some(key) = key.filter(counted_by_key) {
                        out.push(
                            bucket_of(key),
                            (key, ((*slot as u32) << SLOT_SHIFT) | i as u32, *m.1),
                        );
                    }
                }
            },
        );
        keyed.sort_each_by_key(|&(key, at, _)| (key, at));
        let keyed = keyed.entries;
        let (counted, leavers) = keyed
            .par_chunk_by(|a, b| a.0 == b.0)
            .fold(
                <(HashMap<_, u64>, Vec<(u32, u32)>)>::default,
                |(mut counts, mut leavers), run| {
                    let mut on = [false; 4];
                    for &(_, at, _) in run {
                        on[(at >> SLOT_SHIFT) as usize] = true;
                    }
                    let row = |at: u32| ((at >> SLOT_SHIFT) as usize, (at & ROW_MASK) as usize);
                    presence.mark(on, run.iter().map(|&(_, at, _)| row(at)), &mut leavers);
                    // The last row of Q if there is one, else the first of Q-1.
                    let (_, _, region) = match run.last() {
                        Some(last) if last.1 >> SLOT_SHIFT >= 2 => *last,
                        _ => run[0],
                    };
                    *counts.entry((ranks.rank(region), on)).or_default() += 1;
                    (counts, leavers)
                },
            )
            .reduce(
                Default::default,
                |(mut a, mut a_leavers), (b, b_leavers)| {
                    for (k, n) in b {
                        *a.entry(k).or_default() += n;
                    }
                    a_leavers.extend(b_leavers);
                    (a, a_leavers)
                },
            );
        drop(keyed);
        for (k, n) in counted {
            *by_county.entry(k).or_default() += n;
        }
        leavers_on_poor.extend(leavers);
    }
    crate::memory::debug_step(started, "transitions: keyed persons counted");
    let mut counts: Counts = HashMap::default();
    for ((rank, on), n) in by_county {
        count(&mut counts, ranks.county(rank), on, n);
    }
    // Rows without a key, few, grouped by their normalized number: each
    // such person is counted once, and their 低保 rows marked as above.
    let mut unkeyed: HashMap<IdKey, Vec<(usize, usize)>> = HashMap::default();
    for (slot, &len) in lens.iter().enumerate() {
        let rows: Vec<usize> = (0..len)
            .into_par_iter()
            .filter(|&i| keyed_of(member(slot, i)).is_none())
            .collect();
        for i in rows {
            let key = member(slot, i).0.normalized_key();
            unkeyed.entry(key).or_default().push((slot, i));
        }
    }
    for rows in unkeyed.values() {
        let (first_slot, first_row) = rows[0];
        let mut person = (member(first_slot, first_row).1.county(), [false; 4]);
        for &(slot, i) in rows {
            add_row(&mut person, member(slot, i).1, slot);
        }
        presence.mark(person.1, rows.iter().copied(), &mut leavers_on_poor);
        count(&mut counts, person.0, person.1, 1);
    }
    leavers_on_poor.sort_unstable();
    presence.leavers_on_poor = leavers_on_poor;
    (table_of(counts), presence)
}

/// Rows of the four rolls keyed and sorted at a time by [`transitions`]
/// (at the least; see [`MAX_SHARES`]): 16 bytes each, so a share's table
/// stays under about 190 MB up to 96 M rows (12.6 M households). With 36 M
/// rows a share (three shares at 10 M households, 405 MB each) it was the
/// run's peak once the quarters were read one after the other, and again
/// with 20 M (four shares of 290 MiB) once Q's rows were 40 and 44 bytes;
/// each share more costs a pass over every row's number (issue #7).
const ROWS_PER_SHARE: usize = 12_000_000;

/// At most this many shares. Each share's gathering is a pass over every
/// row of both quarters, so with shares of a fixed size the passes grew
/// with the square of the rows: 7 at 10 M households, 13 at 20 M, where
/// the count took 2.83 × its CPU time at 10 M (issue #7). Past
/// `MAX_SHARES` × [`ROWS_PER_SHARE`] rows a share grows with the rows
/// instead, its table staying at 2 bytes a row of the run.
const MAX_SHARES: usize = 8;

/// Rows keyed and sorted at a time for `total` rows of both quarters.
fn rows_per_share(total: usize) -> usize {
    ROWS_PER_SHARE.max(total.div_ceil(MAX_SHARES))
}

/// Persons by (county, (state in Q-1, state in Q)).
type Counts<'a> = HashMap<(&'a str, (RollState, RollState)), u64>;

/// The counts as the table reports them: by county, then by states.
fn table_of(counts: Counts) -> Transitions {
    let mut table: Transitions = BTreeMap::new();
    for ((county, key), n) in counts {
        *table
            .entry(county.to_owned())
            .or_default()
            .entry(key)
            .or_default() += n;
    }
    table
}

fn count<'a>(counts: &mut Counts<'a>, county: &'a str, on: [bool; 4], n: u64) {
    let key = (RollState::of(on[0], on[1]), RollState::of(on[2], on[3]));
    *counts.entry((county, key)).or_default() += n;
}

/// A person's county and the rolls they are on, one row at a time in
/// slot order (Q-1's rolls, then Q's): on the roll of `slot`, and in the
/// county of their last row of Q, else of their first row of Q-1 (the
/// county the person starts with).
fn add_row<'a>(person: &mut (&'a str, [bool; 4]), region: &'a crate::model::Region, slot: usize) {
    if slot >= 2 {
        person.0 = region.county();
    }
    person.1[slot] = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::short_text::ShortText;

    /// The row's person found or added by their normalized number, then
    /// marked by [`add_row`].
    fn mark<'a>(
        persons: &mut HashMap<IdKey<'a>, (&'a str, [bool; 4])>,
        (id, region): (&'a PersonId, &'a crate::model::Region),
        slot: usize,
    ) {
        let person = persons
            .entry(id.normalized_key())
            .or_insert((region.county(), [false; 4]));
        add_row(person, region, slot);
    }

    /// A Q-1 household is found by its number whatever the order Q's
    /// households come in: the guesses change no answer.
    #[test]
    fn counterparts_are_the_households_of_the_same_number() {
        let numbers = |ids: &[&str]| ids.iter().map(|&id| ShortText::new(id)).collect::<Vec<_>>();
        let before = crate::model::group_households(&numbers(&["A", "B", "C", "D", "E"]), |_| true);
        let map = by_id(&before);
        let counterparts = Counterparts {
            households: &before,
            by_id: &map,
        };
        let walks: [&[&str]; 4] = [
            &["A", "B", "C", "D", "E"],
            // An entry, an exit (C), and a household that moved up.
            &["A", "X", "B", "E", "D"],
            &["E", "D", "C", "B", "A"],
            &["B", "B", "Y", "Z", "A"],
        ];
        for walk in walks {
            let mut last = None;
            let found: Vec<Option<usize>> = walk
                .iter()
                .map(|id| counterparts.find(id, &mut last))
                .collect();
            let by_map: Vec<Option<usize>> = walk.iter().map(|id| map.get(id)).collect();
            assert_eq!(found, by_map, "{walk:?}");
        }
        // A guess past the end of the roll is no household.
        let mut last = Some(4);
        assert_eq!(counterparts.find("F", &mut last), None);
        assert_eq!(last, Some(4));
    }

    #[test]
    fn shares_are_of_12_m_rows_and_at_most_eight() {
        assert_eq!(rows_per_share(7_589_238), ROWS_PER_SHARE);
        // 10 M households: seven shares of 12 M rows, as before.
        assert_eq!(75_931_794usize.div_ceil(rows_per_share(75_931_794)), 7);
        for total in [96_000_001, 151_892_878, 280_000_000, usize::MAX / 2] {
            let shares = total.div_ceil(rows_per_share(total));
            assert!(shares <= MAX_SHARES, "{total} rows in {shares} shares");
        }
    }

    /// The quarter before `q`'s, read from its files.
    fn previous_from_files(q: &QuarterData) -> Previous {
        let before =
            crate::pipeline::read_quarter_as(q.job, q.job.quarter.previous(), false).unwrap();
        Previous {
            dibao: before.dibao,
            poor: before.poor,
            source: "files",
        }
    }

    /// However many shares and buckets the keys are counted in, the table
    /// is the one a single share of one bucket gives (the bundled
    /// fixtures, Q-1 from files).
    #[test]
    fn transitions_counted_in_shares_are_those_of_one_share() {
        let fixture = crate::checks::FixtureQuarter::read();
        let q = fixture.data();
        let prev = previous_from_files(&q);
        let (one, _) = transitions_in_shares(&prev, &q, usize::MAX, usize::MAX);
        let persons: u64 = one.values().flat_map(|m| m.values()).sum();
        assert!(persons > 1000, "{persons} persons counted");
        for rows_per_share in [1, 7, 1000, usize::MAX] {
            for rows_per_bucket in [1, 13, 1000, usize::MAX] {
                let (table, presence) =
                    transitions_in_shares(&prev, &q, rows_per_share, rows_per_bucket);
                let what = format!("{rows_per_share} rows a share, {rows_per_bucket} a bucket");
                assert_eq!(table, one, "{what}");
                assert_presence_by_number(&prev, &q, &presence, &what);
            }
        }
    }

    /// Every 低保 row's presence on the other quarter's roll is what a
    /// set of that roll's normalized numbers says, for valid numbers and
    /// others alike.
    fn assert_presence_by_number(
        prev: &Previous,
        q: &QuarterData,
        presence: &DibaoPresence,
        what: &str,
    ) {
        fn numbers<R: RollRow>(rows: &[R]) -> HashSet<IdKey<'_>> {
            rows.iter().map(|r| r.id().normalized_key()).collect()
        }
        // Whether each row's number is in `other`.
        fn found_in<R: RollRow>(rows: &[R], other: &HashSet<IdKey>) -> Vec<bool> {
            rows.iter()
                .map(|r| other.contains(&r.id().normalized_key()))
                .collect()
        }
        fn unkeyed<R: RollRow>(rows: &[R]) -> usize {
            rows.iter().filter(|r| r.id().key().is_none()).count()
        }
        let (was, is) = (numbers(&prev.dibao.rows), numbers(&q.dibao.rows));
        let on_q: Vec<bool> = (0..prev.dibao.rows.len())
            .map(|r| presence.prev_on_q(r))
            .collect();
        let on_prev: Vec<bool> = (0..q.dibao.rows.len())
            .map(|r| presence.q_on_prev(r))
            .collect();
        assert_eq!(on_q, found_in(&prev.dibao.rows, &is), "Q-1's rows, {what}");
        assert_eq!(on_prev, found_in(&q.dibao.rows, &was), "Q's rows, {what}");
        // Both answers occur, and so do rows without a valid number.
        for bits in [&on_q, &on_prev] {
            assert!(bits.contains(&true) && bits.contains(&false), "{what}");
        }
        assert!(unkeyed(&prev.dibao.rows) > 0, "{what}");
        assert!(unkeyed(&q.dibao.rows) > 0, "{what}");
        // Each leaver's rows on Q's poor roll are those of their number;
        // those who stayed have none listed.
        let mut poor_rows: HashMap<IdKey, Vec<usize>> = HashMap::default();
        for (r, row) in q.poor.rows.iter().enumerate() {
            poor_rows
                .entry(row.id().normalized_key())
                .or_default()
                .push(r);
        }
        let mut leavers_on_poor = 0;
        for (r, row) in prev.dibao.rows.iter().enumerate() {
            let listed: Vec<usize> = presence.poor_rows_of_leaver(r).collect();
            let expected = match poor_rows.get(&row.id().normalized_key()) {
                Some(rows) if !on_q[r] => rows.clone(),
                _ => Vec::new(),
            };
            assert_eq!(listed, expected, "Q-1's row {r}, {what}");
            leavers_on_poor += usize::from(!listed.is_empty());
        }
        assert!(leavers_on_poor > 0, "{what}");
    }

    /// The table is the one a plain count gives: every person by their
    /// normalized number, marked in each roll they are on, in the county
    /// of their last row (Q's, else Q-1's). With several counties in the
    /// fixtures, it fails if persons are put in the wrong county.
    #[test]
    fn transitions_are_a_plain_count_of_persons_by_county() {
        let fixture = crate::checks::FixtureQuarter::read();
        let q = fixture.data();
        let prev = previous_from_files(&q);
        let mut persons: HashMap<IdKey, (&str, [bool; 4])> = HashMap::default();
        for r in &prev.dibao.rows {
            mark(&mut persons, (r.id(), r.region()), 0);
        }
        for r in &prev.poor.rows {
            mark(&mut persons, (r.id(), r.region()), 1);
        }
        for r in &q.dibao.rows {
            mark(&mut persons, (r.id(), r.region()), 2);
        }
        for r in &q.poor.rows {
            mark(&mut persons, (r.id(), r.region()), 3);
        }
        let mut counts: Counts = HashMap::default();
        for (county, on) in persons.into_values() {
            count(&mut counts, county, on, 1);
        }
        let expected = table_of(counts);
        assert!(expected.len() > 1, "the fixtures span several counties");
        assert_eq!(transitions(&prev, &q).0, expected);
    }

    #[test]
    fn thresholds_are_exact_at_the_boundary() {
        // 5000 → 3500 is exactly 30%.
        assert!(at_least(150_000, 500_000, 0.30));
        assert!(!at_least(149_999, 500_000, 0.30));
        assert!(at_least(12_000, 60_000, 0.20));
    }
}
