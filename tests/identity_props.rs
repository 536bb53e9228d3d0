//! Property tests of the ID parser (contract §3).

use proptest::prelude::*;
use rollmatch::calendar::Date;
use rollmatch::identity::{
    TypoKind, check_char, check_id, is_valid_normal_form, key_to_string, one_typo_apart,
};

const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

fn end() -> Date {
    Date::new(2018, 9, 30).unwrap()
}

prop_compose! {
    fn valid_id()(p in 0..PROVINCES.len(), rest in 0u32..10_000, year in 1900i32..2018, month in 1u32..=12, day in 1u32..=28, seq in 0u32..1000) -> String {
        let body = format!("{:02}{:04}{:04}{:02}{:02}{:03}", PROVINCES[p], rest, year, month, day, seq);
        let c = check_char(body.as_bytes());
        format!("{body}{}", char::from(c))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_generated_valid_id_round_trips(id in valid_id()) {
        let c = check_id(&id, end());
        prop_assert_eq!(&c.normalized, &id);
        let v = c.verdict.expect("valid");
        prop_assert_eq!(key_to_string(v.key), id.clone());
        // Lower-case x and padding change nothing.
        let c2 = check_id(&format!("  {} ", id.to_lowercase()), end());
        prop_assert_eq!(c2.verdict.map(|v| v.key).ok(), Some(v.key));
    }

    #[test]
    fn every_single_substitution_is_caught(id in valid_id()) {
        let b = id.as_bytes();
        for i in 0..18 {
            let alphabet: &[u8] = if i == 17 { b"0123456789X" } else { b"0123456789" };
            for &c in alphabet {
                if c == b[i] { continue; }
                let mut m = b.to_vec();
                m[i] = c;
                let s = String::from_utf8(m).unwrap();
                prop_assert!(check_id(&s, end()).verdict.is_err(), "{} accepted", s);
            }
        }
    }

    #[test]
    fn every_adjacent_swap_is_caught(id in valid_id()) {
        let b = id.as_bytes();
        for i in 0..17 {
            if b[i] == b[i + 1] { continue; }
            let mut m = b.to_vec();
            m.swap(i, i + 1);
            let s = String::from_utf8(m).unwrap();
            prop_assert!(check_id(&s, end()).verdict.is_err(), "{} accepted", s);
        }
    }

    #[test]
    fn no_string_makes_the_parser_panic(s in ".{0,40}") {
        let _ = check_id(&s, end());
        let _ = rollmatch::identity::normalize_name(&s);
        let _ = rollmatch::identity::mask_id(&s);
    }

    #[test]
    fn no_bytes_make_the_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = check_id(&s, end());
    }

    #[test]
    fn typo_distance_is_the_contracts_rule(
        a in "[0-9X]{1,8}",
        edits in proptest::collection::vec((0usize..8, "[0-9X]"), 0..4),
        swap in proptest::option::of(0usize..7),
    ) {
        let mut b = a.clone().into_bytes();
        for (i, c) in &edits {
            let i = i % b.len();
            b[i] = c.as_bytes()[0];
        }
        if let Some(i) = swap.filter(|&i| i + 1 < b.len()) {
            b.swap(i, i + 1);
        }
        let b = String::from_utf8(b).unwrap();
        // The rule stated plainly: the positions that differ.
        let diffs: Vec<usize> = (0..a.len()).filter(|&i| a.as_bytes()[i] != b.as_bytes()[i]).collect();
        let (x, y) = (a.as_bytes(), b.as_bytes());
        let expected = match diffs.as_slice() {
            [i] => Some(TypoKind::Substitution(*i)),
            [i, j] if *j == i + 1 && x[*i] == y[*j] && x[*j] == y[*i] => Some(TypoKind::AdjacentSwap(*i)),
            _ => None,
        };
        prop_assert_eq!(one_typo_apart(&a, &b), expected);
        // Lengths that differ are never one typo apart.
        prop_assert_eq!(one_typo_apart(&a, &format!("{b}0")), None);
    }

    #[test]
    fn the_fast_path_is_check_ids_valid_normal_form(
        id in valid_id(),
        at in 0usize..18,
        with in "[0-9Xx ]",
        whole in proptest::bool::ANY,
    ) {
        let mut cell = id.into_bytes();
        if !whole {
            cell[at] = with.as_bytes()[0];
        }
        let cell = String::from_utf8(cell).unwrap();
        let c = check_id(&cell, end());
        prop_assert_eq!(
            is_valid_normal_form(&cell, end()),
            c.verdict.is_ok() && c.normalized == cell
        );
    }
}
