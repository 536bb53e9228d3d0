//! Short texts that many rows share: a 低保 category, a main cause of
//! poverty, a schooling status. Each distinct text is stored once for the
//! run; a row holds a 4-byte handle instead of a 24-byte string (every
//! poor row held two such strings: issue #7's memory budget).
//!
//! The table only grows: a text, once seen, stays until the process ends.
//! Its size is the number of distinct values, a dozen or so in a real
//! roll; a damaged column of all-distinct values costs about what storing
//! them in the rows would. Names that do not fit a [`Name`]'s word (long
//! names, rare characters) are kept here too, each distinct name once.
//!
//! [`Name`]: crate::person_name::Name

use std::cell::RefCell;
use std::num::NonZeroU32;
use std::sync::{Mutex, OnceLock, PoisonError};

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// A text from the run's shared table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shared(NonZeroU32);

struct Table {
    index: std::collections::HashMap<&'static str, Shared, FxBuildHasher>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    index: std::collections::HashMap::with_hasher(FxBuildHasher),
});

/// Texts by handle, readable without a lock: handle k is in chunk
/// `floor(log2 k)`, which holds the handles 2^c to 2^(c+1) − 1. Chunks are
/// made on first use and each slot is filled once, by whoever handed its
/// handle out; reading one is two atomic loads. (A thread-local copy of
/// the texts was 3 % of a 1 M household run: every county, township and
/// village code of every row and flag is read through it; issue #7.)
///
/// A text of at most [`INLINE`] bytes (every division code, category and
/// short name) is kept in its slot, so that reading it touches one place
/// in memory, not the slot and then the text: with a nation's 600,000
/// village codes, neither is in the cache when a flag or household row
/// asks for its place, and each was a cache miss (issue #7).
pub(crate) struct TextSlots([OnceLock<Chunk>; 32]);

type Chunk = &'static [OnceLock<SlotText>];

/// The longest text kept in its slot.
const INLINE: usize = 16;

/// A slot's text: in the slot when it fits, else in a leaked box.
#[derive(Clone, Copy)]
enum SlotText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Leaked(&'static str),
}

impl TextSlots {
    pub(crate) const fn new() -> TextSlots {
        TextSlots([const { OnceLock::new() }; 32])
    }

    fn chunk_and_slot(handle: u32) -> (usize, usize) {
        let chunk = handle.ilog2();
        (chunk as usize, (handle - (1 << chunk)) as usize)
    }

    /// Fill the slot of `handle` (not 0), handed out once, with `text`,
    /// and return the text as it is kept.
    pub(crate) fn set(&self, handle: u32, text: &str) -> &'static str {
        let (chunk, slot) = Self::chunk_and_slot(handle);
        let chunk: Chunk = self.0[chunk]
            .get_or_init(|| Box::leak((0..1usize << chunk).map(|_| OnceLock::new()).collect()));
        let kept = if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SlotText::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            SlotText::Leaked(Box::leak(text.into()))
        };
        let _ = chunk[slot].set(kept);
        // Set just now or before (a handle is handed out once): never empty.
        chunk[slot].get().map_or("", Self::text)
    }

    /// The text of `handle`, once its slot is filled.
    pub(crate) fn get(&self, handle: u32) -> Option<&'static str> {
        let (chunk, slot) = Self::chunk_and_slot(handle);
        self.0[chunk]
            .get()
            .and_then(|c| c[slot].get())
            .map(Self::text)
    }

    fn text(kept: &'static SlotText) -> &'static str {
        match kept {
            SlotText::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: `set` copies the whole of a `str` into the
                // slot, so its `len` bytes are that text's UTF-8.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            SlotText::Leaked(text) => text,
        }
    }
}

static TEXTS: TextSlots = TextSlots::new();

thread_local! {
    // Each thread's own copy of what it has looked up, so that a roll's
    // millions of lookups take no lock. Its texts are compared by their
    // leading words ([`Seen`]): through `str`'s `==` every hit was a call
    // of the C library's `memcmp`, and the lookups took 5 % of reading a
    // roll (issue #7). Not made `const` as clippy suggests: so made, its
    // accessor was no longer inlined into `Shared::new`, and a run at
    // 100 k households took 60 M instructions more (callgrind).
    #[allow(clippy::missing_const_for_thread_local)]
    static SEEN: RefCell<HashTable<Seen>> = RefCell::new(HashTable::new());
}

