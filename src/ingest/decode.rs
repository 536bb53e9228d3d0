//! Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, or
//! GB18030/GBK, detected automatically (contract §2).
//!
//! Decoding happens before CSV parsing: polars' reader and the csv crate
//! both assume UTF-8, and a GBK file read as UTF-8 loses every name.

use std::borrow::Cow;

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

/// Decode a whole file. Borrowed when it is already UTF-8 without BOM.
pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Encoding), DecodeError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let text = std::str::from_utf8(rest).map_err(|_| DecodeError::Unreadable)?;
        return Ok((Cow::Borrowed(text), Encoding::Utf8Bom));
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let (text, _, had_errors) = encoding_rs::UTF_16LE.decode(bytes);
        if had_errors {
            return Err(DecodeError::Unreadable);
        }
        return Ok((Cow::Owned(text.into_owned()), Encoding::Utf16));
    }
    if bytes.contains(&0) {
        return Err(DecodeError::Binary);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((Cow::Borrowed(text), Encoding::Utf8));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(DecodeError::Unreadable);
    }
    Ok((Cow::Owned(text.into_owned()), Encoding::Gb18030))
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
