//! The generator's world: families in real Luoyang villages (or in
//! villages of every county of China), their people, their places on the
//! two rolls, how they change from quarter to quarter, and the anomalies
//! planted in how the rolls record them.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;

use crate::calendar::{Date, Quarter, days_in_month};
use crate::identity::{check_char, check_id};
use crate::model::Text;
use crate::model::{Health, HouseholdType, Labor, Status};

use super::rng::Rng;

const DIVISIONS: &str = include_str!("../../data/luoyang_divisions.csv");
const COUNTIES: &str = include_str!("../../data/county_codes_history.csv");

/// Where the generated families live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Geography {
    /// Luoyang's 2,384 rural villages (村民委员会): the fixtures' world,
    /// and the benchmark's by default.
    #[default]
    Luoyang,
    /// The 2,831 county codes of China in 2018, each with the villages of
    /// one of Luoyang's 11 village-holding counties under its own code
    /// (613,082 villages; two of those counties have only 1 and 4, so about
    /// one county in six is nearly empty): a national roll's spread. At
    /// 10 M households in Luoyang's counties, a county holds more
    /// households than any real one, and the probable-match blocks
    /// (county, name) grow with it (issue #7).
    China,
}

/// A rural village with its 2018 codes.
#[derive(Clone, Debug)]
pub struct Village {
    pub code: String,
}

impl Village {
    pub fn county(&self) -> &str {
        &self.code[..6]
    }
}

/// The villages of `geography`.
pub fn villages(geography: Geography) -> Vec<Village> {
    match geography {
        Geography::Luoyang => luoyang_villages(),
        Geography::China => china_villages(),
    }
}

/// Rural villages of Luoyang under their 2018 county codes.
fn luoyang_villages() -> Vec<Village> {
    DIVISIONS
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let (code, name, level) = (f.next()?, f.next()?, f.next()?);
            if level != "village" || !name.ends_with("村民委员会") || &code[4..5] == "7" {
                return None;
            }
            let code = match &code[..6] {
                "410308" => format!("410322{}", &code[6..]),
                "410307" => format!("410381{}", &code[6..]),
                _ => code.to_owned(),
            };
            Some(Village { code })
        })
        .collect()
}

/// County-level codes in use through 2018 (first seen by mid-2018, still
/// used at its end), without the 市辖区 placeholders and the
/// statistics-only zones (fifth digit 7), each given the villages of one
/// of Luoyang's counties, in turn, under its own code.
fn china_villages() -> Vec<Village> {
    let luoyang = luoyang_villages();
    let mut by_county: Vec<(&str, Vec<&str>)> = Vec::new();
    for v in &luoyang {
        match by_county.last_mut() {
            Some((c, suffixes)) if *c == v.county() => suffixes.push(&v.code[6..]),
            _ => by_county.push((v.county(), vec![&v.code[6..]])),
        }
    }
    let mut villages = Vec::new();
    let counties = COUNTIES.lines().skip(1).filter_map(|l| {
        let mut f = l.split(',');
        let (code, names, first, last) = (f.next()?, f.next()?, f.next()?, f.next()?);
        let in_2018 = first <= "201806" && (last == "2023" || last >= "201812");
        let county_level = !code.ends_with("00") && &code[4..5] != "7";
        (in_2018 && county_level && !names.ends_with("市辖区")).then_some(code)
    });
    for (k, county) in counties.enumerate() {
        for suffix in &by_county[k % by_county.len()].1 {
            villages.push(Village {
                code: format!("{county}{suffix}"),
            });
        }
    }
    villages
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹",
    "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛",
    "叶", "阎", "余", "潘", "杜", "戴", "夏", "钟", "汪", "田", "任", "姜",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "霞", "平", "刚", "桂", "兰", "晓", "红", "建", "国", "华", "玉", "文", "志",
    "春", "海", "金", "凤", "德", "林", "小", "云", "荣", "新", "永", "宏", "俊", "利", "梅", "琴",
    "亮", "斌", "峰", "燕", "鹏", "辉", "萍", "成", "东", "雪", "宇", "浩",
];
/// Homophones and variants a clerk might type instead.
const VARIANTS: &[(&str, &str)] = &[
    ("晓", "小"),
    ("明", "铭"),
    ("丽", "莉"),
    ("华", "化"),
    ("军", "君"),
    ("伟", "玮"),
    ("芳", "方"),
    ("静", "靜"),
    ("红", "宏"),
    ("国", "囯"),
];
const CAUSES: &[&str] = &[
    "因病",
    "因残",
    "因学",
    "因灾",
    "缺土地",
    "缺水",
    "缺技术",
    "缺劳力",
    "缺资金",
    "交通条件落后",
    "自身发展动力不足",
    "其他",
];

