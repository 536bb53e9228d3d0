//! Flag details, each distinct sentence stored once for the run.
//!
//! A run raises about 1.2 flags a household (12.4 M at 10 M households),
//! each with a sentence of about 70 bytes, and holds them from the flag
//! stage to the end of the run. A sentence on the heap for each flag was
//! about 0.9 GB there, but few are distinct: 197 k of 1.24 M at 1 M
//! households ("3 名成员上季度均不在低保名册" and its like recur). Each
//! distinct sentence is stored once, and a flag holds a 4-byte handle, in
//! its padding (issue #7).
//!
//! Like the shared texts of [`crate::vocab`], the table only grows: a
//! sentence, once seen, stays until the process ends. Sentences are made
//! on every core at once, so the index is cut into shards, each behind
//! its own lock, and the sentences are read by handle without a lock.

use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use rustc_hash::FxBuildHasher;

use crate::vocab::TextSlots;

/// A flag's detail sentence: a handle into the run's table of sentences,
/// `None` for the empty sentence.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Detail(Option<NonZeroU32>);

type Index = std::collections::HashMap<&'static str, NonZeroU32, FxBuildHasher>;

const SHARDS: usize = 64;

static INDEX: [Mutex<Index>; SHARDS] =
    [const { Mutex::new(Index::with_hasher(FxBuildHasher)) }; SHARDS];
static NEXT: AtomicU32 = AtomicU32::new(1);
static TEXTS: TextSlots = TextSlots::new();

impl Detail {
    pub fn new(text: &str) -> Detail {
        if text.is_empty() {
            return Detail(None);
        }
        // The shard from the hash's middle bits: the maps inside use its
        // low bits (the bucket) and its top seven (the control byte).
        let shard = (FxBuildHasher.hash_one(text) >> 32) as usize % SHARDS;
        // A shard is consistent after any panic (a sentence is leaked and
        // its slot set before it is indexed), so a poisoned lock is taken
        // as it is.
        let mut index = INDEX[shard].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&handle) = index.get(text) {
            return Detail(Some(handle));
        }
        // More than four billion distinct sentences would not fit in
        // memory before this could fail.
        let handle = NonZeroU32::new(NEXT.fetch_add(1, Ordering::Relaxed))
            .filter(|h| h.get() < u32::MAX)
            .expect("fewer than 2^32 distinct detail sentences");
        let text = TEXTS.set(handle.get(), text);
        index.insert(text, handle);
        Detail(Some(handle))
    }

    pub fn as_str(self) -> &'static str {
        match self.0 {
            None => "",
            // Every handle was made by `new`, which filled its slot first.
            Some(handle) => TEXTS
                .get(handle.get())
                .expect("a handle is made by Detail::new, which fills its slot"),
        }
    }
}

/// Sentences are ordered as texts, as the flags' order asks.
impl Ord for Detail {
    fn cmp(&self, other: &Detail) -> std::cmp::Ordering {
        if self == other {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Detail {
    fn partial_cmp(&self, other: &Detail) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::Detail;

    #[test]
    fn a_sentence_is_one_handle_on_every_thread_and_reads_back() {
        let sentences: Vec<String> = (0..20_000)
            .map(|i| format!("人均纯收入 {} 元", i % 7000))
            .collect();
        let (a, b) = std::thread::scope(|scope| {
            let left = scope.spawn(|| sentences.iter().map(|s| Detail::new(s)).collect::<Vec<_>>());
            let right: Vec<Detail> = sentences.iter().rev().map(|s| Detail::new(s)).collect();
            (left.join().unwrap(), right)
        });
        for (i, s) in sentences.iter().enumerate() {
            assert_eq!(a[i].as_str(), s);
            assert_eq!(a[i], b[sentences.len() - 1 - i]);
        }
        // Equal sentences share a handle; different ones do not.
        assert_eq!(a[0], a[7000]);
        assert_ne!(a[0], a[1]);
        assert_eq!(Detail::new(""), Detail::default());
        assert_eq!(Detail::default().as_str(), "");
        assert_eq!(std::mem::size_of::<Detail>(), 4);
    }

    #[test]
    fn sentences_are_ordered_as_their_texts() {
        let texts = ["", "乙", "甲", "人均纯收入 10 元", "人均纯收入 9 元"];
        for x in texts {
            for y in texts {
                assert_eq!(Detail::new(x).cmp(&Detail::new(y)), x.cmp(y), "{x} {y}");
            }
        }
    }
}
