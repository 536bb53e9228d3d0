//! A set of 64-bit hashes that answers "maybe" or "no" in one 32-byte
//! block: Parquet's split-block Bloom filter (parquet-format's
//! BloomFilter.md), built on every core. polars-parquet has one, behind a
//! feature whose change would rebuild polars; it is twenty lines.
//!
//! Matching asks of each of the 15 M unmatched poor rows at 10 M
//! households whether the 低保 side has a row in its block sharing a
//! third of its number (see `matching::keyed_leftovers`). As hash sets of
//! 8 M entries (150 MB) each such question missed the cache and the page
//! table several times over: about 0.8 µs a row, 12 CPU-seconds, where a
//! million households' sets stayed in the cache (issue #7). The filter
//! takes 2 bytes an entry and one block per question; a wrong "maybe"
//! (about one in 800) only lets a row through that a later,
//! exact step turns away.

use rayon::prelude::*;

/// Bytes of filter per entry: a wrong "maybe" for about 0.13 % of absent
/// hashes (measured on 2026-12-03: 2,621 of 2 M absent hashes against
/// 8.4 M present ones, as at 10 M households), in 16.8 MB for 8.4 M
/// entries.
const BYTES_PER_ENTRY: usize = 2;

/// Eight words of 32 bits; a hash sets or tests one bit in each.
type Block = [u32; 8];

/// The odd constants of Parquet's filter, one per word of a block.
const SALT: Block = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// The block of a (spread) hash, from its high 32 bits, and the bit of
/// each word, from its low 32.
fn place(hash: u64, blocks: usize) -> (usize, Block) {
    let probe = Probe::of(hash, blocks);
    (probe.block, probe.bits())
}

/// A question put to a filter: which block it reads, and the hash's low
/// bits, which pick a bit of each of the block's words.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe {
    block: usize,
    key: u32,
}

impl Probe {
    fn of(spread_hash: u64, blocks: usize) -> Probe {
        Probe {
            block: (((spread_hash >> 32) * blocks as u64) >> 32) as usize,
            key: spread_hash as u32,
        }
    }

    fn bits(self) -> Block {
        SALT.map(|salt| 1 << (self.key.wrapping_mul(salt) >> 27))
    }
}

pub struct HashFilter {
    blocks: Vec<Block>,
}

impl HashFilter {
    /// A filter of every hash that `hashes` gives for each of `items`, at
    /// most `per_item` each. Each thread fills a filter of its own from a
    /// part of the items, and the filters are joined by OR: one filter
    /// written from two threads would need an atomic OR per word.
    pub fn build<T, H>(items: &[T], per_item: usize, hashes: impl Fn(&T) -> H + Sync) -> Self
    where
        T: Sync,
        H: IntoIterator<Item = u64>,
    {
        let len = (items.len() * per_item * BYTES_PER_ENTRY)
            .div_ceil(size_of::<Block>())
            .max(1);
        let part = items.len().div_ceil(rayon::current_num_threads()).max(1);
        let blocks = items
            .par_chunks(part)
            .map(|part| {
                let mut blocks = vec![Block::default(); len];
                for item in part {
                    for hash in hashes(item) {
                        let (at, bits) = place(spread(hash), len);
                        for (word, bit) in blocks[at].iter_mut().zip(bits) {
                            *word |= bit;
                        }
                    }
                }
                blocks
            })
            .reduce_with(|mut a, b| {
                for (a, b) in a.iter_mut().zip(&b) {
                    for (a, b) in a.iter_mut().zip(b) {
                        *a |= b;
                    }
                }
                a
            })
            .unwrap_or_else(|| vec![Block::default(); len]);
        HashFilter { blocks }
    }

    /// False if `hash` was never put in; true if it was, and now and then
    /// when it was not.
    pub fn may_contain(&self, hash: u64) -> bool {
        self.answer(Probe::of(spread(hash), self.blocks.len()))
    }

    /// [`may_contain`](Self::may_contain) in two halves, for questions
    /// asked in batches: `ask` tells the processor which block the answer
    /// will read (a prefetch) and returns at once; [`answer`](Self::answer)
    /// reads it. At 10 M households the filter is 17 MB, and a question
    /// asked whole waited on a cache and page-table miss of its own: the
    /// poor rows' questions took 35 × the time of a million households',
    /// whose filter stays in the cache (issue #7). Asked a batch ahead,
    /// the misses overlap.
    pub fn ask(&self, hash: u64) -> Probe {
        let probe = Probe::of(spread(hash), self.blocks.len());
        if let Some(block) = self.blocks.get(probe.block) {
            crate::memory::prefetch(block);
        }
        probe
    }

    /// The answer to a question [`ask`](Self::ask)ed of this filter.
    pub fn answer(&self, probe: Probe) -> bool {
        self.blocks.get(probe.block).is_some_and(|block| {
            block
                .iter()
                .zip(probe.bits())
                .all(|(word, bit)| word & bit != 0)
        })
    }
}

/// The filter takes its block from a hash's high 32 bits and its bits in
/// the block from the low 32: both must vary with every input bit, which
/// a multiplicative hash (FxHash) does not promise of its low bits. This
/// is the finalizer of MurmurHash3 (fmix64), a bijection.
fn spread(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::HashFilter;
    use proptest::prelude::*;

    proptest! {
        /// Never a wrong "no": every hash put in is found, whatever the
        /// hashes and however the items fall to the threads.
        #[test]
        fn every_hash_put_in_is_found(items in prop::collection::vec(any::<(u64, u64)>(), 0..3_000)) {
            let filter = HashFilter::build(&items, 2, |&(a, b)| [a, b]);
            for &(a, b) in &items {
                prop_assert!(filter.may_contain(a));
                prop_assert!(filter.may_contain(b));
            }
        }
    }

    proptest! {
        /// A question asked and answered in halves gets the answer it
        /// gets asked whole, for hashes put in and hashes not.
        #[test]
        fn asked_in_halves_answers_as_whole(
            items in prop::collection::vec(any::<u64>(), 0..2_000),
            others in prop::collection::vec(any::<u64>(), 0..500),
        ) {
            let filter = HashFilter::build(&items, 1, |&h| [h]);
            for &h in items.iter().chain(&others) {
                prop_assert_eq!(filter.answer(filter.ask(h)), filter.may_contain(h));
            }
        }
    }

    /// Absent hashes are mostly told absent: with the sizes matching
    /// uses, fewer than 1 % answer "maybe" (0.12 % measured), also for
    /// hashes that differ from the present ones in their lowest bit.
    #[test]
    fn absent_hashes_are_mostly_refused() {
        let present: Vec<u64> = (0..300_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let filter = HashFilter::build(&present, 1, |&h| [h]);
        let absent = (0..300_000u64).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ 1);
        let maybes = absent.filter(|&h| filter.may_contain(h)).count();
        assert!(
            maybes < 3_000,
            "{maybes} of 300,000 absent hashes answered maybe"
        );
    }

    #[test]
    fn an_empty_filter_refuses_everything() {
        let filter = HashFilter::build(&[] as &[u64], 3, |&h| [h]);
        assert!((0..1_000u64).all(|h| !filter.may_contain(h)));
    }
}
