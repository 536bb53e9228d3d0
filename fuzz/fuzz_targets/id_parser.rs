#![no_main]
//! Any text through the ID parser, name normalization and masking: no
//! panic, and a number reported valid must round-trip through its key.

use libfuzzer_sys::fuzz_target;
use rollmatch::calendar::Date;
use rollmatch::identity::{check_id, key_to_string, mask_id, normalize_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let end = Date { year: 2018, month: 9, day: 30 };
    let c = check_id(&text, end);
    if let Ok(v) = c.verdict {
        assert_eq!(key_to_string(v.key), c.normalized);
        assert!(v.birth <= end);
    }
    let _ = normalize_name(&text);
    let _ = mask_id(&text);
});
