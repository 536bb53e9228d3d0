//! Each region's county as a small number: its rank in county order, by
//! the region's handle in the run's table of shared texts.
//!
//! Two stages key their work on a row's county. Looking the code up in
//! the table of shared texts at each row missed the cache at nearly every
//! lookup once the table held some 600,000 villages (a nation's), and a
//! table keyed by region grew with the villages where one keyed by county
//! stays at a nation's 3,000 counties (issue #7):
//! - the flags' sort compares two ranks (the sort of the national world's
//!   12 M flags took 19.6 s at 10 M households by code, 8.7 s by rank);
//! - the transitions count persons by (county rank, states).

use rayon::prelude::*;

use crate::model::Region;
use crate::vocab::Shared;

pub struct CountyRanks {
    by_handle: Vec<u32>,
    /// Each rank's county code, in rank order.
    counties: Vec<&'static str>,
}

impl CountyRanks {
    /// Ranks for every text of the run's table of shared texts, which
    /// holds every row's region (and other texts, ranked as if they were
    /// codes: they never reach [`CountyRanks::rank`], and the regions'
    /// counties keep their order among themselves). Found from the rows
    /// or flags instead, the regions took a pass over every one; the
    /// table holds a few thousand texts for a city, about 600,000 villages
    /// for a nation.
    ///
    /// A region shared after this call has no rank: make the ranks once
    /// the texts they are for are read.
    pub fn of_shared_texts() -> CountyRanks {
        // Each text's county is sorted by its leading bytes and its length
        // held beside it (a county code is six bytes), so that neither a
        // comparison nor the counting of counties reads a text: compared
        // as texts looked up in the table, the national world's 600,000
        // villages took 0.8 CPU-s to sort at 1 M households, nearly every
        // lookup a cache miss (issue #7). Only a county of more than 16
        // bytes (a text cut at a character boundary) is compared whole.
        type Entry = (u128, u32, &'static str, Shared);
        let mut regions: Vec<Entry> = crate::vocab::all()
            .map(|shared| {
                let county = Region::from_shared(shared).county();
                let leading = crate::vocab::leading_bytes(county);
                (leading, county.len() as u32, county, shared)
            })
            .collect();
        let order = |a: &Entry, b: &Entry| {
            (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| {
                if a.1 > 16 {
                    a.2.cmp(b.2)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
        };
        regions.par_sort_unstable_by(order);
        // Handles are numbered 1 to the number of texts.
        let mut by_handle = vec![0; regions.len() + 1];
        let mut counties: Vec<&'static str> = Vec::new();
        let mut last: Option<&Entry> = None;
        for region in &regions {
            if last.is_none_or(|last| order(last, region).is_ne()) {
                counties.push(region.2);
            }
            by_handle[region.3.index()] = (counties.len() - 1) as u32;
            last = Some(region);
        }
        CountyRanks {
            by_handle,
            counties,
        }
    }

    /// How many counties (ranks) there are.
    pub fn count(&self) -> usize {
        self.counties.len()
    }

    /// The rank of `region`'s county; `region` was shared before the
    /// ranks were made.
    #[inline]
    pub fn rank(&self, region: Region) -> u32 {
        self.by_handle
            .get(region.shared().index())
            .copied()
            .unwrap_or(0)
    }

    /// The county code of `rank`, as [`Region::county`] gives it.
    pub fn county(&self, rank: u32) -> &'static str {
        self.counties[rank as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn villages_of_one_county_share_its_rank_and_ranks_follow_county_order() {
        // Shared in the reverse of their counties' order.
        let codes = ["990009001001", "990009001002", "990005002001", "990005"];
        let regions: Vec<Region> = codes.iter().map(|c| Region::new(c)).collect();
        let ranks = CountyRanks::of_shared_texts();
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| ranks.rank(regions[i]));
        assert_eq!(a, b);
        assert_eq!(c, d);
        assert!(c < a, "990005 ranks before 990009");
        assert_eq!(ranks.county(a), "990009");
        assert_eq!(ranks.county(c), "990005");
        // Other tests share texts too: every rank names a county once.
        let mut seen: Vec<&str> = (0..ranks.count() as u32).map(|r| ranks.county(r)).collect();
        let before = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), before);
    }

    #[test]
    fn ranks_follow_the_order_of_county_texts_of_any_shape() {
        // Beside codes, the table holds other texts: a category, short
        // and damaged codes, one that sorts before the digits, one cut
        // at a character boundary past six bytes, texts that differ only
        // past their first 16 bytes or by a trailing NUL byte.
        let texts = [
            "990007001001",
            "990007",
            "低保户",
            "99000",
            "9900x7001",
            "!99000",
            "12345仁",
            "abcde仁仁仁仁y",
            "abcde仁仁仁仁x",
            "abcde仁仁仁仁",
            "abcde仁",
            "9",
            "9\0",
        ];
        let regions: Vec<Region> = texts.iter().map(|t| Region::new(t)).collect();
        let ranks = CountyRanks::of_shared_texts();
        for a in &regions {
            assert_eq!(ranks.county(ranks.rank(*a)), a.county(), "{a:?}");
            for b in &regions {
                assert_eq!(
                    ranks.rank(*a).cmp(&ranks.rank(*b)),
                    a.county().cmp(b.county()),
                    "{a:?} {b:?}"
                );
            }
        }
    }
}
