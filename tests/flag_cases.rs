//! Each rule fires where it should and not one step short of it: values
//! exactly at strict thresholds, twins with consecutive numbers, an
//! exited household already covered by 低保.

use std::collections::BTreeSet;

use rollmatch::identity::check_char;

use crate::util::*;

fn id(body17: &str) -> String {
    format!("{body17}{}", char::from(check_char(body17.as_bytes())))
}

const V: &str = "410322102203";
const POOR_H: &str = "区划代码,户编号,姓名,身份证号,与户主关系,贫困户属性,贫困户状态,脱贫年度,主要致贫原因,人均纯收入,劳动技能,健康状况,在校生状况,参加城乡居民基本医疗保险,住房安全,饮水安全";
const DIBAO_H: &str =
    "区划代码,户编号,姓名,身份证号,与户主关系,保障类别,月保障金,家庭月人均收入,纳入日期";

fn poor(hh: &str, name: &str, id: &str, status: &str, income: &str, labor: &str) -> String {
    let kind = if hh == "P5" {
        "低保贫困户"
    } else {
        "一般贫困户"
    };
    format!(
        "{V},{hh},{name},{id},户主,{kind},{status},,因病,{income},{labor},健康,非在校生,是,是,是"
    )
}

fn dibao(hh: &str, name: &str, id: &str, monthly_income: &str) -> String {
    format!("{V},{hh},{name},{id},户主,一类,500,{monthly_income},")
}

/// Runs the scenario and returns the (flag, dibao id, poor id) of every flag.
fn scenario() -> BTreeSet<(String, String, String)> {
    let twin_a = id("41032220080808001");
    let twin_b = id("41032220080808003");
    let sun = id("41032219700101009");
    let mut sun_typo = sun.clone().into_bytes();
    sun_typo.swap(10, 11); // 0101 → 1001 stays a date? swap month digits 0,1 → "10": October 01
    let sun_typo = String::from_utf8(sun_typo).unwrap();
    let linked = id("41032219500202002");
    let poor_rows = [
        poor(
            "P1",
            "甲一",
            &id("41032219600101011"),
            "未脱贫",
            "3449.99",
            "普通劳动力",
        ),
        poor(
            "P2",
            "乙二",
            &id("41032219600101021"),
            "未脱贫",
            "3450",
            "普通劳动力",
        ),
        poor(
            "P3",
            "丙三",
            &id("41032219600101031"),
            "已脱贫",
            "4811.99",
            "普通劳动力",
        ),
        poor(
            "P4",
            "丁四",
            &id("41032219600101041"),
            "已脱贫",
            "4812",
            "普通劳动力",
        ),
        poor("P5", "戊五", &linked, "已脱贫", "5000", "丧失劳动力"),
        poor(
            "P6",
            "己六",
            &id("41032219600101061"),
            "已脱贫",
            "5000",
            "丧失劳动力",
        ),
        poor("P7", "王大", &twin_a, "已脱贫", "9000", "普通劳动力"),
        poor("P8", "孙八", &sun, "已脱贫", "9000", "普通劳动力"),
    ];
    let dibao_rows = [
        dibao("D1", "子一", &id("41032219800101011"), "267.33"),
        dibao("D2", "子二", &id("41032219800101021"), "267.34"),
        dibao("D3", "子三", &id("41032219800101031"), "401"),
        dibao("D5", "戊五", &linked, "300"),
        dibao("D7", "王二", &twin_b, "600"),
        dibao("D8", "孙八", &sun_typo, "600"),
    ];
    let space = Space::new();
    let p = space.write("poor.csv", format!("{POOR_H}\n{}\n", poor_rows.join("\n")));
    let d = space.write(
        "dibao.csv",
        format!("{DIBAO_H}\n{}\n", dibao_rows.join("\n")),
    );
    let job = space.job(&d, &p, "", "");
    run_ok(&job, &["run", "--quiet", "--no-mask"]);
    read_records(&space.out("2018Q3").join("flags.csv"))
        .into_iter()
        .map(|r| {
            (
                r["flag"].clone(),
                r["dibao_household_id"].clone(),
                r["poor_household_id"].clone(),
            )
        })
        .collect()
}

fn has(flags: &BTreeSet<(String, String, String)>, flag: &str, d: &str, p: &str) -> bool {
    flags.contains(&(flag.to_owned(), d.to_owned(), p.to_owned()))
}

#[test]
fn thresholds_fire_below_and_not_at_the_line() {
    let f = scenario();
    assert!(
        has(&f, "should_cover", "", "P1"),
        "income 3449.99 < std 3450"
    );
    assert!(
        !has(&f, "should_cover", "", "P2"),
        "income exactly at std is covered"
    );
    assert!(has(&f, "unstable_exit", "", "P3"));
    assert!(
        !has(&f, "unstable_exit", "", "P4"),
        "income exactly at the watch line"
    );
    assert!(
        has(&f, "should_support", "D1", ""),
        "267.33 × 12 = 3207.96 < 3208"
    );
    assert!(
        !has(&f, "should_support", "D2", ""),
        "267.34 × 12 = 3208.08"
    );
    assert!(has(&f, "edge_poverty", "D2", ""));
    assert!(
        !has(&f, "edge_poverty", "D3", ""),
        "401 × 12 = 4812 is the watch line itself"
    );
}

