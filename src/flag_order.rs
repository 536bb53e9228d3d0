//! The run's flags in one vector, in the contract's order (§5: severity,
//! flag, county_code, poor_household_id, dibao_household_id, person_id).
//!
//! The checks' lists are moved into the vector bucket by bucket, where
//! the lists were concatenated: a bucket is one definition's flags in a
//! stretch of counties, and the buckets lie in the contract's order, so
//! each is then put in order on its own, side by side. Within a bucket a
//! sort of small keys decides the order and the flags are then moved into
//! place, in the cache. One sort of all 12.4 M flags at 10 M households
//! (104 bytes each then, every pass of the sort over 1.3 GB, household numbers
//! compared as texts), after the concatenation, made a sort stage of
//! 3.3–4.1 s in three runs there, 15–19 × its time at 1 M, faster than the
//! rows grow; bucket by bucket it took 2.2–3.2 s in five (issue #7). A
//! sort of keys across all the flags was tried too: moving 12.4 M flags
//! into their places, one cache miss after another on one core, took
//! 2.1 s by itself.

use std::cmp::Ordering;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::checks::CATALOG;
use crate::county_ranks::CountyRanks;
use crate::flags::{Flag, FlagDef};
use crate::model::Text;

/// Counties are grouped into at most this many stretches of consecutive
/// counties for the buckets, so that the buckets (definitions × groups)
/// stay few whatever the number of counties (a nation has about 3,000).
const COUNTY_GROUPS: usize = 64;

/// A bucket holding more flags than this is sorted on every core.
const PARALLEL_BUCKET: usize = 1 << 16;

/// Flags counted and moved by one task.
const PIECE: usize = 1 << 16;

/// The flags of `lists` as one vector of exactly their number, in the
/// contract's order, the person ID compared as written (masked when
/// `mask`), then every other field, so that the order is total and the
/// same on every run. Each list is freed as soon as its flags are moved.
pub fn sorted(lists: Vec<Vec<Flag>>, mask: bool) -> Vec<Flag> {
    sorted_by_pieces(lists, mask, PIECE)
}

/// [`sorted`], `piece` flags counted and moved by a task.
fn sorted_by_pieces(lists: Vec<Vec<Flag>>, mask: bool, piece: usize) -> Vec<Flag> {
    let started = std::time::Instant::now();
    let buckets = Buckets::new();
    // The lists cut into pieces (a list shorter than a piece is one), in
    // list order: each piece's flags are counted, then moved, on their
    // own, so that a long list is moved on every core.
    let pieces: Vec<(usize, std::ops::Range<usize>)> = lists
        .iter()
        .enumerate()
        .flat_map(|(l, list)| {
            (0..list.len())
                .step_by(piece)
                .map(move |from| (l, from..(from + piece).min(list.len())))
        })
        .collect();
    let sizes: Vec<Vec<usize>> = pieces
        .par_iter()
        .map(|(l, flags)| {
            let mut sizes = vec![0; buckets.count()];
            let mut last = None;
            for f in &lists[*l][flags.clone()] {
                sizes[buckets.of(f, &mut last)] += 1;
            }
            sizes
        })
        .collect();
    let total: usize = sizes.iter().flatten().sum();
    let bucket_sizes: Vec<usize> = (0..buckets.count())
        .map(|b| sizes.iter().map(|s| s[b]).sum())
        .collect();
    crate::memory::debug_step(started, "flags: counted by bucket");

    let mut all: Vec<Flag> = Vec::with_capacity(total);
    // Each piece's own stretch of each bucket, cut from the spare capacity
    // bucket by bucket, the pieces' stretches in piece order within each.
    let mut stretches: Vec<Vec<&mut [MaybeUninit<Flag>]>> = (0..pieces.len())
        .map(|_| Vec::with_capacity(buckets.count()))
        .collect();
    let mut rest = &mut all.spare_capacity_mut()[..total];
    for b in 0..buckets.count() {
        for (piece, piece_sizes) in sizes.iter().enumerate() {
            let (stretch, after) = std::mem::take(&mut rest).split_at_mut(piece_sizes[b]);
            stretches[piece].push(stretch);
            rest = after;
        }
    }
    // One list at a time, its pieces side by side, and the list freed
    // before the next: as a concatenation would, the flags are held about
    // once. Lists moved side by side held two whole lists beside the
    // vector they were moved into (7,176 MiB at 10 M households against
    // 6,804; issue #7).
    let mut stretches = stretches.into_iter();
    let mut filled = true;
    for mut list in lists {
        let pieces = list.len().div_ceil(piece);
        let list_stretches: Vec<_> = stretches.by_ref().take(pieces).collect();
        filled &= list_stretches.len() == pieces;
        filled &= list
            .par_chunks_mut(piece)
            .zip(list_stretches)
            .all(|(piece, mut stretches)| {
                let mut at = vec![0; stretches.len()];
                let mut last = None;
                // Each flag is moved out, an empty flag left in its place
                // (no allocation: its texts are empty), made afresh in a
                // few stores: cloned from one empty flag, field by field,
                // here and in `move_into_places`, `Flag::clone` was 5.8 %
                // of the sort and score stages' CPU samples at 10 M
                // households (issue #7).
                let def = piece[0].def;
                for slot in piece {
                    let f = std::mem::replace(slot, Flag::new(def));
                    let b = buckets.of(&f, &mut last);
                    stretches[b][at[b]].write(f);
                    at[b] += 1;
                }
                stretches.iter().zip(&at).all(|(s, &n)| s.len() == n)
            });
    }
    filled &= stretches.next().is_none();
    assert!(filled, "every flag went to the bucket it was counted in");
    // SAFETY: the stretches cover the first `total` slots of the spare
    // capacity, each exactly once; every piece had its own stretches and
    // every stretch was handed out (checked above), and each was filled,
    // slot by slot, to its length (checked above): the slots are
    // initialized.
    unsafe { all.set_len(total) };
    crate::memory::debug_step(started, "flags: moved into their buckets");

    let counties = &buckets.counties;
    let mut rest = all.as_mut_slice();
    let mut bucket_slices = Vec::with_capacity(bucket_sizes.len());
    for &size in &bucket_sizes {
        let (bucket, after) = std::mem::take(&mut rest).split_at_mut(size);
        bucket_slices.push(bucket);
        rest = after;
    }
    bucket_slices
        .into_par_iter()
        .for_each(|bucket| sort_bucket(bucket, counties, mask));
    crate::memory::debug_step(started, "flags: buckets sorted");
    all
}

