//! The rolls' rows in state format 3 ([`crate::state_file`]): which
//! columns each roll saves, in what order, and how a row is made again.
//!
//! Every roll saves its members' columns first: line (`u32`), region code
//! (shared text), household number, name and ID number as given (text),
//! head of household (`u8`). Then the 低保 roll: category (shared text),
//! monthly benefit and income (cents, `i64`), enrolment date (days since
//! 1970-01-01, `i32`, [`NONE`] for none). The poor roll: household type
//! and status (`u8`, the position in the model's table), exit year
//! (`i32`, [`NONE`] for none), cause (shared text), annual income (cents),
//! labor and health (`u8` positions), schooling (shared text), medical
//! insurance, safe housing, safe water (`u8`, 0 or 1).

use std::ops::Range;

use crate::calendar::{Date, Quarter};
use crate::ingest::sink::Sink;
use crate::model::*;
use crate::money::Cents;
use crate::short_text::ShortText;
use crate::state_file::{BlockReader, BlockWriter, Damaged, Fixed, SharedColumn, Texts};

pub const DIBAO_SCHEMA: &str = "rollmatch state 3, dibao: line, region_code, household_id, name, id_number, is_head, category, monthly_benefit_cents, monthly_income_cents, enrolled_on";
pub const POOR_SCHEMA: &str = "rollmatch state 3, poor: line, region_code, household_id, name, id_number, is_head, household_type, status, exit_year, cause, annual_income_cents, labor, health, schooling, medical_insured, housing_safe, water_safe";

/// An `i32` column's "none".
pub const NONE: i32 = i32::MIN;

/// The members' columns of rows `range` of a roll, whose households are
/// `households`.
fn members<'a>(
    w: &mut BlockWriter,
    rows: impl ExactSizeIterator<Item = &'a Member> + Clone,
    households: &Households,
    range: Range<usize>,
) {
    w.u32s(rows.clone().map(|m| m.line()));
    w.shared(rows.clone().map(|m| Some(m.region.shared())));
    w.texts(range.map(|r| households.of_row(r).id.as_str()));
    // A packed name's text and a clean number's are rebuilt from their
    // words as they are written, once a row (`texts` makes one pass).
    w.texts(rows.clone().map(|m| m.name.text()));
    w.texts(rows.clone().map(|m| m.id.given()));
    w.u8s(rows.map(|m| u8::from(m.is_head())));
}

pub fn encode_dibao(roll: &DibaoRoll, range: Range<usize>, w: &mut BlockWriter) {
    let rows = &roll.rows[range.clone()];
    members(w, rows.iter().map(|r| &r.member), &roll.households, range);
    w.shared(rows.iter().map(|r| r.category));
    w.i64s(rows.iter().map(|r| r.monthly_benefit.get().0));
    w.i64s(rows.iter().map(|r| r.monthly_income.get().0));
    w.i32s(
        rows.iter()
            .map(|r| r.enrolled_on.day_number().unwrap_or(NONE)),
    );
}

pub fn encode_poor(roll: &PoorRoll, range: Range<usize>, w: &mut BlockWriter) {
    let rows = &roll.rows[range.clone()];
    members(w, rows.iter().map(|r| &r.member), &roll.households, range);
    w.u8s(
        rows.iter()
            .map(|r| code_of(&HouseholdType::ALL, r.household_type)),
    );
    w.u8s(rows.iter().map(|r| code_of(&Status::ALL, r.status)));
    w.i32s(rows.iter().map(|r| r.exit_year.get().unwrap_or(NONE)));
    w.shared(rows.iter().map(|r| r.cause));
    w.i64s(rows.iter().map(|r| r.annual_income.get().0));
    w.u8s(rows.iter().map(|r| code_of(&Labor::ALL, r.labor())));
    w.u8s(rows.iter().map(|r| code_of(&Health::ALL, r.health())));
    w.shared(rows.iter().map(|r| r.schooling));
    w.u8s(rows.iter().map(|r| u8::from(r.medical_insured())));
    w.u8s(rows.iter().map(|r| u8::from(r.housing_safe())));
    w.u8s(rows.iter().map(|r| u8::from(r.water_safe())));
}

