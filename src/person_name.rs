//! A person's name as a roll row holds it: 8 bytes, where a [`ShortText`]
//! takes 16 (issue #7: the name was 16 of Q's 56 bytes a row, 37.9 M rows
//! a quarter at 10 M households).
//!
//! Nearly every name on a Chinese roll is two to four characters of the
//! CJK blocks, which fit 15 bits each: such a name is packed into the
//! word itself, four characters of 15 bits from the low end. Any other
//! name (longer, as many minority names are, or with a character outside
//! the packed set) is kept once for the run in the [`vocab`] table and
//! the word holds its handle under the top bit. A text that can be packed
//! always is, so two names are the same text exactly when their words are
//! equal.
//!
//! [`ShortText`]: crate::short_text::ShortText
//! [`vocab`]: crate::vocab

use std::fmt;

use crate::model::Word;
use crate::vocab::Shared;

/// A name (see the module).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Name(Word);

/// The characters a packed name can hold, as ranges of code points, each
/// numbered on from the one before; code 0 is no character.
const PACKED_RANGES: [(u32, u32); 4] = [
    // CJK Unified Ideographs: the characters of nearly every name.
    (0x4E00, 0x9FFF),
    // CJK Extension A: rarer characters of names.
    (0x3400, 0x4DBF),
    // Printable ASCII, as in a name written in Latin letters.
    (0x20, 0x7E),
    // The middle dot of transliterated names.
    (0xB7, 0xB7),
];
const BITS_PER_CHAR: u32 = 15;
const PACKED_CHARS: usize = 4;
const CHAR_MASK: u64 = (1 << BITS_PER_CHAR) - 1;
/// Set when the word holds a [`Shared`] handle rather than characters.
const KEPT_APART: u64 = 1 << 63;

/// A character's code in the packed set, 1 to 2^15 − 1.
fn code_of(c: char) -> Option<u64> {
    let mut first_code = 1u64;
    for (low, high) in PACKED_RANGES {
        let c = c as u32;
        if (low..=high).contains(&c) {
            return Some(first_code + u64::from(c - low));
        }
        first_code += u64::from(high - low + 1);
    }
    None
}

/// The character of a packed code (1 and up).
fn char_of(code: u64) -> char {
    let mut first_code = 1u64;
    for (low, high) in PACKED_RANGES {
        let count = u64::from(high - low + 1);
        if code < first_code + count {
            // Every range lies outside the surrogates, so the code point
            // is a character.
            return char::from_u32(low + (code - first_code) as u32).unwrap_or('\u{FFFD}');
        }
        first_code += count;
    }
    '\u{FFFD}'
}

/// `c` in UTF-8 at the start of `out` (room for three bytes, as every
/// packed character needs at most); its length. The ideographs of nearly
/// every name are three bytes, written without `encode_utf8`'s general
/// case: names were made for every flag row of three reports, and their
/// encoding was about 0.7 % of a run's instructions (issue #7).
#[inline]
fn put_utf8(c: char, out: &mut [u8]) -> usize {
    let point = c as u32;
    match (point, out) {
        (0x800..=0xFFFF, [first, second, third, ..]) => {
            *first = 0xE0 | (point >> 12) as u8;
            *second = 0x80 | ((point >> 6) & 0x3F) as u8;
            *third = 0x80 | (point & 0x3F) as u8;
            3
        }
        (_, out) => c.encode_utf8(out).len(),
    }
}

const _: () = {
    let mut codes = 0;
    let mut i = 0;
    while i < PACKED_RANGES.len() {
        codes += PACKED_RANGES[i].1 - PACKED_RANGES[i].0 + 1;
        i += 1;
    }
    // Every code, and code 0, fits its 15 bits, and four of them stay
    // below the top bit.
    assert!(codes < 1 << BITS_PER_CHAR);
    assert!(BITS_PER_CHAR as usize * PACKED_CHARS < 63);
};

impl Name {
    pub fn new(text: &str) -> Name {
        Name::packed(text)
            .unwrap_or_else(|| Name(Word::new(KEPT_APART | Shared::new(text).index() as u64)))
    }

    fn packed(text: &str) -> Option<Name> {
        let mut word = 0u64;
        for (i, c) in text.chars().enumerate() {
            if i == PACKED_CHARS {
                return None;
            }
            word |= code_of(c)? << (BITS_PER_CHAR * i as u32);
        }
        Some(Name(Word::new(word)))
    }

