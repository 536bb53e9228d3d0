//! The command line (contract §6): raw arguments parsed by clap, then
//! turned into a resolved [`Job`] and dispatched.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::calendar::{Quarter, today_utc};
use crate::error::{Error, Result};
use crate::job::{Job, Overrides};
use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "rollmatch",
    version,
    about = "Quarterly reconciliation of the rural 低保 roll with the 建档立卡 roll"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the quarterly job and publish its report set.
    Run(RunArgs),
    /// Read and validate every input; print what would be rejected; write nothing.
    Check(CheckArgs),
    /// Write synthetic rolls (and a job file and the planted truth).
    Gen(GenArgs),
    /// Print the flag catalog.
    Flags(FlagsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (TOML).
    pub job: PathBuf,
    /// The quarter to run (`2018Q3`), or `previous` for the last quarter completed before today.
    #[arg(long)]
    pub quarter: Option<String>,
    /// Write the report files directly into DIR instead of `output.dir`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write person IDs whole instead of masked.
    #[arg(long)]
    pub no_mask: bool,
    /// Run even if a roll's household count fell by more than max_shrink_ratio.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Only warnings and errors; no progress bars.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    pub job: PathBuf,
    #[arg(long)]
    pub quarter: Option<String>,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Directory to write into.
    #[arg(long)]
    pub out: PathBuf,
    /// Poor-roll households in the first quarter.
    #[arg(long, default_value_t = 1000)]
    pub households: usize,
    /// First quarter.
    #[arg(long, default_value = "2018Q2")]
    pub start: String,
    /// Consecutive quarters.
    #[arg(long, default_value_t = 2)]
    pub quarters: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write Parquet copies of the rolls.
    #[arg(long)]
    pub parquet: bool,
    /// Write the rolls as real exports vary (GB18030 + CRLF, BOM + English headers).
    #[arg(long)]
    pub mixed_exports: bool,
    /// Skip `truth.csv`: each quarter is then written a block of families
    /// at a time, never held whole (for benchmarks at millions of households).
    #[arg(long)]
    pub no_truth: bool,
    /// Where the families live: Luoyang's villages, or villages in every
    /// county of China (a national roll's spread, for benchmarks).
    #[arg(long, value_enum, default_value = "luoyang")]
    pub geography: crate::synth::Geography,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct FlagsArgs {
    /// Print as Markdown (the analyst guide's flag section).
    #[arg(long)]
    pub markdown: bool,
}

fn parse_quarter(s: &str) -> Result<Quarter> {
    if s == "previous" {
        return Ok(Quarter::last_completed_before(today_utc()));
    }
    s.parse()
        .map_err(|e| Error::Usage(format!("--quarter {s}: {e}, or \"previous\"")))
}

fn threads(n: Option<usize>) -> Result<()> {
    if let Some(n) = n {
        if n == 0 {
            return Err(Error::Usage("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
        // SAFETY: set before polars starts its pool, while no other thread reads the environment.
        unsafe { std::env::set_var("POLARS_MAX_THREADS", n.to_string()) };
    }
    Ok(())
}

pub fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => {
            crate::logging::init(a.log_format, a.quiet);
            threads(a.threads)?;
            let overrides = Overrides {
                quarter: a.quarter.as_deref().map(parse_quarter).transpose()?,
                out: a.out,
                no_mask: a.no_mask,
                allow_shrink: a.allow_shrink,
            };
            let job = Job::load(&a.job, &overrides)?;
            let progress = crate::progress::Progress::new(a.quiet);
            let outcome = crate::pipeline::run(&job, &progress)?;
            if !a.quiet {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "{} {}: {} flags, {} poor households scored; reports in {}",
                    job.name,
                    job.quarter,
                    outcome.flags,
                    outcome.households,
                    outcome.out_dir.display()
                );
            }
            Ok(0)
        }
        Command::Check(a) => {
            crate::logging::init(a.log_format, a.quiet);
            threads(a.threads)?;
            let overrides = Overrides {
                quarter: a.quarter.as_deref().map(parse_quarter).transpose()?,
                ..Default::default()
            };
            let job = Job::load(&a.job, &overrides)?;
            crate::check::run(&job)
        }
        Command::Gen(a) => {
            crate::logging::init(LogFormat::Text, false);
            threads(a.threads)?;
            let start = parse_quarter(&a.start)?;
            crate::synth::run(&crate::synth::GenSpec {
                out: a.out,
                households: a.households,
                start,
                quarters: a.quarters,
                seed: a.seed,
                parquet: a.parquet,
                mixed_exports: a.mixed_exports,
                truth: !a.no_truth,
                geography: a.geography,
            })?;
            Ok(0)
        }
        Command::Flags(a) => {
            let text = if a.markdown {
                crate::catalog::markdown()
            } else {
                crate::catalog::plain()
            };
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(0)
        }
    }
}
