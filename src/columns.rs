//! Column names: the input headers of contract §2 (Chinese name and
//! English alias) and the output columns of §5, each written once here.

/// One input column: its Chinese header, its English alias, whether a row
/// without it is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputColumn {
    pub zh: &'static str,
    pub en: &'static str,
    pub required: bool,
    /// A number of its own below [`INPUT_SLOTS`], so that a row parser
    /// finds a cell by index (finding it by comparing names was about
    /// 250 string comparisons per row).
    pub slot: u8,
}

/// How many input columns there are: one past the largest `slot`.
pub const INPUT_SLOTS: usize = 23;

const fn req(slot: u8, zh: &'static str, en: &'static str) -> InputColumn {
    InputColumn {
        zh,
        en,
        required: true,
        slot,
    }
}
const fn opt(slot: u8, zh: &'static str, en: &'static str) -> InputColumn {
    InputColumn {
        zh,
        en,
        required: false,
        slot,
    }
}

pub const REGION_CODE: InputColumn = req(0, "区划代码", "region_code");
pub const HOUSEHOLD_ID: InputColumn = req(1, "户编号", "household_id");
pub const NAME: InputColumn = req(2, "姓名", "name");
pub const ID_NUMBER: InputColumn = req(3, "身份证号", "id_number");
pub const RELATION: InputColumn = req(4, "与户主关系", "relation");
pub const CATEGORY: InputColumn = opt(5, "保障类别", "category");
pub const MONTHLY_BENEFIT: InputColumn = req(6, "月保障金", "monthly_benefit");
pub const MONTHLY_INCOME: InputColumn = req(7, "家庭月人均收入", "monthly_income");
pub const ENROLLED_ON: InputColumn = opt(8, "纳入日期", "enrolled_on");
pub const HOUSEHOLD_TYPE: InputColumn = req(9, "贫困户属性", "household_type");
pub const STATUS: InputColumn = req(10, "贫困户状态", "status");
pub const EXIT_YEAR: InputColumn = opt(11, "脱贫年度", "exit_year");
pub const CAUSE: InputColumn = opt(12, "主要致贫原因", "cause");
pub const ANNUAL_INCOME: InputColumn = req(13, "人均纯收入", "annual_income");
pub const LABOR: InputColumn = req(14, "劳动技能", "labor");
pub const HEALTH: InputColumn = req(15, "健康状况", "health");
pub const SCHOOLING: InputColumn = opt(16, "在校生状况", "schooling");
pub const MEDICAL_INSURED: InputColumn = req(17, "参加城乡居民基本医疗保险", "medical_insured");
pub const HOUSING_SAFE: InputColumn = req(18, "住房安全", "housing_safe");
pub const WATER_SAFE: InputColumn = req(19, "饮水安全", "water_safe");
pub const DEATH_DATE: InputColumn = req(20, "死亡日期", "death_date");
pub const OPTIONAL_NAME: InputColumn = opt(21, "姓名", "name");
pub const EMPLOYER: InputColumn = opt(22, "工作单位", "employer");

pub const DIBAO_COLUMNS: &[InputColumn] = &[
    REGION_CODE,
    HOUSEHOLD_ID,
    NAME,
    ID_NUMBER,
    RELATION,
    CATEGORY,
    MONTHLY_BENEFIT,
    MONTHLY_INCOME,
    ENROLLED_ON,
];

pub const POOR_COLUMNS: &[InputColumn] = &[
    REGION_CODE,
    HOUSEHOLD_ID,
    NAME,
    ID_NUMBER,
    RELATION,
    HOUSEHOLD_TYPE,
    STATUS,
    EXIT_YEAR,
    CAUSE,
    ANNUAL_INCOME,
    LABOR,
    HEALTH,
    SCHOOLING,
    MEDICAL_INSURED,
    HOUSING_SAFE,
    WATER_SAFE,
];

pub const DEATHS_COLUMNS: &[InputColumn] = &[ID_NUMBER, DEATH_DATE, OPTIONAL_NAME];

pub const PUBLIC_EMPLOYEES_COLUMNS: &[InputColumn] = &[ID_NUMBER, OPTIONAL_NAME, EMPLOYER];

/// Output columns of `flags.csv` / `flags.parquet`, in order (contract §5).
pub const FLAG_COLUMNS: [&str; 13] = [
    "quarter",
    "flag",
    "label",
    "kind",
    "severity",
    "county_code",
    "township_code",
    "village_code",
    "dibao_household_id",
    "poor_household_id",
    "person_id",
    "name",
    "detail",
];

/// The optional pseudonym column appended when a token key is configured.
pub const PERSON_TOKEN: &str = "person_token";

/// Output columns of `households.csv` / `households.parquet`, in order.
pub const HOUSEHOLD_COLUMNS: [&str; 13] = [
    "quarter",
    "poor_household_id",
    "county_code",
    "township_code",
    "village_code",
    "status",
    "household_type",
    "members",
    "annual_income",
    "dibao_household_ids",
    "flags",
    "score",
    "tier",
];

/// Columns of `rejects.csv`.
pub const REJECT_COLUMNS: [&str; 5] = ["file", "line", "column", "reason", "record"];
