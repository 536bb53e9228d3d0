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
    pub fn from_pairs(owners: usize, pairs: impl Iterator<Item = (usize, usize)>) -> RowLists {
        let mut pairs: Vec<(u32, u32)> = pairs.map(|(o, r)| (o as u32, r as u32)).collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        let mut starts = vec![0u32; owners + 1];
        for &(owner, _) in &pairs {
            starts[owner as usize + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        RowLists {
            starts,
            rows: pairs.into_iter().map(|(_, row)| row).collect(),
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

#[cfg(test)]
mod tests {
    use super::RowLists;

    #[test]
    fn lists_are_sorted_once_each_and_empty_where_nothing_was_given() {
        let lists = RowLists::from_pairs(4, [(2, 7), (0, 3), (2, 1), (2, 7), (0, 9)].into_iter());
        assert_eq!(lists.get(0), &[3, 9]);
        assert!(lists.get(1).is_empty());
        assert_eq!(lists.get(2), &[1, 7]);
        assert!(lists.get(3).is_empty());
        assert!(lists.get(4).is_empty());
        assert!(
            RowLists::from_pairs(0, std::iter::empty())
                .get(0)
                .is_empty()
        );
    }
}
