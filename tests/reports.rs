//! The report set read back: workbook, Parquet, summary schema, HTML
//! figures, masking and pseudonyms.

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

use crate::util::*;

fn run_luoyang(space: &Space, extra: &[&str]) -> std::path::PathBuf {
    let job = space.luoyang_job();
    rollmatch()
        .args(["run", "--quiet"])
        .args(extra)
        .arg(&job)
        .assert()
        .code(0);
    space.out("2018Q3")
}

fn cell_text(c: &Data) -> String {
    match c {
        Data::String(s) => s.clone(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn workbook_sheets_headers_and_rows_equal_the_csvs() {
    let space = Space::new();
    let out = run_luoyang(&space, &[]);
    let (_, flags) = read_csv(&out.join("flags.csv"));
    let (_, households) = read_csv(&out.join("households.csv"));
    let mut wb: Xlsx<_> = open_workbook(out.join("report.xlsx")).unwrap();
    let names = wb.sheet_names();
    assert_eq!(&names[..2], &["概览".to_string(), "风险户".to_string()]);
    assert_eq!(names.len(), 2 + 6);

    let sheet = wb.worksheet_range("风险户").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(cell_text).collect())
        .collect();
    assert_eq!(rows[0][1], "建档立卡户编号");
    assert_eq!(rows.len() - 1, households.len());
    for (x, h) in rows[1..].iter().zip(&households) {
        assert_eq!(x[1], h[1], "household id stored as text");
        // Every cell as the CSV has it: place codes and flag sets are
        // shared strings, the income a number cell.
        for (c, (cell, text)) in x.iter().zip(h).enumerate() {
            if c == 8 {
                assert_eq!(cell.parse::<f64>().ok(), text.parse::<f64>().ok(), "income");
            } else {
                assert_eq!(cell, text, "column {c}");
            }
        }
        assert_eq!(x.len(), h.len());
    }
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    for f in &flags {
        *per_kind.entry(f[3].clone()).or_default() += 1;
    }
    for kind in rollmatch::flags::Kind::ALL {
        let name = rollmatch::report::labels::kind_label(kind);
        let sheet = wb.worksheet_range(name).unwrap();
        let rows: Vec<Vec<String>> = sheet
            .rows()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        assert_eq!(rows[0][0], "季度");
        assert_eq!(rows[0][10], "身份证号");
        assert_eq!(
            rows.len() - 1,
            per_kind.get(kind.code()).copied().unwrap_or(0),
            "{name}"
        );
        let expected: Vec<&Vec<String>> = flags.iter().filter(|f| f[3] == kind.code()).collect();
        for (x, f) in rows[1..].iter().zip(expected) {
            assert_eq!(x, f, "{name}");
        }
    }
}

fn parquet_rows(path: &Path) -> Vec<Vec<String>> {
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap();
    let cols: Vec<Vec<String>> = df
        .columns()
        .iter()
        .map(|c| {
            let s = c.cast(&DataType::String).unwrap();
            s.str()
                .unwrap()
                .iter()
                .map(|v| v.unwrap_or("").to_owned())
                .collect()
        })
        .collect();
    (0..df.height())
        .map(|i| cols.iter().map(|c| c[i].clone()).collect())
        .collect()
}

#[test]
fn parquet_files_equal_the_csvs() {
    let space = Space::new();
    let out = run_luoyang(&space, &[]);
    for name in ["flags", "households"] {
        let (_, csv_rows) = read_csv(&out.join(format!("{name}.csv")));
        let pq = parquet_rows(&out.join(format!("{name}.parquet")));
        assert_eq!(pq.len(), csv_rows.len(), "{name}");
        for (p, c) in pq.iter().zip(&csv_rows) {
            for (a, b) in p.iter().zip(c) {
                let same = a == b
                    || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y);
                assert!(same, "{name}: {a} != {b}");
            }
        }
    }
}

/// A small JSON Schema check: type, const, enum, required, properties,
/// additionalProperties, anyOf, pattern (anchored digits only).
fn validate(schema: &Value, v: &Value, at: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if let Some(any) = schema["anyOf"].as_array() {
        if !any.iter().any(|s| validate(s, v, at).is_empty()) {
            errs.push(format!("{at}: matches no anyOf branch"));
        }
        return errs;
    }
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            errs.push(format!("{at}: expected {t}, found {v}"));
            return errs;
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errs.push(format!("{at}: expected {c}"));
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} not in enum"));
    }
    if let Some(obj) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing {r}"));
            }
        }
        for (k, x) in obj {
            let sub = schema["properties"]
                .get(k)
                .or_else(|| schema.get("additionalProperties"));
            if let Some(sub) = sub.filter(|s| s.is_object()) {
                errs.extend(validate(sub, x, &format!("{at}.{k}")));
            }
        }
    }
    errs
}

