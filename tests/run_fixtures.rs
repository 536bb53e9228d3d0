//! `rollmatch run` on the Luoyang fixtures: every flag, movements skipped
//! without Q-1, state equals files, and byte-identical reruns.

use std::collections::BTreeSet;

use crate::util::*;

use rollmatch::report::DATA_FILES;

#[test]
fn q3_writes_every_report_and_raises_every_flag() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet"]);
    let out = space.out("2018Q3");
    for f in DATA_FILES.iter().chain(["manifest.json"].iter()) {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let (headers, rows) = read_csv(&out.join("flags.csv"));
    assert_eq!(headers, rollmatch::columns::FLAG_COLUMNS.to_vec());
    let found: BTreeSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    let all: BTreeSet<&str> = rollmatch::checks::CATALOG.iter().map(|d| d.code).collect();
    assert_eq!(
        found, all,
        "every flag of the contract occurs on the fixtures"
    );
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["movements"]["source"], "files");
    assert_eq!(
        summary["flags"]["total"].as_u64().unwrap() as usize,
        rows.len()
    );
    assert!(summary["matches"]["probable"].as_u64().unwrap() > 0);
    let t = &summary["movements"]["transitions"]["total"];
    assert!(t["both"]["both"].as_u64().unwrap() > 0, "{t}");
    let (h, households) = read_csv(&out.join("households.csv"));
    assert_eq!(h, rollmatch::columns::HOUSEHOLD_COLUMNS.to_vec());
    assert_eq!(
        households.len() as u64,
        summary["rolls"]["poor"]["households"].as_u64().unwrap()
    );
}

