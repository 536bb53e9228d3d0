//! A quarter of the world as the rolls record it: rows in file order,
//! household values repeated on every member row.

use crate::calendar::{Date, Quarter};
use crate::model::{Health, HouseholdType, Labor, Status, Text};

use super::world::{Person, World};

#[derive(Clone, Debug)]
pub struct GDibaoRow {
    pub region: Text,
    pub hh: Text,
    pub name: Text,
    pub id: Text,
    pub valid: bool,
    pub birth: Date,
    pub relation: &'static str,
    pub category: &'static str,
    pub benefit: i64,
    pub income: i64,
}

#[derive(Clone, Debug)]
pub struct GPoorRow {
    pub region: Text,
    pub hh: Text,
    pub name: Text,
    pub id: Text,
    pub valid: bool,
    pub birth: Date,
    pub relation: &'static str,
    pub household_type: HouseholdType,
    pub status: Status,
    pub exit_year: Option<i32>,
    pub cause: &'static str,
    pub income: i64,
    pub labor: Labor,
    pub health: Health,
    pub schooling: &'static str,
    pub insured: bool,
    pub housing_safe: bool,
    pub water_safe: bool,
}

pub struct GQuarter {
    pub quarter: Quarter,
    pub dibao: Vec<GDibaoRow>,
    pub poor: Vec<GPoorRow>,
    /// Planted typos: (number on the 低保 roll, number on the poor roll).
    pub typos: Vec<(Text, Text)>,
    pub deaths: Vec<(Text, Date)>,
    pub employees: Vec<Text>,
}

/// The whole quarter: every family's rows, and the registers sorted.
pub fn render(w: &World) -> GQuarter {
    let mut q = render_families(w, 0..w.families.len());
    q.deaths.extend(earlier_deaths(w));
    q.deaths.sort();
    q.employees.sort();
    q.employees.dedup();
    q
}

/// People who died and left the rolls before this quarter: the rest of
/// the death register, beside the families' own deaths.
pub fn earlier_deaths(w: &World) -> impl Iterator<Item = (Text, Date)> + '_ {
    let end = w.quarter.last_day();
    w.dead.iter().filter(move |(_, d)| *d <= end).cloned()
}

/// The rows of the families in `range`, in file order, and their own
/// deaths and public employees (unsorted; see [`render`]).
pub fn render_families(w: &World, range: std::ops::Range<usize>) -> GQuarter {
    let end = w.quarter.last_day();
    let mut dibao = Vec::new();
    let mut poor = Vec::new();
    let mut typos = Vec::new();
    let mut deaths: Vec<(Text, Date)> = Vec::new();
    let mut employees = Vec::new();
    for f in &w.families[range] {
        let village = &w.villages[f.village].code;
        for p in &f.members {
            if let Some(d) = p.death.filter(|d| *d <= end) {
                deaths.push((p.id.clone(), d));
            }
            if p.public_employee {
                employees.push(p.id.clone());
            }
        }
        if let Some(rec) = &f.poor {
            for p in &f.members {
                poor.push(GPoorRow {
                    region: village.as_str().into(),
                    hh: rec.hh_id.clone(),
                    name: p.name.clone(),
                    id: p.poor_id().clone(),
                    valid: *p.poor_id() == p.id,
                    birth: p.birth,
                    relation: p.relation,
                    household_type: rec.household_type,
                    status: rec.status,
                    exit_year: rec.exit_year,
                    cause: rec.cause,
                    income: rec.income,
                    labor: p.labor,
                    health: p.health,
                    schooling: p.schooling,
                    insured: p.insured,
                    housing_safe: rec.housing_safe,
                    water_safe: rec.water_safe,
                });
            }
        }
        if let Some(rec) = &f.dibao {
            let region = rec
                .region_override
                .map(|v| &w.villages[v].code)
                .unwrap_or(village);
            let listed = f
                .members
                .iter()
                .filter(|p| Some(p.uid) != rec.omitted)
                .chain(rec.extra.as_deref());
            for p in listed {
                dibao.push(dibao_row(p, region, rec));
                if f.poor.is_some()
                    && *p.dibao_id() != p.id
                    && rec.region_override.is_none()
                    && *p.poor_id() == p.id
                {
                    typos.push((p.dibao_id().clone(), p.poor_id().clone()));
                }
            }
        }
    }
    GQuarter {
        quarter: w.quarter,
        dibao,
        poor,
        typos,
        deaths,
        employees,
    }
}

fn dibao_row(p: &Person, region: &str, rec: &super::world::DibaoRec) -> GDibaoRow {
    GDibaoRow {
        region: region.into(),
        hh: rec.hh_id.clone(),
        name: p.dibao_name().clone(),
        id: p.dibao_id().clone(),
        valid: *p.dibao_id() == p.id,
        birth: p.birth,
        relation: p.relation,
        category: rec.category,
        benefit: rec.benefit,
        income: rec.income,
    }
}