/// One bucket in order: its flags' keys sorted, then the flags moved into
/// their places. The keys compare integers where the flags compared
/// household numbers as texts, and move 24 bytes where the flags moved
/// 72 (104 until 2026-12-02). Within a bucket the flags are then moved
/// into place ([`move_into_places`]); across all the flags that was
/// 2.1 s by itself (issue #7).
fn sort_bucket(bucket: &mut [Flag], counties: &CountyRanks, mask: bool) {
    let by_fields = |a: &Flag, b: &Flag| compare(a, b, counties, mask);
    if u32::try_from(bucket.len()).is_err() {
        bucket.par_sort_unstable_by(by_fields);
        return;
    }
    let mut keys: Vec<SortKey> = bucket
        .iter()
        .enumerate()
        .map(|(i, f)| SortKey::new(f, counties.rank(f.region), i as u32))
        .collect();
    let flags = &*bucket;
    let by_key = |a: &SortKey, b: &SortKey| {
        a.cmp_leading(b)
            .then_with(|| by_fields(&flags[a.place()], &flags[b.place()]))
    };
    if keys.len() > PARALLEL_BUCKET {
        keys.par_sort_by(by_key);
    } else {
        keys.sort_by(by_key);
    }
    let places: Vec<u32> = keys.iter().map(|k| k.place() as u32).collect();
    drop(keys);
    move_into_places(bucket, &places);
}

/// Put `flags[places[i]]` at `i` for every `i` (`places` is a
/// permutation): the flags are moved out, in their new order, into a
/// vector of their own, the flag `AHEAD` places on asked for (prefetched)
/// before each is moved, and then moved back in one pass.
///
/// Moved in place, cycle by cycle, each flag's address was known only
/// once the flag before it had been read: one cache miss after another,
/// none overlapping. At 10 M households a bucket is tens of MB, and the
/// sort stage's bucket step took 29 × its time at 1 M (1.25 s against
/// 0.043 s; issue #7). The vector holds a bucket's flags for a moment,
/// one bucket per core; the sort stage is 700 MB below the run's peak
/// there.
fn move_into_places(flags: &mut [Flag], places: &[u32]) {
    const AHEAD: usize = 16;
    let Some(def) = flags.first().map(|f| f.def) else {
        return;
    };
    let mut ordered = Vec::with_capacity(flags.len());
    for (k, &from) in places.iter().enumerate() {
        if let Some(&ahead) = places.get(k + AHEAD) {
            crate::memory::prefetch(&flags[ahead as usize]);
        }
        // An empty flag (no allocation) is left behind, and dropped when
        // the flags move back.
        ordered.push(std::mem::replace(&mut flags[from as usize], Flag::new(def)));
    }
    for (slot, flag) in flags.iter_mut().zip(ordered) {
        *slot = flag;
    }
}

