//! `rollmatch gen`: deterministic synthetic rolls for tests and
//! benchmarks — N poor households (≈3 persons each) over K consecutive
//! quarters in real Luoyang villages, a 低保 roll about 40 % the size, the
//! two registers, a job file, and `truth.csv`, the flags the contract's
//! rules must raise on them.
//!
//! Layout: `OUT/job.toml`, `OUT/truth.csv`, `OUT/<quarter>/{dibao,poor,
//! deaths,public_employees}.csv` (and `.parquet` with `--parquet`, with
//! `OUT/job-parquet.toml`).

mod render;
pub mod rng;
mod truth;
mod world;

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tracing::info;

use crate::calendar::Quarter;
use crate::error::{Error, Result};
use crate::model::{Health, HouseholdType, Labor, Status, zh};
use crate::money::Cents;

pub use render::GQuarter;
pub use truth::{Expected, TruthPolicy};
pub use world::Geography;

pub struct GenSpec {
    pub out: PathBuf,
    pub households: usize,
    pub start: Quarter,
    pub quarters: usize,
    pub seed: u64,
    pub parquet: bool,
    /// Write the rolls as real exports vary: the 低保 roll in GB18030 with
    /// CRLF, the poor roll UTF-8 with BOM and English headers.
    pub mixed_exports: bool,
    /// Write `truth.csv`. Without it, each quarter is rendered and written
    /// a block of families at a time and never held whole, which is what
    /// lets a benchmark generate 10 M households.
    pub truth: bool,
    /// Where the families live.
    pub geography: world::Geography,
}

/// The policy figures every generated job uses.
pub fn policy() -> TruthPolicy {
    TruthPolicy {
        line: 320_800,
        default_std: 345_000,
        std: [
            ("410325".to_owned(), 360_000),
            ("410327".to_owned(), 310_000),
        ]
        .into_iter()
        .collect(),
        multiplier: 1.5,
        income_drop_ratio: 0.30,
        benefit_change_ratio: 0.20,
        elderly_age: 60,
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::output(path, e)
}

pub fn run(spec: &GenSpec) -> Result<()> {
    if spec.quarters == 0 || spec.households == 0 {
        return Err(Error::Usage(
            "gen needs at least one household and one quarter".into(),
        ));
    }
    crate::files::create_private_dir(&spec.out)?;
    let started = std::time::Instant::now();
    let mut world = world::World::new(spec.seed, spec.start, spec.geography);
    world.populate(spec.households);
    info!(
        families = world.families.len(),
        seconds = started.elapsed().as_secs_f64(),
        "world generated"
    );
    let pol = policy();
    let mut truth_rows: Vec<(Quarter, Expected)> = Vec::new();
    let mut previous: Option<GQuarter> = None;
    let mut last = spec.start;
    for k in 0..spec.quarters {
        if k > 0 {
            world.advance();
        }
        let dir = spec.out.join(world.quarter.to_string());
        crate::files::create_private_dir(&dir)?;
        last = world.quarter;
        if !spec.truth {
            stream_quarter(&dir, &world, spec, FAMILIES_PER_BLOCK)?;
            info!(quarter = %world.quarter, "quarter written");
            continue;
        }
        let q = render::render(&world);
        write_quarter(&dir, &q, spec)?;
        for e in truth::expected(&q, previous.as_ref(), &pol) {
            truth_rows.push((q.quarter, e));
        }
        info!(quarter = %q.quarter, dibao_rows = q.dibao.len(), poor_rows = q.poor.len(), "quarter written");
        previous = Some(q);
    }
    if spec.truth {
        write_truth(&spec.out.join("truth.csv"), &truth_rows)?;
    }
    write_job(&spec.out.join("job.toml"), spec, last, "csv")?;
    if spec.parquet {
        write_job(&spec.out.join("job-parquet.toml"), spec, last, "parquet")?;
    }
    info!(seconds = started.elapsed().as_secs_f64(), out = %spec.out.display(), "gen finished");
    Ok(())
}

const DIBAO_HEADER: [&str; 9] = [
    "区划代码",
    "户编号",
    "姓名",
    "身份证号",
    "与户主关系",
    "保障类别",
    "月保障金",
    "家庭月人均收入",
    "纳入日期",
];
const POOR_HEADER_ZH: [&str; 16] = [
    "区划代码",
    "户编号",
    "姓名",
    "身份证号",
    "与户主关系",
    "贫困户属性",
    "贫困户状态",
    "脱贫年度",
    "主要致贫原因",
    "人均纯收入",
    "劳动技能",
    "健康状况",
    "在校生状况",
    "参加城乡居民基本医疗保险",
    "住房安全",
    "饮水安全",
];
const POOR_HEADER_EN: [&str; 16] = [
    "region_code",
    "household_id",
    "name",
    "id_number",
    "relation",
    "household_type",
    "status",
    "exit_year",
    "cause",
    "annual_income",
    "labor",
    "health",
    "schooling",
    "medical_insured",
    "housing_safe",
    "water_safe",
];

fn yesno(b: bool) -> &'static str {
    if b { "是" } else { "否" }
}

