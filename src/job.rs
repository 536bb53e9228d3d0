//! The job file (contract §7): a raw spec as written, then one resolved
//! [`Job`] with every default filled and every path absolute.
//!
//! Two stages, as in uv's settings: `RawJob` mirrors the TOML with every
//! field optional and unknown keys refused; [`Job::resolve`] checks it
//! once and the rest of the program never sees an `Option` default again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::calendar::Quarter;
use crate::error::{Error, Result};
use crate::money::Cents;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Option<String>,
    quarter: Option<String>,
    inputs: Option<RawInputs>,
    policy: Option<RawPolicy>,
    risk: Option<RawRisk>,
    output: Option<RawOutput>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawInputs {
    dibao: Option<String>,
    poor: Option<String>,
    deaths: Option<String>,
    public_employees: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    monitoring_multiplier: Option<f64>,
    income_drop_ratio: Option<f64>,
    benefit_change_ratio: Option<f64>,
    elderly_age: Option<i64>,
    max_reject_ratio: Option<f64>,
    max_shrink_ratio: Option<f64>,
    years: Option<BTreeMap<String, RawYear>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    poverty_line: Option<f64>,
    dibao_standard: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRisk {
    weights: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    dir: Option<String>,
    state_dir: Option<String>,
    mask_ids: Option<bool>,
    /// `"county"`: one workbook per county besides the whole one.
    split_by: Option<String>,
    /// Name of an environment variable holding the HMAC key for
    /// `person_token`; no variable named, no token column.
    person_token_key_env: Option<String>,
}

/// An input path with `{quarter}` still open, so Q-1's files can be found.
#[derive(Clone, Debug)]
pub struct PathTemplate {
    template: String,
    base: PathBuf,
    name: String,
}

impl PathTemplate {
    pub fn for_quarter(&self, quarter: Quarter) -> PathBuf {
        let text = self
            .template
            .replace("{quarter}", &quarter.to_string())
            .replace("{name}", &self.name);
        let path = Path::new(&text);
        lexical(&if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        })
    }

    /// Whether the path changes with the quarter (only then can Q-1's
    /// files be found from it).
    pub fn depends_on_quarter(&self) -> bool {
        self.template.contains("{quarter}")
    }
}

#[derive(Clone, Debug)]
pub struct Inputs {
    pub dibao: PathTemplate,
    pub poor: PathTemplate,
    pub deaths: Option<PathTemplate>,
    pub public_employees: Option<PathTemplate>,
}

/// Policy values of the run's year, money in cents.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Policy {
    pub monitoring_multiplier: f64,
    pub income_drop_ratio: f64,
    pub benefit_change_ratio: f64,
    pub elderly_age: i32,
    pub max_reject_ratio: f64,
    pub max_shrink_ratio: f64,
    pub year: i32,
    pub poverty_line: Cents,
    pub default_standard: Cents,
    /// Annual 低保 standard by six-digit county code.
    pub standards: BTreeMap<String, Cents>,
}

impl Policy {
    /// std(c): the annual 低保 standard of county `c`.
    pub fn standard(&self, county: &str) -> Cents {
        self.standards
            .get(county)
            .copied()
            .unwrap_or(self.default_standard)
    }

    /// The monitoring line: poverty line × multiplier, in cents (rounded).
    pub fn watch_line(&self) -> Cents {
        Cents((self.poverty_line.0 as f64 * self.monitoring_multiplier).round() as i64)
    }
}

/// Risk weights (contract §4), by flag code.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RiskWeights(pub BTreeMap<String, u32>);

impl RiskWeights {
    pub const SCORED: [(&'static str, u32); 7] = [
        ("unstable_exit", 30),
        ("income_drop", 25),
        ("illness_disability", 20),
        ("no_labor", 20),
        ("assurance_gap", 15),
        ("elderly_only", 10),
        ("relapse", 40),
    ];

    pub fn weight(&self, code: &str) -> Option<u32> {
        self.0.get(code).copied()
    }
}

#[derive(Clone, Debug)]
pub struct OutputSettings {
    pub dir: PathBuf,
    pub state_dir: PathBuf,
    pub mask_ids: bool,
    pub split_by_county: bool,
    pub person_token_key_env: Option<String>,
}

/// Command-line values that override the job file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub quarter: Option<Quarter>,
    pub out: Option<PathBuf>,
    pub no_mask: bool,
    pub allow_shrink: bool,
}

/// The resolved job: what the pipeline runs.
#[derive(Clone, Debug)]
pub struct Job {
    pub file: PathBuf,
    pub name: String,
    pub quarter: Quarter,
    pub inputs: Inputs,
    pub policy: Policy,
    pub weights: RiskWeights,
    pub output: OutputSettings,
    pub allow_shrink: bool,
}

