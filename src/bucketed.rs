//! Millions of small entries gathered into buckets and sorted a bucket at
//! a time, on every core.
//!
//! Sorting millions of entries as one slice compares entries far apart in
//! memory: sorting every person's key as one slice was two thirds of
//! counting the transitions (issue #7; [`crate::dynamics::transitions`]).
//! Here each piece of the input is counted per bucket first, then written
//! straight into its stretch of its buckets (no second copy of the
//! entries), and each bucket, small enough to stay in a core's cache, is
//! sorted on its own.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

/// Input rows counted and written by one task.
pub const PIECE_ROWS: usize = 1 << 16;

/// Entries a bucket is meant to hold: 512 KiB of 16-byte entries,
/// sorted within a core's cache.
pub const BUCKET_ENTRIES: usize = 1 << 15;

/// At most this many buckets, so that the pieces' counts and stretches
/// stay small beside the entries.
pub const MAX_BUCKETS: usize = 1 << 10;

/// A power of two of buckets for `entries` entries of about `per_bucket`
/// each, at least one and at most [`MAX_BUCKETS`].
pub fn bucket_count(entries: usize, per_bucket: usize) -> usize {
    entries
        .div_ceil(per_bucket.max(1))
        .next_power_of_two()
        .min(MAX_BUCKETS)
}

/// The bucket of `value` among `buckets` (a power of two, as
/// [`bucket_count`] gives): the top bits of its product with an odd
/// constant, so that values sharing their own top bits (an ID number's
/// province and region digits) still spread over every bucket.
pub fn bucket_of(value: u64, buckets: usize) -> usize {
    match buckets.trailing_zeros() {
        0 => 0,
        bits => (value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize,
    }
}

/// `0..rows` cut into pieces of [`PIECE_ROWS`].
pub fn pieces(rows: usize) -> Vec<Range<usize>> {
    (0..rows)
        .step_by(PIECE_ROWS)
        .map(|from| from..(from + PIECE_ROWS).min(rows))
        .collect()
}

/// Where one piece writes its entries: a stretch of each bucket.
pub struct Stretches<'a, T> {
    stretches: Vec<&'a mut [MaybeUninit<T>]>,
    written: Vec<usize>,
}

impl<T> Stretches<'_, T> {
    /// Write `entry` to the piece's next place in `bucket`. The piece
    /// must write to each bucket exactly the count it was given.
    pub fn push(&mut self, bucket: usize, entry: T) {
        let at = self.written[bucket];
        self.stretches[bucket][at].write(entry);
        self.written[bucket] = at + 1;
    }

    /// Whether each stretch was written to its end.
    fn filled(&self) -> bool {
        self.written
            .iter()
            .zip(&self.stretches)
            .all(|(&n, s)| n == s.len())
    }
}

/// Entries gathered bucket by bucket; within a bucket in no set order
/// until sorted.
pub struct Gathered<T> {
    pub entries: Vec<T>,
    bucket_sizes: Vec<usize>,
}

/// The entries of `pieces` pieces in `buckets` buckets: `count(piece,
/// bucket)` entries of each piece in each bucket, which `fill(piece, ..)`
/// writes, in the order it writes them. The table is written once, in
/// place: it was filled with a filler first, a pass over every entry's
/// memory before the pass that wrote it (issue #7).
///
/// Panics if a piece does not write exactly its counts.
pub fn gather<T: Send>(
    pieces: usize,
    buckets: usize,
    count: impl Fn(usize, usize) -> usize,
    fill: impl Fn(usize, &mut Stretches<T>) + Sync,
) -> Gathered<T> {
    let bucket_sizes: Vec<usize> = (0..buckets)
        .map(|b| (0..pieces).map(|p| count(p, b)).sum())
        .collect();
    let total = bucket_sizes.iter().sum();
    let mut entries: Vec<T> = Vec::with_capacity(total);
    // Bucket by bucket, and within a bucket piece by piece.
    let mut by_piece: Vec<Stretches<T>> = (0..pieces)
        .map(|_| Stretches {
            stretches: Vec::with_capacity(buckets),
            written: vec![0; buckets],
        })
        .collect();
    let mut rest = &mut entries.spare_capacity_mut()[..total];
    for bucket in 0..buckets {
        for (piece, of_piece) in by_piece.iter_mut().enumerate() {
            let (stretch, after) = std::mem::take(&mut rest).split_at_mut(count(piece, bucket));
            of_piece.stretches.push(stretch);
            rest = after;
        }
    }
    let filled = by_piece
        .into_par_iter()
        .enumerate()
        .map(|(piece, mut stretches)| {
            fill(piece, &mut stretches);
            stretches.filled()
        })
        .collect::<Vec<bool>>()
        .into_iter()
        .all(|filled| filled);
    assert!(filled, "every piece wrote each bucket its count");
    // SAFETY: the stretches cover the first `total` slots of the spare
    // capacity, each slot once, and each was written to its end (checked
    // above): those slots are initialized.
    unsafe { entries.set_len(total) };
    Gathered {
        entries,
        bucket_sizes,
    }
}