fn enum_at<T: Copy>(
    codes: &[u8],
    i: usize,
    table: &[(T, &'static str, &'static str)],
) -> Result<T, Damaged> {
    let code = *codes.get(i).ok_or(Damaged)?;
    table
        .get(usize::from(code))
        .map(|(x, _, _)| *x)
        .ok_or(Damaged)
}

fn flag_at(bytes: &[u8], i: usize) -> Result<bool, Damaged> {
    match bytes.get(i) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(Damaged),
    }
}

fn optional(v: i32) -> Option<i32> {
    (v != NONE).then_some(v)
}

/// The members' columns of one block.
struct MemberColumns<'a> {
    line: Fixed<'a, 4>,
    region: SharedColumn<'a>,
    household: Texts<'a>,
    name: Texts<'a>,
    id: Texts<'a>,
    head: &'a [u8],
    /// ID validity is recomputed against Q's own end, as the run for Q
    /// did; it is not stored.
    quarter_end: Date,
}

impl<'a> MemberColumns<'a> {
    fn read(r: &mut BlockReader<'a>, q: Quarter) -> Result<Self, Damaged> {
        Ok(MemberColumns {
            line: r.u32s()?,
            region: r.shared()?,
            household: r.texts()?,
            name: r.texts()?,
            id: r.texts()?,
            head: r.u8s()?,
            quarter_end: q.last_day(),
        })
    }

    /// Row `i`'s person fields and household number.
    fn member(&self, i: usize) -> Result<(Member, ShortText), Damaged> {
        let member = Member {
            line_and_head: LineAndHead::new(u64::from(self.line.u32(i)?), flag_at(self.head, i)?),
            region: Region::from_shared(self.region.get(i)?.ok_or(Damaged)?),
            name: self.name.get(i)?.into(),
            id: PersonId::new(self.id.get(i)?.into(), self.quarter_end),
        };
        Ok((member, self.household.get(i)?.into()))
    }
}

/// A block's 低保 rows, each kept as `R` with its household number as it
/// is made (not made whole first and converted in a second vector).
pub fn decode_dibao<R: Kept<DibaoRow>>(
    r: &mut BlockReader,
    q: Quarter,
    sink: &mut Sink<R, R::Side>,
) -> Result<(), Damaged> {
    let members = MemberColumns::read(r, q)?;
    let category = r.shared()?;
    let benefit = r.i64s()?;
    let income = r.i64s()?;
    let enrolled = r.i32s()?;
    r.push_rows(sink, |i| {
        let (member, household_id) = members.member(i)?;
        let row = DibaoRow {
            member,
            category: category.get(i)?,
            monthly_benefit: Cents(benefit.i64(i)?).into(),
            monthly_income: Cents(income.i64(i)?).into(),
            enrolled_on: OptionalDate::from_day_number(optional(enrolled.i32(i)?)),
        };
        Ok(R::keep(row, household_id))
    })
}

/// A block's poor rows, each kept as `R` with its household number.
pub fn decode_poor<R: Kept<PoorRow>>(
    r: &mut BlockReader,
    q: Quarter,
    sink: &mut Sink<R, R::Side>,
) -> Result<(), Damaged> {
    let members = MemberColumns::read(r, q)?;
    let household_type = r.u8s()?;
    let status = r.u8s()?;
    let exit_year = r.i32s()?;
    let cause = r.shared()?;
    let income = r.i64s()?;
    let labor = r.u8s()?;
    let health = r.u8s()?;
    let schooling = r.shared()?;
    let insured = r.u8s()?;
    let housing = r.u8s()?;
    let water = r.u8s()?;
    r.push_rows(sink, |i| {
        let (member, household_id) = members.member(i)?;
        let row = PoorRow {
            member,
            household_type: enum_at(household_type, i, &HouseholdType::ALL)?,
            status: enum_at(status, i, &Status::ALL)?,
            exit_year: OptionalI32::new(optional(exit_year.i32(i)?)),
            cause: cause.get(i)?,
            annual_income: Cents(income.i64(i)?).into(),
            circumstances: Circumstances::new(
                enum_at(labor, i, &Labor::ALL)?,
                enum_at(health, i, &Health::ALL)?,
                flag_at(insured, i)?,
                flag_at(housing, i)?,
                flag_at(water, i)?,
            ),
            schooling: schooling.get(i)?,
        };
        Ok(R::keep(row, household_id))
    })
}