impl Job {
    /// Read and resolve a job file.
    pub fn load(file: &Path, overrides: &Overrides) -> Result<Job> {
        let text = fs_err::read_to_string(file).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Usage(format!("{}: job file not found", file.display()))
            } else {
                Error::Usage(format!("{}: cannot read job file: {e}", file.display()))
            }
        })?;
        Job::from_toml(file, &text, overrides)
    }

    pub fn from_toml(file: &Path, text: &str, overrides: &Overrides) -> Result<Job> {
        let err =
            |key: &str, msg: String| Error::Usage(format!("{}: {key}: {msg}", file.display()));
        let raw: RawJob = toml::from_str(text).map_err(|e| {
            Error::Usage(format!("{}: {}", file.display(), one_line(&e.to_string())))
        })?;
        let base = file
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| file.parent().map(Path::to_path_buf).unwrap_or_default());

        let name = raw.name.ok_or_else(|| err("name", "is required".into()))?;
        if name.is_empty() || name.contains(['/', '\\']) || name.contains("..") {
            return Err(err(
                "name",
                "must be a plain non-empty word (it names directories)".into(),
            ));
        }
        let quarter = match (overrides.quarter, &raw.quarter) {
            (Some(q), _) => q,
            (None, Some(q)) => q.parse().map_err(|e| err("quarter", format!("{e}")))?,
            (None, None) => {
                return Err(err(
                    "quarter",
                    "no quarter in the job file and none given with --quarter".into(),
                ));
            }
        };

        let template = |t: String| PathTemplate {
            template: t,
            base: base.clone(),
            name: name.clone(),
        };
        let inputs = raw.inputs.unwrap_or_default();
        let inputs = Inputs {
            dibao: template(
                inputs
                    .dibao
                    .ok_or_else(|| err("inputs.dibao", "is required".into()))?,
            ),
            poor: template(
                inputs
                    .poor
                    .ok_or_else(|| err("inputs.poor", "is required".into()))?,
            ),
            deaths: inputs.deaths.map(template),
            public_employees: inputs.public_employees.map(template),
        };

        let policy = raw.policy.unwrap_or_default();
        let ratio = |key: &str, v: Option<f64>, default: f64| -> Result<f64> {
            let v = v.unwrap_or(default);
            if !(0.0..=1.0).contains(&v) {
                return Err(err(
                    &format!("policy.{key}"),
                    format!("must be between 0 and 1, found {v}"),
                ));
            }
            Ok(v)
        };
        let monitoring_multiplier = policy.monitoring_multiplier.unwrap_or(1.5);
        if !(1.0..=10.0).contains(&monitoring_multiplier) {
            return Err(err(
                "policy.monitoring_multiplier",
                format!("must be between 1 and 10, found {monitoring_multiplier}"),
            ));
        }
        let elderly_age = policy.elderly_age.unwrap_or(60);
        if !(0..=150).contains(&elderly_age) {
            return Err(err(
                "policy.elderly_age",
                format!("must be an age in years, found {elderly_age}"),
            ));
        }
        let year_key = quarter.year.to_string();
        let years = policy.years.unwrap_or_default();
        let year = years.get(&year_key).ok_or_else(|| {
            err(
                "policy.years",
                format!("no [policy.years.{year_key}] for quarter {quarter}: the year's poverty line and 低保 standards are needed"),
            )
        })?;
        let year_path = format!("policy.years.{year_key}");
        let poverty_line = year
            .poverty_line
            .ok_or_else(|| err(&format!("{year_path}.poverty_line"), "is required".into()))?;
        let standards_raw = year
            .dibao_standard
            .as_ref()
            .ok_or_else(|| err(&format!("{year_path}.dibao_standard"), "is required".into()))?;
        let money = |key: String, v: f64| -> Result<Cents> {
            if !v.is_finite() || v <= 0.0 {
                return Err(err(
                    &key,
                    format!("must be a positive amount in 元, found {v}"),
                ));
            }
            Ok(Cents::from_yuan(v))
        };
        let mut standards = BTreeMap::new();
        let mut default_standard = None;
        for (county, value) in standards_raw {
            let key = format!("{year_path}.dibao_standard.{county}");
            let cents = money(key.clone(), *value)?;
            if county == "default" {
                default_standard = Some(cents);
            } else if county.len() == 6 && county.bytes().all(|b| b.is_ascii_digit()) {
                standards.insert(county.clone(), cents);
            } else {
                return Err(err(
                    &key,
                    "keys are six-digit county codes or \"default\"".into(),
                ));
            }
        }
        let default_standard = default_standard.ok_or_else(|| {
            err(
                &format!("{year_path}.dibao_standard"),
                "needs a \"default\" for counties not listed".into(),
            )
        })?;

        let mut weights: BTreeMap<String, u32> = RiskWeights::SCORED
            .iter()
            .map(|(k, w)| (k.to_string(), *w))
            .collect();
        if let Some(given) = raw.risk.and_then(|r| r.weights) {
            for (code, w) in given {
                if !weights.contains_key(&code) {
                    let known: Vec<&str> = RiskWeights::SCORED.iter().map(|(k, _)| *k).collect();
                    return Err(err(
                        &format!("risk.weights.{code}"),
                        format!("not a scored flag; scored flags are {}", known.join(", ")),
                    ));
                }
                if w > 100 {
                    return Err(err(
                        &format!("risk.weights.{code}"),
                        format!("must be 0 to 100, found {w}"),
                    ));
                }
                weights.insert(code, w);
            }
        }

        let output = raw.output.unwrap_or_default();
        let dir_template = template(output.dir.unwrap_or_else(|| "out/{name}/{quarter}".into()));
        let state_template = template(output.state_dir.unwrap_or_else(|| "state/{name}".into()));
        let split_by_county = match output.split_by.as_deref() {
            None | Some("none") => false,
            Some("county") => true,
            Some(other) => {
                return Err(err(
                    "output.split_by",
                    format!("\"county\" or \"none\", found \"{other}\""),
                ));
            }
        };
        let output = OutputSettings {
            dir: overrides
                .out
                .clone()
                .unwrap_or_else(|| dir_template.for_quarter(quarter)),
            state_dir: state_template.for_quarter(quarter),
            mask_ids: output.mask_ids.unwrap_or(true) && !overrides.no_mask,
            split_by_county,
            person_token_key_env: output.person_token_key_env,
        };

        Ok(Job {
            file: file.to_path_buf(),
            name,
            quarter,
            inputs,
            policy: Policy {
                monitoring_multiplier,
                income_drop_ratio: ratio("income_drop_ratio", policy.income_drop_ratio, 0.30)?,
                benefit_change_ratio: ratio(
                    "benefit_change_ratio",
                    policy.benefit_change_ratio,
                    0.20,
                )?,
                elderly_age: elderly_age as i32,
                max_reject_ratio: ratio("max_reject_ratio", policy.max_reject_ratio, 0.01)?,
                max_shrink_ratio: ratio("max_shrink_ratio", policy.max_shrink_ratio, 0.5)?,
                year: quarter.year,
                poverty_line: money(format!("{year_path}.poverty_line"), poverty_line)?,
                default_standard,
                standards,
            },
            weights: RiskWeights(weights),
            output,
            allow_shrink: overrides.allow_shrink,
        })
    }
}

