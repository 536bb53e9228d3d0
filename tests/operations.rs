//! Cron-grade behaviour: lock, exit codes, broken inputs, privacy of
//! logs, file modes, and SIGKILL at several points of a run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use fs2::FileExt;
use predicates::prelude::*;

use crate::util::*;

const GOOD: &str = "区划代码,户编号,姓名,身份证号,与户主关系,保障类别,月保障金,家庭月人均收入,纳入日期\n\
410322102203,D1,张三,410322198001010014,户主,一类,600,200,\n\
410322102203,D1,李梅,410322198202020024,配偶,一类,600,200,\n\
410322102203,D1,张小明,41032220100303003X,子,一类,600,200,\n\
410323101201,D2,王五,410323195005050059,户主,二类,300,350,\n";

fn job_with_dibao(space: &Space, bytes: &[u8]) -> std::path::PathBuf {
    let d = space.write("in/dibao.csv", bytes);
    space.job(&d, &repo("fixtures/edge/poor.csv"), "", "")
}

#[test]
fn a_second_run_exits_75_naming_the_holder() {
    let space = Space::new();
    let job = space.luoyang_job();
    std::fs::create_dir_all(space.path("state")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(space.path("state/rollmatch.lock"))
        .unwrap();
    lock.try_lock_exclusive().unwrap();
    std::fs::write(
        space.path("state/rollmatch.lock"),
        "pid 4242 since 2018-10-01T02:00:00.000Z",
    )
    .unwrap();
    rollmatch()
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains("pid 4242").and(predicate::str::contains("rollmatch.lock")),
        );
    assert!(!space.out("2018Q3").exists());
    FileExt::unlock(&lock).unwrap();
    run_ok(&job, &["run", "--quiet"]);
}

#[test]
fn unwritable_output_exits_73() {
    let space = Space::new();
    let job = space.luoyang_job();
    space.write("blocker", "a file where a directory should be");
    rollmatch()
        .args(["run", "--quiet", "--out"])
        .arg(space.path("blocker/out"))
        .arg(&job)
        .assert()
        .code(73)
        .stderr(predicate::str::contains("blocker"));
}

#[test]
fn job_file_errors_exit_2() {
    let space = Space::new();
    let job = space.luoyang_job();
    rollmatch()
        .args(["run", "--quarter", "2019Q1"])
        .arg(&job)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("2019"));
    rollmatch()
        .args(["run", "--quarter", "2018Q5"])
        .arg(&job)
        .assert()
        .code(2);
    rollmatch()
        .args(["run"])
        .arg(space.path("missing.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.toml"));
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("elderly_age", "eldery_age");
    std::fs::write(&job, text).unwrap();
    rollmatch()
        .args(["run"])
        .arg(&job)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("eldery_age"));
    rollmatch().args(["run", "--bogus"]).assert().code(2);
}

#[test]
fn broken_inputs_get_their_documented_outcome_and_never_panic() {
    let mut garbage = vec![0u8; 4096];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let huge_name = "张".repeat(3_500_000); // a 10 MB field
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        (
            "truncated",
            format!("{GOOD}410322102203,D9,赵").into_bytes(),
            65,
            "1 of 5 rows rejected",
        ),
        ("binary", garbage, 65, "binary"),
        (
            "wrong encoding",
            b"\xff\xff\xff,abc\n\xff,1\n".to_vec(),
            65,
            "encoding",
        ),
        (
            "duplicated header",
            GOOD.replacen("姓名", "身份证号", 1).into_bytes(),
            65,
            "appears 2 times",
        ),
        (
            "10 MB field",
            format!("{GOOD}410322102203,D3,{huge_name},410322199001010015,户主,一类,600,200,\n")
                .into_bytes(),
            0,
            "",
        ),
        (
            "ragged",
            format!("{GOOD}410322102203,D3,孙,410322199001010015,户主,一类,600,200,,extra\n")
                .into_bytes(),
            65,
            "1 of 5 rows rejected",
        ),
        (
            "header only",
            GOOD.lines().next().unwrap().as_bytes().to_vec(),
            65,
            "no data rows",
        ),
        ("empty", Vec::new(), 65, "no data rows"),
        (
            "bad quoting",
            format!("{GOOD}410322102203,D3,\"孙,4103\n").into_bytes(),
            65,
            "",
        ),
    ];
    for (what, bytes, code, message) in cases {
        let space = Space::new();
        let job = job_with_dibao(&space, &bytes);
        let out = rollmatch()
            .args(["run", "--quiet"])
            .arg(&job)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "{what}: {err}"
        );
        if code != 0 {
            assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{what}: one line on stderr: {err}"
            );
            assert!(
                err.contains("dibao.csv") && err.contains(message),
                "{what}: {err}"
            );
        }
    }
}

