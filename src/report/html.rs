//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! no network, no external font) with the key figures, flag counts by
//! flag and by county, the 有进有出 table, the score distribution and the
//! top high-risk households. Its numbers are read from the summary, so
//! the page and `summary.json` cannot disagree.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::checks::CATALOG;
use crate::dynamics::RollState;
use crate::error::Result;
use crate::files::{Syncs, write_private_syncing};
use crate::job::Job;
use crate::pipeline::Analysis;

use super::labels as zh;

use super::escape_markup as esc;

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A horizontal bar chart as inline SVG.
fn bars(items: &[(String, u64)], color: &str) -> String {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row_h = 22;
    let height = items.len() * row_h + 4;
    let mut svg = format!(
        r#"<svg class="chart" role="img" width="720" height="{height}" viewBox="0 0 720 {height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let y = i * row_h + 2;
        let w = (*v as f64 / max as f64 * 420.0).round() as u64;
        let _ = write!(
            svg,
            r#"<text x="236" y="{ty}" text-anchor="end" font-size="13">{label}</text><rect x="244" y="{y}" width="{w}" height="16" fill="{color}"/><text x="{tx}" y="{ty}" font-size="12">{v}</text>"#,
            ty = y + 13,
            label = esc(label),
            tx = 248 + w,
        );
    }
    svg.push_str("</svg>");
    svg
}

