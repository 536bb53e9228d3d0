//! Identity conflicts: the same number under two names, a mistyped
//! number, a person placed in two counties, a person enrolled twice, and
//! numbers that are not valid at all.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::flags::{Flag, FlagDef, Kind, Severity};
use crate::identity::key_to_string;
use crate::model::{IdText, Member, NO_KEY, RollKind, ShortText};

use super::QuarterData;

/// What it finds: one person key on both rolls with different normalized
/// names.
/// Why it matters: either a name was mistyped or the number belongs to
/// someone else; benefits may be paid to the wrong person.
pub static NAME_CONFLICT: FlagDef = FlagDef {
    code: "name_conflict",
    label: "同号不同名",
    kind: Kind::Mismatch,
    severity: Severity::Medium,
    unit: "人员 (person_id)",
    rule: "同一身份证号在两册中的姓名(规范化后)不同",
    why: "姓名录入错误或号码属于他人,可能导致待遇发放对象错误。",
    example: "低保名册姓名“张晓明”,建档立卡名册姓名“张小明”",
};

/// What it finds: a person on each roll, left unmatched by number, with
/// the same county and name and numbers one typo apart (the contract's
/// rule); beyond it, a number Excel truncated to `…000` whose first 15
/// characters equal the other roll's valid number.
/// Why it matters: one of the two numbers was mistyped; the families are
/// linked anyway so that no false 应保未保 is raised, and the number must
/// be corrected.
pub static ID_CONFLICT: FlagDef = FlagDef {
    code: "id_conflict",
    label: "疑似身份证号录入错误",
    kind: Kind::Mismatch,
    severity: Severity::Medium,
    unit: "低保户 + 建档立卡户 (dibao_household_id, poor_household_id)",
    rule: "两册各有一人未按号码匹配,县区相同、姓名相同,号码等长且仅一位不同或相邻两位颠倒;另:一方号码末三位为000(被Excel截断)且前15位与另一方有效号码一致",
    why: "其中一方号码录入错误;两户已按同一人关联,须核实更正号码。",
    example: "低保名册号码 410322********1234 与建档立卡名册号码 410322********1243 相邻两位颠倒(第17、18位),姓名、县区相同,按同一人关联",
};

/// What it finds: one person key on both rolls under different counties.
/// Why it matters: a family registered in two places may be counted or
/// paid twice, or be nobody's responsibility.
pub static REGION_MISMATCH: FlagDef = FlagDef {
    code: "region_mismatch",
    label: "两册所属县区不一致",
    kind: Kind::Mismatch,
    severity: Severity::Medium,
    unit: "人员 (person_id)",
    rule: "同一人在两册中的县区代码(区划代码前六位)不同",
    why: "同一人在两地登记,可能重复计算或无人负责。",
    example: "低保名册县区 410322,建档立卡名册县区 410323",
};

/// What it finds: one person key in two or more households of one roll.
/// Why it matters: 重复享受 — the person draws support twice.
pub static DUPLICATE_ENROLLMENT: FlagDef = FlagDef {
    code: "duplicate_enrollment",
    label: "重复享受",
    kind: Kind::Mismatch,
    severity: Severity::High,
    unit: "人员 (person_id)",
    rule: "同一身份证号出现在同一名册的两个或更多户中",
    why: "同一人在多户重复享受待遇。",
    example: "同一身份证号在低保名册 2 个户中出现(户编号 A001;A002)",
};

/// What it finds: an ID number present but invalid after normalization
/// (wrong length or characters, province, birth date, check character,
/// Excel damage).
/// Why it matters: the person cannot be matched reliably across systems.
pub static INVALID_ID: FlagDef = FlagDef {
    code: "invalid_id",
    label: "身份证号码无效",
    kind: Kind::Quality,
    severity: Severity::Medium,
    unit: "人员 (名册、户编号、原始号码)",
    rule: "身份证号不为空,但规范化后不是有效号码",
    why: "号码无效的人员无法在各系统间可靠比对,须核实更正。",
    example: "低保名册身份证号码无效:校验码不符",
};

