//! `summary.json`: the machine-readable figures of a run. Its schema is
//! documented in `docs/summary-schema.json`; `SCHEMA_VERSION` changes
//! whenever a field changes meaning or disappears.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::checks::CATALOG;
use crate::dynamics::RollState;
use crate::flags::{Kind, Severity};
use crate::job::Job;
use crate::pipeline::{Analysis, QuarterInputs};

pub const SCHEMA_VERSION: u32 = 1;

pub fn summary(job: &Job, inputs: &QuarterInputs, analysis: &Analysis) -> Value {
    let mut by_flag: BTreeMap<&str, u64> = CATALOG.iter().map(|d| (d.code, 0)).collect();
    let mut by_county: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, u64> = Kind::ALL.iter().map(|k| (k.code(), 0)).collect();
    let mut by_severity: BTreeMap<&str, u64> =
        Severity::ALL.iter().map(|s| (s.code(), 0)).collect();
    // Flags are counted by runs of one flag in one county, which the
    // flags' order (severity, flag, county) makes long: five map updates
    // per flag, on one thread before the report files start, were about
    // 1 % of a run's instructions (issue #7). Any order counts the same.
    let mut count = |f: &crate::flags::Flag, n: u64| {
        *by_flag.entry(f.def.code).or_default() += n;
        *by_county
            .entry(f.region.county())
            .or_default()
            .entry(f.def.code)
            .or_default() += n;
        *by_kind.entry(f.def.kind.code()).or_default() += n;
        *by_severity.entry(f.def.severity.code()).or_default() += n;
    };
    let same_run = |a: &crate::flags::Flag, b: &crate::flags::Flag| {
        a.def.code == b.def.code && a.region.county() == b.region.county()
    };
    for run in analysis.flags.chunk_by(same_run) {
        count(&run[0], run.len() as u64);
    }
    let inputs_json: BTreeMap<&str, Value> = inputs
        .stats
        .iter()
        .map(|s| {
            (
                s.input.as_str(),
                json!({
                    "path": s.path.display().to_string(),
                    "format": s.format,
                    "encoding": s.encoding,
                    "rows_read": s.rows_read,
                    "rows_used": s.rows_used,
                    "rows_rejected": s.rows_rejected,
                    "reject_reasons": s.reject_reasons,
                    "optional_unparsed": s.optional_unparsed,
                    "invalid_ids": s.invalid_ids,
                }),
            )
        })
        .collect();
    // Counted in arrays, then named: a bucket's name was made per household.
    let tier_names = crate::scoring::TIERS;
    let mut tier_counts = [0u64; 3];
    let mut bucket_counts = [0u64; 10];
    for h in &analysis.households.rows {
        if let Some(t) = tier_names.iter().position(|&n| n == h.tier()) {
            tier_counts[t] += 1;
        }
        bucket_counts[(h.score.min(99) / 10) as usize] += 1;
    }
    let tiers: BTreeMap<&str, u64> = tier_names.into_iter().zip(tier_counts).collect();
    let histogram: BTreeMap<String, u64> = (0..10)
        .map(|b| (bucket(b * 10), bucket_counts[b as usize]))
        .collect();
    let movement_codes = [
        "dibao_entry",
        "dibao_exit",
        "poor_entry",
        "poor_removed",
        "poverty_exit",
        "relapse",
        "household_changed",
        "benefit_changed",
        "exit_while_eligible",
        "income_drop",
    ];
    let mut out = json!({
        "schema_version": SCHEMA_VERSION,
        "program": { "name": "rollmatch", "version": env!("CARGO_PKG_VERSION") },
        "job": job.name,
        "quarter": job.quarter.to_string(),
        "previous_quarter": job.quarter.previous().to_string(),
        "parameters": parameters(job),
        "inputs": inputs_json,
        "rolls": {
            "dibao": { "households": inputs.dibao.households.len(), "persons": inputs.dibao.rows.len() },
            "poor": { "households": inputs.poor.households.len(), "persons": inputs.poor.rows.len() },
        },
        "matches": {
            "exact": analysis.exact_persons,
            "probable": analysis.probable_pairs,
            "excel_recovered": analysis.excel_recovered,
            "linked_household_pairs": analysis.linked_household_pairs,
        },
        "flags": {
            "total": analysis.flags.len(),
            "by_flag": by_flag,
            "by_kind": by_kind,
            "by_severity": by_severity,
            "by_county": by_county,
        },
        "risk": { "households": analysis.households.rows.len(), "tiers": tiers, "score_histogram": histogram },
        "rejects": inputs.rejects.len(),
    });
    match &analysis.movements {
        Ok(m) => {
            let counts: BTreeMap<&str, u64> =
                movement_codes.iter().map(|c| (*c, by_flag[c])).collect();
            let mut total: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
            let mut counties: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, u64>>> = BTreeMap::new();
            for (county, table) in &m.transitions {
                for ((from, to), n) in table {
                    *total
                        .entry(from.code())
                        .or_default()
                        .entry(to.code())
                        .or_default() += n;
                    *counties
                        .entry(county.as_str())
                        .or_default()
                        .entry(from.code())
                        .or_default()
                        .entry(to.code())
                        .or_default() += n;
                }
            }
            out["movements"] = json!({
                "source": m.source,
                "counts": counts,
                "transitions": {
                    "unit": "person",
                    "states": RollState::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
                    "total": total,
                    "by_county": counties,
                },
            });
        }
        Err(reason) => {
            out["movements"] = json!("skipped");
            out["movements_skipped_reason"] = json!(reason);
        }
    }
    out
}

fn bucket(low: u32) -> String {
    if low >= 90 {
        "90-100".into()
    } else {
        format!("{low:02}-{:02}", low + 9)
    }
}

fn parameters(job: &Job) -> Value {
    let p = &job.policy;
    json!({
        "year": p.year,
        "poverty_line": p.poverty_line.yuan(),
        "monitoring_line": p.watch_line().yuan(),
        "dibao_standard_default": p.default_standard.yuan(),
        "dibao_standard": p.standards.iter().map(|(k, v)| (k.clone(), v.yuan())).collect::<BTreeMap<_, _>>(),
        "monitoring_multiplier": p.monitoring_multiplier,
        "income_drop_ratio": p.income_drop_ratio,
        "benefit_change_ratio": p.benefit_change_ratio,
        "elderly_age": p.elderly_age,
        "max_reject_ratio": p.max_reject_ratio,
        "max_shrink_ratio": p.max_shrink_ratio,
        "risk_weights": job.weights.0,
        "mask_ids": job.output.mask_ids,
        "allow_shrink": job.allow_shrink,
    })
}