/// A flag's county and household part as three words, ordered as
/// [`compare`] orders two flags of one definition (two flags with
/// different keys compare as their keys do; equal keys say nothing), with
/// the flag's place in its bucket in the low 32 bits of the last word,
/// which the comparison skips.
///
/// `head`: the county's rank, then four bytes of the household part;
/// `middle` and the top 24 bits of `tail`: eleven more. The household
/// part is a tag byte and 14 bytes of a number, zero-padded: tag 1 and
/// the poor household's number, or, where a flag has none (which orders
/// first), tag 0 and the 低保 household's number, the next field in order.
struct SortKey {
    head: u64,
    middle: u64,
    tail: u64,
}

impl SortKey {
    const PLACE_BITS: u32 = 32;

    fn new(flag: &Flag, county_rank: u32, place: u32) -> SortKey {
        let mut bytes = [0u8; 15];
        let number = if flag.poor_household_id.is_empty() {
            flag.dibao_household_id.as_bytes()
        } else {
            bytes[0] = 1;
            flag.poor_household_id.as_bytes()
        };
        let n = number.len().min(14);
        bytes[1..=n].copy_from_slice(&number[..n]);
        let word = |range: std::ops::Range<usize>| {
            range.fold(0u64, |word, i| (word << 8) | u64::from(bytes[i]))
        };
        SortKey {
            head: u64::from(county_rank) << 32 | word(0..4),
            middle: word(4..12),
            tail: word(12..15) << 40 | u64::from(place),
        }
    }

    fn place(&self) -> usize {
        (self.tail & u64::from(u32::MAX)) as usize
    }

    fn cmp_leading(&self, other: &SortKey) -> Ordering {
        (self.head, self.middle, self.tail >> Self::PLACE_BITS).cmp(&(
            other.head,
            other.middle,
            other.tail >> Self::PLACE_BITS,
        ))
    }
}

/// The contract's order of two flags, field by field.
fn compare(a: &Flag, b: &Flag, counties: &CountyRanks, mask: bool) -> Ordering {
    // The masked ID is computed only for the few comparisons that reach
    // it; an ID number's masked form fits in 24 bytes and so does not
    // allocate.
    let written = |id: &str| {
        if mask {
            crate::identity::mask_id(id)
        } else {
            Text::default()
        }
    };
    // Flags compared mostly share their definition (a bucket holds one):
    // one definition has one severity and one code, so those are compared
    // only when the definitions differ.
    let by_def = || {
        a.def
            .severity
            .cmp(&b.def.severity)
            .then_with(|| a.def.code.cmp(b.def.code))
    };
    (if std::ptr::eq(a.def, b.def) {
        Ordering::Equal
    } else {
        by_def()
    })
    .then_with(|| counties.rank(a.region).cmp(&counties.rank(b.region)))
    .then_with(|| a.poor_household_id.cmp(&b.poor_household_id))
    .then_with(|| a.dibao_household_id.cmp(&b.dibao_household_id))
    .then_with(|| written(&a.person_id).cmp(&written(&b.person_id)))
    .then_with(|| a.person_id.cmp(&b.person_id))
    .then_with(|| a.detail.cmp(&b.detail))
    .then_with(|| a.region.cmp(&b.region))
    .then_with(|| a.name.cmp(&b.name))
}

/// The bucket of a flag: its definition's rank, then its county's group
/// (consecutive counties in county order). A flag in an earlier bucket
/// comes earlier in the contract's order.
struct Buckets {
    counties: CountyRanks,
    /// Counties per group, rounded up.
    counties_per_group: u32,
    groups: usize,
}

impl Buckets {
    fn new() -> Buckets {
        let counties = CountyRanks::of_shared_texts();
        let county_count = counties.count().max(1);
        let counties_per_group = county_count.div_ceil(COUNTY_GROUPS);
        Buckets {
            counties,
            counties_per_group: counties_per_group as u32,
            groups: county_count.div_ceil(counties_per_group),
        }
    }

    fn count(&self) -> usize {
        CATALOG.len() * self.groups
    }

