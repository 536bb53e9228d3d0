//! The flags of a `gen` run against its planted truth: precision and
//! recall 1.0 for every flag, on two seeds, both quarters; and every
//! household's score recomputed from the truth with the contract's formula.

use std::collections::{BTreeMap, BTreeSet};

use crate::util::*;

type Key = Vec<String>;

/// A flag row's contract key (its unit).
fn key(r: &BTreeMap<String, String>) -> Key {
    let g = |c: &str| r.get(c).cloned().unwrap_or_default();
    match r["flag"].as_str() {
        "member_mismatch" | "id_conflict" | "household_changed" => {
            vec![g("dibao_household_id"), g("poor_household_id")]
        }
        "invalid_id" => vec![
            g("dibao_household_id"),
            g("poor_household_id"),
            g("person_id"),
        ],
        "standard_below_line" => vec![g("county_code")],
        "deceased_enrolled" => vec![
            g("person_id"),
            (if g("dibao_household_id").is_empty() {
                "poor"
            } else {
                "dibao"
            })
            .into(),
        ],
        "should_support"
        | "dibao_entry"
        | "dibao_exit"
        | "benefit_changed"
        | "exit_while_eligible"
        | "edge_poverty" => {
            vec![g("dibao_household_id")]
        }
        "name_conflict" | "region_mismatch" | "duplicate_enrollment" | "public_employee" => {
            vec![g("person_id")]
        }
        _ => vec![g("poor_household_id")],
    }
}

fn by_flag(rows: &[BTreeMap<String, String>], quarter: &str) -> BTreeMap<String, BTreeSet<Key>> {
    let mut out: BTreeMap<String, BTreeSet<Key>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["quarter"] == quarter) {
        out.entry(r["flag"].clone()).or_default().insert(key(r));
    }
    out
}

fn read_truth(path: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|x| {
            h.iter()
                .cloned()
                .zip(x.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn check_seed(seed: u64) {
    check_world(seed, &[]);
}

/// Generate 1,500 households with `gen_args`, run both quarters, and hold
/// the flags and scores to the generator's truth.
fn check_world(seed: u64, gen_args: &[&str]) {
    let space = Space::new();
    let data = space.path("gen");
    generate(&data, 1500, seed, gen_args);
    let truth = read_truth(&data.join("truth.csv"));
    let job = data.join("job.toml");
    let mut table = String::new();
    let mut failures = Vec::new();
    for quarter in ["2018Q2", "2018Q3"] {
        let out = space.path(&format!("out-{quarter}"));
        rollmatch()
            .args(["run", "--quiet", "--no-mask", "--quarter", quarter, "--out"])
            .arg(&out)
            .arg(&job)
            .assert()
            .code(0);
        let flags = read_records(&out.join("flags.csv"));
        let got = by_flag(&flags, quarter);
        let want = by_flag(&truth, quarter);
        let codes: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
        for code in codes {
            let empty = BTreeSet::new();
            let (g, w) = (
                got.get(code).unwrap_or(&empty),
                want.get(code).unwrap_or(&empty),
            );
            let tp = g.intersection(w).count();
            let precision = if g.is_empty() {
                1.0
            } else {
                tp as f64 / g.len() as f64
            };
            let recall = if w.is_empty() {
                1.0
            } else {
                tp as f64 / w.len() as f64
            };
            table.push_str(&format!(
                "{quarter} {code:22} truth {:5} found {:5} P {precision:.3} R {recall:.3}\n",
                w.len(),
                g.len()
            ));
            if precision < 1.0 || recall < 1.0 {
                failures.push(format!(
                    "{quarter} {code}: extra {:?} missing {:?}",
                    g.difference(w).take(3).collect::<Vec<_>>(),
                    w.difference(g).take(3).collect::<Vec<_>>()
                ));
            }
        }
        // Scores: every household's score from the truth's flags.
        let weights: BTreeMap<&str, u32> = rollmatch::job::RiskWeights::SCORED
            .iter()
            .copied()
            .collect();
        let mut expected: BTreeMap<String, u32> = BTreeMap::new();
        for t in truth.iter().filter(|t| t["quarter"] == quarter) {
            if let Some(w) = weights.get(t["flag"].as_str()) {
                *expected.entry(t["poor_household_id"].clone()).or_default() += w;
            }
        }
        for h in read_records(&out.join("households.csv")) {
            let score = expected
                .get(&h["poor_household_id"])
                .copied()
                .unwrap_or(0)
                .min(100);
            assert_eq!(
                h["score"],
                score.to_string(),
                "{quarter} {}",
                h["poor_household_id"]
            );
            let tier = if score >= 60 {
                "高"
            } else if score >= 30 {
                "中"
            } else {
                "低"
            };
            assert_eq!(h["tier"], tier);
        }
    }
    // Movements need Q-1: the truth has them for 2018Q3 only.
    assert!(
        truth
            .iter()
            .any(|t| t["quarter"] == "2018Q3" && t["flag"] == "relapse")
    );
    println!("seed {seed}\n{table}");
    assert!(
        failures.is_empty(),
        "seed {seed}:\n{}\n{table}",
        failures.join("\n")
    );
}

#[test]
fn gen_truth_seed_1() {
    check_seed(1);
}

#[test]
fn gen_truth_seed_2() {
    check_seed(2);
}

/// The benchmark's national world: villages in every county of China.
#[test]
fn gen_truth_china() {
    check_world(3, &["--geography", "china"]);
}

#[test]
fn gen_is_deterministic() {
    let space = Space::new();
    for d in ["a", "b"] {
        rollmatch()
            .args([
                "gen",
                "--households",
                "300",
                "--quarters",
                "2",
                "--seed",
                "9",
                "--out",
            ])
            .arg(space.path(d))
            .assert()
            .code(0);
    }
    for f in [
        "truth.csv",
        "2018Q3/dibao.csv",
        "2018Q3/poor.csv",
        "2018Q2/deaths.csv",
    ] {
        assert_eq!(
            std::fs::read(space.path("a").join(f)).unwrap(),
            std::fs::read(space.path("b").join(f)).unwrap(),
            "{f}"
        );
    }
}
