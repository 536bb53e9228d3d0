//! The flag catalog as text: `rollmatch flags` and the flag section of the
//! analyst guide, both printed from [`crate::checks::CATALOG`].

use std::fmt::Write as _;

use crate::checks::CATALOG;
use crate::report::labels::{kind_label, severity_label};

pub fn plain() -> String {
    let mut s = String::new();
    for d in CATALOG.iter() {
        let _ = writeln!(
            s,
            "{:<22} {}  [{} · {}]",
            d.code,
            d.label,
            d.kind.code(),
            d.severity.code()
        );
        let _ = writeln!(s, "    unit: {}", d.unit);
        let _ = writeln!(s, "    rule: {}", d.rule);
        let _ = writeln!(s, "    why:  {}", d.why);
        let _ = writeln!(s, "    e.g.: {}", d.example);
    }
    s
}

/// The guide's flag section, in Chinese.
pub fn markdown() -> String {
    let mut s =
        String::from("| 代码 | 名称 | 类别 | 严重程度 | 对象 |\n| --- | --- | --- | --- | --- |\n");
    for d in CATALOG.iter() {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            d.code,
            d.label,
            kind_label(d.kind),
            severity_label(d.severity),
            d.unit
        );
    }
    for d in CATALOG.iter() {
        let _ = write!(
            s,
            "\n### {}({})\n\n- **触发条件**:{}\n- **为什么重要**:{}\n- **详情示例**:{}\n",
            d.label, d.code, d.rule, d.why, d.example
        );
    }
    s
}