#[test]
fn canary_name_and_id_never_reach_logs_or_files_outside_the_report() {
    let canary_id = "410322199001010015";
    let canary_name = "金丝雀测试员";
    let space = Space::new();
    let text = format!(
        "{GOOD}410322102203,D3,{canary_name},{canary_id},户主,一类,600,100,\n410322102203,D4,{canary_name}二,41032219900101001X,户主,一类,600,100,\n"
    );
    let job = job_with_dibao(&space, text.as_bytes());
    for format in ["json", "text"] {
        let out = rollmatch()
            .env("RUST_LOG", "trace")
            .args(["run", "--no-mask", "--log-format", format])
            .arg(&job)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("run finished"), "logs were written: {err}");
        if format == "json" {
            for line in err.lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|_| panic!("not JSON: {line}"));
            }
        }
        for needle in [canary_id, canary_name, "41032219900101001X"] {
            assert!(
                !err.contains(needle),
                "stderr carries personal data ({format})"
            );
        }
    }
    // The canary is in the report (analysts need it) and nowhere else but the
    // state the contract keeps for next quarter.
    let flags = std::fs::read_to_string(space.out("2018Q3").join("flags.csv")).unwrap();
    assert!(flags.contains(canary_name));
    let mut stack = vec![space.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p != space.out("2018Q3") {
                    stack.push(p);
                }
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.starts_with(space.path("in"))
                || (p.starts_with(space.path("state")) && name.ends_with(".rmstate"))
            {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(canary_id) && !text.contains(canary_name),
                "{} holds the canary",
                p.display()
            );
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn outputs_and_state_are_private() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet"]);
    let out = space.out("2018Q3");
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&space.path("state")), 0o700);
    for dir in [out, space.path("state")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

fn assert_complete_or_absent(out: &Path) {
    if !out.exists() {
        return;
    }
    let manifest = read_json(&out.join("manifest.json"));
    for (name, sha) in manifest["outputs"].as_object().unwrap() {
        let bytes = std::fs::read(out.join(name))
            .unwrap_or_else(|_| panic!("{name} missing from a published set"));
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            sha.as_str().unwrap(),
            "{name} does not match its manifest"
        );
    }
}

#[test]
fn sigkill_at_any_point_leaves_the_old_complete_set_or_none() {
    let space = Space::new();
    let data = space.path("gen");
    generate(&data, 30000, 5, &[]);
    let job = data.join("job.toml");
    let out = space.path("published");
    let run = || {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("rollmatch"));
        c.args(["run", "--quiet", "--out"]).arg(&out).arg(&job);
        c
    };
    // Killed before any output exists: none or complete.
    for delay in [50u64, 400] {
        let mut child = run().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        assert_complete_or_absent(&out);
    }
    assert!(run().status().unwrap().success());
    let first = std::fs::read(out.join("flags.csv")).unwrap();
    // Killed while replacing a complete set: the old set stays whole.
    for delay in [100u64, 700, 2000, 3500, 4500, 5500] {
        let mut child = run().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            out.exists(),
            "killed after {delay} ms: the previous output vanished"
        );
        assert_complete_or_absent(&out);
    }
    assert!(
        run().status().unwrap().success(),
        "a rerun after kills succeeds"
    );
    assert_eq!(std::fs::read(out.join("flags.csv")).unwrap(), first);
    let stray: Vec<String> = std::fs::read_dir(space.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".rollmatch-"))
        .collect();
    assert!(
        stray.is_empty(),
        "staging directories of killed runs were not cleaned: {stray:?}"
    );
}