/// Texts are [`Text`], inline up to 24 bytes: the world holds millions of
/// persons, and a heap string per field made `gen` need 16.6 GB at 3 M
/// households (issue #7).
#[derive(Clone, Debug)]
pub struct Person {
    pub uid: u64,
    pub name: Text,
    /// The true, valid ID number.
    pub id: Text,
    pub birth: Date,
    pub relation: &'static str,
    pub labor: Labor,
    pub health: Health,
    pub schooling: &'static str,
    pub insured: bool,
    pub death: Option<Date>,
    pub public_employee: bool,
    /// How the rolls write this person where they differ from the truth:
    /// planted in at most one person of a family, in under 5 % of
    /// families (see [`World::plant`]). Three texts in every person were
    /// 72 of its 184 bytes, and at 20 M households `gen` did not fit in
    /// memory (issue #7).
    written: Option<Box<Written>>,
}

/// A person's number or name as a roll writes it, where it is not the
/// true one.
#[derive(Clone, Debug, Default)]
struct Written {
    /// The 低保 roll's number: a planted typo.
    dibao_id: Option<Text>,
    /// The poor roll's number: Excel damage.
    poor_id: Option<Text>,
    /// The 低保 roll's name: a homophone.
    dibao_name: Option<Text>,
}

impl Person {
    /// How the 低保 roll writes the number (a planted typo when it is not
    /// the true one).
    pub fn dibao_id(&self) -> &Text {
        self.written_as(|w| w.dibao_id.as_ref()).unwrap_or(&self.id)
    }

    /// How the poor roll writes the number (Excel damage when it is not
    /// the true one).
    pub fn poor_id(&self) -> &Text {
        self.written_as(|w| w.poor_id.as_ref()).unwrap_or(&self.id)
    }

    /// How the 低保 roll writes the name (a homophone when it is not the
    /// true one).
    pub fn dibao_name(&self) -> &Text {
        self.written_as(|w| w.dibao_name.as_ref())
            .unwrap_or(&self.name)
    }

    fn written_as(&self, field: impl Fn(&Written) -> Option<&Text>) -> Option<&Text> {
        self.written.as_deref().and_then(field)
    }

    fn written_mut(&mut self) -> &mut Written {
        self.written.get_or_insert_with(Default::default)
    }

