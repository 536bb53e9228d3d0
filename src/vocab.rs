//! Short texts that many rows share: a 低保 category, a main cause of
//! poverty, a schooling status. Each distinct text is stored once for the
//! run; a row holds a 4-byte handle instead of a 24-byte string (every
//! poor row held two such strings: issue #7's memory budget).
//!
//! The table only grows: a text, once seen, stays until the process ends.
//! Its size is the number of distinct values, a dozen or so in a real
//! roll; a damaged column of all-distinct values costs about what storing
//! them in the rows would.

use std::cell::RefCell;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use rustc_hash::{FxBuildHasher, FxHashMap};

/// A text from the run's shared table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shared(NonZeroU32);

struct Table {
    index: std::collections::HashMap<&'static str, Shared, FxBuildHasher>,
    /// Handle k is `texts[k - 1]`.
    texts: Vec<&'static str>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    index: std::collections::HashMap::with_hasher(FxBuildHasher),
    texts: Vec::new(),
});

thread_local! {
    // Each thread's own copy of what it has looked up, so that a roll's
    // millions of lookups take no lock.
    static SEEN: RefCell<FxHashMap<&'static str, Shared>> = RefCell::default();
    static TEXTS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

fn table() -> std::sync::MutexGuard<'static, Table> {
    // The table is consistent after any panic (an insert is one push and
    // one map insert of a value already leaked), so a poisoned lock is
    // taken as it is.
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(text: &str) -> Shared {
        SEEN.with_borrow_mut(|seen| {
            if let Some(&handle) = seen.get(text) {
                return handle;
            }
            let (key, handle) = {
                let mut t = table();
                match t.index.get_key_value(text) {
                    Some((&key, &handle)) => (key, handle),
                    None => {
                        let key: &'static str = Box::leak(text.into());
                        t.texts.push(key);
                        // More than four billion distinct texts would not
                        // fit in memory before this could fail.
                        let handle = Shared(
                            u32::try_from(t.texts.len())
                                .ok()
                                .and_then(NonZeroU32::new)
                                .expect("fewer than 2^32 distinct texts"),
                        );
                        t.index.insert(key, handle);
                        (key, handle)
                    }
                }
            };
            seen.insert(key, handle);
            handle
        })
    }

    pub fn as_str(self) -> &'static str {
        let i = self.0.get() as usize - 1;
        TEXTS.with_borrow_mut(|texts| {
            if i >= texts.len() {
                texts.clone_from(&table().texts);
            }
            // Every handle was made by `new`, which pushed its text first.
            texts[i]
        })
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;

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
}
