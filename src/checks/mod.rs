//! The flags of quarter Q (contract §4), one module per family. Each flag
//! is defined once, beside the code that raises it; [`CATALOG`] lists
//! every definition (movement flags included, from `dynamics`).

pub mod coverage;
pub mod people;
pub mod policy;
pub mod registers;
pub mod risk;

use crate::flags::{Flag, FlagDef};
use crate::identity::mask_id;
use crate::job::Job;
use crate::matching::Matching;
use crate::model::{DeathRow, DibaoRoll, EmployeeRow, Member, PoorRoll, RollKind};
use crate::short_text::ShortText;
use rayon::prelude::*;

/// Every flag definition, in the contract's order.
pub static CATALOG: [&FlagDef; 28] = [
    &coverage::SHOULD_COVER,
    &coverage::SHOULD_SUPPORT,
    &coverage::ATTR_MISMATCH,
    &coverage::MEMBER_MISMATCH,
    &people::NAME_CONFLICT,
    &people::ID_CONFLICT,
    &people::REGION_MISMATCH,
    &people::DUPLICATE_ENROLLMENT,
    &people::INVALID_ID,
    &crate::dynamics::DIBAO_ENTRY,
    &crate::dynamics::DIBAO_EXIT,
    &crate::dynamics::POOR_ENTRY,
    &crate::dynamics::POOR_REMOVED,
    &crate::dynamics::POVERTY_EXIT,
    &crate::dynamics::RELAPSE,
    &crate::dynamics::HOUSEHOLD_CHANGED,
    &crate::dynamics::BENEFIT_CHANGED,
    &crate::dynamics::EXIT_WHILE_ELIGIBLE,
    &risk::UNSTABLE_EXIT,
    &risk::EDGE_POVERTY,
    &crate::dynamics::INCOME_DROP,
    &risk::ILLNESS_DISABILITY,
    &risk::NO_LABOR,
    &risk::ASSURANCE_GAP,
    &risk::ELDERLY_ONLY,
    &registers::DECEASED_ENROLLED,
    &registers::PUBLIC_EMPLOYEE,
    &policy::STANDARD_BELOW_LINE,
];

/// A flag definition by its code.
pub fn lookup(code: &str) -> Option<&'static FlagDef> {
    CATALOG.iter().copied().find(|d| d.code == code)
}

/// Everything the quarter-Q checks read.
pub struct QuarterData<'a> {
    pub job: &'a Job,
    pub dibao: &'a DibaoRoll,
    pub poor: &'a PoorRoll,
    pub matching: &'a Matching,
    pub deaths: Option<&'a [DeathRow]>,
    pub employees: Option<&'a [EmployeeRow]>,
}

impl<'a> QuarterData<'a> {
    /// A flag on 低保 household `h`, placed at its region, named after its
    /// head.
    pub fn dibao_flag(&self, def: &'static FlagDef, h: usize) -> Flag {
        let hh = &self.dibao.households[h];
        let head = &self.dibao.head(hh).member;
        Flag::new(def)
            .at(&head.region)
            .dibao(&hh.id)
            .named(head.name)
    }

    /// A flag on poor household `h`.
    pub fn poor_flag(&self, def: &'static FlagDef, h: usize) -> Flag {
        let hh = &self.poor.households[h];
        let head = &self.poor.head(hh).member;
        Flag::new(def)
            .at(&head.region)
            .poor_at(&hh.id, h)
            .named(head.name)
    }

    /// `flag` on the household of row `r` of Q's poor roll, with the
    /// household's place there ([`Flag::poor_at`]), so that the score
    /// stage finds the household without looking its number up.
    pub fn on_poor_row(&self, flag: Flag, r: usize) -> Flag {
        flag.poor_at(
            self.poor.household_id(r),
            self.poor.households.index_of_row(r),
        )
    }