    /// A new true number, which both rolls write: any planted typo or
    /// Excel damage of the old one goes with it.
    fn renumber(&mut self, id: Text) {
        self.id = id;
        if let Some(w) = self.written.as_deref_mut() {
            w.dibao_id = None;
            w.poor_id = None;
            if w.dibao_name.is_none() {
                self.written = None;
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct PoorRec {
    pub hh_id: Text,
    pub household_type: HouseholdType,
    pub status: Status,
    pub exit_year: Option<i32>,
    pub cause: &'static str,
    /// Annual per-capita income, cents.
    pub income: i64,
    pub housing_safe: bool,
    pub water_safe: bool,
}

#[derive(Clone, Debug)]
pub struct DibaoRec {
    pub hh_id: Text,
    pub category: &'static str,
    /// Monthly benefit of the household, cents.
    pub benefit: i64,
    /// Monthly per-capita income, cents.
    pub income: i64,
    /// The household is registered under another county's village.
    pub region_override: Option<usize>,
    /// A member the 低保 roll leaves out.
    pub omitted: Option<u64>,
    /// A person of another family also listed here (duplicate enrollment).
    pub extra: Option<Box<Person>>,
}

#[derive(Clone, Debug)]
pub struct Family {
    pub uid: u64,
    pub village: usize,
    pub members: Vec<Person>,
    pub poor: Option<PoorRec>,
    pub dibao: Option<DibaoRec>,
}

pub struct World {
    /// Shared by the chunks that populate the world in parallel.
    pub villages: Arc<Vec<Village>>,
    pub families: Vec<Family>,
    pub quarter: Quarter,
    pub seed: u64,
    next_uid: u64,
    /// Every number in use, by [`id_key`].
    ids: HashSet<u64>,
    /// People who died and left the rolls: (ID, death date), for the register.
    pub dead: Vec<(Text, Date)>,
}

/// A generated number as an integer: its first 17 digits (the 18th, the
/// check character, follows from them). The set of numbers in use holds
/// these, 8 bytes each instead of a 24-byte text: one for every person
/// the world ever numbered, tens of millions at 20 M households (issue
/// #7).
fn id_key(id: &str) -> u64 {
    id.bytes().take(17).fold(0, |key, digit| {
        key * 10 + u64::from(digit.wrapping_sub(b'0'))
    })
}

fn make_id(county: &str, birth: Date, seq: u32) -> Text {
    let mut body = format!(
        "{county}{:04}{:02}{:02}{:03}",
        birth.year,
        birth.month,
        birth.day,
        seq % 1000
    );
    let c = check_char(body.as_bytes());
    body.push(char::from(c));
    body.into()
}

fn random_birth(rng: &mut Rng, age: i64, at: Date) -> Date {
    let year = (at.year as i64 - age) as i32;
    let month = rng.range(1, 12) as u32;
    let day = rng.range(1, i64::from(days_in_month(year, month))) as u32;
    let d = Date::new(year, month, day).unwrap_or(Date {
        year,
        month: 1,
        day: 1,
    });
    // Keep the age exact at `at`: a birthday later in the year means one
    // year older by birth year.
    if d > at {
        Date {
            year: year - 1,
            ..d
        }
    } else {
        d
    }
}

fn labor_for(rng: &mut Rng, age: i32) -> Labor {
    if age < 16 {
        return Labor::None;
    }
    let r = rng.below(100);
    if age <= 60 {
        match r {
            0..70 => Labor::Ordinary,
            70..80 => Labor::Skilled,
            80..90 => Labor::Weak,
            90..95 => Labor::Lost,
            _ => Labor::None,
        }
    } else {
        match r {
            0..10 => Labor::Ordinary,
            10..50 => Labor::Weak,
            50..75 => Labor::Lost,
            _ => Labor::None,
        }
    }
}

fn health_for(rng: &mut Rng, age: i32) -> Health {
    let r = rng.below(100);
    let old = age >= 60;
    match r {
        0..4 => Health::SeriousIllness,
        4..8 => Health::Disabled,
        8..20 if old => Health::Chronic,
        8..12 => Health::Chronic,
        _ => Health::Healthy,
    }
}

fn schooling_for(rng: &mut Rng, age: i32) -> &'static str {
    if (6..=15).contains(&age) && rng.chance(0.03) {
        return "失学辍学";
    }
    match age {
        3..=5 => "学前教育",
        6..=11 => "小学",
        12..=14 => "初中",
        15..=17 => {
            if rng.chance(0.5) {
                "高中"
            } else {
                "中职"
            }
        }
        18..=21 if rng.chance(0.3) => "大专及以上",
        _ => "非在校生",
    }
}

fn yuan(y: i64) -> i64 {
    y * 100
}

impl World {
    pub fn new(seed: u64, quarter: Quarter, geography: Geography) -> World {
        World {
            villages: Arc::new(villages(geography)),
            families: Vec::new(),
            quarter,
            seed,
            next_uid: 1,
            ids: HashSet::new(),
            dead: Vec::new(),
        }
    }

    /// The first number of `county` and `birth` not in use, from sequence
    /// `seq` on (same sex: steps of two), now in use.
    fn claim_id(&mut self, county: &str, birth: Date, mut seq: u32) -> Text {
        let mut id = make_id(county, birth, seq);
        while self.ids.contains(&id_key(&id)) {
            seq = (seq + 2) % 1000;
            id = make_id(county, birth, seq);
        }
        self.ids.insert(id_key(&id));
        id
    }

    fn county_of(&self, f: &Family) -> &str {
        self.villages[f.village].county()
    }

    fn person(
        &mut self,
        rng: &mut Rng,
        county: &str,
        surname: &str,
        age: i64,
        relation: &'static str,
        male: bool,
    ) -> Person {
        let at = self.quarter.last_day();
        let birth = random_birth(rng, age.max(0), at);
        let seq = (rng.below(500) * 2 + u64::from(male)) as u32;
        let id = self.claim_id(county, birth, seq);
        let given_len = if rng.chance(0.7) { 2 } else { 1 };
        let mut name = surname.to_owned();
        for _ in 0..given_len {
            name.push_str(rng.pick_copy(GIVEN));
        }
        let age = birth.age_at(at);
        let uid = self.next_uid;
        self.next_uid += 1;
        Person {
            uid,
            name: name.into(),
            id,
            birth,

            relation,
            labor: labor_for(rng, age),
            health: health_for(rng, age),
            schooling: schooling_for(rng, age),
            insured: !rng.chance(0.02),
            death: None,
            public_employee: false,
            written: None,
        }
    }

    /// A new family in a random village; `poor` says whether it is on the
    /// poor roll (else it is a 低保-only family).
    pub fn new_family(&mut self, rng: &mut Rng, poor: bool) -> usize {
        let village = rng.below(self.villages.len() as u64) as usize;
        let county = self.villages[village].county().to_owned();
        let surname = rng.pick_copy(SURNAMES);
        let head_age = rng.range(24, 86);
        let head_male = rng.chance(0.8);
        let mut members = vec![self.person(rng, &county, surname, head_age, "户主", head_male)];
        if rng.chance(0.7) {
            let spouse_age = (head_age + rng.range(-5, 5)).max(20);
            let other_surname = rng.pick_copy(SURNAMES);
            members.push(self.person(rng, &county, other_surname, spouse_age, "配偶", !head_male));
        }
        let children = if head_age < 70 { rng.below(4) } else { 0 };
        let twins = rng.chance(0.03);
        for c in 0..children {
            let age = head_age - rng.range(20, 38);
            if age < 0 {
                continue;
            }
            let male = rng.chance(0.5);
            members.push(self.person(
                rng,
                &county,
                surname,
                age,
                if male { "子" } else { "女" },
                male,
            ));
            if twins && c == 0 {
                // A twin: same birth date, the next sequence number, another name.
                let first = members.last().cloned().expect("just pushed");
                let mut twin = self.person(
                    rng,
                    &county,
                    surname,
                    age,
                    if male { "子" } else { "女" },
                    male,
                );
                let seq: u32 = first.id[14..17].parse().unwrap_or(0);
                let id = self.claim_id(&county, first.birth, (seq + 2) % 1000);
                twin.birth = first.birth;
                twin.renumber(id);
                // The 低保 roll writes the name as it is (no homophone yet).
                if twin.name == first.name {
                    twin.name.push('二');
                }
                members.push(twin);
            }
        }
        if head_age < 60 && rng.chance(0.12) {
            let age = (head_age + rng.range(22, 32)).min(99);
            let male = rng.chance(0.4);
            members.push(self.person(
                rng,
                &county,
                surname,
                age,
                if male { "父亲" } else { "母亲" },
                male,
            ));
        }
        for m in &mut members {
            if rng.chance(0.004) {
                m.public_employee = true;
            }
        }
        let uid = self.next_uid;
        self.next_uid += 1;
        let mut family = Family {
            uid,
            village,
            members,
            poor: None,
            dibao: None,
        };
        let has_dibao;
        if poor {
            let r = rng.below(100);
            let status = match r {
                0..40 => Status::Poor,
                40..95 => Status::Exited,
                _ => Status::Relapsed,
            };
            let income = if status == Status::Exited {
                rng.range(3300, 12000)
            } else {
                rng.range(1500, 4500)
            };
            has_dibao = rng.chance(if status == Status::Exited { 0.15 } else { 0.40 });
            let household_type = match (has_dibao, rng.below(100)) {
                (true, 0..95) => HouseholdType::Dibao,
                (true, _) => HouseholdType::General,
                (false, 0..90) => HouseholdType::General,
                (false, 90..95) => HouseholdType::Tekun,
                (false, _) => HouseholdType::Dibao,
            };
            family.poor = Some(PoorRec {
                hh_id: compact_str::format_compact!("P{uid:010}"),
                household_type,
                status,
                exit_year: (status == Status::Exited)
                    .then(|| self.quarter.year - rng.range(0, 3) as i32),
                cause: rng.pick_copy(CAUSES),
                income: yuan(income),
                housing_safe: !rng.chance(0.02),
                water_safe: !rng.chance(0.02),
            });
            if has_dibao {
                family.dibao = Some(self.dibao_rec(rng, uid, 0, income * 100 / 12));
            }
        } else {
            let monthly = rng.range(100, 450);
            family.dibao = Some(self.dibao_rec(rng, uid, 0, yuan(monthly)));
        }
        self.plant(rng, &mut family);
        // A list grown by pushes has room for up to twice its persons (a
        // family of five, for eight), room the world would hold to the end.
        family.members.shrink_to_fit();
        self.families.push(family);
        self.families.len() - 1
    }

    fn dibao_rec(&self, rng: &mut Rng, uid: u64, generation: u32, income_monthly: i64) -> DibaoRec {
        DibaoRec {
            hh_id: compact_str::format_compact!("D{uid:010}{generation}"),
            category: rng.pick_copy(&["一类", "二类", "三类"]),
            benefit: yuan(rng.range(150, 1200)),
            income: (income_monthly / 100) * 100,
            region_override: None,
            omitted: None,
            extra: None,
        }
    }

    /// Anomalies in how the rolls record the family: at most one each.
    fn plant(&mut self, rng: &mut Rng, f: &mut Family) {
        let both = f.poor.is_some() && f.dibao.is_some();
        let r = rng.below(1000);
        let n = f.members.len();
        let pick = rng.below(n as u64) as usize;
        match r {
            0..15 if both => {
                // A typo in the 低保 roll's copy of one number.
                let p = &mut f.members[pick];
                let typo = typo(rng, &p.id);
                p.written_mut().dibao_id = Some(typo);
            }
            15..30 if both => {
                let p = &mut f.members[pick];
                if let Some((a, b)) = VARIANTS.iter().find(|(a, _)| p.name[3..].contains(a)) {
                    let homophone = compact_str::format_compact!(
                        "{}{}",
                        &p.name[..3],
                        p.name[3..].replacen(a, b, 1)
                    );
                    p.written_mut().dibao_name = Some(homophone);
                }
            }
            30..40 if both => {
                let county = self.county_of(f).to_owned();
                let other = (0..50)
                    .map(|_| rng.below(self.villages.len() as u64) as usize)
                    .find(|&v| self.villages[v].county() != county);
                if let Some(d) = f.dibao.as_mut() {
                    d.region_override = other;
                }
            }
            40..55 if both && n >= 2 => {
                let uid = f.members[1 + rng.below(n as u64 - 1) as usize].uid;
                if let Some(d) = f.dibao.as_mut() {
                    d.omitted = Some(uid);
                }
            }
            55..70 if f.dibao.is_none() => {
                let p = &mut f.members[pick];
                let damaged = format!("{}000", &p.id[..15]);
                if check_id(&damaged, self.quarter.last_day()).verdict.is_err() {
                    p.written_mut().poor_id = Some(damaged.into());
                }
            }
            _ => {}
        }
        for p in &mut f.members {
            if rng.chance(0.003) {
                // Dead before this quarter, still on the rolls.
                let first = self.quarter.first_day().days_since_epoch();
                p.death = Some(Date::from_days_since_epoch(first - rng.range(1, 200)));
            } else if rng.chance(0.002) {
                // Died inside this quarter: not yet a flag (a near miss).
                let first = self.quarter.first_day().days_since_epoch();
                p.death = Some(Date::from_days_since_epoch(first + rng.range(0, 80)));
            }
        }
    }

    /// The first quarter's families, generated in parallel chunks.
    pub fn populate(&mut self, households: usize) {
        let seed = self.seed;
        let chunk = 4096usize;
        let chunks = households.div_ceil(chunk);
        let villages = self.villages.clone();
        let quarter = self.quarter;
        let parts: Vec<Vec<Family>> = (0..chunks)
            .into_par_iter()
            .map(|c| {
                let mut w = World {
                    villages: villages.clone(),
                    families: Vec::new(),
                    quarter,
                    seed,
                    next_uid: (c as u64 + 1) << 32,
                    ids: HashSet::new(),
                    dead: Vec::new(),
                };
                let mut rng = Rng::stream(seed, c as u64);
                let n = chunk.min(households - c * chunk);
                let only_dibao = n / 10;
                for i in 0..n + only_dibao {
                    w.new_family(&mut rng, i < n);
                }
                w.families
            })
            .collect();
        // Room for every family at once, and for the families each later
        // quarter adds (a 60th; [`World::advance`]) for three quarters:
        // grown by doubling, the list was copied into one of twice its
        // room while the old one was still held (issue #7).
        let families: usize = parts.iter().map(Vec::len).sum();
        self.families.reserve_exact(families + families / 16);
        for families in parts {
            self.families.extend(families);
        }
        // Numbers drawn in different chunks may collide: `dedupe` renumbers
        // them and rebuilds the set of numbers in use.
        self.dedupe();
        self.next_uid = (chunks as u64 + 2) << 32;
        self.duplicate_enrollments();
    }

    /// Give every person a number no one else has.
    fn dedupe(&mut self) {
        let mut seen: HashSet<u64> = HashSet::with_capacity(self.families.len() * 3);
        for f in &mut self.families {
            for p in &mut f.members {
                if seen.insert(id_key(&p.id)) {
                    continue;
                }
                let county = p.id[..6].to_owned();
                let mut seq: u32 = p.id[14..17].parse().unwrap_or(0);
                let mut id = p.id.clone();
                while seen.contains(&id_key(&id)) {
                    seq = (seq + 2) % 1000;
                    id = make_id(&county, p.birth, seq);
                }
                seen.insert(id_key(&id));
                // A renumbered person loses any planted typo or Excel damage:
                // both rolls write the new number (the truth is computed from
                // what is written, so it stays right).
                p.renumber(id);
            }
        }
        self.ids = seen;
    }

    /// A few people listed in a second 低保 household.
    fn duplicate_enrollments(&mut self) {
        let mut rng = Rng::stream(self.seed, 0xD0B1E);
        let with_dibao: Vec<usize> = (0..self.families.len())
            .filter(|&i| self.families[i].dibao.is_some())
            .collect();
        if with_dibao.len() < 4 {
            return;
        }
        for _ in 0..(with_dibao.len() / 200).max(1) {
            let a = rng.pick_copy(&with_dibao);
            let b = rng.pick_copy(&with_dibao);
            if a == b
                || self.families[a]
                    .dibao
                    .as_ref()
                    .is_some_and(|d| d.extra.is_some())
            {
                continue;
            }
            let donor = &self.families[b];
            let d = donor.dibao.as_ref().expect("has dibao");
            let Some(p) = donor
                .members
                .iter()
                .find(|p| Some(p.uid) != d.omitted && *p.dibao_id() == p.id)
                .cloned()
            else {
                continue;
            };
            let mut p = p;
            p.relation = "其他";
            if let Some(d) = self.families[a].dibao.as_mut() {
                d.extra = Some(Box::new(p));
            }
        }
    }

    /// Move the world on by one quarter: poverty exits and relapses,
    /// income changes, 低保 entries and exits, births and deaths, new and
    /// removed households.
    pub fn advance(&mut self) {
        let next = self.quarter.next();
        let q_index = u64::from(next.q as u32) + (next.year as u64) * 4;
        let seed = self.seed;
        let end = next.last_day();
        let first = next.first_day();
        let line_cents = yuan(3208);
        let mut births: Vec<(usize, Rng)> = Vec::new();
        let mut dead: Vec<(Text, Date)> = Vec::new();
        for (i, f) in self.families.iter_mut().enumerate() {
            let mut rng = Rng::stream(seed ^ q_index, f.uid);
            if let Some(p) = f.poor.as_mut() {
                match (p.status, rng.below(1000)) {
                    (Status::Poor | Status::Relapsed, 0..80) => {
                        p.status = Status::Exited;
                        p.exit_year = Some(next.year);
                        p.income = yuan(rng.range(3300, 9000));
                    }
                    (Status::Exited, 0..25) => {
                        p.status = if rng.chance(0.5) {
                            Status::Relapsed
                        } else {
                            Status::Poor
                        };
                        p.income = yuan(rng.range(1500, 3300));
                    }
                    (_, 100..140) => p.income = p.income * rng.range(40, 69) / 100,
                    (_, 140..180) => p.income = p.income * rng.range(75, 95) / 100,
                    (_, 180..182) => f.poor = None,
                    _ => p.income = p.income * rng.range(100, 106) / 100,
                }
            }
            let poor_now = f.poor.as_ref().map(|p| (p.status.is_poor(), p.income));
            match (f.dibao.is_some(), rng.below(1000)) {
                (true, 0..40) => f.dibao = None,
                (true, 40..90) => {
                    if let Some(d) = f.dibao.as_mut() {
                        d.benefit = d.benefit
                            * if rng.chance(0.5) {
                                rng.range(40, 75)
                            } else {
                                rng.range(130, 160)
                            }
                            / 100;
                    }
                }
                (true, 90..140) => {
                    if let Some(d) = f.dibao.as_mut() {
                        d.benefit = d.benefit * rng.range(90, 110) / 100;
                    }
                }
                (false, 0..60)
                    if poor_now
                        .is_some_and(|(poor, income)| poor && income < line_cents + yuan(800)) =>
                {
                    let generation = (next.year as u32 % 10) * 4 + next.q as u32;
                    let income = poor_now.map(|(_, i)| i / 12).unwrap_or(0);
                    let mut d = DibaoRec {
                        hh_id: compact_str::format_compact!("D{:010}{generation}", f.uid),
                        category: "二类",
                        benefit: yuan(rng.range(150, 1200)),
                        income: (income / 100) * 100,
                        region_override: None,
                        omitted: None,
                        extra: None,
                    };
                    d.category = rng.pick_copy(&["一类", "二类", "三类"]);
                    f.dibao = Some(d);
                }
                _ => {}
            }
            if rng.chance(0.004) && f.members.len() >= 2 {
                let idx = 1 + rng.below(f.members.len() as u64 - 1) as usize;
                let p = f.members.remove(idx);
                let date = Date::from_days_since_epoch(first.days_since_epoch() - rng.range(1, 80));
                dead.push((p.id.clone(), date));
                if let Some(d) = f.dibao.as_mut()
                    && d.omitted == Some(p.uid)
                {
                    d.omitted = None;
                }
            }
            if rng.chance(0.01) && f.members.iter().any(|m| m.relation == "配偶") {
                births.push((i, rng.clone()));
            }
        }
        self.dead.extend(dead);
        self.quarter = next;
        for (i, mut rng) in births {
            let county = self.villages[self.families[i].village].county().to_owned();
            let surname = self.families[i].members[0].name[..3].to_owned();
            let male = rng.chance(0.5);
            let mut baby = self.person(
                &mut rng,
                &county,
                &surname,
                0,
                if male { "子" } else { "女" },
                male,
            );
            // Born inside this quarter.
            let day = first.days_since_epoch()
                + rng.range(0, end.days_since_epoch() - first.days_since_epoch());
            baby.birth = Date::from_days_since_epoch(day);
            let seq: u32 = baby.id[14..17].parse().unwrap_or(0);
            let id = self.claim_id(&county, baby.birth, seq);
            baby.renumber(id);
            baby.labor = Labor::None;
            baby.schooling = "非在校生";
            baby.death = None;
            baby.public_employee = false;
            self.families[i].members.push(baby);
        }
        let mut rng = Rng::stream(seed ^ q_index, 0xBEEF);
        let count = self.families.len();
        for k in 0..(count / 60).max(1) {
            self.new_family(&mut rng, k % 5 != 0);
        }
    }
}

/// One substitution or one adjacent swap of different digits in the
/// first 17 characters.
fn typo(rng: &mut Rng, id: &str) -> Text {
    let mut b = id.as_bytes().to_vec();
    loop {
        let i = rng.below(16) as usize;
        if rng.chance(0.5) {
            if b[i] != b[i + 1] {
                b.swap(i, i + 1);
                break;
            }
        } else {
            let d = b'0' + rng.below(10) as u8;
            if d != b[i] {
                b[i] = d;
                break;
            }
        }
    }
    String::from_utf8(b).expect("ASCII").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinas_villages_lie_in_every_county_of_2018() {
        let china = villages(Geography::China);
        let counties: HashSet<&str> = china.iter().map(Village::county).collect();
        // 2,978 codes were in use in 2023; 2018 had about as many.
        assert!(
            (2_700..3_100).contains(&counties.len()),
            "{}",
            counties.len()
        );
        for code in ["110101", "410325", "650102", "540102"] {
            assert!(counties.contains(code), "{code}");
        }
        // Retired before 2018, placeholders and statistics-only zones.
        for code in ["110103", "410301", "410371"] {
            assert!(!counties.contains(code), "{code}");
        }
        assert!(
            china
                .iter()
                .all(|v| v.code.len() == 12 && v.code.bytes().all(|b| b.is_ascii_digit()))
        );
        // Each village is one of Luoyang's under another county's code.
        let suffixes: HashSet<String> = villages(Geography::Luoyang)
            .iter()
            .map(|v| v.code[6..].to_owned())
            .collect();
        assert!(china.iter().all(|v| suffixes.contains(&v.code[6..])));
    }

    #[test]
    fn a_numbers_key_is_its_first_17_digits() {
        let born = Date::new(1990, 1, 1).expect("a date");
        let id = make_id("410322", born, 123);
        assert_eq!(id_key(&id), 41_032_219_900_101_123);
        assert_ne!(id_key(&id), id_key(&make_id("410322", born, 125)));
    }

    #[test]
    fn a_person_is_written_as_the_truth_unless_a_roll_writes_otherwise() {
        let mut world = World::new(1, Quarter { year: 2018, q: 2 }, Geography::Luoyang);
        let mut rng = Rng::stream(1, 2);
        let mut p = world.person(&mut rng, "410322", "王", 40, "户主", true);
        assert!(p.written.is_none());
        assert_eq!(
            (p.dibao_id(), p.poor_id(), p.dibao_name()),
            (&p.id, &p.id, &p.name)
        );

        let typo = typo(&mut rng, &p.id);
        p.written_mut().dibao_id = Some(typo.clone());
        p.written_mut().dibao_name = Some("王某".into());
        assert_eq!(p.dibao_id(), &typo);
        assert_eq!(p.poor_id(), &p.id);
        assert_eq!(p.dibao_name().as_str(), "王某");

        // A new number replaces the typo in both rolls; the name stays as
        // the 低保 roll writes it.
        let born = p.birth;
        p.renumber(make_id("410322", born, 999));
        assert_eq!((p.dibao_id(), p.poor_id()), (&p.id, &p.id));
        assert_eq!(p.dibao_name().as_str(), "王某");
        p.written_mut().dibao_name = None;
        p.renumber(make_id("410322", born, 997));
        assert!(p.written.is_none(), "no override left, nothing held");
    }

    /// The world holds every person of tens of millions at once (20 M
    /// households took 17.1 GiB): a person's size is its memory.
    #[test]
    fn a_person_holds_no_roll_texts_inline() {
        assert!(
            std::mem::size_of::<Person>() <= 128,
            "{}",
            std::mem::size_of::<Person>()
        );
    }
}