#[test]
fn flags_are_sorted_as_the_contract_says() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet"]);
    let (_, rows) = read_csv(&space.out("2018Q3").join("flags.csv"));
    let rank = |s: &str| {
        ["high", "medium", "low", "info"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let key = |r: &Vec<String>| {
        (
            rank(&r[4]),
            r[1].clone(),
            r[5].clone(),
            r[9].clone(),
            r[8].clone(),
            r[10].clone(),
        )
    };
    for w in rows.windows(2) {
        assert!(key(&w[0]) <= key(&w[1]), "{:?} before {:?}", w[0], w[1]);
    }
    let (_, households) = read_csv(&space.out("2018Q3").join("households.csv"));
    for w in households.windows(2) {
        let (a, b): (u32, u32) = (w[0][11].parse().unwrap(), w[1][11].parse().unwrap());
        assert!(
            a > b || (a == b && w[0][1] < w[1][1]),
            "{:?} before {:?}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn q2_without_previous_quarter_skips_movements() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet", "--quarter", "2018Q2"]);
    let summary = read_json(&space.out("2018Q2").join("summary.json"));
    assert_eq!(summary["movements"], "skipped");
    assert!(
        summary["movements_skipped_reason"]
            .as_str()
            .unwrap()
            .contains("2018Q1")
    );
    let (_, rows) = read_csv(&space.out("2018Q2").join("flags.csv"));
    assert!(rows.iter().all(|r| r[3] != "movement"));
}

#[test]
fn q3_from_saved_state_equals_q3_from_files() {
    let a = Space::new();
    let job = a.luoyang_job();
    run_ok(&job, &["run", "--quiet", "--quarter", "2018Q2"]);
    // Hide Q-1's files: the state must be enough.
    let text = std::fs::read_to_string(&job).unwrap();
    let copy = a.path("q3only");
    std::fs::create_dir_all(&copy).unwrap();
    for f in [
        "dibao.csv",
        "poor.csv",
        "deaths.csv",
        "public_employees.csv",
    ] {
        std::fs::create_dir_all(copy.join("2018Q3")).unwrap();
        std::fs::copy(
            repo("fixtures/luoyang/2018Q3").join(f),
            copy.join("2018Q3").join(f),
        )
        .unwrap();
    }
    std::fs::write(
        &job,
        text.replace(
            &repo("fixtures/luoyang").display().to_string(),
            &copy.display().to_string(),
        ),
    )
    .unwrap();
    run_ok(&job, &["run", "--quiet"]);
    let b = Space::new();
    let job_b = b.luoyang_job();
    run_ok(&job_b, &["run", "--quiet"]);

    let sa = read_json(&a.out("2018Q3").join("summary.json"));
    let sb = read_json(&b.out("2018Q3").join("summary.json"));
    assert_eq!(sa["movements"]["source"], "state");
    assert_eq!(sb["movements"]["source"], "files");
    for f in ["flags.csv", "households.csv"] {
        assert_eq!(
            std::fs::read(a.out("2018Q3").join(f)).unwrap(),
            std::fs::read(b.out("2018Q3").join(f)).unwrap(),
            "{f} differs between state and files"
        );
    }
    assert_eq!(sa["movements"]["counts"], sb["movements"]["counts"]);
    assert_eq!(
        sa["movements"]["transitions"],
        sb["movements"]["transitions"]
    );
}

#[test]
fn reruns_are_byte_identical_whatever_the_thread_count() {
    let space = Space::new();
    let job = space.luoyang_job();
    let mut outputs = Vec::new();
    let mut states = Vec::new();
    // The last run takes the large rolls' path: quarters read one after
    // the other, the state written after the analysis.
    for (i, (threads, large)) in [("1", ""), ("2", ""), ("2", ""), ("2", "0")]
        .iter()
        .enumerate()
    {
        let out = space.path(&format!("run{i}"));
        let mut run = rollmatch();
        if !large.is_empty() {
            run.env("ROLLMATCH_LARGE_ROLL_BYTES", large);
        }
        run.args(["run", "--quiet", "--threads", threads, "--out"])
            .arg(&out)
            .arg(&job)
            .assert()
            .code(0);
        outputs.push(out);
        states.push(
            ["2018Q3-dibao.rmstate", "2018Q3-poor.rmstate"]
                .map(|f| std::fs::read(space.path("state").join(f)).unwrap()),
        );
    }
    assert!(
        states.iter().all(|s| *s == states[0]),
        "the state differs between runs"
    );
    for f in DATA_FILES {
        let first = std::fs::read(outputs[0].join(f)).unwrap();
        for o in &outputs[1..] {
            assert!(
                first == std::fs::read(o.join(f)).unwrap(),
                "{f} differs between runs"
            );
        }
    }
    let m0 = read_json(&outputs[0].join("manifest.json"));
    let m1 = read_json(&outputs[1].join("manifest.json"));
    assert_eq!(m0["outputs"], m1["outputs"]);
}

#[test]
fn a_rerun_replaces_the_previous_output() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet"]);
    std::fs::write(space.out("2018Q3").join("stray.txt"), "left by hand").unwrap();
    run_ok(&job, &["run", "--quiet"]);
    assert!(!space.out("2018Q3").join("stray.txt").exists());
    let leftovers: Vec<_> = std::fs::read_dir(space.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers,
        vec!["2018Q3".to_string()],
        "staging directories left behind"
    );
}

#[test]
fn no_mask_writes_ids_whole_and_the_default_masks_them() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet", "--no-mask"]);
    let (_, rows) = read_csv(&space.out("2018Q3").join("flags.csv"));
    assert!(
        rows.iter()
            .any(|r| r[10].len() == 18 && !r[10].contains('*'))
    );
    run_ok(&job, &["run", "--quiet"]);
    let (_, rows) = read_csv(&space.out("2018Q3").join("flags.csv"));
    for r in rows.iter().filter(|r| !r[10].is_empty()) {
        let c: Vec<char> = r[10].chars().collect();
        assert!(
            c.len() <= 10 || c[6..c.len() - 4].iter().all(|x| *x == '*'),
            "{:?}",
            r
        );
    }
}
