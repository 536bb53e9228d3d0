//! Linking people and households across the two rolls of one quarter
//! (contract §3): exact on the integer person key, then probable among
//! the people left over — same county, same normalized name, ID strings
//! one substitution or one adjacent swap apart.
//!
//! Probable candidates are found by blocking on (county, name), never by
//! comparing all pairs, and compared in parallel with rayon.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use rayon::prelude::*;

use crate::bloom::{HashFilter, Probe};
use crate::bucketed;
use crate::county_ranks::CountyRanks;
use crate::identity::{TypoKind, one_typo_apart};
use crate::model::{DibaoRoll, IdKey, IdText, NO_KEY, PoorRoll, Region, Text};
use crate::rowlists::RowLists;

/// Why two different numbers are taken for one person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbableKind {
    /// The contract's rule: one substitution or one adjacent swap.
    Typo(TypoKind),
    /// Beyond the contract: one number is 18 digits ending in `000` that
    /// fail the check (Excel kept 15 significant digits) and its first 15
    /// characters equal the other roll's valid number.
    ExcelRecovered,
}

impl ProbableKind {
    pub fn describe(self) -> String {
        match self {
            ProbableKind::Typo(t) => t.describe(),
            ProbableKind::ExcelRecovered => {
                "末三位为000(被Excel截断),前15位(地区码、出生日期、顺序码首位)一致".to_owned()
            }
        }
    }
}

/// A probable pair: the rows of one person on each side.
#[derive(Clone, Debug)]
pub struct ProbablePair {
    /// Normalized ID strings as written on each roll.
    pub dibao_id: String,
    pub poor_id: String,
    pub dibao_rows: Vec<usize>,
    pub poor_rows: Vec<usize>,
    pub kind: ProbableKind,
    /// How sure the link is, 0 to 1: a typo that leaves the birth date
    /// digits equal on both sides is more certain than one inside them.
    pub confidence: f64,
}

impl ProbablePair {
    pub fn is_contract_rule(&self) -> bool {
        matches!(self.kind, ProbableKind::Typo(_))
    }
}

/// Birth-date digits (7th to 14th) equal on both numbers.
fn same_birth_digits(a: &str, b: &str) -> bool {
    a.len() >= 14 && b.len() >= 14 && a.as_bytes()[6..14] == b.as_bytes()[6..14]
}

fn confidence(kind: ProbableKind, a: &str, b: &str) -> f64 {
    match kind {
        ProbableKind::Typo(_) if same_birth_digits(a, b) => 0.99,
        ProbableKind::Typo(_) => 0.90,
        ProbableKind::ExcelRecovered => 0.95,
    }
}

/// Whether `damaged` is an Excel-truncated copy of the valid `whole`.
fn excel_copy(damaged: &str, whole: &str) -> bool {
    damaged.len() == 18
        && whole.len() == 18
        && damaged.is_ascii()
        && whole.is_ascii()
        && damaged.ends_with("000")
        && damaged[..15] == whole[..15]
        && damaged != whole
}

/// What matching found. Kept in flat arrays of `u32` (rolls stay below
/// 2^30 rows): at 10 M households a map of links to vectors of pairs and
/// a set per household took 1.3 GB at the end of matching (issue #7).
#[derive(Debug, Default)]
pub struct Matching {
    /// Distinct person keys on both rolls.
    pub exact_persons: usize,
    pub probable: Vec<ProbablePair>,
    /// Linked (低保 household, poor household) pairs, each once, sorted:
    /// the two share at least one person.
    pub links: Vec<(u32, u32)>,
    /// Linked poor households of each 低保 household, and back, sorted.
    pub dibao_linked: RowLists,
    pub poor_linked: RowLists,
    /// For each row, the rows of the other roll that are the same person.
    pub dibao_partner: RowLists,
    pub poor_partner: RowLists,
}

/// One person on one side among those left unmatched: every row with the
/// same normalized ID string, county and name. Its rows are a stretch of
/// its side's [`Grouped::rows`].
struct Leftover<'a> {
    /// The person's number, read as a string when compared: a thin
    /// reference, so that a person takes 16 bytes instead of 24 (18 M of
    /// them at 10 M households; issue #7).
    person_id: &'a crate::model::PersonId,
    rows: std::ops::Range<u32>,
}

impl<'a> Leftover<'a> {
    /// The normalized number.
    fn id(&self) -> IdText<'a> {
        self.person_id.normalized()
    }
}

/// (county, normalized name); the name is computed, inline, per row.
type Block<'a> = (&'a str, Text);

/// One side's unmatched rows grouped: blocks in (county, name) order,
/// each a stretch of persons, each person a stretch of rows, all end to
/// end. At 10 M households in Luoyang's world 15 M poor rows are left
/// unmatched; as a map of blocks to vectors of persons, each with a
/// vector of rows, they took 3.4 GB for a moment and made the run's peak
/// (issue #7). This takes about 30 bytes a row.
struct Grouped<'a> {
    /// Row indices, each person's ascending.
    rows: Vec<u32>,
    persons: Vec<Leftover<'a>>,
    /// Each block and its stretch of `persons`, sorted by block.
    blocks: Vec<(Block<'a>, std::ops::Range<u32>)>,
}

impl<'a> Grouped<'a> {
    /// `more`'s blocks, persons and rows after these, its stretches moved
    /// to where they now lie.
    fn append(&mut self, more: Grouped<'a>) {
        let (rows_before, persons_before) = (self.rows.len() as u32, self.persons.len() as u32);
        self.rows.extend(more.rows);
        self.persons
            .extend(more.persons.into_iter().map(|p| Leftover {
                rows: p.rows.start + rows_before..p.rows.end + rows_before,
                ..p
            }));
        self.blocks
            .extend(more.blocks.into_iter().map(|(block, persons)| {
                (
                    block,
                    persons.start + persons_before..persons.end + persons_before,
                )
            }));
    }

    fn persons(&self, range: &std::ops::Range<u32>) -> &[Leftover<'a>] {
        &self.persons[range.start as usize..range.end as usize]
    }

