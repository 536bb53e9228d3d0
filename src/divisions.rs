//! County names for the reports, from the historical code list embedded
//! in the binary: numbers keep the code of where and when they were
//! issued, so retired codes (410322 孟津县) must keep their names too.

use std::collections::HashMap;
use std::sync::OnceLock;

const HISTORY: &str = include_str!("../data/county_codes_history.csv");

fn names() -> &'static HashMap<&'static str, &'static str> {
    static NAMES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        HISTORY
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split(',');
                let code = f.next()?;
                // Names in order of use: the latest is the one people know.
                let name = f.next()?.rsplit('|').next()?;
                Some((code, name))
            })
            .collect()
    })
}

/// The latest name of a six-digit county code, if it was ever one.
pub fn county_name(code: &str) -> Option<&'static str> {
    names().get(code).copied()
}

/// `410322 孟津县`, or the code alone when the name is unknown.
pub fn county_label(code: &str) -> String {
    match county_name(code) {
        Some(name) => format!("{code} {name}"),
        None => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_and_renamed_codes_have_names() {
        assert_eq!(county_name("410322"), Some("孟津县"));
        assert_eq!(county_name("410381"), Some("偃师市"));
        assert_eq!(county_name("410311"), Some("洛龙区"));
        assert_eq!(county_name("999999"), None);
        assert_eq!(county_label("410325"), "410325 嵩县");
    }
}
