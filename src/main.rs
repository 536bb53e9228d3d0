//! The `rollmatch` binary: parse, dispatch, exit with the contract's code.

use std::process::ExitCode;

use clap::Parser;
use rollmatch::error::exit;

/// mimalloc instead of glibc malloc: the pipeline allocates millions of
/// small rows across threads, where glibc's arenas fragment (RSS) and its
/// free lists cost a sixth of the run (issue #7's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A panic is a bug: one generic line, exit 70, no backtrace (it could
    // quote a value from the data). Only the first panicking thread
    // reports and exits: two threads calling `exit` at once could abort
    // the process (seen on a full disk: exit 134).
    std::panic::set_hook(Box::new(|info| {
        static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            loop {
                std::thread::park();
            }
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("rollmatch: internal error{place}; please report it (exit 70)");
        std::process::exit(exit::SOFTWARE);
    }));
    let cli = match rollmatch::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match rollmatch::cli::dispatch(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("rollmatch: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