#[test]
fn a_roll_that_shrank_too_much_stops_the_run_unless_allowed() {
    let space = Space::new();
    let job = space.luoyang_job();
    // Q3's 低保 roll cut to its first 20 rows: most households "left".
    let dir = space.path("cut/2018Q3");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["poor.csv", "deaths.csv", "public_employees.csv"] {
        std::fs::copy(repo("fixtures/luoyang/2018Q3").join(f), dir.join(f)).unwrap();
    }
    let bytes = std::fs::read(repo("fixtures/luoyang/2018Q3/dibao.csv")).unwrap();
    let cut: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').take(21).collect();
    std::fs::write(dir.join("dibao.csv"), cut.concat()).unwrap();
    std::fs::create_dir_all(space.path("cut/2018Q2")).unwrap();
    for f in [
        "dibao.csv",
        "poor.csv",
        "deaths.csv",
        "public_employees.csv",
    ] {
        std::fs::copy(
            repo("fixtures/luoyang/2018Q2").join(f),
            space.path("cut/2018Q2").join(f),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&job).unwrap().replace(
        &repo("fixtures/luoyang").display().to_string(),
        &space.path("cut").display().to_string(),
    );
    std::fs::write(&job, text).unwrap();
    rollmatch()
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(65)
        .stderr(
            predicate::str::contains("max_shrink_ratio")
                .and(predicate::str::contains("--allow-shrink")),
        );
    assert!(!space.out("2018Q3").exists());
    run_ok(&job, &["run", "--quiet", "--allow-shrink"]);
    let s = read_json(&space.out("2018Q3").join("summary.json"));
    assert!(s["flags"]["by_flag"]["dibao_exit"].as_u64().unwrap() > 50);
}

#[test]
fn state_of_another_format_version_is_refused_clearly() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet", "--quarter", "2018Q2"]);
    let marker = space.path("state/2018Q2.state.json");
    let text = std::fs::read_to_string(&marker).unwrap().replace(
        &format!("\"format_version\": {}", rollmatch::history::FORMAT_VERSION),
        "\"format_version\": 99",
    );
    std::fs::write(&marker, text).unwrap();
    rollmatch()
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(65)
        .stderr(
            predicate::str::contains("format version 99")
                .and(predicate::str::contains("2018Q2.state.json")),
        );
}

#[test]
fn a_damaged_state_file_is_refused_clearly() {
    let space = Space::new();
    let job = space.luoyang_job();
    run_ok(&job, &["run", "--quiet", "--quarter", "2018Q2"]);
    let state = space.path("state/2018Q2-poor.rmstate");
    let mut bytes = std::fs::read(&state).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&state, bytes).unwrap();
    rollmatch()
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(65)
        .stderr(
            predicate::str::contains("2018Q2-poor.rmstate")
                .and(predicate::str::contains("SHA-256")),
        );
    // Moved aside, the state is no longer needed: Q-1 comes from its files.
    std::fs::remove_file(space.path("state/2018Q2.state.json")).unwrap();
    run_ok(&job, &["run", "--quiet"]);
    let s = read_json(&space.out("2018Q3").join("summary.json"));
    assert_eq!(s["movements"]["source"], "files");
}

#[test]
fn quarter_previous_means_the_last_completed_quarter() {
    let space = Space::new();
    let job = space.luoyang_job();
    let today = rollmatch::calendar::today_utc();
    let expected = rollmatch::calendar::Quarter::last_completed_before(today);
    // The job has policy for 2018 only, so the run stops at the job file,
    // naming the year of the quarter it derived.
    rollmatch()
        .args(["run", "--quarter", "previous"])
        .arg(&job)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("[policy.years.{}]", expected.year))
                .and(predicate::str::contains(expected.to_string())),
        );
}

#[test]
fn flags_command_prints_the_whole_catalog() {
    let out = rollmatch().arg("flags").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for def in rollmatch::checks::CATALOG.iter() {
        assert!(
            text.contains(def.code) && text.contains(def.label),
            "{}",
            def.code
        );
    }
}

#[test]
fn sigkill_at_each_stage_boundary_keeps_output_and_state_whole() {
    for point in rollmatch::faults::POINTS {
        let space = Space::new();
        let job = space.luoyang_job();
        // A complete Q2 set and state exist before the killed Q3 run.
        run_ok(&job, &["run", "--quiet", "--quarter", "2018Q2"]);
        let out = rollmatch()
            .env("ROLLMATCH_FAULT_KILL", point)
            .args(["run", "--quiet"])
            .arg(&job)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point}: the hook kills the run"
        );
        let q3 = space.out("2018Q3");
        match point {
            "read" | "checked" | "staged" => {
                assert!(!q3.exists(), "{point}: nothing published")
            }
            _ => assert_complete_or_absent(&q3),
        }
        assert!(q3.exists() || ["read", "checked", "staged"].contains(&point));
        assert_complete_or_absent(&space.out("2018Q2"));
        // Q3's state is complete only once its marker exists.
        assert!(
            !space.path("state/2018Q3.state.json").exists(),
            "{point}: no half state"
        );
        run_ok(&job, &["run", "--quiet"]);
        let s = read_json(&space.out("2018Q3").join("summary.json"));
        assert_eq!(s["movements"]["source"], "state", "{point}");
        assert!(space.path("state/2018Q3.state.json").exists());
        let stray: Vec<String> = std::fs::read_dir(space.path("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{point}: {stray:?}");
    }
}