pub fn check(q: &QuarterData, out: &mut Vec<Flag>) {
    let m = q.matching;
    // Every (key, roll and row), sorted by key in parallel: only keys that
    // occur more than once can raise these flags. The roll is the row's
    // top bit, so a key's 低保 rows come first, each roll's in file order.
    // 16 bytes an entry, and a key's rows read as a stretch of the sorted
    // entries: (key, roll, row) took 24 (912 MB for the 38 M rows of Q at
    // 10 M households), and every key held twice got two vectors of rows
    // (7.3 M keys there); the entries were collected on one thread (issue
    // #7).
    //
    // Every row gets an entry, written in place on every core; a row
    // without a key gets `NO_KEY`, which sorts last and is cut off.
    // Filtered, the rows were collected in pieces and then copied into the
    // vector, which grew by doubling: at 10 M households about twice the
    // entries' 670 MB in fresh pages (issue #7).
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(q.dibao.rows.len() + q.poor.rows.len());
    entries.par_extend(
        q.dibao
            .rows
            .par_iter()
            .enumerate()
            .map(|(i, r)| (r.member.id.key_or_none(), i as u32)),
    );
    entries.par_extend(
        q.poor
            .rows
            .par_iter()
            .enumerate()
            .map(|(i, r)| (r.member.id.key_or_none(), POOR_ROW | i as u32)),
    );
    entries.par_sort_unstable();
    let keyed = entries.partition_point(|e| e.0 != NO_KEY);
    entries.truncate(keyed);
    // Each key on its own, a piece of the keys to a worker, flags in key
    // order. A key's rows are read in key order, not their own: each
    // read missed the cache at 10 M households, where the walk took 16 ×
    // its time at 1 M. So within a piece the rows of the keys a few keys
    // ahead are asked for (prefetched) before this key's are read.
    const AHEAD: usize = 8;
    let row_of_entry = |e: &(u64, u32)| -> &crate::model::Member {
        if e.1 & POOR_ROW == 0 {
            &q.dibao.rows[row_of(e)].member
        } else {
            &q.poor.rows[row_of(e)].member
        }
    };
    out.par_extend(
        key_pieces(&entries, 1 << 16)
            .into_par_iter()
            .flat_map_iter(|piece| {
                let shared: Vec<&[(u64, u32)]> = piece
                    .chunk_by(|a, b| a.0 == b.0)
                    .filter(|group| group.len() > 1)
                    .collect();
                let mut found = Vec::new();
                for (k, group) in shared.iter().enumerate() {
                    for e in shared.get(k + AHEAD).copied().unwrap_or_default() {
                        crate::memory::prefetch(row_of_entry(e));
                    }
                    let poor_from = group.partition_point(|e| e.1 & POOR_ROW == 0);
                    let (ds, ps) = group.split_at(poor_from);
                    shared_key_flags(q, group[0].0, ds, ps, &mut found);
                }
                found
            }),
    );
    drop(entries);

    // id_conflict: one row per (低保 household, poor household) of probable pairs.
    let mut by_households: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for (i, pair) in m.probable.iter().enumerate() {
        for &d in &pair.dibao_rows {
            for &p in &pair.poor_rows {
                by_households
                    .entry((
                        q.dibao.households.index_of_row(d),
                        q.poor.households.index_of_row(p),
                    ))
                    .or_default()
                    .push(i);
            }
        }
    }
    for ((dh, ph), mut pairs) in by_households {
        pairs.dedup();
        let first = &m.probable[pairs[0]];
        let dm = &q.dibao.rows[first.dibao_rows[0]].member;
        let sentences: Vec<String> = pairs
            .iter()
            .map(|&i| {
                let pair = &m.probable[i];
                let name = &q.dibao.rows[pair.dibao_rows[0]].member.name;
                format!(
                    "{}:低保名册号码 {} 与建档立卡名册号码 {} {},姓名、县区相同,按同一人关联(置信度 {:.2})",
                    name,
                    q.show_id(&pair.dibao_id),
                    q.show_id(&pair.poor_id),
                    pair.kind.describe(),
                    pair.confidence
                )
            })
            .collect();
        out.push(
            Flag::new(&ID_CONFLICT)
                .at(&dm.region)
                .dibao(&q.dibao.households[dh].id)
                .poor_at(&q.poor.households[ph].id, ph)
                .person(&first.dibao_id, dm.name)
                .detail(sentences.join(";")),
        );
    }

    // invalid_id: one row per (roll, household, number as given).
    invalid_ids(q, RollKind::Dibao, out);
    invalid_ids(q, RollKind::Poor, out);
}

