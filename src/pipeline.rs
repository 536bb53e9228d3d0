//! The one place where the stages meet, in order, each timed:
//! lock → read Q → find Q-1 → match → flag → score → write → publish →
//! save state.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use tracing::info;

use crate::checks::{self, QuarterData};
use crate::dynamics::{self, Previous, Transitions};
use crate::error::{Error, Result};
use crate::flags::Flag;
use crate::ingest::{self, InputStats, Loaded, Reject, Validation};
use crate::job::Job;
use crate::matching::{Matching, match_rolls};
use crate::model::{DeathRow, DibaoRow, EmployeeRow, Kept, PoorRow, Roll};
use crate::scoring::{HouseholdRows, household_rows};
use crate::{history, report};

/// Per-stage wall times, in the order they ran.
#[derive(Clone, Debug, Default)]
pub struct Timings(pub Vec<(&'static str, f64)>);

impl Timings {
    pub fn time<T>(&mut self, stage: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        let secs = start.elapsed().as_secs_f64();
        log_stage(stage, secs);
        self.0.push((stage, secs));
        out
    }
}

/// The "stage done" log line, with the resident set at the stage's end
/// and the run's peak so far (MiB), where the platform tells them.
/// Also the process's CPU time so far (`cpu_s`, all threads) and its
/// minor page faults so far (`minor_faults`).
fn log_stage(stage: &'static str, secs: f64) {
    let usage = crate::memory::Usage::now();
    let (cpu, faults) = (usage.map(|u| u.cpu_s()), usage.map(|u| u.minor_faults));
    match crate::memory::resident_mib() {
        Some((rss, peak)) => info!(
            stage,
            seconds = secs,
            cpu_s = cpu,
            rss_mib = rss,
            peak_rss_mib = peak,
            minor_faults = faults,
            "stage done"
        ),
        None => info!(
            stage,
            seconds = secs,
            cpu_s = cpu,
            minor_faults = faults,
            "stage done"
        ),
    }
}

/// Everything read for one quarter: Q's rolls with every column, or
/// Q-1's with what the movement checks read (`D`, `P`).
pub struct QuarterInputs<D = DibaoRow, P = PoorRow> {
    pub dibao: Roll<D>,
    pub poor: Roll<P>,
    pub deaths: Option<Vec<DeathRow>>,
    pub employees: Option<Vec<EmployeeRow>>,
    pub stats: Vec<InputStats>,
    pub rejects: Vec<Reject>,
}

/// An input's rows and their side values (a roll row's household
/// number); its figures and rejects go to the run's lists.
fn take<T, S>(
    loaded: Loaded<T, S>,
    stats: &mut Vec<InputStats>,
    rejects: &mut Vec<Reject>,
) -> (Vec<T>, Vec<S>) {
    stats.push(loaded.stats);
    rejects.extend(loaded.rejects);
    (loaded.rows, loaded.sides)
}

/// A register's rows (it has no side values), if it is to be read.
fn read_register<T>(
    path: Option<PathBuf>,
    read: impl FnOnce(&std::path::Path) -> Result<Loaded<T>>,
    stats: &mut Vec<InputStats>,
    rejects: &mut Vec<Reject>,
) -> Result<Option<Vec<T>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    Ok(Some(take(read(&path)?, stats, rejects).0))
}

/// Read every input of `job` for `quarter`, the rolls in parallel.
/// Limits (empty roll, reject ratio) are not enforced here, so that
/// `check` can print the rejects before it fails.
pub fn read_quarter(
    job: &Job,
    quarter: crate::calendar::Quarter,
    registers: bool,
) -> Result<QuarterInputs> {
    read_quarter_as(job, quarter, registers)
}

/// [`read_quarter`], each roll row kept as `D` or `P`.
pub fn read_quarter_as<D, P>(
    job: &Job,
    quarter: crate::calendar::Quarter,
    registers: bool,
) -> Result<QuarterInputs<D, P>>
where
    D: Kept<DibaoRow> + Send,
    P: Kept<PoorRow> + Send,
{
    let v = Validation {
        quarter_end: quarter.last_day(),
        hash_files: quarter == job.quarter,
    };
    let dibao_path = job.inputs.dibao.for_quarter(quarter);
    let poor_path = job.inputs.poor.for_quarter(quarter);
    let (dibao, poor) = rayon::join(
        || ingest::read_dibao(&dibao_path, v),
        || ingest::read_poor(&poor_path, v),
    );
    let (dibao, poor) = (dibao?, poor?);
    let mut stats = Vec::new();
    let mut rejects = Vec::new();
    let dibao_rows = take(dibao, &mut stats, &mut rejects);
    let poor_rows = take(poor, &mut stats, &mut rejects);
    // A register is read when the run reads registers and the job gives it.
    let register_path = |given: &Option<crate::job::PathTemplate>| {
        given
            .as_ref()
            .filter(|_| registers)
            .map(|t| t.for_quarter(quarter))
    };
    let deaths = read_register(
        register_path(&job.inputs.deaths),
        |p| ingest::read_deaths(p, v),
        &mut stats,
        &mut rejects,
    )?;
    let employees = read_register(
        register_path(&job.inputs.public_employees),
        |p| ingest::read_employees(p, v),
        &mut stats,
        &mut rejects,
    )?;
    // The two rolls' households are grouped side by side (each on every
    // core as well).
    let grouping = std::time::Instant::now();
    let (dibao, poor) = rayon::join(
        || Roll::new(dibao_rows.0, dibao_rows.1),
        || Roll::new(poor_rows.0, poor_rows.1),
    );
    crate::memory::debug_step(
        grouping,
        &format!("{quarter}: rows grouped into households"),
    );
    Ok(QuarterInputs {
        dibao,
        poor,
        deaths,
        employees,
        stats,
        rejects,
    })
}

/// Stop on an empty roll or too many rejects in any file.
pub fn enforce_limits<D, P>(job: &Job, inputs: &QuarterInputs<D, P>) -> Result<()> {
    for s in &inputs.stats {
        ingest::enforce_limits(
            s,
            s.input == "dibao" || s.input == "poor",
            job.policy.max_reject_ratio,
        )?;
    }
    Ok(())
}

/// Where Q-1 came from, or why it was skipped.
pub enum PreviousSource {
    Found(Box<Previous>),
    Skipped(String),
}

/// the saved state of the last successful run, else the input paths
/// with `{quarter}` = Q-1, else skipped.
pub fn find_previous(job: &Job) -> Result<PreviousSource> {
    let prev_q = job.quarter.previous();
    if let Some(prev) = history::load(&job.output.state_dir, prev_q)? {
        info!(quarter = %prev_q, source = "state", "previous quarter found");
        return Ok(PreviousSource::Found(Box::new(prev)));
    }
    if !job.inputs.dibao.depends_on_quarter() || !job.inputs.poor.depends_on_quarter() {
        return Ok(PreviousSource::Skipped(format!(
            "no saved state for {prev_q}, and the input paths have no {{quarter}} to find its files"
        )));
    }
    let (d, p) = (
        job.inputs.dibao.for_quarter(prev_q),
        job.inputs.poor.for_quarter(prev_q),
    );
    if !d.exists() || !p.exists() {
        return Ok(PreviousSource::Skipped(format!(
            "no saved state for {prev_q} and no input files for it"
        )));
    }
    // Q-1's rows are kept as the movement checks read them, each as it is
    // parsed.
    let inputs = read_quarter_as(job, prev_q, false)?;
    enforce_limits(job, &inputs)?;
    info!(quarter = %prev_q, source = "files", "previous quarter found");
    Ok(PreviousSource::Found(Box::new(Previous {
        dibao: inputs.dibao,
        poor: inputs.poor,
        source: "files",
    })))
}

/// The findings of one quarter: what the reports are made of.
pub struct Analysis {
    pub flags: Vec<Flag>,
    pub households: HouseholdRows,
    pub exact_persons: usize,
    /// Probable pairs by the contract's rule.
    pub probable_pairs: usize,
    /// Probable pairs beyond it: Excel-truncated numbers recovered.
    pub excel_recovered: usize,
    pub linked_household_pairs: usize,
    pub movements: Result<MovementInfo, String>,
}

pub struct MovementInfo {
    pub source: &'static str,
    pub transitions: Transitions,
}

/// Run a step of a stage and log its time at debug level.
fn debug_timed<T>(step: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    crate::memory::debug_step(started, step);
    out
}

/// Match, flag and score one quarter. Pure: no I/O but its caller's
/// hooks. Q-1 is freed as soon as the movements are found, before Q's own
/// checks: those, sorting, scoring and the reports need only Q, and Q-1's
/// rows held beside the flags were the run's peak at 10 M households
/// (issue #7).
/// `previous_freed` is called once Q-1 is freed, `checks_done` once Q's
/// checks have run, before the flags are sorted (see `run`).
pub fn analyze(
    job: &Job,
    inputs: &QuarterInputs,
    previous: PreviousSource,
    timings: &mut Timings,
    previous_freed: impl FnOnce(),
    checks_done: impl FnOnce(),
) -> Result<Analysis> {
    let mut matching: Matching = timings.time("match", || match_rolls(&inputs.dibao, &inputs.poor));
    info!(
        exact = matching.exact_persons,
        probable = matching.probable.len(),
        linked_households = matching.links.len(),
        "rolls matched"
    );
    let probable_pairs = matching
        .probable
        .iter()
        .filter(|p| p.is_contract_rule())
        .count();
    let excel_recovered = matching.probable.len() - probable_pairs;
    let linked_household_pairs = matching.links.len();
    fn quarter<'a>(
        job: &'a Job,
        inputs: &'a QuarterInputs,
        matching: &'a Matching,
    ) -> QuarterData<'a> {
        QuarterData {
            job,
            dibao: &inputs.dibao,
            poor: &inputs.poor,
            matching,
            deaths: inputs.deaths.as_deref(),
            employees: inputs.employees.as_deref(),
        }
    }
    let q = quarter(job, inputs, &matching);
    // Quarter over quarter first, so that Q-1 is freed before Q's own
    // checks run: the flag stage held both quarters' rows beside every
    // flag, the run's peak at 10 M households (issue #7). The movement
    // flags still join the other lists last, as before.
    let mut moved = Vec::new();
    let movements = match &previous {
        PreviousSource::Found(prev) => {
            if !job.allow_shrink
                && let Some(msg) = dynamics::shrink_check(prev, &q)
            {
                return Err(Error::Data(format!("{}: {msg}", job.file.display())));
            }
            let transitions = timings.time("movement", || {
                // One after the other, not side by side: each is parallel
                // inside, and their tables held at once (household indexes
                // beside every row's sorted key) were the run's peak at
                // 10 M households (issue #7). The transitions first:
                // counting them finds which 低保 rows' persons are on the
                // other quarter's roll, for the checks.
                let (transitions, presence) =
                    debug_timed("transitions counted", || dynamics::transitions(prev, &q));
                debug_timed("movement flags found", || {
                    dynamics::check(prev, &q, &presence, &mut moved)
                });
                transitions
            });
            Ok(MovementInfo {
                source: prev.source,
                transitions,
            })
        }
        PreviousSource::Skipped(reason) => Err(reason.clone()),
    };
    // Its two rolls are freed side by side, and before the checks, not on
    // a thread of their own beside them.
    debug_timed("previous quarter freed", || {
        if let PreviousSource::Found(prev) = previous {
            let Previous { dibao, poor, .. } = *prev;
            rayon::join(|| drop(dibao), || drop(poor));
        }
    });
    previous_freed();
    let mut lists = timings.time("flag", || checks::run_all(&q));
    // Each row's partners and the probable pairs serve the checks only:
    // freed before the flags are sorted and the households scored, where
    // the run's memory peaked at 10 M households (issue #7).
    debug_timed("partners freed", || {
        drop(std::mem::take(&mut matching.dibao_partner));
        drop(std::mem::take(&mut matching.poor_partner));
        drop(std::mem::take(&mut matching.probable));
    });
    debug_timed("waited after the checks", checks_done);
    crate::faults::point("checked");
    let q = quarter(job, inputs, &matching);
    lists.extend(moved);
    let flags = timings.time("sort", || {
        crate::flag_order::sorted(lists, job.output.mask_ids)
    });
    let households = timings.time("score", || household_rows(&q, &flags));
    Ok(Analysis {
        flags,
        households,
        exact_persons: matching.exact_persons,
        probable_pairs,
        excel_recovered,
        linked_household_pairs,
        movements,
    })
}