pub fn render(job: &Job, s: &Value, analysis: &Analysis) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("{} · {} · {}", zh::TITLE, job.name, job.quarter);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>
body{{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1100px}}
h1{{font-size:22px}} h2{{font-size:18px;border-bottom:2px solid #4472c4;padding-bottom:4px;margin-top:28px}}
table{{border-collapse:collapse;margin:8px 0}} td,th{{border:1px solid #bbb;padding:4px 8px;font-size:13px}}
th{{background:#ddebf7}} td.n{{text-align:right}} .figs td:first-child{{background:#f4f4f4}}
.t高{{background:#f8cbad}} .t中{{background:#ffe699}} .t低{{background:#c6efce}}
</style></head><body>
<h1>{t}</h1>
"#,
        t = esc(&title)
    );

    let _ = write!(
        h,
        "<h2>{}</h2><table class=\"figs\" id=\"key-figures\">",
        zh::KEY_FIGURES
    );
    let figures: [(&str, &Value); 9] = [
        (zh::DIBAO_HOUSEHOLDS, &s["rolls"]["dibao"]["households"]),
        (zh::DIBAO_PERSONS, &s["rolls"]["dibao"]["persons"]),
        (zh::POOR_HOUSEHOLDS, &s["rolls"]["poor"]["households"]),
        (zh::POOR_PERSONS, &s["rolls"]["poor"]["persons"]),
        (zh::EXACT_MATCHES, &s["matches"]["exact"]),
        (zh::PROBABLE_MATCHES, &s["matches"]["probable"]),
        (zh::FLAGS_TOTAL, &s["flags"]["total"]),
        (zh::HIGH_RISK, &s["risk"]["tiers"]["高"]),
        (zh::REJECTS, &s["rejects"]),
    ];
    for (label, v) in figures {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\" data-figure=\"{}\">{}</td></tr>",
            label,
            label,
            num(v)
        );
    }
    h.push_str("</table>");

    let _ = write!(h, "<h2>{}</h2>", zh::BY_FLAG);
    let flag_items: Vec<(String, u64)> = CATALOG
        .iter()
        .map(|d| (d.label.to_owned(), num(&s["flags"]["by_flag"][d.code])))
        .filter(|(_, v)| *v > 0)
        .collect();
    h.push_str(&bars(&flag_items, "#4472c4"));
    h.push_str(
        "<table id=\"by-flag\"><tr><th>代码</th><th>标记</th><th>严重程度</th><th>数量</th></tr>",
    );
    for d in CATALOG.iter() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\" data-flag=\"{}\">{}</td></tr>",
            d.code,
            d.label,
            zh::severity_label(d.severity),
            d.code,
            num(&s["flags"]["by_flag"][d.code])
        );
    }
    h.push_str("</table>");

    let _ = write!(h, "<h2>{}</h2>", zh::BY_COUNTY);
    let mut county_items: Vec<(String, u64)> = Vec::new();
    h.push_str("<table id=\"by-county\"><tr><th>县区</th><th>标记数</th></tr>");
    if let Some(counties) = s["flags"]["by_county"].as_object() {
        for (code, counts) in counties {
            let total: u64 = counts
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, v)| num(v))
                .sum();
            let shown = if code.is_empty() {
                "—".to_owned()
            } else {
                crate::divisions::county_label(code)
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&shown),
                total
            );
            county_items.push((shown, total));
        }
    }
    h.push_str("</table>");
    h.push_str(&bars(&county_items, "#70ad47"));

    let _ = write!(h, "<h2>{}</h2>", zh::MOVEMENTS);
    match &s["movements"] {
        Value::Object(m) => {
            h.push_str("<table id=\"movements\"><tr><th>标记</th><th>数量</th></tr>");
            if let Some(counts) = m["counts"].as_object() {
                for (code, v) in counts {
                    let label = crate::checks::lookup(code).map(|d| d.label).unwrap_or("");
                    let _ = write!(
                        h,
                        "<tr><td>{label}</td><td class=\"n\" data-flag=\"{code}\">{}</td></tr>",
                        num(v)
                    );
                }
            }
            h.push_str("</table>");
            let _ = write!(
                h,
                "<p>{}</p><table id=\"transitions\"><tr><th>{}\\本季度</th>",
                zh::TRANSITIONS,
                zh::PREVIOUS
            );
            for to in RollState::ALL {
                let _ = write!(h, "<th>{}</th>", to.label());
            }
            h.push_str("</tr>");
            for from in RollState::ALL {
                let _ = write!(h, "<tr><th>{}</th>", from.label());
                for to in RollState::ALL {
                    let _ = write!(
                        h,
                        "<td class=\"n\">{}</td>",
                        num(&m["transitions"]["total"][from.code()][to.code()])
                    );
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
        }
        _ => {
            let _ = write!(
                h,
                "<p id=\"movements\">{}:{}</p>",
                zh::MOVEMENTS_SKIPPED,
                esc(s["movements_skipped_reason"].as_str().unwrap_or(""))
            );
        }
    }

    let _ = write!(h, "<h2>{}</h2>", zh::SCORE_DISTRIBUTION);
    let hist: Vec<(String, u64)> = s["risk"]["score_histogram"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (format!("{k} 分"), num(v)))
        .collect();
    h.push_str(&bars(&hist, "#ed7d31"));

    let _ = write!(
        h,
        "<h2>{}</h2><table id=\"top-households\"><tr>",
        zh::TOP_HOUSEHOLDS
    );
    for c in [
        "poor_household_id",
        "county_code",
        "status",
        "members",
        "annual_income",
        "score",
        "tier",
        "flags",
    ] {
        let _ = write!(h, "<th>{}</th>", zh::header(c));
    }
    h.push_str("</tr>");
    for row in analysis
        .households
        .rows
        .iter()
        .filter(|r| r.score > 0)
        .take(50)
    {
        let labels: Vec<&str> = row.flags.defs().map(|d| d.label).collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"t{}\">{}</td><td>{}</td></tr>",
            esc(&row.poor_household_id),
            row.region.county(),
            row.status_name(),
            row.members,
            row.annual_income,
            row.score,
            row.tier(),
            row.tier(),
            esc(&labels.join("、"))
        );
    }
    h.push_str("</table>\n<p style=\"color:#777;font-size:12px\">rollmatch ");
    h.push_str(env!("CARGO_PKG_VERSION"));
    h.push_str("</p></body></html>\n");
    h
}

/// Write the page to `path`, its fsync left to `syncs`; its SHA-256.
pub fn write_page(
    path: &Path,
    job: &Job,
    summary: &Value,
    analysis: &Analysis,
    syncs: &Syncs,
) -> Result<String> {
    write_private_syncing(path, render(job, summary, analysis).as_bytes(), syncs)
}