    /// The bucket of `f`; `last` holds the last definition seen and its
    /// rank, as a list's flags come in runs of one definition.
    #[inline]
    fn of(&self, f: &Flag, last: &mut Option<(&'static FlagDef, usize)>) -> usize {
        let def_rank = match *last {
            Some((def, rank)) if std::ptr::eq(def, f.def) => rank,
            _ => {
                let rank = def_rank(f.def);
                *last = Some((f.def, rank));
                rank
            }
        };
        let group = (self.counties.rank(f.region) / self.counties_per_group) as usize;
        def_rank * self.groups + group.min(self.groups - 1)
    }
}

/// A definition's place in the catalog ordered by severity, then code:
/// the order of the flags' first two fields.
fn def_rank(def: &FlagDef) -> usize {
    static ORDER: OnceLock<[&'static FlagDef; CATALOG.len()]> = OnceLock::new();
    let order = ORDER.get_or_init(|| {
        let mut order = CATALOG;
        order.sort_by(|a, b| a.severity.cmp(&b.severity).then_with(|| a.code.cmp(b.code)));
        order
    });
    order
        .iter()
        .position(|d| std::ptr::eq(*d, def))
        .or_else(|| order.iter().position(|d| d.code == def.code))
        .expect("every flag's definition is in the catalog")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Region;
    use proptest::prelude::*;

    /// The flags of `lists` sorted by [`compare`] alone, in one sort.
    fn expected(lists: &[Vec<Flag>], mask: bool) -> Vec<Flag> {
        let counties = CountyRanks::of_shared_texts();
        let mut all: Vec<Flag> = lists.iter().flatten().cloned().collect();
        all.sort_by(|a, b| compare(a, b, &counties, mask));
        all
    }

    #[test]
    fn flags_sort_by_county_text_whatever_the_order_regions_were_shared_in() {
        // Codes shared in the reverse of their counties' order, several
        // villages to a county, and two definitions.
        let codes = [
            "990009001001",
            "990009001002",
            "990005002001",
            "990005",
            "99000",
            "990001003001",
            "990001003002",
        ];
        let defs = [crate::checks::CATALOG[0], crate::checks::CATALOG[3]];
        let mut flags: Vec<Flag> = Vec::new();
        for i in 0..140usize {
            let region = Region::new(codes[i * 5 % codes.len()]);
            flags.push(
                Flag::new(defs[i % 2])
                    .at(&region)
                    .poor(&format!("P{:03}", i * 37 % 101))
                    .detail(format!("{i}")),
            );
        }
        let mut by_fields = flags.clone();
        by_fields.sort_by(|a, b| {
            a.def
                .severity
                .cmp(&b.def.severity)
                .then_with(|| a.def.code.cmp(b.def.code))
                .then_with(|| a.region.county().cmp(b.region.county()))
                .then_with(|| a.poor_household_id.cmp(&b.poor_household_id))
                .then_with(|| a.detail.cmp(&b.detail))
        });
        let (first, second) = flags.split_at(60);
        let all = sorted(vec![second.to_vec(), Vec::new(), first.to_vec()], true);
        let key = |f: &Flag| (f.def.code, f.region.as_str(), f.detail.to_string());
        assert_eq!(
            all.iter().map(key).collect::<Vec<_>>(),
            by_fields.iter().map(key).collect::<Vec<_>>()
        );
        // Exactly as long as the flags: spare capacity is not carried.
        assert_eq!(all.capacity(), all.len());
        assert!(sorted(Vec::new(), true).is_empty());
        assert!(sorted(vec![Vec::new(), Vec::new()], false).is_empty());
    }

    /// One flag from drawn fields: household numbers and IDs from a few
    /// shapes (empty, sharing long prefixes), counties from more than
    /// [`COUNTY_GROUPS`], so that groups hold several counties.
    fn flag_of(def: usize, county: usize, poor: usize, dibao: usize, person: usize) -> Flag {
        const NUMBERS: [&str; 6] = [
            "",
            "P1000727380320",
            "P1000727380321",
            "P10007273803200",
            "P1",
            "户号十二",
        ];
        const PEOPLE: [&str; 4] = ["", "410328194703229694", "410328194703229600", "4103281947"];
        let defs = &crate::checks::CATALOG;
        let county = format!("{}", 410000 + county * 7 % 150);
        Flag::new(defs[def % defs.len()])
            .at(&Region::new(&county))
            .poor(NUMBERS[poor % NUMBERS.len()])
            .dibao(NUMBERS[dibao % NUMBERS.len()])
            .person(PEOPLE[person % PEOPLE.len()], "名")
    }

    proptest! {
        /// Bucket by bucket, the order is that of one sort of all flags
        /// by their fields, masked or not, however the flags were listed.
        #[test]
        fn bucketed_order_is_one_sorts_order(
            drawn in proptest::collection::vec(
                proptest::collection::vec((0..40usize, 0..150usize, 0..6usize, 0..6usize, 0..4usize), 0..60),
                0..5,
            ),
            mask in any::<bool>(),
        ) {
            let lists: Vec<Vec<Flag>> = drawn
                .iter()
                .map(|list| {
                    list.iter()
                        .enumerate()
                        .map(|(i, &(d, c, p, b, n))| flag_of(d, c, p, b, n).detail(format!("{}", i % 3)))
                        .collect()
                })
                .collect();
            let want = expected(&lists, mask);
            // Pieces short enough that lists are cut into several.
            prop_assert_eq!(sorted_by_pieces(lists.clone(), mask, 7), want.clone());
            prop_assert_eq!(sorted(lists, mask), want);
        }
    }
}
