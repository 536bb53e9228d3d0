//! `flags`, `households` and `rejects` as rows of text: the one rendering
//! that both the CSV and the Parquet writers use, so they cannot differ.

use crate::columns::{FLAG_COLUMNS, HOUSEHOLD_COLUMNS, PERSON_TOKEN, REJECT_COLUMNS};
use crate::flags::Flag;
use crate::identity::mask_id;
use crate::ingest::Reject;
use crate::model::Text;
use crate::scoring::HouseholdRow;
use compact_str::ToCompactString;
use rayon::prelude::*;

/// A table of text cells with its header.
pub struct TextTable {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Text>>,
}

/// How person IDs are written: masked or whole, with an optional keyed
/// pseudonym.
pub struct IdPolicy {
    pub mask: bool,
    pub token_key: Option<Vec<u8>>,
}

impl IdPolicy {
    pub fn shown(&self, id: &str) -> Text {
        if self.mask { mask_id(id) } else { id.into() }
    }

    /// HMAC-SHA256 of the normalized number under the job's key, hex.
    pub fn token(&self, id: &str) -> Option<String> {
        use hmac::{Hmac, Mac};
        let key = self.token_key.as_ref()?;
        if id.is_empty() {
            return Some(String::new());
        }
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
        mac.update(crate::identity::normalize_id_text(id).as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

pub fn flag_table(quarter: &str, flags: &[Flag], ids: &IdPolicy) -> TextTable {
    let mut columns: Vec<&'static str> = FLAG_COLUMNS.to_vec();
    if ids.token_key.is_some() {
        columns.push(PERSON_TOKEN);
    }
    let rows = flags
        .par_iter()
        .map(|f| {
            let mut row = vec![
                quarter.into(),
                f.def.code.into(),
                f.def.label.into(),
                f.def.kind.code().into(),
                f.def.severity.code().into(),
                f.county_code.clone(),
                f.township_code.clone(),
                f.village_code.clone(),
                f.dibao_household_id.clone(),
                f.poor_household_id.clone(),
                ids.shown(&f.person_id),
                f.name.clone(),
                f.detail.as_str().into(),
            ];
            if let Some(t) = ids.token(&f.person_id) {
                row.push(t.into());
            }
            row
        })
        .collect();
    TextTable { columns, rows }
}

pub fn household_table(quarter: &str, households: &[HouseholdRow]) -> TextTable {
    let rows = households
        .par_iter()
        .map(|h| {
            vec![
                quarter.into(),
                h.poor_household_id.clone(),
                h.county_code.clone(),
                h.township_code.clone(),
                h.village_code.clone(),
                h.status.into(),
                h.household_type.into(),
                h.members.to_compact_string(),
                h.annual_income.to_compact_string(),
                h.dibao_household_ids.clone(),
                h.flags.clone(),
                h.score.to_compact_string(),
                h.tier.into(),
            ]
        })
        .collect();
    TextTable {
        columns: HOUSEHOLD_COLUMNS.to_vec(),
        rows,
    }
}

pub fn reject_table(rejects: &[Reject], mask: bool) -> TextTable {
    let rows = rejects
        .iter()
        .map(|r| {
            vec![
                r.file.as_str().into(),
                r.line.to_compact_string(),
                r.column.as_str().into(),
                r.reason.as_str().into(),
                r.record(mask).into(),
            ]
        })
        .collect();
    TextTable {
        columns: REJECT_COLUMNS.to_vec(),
        rows,
    }
}