#[test]
fn no_labor_needs_no_dibao() {
    let f = scenario();
    assert!(has(&f, "no_labor", "", "P6"));
    assert!(!has(&f, "no_labor", "", "P5"), "already covered by 低保");
    assert!(!has(&f, "should_support", "D5", ""), "linked");
}

#[test]
fn twins_are_not_a_probable_match_but_a_typo_is() {
    let f = scenario();
    assert!(
        !f.iter()
            .any(|(flag, d, p)| flag == "id_conflict" && (d == "D7" || p == "P7")),
        "{f:?}"
    );
    assert!(has(&f, "id_conflict", "D8", "P8"), "{f:?}");
    assert!(has(&f, "invalid_id", "D8", ""));
    assert!(
        !has(&f, "should_support", "D8", ""),
        "a probable pair links the households"
    );
}

#[test]
fn an_excel_truncated_number_is_recovered_from_the_other_roll() {
    // A number whose Excel-truncated copy fails the check (for 1 in 11
    // numbers the copy is itself valid, and then nothing is wrong to find).
    let end = rollmatch::calendar::Date::new(2018, 9, 30).unwrap();
    let (whole, damaged) = (1..10)
        .map(|seq| id(&format!("41032219881123{seq}01")))
        .map(|w| {
            let d = format!("{}000", &w[..15]);
            (w, d)
        })
        .find(|(_, d)| rollmatch::identity::check_id(d, end).verdict.is_err())
        .unwrap();
    let space = Space::new();
    let p = space.write(
        "poor.csv",
        format!(
            "{POOR_H}\n{}\n",
            poor("P9", "赵十", &whole, "未脱贫", "2000", "普通劳动力")
        ),
    );
    let d = space.write(
        "dibao.csv",
        format!("{DIBAO_H}\n{}\n", dibao("D9", "赵十", &damaged, "150")),
    );
    let job = space.job(&d, &p, "", "");
    run_ok(&job, &["run", "--quiet"]);
    let flags = read_records(&space.out("2018Q3").join("flags.csv"));
    let conflict = flags
        .iter()
        .find(|f| f["flag"] == "id_conflict")
        .expect("id_conflict");
    assert_eq!(
        (
            conflict["dibao_household_id"].as_str(),
            conflict["poor_household_id"].as_str()
        ),
        ("D9", "P9")
    );
    assert!(
        conflict["detail"].contains("Excel") && conflict["detail"].contains("置信度"),
        "{}",
        conflict["detail"]
    );
    assert!(
        !flags
            .iter()
            .any(|f| f["flag"] == "should_cover" || f["flag"] == "should_support"),
        "linked, so covered"
    );
    let s = read_json(&space.out("2018Q3").join("summary.json"));
    assert_eq!(
        s["matches"]["probable"], 0,
        "the contract's count stays the rule's"
    );
    assert_eq!(s["matches"]["excel_recovered"], 1);
}

/// A number whose birth date falls after Q-1's end is invalid in Q-1 and
/// valid in Q; it is still one person in the transition table.
#[test]
fn a_number_valid_only_in_q_is_one_person_across_quarters() {
    let baby = id("41032220180801001"); // born after 2018Q2 ended
    let grandma = id("41032219400101002");
    let farmer = id("41032219700101003");
    let space = Space::new();
    for q in ["2018Q2", "2018Q3"] {
        space.write(
            &format!("{q}/dibao.csv"),
            format!(
                "{DIBAO_H}\n{}\n{}\n",
                dibao("D1", "孙奶奶", &grandma, "200"),
                dibao("D1", "孙宝宝", &baby, "200")
            ),
        );
        space.write(
            &format!("{q}/poor.csv"),
            format!(
                "{POOR_H}\n{}\n",
                poor("P1", "赵农", &farmer, "未脱贫", "3000", "普通劳动力")
            ),
        );
    }
    let job = space.job(
        &space.path("{quarter}/dibao.csv"),
        &space.path("{quarter}/poor.csv"),
        "",
        "",
    );
    run_ok(&job, &["run", "--quiet"]);
    let summary = read_json(&space.out("2018Q3").join("summary.json"));
    let total = &summary["movements"]["transitions"]["total"];
    assert_eq!(total["dibao_only"]["dibao_only"], 2, "{total}");
    assert_eq!(total["poor_only"]["poor_only"], 1, "{total}");
    assert!(total.get("neither").is_none(), "{total}");
    assert!(total["dibao_only"].get("neither").is_none(), "{total}");
}