/// A thread's entry for a text it has looked up: the text's length and
/// first 16 bytes beside its handle, so that a lookup compares them
/// without reading the text. The text lies elsewhere in memory, and with
/// a nation's 600,000 village codes reading it was a second cache miss
/// on each row's place code (issue #7). A longer text is compared whole
/// once its first 16 bytes agree.
#[derive(Clone, Copy)]
struct Seen {
    /// The text's first 16 bytes ([`leading_bytes`]): with its length,
    /// the whole of a text of up to 16 bytes.
    leading: [u64; 2],
    /// The text's length; `u32::MAX` for a text of 4 GiB or more (one
    /// whose length it is not is compared whole).
    len: u32,
    handle: Shared,
}

impl Seen {
    fn is(&self, text: &str) -> bool {
        self.len as usize == text.len()
            && self.leading == leading_words(text)
            && (text.len() <= 16 || self.handle.as_str() == text)
    }
}

/// [`leading_bytes`] in two words, so that an entry of [`Seen`] stays at
/// 24 bytes (a `u128` field would align it to 32).
#[inline]
fn leading_words(text: &str) -> [u64; 2] {
    let leading = leading_bytes(text);
    [(leading >> 64) as u64, leading as u64]
}

fn hash_text(text: &str) -> u64 {
    FxBuildHasher.hash_one(text)
}

/// The first 16 bytes of `text` as a number that orders as the texts
/// do, shorter texts padded with zero bytes: texts whose numbers differ
/// are in the numbers' order, and texts whose numbers are equal share
/// their first 16 bytes (or one is the other padded with zero bytes) and
/// are compared whole. Sorts of many texts that lie all over memory (the
/// shared texts, a nation's 600,000 village codes) hold it beside each
/// text, so that a comparison seldom reads the texts (issue #7).
pub fn leading_bytes(text: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = text.len().min(16);
    bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

/// Whether two texts are the same, compared in place: texts of 4 to 16
/// bytes (codes, categories, names, the enumerations' values) as two
/// overlapping words each. `==` on `str` calls the C library's `memcmp`,
/// whose call costs more than the comparison of such texts.
#[inline]
pub fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| s[at..at + 8].try_into().ok().map(u64::from_ne_bytes);
    let half = |s: &[u8], at: usize| s[at..at + 4].try_into().ok().map(u32::from_ne_bytes);
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

fn table() -> std::sync::MutexGuard<'static, Table> {
    // The table is consistent after any panic (an insert is one slot set
    // and one map insert of a value already leaked), so a poisoned lock is
    // taken as it is.
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(text: &str) -> Shared {
        let hash = hash_text(text);
        SEEN.with_borrow_mut(|seen| {
            if let Some(seen) = seen.find(hash, |seen| seen.is(text)) {
                return seen.handle;
            }
            let handle = {
                let mut t = table();
                match t.index.get_key_value(text) {
                    Some((_, &handle)) => handle,
                    None => {
                        // More than four billion distinct texts would not
                        // fit in memory before this could fail.
                        let handle = u32::try_from(t.index.len() + 1)
                            .ok()
                            .and_then(NonZeroU32::new)
                            .expect("fewer than 2^32 distinct texts");
                        // The slot is new: the handles are handed out in
                        // order, under the lock.
                        let key = TEXTS.set(handle.get(), text);
                        let handle = Shared(handle);
                        t.index.insert(key, handle);
                        handle
                    }
                }
            };
            let entry = Seen {
                leading: leading_words(text),
                len: u32::try_from(text.len()).unwrap_or(u32::MAX),
                handle,
            };
            seen.insert_unique(hash, entry, |seen| hash_text(seen.handle.as_str()));
            handle
        })
    }

    /// The handle as a number (1, 2, 3, … in the order texts were first
    /// shared), for tables indexed by handle.
    pub fn index(self) -> usize {
        self.0.get() as usize
    }

    /// The handle of [`Shared::index`]'s number, for a number it gave.
    pub fn from_index(index: u32) -> Shared {
        Shared(NonZeroU32::new(index).expect("a handle's number is at least 1"))
    }

    pub fn as_str(self) -> &'static str {
        // Every handle was made by `new`, which filled its slot first.
        TEXTS
            .get(self.0.get())
            .expect("a handle is made by Shared::new, which fills its slot")
    }
}

/// How many handles were made so far: the highest handle's number, as
/// handles are numbered 1, 2, 3, … ([`Shared::index`]).
pub fn made() -> usize {
    table().index.len()
}