fn dibao_cells(r: &render::GDibaoRow) -> Vec<String> {
    vec![
        r.region.to_string(),
        r.hh.to_string(),
        r.name.to_string(),
        r.id.to_string(),
        r.relation.to_owned(),
        r.category.to_owned(),
        Cents(r.benefit).to_string(),
        Cents(r.income).to_string(),
        String::new(),
    ]
}

fn poor_cells(r: &render::GPoorRow) -> Vec<String> {
    vec![
        r.region.to_string(),
        r.hh.to_string(),
        r.name.to_string(),
        r.id.to_string(),
        r.relation.to_owned(),
        zh(&HouseholdType::ALL, r.household_type).to_owned(),
        zh(&Status::ALL, r.status).to_owned(),
        r.exit_year.map(|y| y.to_string()).unwrap_or_default(),
        r.cause.to_owned(),
        Cents(r.income).to_string(),
        zh(&Labor::ALL, r.labor).to_owned(),
        zh(&Health::ALL, r.health).to_owned(),
        r.schooling.to_owned(),
        yesno(r.insured).to_owned(),
        yesno(r.housing_safe).to_owned(),
        yesno(r.water_safe).to_owned(),
    ]
}

/// How a roll file is written: line ends, encoding, BOM.
#[derive(Clone, Copy)]
struct Style {
    crlf: bool,
    gb18030: bool,
    bom: bool,
}

/// A CSV file written in blocks as rows come, each block formatted (and
/// encoded) in parallel: memory stays at a block, not the whole file.
struct CsvOut {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    style: Style,
}

impl CsvOut {
    fn create(path: &Path, header: &[&str], style: Style) -> Result<CsvOut> {
        let mut out = CsvOut {
            path: path.to_path_buf(),
            file: std::io::BufWriter::with_capacity(
                1 << 20,
                crate::files::create_private_file(path)?,
            ),
            style,
        };
        if style.bom {
            out.file.write_all(b"\xEF\xBB\xBF").map_err(io(path))?;
        }
        let mut head = header.join(",");
        head.push_str(out.eol());
        let head = out.encode(head);
        out.file.write_all(&head).map_err(io(path))?;
        Ok(out)
    }

    fn eol(&self) -> &'static str {
        if self.style.crlf { "\r\n" } else { "\n" }
    }

    fn encode(&self, s: String) -> Vec<u8> {
        if self.style.gb18030 {
            encoding_rs::GB18030.encode(&s).0.into_owned()
        } else {
            s.into_bytes()
        }
    }

    fn write<R: Sync>(
        &mut self,
        rows: &[R],
        cells: &(dyn Fn(&R) -> Vec<String> + Sync),
    ) -> Result<()> {
        for block in rows.chunks(200_000) {
            let parts: Vec<Vec<u8>> = block
                .par_chunks(10_000)
                .map(|c| {
                    let terminator = if self.style.crlf {
                        csv::Terminator::CRLF
                    } else {
                        csv::Terminator::Any(b'\n')
                    };
                    let mut w = csv::WriterBuilder::new()
                        .terminator(terminator)
                        .from_writer(Vec::with_capacity(c.len() * 120));
                    for r in c {
                        // Writing into memory cannot fail.
                        let _ = w.write_record(cells(r));
                    }
                    self.encode(
                        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default(),
                    )
                })
                .collect();
            for p in parts {
                self.file.write_all(&p).map_err(io(&self.path))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.file.flush().map_err(io(&self.path))
    }
}

fn write_csv_rows<R: Sync>(
    path: &Path,
    header: &[&str],
    rows: &[R],
    cells: &(dyn Fn(&R) -> Vec<String> + Sync),
    style: Style,
) -> Result<()> {
    let mut out = CsvOut::create(path, header, style)?;
    out.write(rows, cells)?;
    out.finish()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = crate::files::create_private_file(path)?;
    f.write_all(bytes).map_err(io(path))
}

/// A Parquet file of text columns written as rows come, a row group per
/// block of at most 131 k rows (a block's cells are held as strings while
/// it is encoded: 500 k rows were 270 MB of them).
const PARQUET_BLOCK_ROWS: usize = 1 << 17;

struct ParquetOut {
    path: PathBuf,
    header: &'static [&'static str],
    writer: polars::prelude::BatchedWriter<std::fs::File>,
}

