//! `flags`, `households` and `rejects` as rows of text: the one rendering
//! that both the CSV and the Parquet writers use, so they cannot differ.

use crate::columns::{FLAG_COLUMNS, HOUSEHOLD_COLUMNS, PERSON_TOKEN, REJECT_COLUMNS};
use crate::flags::Flag;
use crate::identity::mask_id;
use crate::ingest::Reject;
use crate::scoring::HouseholdRow;

/// A table of text cells with its header.
pub struct TextTable {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// How person IDs are written: masked or whole, with an optional keyed
/// pseudonym.
pub struct IdPolicy {
    pub mask: bool,
    pub token_key: Option<Vec<u8>>,
}

impl IdPolicy {
    pub fn shown(&self, id: &str) -> String {
        if self.mask {
            mask_id(id)
        } else {
            id.to_owned()
        }
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
        .iter()
        .map(|f| {
            let mut row = vec![
                quarter.to_owned(),
                f.def.code.to_owned(),
                f.def.label.to_owned(),
                f.def.kind.code().to_owned(),
                f.def.severity.code().to_owned(),
                f.county_code.clone(),
                f.township_code.clone(),
                f.village_code.clone(),
                f.dibao_household_id.clone(),
                f.poor_household_id.clone(),
                ids.shown(&f.person_id),
                f.name.clone(),
                f.detail.clone(),
            ];
            if let Some(t) = ids.token(&f.person_id) {
                row.push(t);
            }
            row
        })
        .collect();
    TextTable { columns, rows }
}

pub fn household_table(quarter: &str, households: &[HouseholdRow]) -> TextTable {
    let rows = households
        .iter()
        .map(|h| {
            vec![
                quarter.to_owned(),
                h.poor_household_id.clone(),
                h.county_code.clone(),
                h.township_code.clone(),
                h.village_code.clone(),
                h.status.to_owned(),
                h.household_type.to_owned(),
                h.members.to_string(),
                h.annual_income.to_string(),
                h.dibao_household_ids.clone(),
                h.flags.clone(),
                h.score.to_string(),
                h.tier.to_owned(),
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
                r.file.clone(),
                r.line.to_string(),
                r.column.clone(),
                r.reason.clone(),
                r.record(mask),
            ]
        })
        .collect();
    TextTable {
        columns: REJECT_COLUMNS.to_vec(),
        rows,
    }
}