#[test]
fn summary_validates_against_its_documented_schema() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("docs/summary-schema.json")).unwrap())
            .unwrap();
    let space = Space::new();
    let out = run_luoyang(&space, &[]);
    let errs = validate(&schema, &read_json(&out.join("summary.json")), "$");
    assert!(errs.is_empty(), "{errs:#?}");
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet", "--quarter", "2018Q2"]);
    let errs = validate(
        &schema,
        &read_json(&space.out("2018Q2").join("summary.json")),
        "$",
    );
    assert!(errs.is_empty(), "{errs:#?}");
    // The check itself can fail.
    let bad = serde_json::json!({"schema_version": 2});
    assert!(!validate(&schema, &bad, "$").is_empty());
}

#[test]
fn html_is_self_contained_and_its_figures_equal_the_summary() {
    let space = Space::new();
    let out = run_luoyang(&space, &[]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let s = read_json(&out.join("summary.json"));
    for banned in ["<script", "http://", "https://", "src=", "@import", "url("] {
        let allowed_svg_ns = banned == "http://"
            && html.matches("http://").count()
                == html.matches("http://www.w3.org/2000/svg").count();
        assert!(
            !html.contains(banned) || allowed_svg_ns,
            "report.html refers outside itself: {banned}"
        );
    }
    let attr = |name: &str, key: &str| -> u64 {
        let needle = format!("data-{name}=\"{key}\">");
        let i = html
            .find(&needle)
            .unwrap_or_else(|| panic!("{needle} not in page"))
            + needle.len();
        html[i..].split('<').next().unwrap().parse().unwrap()
    };
    for def in rollmatch::checks::CATALOG.iter() {
        assert_eq!(
            attr("flag", def.code),
            s["flags"]["by_flag"][def.code].as_u64().unwrap(),
            "{}",
            def.code
        );
    }
    assert_eq!(
        attr("figure", "标记总数"),
        s["flags"]["total"].as_u64().unwrap()
    );
    assert_eq!(
        attr("figure", "低保户数"),
        s["rolls"]["dibao"]["households"].as_u64().unwrap()
    );
    assert_eq!(
        attr("figure", "疑似号码录入错误匹配人数"),
        s["matches"]["probable"].as_u64().unwrap()
    );
    assert_eq!(
        attr("figure", "高风险户数"),
        s["risk"]["tiers"]["高"].as_u64().unwrap()
    );
}

/// Every text an output holds: files as bytes, the workbook's cells.
fn output_texts(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".xlsx") {
            let mut wb: Xlsx<_> = open_workbook(&p).unwrap();
            for sheet in wb.sheet_names() {
                let r = wb.worksheet_range(&sheet).unwrap();
                let text: Vec<String> =
                    r.rows().flat_map(|row| row.iter().map(cell_text)).collect();
                out.push((format!("{name}:{sheet}"), text.join("\n")));
            }
        } else if name.ends_with(".parquet") {
            let rows = parquet_rows(&p);
            out.push((
                name,
                rows.into_iter().flatten().collect::<Vec<_>>().join("\n"),
            ));
        } else {
            out.push((
                name,
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
    out
}

#[test]
fn by_default_no_complete_id_number_appears_in_any_output() {
    let space = Space::new();
    // A malformed row too, so that rejects.csv has a raw record with a number in it.
    let out = run_luoyang(&space, &[]);
    let mut ids = Vec::new();
    for q in ["2018Q2", "2018Q3"] {
        for f in [
            "dibao.csv",
            "poor.csv",
            "deaths.csv",
            "public_employees.csv",
        ] {
            ids.extend(ids_in(&repo(&format!("fixtures/luoyang/{q}/{f}"))));
        }
    }
    assert!(ids.len() > 1000);
    for (name, text) in output_texts(&out) {
        for id in &ids {
            assert!(
                !text.contains(id.as_str()),
                "{name} holds a whole ID number"
            );
        }
    }
    // And the rejects' raw records are masked too.
    let s2 = Space::new();
    let job = s2.job(
        &repo("fixtures/edge/dibao_malformed.csv"),
        &repo("fixtures/edge/poor.csv"),
        "max_reject_ratio = 0.5",
        "",
    );
    run_ok(&job, &["run", "--quiet"]);
    let rejects = std::fs::read_to_string(s2.out("2018Q3").join("rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 5, "{rejects}");
    for id in ids_in(&repo("fixtures/edge/dibao_malformed.csv")) {
        assert!(!rejects.contains(&id), "rejects.csv holds a whole ID");
    }
}

#[test]
fn person_token_is_a_keyed_hash_only_when_the_key_is_set() {
    let space = Space::new();
    let job = space.luoyang_job();
    let text = std::fs::read_to_string(&job).unwrap().replace(
        "mask_ids = true",
        "mask_ids = true\nperson_token_key_env = \"RM_TEST_KEY\"",
    );
    std::fs::write(&job, text).unwrap();
    run_ok(&job, &["run", "--quiet"]);
    let (h, _) = read_csv(&space.out("2018Q3").join("flags.csv"));
    assert!(
        !h.contains(&"person_token".to_string()),
        "no key, no column"
    );
    rollmatch()
        .env("RM_TEST_KEY", "k1")
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(0);
    let (h, rows1) = read_csv(&space.out("2018Q3").join("flags.csv"));
    assert_eq!(h.last().unwrap(), "person_token");
    rollmatch()
        .env("RM_TEST_KEY", "k2")
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(0);
    let (_, rows2) = read_csv(&space.out("2018Q3").join("flags.csv"));
    let with_person: Vec<usize> = (0..rows1.len())
        .filter(|&i| !rows1[i][10].is_empty())
        .collect();
    assert!(!with_person.is_empty());
    for i in with_person {
        assert_eq!(rows1[i][13].len(), 64);
        assert_ne!(rows1[i][13], rows2[i][13], "the token depends on the key");
    }
}

#[test]
fn split_by_county_writes_one_workbook_per_county() {
    let space = Space::new();
    let job = space.luoyang_job();
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("mask_ids = true", "mask_ids = true\nsplit_by = \"county\"");
    std::fs::write(&job, text).unwrap();
    run_ok(&job, &["run", "--quiet"]);
    let out = space.out("2018Q3");
    let (_, households) = read_csv(&out.join("households.csv"));
    let county = &households[0][2];
    let mut wb: Xlsx<_> = open_workbook(out.join(format!("report-{county}.xlsx"))).unwrap();
    let rows = wb.worksheet_range("风险户").unwrap().rows().count() - 1;
    assert_eq!(rows, households.iter().filter(|h| &h[2] == county).count());
    // Each county workbook's hash, taken as it was written, is its file's.
    let manifest = read_json(&out.join("manifest.json"));
    let name = format!("report-{county}.xlsx");
    let listed = manifest["outputs"][&name].as_str().expect("listed");
    use sha2::Digest;
    let bytes = std::fs::read(out.join(&name)).unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), listed);
}

#[test]
fn parquet_inputs_give_the_same_flags_as_csv_inputs() {
    let space = Space::new();
    let data = space.path("gen");
    generate(&data, 800, 4, &["--parquet"]);
    for (job, out) in [("job.toml", "csv"), ("job-parquet.toml", "pq")] {
        rollmatch()
            .args(["run", "--quiet", "--out"])
            .arg(space.path(out))
            .arg(data.join(job))
            .assert()
            .code(0);
    }
    for f in ["flags.csv", "households.csv"] {
        assert!(
            std::fs::read(space.path("csv").join(f)).unwrap()
                == std::fs::read(space.path("pq").join(f)).unwrap(),
            "{f}"
        );
    }
    let s = read_json(&space.path("pq").join("summary.json"));
    assert_eq!(s["inputs"]["dibao"]["format"], "parquet");
}

#[test]
fn parquet_date_columns_are_read_as_dates() {
    use polars::prelude::*;
    let space = Space::new();
    let ids = ["410322198001010014", "410322198202020024"];
    // Days since 1970-01-01: 2018-03-02 is 17592, 2018-08-01 is 17744.
    let deaths = DataFrame::new(
        2,
        vec![
            Column::new("身份证号".into(), ids.to_vec()),
            Column::new("死亡日期".into(), vec![17592i32, 17744])
                .cast(&DataType::Date)
                .unwrap(),
        ],
    )
    .unwrap();
    let path = space.path("deaths.parquet");
    let mut df = deaths;
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let job = space.job(
        &repo("fixtures/edge/dibao_gb18030.csv"),
        &repo("fixtures/edge/poor.csv"),
        "",
        "",
    );
    let text = std::fs::read_to_string(&job).unwrap().replace(
        "[policy]",
        &format!("deaths = \"{}\"\n[policy]", path.display()),
    );
    std::fs::write(&job, text).unwrap();
    run_ok(&job, &["run", "--quiet", "--no-mask"]);
    let flags = read_records(&space.out("2018Q3").join("flags.csv"));
    let dead: Vec<&str> = flags
        .iter()
        .filter(|f| f["flag"] == "deceased_enrolled")
        .map(|f| f["person_id"].as_str())
        .collect();
    // Died 2018-03-02, before 2018Q3: flagged; died 2018-08-01, inside it: not yet.
    assert_eq!(dead, vec![ids[0]]);
    assert!(flags.iter().any(|f| f["detail"].contains("2018-03-02")));
}
