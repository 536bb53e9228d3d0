//! Lists of row indices, one per owner (a row, a household), stored end
//! to end: one allocation and 4 bytes per entry, where a `Vec<Vec<usize>>`
//! spent 24 bytes per owner even when its list was empty (issue #7: a
//! roll has millions of rows, most with no partner in the other roll).

use rayon::prelude::*;

#[derive(Clone, Debug, Default)]
pub struct RowLists {
    /// Owner k's rows are `rows[starts[k]..starts[k + 1]]`.
    starts: Vec<u32>,
    rows: Vec<u32>,
}

impl RowLists {
    /// The lists of `owners` owners from (owner, row) pairs; each list
    /// sorted, each row in it once. Rolls stay below 2^32 rows.
    ///
    /// Every step runs on every core: gathered, counted and laid out on
    /// one thread, matching's partner lists of the 10 M household rolls
    /// kept a core idle for most of their half second (issue #7).
    pub fn from_pairs(
        owners: usize,
        pairs: impl IndexedParallelIterator<Item = (usize, usize)>,
    ) -> RowLists {
        RowLists::from_pairs_in_tasks(owners, pairs, OWNERS_A_TASK)
    }

    /// [`RowLists::from_pairs`], the starts of `owners_a_task` owners laid
    /// out by a task.
    fn from_pairs_in_tasks(
        owners: usize,
        pairs: impl IndexedParallelIterator<Item = (usize, usize)>,
        owners_a_task: usize,
    ) -> RowLists {
        let mut pairs: Vec<(u32, u32)> = pairs.map(|(o, r)| (o as u32, r as u32)).collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        // starts[k] is the place of owner k's first pair, the pairs being
        // in owner order: each stretch of owners finds its first place by
        // a binary search and walks on from there.
        let mut starts = vec![0u32; owners + 1];
        starts
            .par_chunks_mut(owners_a_task)
            .enumerate()
            .for_each(|(c, stretch)| {
                let first = c * owners_a_task;
                let mut at = pairs.partition_point(|&(o, _)| (o as usize) < first);
                for (k, start) in stretch.iter_mut().enumerate() {
                    while at < pairs.len() && (pairs[at].0 as usize) < first + k {
                        at += 1;
                    }
                    *start = at as u32;
                }
            });
        RowLists {
            starts,
            rows: pairs.into_par_iter().map(|(_, row)| row).collect(),
        }
    }

    /// Owner `owner`'s rows, ascending; empty for an owner out of range.
    pub fn get(&self, owner: usize) -> &[u32] {
        match (self.starts.get(owner), self.starts.get(owner + 1)) {
            (Some(&a), Some(&b)) => &self.rows[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// Owners whose starts one task lays out.
const OWNERS_A_TASK: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::RowLists;
    use rayon::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn lists_are_sorted_once_each_and_empty_where_nothing_was_given() {
        let pairs = [(2, 7), (0, 3), (2, 1), (2, 7), (0, 9)];
        let lists = RowLists::from_pairs(4, pairs.into_par_iter());
        assert_eq!(lists.get(0), &[3, 9]);
        assert!(lists.get(1).is_empty());
        assert_eq!(lists.get(2), &[1, 7]);
        assert!(lists.get(3).is_empty());
        assert!(lists.get(4).is_empty());
        let none: [(usize, usize); 0] = [];
        assert!(
            RowLists::from_pairs(0, none.into_par_iter())
                .get(0)
                .is_empty()
        );
    }

    /// Each owner's list is the set of its rows, whatever the owners a
    /// task lays out: stretches with no pair, pairs at a stretch's first
    /// and last owner, and the last owner's.
    #[test]
    fn lists_are_the_same_however_the_owners_are_shared_out() {
        let owners = 1000;
        // A fixed scatter of pairs over the owners, some given twice,
        // owners 0 and 999 among them, a long run of owners with none.
        let pairs: Vec<(usize, usize)> = (0..3000usize)
            .map(|i| {
                let owner = (i * 7919) % owners;
                (
                    if (300..700).contains(&owner) {
                        0
                    } else {
                        owner
                    },
                    (i * 104_729) % 50,
                )
            })
            .chain([(999, 1), (999, 1), (64, 5), (63, 5)])
            .collect();
        let mut expected = vec![BTreeSet::new(); owners];
        for &(o, r) in &pairs {
            expected[o].insert(r as u32);
        }
        for per_task in [1, 3, 64, 1 << 16] {
            let lists = RowLists::from_pairs_in_tasks(owners, pairs.par_iter().copied(), per_task);
            for (o, rows) in expected.iter().enumerate() {
                let rows: Vec<u32> = rows.iter().copied().collect();
                assert_eq!(
                    lists.get(o),
                    rows.as_slice(),
                    "owner {o}, {per_task} a task"
                );
            }
            assert!(lists.get(owners).is_empty());
        }
    }
}