/// Sorted entries cut into pieces of at least `piece` entries (the last
/// may be shorter), each cut where the key changes, so that every key's
/// entries lie in one piece.
fn key_pieces(entries: &[(u64, u32)], piece: usize) -> Vec<&[(u64, u32)]> {
    let piece = piece.max(1);
    let mut pieces = Vec::with_capacity(entries.len() / piece + 1);
    let mut rest = entries;
    while rest.len() > piece {
        let key = rest[piece - 1].0;
        let cut = piece + rest[piece..].partition_point(|e| e.0 == key);
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// The top bit of a keyed entry's row: set for a poor roll row. A roll
/// holds at most [`crate::model::MAX_ROWS_PER_ROLL`] (2³⁰) rows.
const POOR_ROW: u32 = 1 << 31;

/// The row of a keyed entry, in its roll.
fn row_of(entry: &(u64, u32)) -> usize {
    (entry.1 & !POOR_ROW) as usize
}

/// name_conflict, region_mismatch and duplicate_enrollment of one person
/// key held by the 低保 rows of entries `ds` and the poor rows of `ps`.
fn shared_key_flags(
    q: &QuarterData,
    key: u64,
    ds: &[(u64, u32)],
    ps: &[(u64, u32)],
    out: &mut Vec<Flag>,
) {
    // The number is spelled out only for a flag: most keys raise none.
    let id = || key_to_string(key);
    // name_conflict and region_mismatch: exact matches only.
    if !ds.is_empty() && !ps.is_empty() {
        let pairs = ds
            .iter()
            .flat_map(|d| ps.iter().map(move |p| (row_of(d), row_of(p))));
        let mut name_pair = None;
        let mut county_pair = None;
        for (d, p) in pairs {
            let (dm, pm) = (&q.dibao.rows[d].member, &q.poor.rows[p].member);
            // Equal raw names and one region handle, as nearly every pair
            // has, need no normalizing and no lookup of the codes.
            if name_pair.is_none() && dm.name != pm.name && dm.name_norm() != pm.name_norm() {
                name_pair = Some((d, p));
            }
            if county_pair.is_none()
                && dm.region != pm.region
                && dm.region.county() != pm.region.county()
            {
                county_pair = Some((d, p));
            }
        }
        if let Some((d, p)) = name_pair {
            let (dm, pm) = (&q.dibao.rows[d].member, &q.poor.rows[p].member);
            out.push(
                q.on_poor_row(person_flag(&NAME_CONFLICT, q, d, &id()), p)
                    .detail(format!(
                        "低保名册姓名“{}”,建档立卡名册姓名“{}”",
                        dm.name, pm.name
                    )),
            );
        }
        if let Some((d, p)) = county_pair {
            let (dm, pm) = (&q.dibao.rows[d].member, &q.poor.rows[p].member);
            out.push(
                q.on_poor_row(person_flag(&REGION_MISMATCH, q, d, &id()), p)
                    .detail(format!(
                        "低保名册县区 {},建档立卡名册县区 {}",
                        dm.region.county(),
                        pm.region.county()
                    )),
            );
        }
    }
    // duplicate_enrollment: two or more households of one roll. A set is
    // made only where a roll holds the key in two households.
    let spread = |rows: &[(u64, u32)], roll: RollKind| -> BTreeSet<ShortText> {
        let household = |e: &(u64, u32)| q.household_id(roll, row_of(e));
        match rows.split_first() {
            Some((first, rest)) if rest.iter().any(|r| household(r) != household(first)) => {
                rows.iter().map(|r| household(r).clone()).collect()
            }
            _ => BTreeSet::new(),
        }
    };
    let dh = spread(ds, RollKind::Dibao);
    let ph = spread(ps, RollKind::Poor);
    if dh.len() >= 2 || ph.len() >= 2 {
        let first = if dh.len() >= 2 {
            q.member(RollKind::Dibao, row_of(&ds[0]))
        } else {
            q.member(RollKind::Poor, row_of(&ps[0]))
        };
        let mut flag = Flag::new(&DUPLICATE_ENROLLMENT)
            .at(&first.region)
            .person(&id(), first.name);
        let mut parts = Vec::new();
        if dh.len() >= 2 {
            flag = flag.dibao(dh.iter().next().map(ShortText::as_str).unwrap_or(""));
            parts.push(format!(
                "在低保名册 {} 个户中出现(户编号 {})",
                dh.len(),
                join(&dh)
            ));
        }
        if ph.len() >= 2 {
            // The first household by number, placed by one of its rows.
            let first_row = ps
                .iter()
                .map(row_of)
                .min_by(|&a, &b| q.poor.household_id(a).cmp(q.poor.household_id(b)));
            if let Some(r) = first_row {
                flag = q.on_poor_row(flag, r);
            }
            parts.push(format!(
                "在建档立卡名册 {} 个户中出现(户编号 {})",
                ph.len(),
                join(&ph)
            ));
        }
        out.push(flag.detail(format!("同一身份证号{}", parts.join(","))));
    }
}

fn invalid_ids(q: &QuarterData, roll: RollKind, out: &mut Vec<Flag>) {
    let mut seen: BTreeSet<(&str, IdText)> = BTreeSet::new();
    let partners = match roll {
        RollKind::Dibao => &q.matching.dibao_partner,
        RollKind::Poor => &q.matching.poor_partner,
    };
    // The rows with an invalid number, found on every core (a walk of
    // every row on one thread; issue #7), in file order.
    let invalid: Vec<(usize, &Member, _)> = q
        .members(roll)
        .enumerate()
        .filter_map(|(i, m)| m.id.invalid_reason().map(|reason| (i, m, reason)))
        .collect();
    for (i, m, reason) in invalid {
        let household = q.household_id(roll, i);
        if !seen.insert((household.as_str(), m.id.given())) {
            continue;
        }
        let mut detail = format!("{}身份证号码无效:{}", roll.label(), reason.label());
        if !partners.get(i).is_empty() {
            let other = match roll {
                RollKind::Dibao => RollKind::Poor,
                RollKind::Poor => RollKind::Dibao,
            };
            detail.push_str(&format!(
                "(已与{}中同县同名、号码仅差一位的人员按疑似录入错误关联)",
                other.label()
            ));
        }
        let flag = Flag::new(&INVALID_ID)
            .at(&m.region)
            .person(&m.id.given(), m.name)
            .detail(detail);
        out.push(match roll {
            RollKind::Dibao => flag.dibao(household),
            RollKind::Poor => q.on_poor_row(flag, i),
        });
    }
}

/// A flag on the person of 低保 row `d`.
fn person_flag(def: &'static FlagDef, q: &QuarterData, d: usize, id: &str) -> Flag {
    let m = &q.dibao.rows[d].member;
    Flag::new(def)
        .at(&m.region)
        .dibao(q.dibao.household_id(d))
        .person(id, m.name)
}

fn join(set: &BTreeSet<ShortText>) -> String {
    set.iter()
        .map(ShortText::as_str)
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::key_pieces;
    use proptest::prelude::*;

    proptest! {
        /// The pieces are the entries in order, none empty, each at least
        /// `piece` long but the last, and no key in two pieces.
        #[test]
        fn pieces_cut_only_between_keys(
            mut keys in prop::collection::vec(0u64..40, 0..300),
            piece in 0usize..20,
        ) {
            keys.sort_unstable();
            let entries: Vec<(u64, u32)> =
                keys.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
            let pieces = key_pieces(&entries, piece);
            prop_assert_eq!(pieces.concat(), entries.clone());
            for (i, p) in pieces.iter().enumerate() {
                prop_assert!(!p.is_empty());
                if i + 1 < pieces.len() {
                    prop_assert!(p.len() >= piece.max(1));
                    prop_assert!(p.last().unwrap().0 != pieces[i + 1][0].0);
                }
            }
        }
    }
}