    fn rows_of(&self, person: &Leftover) -> &[u32] {
        &self.rows[person.rows.start as usize..person.rows.end as usize]
    }
}

/// A hash of a row's block, (county, normalized name), computed from the
/// name's characters without building the normalized name. The county is
/// its rank, read by the region's handle: hashing the county's code read
/// from the run's table of shared texts missed the cache at nearly every
/// row among a nation's 600,000 village codes, about 2 CPU-s of the
/// national world's matching at 10 M households (issue #7).
fn block_hash(m: &crate::model::Member, counties: &CountyRanks) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write_u32(counties.rank(m.region));
    h.write_u8(0xff);
    for c in crate::identity::normalized_name_chars(&m.name.text()) {
        h.write_u32(c as u32);
    }
    h.finish()
}

/// A hash of a normalized number, in 32 bits: it only orders a block's
/// rows so that one person's rows lie together, and numbers that share
/// it are told apart by their strings (see [`group_leftovers`]).
fn id_hash(id: &str) -> u32 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(id.as_bytes());
    (h.finish() >> 32) as u32
}

/// An unmatched row as grouping sorts it: (block hash, ID hash, row), 16
/// bytes. With the row as a `usize` and a 64-bit ID hash it took 24, held
/// for 18 M unmatched rows at 10 M households through matching's highest
/// point (issue #7). Rolls stay below 2^30 rows.
type KeyedRow = (u64, u32, u32);

/// A roll's rows' person fields, by row: a function rather than a vector
/// of references, which took 8 bytes a row (300 MB at 10 M households).
type Members<'m, 'a> = &'m (dyn Fn(usize) -> &'a crate::model::Member + Sync);

/// (block hash, ID hash, row) of a side's unmatched rows, in row order;
/// with `only`, just the rows whose number may share a third
/// ([`id_thirds`]) with an unmatched row of the other side in their block
/// ([`block_thirds`]), so that millions of unmatched rows with no
/// candidate are never grouped. The filter lets through a row now and
/// then that shares none: grouped, it finds no candidate, as a pair one
/// typo apart or an Excel copy always shares a third.
///
/// Rows are taken a batch at a time: each row's three questions are
/// asked of the filter as the row is keyed and answered once the batch is
/// keyed, so that the filter's cache misses overlap (see
/// [`HashFilter::ask`]).
fn keyed_leftovers(
    members: Members,
    matched: &[bool],
    only: Option<&HashFilter>,
    counties: &CountyRanks,
) -> Vec<KeyedRow> {
    const BATCH: usize = 32;
    matched
        .par_chunks(BATCH)
        .enumerate()
        .flat_map_iter(|(c, matched)| {
            let mut batch = [((0, 0, 0), [Probe::default(); 3]); BATCH];
            let mut len = 0;
            for (k, _) in matched.iter().enumerate().filter(|(_, m)| !**m) {
                let i = c * BATCH + k;
                let m = members(i);
                let block = block_hash(m, counties);
                let id = m.id.normalized();
                let probes = match only {
                    Some(thirds) => id_thirds(&id).map(|t| thirds.ask(third_hash(block, t))),
                    None => [Probe::default(); 3],
                };
                batch[len] = ((block, id_hash(&id), i as u32), probes);
                len += 1;
            }
            batch
                .into_iter()
                .take(len)
                .filter(move |(_, probes)| {
                    only.is_none_or(|thirds| probes.iter().any(|&p| thirds.answer(p)))
                })
                .map(|(keyed, _)| keyed)
        })
        .collect()
}

/// The block hashes of a side's keyed rows, as a filter (see
/// [`HashFilter`]): a block it lets through wrongly is grouped and then
/// found on one side only, which pairs nothing.
fn block_hashes(keyed: &[KeyedRow]) -> HashFilter {
    HashFilter::build(keyed, 1, |k| [k.0])
}

/// Rows of unmatched rows grouped at once, at most (see [`group_leftovers`]).
const PART_ROWS: usize = 2_000_000;

/// A row being grouped: (block hash, ID hash, row, region, normalized
/// name, ID), 56 bytes, the county read off the region's shared code when
/// compared.
type LeftoverRow<'a> = (u64, u32, u32, Region, Text, &'a crate::model::PersonId);

/// A grouped row's block: (county, normalized name).
fn block_of<'r>(r: &'r LeftoverRow) -> (&'static str, &'r Text) {
    (r.3.county(), &r.4)
}

/// The rows of [`keyed_leftovers`] grouped by (county, name) block, then
/// by ID string; with `only`, just the blocks whose hash it may hold.
///
/// The rows are sorted by the integer hashes of block and number, not by
/// the strings: sorting millions of rows by (county, name, ID) strings was
/// the largest part of matching at 5 M households (issue #7). Each row's
/// strings are taken in row order, before the sort: fetching them in hash
/// order missed the cache on every row. Strings decide only within a run
/// of equal hashes, so a collision costs a sort of that run and never
/// merges two blocks or two persons. Persons come in hash order within a
/// block; nothing downstream depends on that order (candidates are ranked
/// by their ID strings).
fn group_leftovers<'a>(
    members: Members<'_, 'a>,
    keyed: &[KeyedRow],
    only: Option<&HashFilter>,
) -> Grouped<'a> {
    group_leftovers_by_parts(
        members,
        keyed,
        only,
        PART_ROWS,
        crate::bucketed::BUCKET_ENTRIES,
    )
}