    /// The name's text: on the stack when packed.
    pub fn text(self) -> NameText {
        let mut word = self.0.get();
        if word & KEPT_APART != 0 {
            return NameText(NameRepr::Kept(
                Shared::from_index((word & !KEPT_APART) as u32).as_str(),
            ));
        }
        let mut bytes = [0u8; PACKED_CHARS * 3];
        let mut len = 0;
        while word != 0 {
            len += put_utf8(char_of(word & CHAR_MASK), &mut bytes[len..]);
            word >>= BITS_PER_CHAR;
        }
        NameText(NameRepr::Packed {
            bytes,
            len: len as u8,
        })
    }

    pub fn is_empty(self) -> bool {
        self.0.get() == 0
    }
}

/// A [`Name`]'s text, read as `&str`. Only [`Name::text`] makes one, so
/// its packed bytes are always whole characters.
pub struct NameText(NameRepr);

enum NameRepr {
    /// Up to four characters of at most three bytes each.
    Packed {
        bytes: [u8; PACKED_CHARS * 3],
        len: u8,
    },
    Kept(&'static str),
}

impl std::ops::Deref for NameText {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            NameRepr::Packed { bytes, len } => {
                let bytes = &bytes[..usize::from(*len)];
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: `Name::text`, the only maker of a `Packed`
                // (its fields are private to this module), wrote `bytes`
                // with `char::encode_utf8`, whole characters end to end,
                // and `len` ends the last of them. Checking them again on
                // every read was about 0.6 % of a run's instructions: a
                // name is read by each report writer and by the state
                // (issue #7).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            NameRepr::Kept(text) => text,
        }
    }
}

impl AsRef<str> for NameText {
    fn as_ref(&self) -> &str {
        self
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.text() == **other
    }
}

/// In the order of the texts, as strings are ordered.
impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        if self == other {
            return std::cmp::Ordering::Equal;
        }
        (*self.text()).cmp(&*other.text())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::{CHAR_MASK, Name, char_of, code_of, put_utf8};
    use proptest::prelude::*;

    /// Every packed character is written as `encode_utf8` writes it.
    #[test]
    fn every_packed_character_is_written_in_its_utf8() {
        // Code 0 is no character; a name's codes start at 1.
        for code in 1..=CHAR_MASK {
            let c = char_of(code);
            let mut out = [0u8; 3];
            let len = put_utf8(c, &mut out);
            assert_eq!(&out[..len], c.to_string().as_bytes(), "code {code}");
        }
    }

    #[test]
    fn names_read_back_as_written() {
        for text in [
            "",
            "张",
            "张三",
            "欧阳娜娜",
            "㐀丫",
            "龥鿿",
            "Li Si",
            "A·B",
            "买买提·艾力",
            "李\n四",
            "张 三",
            "𠀀",
            "ＡＢ",
            " 张三",
        ] {
            let name = Name::new(text);
            assert_eq!(&*name.text(), text);
            assert_eq!(name.to_string(), text);
            assert_eq!(name, Name::new(text));
            assert_eq!(name.is_empty(), text.is_empty());
        }
    }

    #[test]
    fn short_names_of_the_packed_characters_are_held_in_the_word() {
        // Held in the word: no handle, so the top bit is clear.
        for text in ["张三", "欧阳娜娜", "A·B ", "㐀"] {
            assert_eq!(Name::new(text).0.get() >> 63, 0, "{text}");
        }
        for text in ["买买提·艾力", "𠀀", "ＡＢ", "张\n"] {
            assert_eq!(Name::new(text).0.get() >> 63, 1, "{text}");
        }
        assert!(code_of('\u{4E00}') == Some(1));
        assert!(code_of('\u{9FFF}').is_some() && code_of('\u{A000}').is_none());
        assert!(code_of('\u{3400}').is_some() && code_of('\u{33FF}').is_none());
        assert_eq!(std::mem::size_of::<Name>(), 8);
        assert_eq!(std::mem::align_of::<Name>(), 4);
    }

    proptest! {
        #[test]
        fn any_text_reads_back_and_equal_texts_are_equal_names(text in "\\PC{0,6}", other in "[张三李四·a]{0,5}") {
            let name = Name::new(&text);
            prop_assert_eq!(&*name.text(), text.as_str());
            prop_assert_eq!(name == Name::new(&other), text == other);
            prop_assert_eq!(name.cmp(&Name::new(&other)), text.cmp(&other));
        }
    }
}
