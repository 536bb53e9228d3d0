//! Every Chinese word analysts read in the workbook and the page, in one
//! place: a wording change is one edit here.

use crate::flags::{Kind, Severity};

pub const SHEET_OVERVIEW: &str = "概览";
pub const SHEET_HOUSEHOLDS: &str = "风险户";

/// The sheet (and section) name of a flag kind.
pub fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Mismatch => "两册不符",
        Kind::Quality => "数据质量",
        Kind::Movement => "动态变化",
        Kind::Risk => "返贫风险",
        Kind::Audit => "稽核",
        Kind::Policy => "政策标准",
    }
}

pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::High => "高",
        Severity::Medium => "中",
        Severity::Low => "低",
        Severity::Info => "提示",
    }
}

/// Chinese header of an output column.
pub fn header(column: &str) -> &'static str {
    match column {
        "quarter" => "季度",
        "flag" => "标记代码",
        "label" => "标记名称",
        "kind" => "类别",
        "severity" => "严重程度",
        "county_code" => "县区代码",
        "township_code" => "乡镇代码",
        "village_code" => "村代码",
        "dibao_household_id" => "低保户编号",
        "poor_household_id" => "建档立卡户编号",
        "person_id" => "身份证号",
        "name" => "姓名",
        "detail" => "详情",
        "person_token" => "人员令牌",
        "status" => "贫困户状态",
        "household_type" => "贫困户属性",
        "members" => "家庭人口",
        "annual_income" => "人均纯收入(元)",
        "dibao_household_ids" => "关联低保户编号",
        "flags" => "标记",
        "score" => "风险分",
        "tier" => "风险等级",
        _ => "",
    }
}

pub const TITLE: &str = "低保与建档立卡数据比对报告";
pub const KEY_FIGURES: &str = "主要数字";
pub const JOB: &str = "任务";
pub const QUARTER: &str = "季度";
pub const DIBAO_HOUSEHOLDS: &str = "低保户数";
pub const DIBAO_PERSONS: &str = "低保人数";
pub const POOR_HOUSEHOLDS: &str = "建档立卡户数";
pub const POOR_PERSONS: &str = "建档立卡人数";
pub const EXACT_MATCHES: &str = "按身份证号精确匹配人数";
pub const PROBABLE_MATCHES: &str = "疑似号码录入错误匹配人数";
pub const LINKED_PAIRS: &str = "关联户对数";
pub const FLAGS_TOTAL: &str = "标记总数";
pub const REJECTS: &str = "拒收记录数";
pub const HIGH_RISK: &str = "高风险户数";
pub const BY_KIND: &str = "按类别";
pub const BY_SEVERITY: &str = "按严重程度";
pub const BY_FLAG: &str = "按标记";
pub const BY_COUNTY: &str = "按县区";
pub const MOVEMENTS: &str = "有进有出";
pub const MOVEMENTS_SKIPPED: &str = "本次未做季度对比";
pub const TRANSITIONS: &str = "两册状态变化(人数,上季度→本季度)";
pub const SCORE_DISTRIBUTION: &str = "风险分分布";
pub const TOP_HOUSEHOLDS: &str = "高风险户(前50户)";
pub const COUNTY: &str = "县区代码";
pub const TOTAL: &str = "合计";
pub const ITEM: &str = "项目";
pub const VALUE: &str = "数值";
pub const PREVIOUS: &str = "上季度";
pub const COUNT: &str = "数量";
/// Appended where a cell was cut to Excel's 32,767 characters.
pub const TRUNCATED: &str = "…(内容过长,已截断,完整内容见 CSV)";