impl<T: Send> Gathered<T> {
    /// Each bucket sorted by `key`, the buckets on every core.
    pub fn sort_each_by_key<K: Ord>(&mut self, key: impl Fn(&T) -> K + Sync) {
        self.buckets_mut()
            .into_par_iter()
            .for_each(|bucket| bucket.sort_unstable_by_key(&key));
    }

    /// The buckets, in bucket order.
    pub fn buckets_mut(&mut self) -> Vec<&mut [T]> {
        let mut buckets = Vec::with_capacity(self.bucket_sizes.len());
        let mut rest = self.entries.as_mut_slice();
        for &n in &self.bucket_sizes {
            let (bucket, after) = rest.split_at_mut(n);
            buckets.push(bucket);
            rest = after;
        }
        buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value's bucket lies among the buckets, one bucket takes every
    /// value, and values that share their top bits spread over all.
    #[test]
    fn buckets_of_values_spread_within_their_count() {
        for buckets in [1, 2, 64, MAX_BUCKETS] {
            let mut seen = vec![false; buckets];
            for v in 0..(64 * buckets as u64) {
                let b = bucket_of(0x4103_2200_0000_0000 + v, buckets);
                assert!(b < buckets);
                seen[b] = true;
            }
            assert!(seen.iter().all(|&s| s), "{buckets} buckets");
        }
    }

    /// Entries of value `v` in bucket `v % buckets`, each piece's own:
    /// every entry is written once, to its bucket, and each bucket sorts.
    #[test]
    fn every_entry_lands_once_in_its_bucket_and_buckets_sort() {
        let values: Vec<u32> = (0..10_000u32)
            .map(|i| i.wrapping_mul(2_654_435_761) % 977)
            .collect();
        for (piece_rows, buckets) in [(1, 1), (7, 4), (1000, 16), (20_000, 2)] {
            let pieces: Vec<&[u32]> = values.chunks(piece_rows).collect();
            let counts: Vec<Vec<usize>> = pieces
                .iter()
                .map(|p| {
                    let mut c = vec![0; buckets];
                    for &v in *p {
                        c[v as usize % buckets] += 1;
                    }
                    c
                })
                .collect();
            let mut gathered = gather(
                pieces.len(),
                buckets,
                |p, b| counts[p][b],
                |p, out| {
                    for &v in pieces[p] {
                        out.push(v as usize % buckets, v);
                    }
                },
            );
            gathered.sort_each_by_key(|&v| v);
            let mut at = 0;
            for (b, &n) in gathered.bucket_sizes.iter().enumerate() {
                let bucket = &gathered.entries[at..at + n];
                assert!(bucket.iter().all(|&v| v as usize % buckets == b));
                assert!(bucket.windows(2).all(|w| w[0] <= w[1]));
                at += n;
            }
            let mut all = gathered.entries.clone();
            let mut expected = values.clone();
            all.sort_unstable();
            expected.sort_unstable();
            assert_eq!(
                all, expected,
                "{piece_rows} rows a piece, {buckets} buckets"
            );
        }
    }

    #[test]
    fn bucket_counts_are_powers_of_two_within_bounds() {
        assert_eq!(bucket_count(0, 10), 1);
        assert_eq!(bucket_count(10, 0), 16);
        assert_eq!(bucket_count(100_000, 1 << 15), 4);
        assert_eq!(bucket_count(usize::MAX / 2, 1), MAX_BUCKETS);
        assert_eq!(pieces(0), Vec::<Range<usize>>::new());
        assert_eq!(
            pieces(PIECE_ROWS + 1),
            vec![0..PIECE_ROWS, PIECE_ROWS..PIECE_ROWS + 1]
        );
    }
}