/// A large roll's state is written before its flags are sorted, while
/// memory is low, not beside the reports (issue #7): a run killed as its
/// flags are about to be sorted has already written both state files
/// whole (not yet in place), byte for byte what a whole run saves.
#[test]
fn a_large_rolls_state_is_written_before_the_flags_are_sorted() {
    let state_files = ["2018Q3-dibao.rmstate", "2018Q3-poor.rmstate"];
    let whole = Space::new();
    let job = whole.luoyang_job();
    rollmatch()
        .env("ROLLMATCH_LARGE_ROLL_BYTES", "0")
        .args(["run", "--quiet"])
        .arg(&job)
        .assert()
        .code(0);
    let killed = Space::new();
    let job = killed.luoyang_job();
    let out = rollmatch()
        .env("ROLLMATCH_LARGE_ROLL_BYTES", "0")
        .env("ROLLMATCH_FAULT_KILL", "checked")
        .args(["run", "--quiet"])
        .arg(&job)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "the hook kills the run");
    for f in state_files {
        let written = std::fs::read(killed.path(&format!("state/{f}.tmp")))
            .unwrap_or_else(|e| panic!("{f} is not written before the sort: {e}"));
        assert!(
            written == std::fs::read(whole.path(&format!("state/{f}"))).unwrap(),
            "{f} is not whole before the sort"
        );
    }
    assert!(!killed.path("state/2018Q3.state.json").exists());
}

#[test]
fn the_analyst_guide_carries_the_current_flag_catalog() {
    let guide = std::fs::read_to_string(repo("docs/analyst-guide.zh.md")).unwrap();
    let head = std::fs::read_to_string(repo("docs/analyst-guide.head.zh.md")).unwrap();
    let out = rollmatch().args(["flags", "--markdown"]).output().unwrap();
    let catalog = String::from_utf8(out.stdout).unwrap();
    assert!(
        guide == format!("{head}{catalog}"),
        "docs/analyst-guide.zh.md is stale: run scripts/make-analyst-guide.sh"
    );
}

#[test]
fn a_real_concurrent_second_run_exits_75() {
    let space = Space::new();
    let data = space.path("gen");
    generate(&data, 30000, 6, &[]);
    let job = data.join("job.toml");
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("rollmatch"))
        .args(["run", "--quiet"])
        .arg(&job)
        .spawn()
        .unwrap();
    // Wait until the first run has taken the lock (it writes its pid there).
    let lock = data.join("state-csv/rollmatch.lock");
    let pid = format!("pid {}", first.id());
    let held = (0..1500).any(|_| {
        let seen = std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&pid));
        if !seen {
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    });
    assert!(held, "the first run never took the lock");
    let second = rollmatch()
        .args(["run", "--quiet"])
        .arg(&job)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(75), "{err}");
    assert!(err.contains(&pid), "names the holder: {err}");
    assert!(
        first.wait().unwrap().success(),
        "the first run is undisturbed"
    );
}

/// A full disk while the workbook is written. The operator gets the
/// contract's exit 73 and one line naming the cause, not "internal error"
/// (exit 70) or an abort (exit 134, seen once on a full disk, when the
/// workbook library of the time panicked on its temporary files). The
/// disk is made "full" for the run alone by a file size limit: writes past
/// 4 MB fail with EFBIG (SIGXFSZ ignored), and the workbook of 30,000
/// households is larger than that.
#[test]
fn a_workbook_that_cannot_be_written_exits_73_with_one_line() {
    use std::os::unix::process::CommandExt;
    let space = Space::new();
    let data = space.path("gen");
    generate(&data, 30000, 6, &[]);
    let job = data.join("job.toml");
    let mut run = std::process::Command::new(assert_cmd::cargo::cargo_bin("rollmatch"));
    run.args(["run", "--quiet"]).arg(&job);
    // SAFETY: between fork and exec the closure calls only setrlimit and
    // signal, which are async-signal-safe, and allocates nothing.
    unsafe {
        run.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 20,
                rlim_max: 4 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = run.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(73), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert!(!space.path("gen/state-csv/2018Q3.state.json").exists());
}