/// Every handle made so far, in the order they were made.
pub fn all() -> impl Iterator<Item = Shared> {
    let made = u32::try_from(made()).unwrap_or(u32::MAX);
    (1..=made).filter_map(NonZeroU32::new).map(Shared)
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::{Shared, leading_bytes, same_text};
    use proptest::prelude::*;

    proptest! {
        /// Sorting by the leading bytes, then by the whole text, is
        /// sorting by the text: texts of digits, of NUL bytes and of
        /// Chinese, shorter and longer than 16 bytes.
        #[test]
        fn leading_bytes_order_as_the_texts(
            a in "[0-9\u{0}a\u{4e00}-\u{4e03}]{0,20}",
            b in "[0-9\u{0}a\u{4e00}-\u{4e03}]{0,20}",
        ) {
            let by_leading = leading_bytes(&a).cmp(&leading_bytes(&b)).then_with(|| a.cmp(&b));
            prop_assert_eq!(by_leading, a.cmp(&b));
        }
    }

    proptest! {
        /// `same_text` answers as `==` does, for texts of every length
        /// up to past 16 bytes, equal, alike and of one length.
        #[test]
        fn same_text_is_equality(
            a in "[ab0-9低保]{0,12}",
            b in "[ab0-9低保]{0,12}",
            flip in any::<prop::sample::Index>(),
        ) {
            prop_assert_eq!(same_text(&a, &b), a == b);
            prop_assert!(same_text(&a, &a.clone()));
            // One byte changed anywhere (an ASCII byte, to stay UTF-8).
            let mut bytes = a.clone().into_bytes();
            if !bytes.is_empty() {
                let at = flip.index(bytes.len());
                if bytes[at].is_ascii() {
                    bytes[at] ^= 1;
                    let changed = String::from_utf8(bytes).unwrap();
                    prop_assert!(!same_text(&a, &changed));
                }
            }
        }
    }

    #[test]
    fn the_same_text_is_one_handle_on_every_thread() {
        let here = Shared::new("因病");
        let there = std::thread::spawn(|| Shared::new("因病")).join().unwrap();
        assert_eq!(here, there);
        assert_ne!(here, Shared::new("因残"));
        let made_elsewhere = std::thread::spawn(|| Shared::new("缺技术")).join().unwrap();
        assert_eq!(made_elsewhere.as_str(), "缺技术");
        assert_eq!(here.as_str(), "因病");
        assert_eq!(Shared::new("").as_str(), "");
    }

    #[test]
    fn texts_across_many_chunks_read_back_from_any_thread() {
        let texts: Vec<String> = (0..5000).map(|i| format!("村{i}")).collect();
        let handles: Vec<Shared> = std::thread::scope(|scope| {
            let (a, b) = texts.split_at(2500);
            let first = scope.spawn(|| a.iter().map(|t| Shared::new(t)).collect::<Vec<_>>());
            let mut handles: Vec<Shared> = b.iter().map(|t| Shared::new(t)).collect();
            let mut all = first.join().unwrap();
            all.append(&mut handles);
            all
        });
        let read: Vec<&str> =
            std::thread::spawn(move || handles.iter().map(|h| h.as_str()).collect())
                .join()
                .unwrap();
        assert_eq!(read, texts);
        let all: Vec<&str> = super::all().map(|h| h.as_str()).collect();
        assert!(texts.iter().all(|t| all.contains(&t.as_str())));
    }

    proptest! {
        /// Texts kept in their slots (up to 16 bytes) and in the heap
        /// (longer) read back as given, and each thread's entries tell
        /// apart texts that share their first 16 bytes, that differ only
        /// in a trailing zero byte or only in their last byte.
        #[test]
        fn every_text_reads_back_and_keeps_its_own_handle(
            text in "[0-9a\u{0}\u{4e00}-\u{4e03}]{0,24}",
        ) {
            let handle = Shared::new(&text);
            prop_assert_eq!(handle.as_str(), text.as_str());
            prop_assert_eq!(Shared::new(&text), handle);
            let mut longer = text.clone();
            longer.push('\u{0}');
            prop_assert_ne!(Shared::new(&longer), handle);
            prop_assert_eq!(Shared::new(&longer).as_str(), longer.as_str());
            let mut other = text.clone();
            if other.pop().is_some() {
                other.push('b');
                prop_assert_ne!(Shared::new(&other), handle);
                prop_assert_eq!(Shared::new(&other).as_str(), other.as_str());
            }
            let elsewhere = {
                let text = text.clone();
                std::thread::spawn(move || Shared::new(&text)).join().unwrap()
            };
            prop_assert_eq!(elsewhere, handle);
        }
    }
}
