//! A text of 16 bytes: up to 15 bytes inline, longer on the heap.
//!
//! Every roll row holds the person's name, and every household its
//! number (on every row too, until the late night of 2026-12-01). Both
//! are nearly always short (a name of two to four characters is 6 to 12
//! bytes of UTF-8; a household number is a dozen digits), and a
//! `CompactString` spent 24 bytes on each: at 10 M households, 76 M rows
//! of two quarters, 16 bytes fewer a row is 1.2 GB of peak memory
//! (issue #7).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// How many bytes an inline text holds. Its length byte takes the values
/// 0 to 15 only, so the heap variant's tag fits in the other values and
/// the whole type stays 16 bytes.
const INLINE: usize = 15;

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
enum Len { L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15 }

impl Len {
    const ALL: [Len; INLINE + 1] = [
        Len::L0,
        Len::L1,
        Len::L2,
        Len::L3,
        Len::L4,
        Len::L5,
        Len::L6,
        Len::L7,
        Len::L8,
        Len::L9,
        Len::L10,
        Len::L11,
        Len::L12,
        Len::L13,
        Len::L14,
        Len::L15,
    ];
}

#[derive(Clone)]
enum Repr {
    Inline {
        bytes: [u8; INLINE],
        len: Len,
    },
    /// A thin pointer (8 bytes), so that it leaves the length byte's
    /// place free for the tag.
    Heap(Box<Box<str>>),
}

/// A short owned text; reads as `&str`.
#[derive(Clone)]
pub struct ShortText(Repr);

impl ShortText {
    pub fn new(text: &str) -> ShortText {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            ShortText(Repr::Inline {
                bytes,
                len: Len::ALL[text.len()],
            })
        } else {
            ShortText(Repr::Heap(Box::new(text.into())))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { bytes, len } => {
                let bytes = &bytes[..*len as usize];
                // SAFETY: an inline text is only made by `new`, from the
                // bytes of a `str`, all of them: valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Heap(text) => text,
        }
    }
}

impl Default for ShortText {
    fn default() -> ShortText {
        ShortText::new("")
    }
}

impl Deref for ShortText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortText {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ShortText {
    fn from(text: &str) -> ShortText {
        ShortText::new(text)
    }
}

impl PartialEq for ShortText {
    fn eq(&self, other: &ShortText) -> bool {
        match (&self.0, &other.0) {
            // Inline texts are zero past their length (see `new`): equal
            // texts are equal arrays, compared without a call of `memcmp`
            // (household numbers of consecutive rows are compared for
            // every row read; issue #7).
            (Repr::Inline { bytes: a, len: m }, Repr::Inline { bytes: b, len: n }) => {
                m == n && a == b
            }
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for ShortText {}

impl PartialEq<str> for ShortText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ShortText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for ShortText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for ShortText {
    fn partial_cmp(&self, other: &ShortText) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortText {
    fn cmp(&self, other: &ShortText) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

/// A text that is nearly always empty, in 8 bytes: the text, when there is
/// one, on the heap. A flag's person number is one: a few flags in a
/// hundred name a person by number, and a `Text` of 24 bytes in each of
/// 12 M flags (10 M households) was held from the flag stage to the end
/// of the run (issue #7).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SparseText(Option<Box<Box<str>>>);

impl SparseText {
    pub fn new(text: &str) -> SparseText {
        SparseText((!text.is_empty()).then(|| Box::new(text.into())))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_deref().map_or("", |text| text)
    }
}

impl Deref for SparseText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SparseText {
    fn from(text: &str) -> SparseText {
        SparseText::new(text)
    }
}

impl fmt::Debug for SparseText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::{ShortText, SparseText};

    /// Equality of inline texts (compared as arrays) and of texts on the
    /// heap agrees with their texts'.
    #[test]
    fn short_texts_are_equal_exactly_when_their_texts_are() {
        let texts = [
            "",
            "a",
            "a\0",
            "P1000727394061",
            "P10007273940610",
            "P100072739406100",
            "户编号一二三四五",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(
                    ShortText::new(a) == ShortText::new(b),
                    a == b,
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn a_sparse_text_is_eight_bytes_and_reads_back_what_it_was_given() {
        assert_eq!(std::mem::size_of::<SparseText>(), 8);
        let texts = ["", "a", "410322194703229694", "41032219470322969X"];
        for text in texts {
            assert_eq!(SparseText::new(text).as_str(), text);
            assert_eq!(format!("{:?}", SparseText::new(text)), format!("{text:?}"));
        }
        // Ordered as their texts: the empty text (no box) first.
        for a in texts {
            for b in texts {
                assert_eq!(SparseText::new(a).cmp(&SparseText::new(b)), a.cmp(b));
            }
        }
    }

    #[test]
    fn sixteen_bytes_whatever_it_holds() {
        assert_eq!(std::mem::size_of::<ShortText>(), 16);
        assert_eq!(std::mem::size_of::<Option<ShortText>>(), 16);
    }

    #[test]
    fn reads_back_what_it_was_given_at_every_length() {
        let texts = [
            "",
            "a",
            "张三",
            "欧阳娜娜",
            "123456789012345",
            "1234567890123456",
            "阿卜杜热合曼·买买提",
            "D42949672970",
        ];
        for text in texts {
            let short = ShortText::new(text);
            assert_eq!(short.as_str(), text);
            assert_eq!(short.clone(), short);
            assert_eq!(format!("{short:?}"), format!("{text:?}"));
            assert_eq!(short.to_string(), text);
        }
        for a in texts {
            for b in texts {
                assert_eq!(ShortText::new(a).cmp(&ShortText::new(b)), a.cmp(b));
            }
        }
    }
}