    /// The person fields of every row of roll `roll`, in file order, for
    /// a walk on every core.
    pub fn members(&self, roll: RollKind) -> impl IndexedParallelIterator<Item = &'a Member> {
        use rayon::iter::Either;
        let (dibao, poor) = (self.dibao, self.poor);
        match roll {
            RollKind::Dibao => Either::Left(dibao.rows.par_iter().map(|r| &r.member)),
            RollKind::Poor => Either::Right(poor.rows.par_iter().map(|r| &r.member)),
        }
    }

    /// The person fields of row `r` of roll `roll`.
    pub fn member(&self, roll: RollKind, r: usize) -> &'a Member {
        match roll {
            RollKind::Dibao => &self.dibao.rows[r].member,
            RollKind::Poor => &self.poor.rows[r].member,
        }
    }

    /// The household number of row `r` of roll `roll`.
    pub fn household_id(&self, roll: RollKind, r: usize) -> &'a ShortText {
        match roll {
            RollKind::Dibao => self.dibao.household_id(r),
            RollKind::Poor => self.poor.household_id(r),
        }
    }

    /// Whether poor household `h` has dibao: linked to a 低保 household in Q.
    pub fn has_dibao(&self, h: usize) -> bool {
        !self.matching.poor_linked.get(h).is_empty()
    }

    /// An ID number as details show it: masked unless the job says not.
    pub fn show_id(&self, id: &str) -> String {
        if self.job.output.mask_ids {
            mask_id(id).into()
        } else {
            id.to_owned()
        }
    }
}

/// The bundled fixtures' quarter (`jobs/luoyang.toml`), read and matched,
/// for the tests of the checks that read a whole quarter.
#[cfg(test)]
pub(crate) struct FixtureQuarter {
    pub job: Job,
    pub inputs: crate::pipeline::QuarterInputs,
    pub matching: Matching,
}

#[cfg(test)]
impl FixtureQuarter {
    pub fn read() -> FixtureQuarter {
        let file = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/luoyang.toml"));
        let job = Job::load(file, &Default::default()).unwrap();
        let inputs = crate::pipeline::read_quarter(&job, job.quarter, true).unwrap();
        let matching = crate::matching::match_rolls(&inputs.dibao, &inputs.poor);
        FixtureQuarter {
            job,
            inputs,
            matching,
        }
    }

    /// The quarter as the checks read it, without its registers.
    pub fn data(&self) -> QuarterData<'_> {
        QuarterData {
            job: &self.job,
            dibao: &self.inputs.dibao,
            poor: &self.inputs.poor,
            matching: &self.matching,
            deaths: None,
            employees: None,
        }
    }
}

/// The flags of `items`, checked in stretches of `per_list` on every
/// core, a list for each stretch in order: `check(i, item, out)` for
/// item `i`. The risk and coverage checks give their flags so (see
/// [`run_all`]).
fn in_stretches<T: Sync>(
    items: &[T],
    per_list: usize,
    check: impl Fn(usize, &T, &mut Vec<Flag>) + Sync,
) -> Vec<Vec<Flag>> {
    let per_list = per_list.max(1);
    items
        .par_chunks(per_list)
        .enumerate()
        .map(|(stretch, items)| {
            let mut found = Vec::new();
            for (i, item) in items.iter().enumerate() {
                check(stretch * per_list + i, item, &mut found);
            }
            found
        })
        .collect()
}

/// All quarter-Q flags (movement flags come from `dynamics`).
pub fn run_all(q: &QuarterData) -> Vec<Vec<Flag>> {
    // The families read the same rolls and write their own lists, so they
    // run side by side. Their lists are returned as they are, in this
    // fixed order: joining them here, and then adding the movement flags,
    // held every flag twice and left the joined vector at twice its
    // length (issue #7); [`crate::flag_order::sorted`] makes one vector, once.
    //
    // The risk checks, most of the flags, give theirs as lists of a stretch
    // of households each (see [`risk::check`]), and the coverage checks
    // as lists of a stretch of households or linked pairs each (see
    // [`coverage::check`]).
    let started = std::time::Instant::now();
    type Family = fn(&QuarterData) -> Vec<Vec<Flag>>;
    fn one_list(check: fn(&QuarterData, &mut Vec<Flag>), q: &QuarterData) -> Vec<Vec<Flag>> {
        let mut out = Vec::new();
        check(q, &mut out);
        vec![out]
    }
    //
    // The risk checks run last, once the people checks are done: those
    // sort an entry of every keyed row of Q (600 MB at 10 M households),
    // and beside the risk flags, most of the run's flags, that was the
    // flag stage's peak (issue #7). The other families run beside the
    // people checks.
    let families: [(&str, Family); 4] = [
        ("flags: people checked", |q| one_list(people::check, q)),
        ("flags: coverage checked", coverage::check),
        ("flags: registers checked", |q| {
            one_list(registers::check, q)
        }),
        ("flags: policy checked", |q| one_list(policy::check, q)),
    ];
    let run = |(done, check): &(&str, Family)| {
        let lists = check(q);
        crate::memory::debug_step(started, done);
        lists
    };
    let lists: Vec<Vec<Vec<Flag>>> = families.par_iter().map(run).collect();
    let risk = run(&("flags: risk checked", risk::check));
    lists.into_iter().flatten().chain(risk).collect()
}
