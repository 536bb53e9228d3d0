//! The risk score of every poor household (contract §4): the sum of the
//! weights of its risk flags and of `relapse`, capped at 100, and its tier.

use rayon::prelude::*;

use std::ops::Range;
use std::sync::OnceLock;

use crate::checks::coverage::linked_dibao_ids;
use crate::checks::{CATALOG, QuarterData};
use crate::flags::{Flag, FlagDef, NOT_PLACED, PREVIOUS_ONLY};
use crate::job::RiskWeights;
use crate::model::{HouseholdType, Status, zh};
use crate::model::{Region, Text};
use crate::money::Cents;
use crate::sharded::ShardedMap;
use crate::short_text::ShortText;

/// One row of `households.csv`.
///
/// One per poor household, all held until the reports are written: the
/// status, the type and the tier are kept as what they are and named when
/// written, and the number is a 16-byte text. The row was 144 bytes (three
/// names as `&str`, a 24-byte number) and 10 M of them made the score
/// stage the run's peak at 10 M households (issue #7); the linked 低保
/// households, which about a quarter of the households have, are listed
/// apart ([`HouseholdRows`]) instead of a 24-byte text in every row (72 →
/// 48 bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct HouseholdRow {
    pub poor_household_id: ShortText,
    /// The head's region: county, township and village codes are read
    /// off it.
    pub region: Region,
    pub status: Status,
    pub household_type: HouseholdType,
    pub members: u32,
    pub annual_income: Cents,
    /// Where its linked 低保 households' numbers are in
    /// [`HouseholdRows::linked_dibao_ids`]; [`NOT_LINKED`] when it has none.
    pub linked: u32,
    /// Its flag codes, written `;`-joined in code order.
    pub flags: CodeSet,
    pub score: u32,
}

/// [`HouseholdRow::linked`] of a household linked to no 低保 household.
pub const NOT_LINKED: u32 = u32::MAX;

/// The households' rows in report order, and the `;`-joined numbers of
/// the 低保 households linked to each row that has any, in row order.
#[derive(Debug, Default)]
pub struct HouseholdRows {
    pub rows: Vec<HouseholdRow>,
    pub linked_dibao_ids: Vec<Text>,
}

impl HouseholdRows {
    /// The linked 低保 households' numbers of `row`, `;`-joined (empty
    /// when it has none).
    pub fn dibao_household_ids(&self, row: &HouseholdRow) -> &str {
        self.linked_dibao_ids
            .get(row.linked as usize)
            .map_or("", |ids| ids.as_str())
    }
}

impl HouseholdRow {
    /// 贫困户状态 as the reports name it.
    pub fn status_name(&self) -> &'static str {
        zh(&Status::ALL, self.status)
    }
    /// 户类型 as the reports name it.
    pub fn household_type_name(&self) -> &'static str {
        zh(&HouseholdType::ALL, self.household_type)
    }
    /// 风险等级: 高, 中 or 低.
    pub fn tier(&self) -> &'static str {
        tier(self.score)
    }
    /// The tier's place in [`TIERS`].
    pub fn tier_rank(&self) -> usize {
        tier_rank(self.score)
    }
}

/// The risk tiers as the reports name them, highest first.
pub const TIERS: [&str; 3] = ["高", "中", "低"];

pub fn tier(score: u32) -> &'static str {
    TIERS[tier_rank(score)]
}

/// The place in [`TIERS`] of a score's tier: 0 for 高, 1 for 中, 2 for 低.
pub fn tier_rank(score: u32) -> usize {
    match score {
        60.. => 0,
        30.. => 1,
        _ => 2,
    }
}