fn group_leftovers_by_parts<'a>(
    members: Members<'_, 'a>,
    keyed: &[KeyedRow],
    only: Option<&HashFilter>,
    part_rows: usize,
    rows_per_bucket: usize,
) -> Grouped<'a> {
    // The blocks `only` lets through, asked once per row: each part
    // counts its rows and then writes them, and asked in both passes the
    // filter was asked twice.
    let wanted: Vec<KeyedRow>;
    let keyed = match only {
        Some(only) => {
            wanted = keyed
                .par_iter()
                .filter(|k| only.may_contain(k.0))
                .copied()
                .collect();
            &wanted[..]
        }
        None => keyed,
    };
    // Each list reserved for the most it can hold (a person and a block
    // per row): a page is resident only once written, and lists grown by
    // doubling held the old copy beside the new one. The grouping is one
    // of the run's highest points at 10 M households; reserving took 59
    // MiB off it (issue #7).
    let mut grouped = Grouped {
        rows: Vec::with_capacity(keyed.len()),
        persons: Vec::with_capacity(keyed.len()),
        blocks: Vec::with_capacity(keyed.len()),
    };
    // The rows are taken a part of the block hashes at a time, so that
    // the 56-byte rows of at most about `part_rows` are held at once
    // (15 M rows at once were a gigabyte). A block lies in one part, and
    // the blocks are sorted at the end: the parts change no result.
    let parts = keyed.len().div_ceil(part_rows.max(1)).max(1) as u64;
    let pieces = crate::bucketed::pieces(keyed.len());
    // Within a part the rows are put in buckets of their block hash as
    // they are made, each bucket sorted and its blocks grouped on its
    // own, the buckets on every core ([`crate::bucketed`]). A part's rows
    // collected as a filter found them (a vector grown as it went), sorted
    // as one slice and grouped on one thread made a step of 1.28–1.52 s
    // at 10 M households in four step logs, at 1.71–1.78 cores; so it is
    // 1.00–1.42 s at 1.90–1.94 (issue #7). A block's rows share its hash,
    // so one bucket.
    let buckets =
        crate::bucketed::bucket_count(keyed.len().div_ceil(parts as usize), rows_per_bucket);
    // Other bits than the part's (the hash modulo the parts), mixed.
    let bucket_of = |block_hash: u64| crate::bucketed::bucket_of(block_hash, buckets);
    for part in 0..parts {
        let in_part = |k: &KeyedRow| k.0 % parts == part;
        let counts: Vec<Vec<usize>> = pieces
            .par_iter()
            .map(|piece| {
                let mut counts = vec![0; buckets];
                for k in &keyed[piece.clone()] {
                    if in_part(k) {
                        counts[bucket_of(k.0)] += 1;
                    }
                }
                counts
            })
            .collect();
        let mut rows = crate::bucketed::gather(
            pieces.len(),
            buckets,
            |piece, bucket| counts[piece][bucket],
            |piece, out| {
                for k in &keyed[pieces[piece].clone()] {
                    if in_part(k) {
                        let &(bh, ih, i) = k;
                        let m = members(i as usize);
                        out.push(bucket_of(bh), (bh, ih, i, m.region, m.name_norm(), &m.id));
                    }
                }
            },
        );
        drop(counts);
        rows.sort_each_by_key(|r| (r.0, r.1, r.2));
        let of_buckets: Vec<Grouped<'a>> = rows
            .buckets_mut()
            .into_par_iter()
            .map(group_sorted)
            .collect();
        drop(rows);
        for of_bucket in of_buckets {
            grouped.append(of_bucket);
        }
    }
    grouped.persons.shrink_to_fit();
    grouped.blocks.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    grouped
}

/// `rows`, sorted by (block hash, ID hash, row), grouped into blocks,
/// persons and rows (the blocks in hash order).
fn group_sorted<'a>(rows: &mut [LeftoverRow<'a>]) -> Grouped<'a> {
    let mut grouped = Grouped {
        rows: Vec::with_capacity(rows.len()),
        persons: Vec::with_capacity(rows.len()),
        blocks: Vec::new(),
    };
    for run in rows.chunk_by_mut(|a, b| a.0 == b.0) {
        // Still in (ID hash, row) order; the stable sort by block only
        // reorders a run that two blocks share.
        if run.iter().any(|r| block_of(r) != block_of(&run[0])) {
            run.sort_by(|a, b| block_of(a).cmp(&block_of(b)));
        }
        for rows_of_block in run.chunk_by_mut(|a, b| block_of(a) == block_of(b)) {
            let first_person = grouped.persons.len() as u32;
            for same_hash in rows_of_block.chunk_by_mut(|a, b| a.1 == b.1) {
                // Keys compare as the normalized strings do.
                let id = |r: &LeftoverRow<'a>| r.5.normalized_key();
                if same_hash.iter().any(|r| id(r) != id(&same_hash[0])) {
                    same_hash.sort_by_key(id);
                }
                for person in same_hash.chunk_by(|a, b| id(a) == id(b)) {
                    let from = grouped.rows.len() as u32;
                    grouped.rows.extend(person.iter().map(|r| r.2));
                    grouped.persons.push(Leftover {
                        person_id: person[0].5,
                        rows: from..grouped.rows.len() as u32,
                    });
                }
            }
            let (county, name) = block_of(&rows_of_block[0]);
            grouped.blocks.push((
                (county, name.clone()),
                first_person..grouped.persons.len() as u32,
            ));
        }
    }
    grouped
}

/// The three parts of a normalized number past its six-digit address code
/// (of the whole number when it is shorter than 12 bytes), each with the
/// number's length and its place. Two numbers one typo apart, or an
/// Excel-truncated copy and its whole number, share at least one (see
/// [`candidate_pairs`]).
fn id_thirds(id: &str) -> [(usize, u8, &[u8]); 3] {
    let b = id.as_bytes();
    let n = b.len();
    let from = if n >= 12 { 6 } else { 0 };
    let (cut1, cut2) = (from + (n - from) / 3, from + 2 * (n - from) / 3);
    [
        (n, 0, &b[from..cut1]),
        (n, 1, &b[cut1..cut2]),
        (n, 2, &b[cut2..]),
    ]
}

/// A hash of a row's block and one third of its number.
fn third_hash(block: u64, (len, place, bytes): (usize, u8, &[u8])) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write_u64(block);
    h.write_usize(len);
    h.write_u8(place);
    h.write(bytes);
    h.finish()
}

/// The hashes of every (block, third of the number) of a side's keyed
/// rows, as a filter: the same question put to 8 M hashes in a hash set
/// was the largest part of matching at 10 M households (see
/// [`HashFilter`]).
fn block_thirds(members: Members, keyed: &[KeyedRow]) -> HashFilter {
    HashFilter::build(keyed, 3, |&(block, _, i)| {
        let id = members(i as usize).id.normalized();
        id_thirds(&id).map(|third| third_hash(block, third))
    })
}