impl ParquetOut {
    fn create(path: &Path, header: &'static [&'static str]) -> Result<ParquetOut> {
        use polars::prelude::*;
        let schema: Schema = header
            .iter()
            .map(|h| Field::new((*h).into(), DataType::String))
            .collect();
        let file = crate::files::create_private_file(path)?;
        let writer = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .batched(&schema)
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        Ok(ParquetOut {
            path: path.to_path_buf(),
            header,
            writer,
        })
    }

    fn write<R: Sync>(
        &mut self,
        rows: &[R],
        cells: &(dyn Fn(&R) -> Vec<String> + Sync),
    ) -> Result<()> {
        use polars::prelude::*;
        let internal = |e: PolarsError| Error::Internal(format!("{}: {e}", self.path.display()));
        for block in rows.chunks(PARQUET_BLOCK_ROWS) {
            let cells: Vec<Vec<String>> = block.par_iter().map(cells).collect();
            let columns: Vec<Column> = self
                .header
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    Column::new(
                        (*h).into(),
                        cells.iter().map(|r| r[i].as_str()).collect::<Vec<_>>(),
                    )
                })
                .collect();
            let df = DataFrame::new(block.len(), columns).map_err(internal)?;
            self.writer.write_batch(&df).map_err(internal)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        self.writer
            .finish()
            .map(|_| ())
            .map_err(|e| Error::Internal(format!("{}: {e}", self.path.display())))
    }
}

/// One quarter's files, open: the rolls are written as families are
/// rendered, the two registers at the end.
struct QuarterFiles {
    dir: PathBuf,
    dibao_csv: CsvOut,
    poor_csv: CsvOut,
    parquet: Option<(ParquetOut, ParquetOut)>,
}

impl QuarterFiles {
    fn create(dir: &Path, spec: &GenSpec) -> Result<QuarterFiles> {
        let poor_header: &'static [&'static str] = if spec.mixed_exports {
            &POOR_HEADER_EN
        } else {
            &POOR_HEADER_ZH
        };
        let parquet = if spec.parquet {
            Some((
                ParquetOut::create(&dir.join("dibao.parquet"), &DIBAO_HEADER)?,
                ParquetOut::create(&dir.join("poor.parquet"), poor_header)?,
            ))
        } else {
            None
        };
        let mixed = spec.mixed_exports;
        Ok(QuarterFiles {
            dir: dir.to_path_buf(),
            dibao_csv: CsvOut::create(
                &dir.join("dibao.csv"),
                &DIBAO_HEADER,
                Style {
                    crlf: mixed,
                    gb18030: mixed,
                    bom: false,
                },
            )?,
            poor_csv: CsvOut::create(
                &dir.join("poor.csv"),
                poor_header,
                Style {
                    crlf: false,
                    gb18030: false,
                    bom: mixed,
                },
            )?,
            parquet,
        })
    }

    /// The roll rows of some families, in file order.
    fn write(&mut self, q: &GQuarter) -> Result<()> {
        if let Some((dibao, poor)) = &mut self.parquet {
            dibao.write(&q.dibao, &dibao_cells)?;
            poor.write(&q.poor, &poor_cells)?;
        }
        self.dibao_csv.write(&q.dibao, &dibao_cells)?;
        self.poor_csv.write(&q.poor, &poor_cells)
    }

    /// Close the rolls; write the registers (sorted, once each).
    fn finish(
        self,
        deaths: &[(crate::model::Text, crate::calendar::Date)],
        employees: &[crate::model::Text],
    ) -> Result<()> {
        if let Some((dibao, poor)) = self.parquet {
            dibao.finish()?;
            poor.finish()?;
        }
        self.dibao_csv.finish()?;
        self.poor_csv.finish()?;
        let plain = Style {
            crlf: false,
            gb18030: false,
            bom: false,
        };
        let death_cells = |(id, d): &(crate::model::Text, crate::calendar::Date)| {
            vec![id.to_string(), d.to_string()]
        };
        write_csv_rows(
            &self.dir.join("deaths.csv"),
            &["身份证号", "死亡日期"],
            deaths,
            &death_cells,
            plain,
        )?;
        let employee_cells =
            |id: &crate::model::Text| vec![id.to_string(), "某镇人民政府".to_owned()];
        write_csv_rows(
            &self.dir.join("public_employees.csv"),
            &["身份证号", "工作单位"],
            employees,
            &employee_cells,
            plain,
        )
    }
}

fn write_quarter(dir: &Path, q: &GQuarter, spec: &GenSpec) -> Result<()> {
    let mut files = QuarterFiles::create(dir, spec)?;
    files.write(q)?;
    files.finish(&q.deaths, &q.employees)
}

/// Families rendered and written at a time when no truth is kept: the
/// rows of a whole quarter held at once were most of `gen`'s memory.
const FAMILIES_PER_BLOCK: usize = 100_000;