/// One row per poor household, sorted by score descending then id.
pub fn household_rows(q: &QuarterData, flags: &[Flag]) -> HouseholdRows {
    let started = std::time::Instant::now();
    let households = &q.poor.households;
    // Each household's codes, found once and then read by index: the
    // ordering and the rows each looked them up by number, and at 10 M
    // households those lookups miss the cache (the stage grew 20 × from
    // 1 M to 10 M; issue #7). A flag raised on a household of Q's roll
    // knows its place there and sets its code at that place; only flags
    // that name a household by its number alone are mapped by number, and
    // every household is looked up in that smaller map, if there are any.
    // A flag on a household of Q-1's only counts for none of Q's. A map of
    // every flag by number, built and looked up, was 1.8 s of this stage's
    // 4.5 at 10 M households.
    let codes_of: Vec<CodeSet> = {
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
        let placed: Vec<AtomicU32> = (0..households.len())
            .into_par_iter()
            .map(|_| AtomicU32::new(0))
            .collect();
        // One pass over the flags: a placed flag's code is set at its
        // place, a flag named by number is set aside for the map (a second
        // pass over the 1.3 GB of flags at 10 M households found them).
        //
        // The flags come in bucket order, their households in no order:
        // each code set at 10 M households (40 MB of them) missed the
        // cache, and the pass took 65 × its time at 1 M. The code set of
        // the flag sixteen ahead is asked for (prefetched) before this
        // flag's is set, so that the misses overlap.
        const AHEAD: usize = 16;
        let named: Vec<&Flag> = flags
            .par_chunks(1 << 14)
            .flat_map_iter(|chunk| {
                let mut named = Vec::new();
                for (k, f) in chunk.iter().enumerate() {
                    if let Some(codes) = chunk
                        .get(k + AHEAD)
                        .and_then(|ahead| placed.get(ahead.poor_household as usize))
                    {
                        crate::memory::prefetch(codes);
                    }
                    match f.poor_household {
                        NOT_PLACED => named.push(f),
                        PREVIOUS_ONLY => {}
                        place => {
                            if let Some(codes) = placed.get(place as usize) {
                                codes.fetch_or(CodeSet::of(f.def).0, Relaxed);
                            }
                        }
                    }
                }
                named
            })
            .collect();
        let by_number = codes_by_household(&named);
        // Every check that raises a flag on a household of Q's roll places
        // it, so the map is empty unless a flag names one by number alone;
        // the lookup of every household in it took 0.45 s at 10 M
        // households when it held the flags on rows (issue #7).
        let placed = placed
            .into_par_iter()
            .map(|codes| CodeSet(codes.into_inner()));
        if by_number.is_empty() {
            placed.collect()
        } else {
            households
                .par_iter()
                .zip(placed)
                .map(|(hh, by_place)| match by_number.get(hh.id.as_str()) {
                    Some(more) => CodeSet(by_place.0 | more.0),
                    None => by_place,
                })
                .collect()
        }
    };
    crate::memory::debug_step(started, "scoring: codes by household");
    let weights = CodeWeights::of(&q.job.weights);
    let is_linked = |h: usize| !q.matching.poor_linked.get(h).is_empty();
    // Each row is made from its household, its head row and its codes,
    // read in the order of the households' numbers ([`in_report_order`]).
    // A linked row holds its household's place until the rows are in
    // order.
    let make_row = |h: usize| {
        let hh = &households[h];
        let head = q.poor.head(hh);
        let codes = codes_of[h];
        HouseholdRow {
            poor_household_id: hh.id.clone(),
            region: head.member.region,
            status: head.status,
            household_type: head.household_type,
            members: hh.member_count() as u32,
            annual_income: head.annual_income.get(),
            linked: if is_linked(h) { h as u32 } else { NOT_LINKED },
            flags: codes,
            score: weights.score(codes),
        }
    };
    let mut rows = in_report_order(
        households.len(),
        |h| &households[h].id,
        |h| weights.score(codes_of[h]),
        make_row,
        |a: &HouseholdRow, b: &HouseholdRow| {
            b.score
                .cmp(&a.score)
                .then_with(|| a.poor_household_id.cmp(&b.poor_household_id))
        },
    );
    drop(codes_of);
    crate::memory::debug_step(started, "scoring: rows ordered");
    // The linked rows numbered in row order, then their numbers made in
    // that order.
    let mut linked_places = Vec::new();
    for row in &mut rows {
        if row.linked != NOT_LINKED {
            linked_places.push(row.linked as usize);
            row.linked = (linked_places.len() - 1) as u32;
        }
    }
    let linked_dibao_ids: Vec<Text> = linked_places
        .par_iter()
        .map(|&h| linked_dibao_ids(q, h))
        .collect();
    HouseholdRows {
        rows,
        linked_dibao_ids,
    }
}

