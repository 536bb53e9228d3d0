//! `rollmatch check` on every edge fixture: exact counts, reasons and
//! exit codes (contract §2).

use crate::util::*;
use predicates::prelude::*;

fn edge_job(space: &Space, file: &str, policy: &str) -> std::path::PathBuf {
    space.job(
        &repo(&format!("fixtures/edge/{file}")),
        &repo("fixtures/edge/poor.csv"),
        policy,
        "",
    )
}

/// (file, exit code, text the report must contain)
const CASES: &[(&str, i32, &[&str])] = &[
    (
        "dibao_gb18030.csv",
        0,
        &["(csv, GB18030)", "rows read 4, used 4, rejected 0"],
    ),
    (
        "dibao_bom_crlf.csv",
        0,
        &["UTF-8 (BOM)", "rows read 4, used 4, rejected 0"],
    ),
    ("dibao_english.csv", 0, &["rows read 4, used 4, rejected 0"]),
    (
        "dibao_legacy15.csv",
        0,
        &["rows read 2, used 2, rejected 0"],
    ),
    (
        "dibao_fullwidth.csv",
        0,
        &["rows read 2, used 2, rejected 0"],
    ),
    (
        "dibao_excel.csv",
        0,
        &[
            "rows read 3, used 3, rejected 0",
            "excel_scientific 1, excel_trailing_zeros 1",
            "纳入日期 1",
        ],
    ),
    (
        "dibao_malformed.csv",
        65,
        &[
            "rows read 10, used 6, rejected 4",
            "bad_decimal 1, bad_region_code 1, missing_value 1, too_few_fields 1",
            "line 8: (row) too_few_fields",
            "line 9: 月保障金 bad_decimal",
            "line 10: 姓名 missing_value",
            "line 11: 区划代码 bad_region_code",
        ],
    ),
    (
        "dibao_header_only.csv",
        65,
        &["rows read 0, used 0, rejected 0"],
    ),
    ("dibao_empty.csv", 65, &["rows read 0, used 0, rejected 0"]),
];

#[test]
fn every_edge_fixture_gives_its_counts_and_exit_code() {
    for (file, code, expected) in CASES {
        let space = Space::new();
        let job = edge_job(&space, file, "");
        let out = rollmatch().arg("check").arg(&job).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{file}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for e in *expected {
            assert!(stdout.contains(e), "{file}: missing {e:?} in\n{stdout}");
        }
        // The poor roll is always fine.
        assert!(
            stdout.contains("rows read 2, used 2, rejected 0"),
            "{file}: {stdout}"
        );
        assert!(!space.path("out").exists(), "check wrote output");
    }
}

#[test]
fn reject_ratio_is_a_policy_value() {
    let space = Space::new();
    let job = edge_job(&space, "dibao_malformed.csv", "max_reject_ratio = 0.5");
    rollmatch().arg("check").arg(&job).assert().code(0);
    let job = edge_job(&space, "dibao_malformed.csv", "max_reject_ratio = 0.3");
    rollmatch().arg("check").arg(&job).assert().code(65).stderr(
        predicate::str::contains("dibao_malformed.csv")
            .and(predicate::str::contains("4 of 10 rows rejected")),
    );
}

#[test]
fn empty_roll_message_names_the_file() {
    let space = Space::new();
    let job = edge_job(&space, "dibao_header_only.csv", "");
    rollmatch().arg("run").arg(&job).assert().code(65).stderr(
        predicate::str::contains("dibao_header_only.csv")
            .and(predicate::str::contains("no data rows")),
    );
    assert!(!space.path("out").exists());
}

#[test]
fn missing_column_names_file_columns_and_headers_found() {
    let space = Space::new();
    let job = edge_job(&space, "dibao_missing_column.csv", "");
    let out = rollmatch().arg("check").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for part in [
        "dibao_missing_column.csv",
        "月保障金 (monthly_benefit)",
        "headers found",
        "\"家庭月人均收入\"",
    ] {
        assert!(err.contains(part), "{part} not in {err}");
    }
}

#[test]
fn missing_input_exits_66() {
    let space = Space::new();
    let job = space.job(
        &space.path("nope.csv"),
        &repo("fixtures/edge/poor.csv"),
        "",
        "",
    );
    rollmatch()
        .arg("check")
        .arg(&job)
        .assert()
        .code(66)
        .stderr(predicate::str::contains("nope.csv").and(predicate::str::contains("not found")));
}

#[test]
fn luoyang_check_counts_every_row() {
    let space = Space::new();
    let job = space.luoyang_job();
    let out = rollmatch().arg("check").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut inputs = 0;
    for line in stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("rows read"))
    {
        let n: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(n[0], n[1] + n[2], "{line}");
        inputs += 1;
    }
    assert_eq!(inputs, 4, "{stdout}");
    assert!(
        stdout.contains("GB18030") && stdout.contains("UTF-8 (BOM)"),
        "{stdout}"
    );
}

/// Found by the csv_ingest fuzz target: an 8-byte date cell holding a
/// multi-byte character (`20170期`) was sliced inside the character.
#[test]
fn regression_fuzz_date_cell_with_multibyte_character() {
    let space = Space::new();
    let text = "区划代码,户编号,姓名,身份证号,与户主关系,保障类别,月保障金,家庭月人均收入,纳入日期\n\
                410322102203,D1,张三,410322198001010014,户主,一类,600,200,20170期\n";
    let d = space.write("dibao.csv", text);
    let job = space.job(&d, &repo("fixtures/edge/poor.csv"), "", "");
    let out = rollmatch().arg("check").arg(&job).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("纳入日期 1"));
}