/// Render and write a quarter a block of families at a time, holding only
/// the registers (a few IDs per thousand persons) until the end.
fn stream_quarter(
    dir: &Path,
    world: &world::World,
    spec: &GenSpec,
    families_per_block: usize,
) -> Result<()> {
    let mut files = QuarterFiles::create(dir, spec)?;
    let mut deaths: Vec<_> = render::earlier_deaths(world).collect();
    let mut employees = Vec::new();
    let families = world.families.len();
    let mut start = 0;
    while start < families {
        let end = (start + families_per_block).min(families);
        let part = render::render_families(world, start..end);
        files.write(&part)?;
        deaths.extend(part.deaths);
        employees.extend(part.employees);
        start = end;
    }
    deaths.sort();
    employees.sort();
    employees.dedup();
    files.finish(&deaths, &employees)
}

fn write_truth(path: &Path, rows: &[(Quarter, Expected)]) -> Result<()> {
    let mut w = csv::Writer::from_writer(crate::files::create_private_file(path)?);
    let err = |e: csv::Error| Error::output(path, e);
    w.write_record([
        "quarter",
        "flag",
        "dibao_household_id",
        "poor_household_id",
        "person_id",
        "county_code",
    ])
    .map_err(err)?;
    for (q, e) in rows {
        w.write_record([
            &q.to_string(),
            e.flag,
            &e.dibao_household_id,
            &e.poor_household_id,
            &e.person_id,
            &e.county_code,
        ])
        .map_err(err)?;
    }
    w.flush().map_err(io(path))
}

fn write_job(path: &Path, spec: &GenSpec, last: Quarter, ext: &str) -> Result<()> {
    let pol = policy();
    let mut years = String::new();
    let mut y = spec.start.year;
    while y <= last.year {
        let stds: Vec<String> = pol
            .std
            .iter()
            .map(|(c, v)| format!("\"{c}\" = {}", Cents(*v)))
            .collect();
        years.push_str(&format!(
            "\n[policy.years.{y}]\npoverty_line = {}\ndibao_standard = {{ default = {}, {} }}\n",
            Cents(pol.line),
            Cents(pol.default_std),
            stds.join(", ")
        ));
        y += 1;
    }
    let text = format!(
        r#"# Generated by `rollmatch gen --households {h} --start {start} --quarters {k} --seed {seed}`.
name = "gen"
quarter = "{last}"

[inputs]
dibao = "{{quarter}}/dibao.{ext}"
poor = "{{quarter}}/poor.{ext}"
deaths = "{{quarter}}/deaths.csv"
public_employees = "{{quarter}}/public_employees.csv"

[policy]
monitoring_multiplier = {mult}
income_drop_ratio = {idr}
benefit_change_ratio = {bcr}
elderly_age = {age}
max_reject_ratio = 0.01
max_shrink_ratio = 0.5
{years}
[output]
dir = "out-{ext}/{{quarter}}"
state_dir = "state-{ext}"
mask_ids = true
"#,
        h = spec.households,
        start = spec.start,
        k = spec.quarters,
        seed = spec.seed,
        mult = pol.multiplier,
        idr = pol.income_drop_ratio,
        bcr = pol.benefit_change_ratio,
        age = pol.elderly_age,
    );
    write_file(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quarter written a block of families at a time is the quarter
    /// written whole, file for file, in every export style.
    #[test]
    fn a_streamed_quarter_is_the_whole_quarter_byte_for_byte() {
        let root = std::env::temp_dir().join(format!("rollmatch-stream-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (mixed, geography) in [(false, Geography::Luoyang), (true, Geography::China)] {
            let spec = GenSpec {
                out: root.clone(),
                households: 2_500,
                start: "2018Q2".parse().unwrap(),
                quarters: 1,
                seed: 3,
                parquet: false,
                mixed_exports: mixed,
                truth: false,
                geography,
            };
            let mut world = world::World::new(spec.seed, spec.start, spec.geography);
            world.populate(spec.households);
            world.advance();
            let (whole, streamed) = (root.join("whole"), root.join("streamed"));
            for d in [&whole, &streamed] {
                std::fs::create_dir_all(d).unwrap();
            }
            write_quarter(&whole, &render::render(&world), &spec).unwrap();
            // Blocks that do not divide the families, and a last short one.
            stream_quarter(&streamed, &world, &spec, 700).unwrap();
            for f in [
                "dibao.csv",
                "poor.csv",
                "deaths.csv",
                "public_employees.csv",
            ] {
                let (a, b) = (
                    std::fs::read(whole.join(f)).unwrap(),
                    std::fs::read(streamed.join(f)).unwrap(),
                );
                assert!(a.len() > 30, "{f} has rows");
                assert!(a == b, "{f} differs (mixed exports: {mixed})");
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