/// The flag codes of every definition in code order: a [`CodeSet`]'s bit
/// `i` is the `i`-th of them, so a set names its codes sorted.
fn codes_in_order() -> &'static [&'static FlagDef; CATALOG.len()] {
    static ORDER: OnceLock<[&'static FlagDef; CATALOG.len()]> = OnceLock::new();
    ORDER.get_or_init(|| {
        let mut order = CATALOG;
        order.sort_unstable_by_key(|d| d.code);
        order
    })
}

/// A set of flag codes in four bytes: a household's codes, written
/// `;`-joined in code order. It replaced a `Vec` of codes per household
/// in the score stage's map and a joined text per household row, 10 M of
/// each at 10 M households (issue #7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeSet(u32);

const _: () = assert!(CATALOG.len() <= u32::BITS as usize);

impl CodeSet {
    /// The set of one code, `def`'s, found by its place in the code order.
    fn of(def: &FlagDef) -> CodeSet {
        let order = codes_in_order();
        let at = order
            .iter()
            .position(|d| std::ptr::eq(*d, def))
            .or_else(|| order.iter().position(|d| d.code == def.code))
            .expect("every flag's definition is in the catalog");
        CodeSet(1 << at)
    }

    /// The definitions of the codes, in code order.
    pub fn defs(self) -> impl Iterator<Item = &'static FlagDef> {
        codes_in_order()
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, d)| *d)
    }

    /// The codes, in code order.
    pub fn codes(self) -> impl Iterator<Item = &'static str> {
        self.defs().map(|d| d.code)
    }

    /// The codes `;`-joined, as `households.csv` has them: made in place
    /// (inline when short), since each writer asks for every household's.
    pub fn joined(self) -> crate::model::Text {
        let mut joined = crate::model::Text::default();
        for (i, code) in self.codes().enumerate() {
            if i > 0 {
                joined.push(';');
            }
            joined.push_str(code);
        }
        joined
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits: equal sets, equal bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

/// Each code's weight by its bit (0 for a code the score leaves out).
struct CodeWeights([u32; CATALOG.len()]);

impl CodeWeights {
    fn of(weights: &RiskWeights) -> CodeWeights {
        let mut by_bit = [0; CATALOG.len()];
        for (w, d) in by_bit.iter_mut().zip(codes_in_order()) {
            *w = weights.weight(d.code).unwrap_or(0);
        }
        CodeWeights(by_bit)
    }

    /// The score of a household with the codes `codes` (contract §4):
    /// the sum of their weights, capped at [`MAX_SCORE`]. Bit by set bit:
    /// most households have none or one, and every household's score is
    /// asked for twice.
    fn score(&self, codes: CodeSet) -> u32 {
        let mut bits = codes.0;
        let mut sum = 0u32;
        while bits != 0 {
            sum = sum.saturating_add(self.0[bits.trailing_zeros() as usize]);
            bits &= bits - 1;
        }
        sum.min(MAX_SCORE)
    }
}

/// The highest risk score (contract §4).
const MAX_SCORE: u32 = 100;

/// Rolls whose numbers fall more often than this from one household to
/// the next are put in order by sorting their rows.
const MAX_NUMBER_DESCENTS: usize = 64;

/// Households `0..count` in the order of their numbers, `number(h)`
/// household `h`'s, when they fall at most [`MAX_NUMBER_DESCENTS`] times
/// from one household to the next; else `None`. `count` fits in a `u32`.
fn households_by_number<'a, N>(
    count: usize,
    number: &(impl Fn(usize) -> &'a N + Sync),
) -> Option<Vec<u32>>
where
    N: Ord + Sync + ?Sized + 'a,
{
    let mut falls: Vec<usize> = (1..count)
        .into_par_iter()
        .filter(|&h| number(h - 1) > number(h))
        .take_any(MAX_NUMBER_DESCENTS + 1)
        .collect();
    if falls.len() > MAX_NUMBER_DESCENTS {
        return None;
    }
    falls.sort_unstable();
    let starts = std::iter::once(0).chain(falls.iter().copied());
    let ends = falls.iter().copied().chain(std::iter::once(count));
    let runs: Vec<Range<usize>> = starts
        .zip(ends)
        .map(|(start, end)| start..end)
        .filter(|run| !run.is_empty())
        .collect();
    Some(merged(&runs, count, number))
}

/// The households of `runs`, each run in the order of the households'
/// numbers, merged into that order. The numbers are cut at numbers of the
/// longest run into a few stretches for each core, and each stretch of
/// every run is merged on its own, side by side. A sort of the
/// households' places that merged the runs it found took 0.5 s on one
/// core at 10 M households (issue #7).
fn merged<'a, N>(
    runs: &[Range<usize>],
    count: usize,
    number: &(impl Fn(usize) -> &'a N + Sync),
) -> Vec<u32>
where
    N: Ord + Sync + ?Sized + 'a,
{
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let longest = runs.iter().max_by_key(|run| run.len()).cloned();
    let longest = longest.unwrap_or_default();
    let parts = (rayon::current_num_threads() * 4).clamp(1, longest.len().max(1));
    // Where in each run the numbers below `bound` end.
    let below = |run: &Range<usize>, bound: &N| {
        let (mut low, mut high) = (run.start, run.end);
        while low < high {
            let mid = low + (high - low) / 2;
            if number(mid) < bound {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    };
    // `cuts[p][r]`: where stretch `p` starts in run `r`; the last row, the
    // runs' ends.
    let cuts: Vec<Vec<usize>> = (0..=parts)
        .map(|p| {
            runs.iter()
                .map(|run| match p {
                    0 => run.start,
                    p if p == parts => run.end,
                    p => below(run, number(longest.start + longest.len() * p / parts)),
                })
                .collect()
        })
        .collect();
    let mut order = vec![0u32; count];
    let mut outs = Vec::with_capacity(parts);
    let mut rest = order.as_mut_slice();
    for p in 0..parts {
        let size = (0..runs.len()).map(|r| cuts[p + 1][r] - cuts[p][r]).sum();
        let (out, after) = std::mem::take(&mut rest).split_at_mut(size);
        outs.push(out);
        rest = after;
    }
    outs.into_par_iter().enumerate().for_each(|(p, out)| {
        let (from, to) = (&cuts[p], &cuts[p + 1]);
        let mut heads: BinaryHeap<Reverse<(&N, usize, usize)>> = (0..runs.len())
            .filter(|&r| from[r] < to[r])
            .map(|r| Reverse((number(from[r]), from[r], r)))
            .collect();
        for slot in out {
            let Some(Reverse((_, h, r))) = heads.pop() else {
                break;
            };
            *slot = h as u32;
            if h + 1 < to[r] {
                heads.push(Reverse((number(h + 1), h + 1, r)));
            }
        }
    });
    order
}

/// The rows of households `0..count`, `make(h)` the row of household
/// `h`, in report order: `score(h)` descending, then `number(h)`, which
/// is unique to each household; `report_order` orders two rows so.
///
/// A roll is written nearly in the order of its households' numbers (a
/// generated roll of 10 M households falls four times), and then the
/// households are put in that order by merging its runs
/// ([`households_by_number`]), four bytes a household, and each row is
/// made straight into its place: in the stretch of its score, after the
/// rows of lower numbers. The rows made in roll order and then sorted by (score,
/// number), 48 bytes moved at every step of the sort, took 1.36 s at 10 M
/// households, 18 × the time at 1 M (issue #7); that is what a roll in
/// another order still gets.
fn in_report_order<'a, N, R>(
    count: usize,
    number: impl Fn(usize) -> &'a N + Sync,
    score: impl Fn(usize) -> u32 + Sync,
    make: impl Fn(usize) -> R + Sync,
    report_order: impl Fn(&R, &R) -> std::cmp::Ordering + Sync,
) -> Vec<R>
where
    N: Ord + Sync + ?Sized + 'a,
    R: Send,
{
    let by_number = u32::try_from(count)
        .ok()
        .and_then(|_| households_by_number(count, &number));
    let Some(by_number) = by_number else {
        let mut rows: Vec<R> = (0..count).into_par_iter().map(&make).collect();
        rows.par_sort_unstable_by(report_order);
        return rows;
    };
    // Bucket `b` holds the rows of score `MAX_SCORE - b`.
    let bucket = |h: u32| (MAX_SCORE - score(h as usize).min(MAX_SCORE)) as usize;
    let buckets = MAX_SCORE as usize + 1;
    let pieces = crate::bucketed::pieces(by_number.len());
    let counts: Vec<Vec<usize>> = pieces
        .par_iter()
        .map(|piece| {
            let mut counts = vec![0; buckets];
            for &h in &by_number[piece.clone()] {
                counts[bucket(h)] += 1;
            }
            counts
        })
        .collect();
    crate::bucketed::gather(
        pieces.len(),
        buckets,
        |piece, b| counts[piece][b],
        |piece, out| {
            for &h in &by_number[pieces[piece].clone()] {
                out.push(bucket(h), make(h as usize));
            }
        },
    )
    .entries
}

/// The flag codes of each poor household number, of the flags not placed
/// in Q's poor roll ([`Flag::poor_household`]), built on every core (a map
/// of all 12 M flags at 10 M households built on one thread took 3.9 s of
/// the score stage's 10.1 s there; issue #7).
///
/// The map holds each number as a copy (16 bytes, inline when it is 15
/// bytes or shorter): a lookup by a household's number then reads the map
/// alone, not a flag at a random place in 1.3 GB of flags.
fn codes_by_household(flags: &[&Flag]) -> ShardedMap<ShortText, CodeSet> {
    ShardedMap::build(
        flags.len(),
        |i| {
            let f = flags[i];
            (f.poor_household == NOT_PLACED && !f.poor_household_id.is_empty())
                .then(|| (f.poor_household_id.clone(), CodeSet::of(f.def)))
        },
        |set, more| set.0 |= more.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's default weights.
    fn default_weights() -> RiskWeights {
        RiskWeights(
            RiskWeights::SCORED
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        )
    }

    /// The contract's score, by code names: what [`CodeWeights::score`]
    /// computes by bits.
    fn score<'a>(codes: impl IntoIterator<Item = &'a str>, weights: &RiskWeights) -> u32 {
        let sum: u32 = codes.into_iter().filter_map(|c| weights.weight(c)).sum();
        sum.min(100)
    }

    #[test]
    fn codes_by_household_are_each_numbers_codes_sorted_once() {
        use std::collections::{BTreeMap, BTreeSet};
        let catalog = crate::checks::CATALOG;
        let mut flags = Vec::new();
        let mut expected: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for i in 0..3000usize {
            let def = catalog[i * 7 % catalog.len()];
            let id = if i % 11 == 0 {
                String::new()
            } else {
                format!("户{}", i % 257)
            };
            if !id.is_empty() {
                expected.entry(id.clone()).or_default().insert(def.code);
            }
            flags.push(Flag::new(def).poor(&id));
        }
        let codes = codes_by_household(&flags.iter().collect::<Vec<_>>());
        for (id, want) in &expected {
            let got = codes.get(id.as_str()).copied().unwrap_or_default();
            assert_eq!(
                got.codes().collect::<Vec<_>>(),
                want.iter().copied().collect::<Vec<_>>(),
                "{id}"
            );
        }
        assert!(codes.get("户999").is_none());
        assert!(codes.get("").is_none());
        assert_eq!(codes.len(), expected.len());
    }

    /// One row per household of the roll, by score (highest first), then
    /// number; each linked row names its own household's linked 低保
    /// households, numbered in row order (the bundled fixtures).
    #[test]
    fn rows_are_every_household_in_report_order_with_its_links() {
        let fixture = crate::checks::FixtureQuarter::read();
        let q = fixture.data();
        let flags: Vec<Flag> = crate::checks::run_all(&q).into_iter().flatten().collect();
        let rows = household_rows(&q, &flags);
        assert_eq!(rows.rows.len(), q.poor.households.len());
        assert!(rows.rows.windows(2).all(|w| {
            (std::cmp::Reverse(w[0].score), &w[0].poor_household_id)
                < (std::cmp::Reverse(w[1].score), &w[1].poor_household_id)
        }));
        assert!(rows.rows.iter().any(|r| r.score > 0));
        let place: std::collections::HashMap<&str, usize> = q
            .poor
            .households
            .iter()
            .enumerate()
            .map(|(h, hh)| (hh.id.as_str(), h))
            .collect();
        let mut next = 0;
        for row in &rows.rows {
            let h = place[row.poor_household_id.as_str()];
            let links = linked_dibao_ids(&q, h);
            if row.linked == NOT_LINKED {
                assert!(q.matching.poor_linked.get(h).is_empty());
            } else {
                assert_eq!(row.linked, next);
                assert_eq!(rows.dibao_household_ids(row), links.as_str());
                next += 1;
            }
        }
        assert!(next > 10, "{next} linked rows");
        assert_eq!(rows.linked_dibao_ids.len(), next as usize);
    }

    /// A household's codes are the same whether its flags know its place
    /// in the roll or name it by number alone (the bundled fixtures).
    #[test]
    fn placed_flags_score_as_flags_named_by_number() {
        let fixture = crate::checks::FixtureQuarter::read();
        let q = fixture.data();
        let flags: Vec<Flag> = crate::checks::run_all(&q).into_iter().flatten().collect();
        let placed = flags
            .iter()
            .filter(|f| f.poor_household != NOT_PLACED)
            .count();
        assert!(placed > 100, "{placed} flags placed");
        // Every check places the flags it raises on Q's poor households,
        // so the map by number is left empty.
        assert!(
            flags
                .iter()
                .all(|f| f.poor_household_id.is_empty() || f.poor_household != NOT_PLACED)
        );
        let by_number: Vec<Flag> = flags
            .iter()
            .map(|f| {
                let id = f.poor_household_id.clone();
                f.clone().poor(&id)
            })
            .collect();
        assert!(by_number.iter().all(|f| f.poor_household == NOT_PLACED));
        let (a, b) = (household_rows(&q, &flags), household_rows(&q, &by_number));
        assert!(a.rows.iter().any(|r| !r.flags.is_empty()));
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.linked_dibao_ids, b.linked_dibao_ids);
    }

    #[test]
    fn code_sets_name_their_codes_sorted_and_score_as_the_codes_do() {
        let w = default_weights();
        let weights = CodeWeights::of(&w);
        let catalog = crate::checks::CATALOG;
        // Every code alone, then sets of several in catalog order.
        let mut sets: Vec<Vec<&'static FlagDef>> = catalog.iter().map(|d| vec![*d]).collect();
        for step in [2, 3, 5, 7] {
            for start in 0..step {
                sets.push(catalog.iter().copied().skip(start).step_by(step).collect());
            }
        }
        sets.push(catalog.to_vec());
        sets.push(Vec::new());
        for defs in sets {
            let set = CodeSet(defs.iter().fold(0, |acc, d| acc | CodeSet::of(d).0));
            let mut codes: Vec<&str> = defs.iter().map(|d| d.code).collect();
            codes.sort_unstable();
            assert_eq!(set.codes().collect::<Vec<_>>(), codes);
            assert_eq!(set.joined(), codes.join(";"));
            assert_eq!(set.is_empty(), codes.is_empty());
            assert_eq!(
                weights.score(set),
                score(codes.iter().copied(), &w),
                "{codes:?}"
            );
        }
    }

    /// `numbers` sorted, then cut into `runs` runs laid last first (so
    /// that the numbers fall `runs - 1` times), and the rows of
    /// [`in_report_order`] against the rows sorted outright.
    fn check_report_order(numbers: Vec<u32>, scores: &[u32], runs: usize) {
        let mut sorted = numbers;
        sorted.sort_unstable();
        sorted.dedup();
        let run = sorted.len().div_ceil(runs.max(1)).max(1);
        let laid: Vec<u32> = sorted.chunks(run).rev().flatten().copied().collect();
        let score = |h: usize| scores[h % scores.len()];
        let report_order =
            |a: &(u32, u32), b: &(u32, u32)| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1));
        let rows = in_report_order(
            laid.len(),
            |h| &laid[h],
            score,
            |h| (score(h), laid[h]),
            report_order,
        );
        let mut expected: Vec<(u32, u32)> = (0..laid.len()).map(|h| (score(h), laid[h])).collect();
        expected.sort_by(report_order);
        assert_eq!(rows, expected, "{} rows in {runs} runs", laid.len());
    }

    proptest::proptest! {
        /// Few runs take the merge and the buckets; many the sort of rows.
        #[test]
        fn rows_come_in_report_order_whatever_the_roll_order(
            numbers in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..2000),
            scores in proptest::collection::vec(0..=MAX_SCORE, 1..50),
            runs in 1..=2 * MAX_NUMBER_DESCENTS,
        ) {
            check_report_order(numbers, &scores, runs);
        }
    }

    /// Rows of several pieces ([`crate::bucketed::PIECE_ROWS`]) each.
    #[test]
    fn many_rows_come_in_report_order() {
        let numbers: Vec<u32> = (0..300_000u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let scores: Vec<u32> = (0..97).map(|i| i * 37 % 101).collect();
        for runs in [1, 5, MAX_NUMBER_DESCENTS + 1, 1000] {
            check_report_order(numbers.clone(), &scores, runs);
        }
    }

    #[test]
    fn default_weights_sum_and_cap() {
        let w = default_weights();
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
