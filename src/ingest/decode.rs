//! Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, or
//! GB18030/GBK, detected automatically (contract §2).
//!
//! Decoding happens before CSV parsing: polars' reader and the csv crate
//! both assume UTF-8, and a GBK file read as UTF-8 loses every name.

use std::borrow::Cow;

use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16,
    Gb18030,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 (BOM)",
            Encoding::Utf16 => "UTF-16",
            Encoding::Gb18030 => "GB18030",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unreadable encoding: the file is neither UTF-8 nor GB18030/GBK text")]
    Unreadable,
    #[error("the file holds binary data (NUL bytes), not CSV text")]
    Binary,
}

/// Pieces of about this many bytes are validated or transcoded in
/// parallel (issue #7: the whole-file pass was sequential).
const PIECE_BYTES: usize = 8 << 20;

/// Decode a whole file. Borrowed when it is already UTF-8 without BOM.
pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Encoding), DecodeError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let text = utf8(rest, PIECE_BYTES).ok_or(DecodeError::Unreadable)?;
        return Ok((Cow::Borrowed(text), Encoding::Utf8Bom));
    }
    if is_utf16(bytes) {
        let (text, _, had_errors) = encoding_rs::UTF_16LE.decode(bytes);
        if had_errors {
            return Err(DecodeError::Unreadable);
        }
        return Ok((Cow::Owned(text.into_owned()), Encoding::Utf16));
    }
    if memchr::memchr(0, bytes).is_some() {
        return Err(DecodeError::Binary);
    }
    if let Some(text) = utf8(bytes, PIECE_BYTES) {
        return Ok((Cow::Borrowed(text), Encoding::Utf8));
    }
    Ok((Cow::Owned(gb18030(bytes, PIECE_BYTES)?), Encoding::Gb18030))
}

/// Whether a file starts with a UTF-16 byte order mark.
pub(super) fn is_utf16(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF")
}

/// `bytes` as text if they are UTF-8, checked in parallel pieces.
pub(super) fn utf8_text(bytes: &[u8]) -> Option<&str> {
    utf8(bytes, PIECE_BYTES)
}

/// `bytes` as UTF-8, validated in parallel pieces of about `piece` bytes.
fn utf8(bytes: &[u8], piece: usize) -> Option<&str> {
    // Each piece then validates on its own.
    let cuts = cuts(bytes.len(), piece, |at| {
        // Past continuation bytes, so that no character is split.
        at + bytes[at..]
            .iter()
            .take_while(|&&b| b & 0xC0 == 0x80)
            .count()
    });
    let valid = cuts
        .par_windows(2)
        .all(|w| simdutf8::basic::from_utf8(&bytes[w[0]..w[1]]).is_ok());
    // SAFETY: every piece is valid UTF-8 and the pieces tile `bytes`; a
    // concatenation of valid UTF-8 strings is valid UTF-8.
    valid.then(|| unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// GB18030 `bytes` as UTF-8 text, decoded in parallel pieces.
pub(super) fn gb18030_text(bytes: &[u8]) -> Result<String, DecodeError> {
    gb18030(bytes, PIECE_BYTES)
}

/// GB18030 to UTF-8 in parallel pieces cut after line feeds: 0x0A is never
/// a byte of a multi-byte GB18030 character (lead bytes are 0x81–0xFE,
/// trail bytes 0x30–0x39 or 0x40–0xFE), so each piece decodes on its own.
fn gb18030(bytes: &[u8], piece: usize) -> Result<String, DecodeError> {
    let cuts = cuts(bytes.len(), piece, |at| {
        memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i + 1)
    });
    let pieces: Vec<Option<Cow<'_, str>>> = cuts
        .par_windows(2)
        .map(|w| {
            let (text, had_errors) =
                encoding_rs::GB18030.decode_without_bom_handling(&bytes[w[0]..w[1]]);
            (!had_errors).then_some(text)
        })
        .collect();
    let mut out = String::with_capacity(pieces.iter().flatten().map(|p| p.len()).sum());
    for p in pieces {
        out.push_str(&p.ok_or(DecodeError::Unreadable)?);
    }
    Ok(out)
}

/// 0, then a cut about every `piece` bytes of `len` (`settle` moves a
/// candidate forward to where a piece may start, at most to `len`), then
/// `len`.
fn cuts(len: usize, piece: usize, settle: impl Fn(usize) -> usize) -> Vec<usize> {
    let mut cuts = vec![0];
    let mut at = piece;
    while at < len {
        at = settle(at);
        cuts.push(at);
        at += piece;
    }
    cuts.push(len);
    cuts.dedup();
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_encoding() {
        let (t, e) = decode("姓名,身份证号\n".as_bytes()).unwrap();
        assert_eq!((t.as_ref(), e), ("姓名,身份证号\n", Encoding::Utf8));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice("姓名".as_bytes());
        assert_eq!(
            decode(&bom).unwrap(),
            (Cow::Borrowed("姓名"), Encoding::Utf8Bom)
        );
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名,张三");
        let (t, e) = decode(&gbk).unwrap();
        assert_eq!((t.as_ref(), e), ("姓名,张三", Encoding::Gb18030));
    }

    #[test]
    fn pieces_give_the_same_text_as_one_pass() {
        let text =
            "户编号,姓名,身份证号\n410322001,张三丰,41032219800101001X\n\"引号\n内\",李·四,x\n"
                .repeat(9);
        for piece in [1, 2, 3, 5, 7, 64, 1 << 20] {
            assert_eq!(utf8(text.as_bytes(), piece), Some(text.as_str()));
            let (gbk, _, _) = encoding_rs::GB18030.encode(&text);
            assert_eq!(gb18030(&gbk, piece).unwrap(), text, "piece {piece}");
        }
        // A broken character is found whichever piece it falls in.
        let mut bad = text.clone().into_bytes();
        let at = bad.len() - 5;
        bad[at] = 0xFF;
        for piece in [1, 3, 64] {
            assert_eq!(utf8(&bad, piece), None);
        }
        let (mut gbk, _, _) = encoding_rs::GB18030.encode(&text).clone();
        let gbk = gbk.to_mut();
        let at = gbk.len() - 3;
        gbk[at] = 0xFF;
        gbk[at + 1] = 0x0A;
        for piece in [1, 3, 64] {
            assert!(gb18030(gbk, piece).is_err());
        }
    }

    #[test]
    fn binary_and_broken_bytes_are_refused() {
        assert!(matches!(
            decode(b"PK\x03\x04\x00\x00"),
            Err(DecodeError::Binary)
        ));
        assert!(matches!(
            decode(b"\xEF\xBB\xBF\xFF\xFE\xFD"),
            Err(DecodeError::Unreadable)
        ));
        // 0x80 followed by a byte that cannot continue a GB18030 sequence.
        assert!(decode(b"abc\x81\x20").is_err());
    }
}