/// What a finished run reports back to the CLI.
pub struct RunOutcome {
    pub out_dir: PathBuf,
    pub flags: usize,
    pub households: usize,
}

/// Above this many bytes of Q's two roll files, Q's state is written
/// after the analysis rather than beside it (see `run`).
const LARGE_ROLL_BYTES: u64 = 1 << 30;

/// [`LARGE_ROLL_BYTES`], or `ROLLMATCH_LARGE_ROLL_BYTES` from the
/// environment: the tests set it to 0 to run the fixtures down the large
/// rolls' path.
fn large_roll_bytes() -> u64 {
    std::env::var("ROLLMATCH_LARGE_ROLL_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LARGE_ROLL_BYTES)
}

/// The size of Q's two roll files (0 for a file that cannot be read: its
/// reader reports that).
fn quarter_roll_bytes(job: &Job) -> u64 {
    [&job.inputs.dibao, &job.inputs.poor]
        .iter()
        .map(|t| {
            std::fs::metadata(t.for_quarter(job.quarter))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

/// The whole quarterly run.
pub fn run(job: &Job, progress: &crate::progress::Progress) -> Result<RunOutcome> {
    let started = SystemTime::now();
    let mut timings = Timings::default();
    let _lock = crate::lock::acquire(&job.output.state_dir)?;
    info!(job = %job.name, quarter = %job.quarter, "run started");

    let bar = progress.stage("读取名册");
    let read_started = Instant::now();
    let read_previous = || {
        let started = Instant::now();
        find_previous(job).map(|p| (p, started.elapsed().as_secs_f64()))
    };
    // Small rolls' Q and Q-1 are read at once: each read has sequential
    // parts (file I/O, header, chunk cuts) that the other fills the
    // second core with. Large rolls' Q-1 is read first, then Q: until a
    // quarter's rows are grouped into households, each row's household
    // number (and for Q-1 its name) is held beside it, 16 and 32 bytes a
    // row, and with both quarters read at once both were held beside
    // both quarters' rows, the run's peak at 10 M households (issue #7).
    // Q-1 first, because its numbers and names are the larger.
    let large = quarter_roll_bytes(job) > large_roll_bytes();
    let (inputs, previous) = if large {
        let previous = read_previous();
        (read_quarter(job, job.quarter, true), previous)
    } else {
        rayon::join(|| read_quarter(job, job.quarter, true), read_previous)
    };
    let inputs = inputs?;
    let read_secs = read_started.elapsed().as_secs_f64();
    // The read frees the numbers and names read beside the rows: returned
    // now, not as each thread's delay runs out during matching's first
    // step, which allocates as much again (see `memory::return_freed`).
    crate::memory::return_freed();
    crate::memory::debug_step(read_started, "freed memory returned");
    log_stage("read", read_secs);
    timings.0.push(("read", read_secs));
    bar.finish();
    for s in &inputs.stats {
        info!(input = %s.input, rows_read = s.rows_read, rows_used = s.rows_used, rows_rejected = s.rows_rejected, "input read");
    }
    enforce_limits(job, &inputs)?;
    crate::faults::point("read");
    let (previous, previous_secs) = previous?;
    // Overlapped with "read": its own duration, not time added to the run.
    log_stage("previous", previous_secs);
    timings.0.push(("previous", previous_secs));
    if let PreviousSource::Skipped(reason) = &previous {
        info!(reason = %reason, "movements skipped");
    }
    // Q's state needs only Q's rolls. It is written on a thread of its
    // own, not a rayon worker: a worker waiting on polars' pool takes
    // other rayon work meanwhile (a whole workbook sheet), and the state
    // then finished seconds after the reports. It is put in place only
    // after the reports are published.
    //
    // Small rolls' state is written from the moment they are read, beside
    // matching and flagging, whose serial steps leave a core idle: at 1 M
    // households three alternating pairs ran 0.8–2.3 s faster than with
    // the state written beside the reports. Large rolls' state waits until
    // Q-1 is freed, after the movements: matching holds both quarters and
    // is the run's peak memory at 10 M households, and the state's blocks
    // in flight would add to it (issue #7). Written beside the reports
    // instead, it ended 8.6 s after them at 10 M households.
    //
    // And a large roll's state is written before the flags are sorted:
    // its blocks are encoded on the rayon pool, queued behind the
    // analysis's own work, and in some runs they waited there until the
    // reports were written, beside the workbook's cells, the run's peak:
    // the national world's 10 M peak was then 4,265–4,347 MiB, against
    // 4,117–4,141 MiB in the runs whose state was written by then (issue
    // #7). The analysis waits for it once Q's checks have run, while
    // memory is low, and the workers meanwhile encode its blocks: three
    // national 10 M runs then peaked at 4,106–4,118 MiB, the sort and the
    // scores, no longer sharing the cores with the state, took 3.1–3.6 s
    // against 6.9–8.7 s, and the wait 5.3–6.0 s.
    let (previous_freed, wait_for_previous) = std::sync::mpsc::channel::<()>();
    let (state_written, wait_for_state) = std::sync::mpsc::channel::<()>();
    let (reports, state) = std::thread::scope(|scope| {
        let (dibao, poor) = (&inputs.dibao, &inputs.poor);
        let state = scope.spawn(move || {
            // Dropped as this thread ends, written or not, which ends the
            // analysis's wait.
            let _state_written = state_written;
            // No message: the analysis failed, and there is nothing to save.
            if large && wait_for_previous.recv().is_err() {
                return Ok(None);
            }
            let started = Instant::now();
            history::prepare(&job.output.state_dir, job.quarter, dibao, poor)
                .map(|s| Some((s, started.elapsed().as_secs_f64())))
        });
        let reports = (|| {
            let bar = progress.stage("比对与标记");
            // Moved in: if the analysis fails first, the sender is dropped
            // with it and the state thread stops waiting.
            let analysis = analyze(
                job,
                &inputs,
                previous,
                &mut timings,
                move || {
                    // The state thread may have ended already (a small roll's).
                    let _ = previous_freed.send(());
                },
                || {
                    if large {
                        // Nothing is ever sent: this returns once the state
                        // thread has ended.
                        let _ = wait_for_state.recv();
                    }
                },
            )?;
            bar.finish();
            let bar = progress.stage("写出报告");
            let write_started = Instant::now();
            let staged = report::write_all(job, &inputs, &analysis, &timings, started);
            Ok::<_, Error>((analysis, staged, write_started, bar))
        })();
        let state = state
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (reports, state)
    });
    let (analysis, staged, write_started, bar) = reports?;
    let publish_dir = job.output.dir.clone();
    let staged = staged?;
    let (state, state_secs) =
        state?.ok_or_else(|| Error::Internal("the state was not prepared".into()))?;
    let write_secs = write_started.elapsed().as_secs_f64();
    log_stage("write", write_secs);
    timings.0.push(("write", write_secs));
    crate::faults::point("staged");
    timings.time("publish", || {
        report::publish::publish(&staged, &publish_dir)
    })?;
    bar.finish();
    crate::faults::point("published");
    let commit_started = Instant::now();
    state.commit()?;
    // Preparing overlapped "write" (and, for small rolls, the analysis);
    // this is its time plus the commit's.
    let state_secs = state_secs + commit_started.elapsed().as_secs_f64();
    log_stage("state", state_secs);
    timings.0.push(("state", state_secs));
    info!(flags = analysis.flags.len(), households = analysis.households.rows.len(), out = %publish_dir.display(), "run finished");

    let outcome = RunOutcome {
        out_dir: publish_dir,
        flags: analysis.flags.len(),
        households: analysis.households.rows.len(),
    };
    free_in_background((inputs, analysis));
    Ok(outcome)
}

/// Free millions of rows on a thread of their own. Dropping a quarter's
/// rows one by one took 0.6 s at 1 M households on the thread that then
/// only exits (issue #7); a process that exits first leaves the freeing to
/// the kernel, which is the same result.
fn free_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("free".into())
        .spawn(move || drop(value));
    // Without a thread (resource limits), the value was moved into the
    // failed closure and is freed here, as before.
    drop(spawned);
}