/// Pairs of a block worth testing: every pair of a small block; in a large
/// one (a common name in a big county holds thousands of people, and all
/// pairs grew with the square of the roll), only pairs that share one
/// third of their number past the six-digit address code. That loses
/// nothing: a pair one typo apart has equal lengths and differs in one
/// byte or two adjacent bytes, which touch at most two of the three
/// thirds (none if they lie in the address code); an Excel-truncated copy
/// shares its first 15 characters, so its first two thirds. The address
/// code is left out because a block's people share it: thirds of the
/// whole number made nearly every pair of a block a candidate (at 5 M
/// households, a tenth of the run; issue #7). Numbers shorter than 12
/// bytes are cut in thirds whole.
fn candidate_pairs(ds: &[IdText], ps: &[IdText]) -> Vec<(usize, usize)> {
    if ds.len() * ps.len() <= 256 {
        return (0..ds.len())
            .flat_map(|d| (0..ps.len()).map(move |p| (d, p)))
            .collect();
    }
    let thirds = id_thirds;
    let mut by_third: HashMap<(usize, u8, &[u8]), Vec<usize>> = HashMap::default();
    for (pi, p) in ps.iter().enumerate() {
        for key in thirds(p) {
            by_third.entry(key).or_default().push(pi);
        }
    }
    let mut pairs = Vec::new();
    let mut found: Vec<usize> = Vec::new();
    for (di, d) in ds.iter().enumerate() {
        found.clear();
        for key in thirds(d) {
            if let Some(pis) = by_third.get(&key) {
                found.extend_from_slice(pis);
            }
        }
        found.sort_unstable();
        found.dedup();
        pairs.extend(found.iter().map(|&pi| (di, pi)));
    }
    pairs
}

/// Normalized numbers of rows whose number Excel truncated (`…000`).
fn excel_damaged<'a>(
    members: impl Iterator<Item = &'a crate::model::Member>,
) -> rustc_hash::FxHashSet<IdKey<'a>> {
    members
        .filter(|m| {
            m.id.invalid_reason() == Some(crate::identity::InvalidReason::ExcelTrailingZeros)
        })
        .map(|m| m.id.normalized_key())
        .collect()
}

/// (低保 row, poor row) of each pair of rows with the same person key, in
/// no set order, and the number of keys in both rolls; the keyed rows are
/// gathered in buckets of about `per_bucket`.
///
/// Both sides' (key, row) lists are sorted and merged: no hash table of
/// millions of keys, each with a vector. The lists are made on every core
/// straight from the rows, rows without a key left out (issue #7). An
/// entry is the key's high and low halves and the row, 12 bytes: a
/// `(u64, usize)` took 16, 600 MB for both rolls at 10 M households,
/// where the run's memory stands highest (issue #7). Rolls stay below
/// 2^30 rows, and the halves sort as the key does.
///
/// Both lists are gathered into the same buckets by key and sorted a
/// bucket at a time, in the cache, and bucket `b` of one is merged with
/// bucket `b` of the other, the buckets on every core: sorted whole,
/// each list's passes went over up to 460 MB at 10 M households, and
/// the merge ran on one thread.
fn exact_pairs(dibao: &DibaoRoll, poor: &PoorRoll, per_bucket: usize) -> (Vec<(u32, u32)>, usize) {
    let buckets = bucketed::bucket_count(dibao.rows.len().max(poor.rows.len()), per_bucket);
    let (mut dibao_keys, mut poor_keys) = rayon::join(
        || {
            keyed(dibao.rows.len(), buckets, |r| {
                dibao.rows[r].member.id.key_or_none()
            })
        },
        || {
            keyed(poor.rows.len(), buckets, |r| {
                poor.rows[r].member.id.key_or_none()
            })
        },
    );
    let key_of = |e: &[u32; 3]| [e[0], e[1]];
    // (低保 row, poor row) of each pair of rows taken for one person, and
    // the number of keys in both rolls.
    let merged: Vec<(Vec<(u32, u32)>, usize)> = dibao_keys
        .buckets_mut()
        .into_par_iter()
        .zip(poor_keys.buckets_mut())
        .map(|(dibao_keys, poor_keys)| {
            let (dibao_keys, poor_keys): (&[[u32; 3]], &[[u32; 3]]) = (dibao_keys, poor_keys);
            let mut pairs = Vec::new();
            let mut keys_in_both = 0;
            let (mut i, mut j) = (0, 0);
            while i < dibao_keys.len() && j < poor_keys.len() {
                let key = key_of(&dibao_keys[i]);
                match key.cmp(&key_of(&poor_keys[j])) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        // A key's run ends a step or two on: walked, not
                        // found by a binary search over the whole rest of
                        // the list, whose probes missed the cache for
                        // every key in both rolls (issue #7).
                        let run_end = |keys: &[[u32; 3]], from: usize| {
                            from + keys[from..].iter().take_while(|e| key_of(e) == key).count()
                        };
                        let d_end = run_end(dibao_keys, i);
                        let p_end = run_end(poor_keys, j);
                        keys_in_both += 1;
                        for &[_, _, d] in &dibao_keys[i..d_end] {
                            for &[_, _, p] in &poor_keys[j..p_end] {
                                pairs.push((d, p));
                            }
                        }
                        (i, j) = (d_end, p_end);
                    }
                }
            }
            (pairs, keys_in_both)
        })
        .collect();
    drop((dibao_keys, poor_keys));
    let keys_in_both: usize = merged.iter().map(|(_, n)| n).sum();
    let mut pairs: Vec<(u32, u32)> =
        Vec::with_capacity(merged.iter().map(|(pairs, _)| pairs.len()).sum());
    for (of_bucket, _) in merged {
        pairs.extend(of_bucket);
    }
    (pairs, keys_in_both)
}

