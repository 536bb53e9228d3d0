//! Helpers: a private temp directory per test, job files that point at
//! the fixtures, and readers for the CSV outputs.

use std::path::{Path, PathBuf};

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn rollmatch() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("rollmatch").expect("binary");
    c.env_remove("RUST_LOG");
    c
}

/// `rollmatch ARGS… JOB` must exit 0.
pub fn run_ok(job: &Path, args: &[&str]) {
    rollmatch().args(args).arg(job).assert().code(0);
}

/// `rollmatch gen` of `households` over 2018Q2–Q3 into `dir`.
pub fn generate(dir: &Path, households: usize, seed: u64, extra: &[&str]) {
    rollmatch()
        .args([
            "gen",
            "--households",
            &households.to_string(),
            "--quarters",
            "2",
            "--start",
            "2018Q2",
        ])
        .args(["--seed", &seed.to_string()])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .assert()
        .code(0);
}

/// A temp directory that lives as long as the test.
pub struct Space {
    pub dir: tempfile::TempDir,
}

impl Space {
    pub fn new() -> Space {
        Space {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A job over the given rolls with the fixtures' policy; `extra` is
    /// appended (more `[policy]` keys go in `policy_extra`).
    pub fn job(&self, dibao: &Path, poor: &Path, policy_extra: &str, extra: &str) -> PathBuf {
        let text = format!(
            r#"name = "t"
quarter = "2018Q3"
[inputs]
dibao = "{}"
poor = "{}"
[policy]
{policy_extra}
[policy.years.2018]
poverty_line = 3208
dibao_standard = {{ default = 3450, "410325" = 3600, "410327" = 3100 }}
[output]
dir = "{}"
state_dir = "{}"
{extra}
"#,
            dibao.display(),
            poor.display(),
            self.path("out/{quarter}").display(),
            self.path("state").display(),
        );
        self.write("job.toml", text)
    }

    /// The Luoyang job with output and state inside this space.
    pub fn luoyang_job(&self) -> PathBuf {
        let text = std::fs::read_to_string(repo("jobs/luoyang.toml")).unwrap();
        let fixtures = repo("fixtures/luoyang");
        let text = text
            .replace("../fixtures/luoyang", &fixtures.display().to_string())
            .replace(
                "../out/{name}/{quarter}",
                &self.path("out/{quarter}").display().to_string(),
            )
            .replace("../state/{name}", &self.path("state").display().to_string());
        self.write("luoyang.toml", text)
    }

    pub fn out(&self, quarter: &str) -> PathBuf {
        self.path(&format!("out/{quarter}"))
    }
}

/// A CSV output as header + rows (BOM stripped).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "{} has no BOM",
        path.display()
    );
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[3..]);
    let headers = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

/// Rows of a CSV output as maps from column to value.
pub fn read_records(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let (h, rows) = read_csv(path);
    rows.into_iter()
        .map(|r| h.iter().cloned().zip(r).collect())
        .collect()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every ID number of a roll file (column 身份证号 / id_number), normalized.
pub fn ids_in(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let (text, _) = rollmatch::ingest::decode(&bytes).unwrap();
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let h: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|s| s.trim().to_lowercase())
        .collect();
    let i = h
        .iter()
        .position(|c| c == "身份证号" || c == "id_number")
        .unwrap();
    r.records()
        .filter_map(|x| x.ok())
        .map(|x| rollmatch::identity::normalize_id_text(&x[i]).to_string())
        .filter(|s| s.len() == 18)
        .collect()
}