/// `a/b/../c` → `a/c`, without touching the filesystem (messages and
/// logs then show the path an operator would type).
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"
name = "luoyang"
quarter = "2018Q3"
[inputs]
dibao = "../fixtures/{quarter}/dibao.csv"
poor = "/abs/{name}/poor.csv"
[policy]
monitoring_multiplier = 1.5
[policy.years.2018]
poverty_line = 3208
dibao_standard = { default = 3450, "410325" = 3600.5 }
[risk.weights]
unstable_exit = 35
[output]
dir = "../out/{name}/{quarter}"
state_dir = "../state/{name}"
"#;

    fn load(text: &str, o: &Overrides) -> Result<Job> {
        Job::from_toml(Path::new("/jobs/j.toml"), text, o)
    }

    #[test]
    fn resolves_paths_policy_and_weights() {
        let job = load(JOB, &Overrides::default()).unwrap();
        assert_eq!(job.quarter.to_string(), "2018Q3");
        assert_eq!(
            job.inputs.dibao.for_quarter(job.quarter),
            PathBuf::from("/fixtures/2018Q3/dibao.csv")
        );
        assert_eq!(
            job.inputs.poor.for_quarter(job.quarter),
            PathBuf::from("/abs/luoyang/poor.csv")
        );
        assert_eq!(
            job.inputs.dibao.for_quarter(job.quarter.previous()),
            PathBuf::from("/fixtures/2018Q2/dibao.csv")
        );
        assert_eq!(job.policy.standard("410325"), Cents(360_050));
        assert_eq!(job.policy.standard("410322"), Cents(345_000));
        assert_eq!(job.policy.watch_line(), Cents(481_200));
        assert_eq!(job.weights.weight("unstable_exit"), Some(35));
        assert_eq!(job.weights.weight("relapse"), Some(40));
        assert!(job.output.mask_ids);
        assert_eq!(job.policy.max_shrink_ratio, 0.5);
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            quarter: Some("2018Q2".parse().unwrap()),
            out: Some(PathBuf::from("/tmp/x")),
            no_mask: true,
            allow_shrink: true,
        };
        let job = load(JOB, &o).unwrap();
        assert_eq!(job.quarter.to_string(), "2018Q2");
        assert_eq!(job.output.dir, PathBuf::from("/tmp/x"));
        assert!(!job.output.mask_ids);
    }

    #[test]
    fn a_year_without_policy_is_named() {
        let o = Overrides {
            quarter: Some("2019Q1".parse().unwrap()),
            ..Default::default()
        };
        let e = load(JOB, &o).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("2019"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = load(
            &JOB.replace("monitoring_multiplier", "monitoring_multiplyer"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("monitoring_multiplyer"), "{e}");
        let e = load(
            &JOB.replace("unstable_exit = 35", "unstable = 35"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("risk.weights.unstable"), "{e}");
    }

    #[test]
    fn standard_needs_a_default() {
        let e = load(&JOB.replace("default = 3450, ", ""), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("default"), "{e}");
    }
}