/// Each row's person key as its high and low halves and the row, rows
/// without a key left out, gathered into `buckets` buckets by the key
/// (the same key in the same bucket, whatever the roll) and sorted within
/// each.
fn keyed(
    rows: usize,
    buckets: usize,
    key: impl Fn(usize) -> u64 + Sync,
) -> bucketed::Gathered<[u32; 3]> {
    let bucket_of = |key: u64| bucketed::bucket_of(key, buckets);
    let pieces = bucketed::pieces(rows);
    let counts: Vec<u32> = pieces
        .par_iter()
        .flat_map_iter(|rows| {
            let mut counts = vec![0u32; buckets];
            for k in rows.clone().map(&key).filter(|&k| k != NO_KEY) {
                counts[bucket_of(k)] += 1;
            }
            counts
        })
        .collect();
    let mut keys = bucketed::gather(
        pieces.len(),
        buckets,
        |piece, bucket| counts[piece * buckets + bucket] as usize,
        |piece, out| {
            for i in pieces[piece].clone() {
                let k = key(i);
                if k != NO_KEY {
                    out.push(bucket_of(k), [(k >> 32) as u32, k as u32, i as u32]);
                }
            }
        },
    );
    keys.sort_each_by_key(|&e| e);
    keys
}

pub fn match_rolls(dibao: &DibaoRoll, poor: &PoorRoll) -> Matching {
    let started = std::time::Instant::now();
    let step = |name: &str| crate::memory::debug_step(started, &format!("matching: {name}"));

    // 1. Exact: same person key.
    let (mut pairs, keys_in_both) = exact_pairs(dibao, poor, bucketed::BUCKET_ENTRIES);
    // In row order, as a pass over the 低保 rows finds them.
    pairs.par_sort_unstable();
    step("exact pairs found");
    let mut dibao_matched = vec![false; dibao.rows.len()];
    let mut poor_matched = vec![false; poor.rows.len()];
    for &(d, p) in &pairs {
        dibao_matched[d as usize] = true;
        poor_matched[p as usize] = true;
    }

    // 2. Probable, among the rows left on each side.
    let dibao_members = |r: usize| &dibao.rows[r].member;
    let poor_members = |r: usize| &poor.rows[r].member;
    // Each side's rows are keyed; only blocks found on both sides are
    // grouped by their strings.
    // A poor row is keyed only if its block has an unmatched 低保 row whose
    // number shares a third with its own: any other can pair with none
    // (see `candidate_pairs`). At 10 M households 15.5 M unmatched poor
    // rows shared a block with some 低保 row and were all grouped, where
    // 2.3 M share a third too: the grouping was a third of matching's
    // time and its highest point (issue #7). The question is put to a
    // Bloom filter of the 低保 side's (block, third) hashes: in hash sets
    // of 8 M entries it missed the cache on every row and took 6.1 s of
    // a 10 M run; the filter took 3.2 s, and with its questions asked a
    // batch of rows ahead 1.45 s where it took 1.97 s on the same hour.
    // Every row was read, so its region shared, before the ranks are made.
    let counties = CountyRanks::of_shared_texts();
    let dibao_keyed = keyed_leftovers(&dibao_members, &dibao_matched, None, &counties);
    let dibao_thirds = block_thirds(&dibao_members, &dibao_keyed);
    step("unmatched 低保 rows keyed");
    let poor_keyed = keyed_leftovers(&poor_members, &poor_matched, Some(&dibao_thirds), &counties);
    drop(dibao_thirds);
    tracing::debug!(
        dibao = dibao_keyed.len(),
        poor = poor_keyed.len(),
        "unmatched rows keyed"
    );
    step("unmatched poor rows keyed");
    let (dibao_left, poor_left) = rayon::join(
        || {
            group_leftovers(
                &dibao_members,
                &dibao_keyed,
                Some(&block_hashes(&poor_keyed)),
            )
        },
        || group_leftovers(&poor_members, &poor_keyed, None),
    );
    drop((dibao_keyed, poor_keyed));
    // The blocks found on both sides, in block order: (低保 persons, poor
    // persons).
    let mut blocks: Vec<(&[Leftover], &[Leftover])> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < dibao_left.blocks.len() && j < poor_left.blocks.len() {
        let (d, p) = (&dibao_left.blocks[i], &poor_left.blocks[j]);
        match d.0.cmp(&p.0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                blocks.push((dibao_left.persons(&d.1), poor_left.persons(&p.1)));
                (i, j) = (i + 1, j + 1);
            }
        }
    }
    step("unmatched rows grouped in blocks");
    let dibao_excel = excel_damaged(dibao.rows.iter().map(|r| &r.member));
    let poor_excel = excel_damaged(poor.rows.iter().map(|r| &r.member));
    let mut candidates: Vec<(String, String, ProbableKind, usize, usize, usize)> = blocks
        .par_iter()
        .enumerate()
        .flat_map_iter(|(b, &(ds, ps))| {
            let mut found = Vec::new();
            // Each person's Excel damage looked up once, not once per pair
            // it is in.
            let excel = |persons: &[Leftover], damaged: &FxHashSet<IdKey>| -> Vec<bool> {
                persons
                    .iter()
                    .map(|p| damaged.contains(&p.person_id.normalized_key()))
                    .collect()
            };
            let (d_excel, p_excel) = (excel(ds, &dibao_excel), excel(ps, &poor_excel));
            // Each person's number as text once, not once per pair.
            let d_ids: Vec<IdText> = ds.iter().map(Leftover::id).collect();
            let p_ids: Vec<IdText> = ps.iter().map(Leftover::id).collect();
            for (di, pi) in candidate_pairs(&d_ids, &p_ids) {
                let (d, p) = (&*d_ids[di], &*p_ids[pi]);
                let kind = if let Some(typo) = one_typo_apart(d, p) {
                    Some(ProbableKind::Typo(typo))
                } else if (d_excel[di] && excel_copy(d, p)) || (p_excel[pi] && excel_copy(p, d)) {
                    Some(ProbableKind::ExcelRecovered)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    found.push((d.to_owned(), p.to_owned(), kind, b, di, pi));
                }
            }
            found
        })
        .collect();
    step("probable candidates tested");
    // The contract's typo pairs first, so that the extension never takes a
    // person the rule would have paired.
    candidates.sort_by(|a, b| {
        let rank = |k: &ProbableKind| matches!(k, ProbableKind::ExcelRecovered);
        (rank(&a.2), &a.0, &a.1, a.3).cmp(&(rank(&b.2), &b.0, &b.1, b.3))
    });
    let mut used_d: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut used_p: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut probable = Vec::new();
    for (dibao_id, poor_id, kind, b, di, pi) in candidates {
        if used_d.contains(&(b, di)) || used_p.contains(&(b, pi)) {
            continue;
        }
        used_d.insert((b, di));
        used_p.insert((b, pi));
        let d_rows = dibao_left.rows_of(&blocks[b].0[di]);
        let p_rows = poor_left.rows_of(&blocks[b].1[pi]);
        for &dr in d_rows {
            for &pr in p_rows {
                pairs.push((dr, pr));
            }
        }
        probable.push(ProbablePair {
            confidence: confidence(kind, &dibao_id, &poor_id),
            dibao_id,
            poor_id,
            dibao_rows: d_rows.iter().map(|&r| r as usize).collect(),
            poor_rows: p_rows.iter().map(|&r| r as usize).collect(),
            kind,
        });
    }

    let dibao_partner = RowLists::from_pairs(
        dibao.rows.len(),
        pairs.par_iter().map(|&(d, p)| (d as usize, p as usize)),
    );
    let poor_partner = RowLists::from_pairs(
        poor.rows.len(),
        pairs.par_iter().map(|&(d, p)| (p as usize, d as usize)),
    );
    step("probable pairs chosen, partners listed");

    // 3. Household links: the households of each pair, each pair of
    // households once.
    let mut links: Vec<(u32, u32)> = pairs
        .par_iter()
        .map(|&(d, p)| {
            (
                dibao.households.index_of_row(d as usize) as u32,
                poor.households.index_of_row(p as usize) as u32,
            )
        })
        .collect();
    drop(pairs);
    links.par_sort_unstable();
    links.dedup();
    links.shrink_to_fit();
    let (dibao_linked, poor_linked) = rayon::join(
        || {
            RowLists::from_pairs(
                dibao.households.len(),
                links.par_iter().map(|&(d, p)| (d as usize, p as usize)),
            )
        },
        || {
            RowLists::from_pairs(
                poor.households.len(),
                links.par_iter().map(|&(d, p)| (p as usize, d as usize)),
            )
        },
    );
    step("households linked");

    Matching {
        exact_persons: keys_in_both,
        probable,
        links,
        dibao_linked,
        poor_linked,
        dibao_partner,
        poor_partner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn member(county: &str, name: &str, id: &str) -> crate::model::Member {
        let end = crate::calendar::Date::new(2024, 3, 31).unwrap();
        crate::model::Member {
            line_and_head: crate::model::LineAndHead::new(2, false),
            region: crate::model::Region::new(&format!("{county}001001")),
            name: name.into(),
            id: crate::model::PersonId::new(id.into(), end),
        }
    }

    fn rolls(
        dibao: &[(&str, &str)],
        poor: &[(&str, &str)],
    ) -> (crate::model::DibaoRoll, crate::model::PoorRoll) {
        use crate::model::*;
        use crate::money::Cents;
        let dibao_rows = dibao
            .iter()
            .map(|&(_, id)| DibaoRow {
                member: member("410322", "张三", id),
                category: None,
                monthly_benefit: Cents(0).into(),
                monthly_income: Cents(0).into(),
                enrolled_on: OptionalDate::new(None),
            })
            .collect();
        let poor_rows = poor
            .iter()
            .map(|&(_, id)| PoorRow {
                member: member("410322", "张三", id),
                household_type: HouseholdType::General,
                status: Status::Poor,
                exit_year: OptionalI32::new(None),
                cause: None,
                annual_income: Cents(0).into(),
                circumstances: Circumstances::new(
                    Labor::Ordinary,
                    Health::Healthy,
                    true,
                    true,
                    true,
                ),
                schooling: None,
            })
            .collect();
        let households = |given: &[(&str, &str)]| -> Vec<ShortText> {
            given.iter().map(|&(h, _)| ShortText::new(h)).collect()
        };
        (
            Roll::new(dibao_rows, households(dibao)),
            Roll::new(poor_rows, households(poor)),
        )
    }

    /// Every row of a number on one roll is paired with every row of it
    /// on the other, however long each number's run of rows, and numbers
    /// on one roll only pair with nothing.
    #[test]
    fn exact_pairs_are_every_row_of_a_number_with_every_other() {
        const A: &str = "410322194703229696";
        const B: &str = "410322195501011239";
        const C: &str = "410322196001011237";
        const ONLY_DIBAO: &str = "410322197001011231";
        const ONLY_POOR: &str = "410322198001011236";
        let valid = |id: &str| {
            crate::model::PersonId::new(id.into(), crate::calendar::Date::new(2024, 3, 31).unwrap())
                .key()
                .is_some()
        };
        assert!([A, B, C, ONLY_DIBAO, ONLY_POOR].iter().all(|id| valid(id)));
        let (dibao, poor) = rolls(
            &[
                ("d1", B),
                ("d1", A),
                ("d2", ONLY_DIBAO),
                ("d3", A),
                ("d3", C),
            ],
            &[
                ("p1", A),
                ("p1", C),
                ("p2", A),
                ("p3", ONLY_POOR),
                ("p4", A),
                ("p4", B),
            ],
        );
        let m = match_rolls(&dibao, &poor);
        assert_eq!(m.exact_persons, 3);
        let partners = |lists: &RowLists, rows: usize| -> Vec<Vec<usize>> {
            (0..rows)
                .map(|r| lists.get(r).iter().map(|&p| p as usize).collect())
                .collect()
        };
        assert_eq!(
            partners(&m.dibao_partner, 5),
            vec![vec![5], vec![0, 2, 4], vec![], vec![0, 2, 4], vec![1]]
        );
        assert_eq!(
            partners(&m.poor_partner, 6),
            vec![vec![1, 3], vec![4], vec![1, 3], vec![], vec![1, 3], vec![0]]
        );
        // 低保 households d1, d3 with poor households p1, p2, p4.
        assert_eq!(
            m.links,
            vec![(0, 0), (0, 1), (0, 3), (2, 0), (2, 1), (2, 3)]
        );
    }

    /// Only the unmatched poor rows that could pair with an unmatched 低保
    /// row of their block are keyed: a number one typo apart is, one of
    /// the same block sharing no third is not, nor one of another block.
    /// (The filter lets such a row through about once in 800 questions;
    /// with these numbers it does not, and the hashes are fixed.)
    #[test]
    fn poor_rows_that_can_pair_with_no_dibao_row_are_not_keyed() {
        let dibao = [member("410322", "张三", "410322194703229694")];
        let poor = [
            // One digit apart (the check character does not matter here).
            member("410322", "张三", "410322194703229684"),
            // Same block, every third different.
            member("410322", "张三", "410322198811051237"),
            // Another block: another name, another county.
            member("410322", "李四", "410322194703229684"),
            member("410323", "张三", "410322194703229684"),
            // Adjacent digits swapped in the birth date.
            member("410322", "张三", "410322197403229694"),
        ];
        let dibao_members = |r: usize| &dibao[r];
        let poor_members = |r: usize| &poor[r];
        let dibao_keyed = keyed_leftovers(
            &dibao_members,
            &[false],
            None,
            &CountyRanks::of_shared_texts(),
        );
        let thirds = block_thirds(&dibao_members, &dibao_keyed);
        let kept: Vec<u32> = keyed_leftovers(
            &poor_members,
            &[false; 5],
            Some(&thirds),
            &CountyRanks::of_shared_texts(),
        )
        .iter()
        .map(|k| k.2)
        .collect();
        assert_eq!(kept, [0, 4]);
    }

    /// Rows are keyed a batch at a time: across batches, and with matched
    /// rows anywhere in them, every unmatched row is keyed once, in row
    /// order, with its own row number and hashes; with a filter, exactly
    /// the rows it would let through one at a time.
    #[test]
    fn unmatched_rows_are_keyed_in_order_across_batches() {
        let members: Vec<crate::model::Member> = (0..100)
            .map(|i| {
                let name = ["张三", "李四", "王五"][i % 3];
                member(
                    "410322",
                    name,
                    &format!("4103221947032{:05}", 29_000 + i * 7),
                )
            })
            .collect();
        let members = |r: usize| &members[r];
        let counties = CountyRanks::of_shared_texts();
        let matched: Vec<bool> = (0..100)
            .map(|i| i % 7 == 3 || (40..75).contains(&i))
            .collect();
        let one_at_a_time = |only: Option<&HashFilter>| -> Vec<KeyedRow> {
            (0..100)
                .filter(|&i| !matched[i])
                .filter(|&i| {
                    let m = members(i);
                    let id = m.id.normalized();
                    only.is_none_or(|f| {
                        id_thirds(&id)
                            .into_iter()
                            .any(|t| f.may_contain(third_hash(block_hash(m, &counties), t)))
                    })
                })
                .map(|i| {
                    let m = members(i);
                    (
                        block_hash(m, &counties),
                        id_hash(&m.id.normalized()),
                        i as u32,
                    )
                })
                .collect()
        };
        let keyed = keyed_leftovers(&members, &matched, None, &counties);
        assert_eq!(keyed, one_at_a_time(None));
        assert_eq!(keyed.len(), 100 - matched.iter().filter(|m| **m).count());
        // A filter of the even rows' thirds: it lets through the even rows
        // and whichever odd rows share a third with one (most here do).
        let even: Vec<KeyedRow> = keyed.iter().filter(|k| k.2 % 2 == 0).copied().collect();
        let thirds = block_thirds(&members, &even);
        let kept = keyed_leftovers(&members, &matched, Some(&thirds), &counties);
        assert_eq!(kept, one_at_a_time(Some(&thirds)));
        assert!(even.iter().all(|k| kept.contains(k)));
    }

    /// Grouping by hashes: whatever the hashes of the strings, even all
    /// equal (every pair a collision) or a few values that many strings
    /// share, the blocks and persons are those the strings give, and a
    /// person's rows ascend.
    #[test]
    fn leftovers_are_grouped_by_their_strings_whatever_the_hashes() {
        let ids = [
            "410302199001011234",
            "410302199001011243",
            "41030219900101123X",
        ];
        let mut members = Vec::new();
        for i in 0..60 {
            let county = ["410302", "410303"][i % 2];
            let name = ["张三", "张 三", "李四"][i % 3];
            members.push(member(county, name, ids[i % 5 % 3]));
        }
        let refs: Vec<&crate::model::Member> = members.iter().collect();
        let mut expected: BTreeMap<(String, String), BTreeMap<String, Vec<usize>>> =
            BTreeMap::new();
        for (i, m) in members.iter().enumerate() {
            let block = (m.region.county().to_owned(), m.name_norm().to_string());
            let id = m.id.normalized().to_string();
            expected
                .entry(block)
                .or_default()
                .entry(id)
                .or_default()
                .push(i);
        }
        let counties = CountyRanks::of_shared_texts();
        let hashings: [&dyn Fn(usize) -> (u64, u32); 3] = [
            &|_| (0, 0),
            &|i| {
                let m = refs[i];
                let id = m.id.normalized();
                (m.name_norm().len() as u64 % 2, id.ends_with('X') as u32)
            },
            &|i| {
                (
                    block_hash(refs[i], &counties),
                    id_hash(&refs[i].id.normalized()),
                )
            },
        ];
        let shapes = [
            (1, 1),
            (7, 1),
            (1000, 1),
            (7, 4),
            (1000, 3),
            (1000, 1 << 15),
        ];
        for (hashing, (part_rows, rows_per_bucket)) in
            hashings.iter().flat_map(|h| shapes.map(|shape| (h, shape)))
        {
            let keyed: Vec<KeyedRow> = (0..refs.len())
                .map(|i| {
                    let (b, h) = hashing(i);
                    (b, h, i as u32)
                })
                .collect();
            let grouped =
                group_leftovers_by_parts(&|i| refs[i], &keyed, None, part_rows, rows_per_bucket);
            let got: BTreeMap<(String, String), BTreeMap<String, Vec<usize>>> = grouped
                .blocks
                .iter()
                .map(|((county, name), range)| {
                    let persons = grouped.persons(range);
                    let by_id = persons
                        .iter()
                        .map(|p| {
                            let rows = grouped.rows_of(p).iter().map(|&r| r as usize).collect();
                            (p.id().to_string(), rows)
                        })
                        .collect::<BTreeMap<_, Vec<usize>>>();
                    // Each person once.
                    assert_eq!(by_id.len(), persons.len());
                    (((*county).to_owned(), name.to_string()), by_id)
                })
                .collect();
            // Each block once, in block order.
            assert_eq!(got.len(), grouped.blocks.len());
            assert!(grouped.blocks.windows(2).all(|w| w[0].0 < w[1].0));
            assert_eq!(got, expected);
        }
        // Blocks the filter does not name are left out.
        let keyed: Vec<KeyedRow> = (0..refs.len())
            .map(|i| (block_hash(refs[i], &counties), 0, i as u32))
            .collect();
        let only = block_hashes(&keyed[..1]);
        let grouped = group_leftovers(&|i| refs[i], &keyed, Some(&only));
        assert_eq!(grouped.blocks.len(), 1);
    }

    proptest! {
        /// Two numbers that can pair share a third, whatever their length,
        /// so that no unmatched poor row that can pair is left unkeyed.
        #[test]
        fn numbers_that_can_pair_share_a_third(
            id in "[0-9X]{1,24}",
            at in 0usize..24,
            digit in 0u8..10,
            kind in 0u8..3,
        ) {
            let mut b = id.clone().into_bytes();
            let at = at % b.len();
            match kind {
                1 if at + 1 < b.len() => b.swap(at, at + 1),
                2 if b.len() == 18 => b[15..].copy_from_slice(b"000"),
                _ => b[at] = b'0' + digit,
            }
            let other = String::from_utf8(b).unwrap();
            let can_pair = one_typo_apart(&id, &other).is_some()
                || excel_copy(&id, &other)
                || excel_copy(&other, &id);
            prop_assume!(can_pair);
            let mine = id_thirds(&id);
            prop_assert!(id_thirds(&other).iter().any(|t| mine.contains(t)));
        }

        /// In a block too large for every pair, each pair one typo apart or
        /// an Excel copy is still a candidate.
        #[test]
        fn large_blocks_keep_every_pair_that_can_match(
            ids in proptest::collection::vec("41030[0-9]{12}[0-9X]", 20..40),
            typos in proptest::collection::vec((0usize..40, 0usize..18, 0u8..10, any::<bool>()), 20..40),
        ) {
            // The 低保 side as generated; the poor side a typo, a swap or an
            // Excel copy of some of them, plus the originals.
            let mut poor: Vec<String> = ids.clone();
            for (which, at, digit, swap) in typos {
                let mut b = ids[which % ids.len()].clone().into_bytes();
                if swap && at < 17 {
                    b.swap(at, at + 1);
                } else if at >= 15 && swap {
                    b[15..].copy_from_slice(b"000");
                } else {
                    b[at] = b'0' + digit;
                }
                poor.push(String::from_utf8(b).unwrap());
            }
            // Cells of digits and X only: each normalized as given.
            let end = crate::calendar::Date::new(2024, 3, 31).unwrap();
            let person_ids = |v: &[String]| -> Vec<crate::model::PersonId> {
                v.iter().map(|id| crate::model::PersonId::new(id.as_str().into(), end)).collect()
            };
            let (ds_ids, ps_ids) = (person_ids(&ids), person_ids(&poor));
            fn left(v: &[crate::model::PersonId]) -> Vec<Leftover<'_>> {
                v.iter().map(|person_id| Leftover { person_id, rows: 0..1 }).collect()
            }
            let (ds, ps) = (left(&ds_ids), left(&ps_ids));
            fn texts<'a>(v: &[Leftover<'a>]) -> Vec<IdText<'a>> {
                v.iter().map(Leftover::id).collect()
            }
            let (ds, ps) = (texts(&ds), texts(&ps));
            prop_assert!(ds.iter().zip(&ids).all(|(d, id)| d.as_str() == id.as_str()));
            prop_assert!(ps.iter().zip(&poor).all(|(p, id)| p.as_str() == id.as_str()));
            prop_assume!(ds.len() * ps.len() > 256);
            let found: std::collections::HashSet<(usize, usize)> =
                candidate_pairs(&ds, &ps).into_iter().collect();
            for (di, d) in ds.iter().enumerate() {
                for (pi, p) in ps.iter().enumerate() {
                    let can_match = one_typo_apart(d, p).is_some()
                        || excel_copy(d, p)
                        || excel_copy(p, d);
                    if can_match {
                        prop_assert!(found.contains(&(di, pi)), "{} {}", d.as_str(), p.as_str());
                    }
                }
            }
        }
    }

    /// However many buckets the keyed rows are gathered in, the exact
    /// pairs are the same (the bundled fixtures), and each is a pair of
    /// rows with one key.
    #[test]
    fn exact_pairs_do_not_depend_on_the_buckets() {
        let fixture = crate::checks::FixtureQuarter::read();
        let (dibao, poor) = (&fixture.inputs.dibao, &fixture.inputs.poor);
        let sorted = |per_bucket: usize| {
            let (mut pairs, keys) = exact_pairs(dibao, poor, per_bucket);
            pairs.sort_unstable();
            (pairs, keys)
        };
        let (whole, keys) = sorted(usize::MAX);
        assert!(
            keys > 10 && whole.len() >= keys,
            "{keys} keys, {} pairs",
            whole.len()
        );
        for &(d, p) in &whole {
            let key = dibao.rows[d as usize].member.id.key();
            assert!(key.is_some());
            assert_eq!(key, poor.rows[p as usize].member.id.key());
        }
        let rows = dibao.rows.len().max(poor.rows.len());
        for per_bucket in [1, 3, 64] {
            assert!(bucketed::bucket_count(rows, per_bucket) > 1);
            assert_eq!(
                sorted(per_bucket),
                (whole.clone(), keys),
                "{per_bucket} a bucket"
            );
        }
    }
}
