//! Hash maps built on every core.
//!
//! The movement checks index millions of numbers and household numbers,
//! the score stage every flagged household, and each roll's grouping the
//! numbers of its runs of rows ([`ShardedMap`], or [`ShardedPlaces`] when
//! the keys can be read from what is indexed). A map of every key built
//! on one thread kept the other core idle, and its inserts wandered over
//! a table of hundreds of megabytes at 10 M households (issue #7). Here
//! the keys are cut into shards by their hash, each shard is built on its
//! own, and a shard's table (a 64th of the keys) is small while it is
//! filled.

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, Hash};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

const SHARDS: usize = 64;

/// How many entries a worker sorts into shards at a time.
const PIECE: usize = 1 << 16;

/// How many places ahead a shard's table asks for the key it will hash.
const KEY_AHEAD: usize = 8;

/// A hash map cut into shards by the hash of its keys.
pub struct ShardedMap<K, V> {
    shards: Vec<FxHashMap<K, V>>,
}

/// The hash of a key: the one function behind both a key's shard and
/// its place in the shard's table, so that a key is looked up with the
/// hash it was inserted with.
fn key_hash<Q: Hash + ?Sized>(key: &Q) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(key)
}

/// The shard of a key. The shards' tables hash with the same function,
/// so the shard is taken from the hash mixed once more (a bijection):
/// taken from bits the tables read, a shard's keys would share them and
/// crowd their table's buckets or its control bytes.
fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    let hash = key_hash(key);
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (u64::BITS - SHARDS.ilog2())) as usize
}

/// The entries `entry(i)` for `i` in `0..n` (none: left out), each with
/// its shard, made a piece at a time on every core and gathered by shard:
/// each shard's lists in piece order, so in entry order end to end.
fn entries_by_shard<E: Send>(
    n: usize,
    entry: impl Fn(usize) -> Option<(usize, E)> + Sync,
) -> Vec<Vec<Vec<E>>> {
    let pieces: Vec<Vec<Vec<E>>> = (0..n.div_ceil(PIECE))
        .into_par_iter()
        .map(|piece| {
            let mut by_shard: Vec<Vec<E>> = (0..SHARDS).map(|_| Vec::new()).collect();
            for i in piece * PIECE..((piece + 1) * PIECE).min(n) {
                if let Some((shard, e)) = entry(i) {
                    by_shard[shard].push(e);
                }
            }
            by_shard
        })
        .collect();
    let mut by_shard: Vec<Vec<Vec<E>>> = (0..SHARDS)
        .map(|_| Vec::with_capacity(pieces.len()))
        .collect();
    for piece in pieces {
        for (shard, list) in by_shard.iter_mut().zip(piece) {
            shard.push(list);
        }
    }
    by_shard
}

impl<K: Hash + Eq + Send, V: Send> ShardedMap<K, V> {
    /// The map of the entries `entry(i)` for `i` in `0..n` (none: left
    /// out); values of one key are merged in entry order by
    /// `merge(earlier, later)`.
    ///
    /// The entries are made in one pass over `0..n` and sorted into their
    /// shards, then each shard's table is filled from its own list: filled
    /// from indices, every insert read its entry at a random place in a
    /// gigabyte of flags or rows (issue #7).
    pub fn build(
        n: usize,
        entry: impl Fn(usize) -> Option<(K, V)> + Sync,
        merge: impl Fn(&mut V, V) + Sync,
    ) -> ShardedMap<K, V> {
        let by_shard = entries_by_shard(n, |i| entry(i).map(|(k, v)| (shard_of(&k), (k, v))));
        let shards = by_shard
            .into_par_iter()
            .map(|lists| {
                let entries = lists.iter().map(Vec::len).sum();
                let mut map = FxHashMap::with_capacity_and_hasher(entries, Default::default());
                for (k, v) in lists.into_iter().flatten() {
                    match map.entry(k) {
                        Entry::Occupied(mut e) => merge(e.get_mut(), v),
                        Entry::Vacant(e) => {
                            e.insert(v);
                        }
                    }
                }
                map
            })
            .collect();
        ShardedMap { shards }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.shards[shard_of(key)].get(key)
    }

    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.shards[shard_of(key)].contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.is_empty())
    }
}

/// A set: a map of keys to nothing.
pub type ShardedSet<K> = ShardedMap<K, ()>;

impl<K: Hash + Eq + Send> ShardedSet<K> {
    /// The set of `key(i)` for `i` in `0..n`.
    pub fn of(n: usize, key: impl Fn(usize) -> K + Sync) -> ShardedSet<K> {
        ShardedMap::build(n, |i| Some((key(i), ())), |_, _| {})
    }
}

/// Places `0..n` found by their keys, the keys not copied: each table
/// entry is a place (4 bytes), and a place's key is read through `key`
/// (from the row or household there) when it is compared. A
/// [`ShardedMap`] of 10 M household numbers held a 16-byte copy of each
/// number and a place, about 420 MB with its tables' slack and 240 MB
/// more while it was built; this is about 85 MB and 40 MB. Such maps were
/// the run's peak at 10 M households: the index of Q-1's poor households
/// in the movement checks, then the grouping of each roll's rows into
/// households in the read (issue #7).
pub struct ShardedPlaces<'a, K: ?Sized> {
    key: Box<dyn Fn(usize) -> &'a K + Sync + 'a>,
    shards: Vec<hashbrown::HashTable<u32>>,
}

impl<'a, K: Hash + Eq + Sync + ?Sized + 'a> ShardedPlaces<'a, K> {
    /// The places `0..n` by `key(place)`. Of places with one key the
    /// first is kept, and `repeat(first, later)` is called for each later
    /// one (in no particular order). Places stay below 2^32 (a roll's rows
    /// and households are fewer than `MAX_ROWS_PER_ROLL`).
    pub fn build(
        n: usize,
        key: impl Fn(usize) -> &'a K + Sync + 'a,
        repeat: impl Fn(u32, u32) + Sync,
    ) -> ShardedPlaces<'a, K> {
        let by_shard = entries_by_shard(n, |i| Some((shard_of(key(i)), i as u32)));
        let hash = |place: u32| key_hash(key(place as usize));
        let shards = by_shard
            .into_par_iter()
            .map(|lists| {
                let places = lists.iter().map(Vec::len).sum();
                let mut table = hashbrown::HashTable::with_capacity(places);
                // In place order (see `entries_by_shard`), so the first
                // place of a key is the one kept. A key is read again only when its
                // table's 7-bit tag matches, so inserting a new key seldom
                // reads another's. A shard's places are one in 64 of
                // all, spread over every row, so at 10 M households each
                // key hashed here was a cache miss of its own, waited for
                // in turn: the key `KEY_AHEAD` places on is asked for
                // (prefetched) before this one is hashed.
                let mut ahead = lists.iter().flatten().skip(KEY_AHEAD);
                for &place in lists.iter().flatten() {
                    if let Some(&later) = ahead.next() {
                        crate::memory::prefetch(key(later as usize));
                    }
                    let k = key(place as usize);
                    let entry = table.entry(
                        key_hash(k),
                        |&other: &u32| key(other as usize) == k,
                        |&other: &u32| hash(other),
                    );
                    match entry {
                        hashbrown::hash_table::Entry::Occupied(e) => repeat(*e.get(), place),
                        hashbrown::hash_table::Entry::Vacant(e) => {
                            e.insert(place);
                        }
                    }
                }
                table
            })
            .collect();
        ShardedPlaces {
            key: Box::new(key),
            shards,
        }
    }

    /// The (first) place whose key is `key`.
    pub fn get(&self, key: &K) -> Option<usize> {
        let hash = key_hash(key);
        self.shards[shard_of(key)]
            .find(hash, |&place| (self.key)(place as usize) == key)
            .map(|&place| place as usize)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn merges_in_entry_order_as_one_map_would() {
        // More entries than a piece, keys repeated across pieces, some
        // entries left out.
        let n = 3 * PIECE + 123;
        let key = |i: usize| (!(i % 50_021).is_multiple_of(7)).then(|| format!("户{}", i % 50_021));
        let built = ShardedMap::build(
            n,
            |i| key(i).map(|k| (k, vec![i])),
            |earlier: &mut Vec<usize>, later| earlier.extend(later),
        );
        let mut expected: HashMap<String, Vec<usize>> = HashMap::new();
        for i in 0..n {
            if let Some(k) = key(i) {
                expected.entry(k).or_default().push(i);
            }
        }
        assert_eq!(built.len(), expected.len());
        for (k, v) in &expected {
            assert_eq!(built.get(k.as_str()), Some(v), "{k}");
        }
        assert!(
            built.get("户7").is_none(),
            "every entry of 户7 was left out"
        );
        assert!(!built.contains_key("户99999"));
        // The keys spread over the shards.
        assert!(built.shards.iter().all(|s| !s.is_empty()));
    }

    #[test]
    fn places_are_found_by_the_keys_of_their_items() {
        // More places than a piece; keys repeated, the first place found
        // and every later one reported with it.
        let n = 2 * PIECE + 77;
        let items: Vec<String> = (0..n).map(|i| format!("户{}", i % (PIECE + 5))).collect();
        let repeats = std::sync::Mutex::new(Vec::new());
        let places = ShardedPlaces::build(
            n,
            |i| items[i].as_str(),
            |first, later| repeats.lock().unwrap().push((later, first)),
        );
        let mut expected: HashMap<&str, usize> = HashMap::new();
        let mut expected_repeats = Vec::new();
        for (i, k) in items.iter().enumerate() {
            let first = *expected.entry(k.as_str()).or_insert(i);
            if first != i {
                expected_repeats.push((i as u32, first as u32));
            }
        }
        assert_eq!(places.len(), expected.len());
        for (k, &i) in &expected {
            assert_eq!(places.get(k), Some(i), "{k}");
        }
        let mut repeats = repeats.into_inner().unwrap();
        repeats.sort_unstable();
        assert_eq!(repeats, expected_repeats);
        assert_eq!(places.get("户-1"), None);
        assert!(places.shards.iter().all(|s| !s.is_empty()));
        let none: Vec<String> = Vec::new();
        let empty = ShardedPlaces::build(0, |i| none[i].as_str(), |_, _| {});
        assert!(empty.is_empty());
        assert_eq!(empty.get("户0"), None);
        // Fewer places than a table looks ahead: every one is placed.
        let few: Vec<String> = (0..KEY_AHEAD / 2).map(|i| format!("户{i}")).collect();
        let some = ShardedPlaces::build(
            few.len(),
            |i| few[i].as_str(),
            |_, _| panic!("no key is repeated"),
        );
        assert_eq!(some.len(), few.len());
        for (i, k) in few.iter().enumerate() {
            assert_eq!(some.get(k), Some(i), "{k}");
        }
    }

    #[test]
    fn sets_and_empty_maps() {
        let set = ShardedSet::of(1000, |i| i as u64 * 3);
        assert_eq!(set.len(), 1000);
        assert!(set.contains_key(&999_u64));
        assert!(!set.contains_key(&1000_u64));
        let empty: ShardedSet<u64> = ShardedSet::of(0, |i| i as u64);
        assert!(empty.is_empty());
        assert!(!empty.contains_key(&0));
    }
}
